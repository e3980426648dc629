"""Seeds trained together (bayes_sgd.training.sgd_jax.train_seeds): which runs form a group, a
group's checkpoints, one compiled program for every step size of a shape, and JAX's persistent
compilation cache across processes. The workflow's grouped jobs are in test_workflow_jax.py."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="the JAX backend needs the optional extra: pip install -e '.[jax]'")

from bayes_sgd import sweeps  # noqa: E402
from bayes_sgd.mlp import Architecture  # noqa: E402
from bayes_sgd.training import sgd, sgd_jax  # noqa: E402
from bayes_sgd.training.checkpoint import Checkpoint, CheckpointGroup, Stopped, TrainingState  # noqa: E402
from bayes_sgd.training.run_tables import CONFIG_COLUMNS, CURVE_COLUMNS, curve_row  # noqa: E402

ARCH = Architecture(n_inputs=20, n_hidden=16, n_classes=10)
EXACT = [c for c in (*CURVE_COLUMNS, *CONFIG_COLUMNS) if c != "seconds"]


def _data(n, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.random((10, ARCH.n_inputs))
    y = rng.integers(0, 10, size=n)
    return (centres[y] + 0.3 * rng.normal(size=(n, ARCH.n_inputs))).astype(np.float32), y


def _configs(seeds, **kw):
    base = dict(learning_rate=0.05, momentum=0.9, batch_size=5, steps=300, eval_points=10)
    return [sgd.TrainingConfig(**{**base, **kw, "seed": s}) for s in seeds]


def _group(tmp_path, configs, X, y, interval=0.0, group=None):
    seeds = tuple(c.seed for c in configs) if group is None else group
    return CheckpointGroup([
        Checkpoint(tmp_path / f"s{c.seed}.npz", sgd.run_fingerprint(ARCH, c, X, y, X, y, backend="jax", group=seeds),
                   interval_seconds=interval)
        for c in configs
    ])


def test_a_group_holds_every_seed_any_rule_asks_of_a_configuration():
    run = sweeps.Run(n_train=1000, learning_rate=1.0, momentum=0.9, batch_size=30, l2=0.0, steps=10000, seed=0)
    other_protocol = sweeps.Run(**{**run.__dict__, "protocol": "momentum_form-dampened"})
    runs = [run, sweeps.Run(**{**run.__dict__, "seed": 3}), sweeps.Run(**{**run.__dict__, "seed": 1}), run,
            sweeps.Run(**{**run.__dict__, "batch_size": 100, "seed": 2}), other_protocol]
    groups = sweeps.seed_groups("mnist", runs)
    stem = "mnist/paper/N1000/eps1_m0.9_B30_l20_T10000"
    assert groups == {stem: (0, 1, 3), stem.replace("B30", "B100"): (2,),
                      stem.replace("paper", "momentum_form-dampened"): (0,)}
    assert sweeps.run_path("mnist", run) == f"results/runs/{stem}_s0.parquet"
    name = sweeps.group_name(stem, groups[stem])
    assert name == f"{stem}_seeds0-1-3"
    assert sweeps.group_seeds(name.rsplit("_seeds", 1)[1]) == (0, 1, 3)


def test_a_run_trained_in_a_group_has_another_identity():
    X, y = _data(40)
    c = _configs([0])[0]
    alone = sgd.run_fingerprint(ARCH, c, X, y, X, y, backend="jax")
    assert alone != sgd.run_fingerprint(ARCH, c, X, y, X, y, backend="jax", group=(0, 1))
    assert sgd.run_fingerprint(ARCH, c, X, y, X, y, backend="jax", group=(0, 1)) != sgd.run_fingerprint(
        ARCH, c, X, y, X, y, backend="jax", group=(0, 1, 2))


def test_a_stopped_group_resumes_bit_identical(tmp_path):
    """SIGTERM's path (request_stop, honoured after the next save), then a resume from the files."""
    X, y = _data(60, seed=3)
    configs = _configs([0, 1, 2])
    reference = sgd_jax.train_seeds(ARCH, X[:40], y[:40], X[40:], y[40:], configs)
    group = _group(tmp_path, configs, X[:40], y[:40])

    def stop_midway(progress):
        if progress.step >= 40:
            group.request_stop()

    with pytest.raises(Stopped, match="3 runs"):
        sgd_jax.train_seeds(ARCH, X[:40], y[:40], X[40:], y[40:], configs, progress=stop_midway, checkpoint=group)
    assert all((tmp_path / f"s{s}.npz").exists() for s in (0, 1, 2))
    again = _group(tmp_path, configs, X[:40], y[:40], interval=float("inf"))
    resumed = sgd_jax.train_seeds(ARCH, X[:40], y[:40], X[40:], y[40:], configs, checkpoint=again)
    assert again.resumed_step is not None and 40 <= again.resumed_step < 300
    for ref, got in zip(reference, resumed):
        assert ref.curve[EXACT].equals(got.curve[EXACT])
        np.testing.assert_array_equal(ref.parameters, got.parameters)
        np.testing.assert_array_equal(ref.velocity, got.velocity)


