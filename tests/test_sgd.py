"""The SGD trainer: update rule, batch sampling, evaluation schedule, seeding and divergence."""

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayes_sgd import mlp
from bayes_sgd import minibatch_gradients
from bayes_sgd.training import sgd
from bayes_sgd.training import threads
from bayes_sgd.training import run_tables
from bayes_sgd.training import batches

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


def test_every_momentum_form_is_plain_sgd_without_momentum():
    """At m = 0 the three momentum forms train bit-identical networks, which is why
    bayes_sgd.variants.run_protocol shares such runs between protocols (and at m = 0.5 they
    differ, so the comparison can fail)."""
    X, y = _data(40, seed=3)
    def final(form, momentum):
        c = _config(momentum=momentum, momentum_form=form, l2=1.0, steps=30)
        r = sgd.train(SMALL, X, y, X, y, c)
        return r.parameters, r.curve
    for momentum, same in ((0.0, True), (0.5, False)):
        w0, curve0 = final("heavy_ball", momentum)
        for form in ("dampened", "nesterov"):
            w, curve = final(form, momentum)
            assert np.array_equal(w, w0) == same, (form, momentum)
            if same:
                timing = ["seconds"]  # wall-clock time, the one column that may differ
                pd.testing.assert_frame_equal(curve.drop(columns=timing), curve0.drop(columns=timing))


def test_weights_table_holds_the_flat_state_as_float32():
    w = np.array([1.0, -2.5, np.nan, np.inf])
    v = np.array([0.5, 0.0, 1.0, -np.inf])
    table = run_tables.weights_table(w, v)
    assert list(table.columns) == list(run_tables.WEIGHT_COLUMNS)
    assert (table.dtypes == np.float32).all()
    np.testing.assert_array_equal(table["parameter"], w.astype(np.float32))
    np.testing.assert_array_equal(table["velocity"], v.astype(np.float32))
    with pytest.raises(ValueError):
        run_tables.weights_table(w, v[:3])


# --- batch sampling ----------------------------------------------------------------------------


@pytest.mark.parametrize("n,b", [(10, 1), (10, 7), (1000, 30), (60000, 10), (60000, 5000)])
def test_sample_batch_draws_distinct_indices_in_range(n, b):
    rng = np.random.default_rng(0)
    for _ in range(20):
        idx = batches.sample_batch(rng, n, b)
        assert idx.shape == (b,)
        assert len(np.unique(idx)) == b
        assert idx.min() >= 0 and idx.max() < n


def test_sample_batch_full_batch_and_bad_sizes():
    np.testing.assert_array_equal(batches.sample_batch(np.random.default_rng(0), 5, 5), np.arange(5))
    with pytest.raises(ValueError):
        batches.sample_batch(np.random.default_rng(0), 5, 6)
    with pytest.raises(ValueError):
        batches.sample_batch(np.random.default_rng(0), 5, 0)


def subset_uniformity_pvalue(sampler, n, b, seed=123, per_subset=300):
    """Chi-square p-value of the frequencies of the ``b``-subsets ``sampler(rng, n, b)`` draws
    against the uniform distribution over all of them."""
    rng = np.random.default_rng(seed)
    subsets = {s: 0 for s in itertools.combinations(range(n), b)}
    for _ in range(per_subset * len(subsets)):
        subsets[tuple(sorted(sampler(rng, n, b).tolist()))] += 1
    return stats.chisquare(np.array(list(subsets.values()))).pvalue


@pytest.mark.parametrize("n,b", [(6, 3), (7, 2)])
def test_every_subset_is_equally_likely(n, b):
    assert subset_uniformity_pvalue(batches.sample_batch, n, b) > 1e-3


def test_inclusion_is_uniform_for_a_large_population():
    rng = np.random.default_rng(9)
    n, b = 20000, 30
    counts = np.bincount(np.concatenate([batches.sample_batch(rng, n, b) for _ in range(4000)]), minlength=n)
    # each index is included with probability b/n per draw; bin the counts by index decile
    deciles = counts.reshape(10, -1).sum(axis=1)
    assert stats.chisquare(deciles).pvalue > 1e-3


