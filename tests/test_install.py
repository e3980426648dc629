"""The package installed (not editable) works outside the checkout: a wheel built from the
files of the working tree, installed into a fresh virtual environment outside the checkout,
validates config/config.yaml against the schema it ships and builds the claims' thresholds
from it, with its templates installed next to its modules.

Only the package comes from the wheel: the fresh environment reaches its dependencies (numpy,
pandas, PyYAML, jsonschema, Jinja2, ...) through a ``.pth`` file naming this interpreter's
site-packages. A ``.pth`` file in a directory so added is not processed, so the editable
install of the project's own environment (a ``.pth`` naming ``src/``) stays out of sight; the
child checks that ``bayes_sgd`` is the installed copy and that ``src/`` is not on its path.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest
import yaml

from bayes_sgd import claims
from bayes_sgd.config import validate_config
from workflow_helpers import DEFAULT_CONFIG, REPO

TIMEOUT_S = 300
PACKAGE = REPO / "src" / "bayes_sgd"
#: Package data the installed package must have (pyproject.toml: tool.setuptools.package-data).
DATA_FILES = ["config.schema.yaml", *(f"claims/templates/{p.name}" for p in sorted((PACKAGE / "claims" / "templates").glob("*.j2")))]

# Run by the fresh environment's interpreter, in a directory outside the checkout; prints JSON.
PROBE = r"""
import dataclasses, json, sys
from importlib import resources
import yaml
import bayes_sgd, bayes_sgd.config, bayes_sgd.schema
import bayes_sgd.claims.report  # its Jinja2 loader needs the templates directory installed
from bayes_sgd.claims import ClaimThresholds
config = bayes_sgd.config.validate_config(yaml.safe_load(open(sys.argv[1]).read()))
package = resources.files("bayes_sgd")
print(json.dumps({
    "file": bayes_sgd.__file__,
    "schema": str(bayes_sgd.schema.SCHEMA_PATH),
    "installed": {name: package.joinpath(name).is_file() for name in sys.argv[2:]},
    "config": config,
    "thresholds": dataclasses.asdict(ClaimThresholds.defaults()),
    "sys_path": sys.path,
}, default=str))
"""


def run(cmd: list[str], cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_S, **kwargs)


def inside(path: Path | str, folder: Path) -> bool:
    return Path(path).resolve().is_relative_to(folder.resolve())


def copy_working_tree(dest: Path) -> None:
    """The files of the checkout that git tracks or would track (not what .gitignore names:
    build/, *.egg-info, __pycache__, .venv), copied to ``dest``: what a commit would ship."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True)
    if listed.returncode != 0:  # not a git checkout: the files the build reads
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
        shutil.copytree(REPO / "src", dest / "src", ignore=ignore)
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(REPO / name, dest / name)
        return
    for name in listed.stdout.decode().split("\0"):
        if name and (REPO / name).is_file():  # (not a file deleted but not yet committed)
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)


def can_build_without_isolation() -> bool:
    """Whether this interpreter has the build backend pyproject.toml asks for (setuptools >= 68,
    with bdist_wheel: its own from 70.1, else the wheel package)."""
    try:  # (not imported: setuptools patches distutils when imported)
        version = importlib.metadata.version("setuptools")
    except importlib.metadata.PackageNotFoundError:
        return False
    try:
        major, minor = (int(p) for p in version.split(".")[:2])
    except ValueError:
        return False
    if major < 68:
        return False
    return (major, minor) >= (70, 1) or importlib.util.find_spec("wheel") is not None


def build_wheel(source: Path, dist: Path) -> Path:
    """The wheel of ``source`` (built there: its build/ and egg-info stay in the copy)."""
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", dist, source.resolve()]
    if can_build_without_isolation():
        cmd.insert(4, "--no-build-isolation")
    proc = run(cmd, cwd=source)
    output = proc.stdout + proc.stderr
    if proc.returncode != 0 and "satisfies the requirement setuptools" in output:
        pytest.skip(f"no setuptools>=68 to build the wheel with (offline?):\n{output[-2000:]}")
    assert proc.returncode == 0, f"building the wheel failed:\n{output[-6000:]}"
    (wheel,) = dist.glob("bayes_sgd-*.whl")
    return wheel


@pytest.fixture
def outside(tmp_path):
    """A temporary directory outside the checkout."""
    if not inside(tmp_path, REPO):
        yield tmp_path
        return
    with tempfile.TemporaryDirectory(prefix="bayes_sgd_install_") as path:
        assert not inside(path, REPO)
        yield Path(path)


@pytest.mark.slow  # about 10 s: the wheel's build (setuptools fetched for it), the imports
def test_installed_package_validates_the_configuration_outside_the_checkout(outside):
    source, dist, venv, cwd = (outside / name for name in ("source", "dist", "venv", "cwd"))
    copy_working_tree(source)
    wheel = build_wheel(source, dist)

    # A fresh environment; this interpreter's pip installs the wheel into it (pip --python).
    proc = run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=outside)
    assert proc.returncode == 0, proc.stderr
    python = venv / "bin" / "python"
    proc = run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", wheel], cwd=outside)
    assert proc.returncode == 0, f"installing the wheel failed:\n{(proc.stdout + proc.stderr)[-6000:]}"
    proc = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=outside, check=True)
    site_packages = Path(proc.stdout.strip())
    assert inside(site_packages, venv)
    # The dependencies: this interpreter's site-packages, after the environment's own.
    ours = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    assert not any(inside(path, REPO / "src") for path in ours)
    (site_packages / "_bayes_sgd_test_dependencies.pth").write_text("".join(f"{path}\n" for path in ours))

    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    # -I: no PYTHONPATH, no user site-packages, neither the current nor the script's directory on sys.path
    proc = run([python, "-I", "-c", PROBE, DEFAULT_CONFIG, *DATA_FILES], cwd=cwd, env=env)
    assert proc.returncode == 0, f"the installed package failed:\n{(proc.stdout + proc.stderr)[-6000:]}"
    probe = json.loads(proc.stdout)

    # bayes_sgd is the installed copy, not the checkout's
    assert inside(probe["file"], site_packages) and not inside(probe["file"], REPO), probe["file"]
    assert not any(entry and (inside(entry, REPO / "src") or Path(entry).resolve() == REPO.resolve())
                   for entry in probe["sys_path"]), probe["sys_path"]
    # its package data shipped (pyproject.toml: package-data)
    assert inside(probe["schema"], site_packages), probe["schema"]
    assert probe["installed"] == {name: True for name in DATA_FILES}
    assert len(DATA_FILES) > 1  # the schema and the templates
    # and it judges as the checkout does: the same defaults from the same schema
    assert probe["config"] == json.loads(json.dumps(validate_config(yaml.safe_load(DEFAULT_CONFIG.read_text())), default=str))
    assert probe["thresholds"] == dataclasses.asdict(claims.ClaimThresholds.defaults())
