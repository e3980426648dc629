"""Code inputs derived from imports (bayes_sgd.dependencies): checked against the standard
library's modulefinder, an independent implementation, for every workflow script, and against
the rule files (every rule that runs a script declares that script's modules)."""

from __future__ import annotations

import modulefinder
import re
from pathlib import Path

import pytest

from bayes_sgd.dependencies import imported_names, module_names, package_modules, script_inputs
from workflow_helpers import REPO

SRC = REPO / "src"
PACKAGE_DIR = SRC / "bayes_sgd"
SCRIPTS = sorted((REPO / "workflow" / "scripts").glob("*.py"))
#: Rules that run a script but declare no code inputs, with the reason (also in the rule file).
NO_CODE_INPUTS = {"download_mnist": "its files are checked against fixed checksums"}


class PackageOnlyFinder(modulefinder.ModuleFinder):
    """modulefinder that follows only the package's own modules (not NumPy, pandas, ...)."""

    def import_hook(self, name, caller=None, fromlist=None, level=-1):
        if level <= 0 and not name.startswith("bayes_sgd"):
            return None
        return super().import_hook(name, caller, fromlist, level)


def modulefinder_names(script: Path) -> list[str]:
    finder = PackageOnlyFinder(path=[str(SRC)])
    finder.run_script(str(script))
    return sorted(name for name in finder.modules if name.startswith("bayes_sgd"))


def rule_scripts() -> dict[str, tuple[str, str | None]]:
    """rule name -> (the script it runs, the script named in its ``code=code(...)`` input)."""
    rules = {}
    for path in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        # rules at the top level or inside an if/else (train.smk's seed groups)
        for block in re.split(r"(?m)^(?= *rule \w+:)", path.read_text())[1:]:
            name = re.match(r" *rule (\w+):", block).group(1)
            script = re.search(r'script:\s*\n\s*"\.\./scripts/(\w+)\.py"', block)
            code = re.search(r'code=code\("(\w+)"\)', block)
            if script:
                rules[name] = (script.group(1), code.group(1) if code else None)
    return rules


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_every_script_imports_what_modulefinder_finds(script):
    found = module_names(package_modules(script, PACKAGE_DIR), PACKAGE_DIR)
    assert found == modulefinder_names(script)
    assert found, f"{script.name} imports nothing from the package"


def test_every_rule_declares_the_modules_of_the_script_it_runs():
    rules = rule_scripts()
    assert {"train_mlp", "train_mlp_seeds", "summarise_claims"} <= set(rules)
    for rule, (script, declared) in rules.items():
        if rule in NO_CODE_INPUTS:
            assert declared is None, rule
        else:
            assert declared == script, f"rule {rule} runs {script}.py but declares code({declared!r})"


def test_imports_inside_functions_relative_imports_and_packages(tmp_path):
    package = tmp_path / "bayes_sgd"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from . import a\n")
    (package / "a.py").write_text("import numpy\n")
    (package / "b.py").write_text("def f():\n    from .sub import c\n    return c\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "c.py").write_text("from ..a import thing\n")
    (package / "unused.py").write_text("")
    script = tmp_path / "script.py"
    script.write_text("import os\nfrom bayes_sgd.b import f\n")

    found = module_names(package_modules(script, package), package)

    assert found == ["bayes_sgd", "bayes_sgd.a", "bayes_sgd.b", "bayes_sgd.sub", "bayes_sgd.sub.c"]
    # Paths relative to the working directory, so moving a checkout changes nothing.
    inputs = script_inputs([script], package, start=tmp_path)
    assert "bayes_sgd/b.py" in inputs and all(not Path(p).is_absolute() for p in inputs)


def test_imported_names_includes_every_prefix_and_from_imported_names():
    names = imported_names("from bayes_sgd.x import y as z\nimport a.b.c\n")
    assert {"bayes_sgd", "bayes_sgd.x", "bayes_sgd.x.y", "a", "a.b", "a.b.c"} == names
    # A relative import in a package's __init__ resolves against the package itself.
    assert "p.q" in imported_names("from .q import r", module="p", is_package=True)
    assert "p.q" in imported_names("from .q import r", module="p.m", is_package=False)
    # ... and is ignored in a script, which is not part of a package.
    assert imported_names("from .q import r") == set()
