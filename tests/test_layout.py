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
