"""Checkpoints: a run killed partway and started again ends bit-identical to an uninterrupted one."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from bayes_sgd.training import sgd
from bayes_sgd.training import run_tables
from bayes_sgd.training.checkpoint import Checkpoint, Stopped, fingerprint
from bayes_sgd.mlp import Architecture

SMALL = Architecture(n_inputs=12, n_hidden=7, n_classes=3)
# every column but the wall-clock time must be bit-identical
EXACT = [c for c in run_tables.CURVE_COLUMNS + run_tables.CONFIG_COLUMNS if c != "seconds"]


def _data(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, SMALL.n_inputs), dtype=np.float32), rng.integers(0, SMALL.n_classes, size=n)


def _config(**kw):
    base = dict(learning_rate=0.3, momentum=0.9, batch_size=4, steps=60, seed=1, eval_points=8)
    return sgd.TrainingConfig(**{**base, **kw})


class Killed(Exception):
    pass


class KillAfterSave(Checkpoint):
    """Saves like a Checkpoint, then 'kills' the process (raises) after save number ``kill_at``."""

    def __init__(self, *args, kill_at: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.kill_at = kill_at
        self.saved_steps: list[int] = []

    def save(self, state):
        super().save(state)
        self.saved_steps.append(state.step)
        if self.saves == self.kill_at:
            raise Killed(state.step)


def _fp(c, X, y):
    return sgd.run_fingerprint(SMALL, c, X, y, X[:10], y[:10])


def _assert_identical(a: sgd.TrainingResult, b: sgd.TrainingResult):
    pd.testing.assert_frame_equal(a.curve[EXACT], b.curve[EXACT], check_exact=True)
    np.testing.assert_array_equal(a.parameters, b.parameters)
    np.testing.assert_array_equal(a.velocity, b.velocity)


@pytest.mark.parametrize("batch_size,kill_at", [(4, 1), (4, 23), (40, 17), (1, 59)])
def test_killed_and_resumed_run_is_bit_identical(tmp_path, batch_size, kill_at):
    X, y = _data(40, seed=2)
    c = _config(batch_size=batch_size, l2=0.5)
    reference = sgd.train(SMALL, X, y, X[:10], y[:10], c)
    path = tmp_path / "run.npz"
    killer = KillAfterSave(path, _fp(c, X, y), interval_seconds=0.0, kill_at=kill_at)
    with pytest.raises(Killed):
        sgd.train(SMALL, X, y, X[:10], y[:10], c, checkpoint=killer)
    assert killer.saved_steps == list(range(1, kill_at + 1))  # interval 0: after every step
    again = Checkpoint(path, _fp(c, X, y), interval_seconds=math.inf)
    resumed = sgd.train(SMALL, X, y, X[:10], y[:10], c, checkpoint=again)
    assert again.resumed_step == kill_at and again.saves == 0
    _assert_identical(resumed, reference)
    assert resumed.curve["seconds"].is_monotonic_increasing


def test_resuming_twice_and_divergence_after_a_resume(tmp_path):
    X, y = _data(40, seed=3)
    c = _config(steps=60)
    reference = sgd.train(SMALL, X, y, X[:10], y[:10], c)
    path = tmp_path / "run.npz"
    for kill_at in (5, 9):  # second attempt saves from step 6 on, dies at step 14
        with pytest.raises(Killed):
            sgd.train(SMALL, X, y, X[:10], y[:10], c, checkpoint=KillAfterSave(path, _fp(c, X, y), 0.0, kill_at=kill_at))
    last = Checkpoint(path, _fp(c, X, y), interval_seconds=0.0)
    _assert_identical(sgd.train(SMALL, X, y, X[:10], y[:10], c, checkpoint=last), reference)
    assert last.resumed_step == 14
    # a run that diverges after its resume diverges where the uninterrupted one does
    wild = _config(learning_rate=1e14, steps=1000)
    reference = sgd.train(SMALL, X, y, X[:10], y[:10], wild)
    assert (reference.curve["status"] == "diverged").all()
    d = int(reference.curve["diverged_step"].iloc[0])
    assert d >= 3
    wild_path = tmp_path / "wild.npz"
    with pytest.raises(Killed):
        sgd.train(SMALL, X, y, X[:10], y[:10], wild, checkpoint=KillAfterSave(wild_path, _fp(wild, X, y), 0.0, kill_at=d - 1))
    resumed = sgd.train(SMALL, X, y, X[:10], y[:10], wild, checkpoint=Checkpoint(wild_path, _fp(wild, X, y)))
    _assert_identical(resumed, reference)


def test_a_requested_stop_saves_at_once_and_resumes_bit_identical(tmp_path):
    """What SIGTERM does in a job: request_stop() mid-run saves after that step and stops."""
    X, y = _data(40, seed=7)
    c = _config(steps=200)
    reference = sgd.train(SMALL, X, y, X[:10], y[:10], c)
    path = tmp_path / "run.npz"
    cp = Checkpoint(path, _fp(c, X, y), interval_seconds=3600.0)  # no save by the clock

    def progress(p):
        if p.step == 70:
            cp.request_stop()

    with pytest.raises(Stopped):
        sgd.train(SMALL, X, y, X[:10], y[:10], c, checkpoint=cp, progress=progress, progress_fraction=0.05)
    assert cp.saves == 1
    again = Checkpoint(path, _fp(c, X, y), interval_seconds=3600.0)
    resumed = sgd.train(SMALL, X, y, X[:10], y[:10], c, checkpoint=again)
    assert again.resumed_step == 70
    _assert_identical(resumed, reference)


def test_a_checkpoint_of_another_run_is_not_resumed(tmp_path, caplog):
    X, y = _data(40, seed=4)
    c = _config()
    path = tmp_path / "run.npz"
    with pytest.raises(Killed):
        sgd.train(SMALL, X, y, X[:10], y[:10], c, checkpoint=KillAfterSave(path, _fp(c, X, y), 0.0, kill_at=30))
    other = _config(learning_rate=0.31)
    fresh = Checkpoint(path, _fp(other, X, y), interval_seconds=math.inf)
    with caplog.at_level("WARNING"):
        result = sgd.train(SMALL, X, y, X[:10], y[:10], other, checkpoint=fresh)
    assert fresh.resumed_step is None and "starting afresh" in caplog.text
    _assert_identical(result, sgd.train(SMALL, X, y, X[:10], y[:10], other))
    # a damaged file is not resumed either
    path.write_bytes(b"not a checkpoint")
    assert Checkpoint(path, _fp(c, X, y)).load() is None


def test_fingerprint_covers_configuration_data_and_backend():
    X, y = _data(40, seed=5)
    c = _config()
    base = _fp(c, X, y)
    assert base == _fp(c, X.copy(), y.copy())  # a pure function of the values
    X2 = X.copy()
    X2[7, 3] = np.nextafter(X2[7, 3], 2, dtype=np.float32)  # one float32 ulp in one pixel
    y2 = y.copy()
    y2[0] = (y2[0] + 1) % 3
    others = {
        _fp(_config(seed=2), X, y),
        _fp(_config(eval_points=9), X, y),
        _fp(_config(l2=1e-9), X, y),
        _fp(c, X2, y),
        _fp(c, X, y2),
        sgd.run_fingerprint(Architecture(12, 8, 3), c, X, y, X[:10], y[:10]),
        sgd.run_fingerprint(SMALL, c, X, y, X[:10], y[:10], dtype=np.float64),
        sgd.run_fingerprint(SMALL, c, X, y, X[:11], y[:11]),
        sgd.run_fingerprint(SMALL, c, X, y, X[:10], y[:10], threads=2),
    }
    assert base not in others and len(others) == 9
    assert fingerprint({"a": 1}, {}) != fingerprint({"a": 1}, {}, {"backend": "jax"})


def test_checkpoints_follow_the_interval_and_a_finished_run_leaves_none_to_resume(tmp_path):
    X, y = _data(40, seed=6)
    c = _config(steps=50)
    never = Checkpoint(tmp_path / "a.npz", _fp(c, X, y), interval_seconds=3600.0)
    sgd.train(SMALL, X, y, X[:10], y[:10], c, checkpoint=never)
    assert never.saves == 0 and not never.path.exists()
    every = Checkpoint(tmp_path / "b.npz", _fp(c, X, y), interval_seconds=0.0)
    sgd.train(SMALL, X, y, X[:10], y[:10], c, checkpoint=every)
    assert every.saves == 49  # after steps 1..49, not after the last
    every.remove()
    assert not every.path.exists()
    with pytest.raises(ValueError):
        Checkpoint(tmp_path / "c.npz", "x", interval_seconds=-1)


# --- the workflow: a train_mlp job killed with SIGKILL and run again ---------------------------

RUN = "results/runs/mnist5k/paper/N40/eps0.1_m0.9_B40_l20_T5000_s0.parquet"
WEIGHTS = RUN.replace("results/runs/", "results/weights/")
CHECKPOINT = RUN.replace("results/runs/", "results/checkpoints/").replace(".parquet", ".npz")
LOG = RUN.replace("results/runs/", "logs/train_mlp/").replace(".parquet", ".log")


@pytest.mark.slow
def test_killed_workflow_job_resumes_from_its_checkpoint_bit_identical(tmp_path):
    import os
    import shutil
    import signal
    import subprocess
    import sys
    import time

    from bayes_sgd.tables import read_provenance, read_table
    from workflow_helpers import REPO, SNAKEFILE, snakemake, write_config

    write_config(tmp_path, {"mlp": {"eval_points": 6, "checkpoint_seconds": 1}})
    argv = [
        sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), "--directory", str(tmp_path),
        "--workflow-profile", str(REPO / "profiles" / "default"), "--cores", "1", RUN,
    ]
    with open(tmp_path / "first.txt", "w") as out:
        proc = subprocess.Popen(argv, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while not (tmp_path / CHECKPOINT).exists():  # at least one checkpoint saved: kill
            assert proc.poll() is None, (tmp_path / "first.txt").read_text()[-3000:]
            assert time.monotonic() < deadline, "no checkpoint within 240 s"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    assert not (tmp_path / RUN).exists() and (tmp_path / CHECKPOINT).exists()

    snakemake(tmp_path, "--unlock", RUN)
    snakemake(tmp_path, "--cores", "1", RUN)  # profiles/default: rerun-incomplete
    log = (tmp_path / LOG).read_text()
    resumed_at = int(log.split("resuming from checkpoint", 1)[1].split("at step ", 1)[1].split()[0])
    assert 1 <= resumed_at < 5000
    assert read_provenance(tmp_path / RUN)["provenance"]["resumed_from_step"] == resumed_at
    assert not (tmp_path / CHECKPOINT).exists()  # removed once the outputs were written
    resumed = read_table(tmp_path / RUN), read_table(tmp_path / WEIGHTS)
    shutil.copy(tmp_path / RUN, tmp_path / "resumed.parquet")

    # the same run uninterrupted, without checkpoints (a resource: changing it reruns nothing)
    write_config(tmp_path, {"mlp": {"eval_points": 6, "checkpoint_seconds": 0}})
    assert "Nothing to be done" in snakemake(tmp_path, "-n", RUN).stdout
    (tmp_path / RUN).unlink()
    (tmp_path / WEIGHTS).unlink()
    snakemake(tmp_path, "--cores", "1", RUN)
    assert "resuming" not in (tmp_path / LOG).read_text()
    assert read_provenance(tmp_path / RUN)["provenance"]["resumed_from_step"] is None
    fresh = read_table(tmp_path / RUN), read_table(tmp_path / WEIGHTS)
    columns = [c for c in resumed[0].columns if c != "seconds"]
    pd.testing.assert_frame_equal(resumed[0][columns], fresh[0][columns], check_exact=True)
    pd.testing.assert_frame_equal(resumed[1], fresh[1], check_exact=True)
    assert (fresh[0]["status"] == "ok").all() and fresh[0]["step"].iloc[-1] == 5000


@pytest.mark.slow
def test_sigterm_to_a_job_saves_its_state_and_the_rerun_continues(tmp_path):
    """SLURM's time limit: SIGTERM to the job's process, which saves, exits; the retry resumes."""
    from bayes_sgd.tables import read_provenance
    from workflow_helpers import sigterm_training_job, snakemake, write_config

    write_config(tmp_path, {"mlp": {"eval_points": 6}})  # default interval: no save by the clock
    log = tmp_path / LOG
    proc = sigterm_training_job(tmp_path, log, RUN)
    assert proc.returncode != 0 and "SIGTERM: stopped on request after saving step" in log.read_text()
    assert (tmp_path / CHECKPOINT).exists() and not (tmp_path / RUN).exists()
    snakemake(tmp_path, "--cores", "1", RUN)
    resumed_at = read_provenance(tmp_path / RUN)["provenance"]["resumed_from_step"]
    assert resumed_at is not None and 1 <= resumed_at < 5000
    assert not (tmp_path / CHECKPOINT).exists()
