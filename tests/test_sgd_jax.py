"""The JAX trainer against the NumPy trainer (same initial weights, same batches), on CPU."""

from __future__ import annotations

import math

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="the JAX backend needs the optional extra: pip install -e '.[jax]'")

from bayes_sgd.training import sgd_jax  # noqa: E402
from bayes_sgd.training import sgd
from bayes_sgd.training import run_tables
from bayes_sgd.training import batches
from bayes_sgd.training.checkpoint import Checkpoint  # noqa: E402
from bayes_sgd.mlp import Architecture  # noqa: E402

ARCH = Architecture(n_inputs=20, n_hidden=16, n_classes=10)
METRICS = ["train_accuracy", "test_accuracy", "train_cross_entropy", "test_cross_entropy"]


def _data(n, seed=0):
    """A learnable problem: 10 noisy class centres."""
    rng = np.random.default_rng(seed)
    centres = rng.random((10, ARCH.n_inputs))
    y = rng.integers(0, 10, size=n)
    X = (centres[y] + 0.3 * rng.normal(size=(n, ARCH.n_inputs))).astype(np.float32)
    return X, y


def _config(**kw):
    base = dict(learning_rate=0.05, momentum=0.9, batch_size=5, steps=300, seed=0, eval_points=10)
    return sgd.TrainingConfig(**{**base, **kw})


def numpy_batches(config: sgd.TrainingConfig, n: int) -> np.ndarray:
    """The batch indices the NumPy trainer draws, step by step (its batch generator replayed)."""
    if config.batch_sampling == "epoch_shuffle":
        sampler = batches.EpochSampler(sgd.run_seeds(config.seed)[1], n, config.batch_size)
        return np.stack([sampler.batch(t) for t in range(1, config.steps + 1)])
    rng = np.random.default_rng(sgd.run_seeds(config.seed)[1])
    return np.stack([batches.sample_batch(rng, n, config.batch_size) for _ in range(config.steps)])


@pytest.mark.parametrize("batch_size,l2", [(1, 0.0), (5, 0.5), (40, 0.0)])
def test_same_weights_and_batches_give_the_numpy_trajectory(batch_size, l2):
    X, y = _data(60, seed=1)
    Xtr, ytr, Xte, yte = X[:40], y[:40], X[40:], y[40:]
    c = _config(batch_size=batch_size, l2=l2)
    ref = sgd.train(ARCH, Xtr, ytr, Xte, yte, c)
    got = sgd_jax.train(ARCH, Xtr, ytr, Xte, yte, c, batches=numpy_batches(c, 40))
    assert list(got.curve.columns) == list(ref.curve.columns)
    np.testing.assert_array_equal(got.curve["step"], ref.curve["step"])
    assert (got.curve["status"] == "ok").all() and (ref.curve["status"] == "ok").all()
    # float32 over 300 steps: the trajectories agree to rounding growth, not bit for bit
    scale = np.abs(ref.parameters).max()
    np.testing.assert_allclose(got.parameters, ref.parameters, rtol=0, atol=2e-4 * scale)
    np.testing.assert_allclose(got.velocity, ref.velocity, rtol=0, atol=2e-4 * max(np.abs(ref.velocity).max(), 1e-3))
    np.testing.assert_allclose(got.curve[METRICS[2:]], ref.curve[METRICS[2:]], rtol=1e-4, atol=1e-5)
    assert np.abs(got.curve[METRICS[:2]].to_numpy() - ref.curve[METRICS[:2]].to_numpy()).max() <= 0.05
    assert ref.curve["train_cross_entropy"].iloc[-1] < 0.9 * ref.curve["train_cross_entropy"].iloc[0]  # it moved


