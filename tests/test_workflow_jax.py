"""The JAX backend through python -m snakemake on tiny configurations: the seeds of a configuration
trained in one job (train_mlp_seeds) and published under their usual paths, the same tables as
runs trained one by one (to float32 rounding), the compilation cache serving a second job, what an
edit of the seed list reruns, SIGTERM to a group job, and the protocol variants on this backend."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="the JAX backend needs the optional extra: pip install -e '.[jax]'")

from bayes_sgd.mlp import Architecture  # noqa: E402
from bayes_sgd.tables import read_provenance, read_table  # noqa: E402
from bayes_sgd.training import run_tables, sgd  # noqa: E402
from workflow_helpers import REPO, TINY_MLP, dry_run, planned_jobs, sigterm_training_job, snakemake, write_config  # noqa: E402

pytestmark = pytest.mark.slow

STEM = "mnist5k/paper/N40/eps0.5_m0.9_B5_l20_T30"
RUNS = [f"results/runs/{STEM}_s{seed}.parquet" for seed in (0, 1)]  # Figure 4's B = 5, seeds 0 and 1
GROUP_LOG = f"logs/train_mlp_seeds/{STEM}_seeds0-1.log"
METRICS = ["train_accuracy", "test_accuracy", "train_cross_entropy", "test_cross_entropy"]


def weights_path(run: str) -> str:
    return run.replace("results/runs/", "results/weights/")


def log_path(run: str) -> str:
    return run.replace("results/runs/", "logs/train_mlp/").replace(".parquet", ".log")


def training_jobs(jobs: dict[str, int]) -> dict[str, int]:
    return {rule: n for rule, n in jobs.items() if rule.startswith("train_mlp")}


def test_grouped_seeds_publish_the_tables_of_runs_trained_one_by_one(tmp_path):
    mlp = {**TINY_MLP, "backend": "jax"}
    write_config(tmp_path, {"mlp": mlp})
    assert training_jobs(planned_jobs(tmp_path, *RUNS)) == {"train_mlp_seeds": 1, "train_mlp": 2}
    snakemake(tmp_path, "--cores", "1", *RUNS)
    for seed, run in enumerate(RUNS):
        curve = read_table(tmp_path / run)
        assert list(curve.columns) == [*run_tables.CURVE_COLUMNS, "dataset", *run_tables.CONFIG_COLUMNS]
        assert (curve["seed"] == seed).all() and curve["step"].tolist() == sgd.evaluation_steps(30, 5).tolist()
        provenance = read_provenance(tmp_path / run)["provenance"]
        assert provenance["backend"] == "jax" and provenance["jax"] == jax.__version__
        assert provenance["group_seeds"] == [0, 1] and provenance["seed"] == seed
        weights = read_table(tmp_path / weights_path(run))
        assert len(weights) == Architecture(784, 16, 10).n_params and (weights.dtypes == np.float32).all()
        assert GROUP_LOG in (tmp_path / log_path(run)).read_text()
    log = (tmp_path / GROUP_LOG).read_text()
    assert "seeds [0, 1] together" in log and "precision 'highest'" in log and "compiled into it" in log
    grouped = {run: (read_table(tmp_path / run), read_table(tmp_path / weights_path(run))) for run in RUNS}

    # an edit of the seed list reruns the group (its name lists the seeds) and the runs it publishes
    write_config(tmp_path, {"mlp": {**mlp, "figure_4": {**mlp["figure_4"], "seeds": [0, 1, 2]}}})
    jobs = dry_run(tmp_path, *RUNS)
    assert training_jobs(planned_jobs(tmp_path, *RUNS)) == {"train_mlp_seeds": 1, "train_mlp": 2}
    assert any(out.endswith(f"{STEM}_seeds0-1-2") for job in jobs for out in job.outputs)
    write_config(tmp_path, {"mlp": mlp})  # back: nothing to do
    assert training_jobs(planned_jobs(tmp_path, *RUNS)) == {}

    # each seed in its own job: the same tables to float32 rounding; the second job loads every
    # program the first compiled (the same shape, so the same programs) and compiles none
    write_config(tmp_path, {"mlp": {**mlp, "group_seeds": False}})
    assert training_jobs(planned_jobs(tmp_path, *RUNS)) == {"train_mlp": 2}
    snakemake(tmp_path, "--cores", "1", *RUNS)
    logs = [(tmp_path / log_path(run)).read_text() for run in RUNS]
    assert all("JAX" in log and "precision 'highest'" in log for log in logs)
    second = logs[1] if logs[0] < logs[1] else logs[0]  # the later of the two (timestamped lines)
    assert "0 compiled into it" in second and " 0 programs loaded" not in second
    for run in RUNS:
        alone_curve, alone_weights = read_table(tmp_path / run), read_table(tmp_path / weights_path(run))
        group_curve, group_weights = grouped[run]
        assert "group_seeds" not in read_provenance(tmp_path / run)["provenance"]
        np.testing.assert_array_equal(group_curve["step"], alone_curve["step"])
        scale = np.abs(alone_weights["parameter"]).max()
        np.testing.assert_allclose(group_weights["parameter"], alone_weights["parameter"], rtol=0, atol=1e-5 * scale)
        np.testing.assert_allclose(group_curve[METRICS], alone_curve[METRICS], rtol=1e-5, atol=1e-6)

    # the backend is part of a run's identity: switching back to NumPy reruns it
    write_config(tmp_path, {"mlp": {**TINY_MLP, "backend": "numpy"}})
    assert training_jobs(planned_jobs(tmp_path, *RUNS)) == {"train_mlp": 2}


def test_sigterm_to_a_group_job_saves_every_seed_and_the_rerun_continues(tmp_path):
    """SLURM's time limit on a group: the job saves each seed's state and exits; the retry resumes all."""
    long = {**TINY_MLP["figure_4"], "steps": 100_000, "batch_sizes": [5]}
    write_config(tmp_path, {"mlp": {**TINY_MLP, "backend": "jax", "eval_points": 30, "figure_4": long}})
    stem = STEM.replace("T30", "T100000")
    runs = [f"results/runs/{stem}_s{seed}.parquet" for seed in (0, 1)]
    checkpoints = [run.replace("results/runs/", "results/checkpoints/").replace(".parquet", ".npz") for run in runs]
    log = tmp_path / f"logs/train_mlp_seeds/{stem}_seeds0-1.log"
    proc = sigterm_training_job(tmp_path, log, *runs)
    text = log.read_text()
    assert proc.returncode != 0 and "SIGTERM: stopped on request after saving step" in text, text[-2000:]
    assert all((tmp_path / c).exists() for c in checkpoints) and not any((tmp_path / r).exists() for r in runs)
    snakemake(tmp_path, "--cores", "1", *runs)
    for run, checkpoint in zip(runs, checkpoints):
        provenance = read_provenance(tmp_path / run)["provenance"]
        assert provenance["resumed_from_step"] is not None and 1 <= provenance["resumed_from_step"] < 100_000
        assert read_table(tmp_path / run)["step"].iloc[-1] == 100_000
        assert not (tmp_path / checkpoint).exists()


def test_the_protocol_variants_run_on_the_jax_backend(tmp_path):
    """config/variants.yaml with --config mlp='{backend: jax}' (on the smoke sizes): every variant's
    Figure 4 runs, each protocol option on the JAX trainer."""
    write_config(tmp_path)
    configfiles = ["--configfile", str(REPO / "config" / "variants.yaml"), str(REPO / "config" / "smoke.yaml")]
    names = ["class_mean_loss", "dampened_momentum", "nesterov_momentum", "pytorch_init", "symmetric_inputs",
             "epoch_sampling"]
    targets = [f"results/variants/mnist5k/{name}/figure_4_final.parquet" for name in names]
    snakemake(tmp_path, *configfiles, "--config", "mlp={backend: jax}", "--cores", "2", *targets)
    for name, target in zip(names, targets):
        final = read_table(tmp_path / target)
        assert len(final) == 3 and final["test_accuracy"].notna().all(), name
    protocols = {read_provenance(p)["provenance"]["protocol"] for p in (tmp_path / "results/runs/mnist5k").rglob("*.parquet")}
    assert {"loss_normalisation-batch_and_classes", "momentum_form-dampened", "batch_sampling-epoch_shuffle"} <= protocols
    assert all(read_provenance(p)["provenance"]["backend"] == "jax" for p in (tmp_path / "results/runs").rglob("*.parquet"))
    shutil.rmtree(tmp_path / "resources", ignore_errors=True)
