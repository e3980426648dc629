"""Train the seeds of one MLP configuration together with the JAX backend (rule train_mlp_seeds).

Writes, into the group's folder, each seed's learning curve and final weights, the tables rule
train_mlp would write for that seed alone (train_mlp then publishes them under the run's own
paths). Each seed has its own checkpoint file, at the path it has when trained alone.
"""

import sys

# BLAS threads = the job's threads (one unless the batch is large, see the rule), set before NumPy
# is first imported (bayes_sgd.training.threads imports nothing).
from bayes_sgd.training.threads import set_job_threads

NUMPY_PRELOADED = set_job_threads(snakemake.threads)

import math  # noqa: E402
import signal  # noqa: E402
from pathlib import Path  # noqa: E402

from bayes_sgd.mlp import Architecture  # noqa: E402
from bayes_sgd.sweeps import group_seeds  # noqa: E402
from bayes_sgd.training.checkpoint import Checkpoint, CheckpointGroup, Stopped  # noqa: E402
from bayes_sgd.training.job import (  # noqa: E402
    load_jax_backend, load_run_data, log_progress, run_provenance, training_config, training_job_logger, wildcard_number,
    write_run,
)
from bayes_sgd.training.sgd import run_fingerprint  # noqa: E402

log = training_job_logger(snakemake, NUMPY_PRELOADED)
wc, p = snakemake.wildcards, snakemake.params

seeds = group_seeds(wc.seeds)
if len(p.checkpoints) != len(seeds):
    raise ValueError(f"{len(p.checkpoints)} checkpoint paths for the {len(seeds)} seeds {wc.seeds}")
configs = [training_config(wc, seed, p.protocol, p) for seed in seeds]
n_train = wildcard_number(wc, "n_train", int)
X_train, y_train, X_test, y_test = load_run_data(snakemake.input.dataset, snakemake.input.subset, n_train, p)
arch = Architecture(n_inputs=X_train.shape[1], n_hidden=int(p.hidden_units), n_classes=10)
log.info("%s: N=%d train, %d test images; protocol %s (%s); seeds %s together; %s", wc.dataset, len(y_train),
         len(y_test), wc.protocol, ", ".join(f"{k}={v}" for k, v in p.protocol.items()), list(seeds), configs[0])

sgd_jax, backend, cache = load_jax_backend(snakemake.resources.jax_compilation_cache, log)
interval = int(snakemake.resources.checkpoint_seconds)
checkpoint = CheckpointGroup([
    Checkpoint(
        path,
        run_fingerprint(arch, config, X_train, y_train, X_test, y_test, backend="jax", threads=snakemake.threads,
                        backend_modules=(sgd_jax,), group=seeds),
        interval_seconds=interval if interval > 0 else math.inf,
    )
    for path, config in zip(p.checkpoints, configs)
])
log.info("checkpoints %s every %s s of training", ", ".join(p.checkpoints), interval if interval > 0 else "(never)")
if checkpoint.enabled:
    # SLURM sends SIGTERM at the time limit (SIGKILL follows): save now, so the retry loses nothing
    signal.signal(signal.SIGTERM, lambda signum, frame: checkpoint.request_stop())
try:
    results = sgd_jax.train_seeds(arch, X_train, y_train, X_test, y_test, configs,
                                  progress=log_progress(log, "mean test accuracy of the seeds training"),
                                  checkpoint=checkpoint)
except Stopped as stop:
    log.warning("SIGTERM: %s; a rerun of this job continues from there", stop)
    sys.exit(128 + signal.SIGTERM)
if cache is not None:
    log.info("JAX: %s", cache.describe())
folder = Path(snakemake.output.group)
folder.mkdir(parents=True, exist_ok=True)
record = {**backend, "threads": snakemake.threads, "group_seeds": list(seeds)}
for config, result in zip(configs, results):
    provenance = run_provenance(wc, p, config, result, record, checkpoint.resumed_step)
    write_run(result, arch, provenance, str(folder / f"s{config.seed}_weights.parquet"),
              str(folder / f"s{config.seed}_curve.parquet"), log)
checkpoint.remove()
log.info("%d checkpoint saves; resumed from step %s", checkpoint.saves, checkpoint.resumed_step)
