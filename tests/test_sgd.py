"""The SGD trainer: update rule, batch sampling, evaluation schedule, seeding and divergence."""

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from bayes_sgd import gradient_noise, mlp, sgd

SMALL = mlp.Architecture(n_inputs=12, n_hidden=16, n_classes=3)


def _data(n, seed=0, arch=SMALL):
    rng = np.random.default_rng(seed)
    X = rng.random((n, arch.n_inputs)).astype(np.float32)
    y = rng.integers(0, arch.n_classes, size=n)
    return X, y


def _config(**kw):
    base = dict(learning_rate=0.1, momentum=0.9, batch_size=4, steps=50, seed=0, eval_points=8)
    base.update(kw)
    return sgd.TrainingConfig(**base)


# --- the update rule ---------------------------------------------------------------------------


def test_two_momentum_steps_with_l2_match_a_hand_computed_update():
    X, y = _data(8, seed=1)
    X = X.astype(np.float64)
    eps, m, l2, n = 0.3, 0.9, 0.5, 40  # n: training-set size in the (l2/N) w convention
    w = mlp.initialise(SMALL, np.random.default_rng(2), dtype=np.float64)
    w0 = w.copy()
    v = np.zeros_like(w)
    ws = mlp.GradientWorkspace(SMALL, 8, dtype=np.float64)
    ws.load(X, y)

    loss1 = sgd.sgd_step(ws, w, v, eps, m, l2 / n)
    loss0_ref, g0 = mlp.loss_and_gradient(SMALL, w0, X, y)
    v1 = m * 0.0 + g0 + (l2 / n) * w0
    w1 = w0 - eps * v1
    assert loss1 == pytest.approx(loss0_ref, rel=1e-12)
    np.testing.assert_allclose(v, v1, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(w, w1, rtol=1e-12, atol=1e-15)

    sgd.sgd_step(ws, w, v, eps, m, l2 / n)
    _, g1 = mlp.loss_and_gradient(SMALL, w1, X, y)
    v2 = m * v1 + g1 + (l2 / n) * w1
    w2 = w1 - eps * v2
    np.testing.assert_allclose(v, v2, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(w, w2, rtol=1e-12, atol=1e-15)


def test_float32_step_matches_float64_step():
    X, y = _data(8, seed=3)
    w64 = mlp.initialise(SMALL, np.random.default_rng(4), dtype=np.float64)
    w32 = w64.astype(np.float32)
    v64, v32 = np.zeros_like(w64), np.zeros_like(w32)
    ws64 = mlp.GradientWorkspace(SMALL, 8, dtype=np.float64)
    ws32 = mlp.GradientWorkspace(SMALL, 8, dtype=np.float32)
    ws64.load(X.astype(np.float64), y)
    ws32.load(X, y)
    for _ in range(3):
        sgd.sgd_step(ws64, w64, v64, 0.5, 0.9, 0.01)
        sgd.sgd_step(ws32, w32, v32, 0.5, 0.9, 0.01)
    assert v32.dtype == np.float32 and w32.dtype == np.float32
    np.testing.assert_allclose(w32, w64, rtol=1e-4, atol=1e-5)


def test_trainer_applies_the_rule_it_documents():
    """train() with B = N is plain full-batch momentum SGD: replay it by hand."""
    X, y = _data(10, seed=5)
    c = _config(batch_size=10, steps=3, learning_rate=0.2, momentum=0.5, l2=2.0, eval_points=3)
    result = sgd.train(SMALL, X, y, X, y, c, dtype=np.float64)
    curve = result.curve
    w = sgd.initial_parameters(SMALL, c, dtype=np.float64)
    v = np.zeros_like(w)
    X64 = X.astype(np.float64)
    for _ in range(3):
        _, g = mlp.loss_and_gradient(SMALL, w, X64, y)
        v = 0.5 * v + g + (2.0 / 10) * w
        w = w - 0.2 * v
    acc, ce = mlp.evaluate(SMALL, w, X64, y)
    last = curve.iloc[-1]
    assert last["step"] == 3
    assert last["train_cross_entropy"] == pytest.approx(ce, rel=1e-10)
    assert last["train_accuracy"] == pytest.approx(acc)
    # the final state is the replayed one
    np.testing.assert_allclose(result.parameters, w, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(result.velocity, v, rtol=1e-12, atol=1e-14)


def test_weights_table_holds_the_flat_state_as_float32():
    w = np.array([1.0, -2.5, np.nan, np.inf])
    v = np.array([0.5, 0.0, 1.0, -np.inf])
    table = sgd.weights_table(w, v)
    assert list(table.columns) == list(sgd.WEIGHT_COLUMNS)
    assert (table.dtypes == np.float32).all()
    np.testing.assert_array_equal(table["parameter"], w.astype(np.float32))
    np.testing.assert_array_equal(table["velocity"], v.astype(np.float32))
    with pytest.raises(ValueError):
        sgd.weights_table(w, v[:3])


# --- batch sampling ----------------------------------------------------------------------------


@pytest.mark.parametrize("n,b", [(10, 1), (10, 7), (1000, 30), (60000, 10), (60000, 5000)])
def test_sample_batch_draws_distinct_indices_in_range(n, b):
    rng = np.random.default_rng(0)
    for _ in range(20):
        idx = sgd.sample_batch(rng, n, b)
        assert idx.shape == (b,)
        assert len(np.unique(idx)) == b
        assert idx.min() >= 0 and idx.max() < n


def test_sample_batch_full_batch_and_bad_sizes():
    np.testing.assert_array_equal(sgd.sample_batch(np.random.default_rng(0), 5, 5), np.arange(5))
    with pytest.raises(ValueError):
        sgd.sample_batch(np.random.default_rng(0), 5, 6)
    with pytest.raises(ValueError):
        sgd.sample_batch(np.random.default_rng(0), 5, 0)


@pytest.mark.parametrize("n,b", [(6, 3), (7, 2)])
def test_every_subset_is_equally_likely(n, b):
    """Chi-square test of the subset frequencies against the uniform distribution."""
    rng = np.random.default_rng(123)
    subsets = {s: 0 for s in itertools.combinations(range(n), b)}
    draws = 300 * len(subsets)
    for _ in range(draws):
        subsets[tuple(sorted(sgd.sample_batch(rng, n, b).tolist()))] += 1
    counts = np.array(list(subsets.values()))
    assert stats.chisquare(counts).pvalue > 1e-3


def test_inclusion_is_uniform_for_a_large_population():
    rng = np.random.default_rng(9)
    n, b = 20000, 30
    counts = np.bincount(np.concatenate([sgd.sample_batch(rng, n, b) for _ in range(4000)]), minlength=n)
    # each index is included with probability b/n per draw; bin the counts by index decile
    deciles = counts.reshape(10, -1).sum(axis=1)
    assert stats.chisquare(deciles).pvalue > 1e-3


def test_sampler_is_not_trivially_uniform_for_a_biased_sampler():
    """The subset test can fail: it rejects a sampler that never draws index 0 and 1 together."""
    rng = np.random.default_rng(1)
    counts = {s: 0 for s in itertools.combinations(range(4), 2)}
    for _ in range(6000):
        s = tuple(sorted(rng.choice(4, 2, replace=False).tolist()))
        if s == (0, 1):
            s = (2, 3)
        counts[s] += 1
    assert stats.chisquare(list(counts.values())).pvalue < 1e-6


# --- evaluation schedule, curves, seeding ------------------------------------------------------


def test_evaluation_steps_are_log_spaced_with_ends():
    s = sgd.evaluation_steps(10000, 25)
    assert s[0] == 0 and s[-1] == 10000 and s[1] == 1
    assert np.all(np.diff(s) > 0)
    assert len(s) <= 27
    ratios = s[2:] / s[1:-1]
    assert ratios.max() <= 2.0  # roughly geometric, no big holes
    np.testing.assert_array_equal(sgd.evaluation_steps(3, 25), [0, 1, 2, 3])


def test_curve_has_the_contract_columns_and_schedule():
    X, y = _data(40, seed=6)
    c = _config(steps=40, eval_points=6)
    curve = sgd.train(SMALL, X, y, X[:10], y[:10], c).curve
    assert list(curve.columns) == list(sgd.CURVE_COLUMNS + sgd.CONFIG_COLUMNS)
    np.testing.assert_array_equal(curve["step"], sgd.evaluation_steps(40, 6))
    np.testing.assert_allclose(curve["epoch"], curve["step"] * 4 / 40)
    assert (curve["status"] == "ok").all() and (curve["diverged_step"] == -1).all()
    assert (curve["n_train"] == 40).all() and (curve["batch_size"] == 4).all()
    assert curve["seconds"].is_monotonic_increasing
    assert curve[["train_accuracy", "test_accuracy", "train_cross_entropy"]].notna().all().all()


def test_same_seed_gives_an_identical_curve_and_another_seed_does_not():
    X, y = _data(50, seed=7)
    metrics = ["train_accuracy", "test_accuracy", "train_cross_entropy", "test_cross_entropy"]
    a = sgd.train(SMALL, X, y, X[:20], y[:20], _config(seed=3)).curve
    b = sgd.train(SMALL, X, y, X[:20], y[:20], _config(seed=3)).curve
    other = sgd.train(SMALL, X, y, X[:20], y[:20], _config(seed=4)).curve
    np.testing.assert_array_equal(a[metrics].to_numpy(), b[metrics].to_numpy())
    assert not np.array_equal(a[metrics].to_numpy(), other[metrics].to_numpy())


def test_training_learns_a_separable_problem():
    rng = np.random.default_rng(10)
    centres = rng.random((3, SMALL.n_inputs)) * 2
    y = rng.integers(0, 3, size=300)
    X = (centres[y] + 0.1 * rng.normal(size=(300, SMALL.n_inputs))).astype(np.float32)
    curve = sgd.train(SMALL, X[:200], y[:200], X[200:], y[200:], _config(steps=300, batch_size=10)).curve
    assert curve["test_accuracy"].iloc[-1] > 0.95
    assert curve["train_cross_entropy"].iloc[-1] < 0.5 * curve["train_cross_entropy"].iloc[0]


def test_progress_is_reported():
    X, y = _data(20, seed=11)
    seen = []
    sgd.train(SMALL, X, y, X, y, _config(steps=100), progress=seen.append, progress_fraction=0.1)
    assert [p.step for p in seen] == list(range(10, 101, 10))
    assert all(p.steps == 100 and p.steps_per_second > 0 for p in seen)
    assert seen[-1].eta_seconds == 0


# --- divergence --------------------------------------------------------------------------------


def test_divergence_stops_the_run_and_is_recorded():
    X, y = _data(30, seed=12)
    curve = sgd.train(SMALL, X, y, X, y, _config(learning_rate=1e25, steps=1000)).curve
    assert (curve["status"] == "diverged").all()
    step = curve["diverged_step"].iloc[0]
    assert 1 <= step < 1000
    last = curve.iloc[-1]
    assert last["step"] == step
    assert math.isnan(last["test_accuracy"]) and math.isnan(last["train_cross_entropy"])
    assert curve.iloc[:-1][["train_accuracy", "test_accuracy"]].notna().all().all()


def test_non_finite_data_diverges_at_step_zero():
    X, y = _data(30, seed=13)
    X[3, 2] = np.nan
    curve = sgd.train(SMALL, X, y, X, y, _config()).curve
    assert len(curve) == 1
    assert curve["status"].iloc[0] == "diverged" and curve["diverged_step"].iloc[0] == 0


def test_a_non_finite_batch_loss_is_caught_between_evaluations(monkeypatch):
    """With no evaluation after step 0, the per-step loss check alone must stop the run."""
    X, y = _data(30, seed=14)
    monkeypatch.setattr(sgd, "evaluation_steps", lambda steps, n_points: np.array([0, steps]))
    curve = sgd.train(SMALL, X, y, X, y, _config(learning_rate=1e25, steps=1000)).curve
    assert list(curve["step"]) == [0, 2]  # step 1 overflowed the weights, step 2's loss shows it
    assert (curve["status"] == "diverged").all() and (curve["diverged_step"] == 2).all()
    assert curve.iloc[-1][["train_accuracy", "test_cross_entropy"]].isna().all()


def test_bad_configurations_are_rejected():
    with pytest.raises(ValueError):
        _config(momentum=1.0)
    with pytest.raises(ValueError):
        _config(batch_size=0)
    X, y = _data(3)
    with pytest.raises(ValueError, match="batch_size"):
        sgd.train(SMALL, X, y, X, y, _config(batch_size=4))


# --- gradient noise (Figure 9) -----------------------------------------------------------------


def test_per_example_output_gradient_matches_the_full_gradient():
    X, y = _data(5, seed=16)
    X = X.astype(np.float64)
    w = mlp.initialise(SMALL, np.random.default_rng(17), dtype=np.float64)
    g = gradient_noise.per_example_output_gradients(SMALL, w, X, y, hidden_unit=4, output_class=2)
    for i in range(5):
        _, full = mlp.loss_and_gradient(SMALL, w, X[i : i + 1], y[i : i + 1])
        assert g[i] == pytest.approx(SMALL.unpack(full).W2[4, 2], rel=1e-10, abs=1e-15)


def test_batch_means_are_nearly_normal_and_single_examples_are_not():
    rng = np.random.default_rng(18)
    single = rng.exponential(size=1000) * (rng.random(1000) < 0.5)  # skewed, spike at zero
    batch = gradient_noise.batch_mean_gradients(single, 30, 3000, rng)
    s1 = gradient_noise.normality_statistics(single)
    s30 = gradient_noise.normality_statistics(batch)
    assert s30["shapiro_w"] > s1["shapiro_w"]
    assert s30["ks_distance"] < s1["ks_distance"]
    assert abs(s30["skewness"]) < abs(s1["skewness"])
    # the batch mean is unbiased and its spread shrinks like 1/sqrt(B) (finite-population corrected)
    assert s30["mean"] == pytest.approx(single.mean(), abs=3 * s30["std"] / math.sqrt(3000))
    fpc = math.sqrt((1000 - 30) / (1000 - 1))
    assert s30["std"] == pytest.approx(single.std() / math.sqrt(30) * fpc, rel=0.05)


def test_gradient_noise_tables():
    X, y = _data(200, seed=19)
    w = mlp.initialise(SMALL, np.random.default_rng(20))
    samples, summary = gradient_noise.gradient_noise_samples(
        SMALL, w, X, y, batch_size=30, n_batches=500, rng=np.random.default_rng(21)
    )
    assert (samples["sample"] == "single").sum() == 200
    assert (samples["sample"] == "batch").sum() == 500
    assert list(summary["sample"]) == ["single", "batch"]
    unit = gradient_noise.most_active_hidden_unit(SMALL, w, X)
    assert (summary["hidden_unit"] == unit).all()
