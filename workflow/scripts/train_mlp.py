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

from bayes_sgd.logging_setup import script_logger  # noqa: E402
from bayes_sgd.mlp import Architecture  # noqa: E402
from bayes_sgd.training.checkpoint import Checkpoint, Stopped  # noqa: E402
from bayes_sgd.training.job import (  # noqa: E402
    load_jax_backend, load_run_data, log_progress, run_provenance, training_config, wildcard_number, write_run,
)
from bayes_sgd.training.sgd import run_fingerprint, train  # noqa: E402

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


config = training_config(wc, wildcard_number(wc, "seed", int), p.protocol, p)
n_train = wildcard_number(wc, "n_train", int)
X_train, y_train, X_test, y_test = load_run_data(snakemake.input.dataset, snakemake.input.subset, n_train, p)
arch = Architecture(n_inputs=X_train.shape[1], n_hidden=int(p.hidden_units), n_classes=10)
log.info("%s: N=%d train, %d test images; protocol %s (%s); %s", wc.dataset, len(y_train), len(y_test),
         wc.protocol, ", ".join(f"{k}={v}" for k, v in p.protocol.items()), config)


backend_modules, backend = (), {"backend": "numpy"}
if p.backend == "jax":
    sgd_jax, backend, cache = load_jax_backend(snakemake.resources.jax_compilation_cache, log)
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
    result = trainer(arch, X_train, y_train, X_test, y_test, config, progress=log_progress(log), checkpoint=checkpoint)
except Stopped as stop:
    log.warning("SIGTERM: %s; a rerun of this job continues from there", stop)
    sys.exit(128 + signal.SIGTERM)
if p.backend == "jax" and cache is not None:
    log.info("JAX: %s", cache.describe())
provenance = run_provenance(wc, p, config, result, {**backend, "threads": snakemake.threads}, checkpoint.resumed_step)
write_run(result, arch, provenance, snakemake.output.weights, snakemake.output.curve, log)
checkpoint.remove()
log.info("%d checkpoints saved; resumed from step %s", checkpoint.saves, checkpoint.resumed_step)