OPTIONS = [
    {"loss_normalisation": "batch_and_classes"},
    {"momentum_form": "dampened"},
    {"momentum_form": "nesterov"},
    {"init_scale": 0.5, "weight_init": "he_normal"},
    {"batch_sampling": "epoch_shuffle"},
    {"loss_normalisation": "batch_and_classes", "momentum_form": "nesterov", "batch_sampling": "epoch_shuffle"},
]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "+".join(f"{k}={v}" for k, v in o.items()))
def test_every_protocol_option_follows_the_numpy_trajectory(options):
    """Each option of TrainingConfig on the JAX trainer, on the NumPy trainer's own batches, with
    L2 on (the loss normalisation must not divide it); B = 7 does not divide N = 40, so epoch
    batches straddle epochs. The stated protocol's trajectory differs (the option is applied)."""
    X, y = _data(60, seed=6)
    Xtr, ytr, Xte, yte = X[:40], y[:40], X[40:], y[40:]
    c = _config(batch_size=7, l2=0.5, steps=200, **options)
    ref = sgd.train(ARCH, Xtr, ytr, Xte, yte, c)
    got = sgd_jax.train(ARCH, Xtr, ytr, Xte, yte, c, batches=numpy_batches(c, 40))
    assert (got.curve["status"] == "ok").all() and (ref.curve["status"] == "ok").all()
    scale = np.abs(ref.parameters).max()
    np.testing.assert_allclose(got.parameters, ref.parameters, rtol=0, atol=2e-4 * scale)
    np.testing.assert_allclose(got.velocity, ref.velocity, rtol=0, atol=2e-4 * max(np.abs(ref.velocity).max(), 1e-3))
    np.testing.assert_allclose(got.curve[METRICS[2:]], ref.curve[METRICS[2:]], rtol=1e-4, atol=1e-5)
    stated = sgd.train(ARCH, Xtr, ytr, Xte, yte, _config(batch_size=7, l2=0.5, steps=200))
    assert np.abs(stated.parameters - ref.parameters).max() > 1e-2 * scale


def test_own_epoch_batches_visit_every_example_once_per_epoch():
    """batch_sampling = epoch_shuffle on the JAX trainer's own draws: with B dividing N, each
    epoch's steps take every example exactly once, in a different order each epoch; with B not
    dividing N, N consecutive draws from the start still take every example once."""
    c = _config(batch_size=8, steps=20, batch_sampling="epoch_shuffle")
    key = sgd_jax.epoch_key(0)
    for b in (8, 7):
        rows = [np.asarray(sgd_jax.epoch_batch_indices(t, key, 40, b)) for t in range(1, 41)]
        stream = np.concatenate(rows)
        for e in range(3):
            assert sorted(stream[40 * e : 40 * (e + 1)]) == list(range(40)), (b, e)
        assert not np.array_equal(stream[:40], stream[40:80])
    # the trainer draws those batches: its run equals the run on them given explicitly
    X, y = _data(40, seed=7)
    own = sgd_jax.train(ARCH, X, y, X, y, c)
    given = np.stack([np.asarray(sgd_jax.epoch_batch_indices(t, key, 40, 8)) for t in range(1, 21)])
    replay = sgd_jax.train(ARCH, X, y, X, y, c, batches=given)
    np.testing.assert_array_equal(own.parameters, replay.parameters)


def test_a_different_batch_order_is_noticed():
    """The comparison above can fail: shifting the batches by one step moves the trajectory."""
    X, y = _data(40, seed=2)
    c = _config(batch_size=5)
    ref = sgd.train(ARCH, X, y, X, y, c)
    shifted = np.roll(numpy_batches(c, 40), 1, axis=0)
    got = sgd_jax.train(ARCH, X, y, X, y, c, batches=shifted)
    assert np.abs(got.parameters - ref.parameters).max() > 1e-2 * np.abs(ref.parameters).max()


def test_own_batches_are_seeded_uniform_and_learn():
    X, y = _data(60, seed=3)
    c = _config(batch_size=5, steps=400)
    a = sgd_jax.train(ARCH, X[:40], y[:40], X[40:], y[40:], c)
    b = sgd_jax.train(ARCH, X[:40], y[:40], X[40:], y[40:], c)
    other = sgd_jax.train(ARCH, X[:40], y[:40], X[40:], y[40:], _config(batch_size=5, steps=400, seed=1))
    np.testing.assert_array_equal(a.parameters, b.parameters)
    assert not np.array_equal(a.parameters, other.parameters)
    assert a.curve["train_cross_entropy"].iloc[-1] < 0.5 * a.curve["train_cross_entropy"].iloc[0]
    # step t's batch: B distinct indices, every index equally likely over many steps
    key = sgd_jax.batch_key(0)
    draw = jax.vmap(lambda t: jax.random.choice(jax.random.fold_in(key, t), 40, (5,), replace=False))
    draws = np.asarray(draw(np.arange(1, 801)))
    assert all(len(set(row)) == 5 for row in draws)
    counts = np.bincount(draws.ravel(), minlength=40)
    from scipy import stats

    assert stats.chisquare(counts).pvalue > 1e-3


