"""What a training job does around its trainer (rules ``train_mlp`` and ``train_mlp_seeds``).

The run's :class:`~bayes_sgd.training.sgd.TrainingConfig` from its wildcards (the numbers of its
path, :func:`bayes_sgd.sweeps.run_path`) and its protocol options; the provenance recorded with
its tables; and the two tables themselves, written weights first: the curve is the output other
rules look for, so a job killed in between leaves an incomplete job that Snakemake redoes whole.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from bayes_sgd.data.inputs import training_data
from bayes_sgd.logging_setup import script_logger
from bayes_sgd.mlp import Architecture
from bayes_sgd.tables import read_table, write_table
from bayes_sgd.training.run_tables import weights_table
from bayes_sgd.training.sgd import TrainingConfig, TrainingResult


def wildcard_number(wildcards: Any, name: str, kind: type) -> int | float:
    """The wildcard ``name`` as a number, refusing spellings that run_path() would not produce."""
    text = getattr(wildcards, name)
    value = kind(text)
    canonical = format(value, "g") if kind is float else str(value)
    if text != canonical:
        raise ValueError(f"wildcard {name}={text!r}: write it as {canonical!r} (see bayes_sgd.sweeps.run_path)")
    return value


def training_config(wildcards: Any, seed: int, protocol: Mapping[str, Any], params: Any) -> TrainingConfig:
    """The configuration of the run ``seed`` of the run wildcards ``wildcards`` (the numbers of its
    path), its protocol options ``protocol`` and the rule's ``params`` (bias init, evaluations)."""
    return TrainingConfig(
        learning_rate=wildcard_number(wildcards, "learning_rate", float),
        momentum=wildcard_number(wildcards, "momentum", float),
        batch_size=wildcard_number(wildcards, "batch_size", int),
        steps=wildcard_number(wildcards, "steps", int),
        seed=int(seed),
        l2=wildcard_number(wildcards, "l2", float),
        weight_init=protocol["weight_init"],
        init_scale=float(protocol["init_scale"]),
        loss_normalisation=protocol["loss_normalisation"],
        momentum_form=protocol["momentum_form"],
        batch_sampling=protocol["batch_sampling"],
        bias_init=float(params.bias_init),
        eval_points=int(params.eval_points),
        eval_chunk=int(params.eval_chunk),
    )


def run_provenance(
    wildcards: Any,
    params: Any,
    config: TrainingConfig,
    result: TrainingResult,
    backend: Mapping[str, Any],
    resumed_from_step: int | None,
) -> dict[str, Any]:
    """The record stored with a run's tables: its configuration, seed, status and how it was trained
    (``backend``: the backend's name, threads and versions, and ``group_seeds`` for a group)."""
    last = result.curve.iloc[-1]
    return {
        "dataset": wildcards.dataset,
        "n_train": wildcard_number(wildcards, "n_train", int),
        "protocol": wildcards.protocol,
        "protocol_options": dict(params.protocol),
        "training": asdict(config),
        "hidden_units": int(params.hidden_units),
        "pixel_scale": float(params.pixel_scale),
        "subset_seed": int(params.subset_seed),
        **backend,
        "seed": config.seed,
        "status": last["status"],
        "diverged_step": int(last["diverged_step"]),
        "seconds": float(last["seconds"]),
        "resumed_from_step": resumed_from_step,
    }


