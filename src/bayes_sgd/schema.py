"""The configuration schema: the one place every configuration key, its meaning and its default
are written.

The schema ships inside the package (``bayes_sgd/config.schema.yaml``, read with
:mod:`importlib.resources`), so an installed package validates a configuration and builds its
defaults outside the checkout. This module only reads it; :mod:`bayes_sgd.config` checks a
configuration against it. It imports nothing else of the package, so a module that takes its
defaults from here (the trainer, the claims' thresholds) depends on nothing more.
"""

from __future__ import annotations

import copy
import functools
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

#: The schema file shipped with the package.
SCHEMA_PATH = Path(str(resources.files("bayes_sgd").joinpath("config.schema.yaml")))


@functools.lru_cache(maxsize=4)
def _load_schema(path: str) -> dict[str, Any]:
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: the configuration schema is missing (a broken install of bayes_sgd?)")
    return yaml.safe_load(Path(path).read_text())


def load_schema(path: str | Path = SCHEMA_PATH) -> dict[str, Any]:
    """The configuration schema (a fresh copy)."""
    return copy.deepcopy(_load_schema(str(path)))


def fill_defaults(config: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Fill in ``config`` (in place) every default of ``schema``, recursively; return it.

    A missing key whose schema has a ``default`` gets a copy of it; a mapping (given or
    defaulted) is then filled from its own properties, as Snakemake's ``validate`` does.
    """
    for key, sub in schema.get("properties", {}).items():
        if key not in config and "default" in sub:
            config[key] = copy.deepcopy(sub["default"])
        if isinstance(config.get(key), dict) and "properties" in sub:
            fill_defaults(config[key], sub)
    return config


def _node(section: str, path: str | Path) -> dict[str, Any]:
    node = _load_schema(str(path))
    for part in section.split("."):
        node = node["properties"][part]
    return node


def schema_defaults(path: str | Path = SCHEMA_PATH) -> dict[str, Any]:
    """The configuration that an empty config file gets: every default of the schema."""
    return fill_defaults({}, load_schema(path))


@functools.cache
def section_defaults(section: str) -> dict[str, Any]:
    """The defaults of the mapping at dotted ``section`` (e.g. ``"mlp"``) of the packaged schema.

    Cached and shared: do not modify the result (dataclasses read their defaults from it).
    """
    node = schema_defaults()
    for part in section.split("."):
        node = node[part]
    return node


def schema_descriptions(section: str, path: str | Path = SCHEMA_PATH) -> dict[str, str]:
    """Key -> description (one line) of every key of the mapping at dotted ``section``."""
    return {key: " ".join(sub.get("description", "").split()) for key, sub in _node(section, path)["properties"].items()}


def allowed_values(key: str, path: str | Path = SCHEMA_PATH) -> tuple:
    """The values the schema allows for dotted ``key`` (its ``enum``), the default first."""
    section, _, name = key.rpartition(".")
    node = _node(section, path)["properties"][name] if section else _load_schema(str(path))["properties"][name]
    values = tuple(node["enum"])
    default = node.get("default")
    return (default, *[v for v in values if v != default]) if default in values else values
