"""Train the MLP once (rule train_mlp); write its learning curve (one row per evaluation) and final weights."""

import os
import sys

# One BLAS thread per job (threads: 1). Snakemake sets these variables for script jobs already;
# setting them again before NumPy is first imported keeps the job single-threaded however it is
# started. If NumPy was imported earlier, the values Snakemake set are the ones in force.
NUMPY_PRELOADED = "numpy" in sys.modules
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(snakemake.threads)

from bayes_sgd.logging_setup import script_logger  # noqa: E402
from bayes_sgd.mlp import Architecture  # noqa: E402
from bayes_sgd.sgd import TrainingConfig, config_record, train, training_data, weights_table  # noqa: E402
from bayes_sgd.tables import read_table, write_table  # noqa: E402

log = script_logger(snakemake)
wc, p = snakemake.wildcards, snakemake.params
try:  # optional: report the thread count the loaded BLAS libraries really use
    from threadpoolctl import threadpool_info

    blas_threads = {info["filepath"].rsplit("/", 1)[-1]: info["num_threads"] for info in threadpool_info()}
except ImportError:
    blas_threads = "unknown (threadpoolctl not installed)"
log.info(
    "BLAS threads: OPENBLAS_NUM_THREADS=%s OMP_NUM_THREADS=%s (NumPy imported before this script: %s); in use: %s",
    os.environ["OPENBLAS_NUM_THREADS"], os.environ["OMP_NUM_THREADS"], NUMPY_PRELOADED, blas_threads,
)


def number(name, kind):
    """A wildcard as a number, refusing spellings that run_path() would not produce."""
    text = getattr(wc, name)
    value = kind(text)
    canonical = format(value, "g") if kind is float else str(value)
    if text != canonical:
        raise ValueError(f"wildcard {name}={text!r}: write it as {canonical!r} (see run_path in common.smk)")
    return value


config = TrainingConfig(
    learning_rate=number("learning_rate", float),
    momentum=number("momentum", float),
    batch_size=number("batch_size", int),
    steps=number("steps", int),
    seed=number("seed", int),
    l2=number("l2", float),
    weight_init=p.weight_init,
    bias_init=float(p.bias_init),
    eval_points=int(p.eval_points),
    eval_chunk=int(p.eval_chunk),
)
n_train = number("n_train", int)
subset = read_table(snakemake.input.subset)["index"].to_numpy()
if len(subset) != n_train:
    raise ValueError(f"{snakemake.input.subset} holds {len(subset)} indices, expected N={n_train}")
X_train, y_train, X_test, y_test = training_data(read_table(snakemake.input.dataset), subset, p.pixel_scale)
arch = Architecture(n_inputs=X_train.shape[1], n_hidden=int(p.hidden_units), n_classes=10)
log.info("%s: N=%d train, %d test images; %s", wc.dataset, len(y_train), len(y_test), config)


def progress(pr):
    log.info(
        "step %d/%d  test accuracy %.4f (latest evaluation)  %.0f steps/s  ETA %.0f s",
        pr.step, pr.steps, pr.test_accuracy, pr.steps_per_second, pr.eta_seconds,
    )


result = train(arch, X_train, y_train, X_test, y_test, config, progress=progress)
curve = result.curve
curve.insert(curve.columns.get_loc("n_train"), "dataset", wc.dataset)
last = curve.iloc[-1]
status = last["status"]
if status == "diverged":
    log.warning("diverged at step %d (non-finite loss or weights); the run is recorded as such", last["diverged_step"])
log.info(
    "done: status %s, step %d, test accuracy %.4f, test cross-entropy %.4f, %.1f s",
    status, last["step"], last["test_accuracy"], last["test_cross_entropy"], last["seconds"],
)
provenance = {
    "dataset": wc.dataset,
    "n_train": n_train,
    "training": config_record(config),
    "hidden_units": int(p.hidden_units),
    "pixel_scale": float(p.pixel_scale),
    "subset_seed": int(p.subset_seed),
    "seed": config.seed,
    "status": status,
    "diverged_step": int(last["diverged_step"]),
    "seconds": float(last["seconds"]),
}
# The weights first: the curve is the output other rules look for, and a job killed in between
# leaves an incomplete job that Snakemake redoes whole.
write_table(
    weights_table(result.parameters, result.velocity),
    snakemake.output.weights,
    {**provenance, "architecture": {"n_inputs": arch.n_inputs, "n_hidden": arch.n_hidden, "n_classes": arch.n_classes}},
)
log.info("wrote %s (%d parameters)", snakemake.output.weights, arch.n_params)
write_table(curve, snakemake.output.curve, provenance)
log.info("wrote %s", snakemake.output.curve)