def write_run(
    result: TrainingResult,
    arch: Architecture,
    provenance: Mapping[str, Any],
    weights_path: str,
    curve_path: str,
    log: logging.Logger,
) -> None:
    """Write a run's final weights, then its curve (with its ``dataset`` column), each atomically."""
    last = result.curve.iloc[-1]
    if last["status"] == "diverged":
        log.warning("seed %d diverged at step %d (non-finite loss or weights); the run is recorded as such",
                    provenance["seed"], last["diverged_step"])
    log.info(
        "seed %d done: status %s, step %d, test accuracy %.4f, test cross-entropy %.4f, %.1f s",
        provenance["seed"], last["status"], last["step"], last["test_accuracy"], last["test_cross_entropy"], last["seconds"],
    )
    architecture = {"n_inputs": arch.n_inputs, "n_hidden": arch.n_hidden, "n_classes": arch.n_classes}
    write_table(weights_table(result.parameters, result.velocity), weights_path, {**provenance, "architecture": architecture})
    log.info("wrote %s (%d parameters)", weights_path, arch.n_params)
    curve = result.curve.copy()
    curve.insert(curve.columns.get_loc("n_train"), "dataset", provenance["dataset"])
    write_table(curve, curve_path, provenance)
    log.info("wrote %s", curve_path)


def load_jax_backend(cache_directory: str | None, log: logging.Logger):
    """``(sgd_jax module, backend record, compilation-cache counter or None)`` for a JAX job, with
    the persistent compilation cache in ``cache_directory`` (:mod:`bayes_sgd.training.jax_cache`);
    an ImportError saying how to install the extra when JAX is missing."""
    try:
        import jax

        from bayes_sgd.training import jax_cache, sgd_jax
    except ImportError as err:
        raise ImportError(f"mlp.backend: jax needs the optional extra (pip install -e '.[jax]'): {err}") from None
    counter = jax_cache.enable_compilation_cache(cache_directory)
    log.info("JAX %s on %s (matrix products at precision 'highest'); compilation cache: %s",
             jax.__version__, jax.devices(), cache_directory or "off")
    record = {"backend": "jax", "jax": jax.__version__, "jax_devices": [str(d) for d in jax.devices()]}
    return sgd_jax, record, counter


def load_run_data(dataset_path: str, subset_path: str, n_train: int, params: Any):
    """``(X_train, y_train, X_test, y_test)`` of a run: the dataset table, its N-image training
    subset (a ValueError if the subset table does not hold N indices) and the protocol's input
    range and test set (:func:`bayes_sgd.data.inputs.training_data`)."""
    subset = read_table(subset_path)["index"].to_numpy()
    if len(subset) != n_train:
        raise ValueError(f"{subset_path} holds {len(subset)} indices, expected N={n_train}")
    return training_data(
        read_table(dataset_path), subset, params.pixel_scale,
        input_range=params.protocol["input_range"], test_set=params.protocol["test_set"],
    )


def log_progress(log: logging.Logger, what: str = "test accuracy"):
    """A trainer's ``progress`` callback that logs each evaluation segment."""

    def progress(pr) -> None:
        log.info("step %d/%d  %s %.4f (latest evaluation)  %.0f steps/s  ETA %.0f s",
                 pr.step, pr.steps, what, pr.test_accuracy, pr.steps_per_second, pr.eta_seconds)

    return progress


def training_job_logger(snakemake: Any, numpy_preloaded: bool) -> logging.Logger:
    """The job's logger (:func:`bayes_sgd.logging_setup.script_logger`), which also takes the
    package's own messages (checkpoints), after a line with the BLAS threads in use:
    ``numpy_preloaded`` says whether NumPy was imported before the script set its thread variables."""
    log = script_logger(snakemake)
    package_log = logging.getLogger("bayes_sgd")
    package_log.setLevel(logging.INFO)
    package_log.handlers[:] = log.handlers
    try:  # optional: report the thread count the loaded BLAS libraries really use
        from threadpoolctl import threadpool_info

        blas = {info["filepath"].rsplit("/", 1)[-1]: info["num_threads"] for info in threadpool_info()}
    except ImportError:
        blas = "unknown (threadpoolctl not installed)"
    log.info("BLAS threads: OPENBLAS_NUM_THREADS=%s OMP_NUM_THREADS=%s (NumPy imported before this script: %s); in use: %s",
             os.environ.get("OPENBLAS_NUM_THREADS"), os.environ.get("OMP_NUM_THREADS"), numpy_preloaded, blas)
    return log
