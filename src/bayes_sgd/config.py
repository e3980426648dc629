"""Checks on the configuration that a JSON-schema cannot express.

The schema (workflow/schemas/config.schema.yaml) checks keys, types and ranges; this module
checks relations between values, such as a batch size no larger than its training set, and
raises :class:`ConfigError` with the dotted path of the offending key before any job runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import jsonschema
import yaml

from .datasets import DATASETS, TRAIN_SPLIT_SIZE
from .sweeps import check_sweeps

MNIST5K_PER_CLASS = 500
MNIST5K_CLASSES = 10


class ConfigError(ValueError):
    """A configuration value is invalid; the message starts with the key's dotted path."""


def validate_schema(config: dict[str, Any], schema_path: str | Path) -> None:
    """Check ``config`` against the JSON-schema; the error names the key by its dotted path.

    Snakemake's own ``validate`` (which also fills in defaults) reports the schema location;
    this check runs first so that the message a user sees starts with the offending key.
    """
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is None:
        return
    key = ".".join(str(part) for part in error.absolute_path) or "<top level>"
    if error.validator == "additionalProperties":
        unknown = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        prefix = f"{key}." if error.absolute_path else ""
        raise ConfigError(f"{', '.join(prefix + k for k in unknown)}: unknown configuration key")
    raise ConfigError(f"{key}: {error.message}")


def train_pool_size(config: dict[str, Any]) -> int:
    """Number of training-split images of the configured dataset."""
    dataset = config["dataset"]
    if dataset == "mnist5k":
        return (MNIST5K_PER_CLASS - config["data"]["mnist5k_test_per_class"]) * MNIST5K_CLASSES
    return TRAIN_SPLIT_SIZE[dataset]


def _walk(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every mapping in the configuration tree, with its dotted path."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f"{path}.{key}" if path else str(key))


def check_config(config: dict[str, Any]) -> None:
    """Raise :class:`ConfigError` on values that are individually valid but inconsistent.

    - ``dataset`` must be a known dataset;
    - ``data.mnist5k_test_per_class`` must leave images in every class;
    - in every section that has ``n_train`` (or ``n_train_values``) and ``batch_sizes``, each
      batch size must be between 1 and the section's (largest) training-set size, and every
      training-set size at most the dataset's training pool;
    - in the ``scaling:`` sweeps (:func:`bayes_sgd.sweeps.check_sweeps`), every curve's swept
      value is distinct, its batch sizes lie in ``[1, N]``, its ``N`` is at most the pool and
      its learning rate gives at least one update.
    """
    dataset = config.get("dataset")
    if dataset not in DATASETS:
        raise ConfigError(f"dataset: unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    held_out = config["data"]["mnist5k_test_per_class"]
    if not 0 < held_out < MNIST5K_PER_CLASS:
        raise ConfigError(
            f"data.mnist5k_test_per_class: {held_out} must be between 1 and {MNIST5K_PER_CLASS - 1}"
        )
    pool = train_pool_size(config)
    for path, section in _walk(config, ""):
        sizes = section.get("n_train_values", [section["n_train"]] if "n_train" in section else [])
        for n in sizes:
            if not 0 < n <= pool:
                key = f"{path}.n_train" if "n_train" in section else f"{path}.n_train_values"
                raise ConfigError(f"{key}: {n} training images requested, {dataset} has {pool} in its training pool")
        batch_sizes = section.get("batch_sizes")
        if batch_sizes is None or not sizes:
            continue
        for b in batch_sizes:
            if b < 1:
                raise ConfigError(f"{path}.batch_sizes: batch size {b} must be at least 1")
            if b > max(sizes):
                raise ConfigError(
                    f"{path}.batch_sizes: batch size {b} is larger than the training set ({max(sizes)} images)"
                )
    scaling = config.get("scaling")
    if scaling:
        for i, curve in enumerate(scaling.get("n_train_sweep", {}).get("curves", [])):
            if not 0 < curve["n_train"] <= pool:
                raise ConfigError(
                    f"scaling.n_train_sweep.curves.{i}.n_train: {curve['n_train']} training images requested, "
                    f"{dataset} has {pool} in its training pool"
                )
        problems = check_sweeps(scaling)
        if problems:
            key, message = problems[0]
            raise ConfigError(f"{key}: {message}")
