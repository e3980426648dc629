"""Train the MLP once (rule train_mlp); write its learning curve (one row per evaluation) and final weights."""

import sys

# BLAS threads = the job's threads (one unless the batch is large, see the rule), set before NumPy
# is first imported (bayes_sgd.training.threads imports nothing).
from bayes_sgd.training.threads import set_job_threads

NUMPY_PRELOADED = set_job_threads(snakemake.threads)

import math  # noqa: E402
import signal  # noqa: E402

from bayes_sgd.mlp import Architecture  # noqa: E402
from bayes_sgd.training.checkpoint import Checkpoint, Stopped  # noqa: E402
from bayes_sgd.training.job import (  # noqa: E402
    load_jax_backend, load_run_data, log_progress, run_provenance, training_config, training_job_logger, wildcard_number,
    write_run,
)
from bayes_sgd.training.sgd import run_fingerprint, train  # noqa: E402

log = training_job_logger(snakemake, NUMPY_PRELOADED)
wc, p = snakemake.wildcards, snakemake.params

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