def test_divergence_and_resume_like_the_numpy_trainer(tmp_path):
    X, y = _data(40, seed=4)
    wild = sgd_jax.train(ARCH, X, y, X, y, _config(learning_rate=1e25, steps=200))
    assert (wild.curve["status"] == "diverged").all()
    d = wild.curve["diverged_step"].iloc[0]
    assert wild.curve["step"].iloc[-1] == d >= 1 and math.isnan(wild.curve["test_accuracy"].iloc[-1])
    # a checkpointed, interrupted and resumed run equals the uninterrupted one exactly
    c = _config(steps=300)
    ref = sgd_jax.train(ARCH, X, y, X, y, c)
    fp = sgd.run_fingerprint(ARCH, c, X, y, X, y, backend="jax", backend_modules=(sgd_jax,))

    class Stop(Exception):
        pass

    class StopAfterThird(Checkpoint):
        def save(self, state):
            super().save(state)
            if self.saves == 3:
                raise Stop

    with pytest.raises(Stop):
        sgd_jax.train(ARCH, X, y, X, y, c, checkpoint=StopAfterThird(tmp_path / "c.npz", fp, 0.0))
    again = Checkpoint(tmp_path / "c.npz", fp, math.inf)
    resumed = sgd_jax.train(ARCH, X, y, X, y, c, checkpoint=again)
    assert again.resumed_step is not None and 0 < again.resumed_step < 300
    cols = [k for k in ref.curve.columns if k != "seconds"]
    assert ref.curve[cols].equals(resumed.curve[cols])
    np.testing.assert_array_equal(ref.parameters, resumed.parameters)
    assert fp != sgd.run_fingerprint(ARCH, c, X, y, X, y)  # the backend is part of the identity


def test_vmapped_seeds_equal_the_runs_trained_one_by_one():
    X, y = _data(60, seed=5)
    configs = [_config(batch_size=5, steps=200, seed=s) for s in (0, 1, 2)]
    configs.append(_config(batch_size=5, steps=200, seed=3, learning_rate=0.1))
    with pytest.raises(ValueError, match="seed only"):
        sgd_jax.train_seeds(ARCH, X[:40], y[:40], X[40:], y[40:], configs)
    configs = configs[:3]
    together = sgd_jax.train_seeds(ARCH, X[:40], y[:40], X[40:], y[40:], configs)
    for c, got in zip(configs, together):
        alone = sgd_jax.train(ARCH, X[:40], y[:40], X[40:], y[40:], c)
        assert list(got.curve.columns) == list(alone.curve.columns)
        np.testing.assert_array_equal(got.curve["step"], alone.curve["step"])
        assert (got.curve["seed"] == c.seed).all()
        np.testing.assert_allclose(got.parameters, alone.parameters, rtol=0, atol=1e-5 * np.abs(alone.parameters).max())
        np.testing.assert_allclose(got.curve[METRICS[2:]], alone.curve[METRICS[2:]], rtol=1e-5)
    assert not np.array_equal(together[0].parameters, together[1].parameters)
    # a diverging run is frozen at its divergence, the others are unaffected
    wild = [_config(learning_rate=1e25, steps=100, seed=0), _config(learning_rate=1e25, steps=100, seed=1)]
    for c, got in zip(wild, sgd_jax.train_seeds(ARCH, X, y, X, y, wild)):
        alone = sgd_jax.train(ARCH, X, y, X, y, c)
        assert (got.curve["status"] == "diverged").all()
        assert got.curve["diverged_step"].iloc[0] == alone.curve["diverged_step"].iloc[0]
