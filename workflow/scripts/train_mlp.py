"""Train the MLP once (rule train_mlp); write its learning curve (one row per evaluation) and final weights."""

import os
import sys

# BLAS threads = the job's threads (one unless the batch is large, see the rule). Snakemake sets
# these variables for script jobs already; setting them again before NumPy is first imported
# keeps the job at its thread count however it is started. If NumPy was imported earlier, the
# values Snakemake set are the ones in force.
NUMPY_PRELOADED = "numpy" in sys.modules
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(snakemake.threads)

# JAX backend: many jobs may share one GPU, so none may grab most of its memory up front.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import logging  # noqa: E402
import math  # noqa: E402
import signal  # noqa: E402
from dataclasses import asdict  # noqa: E402

from bayes_sgd.training.checkpoint import Checkpoint, Stopped  # noqa: E402
from bayes_sgd.logging_setup import script_logger  # noqa: E402
from bayes_sgd.mlp import Architecture  # noqa: E402
from bayes_sgd.training.sgd import TrainingConfig, run_fingerprint, train  # noqa: E402
from bayes_sgd.data.inputs import training_data  # noqa: E402
from bayes_sgd.training.run_tables import weights_table  # noqa: E402
from bayes_sgd.tables import read_table, write_table  # noqa: E402

log = script_logger(snakemake)
package_log = logging.getLogger("bayes_sgd")  # the package's messages (checkpoints) go to this job's log too
package_log.setLevel(logging.INFO)
package_log.handlers[:] = log.handlers
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
    weight_init=p.protocol["weight_init"],
    init_scale=float(p.protocol["init_scale"]),
    loss_normalisation=p.protocol["loss_normalisation"],
    momentum_form=p.protocol["momentum_form"],
    batch_sampling=p.protocol["batch_sampling"],
    bias_init=float(p.bias_init),
    eval_points=int(p.eval_points),
    eval_chunk=int(p.eval_chunk),
)
n_train = number("n_train", int)
subset = read_table(snakemake.input.subset)["index"].to_numpy()
if len(subset) != n_train:
    raise ValueError(f"{snakemake.input.subset} holds {len(subset)} indices, expected N={n_train}")
X_train, y_train, X_test, y_test = training_data(
    read_table(snakemake.input.dataset), subset, p.pixel_scale,
    input_range=p.protocol["input_range"], test_set=p.protocol["test_set"],
)
arch = Architecture(n_inputs=X_train.shape[1], n_hidden=int(p.hidden_units), n_classes=10)
log.info("%s: N=%d train, %d test images; protocol %s (%s); %s", wc.dataset, len(y_train), len(y_test),
         wc.protocol, ", ".join(f"{k}={v}" for k, v in p.protocol.items()), config)


def progress(pr):
    log.info(
        "step %d/%d  test accuracy %.4f (latest evaluation)  %.0f steps/s  ETA %.0f s",
        pr.step, pr.steps, pr.test_accuracy, pr.steps_per_second, pr.eta_seconds,
    )


backend_modules = ()
if p.backend == "jax":
    try:
        import jax

        from bayes_sgd.training import sgd_jax
    except ImportError as err:
        raise ImportError(f"mlp.backend: jax needs the optional extra (pip install -e '.[jax]'): {err}") from None
    log.info("JAX %s on %s (matrix products at precision 'highest')", jax.__version__, jax.devices())
    backend_modules = (sgd_jax,)
interval = int(snakemake.resources.checkpoint_seconds)
checkpoint = Checkpoint(
    snakemake.params.checkpoint,
    run_fingerprint(
        arch, config, X_train, y_train, X_test, y_test,
        backend=p.backend, threads=snakemake.threads, backend_modules=backend_modules,
    ),
    interval_seconds=interval if interval > 0 else math.inf,
)
log.info("checkpoint %s every %s s of training", checkpoint.path, interval if interval > 0 else "(never)")
if checkpoint.enabled:
    # SLURM sends SIGTERM at the time limit (SIGKILL follows): save now, so the retry loses nothing
    signal.signal(signal.SIGTERM, lambda signum, frame: checkpoint.request_stop())
trainer = sgd_jax.train if p.backend == "jax" else train
try:
    result = trainer(arch, X_train, y_train, X_test, y_test, config, progress=progress, checkpoint=checkpoint)
except Stopped as stop:
    log.warning("SIGTERM: %s; a rerun of this job continues from there", stop)
    sys.exit(128 + signal.SIGTERM)
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
    "protocol": wc.protocol,
    "protocol_options": dict(p.protocol),
    "training": asdict(config),
    "hidden_units": int(p.hidden_units),
    "pixel_scale": float(p.pixel_scale),
    "subset_seed": int(p.subset_seed),
    "backend": p.backend,
    "threads": snakemake.threads,
    **({"jax": jax.__version__, "jax_devices": [str(d) for d in jax.devices()]} if p.backend == "jax" else {}),
    "seed": config.seed,
    "status": status,
    "diverged_step": int(last["diverged_step"]),
    "seconds": float(last["seconds"]),
    "resumed_from_step": checkpoint.resumed_step,
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
checkpoint.remove()
log.info("%d checkpoints saved; resumed from step %s", checkpoint.saves, checkpoint.resumed_step)
