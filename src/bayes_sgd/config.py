"""The configuration: its schema, its defaults and every check on it, in one place.

:func:`validate_config` is the one entry point; the workflow calls it (``common.smk``) before
any rule is built, and the tests call it in-process. It

1. checks the configuration against the JSON-schema ``bayes_sgd/config.schema.yaml`` (:mod:`bayes_sgd.schema`)
   (keys, types, ranges), naming the offending key by its dotted path;
2. fills in the schema's defaults (:func:`fill_defaults`; the schema is the only place a
   default is written: :func:`bayes_sgd.schema.schema_defaults` reads them for the package, e.g.
   :meth:`bayes_sgd.claims.registry.ClaimThresholds.defaults`);
3. checks relations between values that a schema cannot express (:func:`check_config`).

Every error is a :class:`ConfigError` whose message starts with the dotted key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import copy
import math

import jsonschema
import yaml

from bayes_sgd.data.datasets import DATASETS, TEST_SPLIT_SIZE, TRAIN_SPLIT_SIZE
from bayes_sgd.logistic import lambda_grid
from bayes_sgd.schema import SCHEMA_PATH, fill_defaults, load_schema
from bayes_sgd.sweeps import SWEEPS, steps_for_learning_rate

MNIST5K_PER_CLASS = 500
MNIST5K_CLASSES = 10


class ConfigError(ValueError):
    """A configuration value is invalid; the message starts with the key's dotted path."""


def validate_schema(config: dict[str, Any], schema_path: str | Path = SCHEMA_PATH) -> None:
    """Check ``config`` against the JSON-schema; the error names the key by its dotted path."""
    validator = jsonschema.Draft202012Validator(load_schema(schema_path))
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is None:
        return
    key = ".".join(str(part) for part in error.absolute_path) or "<top level>"
    if error.validator == "additionalProperties":
        unknown = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        prefix = f"{key}." if error.absolute_path else ""
        raise ConfigError(f"{', '.join(prefix + k for k in unknown)}: unknown configuration key")
    raise ConfigError(f"{key}: {error.message}")