def test_the_subset_test_rejects_sample_batch_with_one_subset_redirected():
    """The uniformity test above can fail: the project's sampler, with every draw of {0, 1}
    turned into {2, 3}, is rejected."""

    def biased(rng, n, b):
        batch = batches.sample_batch(rng, n, b)
        return np.array([2, 3]) if sorted(batch.tolist()) == [0, 1] else batch

    assert subset_uniformity_pvalue(biased, 4, 2, per_subset=1000) < 1e-6


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
    assert list(curve.columns) == list(run_tables.CURVE_COLUMNS + run_tables.CONFIG_COLUMNS)
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
    g = minibatch_gradients.per_example_output_gradients(SMALL, w, X, y, hidden_unit=4, output_class=2)
    for i in range(5):
        _, full = mlp.loss_and_gradient(SMALL, w, X[i : i + 1], y[i : i + 1])
        assert g[i] == pytest.approx(SMALL.unpack(full).W2[4, 2], rel=1e-10, abs=1e-15)


def test_batch_means_are_nearly_normal_and_single_examples_are_not():
    rng = np.random.default_rng(18)
    single = rng.exponential(size=1000) * (rng.random(1000) < 0.5)  # skewed, spike at zero
    batch = minibatch_gradients.batch_mean_gradients(single, 30, 3000, rng)
    s1 = minibatch_gradients.normality_statistics(single)
    s30 = minibatch_gradients.normality_statistics(batch)
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
    samples, summary = minibatch_gradients.gradient_noise_samples(
        SMALL, w, X, y, batch_size=30, n_batches=500, rng=np.random.default_rng(21)
    )
    assert (samples["sample"] == "single").sum() == 200
    assert (samples["sample"] == "batch").sum() == 500
    assert list(summary["sample"]) == ["single", "batch"]
    unit = minibatch_gradients.most_active_hidden_unit(SMALL, w, X)
    assert (summary["hidden_unit"] == unit).all()


# --- threads of a training job -----------------------------------------------------------------


def test_threads_follow_the_batch_size():
    assert [threads.training_threads(b, 8) for b in (1, 30, 999, 1000, 1999, 2000, 5000, 50000)] == [1, 1, 1, 1, 1, 2, 5, 8]
    assert threads.training_threads(50000, 4) == 4 and threads.training_threads(50000, 1) == 1
    assert threads.training_threads(600, 8, examples_per_thread=200) == 3
    with pytest.raises(ValueError):
        threads.training_threads(0, 8)


# --- subnormal momentum ------------------------------------------------------------------------


def test_subnormal_flush_zeroes_exactly_the_subnormal_entries():
    tiny = np.finfo(np.float32).tiny
    v = np.array([1.0, -2e-3, tiny, -tiny, tiny / 2, -tiny / 8, 1e-45, 0.0, np.inf, np.nan], dtype=np.float32)
    expected = v.copy()
    expected[4:7] = 0.0
    sgd.SubnormalFlush(v)(v)
    np.testing.assert_array_equal(v, expected)


def test_flushing_subnormal_momentum_changes_neither_the_curve_nor_the_weights():
    """A run that dies at eps = 1 leaves subnormal momentum behind; flushing it (the default, every
    sgd.FLUSH_EVERY steps) gives the same curve and weights as never flushing."""
    from bayes_sgd.data import datasets

    images, labels = datasets.read_mnist5k(datasets.mnist5k_path())
    pick = np.concatenate([np.nonzero(labels == k)[0][:30] for k in range(10)])
    pick = pick[np.random.default_rng(0).permutation(len(pick))]
    X, y = mlp.scale_pixels(images[pick]), labels[pick]
    arch = mlp.Architecture(784, 800, 10)
    config = sgd.TrainingConfig(learning_rate=1.0, momentum=0.9, batch_size=30, steps=20 * sgd.FLUSH_EVERY, seed=0)
    flushed = sgd.train(arch, X[:200], y[:200], X[200:], y[200:], config)
    kept = sgd.train(arch, X[:200], y[:200], X[200:], y[200:], config, flush_every=0)
    tiny = np.finfo(np.float32).tiny
    subnormal = lambda v: int(((v != 0) & (np.abs(v) < tiny)).sum())  # noqa: E731
    assert subnormal(kept.velocity) > 0  # the case the flush is for
    assert subnormal(flushed.velocity) == 0  # the last step is a flush step
    np.testing.assert_array_equal(flushed.parameters, kept.parameters)
    metrics = [c for c in flushed.curve.columns if c != "seconds"]
    pd.testing.assert_frame_equal(flushed.curve[metrics], kept.curve[metrics])
