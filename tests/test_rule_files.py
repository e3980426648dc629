"""Every rule file reads alone after common.smk: a Snakefile that includes common.smk and then
only that one rule file parses and lints, so no rule file depends on the names another one
defines or on the order the Snakefile includes them in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from workflow_helpers import DEFAULT_CONFIG, REPO, SNAKEFILE

RULES = REPO / "workflow" / "rules"
RULE_FILES = sorted(path for path in RULES.glob("*.smk") if path.name != "common.smk")


def alone_snakefile(rule_file: Path) -> str:
    """The real Snakefile's set-up (everything before its ``configfile:``: sys.path and
    PYTHONPATH), its configuration, common.smk and ``rule_file``, in paths relative to a
    working directory laid out as a checkout (the linter rejects absolute paths)."""
    setup, found, _ = SNAKEFILE.read_text().partition("\nconfigfile:")
    assert found, "the Snakefile has no configfile: line"
    config, rules = (path.relative_to(REPO).as_posix() for path in (DEFAULT_CONFIG, RULES))
    return (
        f"{setup}\n"
        f'configfile: "{config}"\n\n\n'
        f'include: "{rules}/common.smk"\n'
        f'include: "{rules}/{rule_file.name}"\n'
    )


def test_every_rule_file_but_common_is_included_by_the_snakefile():
    included = {line.split('"')[1] for line in SNAKEFILE.read_text().splitlines() if line.startswith("include:")}
    assert {f"workflow/rules/{path.name}" for path in RULE_FILES} | {"workflow/rules/common.smk"} == included


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=lambda path: path.stem)
def test_rule_file_parses_and_lints_after_common_alone(tmp_path, rule_file):
    # The working directory is laid out as a checkout (its src, workflow and config are the
    # repository's): the set-up and common.smk find the package and the scripts under the
    # Snakefile's folder (workflow.basedir).
    for name in ("src", "workflow", "config"):
        (tmp_path / name).symlink_to(REPO / name, target_is_directory=True)
    (tmp_path / "Snakefile").write_text(alone_snakefile(rule_file))
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(tmp_path / "Snakefile"), "--lint"],
        cwd=tmp_path, env=dict(os.environ, PYTHONUNBUFFERED="1"), capture_output=True, text=True, timeout=120,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    assert "Congratulations, your workflow is in a good condition!" in output