def test_a_diverged_seed_stays_diverged_after_a_resume(tmp_path):
    """A saved group in which seed 1 diverged at step 1 and seed 0 did not: after the resume seed 1
    keeps its state and rows and takes no step more, seed 0 goes on."""
    X, y = _data(40, seed=4)
    configs = _configs([0, 1], learning_rate=1e25, steps=100)
    w = [sgd.initial_parameters(ARCH, c, dtype=np.float32) for c in configs]
    start = curve_row(0, (0.1, 0.1, 2.3, 2.3), 5, 40, 0.0)
    states = [
        TrainingState(1, 2, w[0], np.zeros_like(w[0]), {"jax": "batches keyed by step", "diverged_step": -1},
                      [start, curve_row(1, (0.1, 0.1, 2.3, 2.3), 5, 40, 0.0)], 0.0),
        TrainingState(1, 2, w[1], np.full_like(w[1], np.nan), {"jax": "batches keyed by step", "diverged_step": 1},
                      [start, curve_row(1, None, 5, 40, 0.0)], 0.0),
    ]
    _group(tmp_path, configs, X, y).save(states)
    resumed = sgd_jax.train_seeds(ARCH, X, y, X, y, configs, checkpoint=_group(tmp_path, configs, X, y, interval=float("inf")))
    assert list(resumed[1].curve["step"]) == [0, 1] and (resumed[1].curve["diverged_step"] == 1).all()
    np.testing.assert_array_equal(resumed[1].parameters, w[1])
    assert resumed[0].curve["step"].iloc[-1] > 1 and resumed[0].curve["status"].iloc[-1] == "diverged"


def test_a_group_whose_checkpoints_disagree_starts_afresh(tmp_path, caplog):
    X, y = _data(40, seed=5)
    configs = _configs([0, 1], steps=100)
    group = _group(tmp_path, configs, X, y)

    def stop(progress):
        group.request_stop()

    with pytest.raises(Stopped):
        sgd_jax.train_seeds(ARCH, X, y, X, y, configs, progress=stop, checkpoint=group)
    (tmp_path / "s1.npz").unlink()  # one member's file lost
    fresh = _group(tmp_path, configs, X, y, interval=float("inf"))
    result = sgd_jax.train_seeds(ARCH, X, y, X, y, configs, checkpoint=fresh)
    assert fresh.resumed_step is None and "incomplete or at different steps" in caplog.text
    reference = sgd_jax.train_seeds(ARCH, X, y, X, y, configs)
    np.testing.assert_array_equal(result[0].parameters, reference[0].parameters)
    # a group of other seeds does not resume these files (the fingerprint names the group)
    assert _group(tmp_path, configs[:1], X, y, group=(0, 2)).load() is None


def test_one_compiled_segment_serves_every_step_size_of_a_shape():
    """eps, m and L2 are arguments, not constants: the program (what the persistent cache stores)
    is the same for every run of one N, B and protocol, and another for another B."""
    X, y = _data(40)

    def program(**kw):
        c = _configs([0], **kw)[0]
        segment = sgd_jax.make_segment(ARCH, c, 40, jax.lax.Precision.HIGHEST, given_batches=False)
        w = np.zeros(ARCH.n_params, np.float32)
        return segment.lower(w, w, np.int32(0), np.int32(5), X, y.astype(np.int32), sgd_jax.batch_key(0),
                             sgd_jax.step_constants(c, 40)).as_text()

    assert program() == program(learning_rate=0.5, momentum=0.0, l2=3.0)
    assert program() != program(batch_size=10)
    assert program() != program(momentum_form="dampened")


def test_the_compilation_cache_serves_a_second_process(tmp_path):
    """What a second training job sees: every program loaded from the cache, none compiled."""
    script = textwrap.dedent(f"""
        import numpy as np
        from bayes_sgd.mlp import Architecture
        from bayes_sgd.training import jax_cache, sgd, sgd_jax
        counter = jax_cache.enable_compilation_cache({str(tmp_path / "cache")!r})
        rng = np.random.default_rng(0)
        X, y = rng.random((30, 20), dtype=np.float32), rng.integers(0, 10, 30)
        import sys
        config = sgd.TrainingConfig(learning_rate=float(sys.argv[1]), momentum=0.9, batch_size=5, steps=20, seed=0, eval_points=3)
        sgd_jax.train(Architecture(20, 8, 10), X, y, X, y, config)
        print(counter.hits, counter.misses)
    """)

    def run(eps):
        out = subprocess.run([sys.executable, "-c", script, str(eps)], capture_output=True, text=True, check=True)
        return tuple(int(n) for n in out.stdout.split())

    hits, misses = run(0.1)
    assert misses > 0 and any((tmp_path / "cache").iterdir())
    hits, misses = run(0.7)  # another learning rate: the same programs
    assert hits > 0 and misses == 0
