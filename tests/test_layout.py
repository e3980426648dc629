"""The README's module map names every module of the package, and only modules that exist."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "bayes_sgd"


def module_map() -> set[str]:
    text = (REPO / "README.md").read_text()
    table = text[text.index("<!-- module map -->") : text.index("<!-- end of module map -->")]
    return {name for cell in re.findall(r"^\| (.+?) \|", table, flags=re.M) for name in re.findall(r"`([^`]+)`", cell)}


def test_the_module_map_names_every_module():
    modules = {str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if p.name != "__init__.py"}
    listed = module_map()
    assert sorted(modules - listed) == [], "modules missing from the README's module map"
    assert sorted(name for name in listed if not (PACKAGE / name).exists()) == [], "the map names files that do not exist"


def test_the_readme_holds_the_markers_of_every_generated_table():
    """scripts/readme_results.py (and scripts/validate_slq.py) rewrite the README between these markers and stop where they are
    missing (commit 716f5d8 once dropped the variants section with its markers)."""
    readme = (REPO / "README.md").read_text()
    for name in ("results table: mnist5k", "results table: mnist", "variants table: mnist5k", "variants table: mnist",
                 "evidence results: mnist5k",
                 "slq validation"):
        start, end = f"<!-- {name} -->", f"<!-- end of {name} -->"
        assert readme.count(start) == 1 and readme.count(end) == 1, name
        assert readme.index(start) < readme.index(end), name


def test_ci_runs_the_readme_test_command():
    """.ci/run's last command is the README's second Quick-start line (pip's -q aside): CI tests
    what a newcomer runs, worker options included."""
    readme = (REPO / "README.md").read_text()
    block = readme[readme.index("```bash", readme.index("## Quick start")) + len("```bash"):]
    quick_start = block[: block.index("```")].strip().splitlines()
    ci = [line for line in (REPO / ".ci" / "run").read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert ci[-1].replace("pip install -q ", "pip install ") == quick_start[1]
    assert "pytest" in quick_start[1]
