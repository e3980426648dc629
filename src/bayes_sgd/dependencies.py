"""The package modules a workflow script runs, found from its imports.

Every rule that runs a script declares the ``bayes_sgd`` modules the script executes as inputs,
so that editing a module reruns exactly the jobs whose results it can change (Snakemake's
modification-time trigger) and nothing else. Listing them by hand goes stale; this module derives
them instead: it reads the script's ``import`` statements (at any depth: inside functions too)
with :mod:`ast`, follows every import that resolves to a module of the package, and repeats for
that module's imports until nothing new is found.

What counts as executed: ``import bayes_sgd.a.b`` and ``from bayes_sgd.a import b`` run the
package's ``__init__`` and every module on the dotted path (and ``b``, when it is a module);
relative imports (``from .x import y``) resolve against the importing module. Dynamic imports
(``importlib.import_module`` with a computed name) are not seen; the package has none, and
``tests/test_dependencies.py`` checks the result against the standard library's
:class:`modulefinder.ModuleFinder`, an independent implementation.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterable
from pathlib import Path

PACKAGE = "bayes_sgd"


def _module_file(package_dir: Path, dotted: str) -> Path | None:
    """The source file of module ``dotted`` (``bayes_sgd.x.y``) inside ``package_dir``, if any."""
    parts = dotted.split(".")
    if parts[0] != PACKAGE:
        return None
    base = package_dir.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _module_name(package_dir: Path, path: Path) -> str:
    """``bayes_sgd.x.y`` for ``package_dir/x/y.py`` (or ``.../x/y/__init__.py``)."""
    parts = list(path.relative_to(package_dir).with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    return ".".join([PACKAGE, *parts])


def imported_names(source: str, module: str | None = None, is_package: bool = False) -> set[str]:
    """Every dotted module name that ``source`` may import, with the names it imports from it.

    For ``from a.b import c`` both ``a.b`` and ``a.b.c`` are returned (``c`` may be a module
    or an attribute; the caller keeps only names that are modules). Relative imports are
    resolved against ``module`` (the importing module's dotted name; ``is_package`` when it
    is a package's ``__init__``). Every prefix of a dotted name is included, since importing
    ``a.b.c`` executes ``a`` and ``a.b`` first.
    """
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if module is None:
                    continue  # a relative import in a script: not a package import
                anchor = module.split(".")
                drop = node.level - (1 if is_package else 0)
                anchor = anchor[: len(anchor) - drop] if drop else anchor
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return {".".join(name.split(".")[: i + 1]) for name in names if name for i in range(name.count(".") + 1)}


def package_modules(script: str | os.PathLike, package_dir: str | os.PathLike) -> list[Path]:
    """The files of every ``bayes_sgd`` module that running ``script`` imports, transitively.

    ``package_dir`` is the package's source directory (``src/bayes_sgd``). Returns the module
    files (the package's ``__init__.py`` included when anything is imported), sorted.
    """
    package_dir = Path(package_dir)
    seen: dict[str, Path] = {}
    pending = [(Path(script).read_text(), None, False)]
    while pending:
        source, module, is_package = pending.pop()
        for name in sorted(imported_names(source, module, is_package)):
            if name in seen:
                continue
            path = _module_file(package_dir, name)
            if path is None:
                continue
            seen[name] = path
            pending.append((path.read_text(), name, path.name == "__init__.py"))
    return sorted(seen.values())


def script_inputs(scripts: Iterable[str | os.PathLike], package_dir: str | os.PathLike, start: str | os.PathLike = ".") -> list[str]:
    """:func:`package_modules` of several scripts together, as paths relative to ``start``.

    Relative paths keep the set of inputs the same however the checkout is spelled, so moving
    a checkout together with its results reruns nothing.
    """
    modules = {path for script in scripts for path in package_modules(script, package_dir)}
    return sorted(os.path.relpath(path, start) for path in modules)


def module_names(paths: Iterable[str | os.PathLike], package_dir: str | os.PathLike) -> list[str]:
    """The dotted names of module files inside ``package_dir`` (for messages and tests)."""
    package_dir = Path(package_dir).resolve()
    return sorted(_module_name(package_dir, Path(path).resolve()) for path in paths)