def _numbers(node: Any, path: str) -> Iterator[tuple[str, float]]:
    """Every float in the configuration tree (in mappings and lists), with its dotted key."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _numbers(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _numbers(value, f"{path}.{i}")
    elif isinstance(node, float):
        yield path, node


def check_finite(config: dict[str, Any]) -> None:
    """Refuse NaN and infinities (YAML ``.nan``, ``.inf``) anywhere: JSON-schema bounds do not
    exclude NaN, and no key of this configuration means anything by one."""
    for key, value in _numbers(config, ""):
        if not math.isfinite(value):
            raise ConfigError(f"{key}: must be a finite number, got {value}")


def validate_config(config: dict[str, Any], schema_path: str | Path = SCHEMA_PATH) -> dict[str, Any]:
    """Schema check, defaults filled in (in place), relational checks; return ``config``.

    Raises :class:`ConfigError` naming the dotted key of the first problem.
    """
    if not isinstance(config, dict):
        raise ConfigError(f"<top level>: the configuration must be a mapping of keys to values, got {type(config).__name__}")
    check_finite(config)
    validate_schema(config, schema_path)
    fill_defaults(config, load_schema(schema_path))
    check_config(config)
    return config


def train_pool_size(config: dict[str, Any]) -> int:
    """Number of training-split images of the configured dataset."""
    dataset = config["dataset"]
    if dataset == "mnist5k":
        return (MNIST5K_PER_CLASS - config["data"]["mnist5k_test_per_class"]) * MNIST5K_CLASSES
    return TRAIN_SPLIT_SIZE[dataset]


def test_set_size(config: dict[str, Any]) -> int:
    """Number of test images an MLP run of the configured dataset evaluates (the cost model's n_test)."""
    dataset = config["dataset"]
    if dataset == "mnist5k":
        return MNIST5K_CLASSES * config["data"]["mnist5k_test_per_class"]
    return TEST_SPLIT_SIZE[dataset]


def _walk(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every mapping in the configuration tree, with its dotted path."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f"{path}.{key}" if path else str(key))


def pool_text(dataset: str, pool: int, config: dict[str, Any] | None = None) -> str:
    """``"<dataset> has <pool> in its training pool"``, with the key that sets the pool: the
    sentence every "too many training images" error ends with."""
    if dataset == "mnist5k" and config is not None:
        held_out = config["data"]["mnist5k_test_per_class"]
        why = f"{MNIST5K_PER_CLASS} per class less data.mnist5k_test_per_class = {held_out} held out"
    else:
        why = "key dataset"
    return f"{dataset} has {pool} in its training pool ({why})"


def sweep_problems(scaling: dict[str, Any], pool: int, dataset: str, config: dict[str, Any] | None = None) -> Iterator[tuple[str, str]]:
    """Problems of the ``scaling:`` sweeps the schema cannot see, as ``(dotted key, message)``.

    Within a sweep every curve's swept value is distinct, every curve's ``N`` is at most the
    dataset's pool, every batch size lies in ``[1, N]`` of its curve, and a learning rate
    gives at least one update.
    """
    for column, sw in SWEEPS.items():
        section = scaling.get(sw.section)
        if section is None:
            continue
        prefix = f"scaling.{sw.section}"
        values = [curve[column] for curve in section["curves"]]
        if len(set(values)) != len(values):
            yield f"{prefix}.curves", f"a {column} value appears in more than one curve: {values}"
        for i, curve in enumerate(section["curves"]):
            n = curve["n_train"] if column == "n_train" else section["n_train"]
            if column == "n_train" and not 0 < n <= pool:
                yield (
                    f"{prefix}.curves.{i}.n_train",
                    f"{n} training images requested, {pool_text(dataset, pool, config)}",
                )
            for b in curve["batch_sizes"]:
                if not 1 <= b <= n:
                    yield (
                        f"{prefix}.curves.{i}.batch_sizes",
                        f"batch size {b} is outside [1, {n}] (the training set has {n} images)",
                    )
            if column == "learning_rate":
                try:
                    steps_for_learning_rate(section["steps_at_unit_learning_rate"], curve["learning_rate"])
                except ValueError as err:
                    yield f"{prefix}.curves.{i}.learning_rate", str(err)


def check_config(config: dict[str, Any]) -> None:
    """Raise :class:`ConfigError` on values that are individually valid but inconsistent.

    ``config`` has its defaults filled in (:func:`validate_config`).

    - ``dataset`` must be a known dataset;
    - ``data.mnist5k_test_per_class`` must leave images in every class;
    - ``logistic.lambda_grid`` must have ``0 < min < max``;
    - in every section that has ``n_train`` (or ``n_train_values``) and ``batch_sizes``, each
      batch size must be between 1 and the section's (largest) training-set size, and every
      training-set size at most the dataset's training pool;
    - ``mlp.figure_9.batch_size`` at most ``mlp.figure_9.n_train``;
    - the ``scaling:`` sweeps pass :func:`sweep_problems`;
    - the variant ``paper`` (always the main protocol) has no overrides (it may list sweeps).
    """
    dataset = config.get("dataset")
    if dataset not in DATASETS:
        raise ConfigError(f"dataset: unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    held_out = config["data"]["mnist5k_test_per_class"]
    if not 0 < held_out < MNIST5K_PER_CLASS:
        raise ConfigError(
            f"data.mnist5k_test_per_class: {held_out} must be between 1 and {MNIST5K_PER_CLASS - 1}"
        )
    grid = config["logistic"]["lambda_grid"]
    try:
        lambda_grid(grid["min"], grid["max"], grid["per_decade"])
    except ValueError as err:
        raise ConfigError(f"logistic.lambda_grid: {err}") from None
    pool = train_pool_size(config)
    for path, section in _walk(config, ""):
        sizes = section.get("n_train_values", [section["n_train"]] if "n_train" in section else [])
        for n in sizes:
            if not 0 < n <= pool:
                key = f"{path}.n_train" if "n_train" in section else f"{path}.n_train_values"
                raise ConfigError(f"{key}: {n} training images requested, {pool_text(dataset, pool, config)}")
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
    figure_9 = config["mlp"]["figure_9"]
    if figure_9["batch_size"] > figure_9["n_train"]:
        raise ConfigError(
            f"mlp.figure_9.batch_size: {figure_9['batch_size']} is larger than the training set "
            f"({figure_9['n_train']} images)"
        )
    for key, message in sweep_problems(config["scaling"], pool, dataset, config):
        raise ConfigError(f"{key}: {message}")
    evidence = config["evidence"]
    if evidence["claims"]["method"] == "slq" and evidence["slq"]["probes"] == 0:
        raise ConfigError("evidence.claims.method: slq, but evidence.slq.probes is 0 (method slq off); "
                          "give evidence.slq.probes a positive number or read another method")
    paper = {k: v for k, v in (config["variants"].get("paper") or {}).items() if k != "sweeps"}
    if paper:
        raise ConfigError(
            f"variants.paper: the stated protocol (the mlp: settings as they are) takes no overrides "
            f"(only sweeps), got {', '.join(sorted(paper))}; give the variant another name"
        )


# --- configuration files ---------------------------------------------------------------------


def load_config_file(path: str | Path) -> dict[str, Any]:
    """The mapping in the YAML (or JSON) file ``path``.

    Raises :class:`ConfigError` naming the file, and for a syntax error the line and column
    (Snakemake's own loader says only that *a* config file is not valid YAML).
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the configuration file ({err.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        problem = getattr(err, "problem", None) or str(err)
        context = f" ({err.context})" if getattr(err, "context", None) else ""
        raise ConfigError(f"{where}: YAML syntax error: {problem}{context}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a configuration file must hold a mapping of keys to values, not a {type(data).__name__}")
    return data


def merge_configs(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``override`` recursively, as Snakemake merges ``--configfile`` files."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        out[key] = merge_configs(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else copy.deepcopy(value)
    return out


def check_files(paths: list[str | Path]) -> dict[str, Any]:
    """Load ``paths`` in order (each on top of the ones before), validate the result; return it."""
    config: dict[str, Any] = {}
    for path in paths:
        config = merge_configs(config, load_config_file(path))
    return validate_config(config)


def main(argv: list[str] | None = None) -> int:
    """``python -m bayes_sgd.config [FILE ...]``: check configuration files as the workflow would
    (default ``config/config.yaml``; later files on top of earlier ones, like ``--configfile``)."""
    import sys

    paths = (sys.argv[1:] if argv is None else argv) or ["config/config.yaml"]
    try:
        check_files(paths)
    except ConfigError as err:
        print(f"invalid configuration: {err}", file=sys.stderr)
        return 1
    print(f"valid: {' + '.join(map(str, paths))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
