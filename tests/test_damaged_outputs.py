"""Damaged outputs are never taken for finished ones, and outputs get the user's permissions.

A table damaged after it was written (a full disk, a killed copy, a hand edit) is found by the
next job that reads it, with an error naming the file and what to do; a damaged checkpoint is
not resumed (the run starts afresh and says why). Every file the pipeline writes gets the mode a
plain ``open()`` would give under the user's umask, not ``mkstemp``'s private 0600.
"""

from __future__ import annotations

import math
import os
import stat

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from bayes_sgd.figures.files import save_figure
from bayes_sgd.tables import DamagedTableError, read_table, write_atomic, write_table
from bayes_sgd.training import sgd
from bayes_sgd.mlp import Architecture
from bayes_sgd.training.checkpoint import Checkpoint, TrainingState
from workflow_helpers import TINY_MLP, snakemake, write_config


def _truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.mark.parametrize("damage", ["truncated", "empty", "text"])
def test_a_damaged_table_is_refused_naming_the_file(tmp_path, damage):
    path = tmp_path / "table.parquet"
    write_table(pd.DataFrame({"a": [1.0, 2.0]}), path, {"status": "ok"})
    if damage == "truncated":
        _truncate(path)
    else:
        path.write_text("" if damage == "empty" else "step,accuracy\n1,0.5\n")
    with pytest.raises(DamagedTableError) as err:
        read_table(path)
    assert str(err.value).startswith(f"{path}: not a readable Parquet table") and "Delete it" in str(err.value)


def test_a_missing_table_is_not_called_damaged(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_table(tmp_path / "absent.parquet")


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_outputs_get_the_permissions_of_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "t.parquet")
        write_atomic(tmp_path / "s.md", lambda tmp: open(tmp, "w").write("report"))
        save_figure(plt.figure(), [tmp_path / "f.png"], dpi=20)
    finally:
        os.umask(old)
    for name in ("t.parquet", "s.md", "f.png"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask, name


def test_a_truncated_checkpoint_starts_the_run_afresh(tmp_path, caplog):
    arch = Architecture(784, 8, 10)
    rng = np.random.default_rng(0)
    X = rng.random((40, 784), dtype=np.float32)
    y = rng.integers(0, 10, 40)
    config = sgd.TrainingConfig(learning_rate=0.1, momentum=0.9, batch_size=5, steps=20, seed=0, eval_points=3)
    fingerprint = sgd.run_fingerprint(arch, config, X, y, X, y)
    path = tmp_path / "run.npz"
    zeros = np.zeros(arch.n_params, np.float32)
    Checkpoint(path, fingerprint).save(TrainingState(5, 1, zeros, zeros, rng.bit_generator.state, [], 0.0))
    assert Checkpoint(path, fingerprint).load() is not None  # intact, it would be resumed
    _truncate(path)
    with caplog.at_level("WARNING"):
        assert Checkpoint(path, fingerprint).load() is None
    assert "unreadable" in caplog.text and "starting afresh" in caplog.text
    fresh = sgd.train(arch, X, y, X, y, config, checkpoint=Checkpoint(path, fingerprint, interval_seconds=math.inf))
    np.testing.assert_array_equal(fresh.parameters, sgd.train(arch, X, y, X, y, config).parameters)


@pytest.mark.slow
def test_the_workflow_refuses_a_damaged_table_and_rebuilds_it_once_deleted(tmp_path):
    """Damage a finished run table: the jobs that read it rerun (its time stamp changed) and stop
    with the error naming it; delete it and the next run rebuilds it and finishes."""
    write_config(tmp_path, {"mlp": {**TINY_MLP, "figure_4": {**TINY_MLP["figure_4"], "seeds": [0]}}})
    target = "results/sgd/mnist5k/figure_4_curves.parquet"
    snakemake(tmp_path, "--cores", "2", target)
    run = next((tmp_path / "results" / "runs").rglob("*_B5_*.parquet"))
    _truncate(run)
    failed = snakemake(tmp_path, "--cores", "2", target, check=False)
    assert failed.returncode != 0
    log = "".join(p.read_text() for p in (tmp_path / "logs").rglob("*.log"))
    assert f"{run.relative_to(tmp_path)}: not a readable Parquet table" in log + failed.stdout
    run.unlink()
    snakemake(tmp_path, "--cores", "2", target)
    assert len(read_table(run)) > 0 and len(read_table(tmp_path / target)) > 0
