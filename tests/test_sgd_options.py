"""Protocol options the paper leaves open: each against an independent computation.

Loss normalisation, momentum form, initialisation scheme and scale, epoch-wise batch sampling,
input range and test set; their validation; and the JAX backend's refusal of what it lacks.
"""

from __future__ import annotations

import itertools
import math

from dataclasses import asdict

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayes_sgd import mlp
from bayes_sgd.training import sgd
from bayes_sgd.training import run_tables
from bayes_sgd.training import batches
from bayes_sgd.data import inputs
from bayes_sgd.data import datasets
from bayes_sgd.training.checkpoint import Checkpoint
from test_checkpoint import KillAfterSave, Killed

ARCH = mlp.Architecture(n_inputs=20, n_hidden=8, n_classes=10)
# every curve column but the wall-clock time must be bit-identical across a resume
EXACT = [c for c in run_tables.CURVE_COLUMNS + run_tables.CONFIG_COLUMNS if c != "seconds"]


def _data(n, seed=0, arch=ARCH, dtype=np.float32):
    rng = np.random.default_rng(seed)
    X = rng.random((n, arch.n_inputs)).astype(dtype)
    y = rng.integers(0, arch.n_classes, size=n)
    return X, y


def _config(**kw):
    base = dict(learning_rate=0.1, momentum=0.9, batch_size=4, steps=20, seed=0, eval_points=4)
    return sgd.TrainingConfig(**{**base, **kw})


def _weights_with_biases(seed=1, dtype=np.float64):
    """Initial weights with non-zero biases, so that every parameter has a gradient."""
    rng = np.random.default_rng(seed)
    w = mlp.initialise(ARCH, rng, dtype=dtype)
    p = ARCH.unpack(w)
    p.b1[...] = rng.normal(0.0, 0.3, size=p.b1.shape)
    p.b2[...] = rng.normal(0.0, 0.3, size=p.b2.shape)
    return w


# --- loss normalisation ------------------------------------------------------------------------


def test_class_mean_loss_and_gradient_are_the_stated_ones_over_n_classes():
    X, y = _data(6, seed=2, dtype=np.float64)
    w = _weights_with_biases()
    stated = mlp.GradientWorkspace(ARCH, 6, dtype=np.float64)
    class_mean = mlp.GradientWorkspace(ARCH, 6, dtype=np.float64, normalisation="batch_and_classes")
    g_stated, g_class = np.empty_like(w), np.empty_like(w)
    for ws in (stated, class_mean):
        ws.load(X, y)
    loss_stated = stated.gradient(w, g_stated)
    loss_class = class_mean.gradient(w, g_class)
    # independently: reduce_mean over the B x C matrix of -onehot * ln p
    _, z = mlp.forward(ARCH, w, X)
    per_class = -np.eye(ARCH.n_classes)[y] * mlp.log_softmax(z)
    assert loss_class == pytest.approx(per_class.mean(), rel=1e-12)
    assert loss_stated == pytest.approx(per_class.sum(axis=1).mean(), rel=1e-12)
    np.testing.assert_allclose(g_class, g_stated / ARCH.n_classes, rtol=1e-12, atol=1e-16)
    assert np.abs(g_stated).max() > 1e-3  # a real gradient, not zeros
    loss_fn, g_fn = mlp.loss_and_gradient(ARCH, w, X, y, normalisation="batch_and_classes")
    assert loss_fn == loss_class
    np.testing.assert_array_equal(g_fn, g_class)


def test_one_class_mean_step_is_a_stated_step_at_a_tenth_of_the_learning_rate():
    X, y = _data(12, seed=3)
    eps = 0.7
    step = dict(batch_size=12, steps=1, eval_points=1)  # full batch: no sampling
    class_mean = sgd.train(ARCH, X, y, X, y, _config(learning_rate=eps, loss_normalisation="batch_and_classes", **step),
                           dtype=np.float64)
    stated = sgd.train(ARCH, X, y, X, y, _config(learning_rate=eps / 10, **step), dtype=np.float64)
    start = sgd.initial_parameters(ARCH, _config(), dtype=np.float64)
    assert np.abs(stated.parameters - start).max() > 1e-4  # the step moved the weights
    np.testing.assert_allclose(class_mean.parameters, stated.parameters, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(10 * class_mean.velocity, stated.velocity, rtol=1e-12, atol=1e-15)
    # the curve still records the per-example mean cross-entropy, whatever the normalisation
    assert class_mean.curve["train_cross_entropy"].iloc[0] == stated.curve["train_cross_entropy"].iloc[0]


def test_the_l2_term_is_not_divided_by_the_classes():
    X, y = _data(12, seed=4)
    c = _config(batch_size=12, steps=1, eval_points=1, learning_rate=0.5, momentum=0.0, l2=3.0,
                loss_normalisation="batch_and_classes")
    got = sgd.train(ARCH, X, y, X, y, c, dtype=np.float64)
    w0 = sgd.initial_parameters(ARCH, c, dtype=np.float64)
    _, g = mlp.loss_and_gradient(ARCH, w0, X.astype(np.float64), y)
    np.testing.assert_allclose(got.parameters, w0 - 0.5 * (g / 10 + (3.0 / 12) * w0), rtol=1e-12, atol=1e-15)


# --- momentum forms ----------------------------------------------------------------------------


def momentum_recurrence(form, w, X, y, eps, m, l2_over_n, steps):
    """The documented recurrences, written out with fresh arrays from ``mlp.loss_and_gradient``."""
    v = np.zeros_like(w)
    for _ in range(steps):
        _, grad = mlp.loss_and_gradient(ARCH, w, X, y)
        g = grad + l2_over_n * w
        if form == "heavy_ball":
            v = m * v + g
            w = w - eps * v
        elif form == "dampened":
            v = m * v + (1 - m) * g
            w = w - eps * v
        else:  # nesterov
            v = m * v + g
            w = w - eps * (g + m * v)
    return w, v


@pytest.mark.parametrize("l2", [0.0, 2.0])
@pytest.mark.parametrize("form", sgd.MOMENTUM_FORMS)
def test_each_momentum_form_follows_its_recurrence(form, l2):
    n, steps, eps, m = 10, 5, 0.3, 0.8
    X, y = _data(n, seed=5)
    c = _config(batch_size=n, steps=steps, learning_rate=eps, momentum=m, l2=l2, momentum_form=form)
    got = sgd.train(ARCH, X, y, X, y, c, dtype=np.float64)
    w0 = sgd.initial_parameters(ARCH, c, dtype=np.float64)
    w, v = momentum_recurrence(form, w0, X.astype(np.float64), y, eps, m, l2 / n, steps)
    np.testing.assert_allclose(got.parameters, w, rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(got.velocity, v, rtol=1e-11, atol=1e-14)
    # the other forms' recurrences give other weights: the comparison can fail
    for other in set(sgd.MOMENTUM_FORMS) - {form}:
        w_other, _ = momentum_recurrence(other, w0, X.astype(np.float64), y, eps, m, l2 / n, steps)
        assert np.abs(w_other - w).max() > 1e-3 * np.abs(w - w0).max()


@pytest.mark.parametrize("form", sgd.MOMENTUM_FORMS)
def test_sgd_step_without_scratch_buffer_equals_the_trainer_step(form):
    X, y = _data(8, seed=6, dtype=np.float64)
    ws = mlp.GradientWorkspace(ARCH, 8, dtype=np.float64)
    ws.load(X, y)
    w = _weights_with_biases(seed=7)
    a_w, a_v = w.copy(), np.full_like(w, 0.01)
    b_w, b_v = w.copy(), np.full_like(w, 0.01)
    scratch = np.empty_like(w)
    for _ in range(3):
        la = sgd.sgd_step(ws, a_w, a_v, 0.2, 0.9, 0.05, form)
        lb = sgd.sgd_step(ws, b_w, b_v, 0.2, 0.9, 0.05, form, scratch)
        assert la == lb
    np.testing.assert_array_equal(a_w, b_w)
    np.testing.assert_array_equal(a_v, b_v)
    with pytest.raises(ValueError, match="momentum_form"):
        sgd.sgd_step(ws, a_w, a_v, 0.2, 0.9, 0.0, "adam")


def test_float32_forms_match_float64():
    X, y = _data(10, seed=8)
    for form in ("dampened", "nesterov"):
        c = _config(batch_size=10, steps=5, momentum_form=form, l2=0.5)
        r32 = sgd.train(ARCH, X, y, X, y, c)
        r64 = sgd.train(ARCH, X, y, X, y, c, dtype=np.float64)
        assert r32.parameters.dtype == np.float32
        np.testing.assert_allclose(r32.parameters, r64.parameters, rtol=1e-4, atol=1e-5)


# --- epoch-wise reshuffling --------------------------------------------------------------------


def _stream(sampler, steps):
    return np.concatenate([sampler.batch(s) for s in range(1, steps + 1)])


@pytest.mark.parametrize("n,b", [(12, 3), (12, 12), (10, 3), (40, 7), (5, 1)])
def test_every_epoch_of_draws_visits_every_example_once(n, b):
    epochs = 4
    sampler = batches.EpochSampler(sgd.run_seeds(3)[1], n, b)
    steps = math.ceil(epochs * n / b)
    stream = _stream(sampler, steps)
    assert len(stream) == steps * b
    orders = stream[: epochs * n].reshape(epochs, n)
    for order in orders:
        np.testing.assert_array_equal(np.sort(order), np.arange(n))
    # the stream is the concatenation of the epochs' permutations
    np.testing.assert_array_equal(orders, np.stack([sampler.permutation(e) for e in range(epochs)]))
    if n > 3:
        assert len({tuple(o) for o in orders}) == epochs  # each epoch in its own order
    if n % b:  # a straddling batch: the end of one permutation, the start of the next
        s = n // b + 1
        head, tail = sampler.permutation(0)[(s - 1) * b :], sampler.permutation(1)[: s * b - n]
        np.testing.assert_array_equal(sampler.batch(s), np.concatenate([head, tail]))


def test_epoch_draws_are_a_function_of_seed_and_step():
    n, b, steps = 40, 7, 30
    seq = sgd.run_seeds(5)[1]
    straight = [batches.EpochSampler(seq, n, b).batch(s).copy() for s in range(1, steps + 1)]
    # a fresh sampler started in the middle, and one asked in reverse order, give the same batches
    middle = batches.EpochSampler(sgd.run_seeds(5)[1], n, b)
    for s in range(17, steps + 1):
        np.testing.assert_array_equal(middle.batch(s), straight[s - 1])
    backwards = batches.EpochSampler(seq, n, b)
    for s in range(steps, 0, -1):
        np.testing.assert_array_equal(backwards.batch(s), straight[s - 1])
    other = batches.EpochSampler(sgd.run_seeds(6)[1], n, b)
    assert not np.array_equal(other.batch(1), straight[0])
    # the permutation of epoch e is the e-th child of the batch seed sequence
    np.testing.assert_array_equal(
        batches.EpochSampler(seq, n, b).permutation(2), np.random.default_rng(seq.spawn(3)[2]).permutation(n)
    )
    with pytest.raises(ValueError):
        batches.EpochSampler(seq, n, b).batch(0)
    with pytest.raises(ValueError):
        batches.EpochSampler(seq, n, n + 1)


def test_epoch_orders_are_uniform_over_first_batches():
    """Across epochs, each 2-subset of 4 examples is equally likely as an epoch's first batch."""
    n, b, epochs = 4, 2, 3000
    sampler = batches.EpochSampler(sgd.run_seeds(0)[1], n, b)
    counts = {s: 0 for s in itertools.combinations(range(n), b)}
    for e in range(epochs):
        counts[tuple(sorted(sampler.batch(e * n // b + 1).tolist()))] += 1
    assert stats.chisquare(np.array(list(counts.values()))).pvalue > 1e-3


def test_trainer_takes_the_sampler_batches():
    n, b, steps = 12, 5, 9
    X, y = _data(n, seed=9)
    c = _config(batch_size=b, steps=steps, batch_sampling="epoch_shuffle", l2=0.5)
    got = sgd.train(ARCH, X, y, X, y, c, dtype=np.float64)
    w = sgd.initial_parameters(ARCH, c, dtype=np.float64)
    v = np.zeros_like(w)
    ws = mlp.GradientWorkspace(ARCH, b, dtype=np.float64)
    sampler = batches.EpochSampler(sgd.run_seeds(c.seed)[1], n, b)
    for s in range(1, steps + 1):
        ws.load(X.astype(np.float64), y, sampler.batch(s))
        sgd.sgd_step(ws, w, v, c.learning_rate, c.momentum, c.l2 / n)
    np.testing.assert_array_equal(got.parameters, w)
    np.testing.assert_array_equal(got.velocity, v)
    uniform = sgd.train(ARCH, X, y, X, y, _config(batch_size=b, steps=steps, l2=0.5), dtype=np.float64)
    assert not np.array_equal(uniform.parameters, got.parameters)


def test_full_batch_epoch_shuffle_is_the_full_batch_run():
    X, y = _data(10, seed=10)
    a = sgd.train(ARCH, X, y, X, y, _config(batch_size=10, batch_sampling="epoch_shuffle"))
    b = sgd.train(ARCH, X, y, X, y, _config(batch_size=10))
    np.testing.assert_array_equal(a.parameters, b.parameters)


@pytest.mark.parametrize(
    "options,kill_at",
    [
        (dict(batch_sampling="epoch_shuffle", batch_size=4), 13),  # B divides N; resumes mid-epoch
        (dict(batch_sampling="epoch_shuffle", batch_size=7), 6),  # B does not divide N
        (dict(momentum_form="nesterov", loss_normalisation="batch_and_classes", batch_sampling="epoch_shuffle"), 22),
        (dict(momentum_form="dampened", weight_init="pytorch_default", init_scale=0.5), 9),
    ],
)
def test_killed_and_resumed_run_with_options_is_bit_identical(tmp_path, options, kill_at):
    X, y = _data(40, seed=11)
    c = _config(steps=40, eval_points=6, l2=0.5, learning_rate=0.3, **options)

    def fp():
        return sgd.run_fingerprint(ARCH, c, X, y, X[:10], y[:10])

    reference = sgd.train(ARCH, X, y, X[:10], y[:10], c)
    path = tmp_path / "run.npz"
    with pytest.raises(Killed):
        sgd.train(ARCH, X, y, X[:10], y[:10], c, checkpoint=KillAfterSave(path, fp(), 0.0, kill_at=kill_at))
    again = Checkpoint(path, fp(), interval_seconds=math.inf)
    resumed = sgd.train(ARCH, X, y, X[:10], y[:10], c, checkpoint=again)
    assert again.resumed_step == kill_at
    pd.testing.assert_frame_equal(resumed.curve[EXACT], reference.curve[EXACT], check_exact=True)
    np.testing.assert_array_equal(resumed.parameters, reference.parameters)
    np.testing.assert_array_equal(resumed.velocity, reference.velocity)


def test_options_enter_the_provenance_and_the_fingerprint():
    X, y = _data(20, seed=12)
    record = asdict(_config())
    assert {k: record[k] for k in ("loss_normalisation", "momentum_form", "init_scale", "batch_sampling")} == {
        "loss_normalisation": "batch", "momentum_form": "heavy_ball", "init_scale": 1.0, "batch_sampling": "uniform"
    }
    variants = [
        _config(),
        _config(loss_normalisation="batch_and_classes"),
        _config(momentum_form="dampened"),
        _config(momentum_form="nesterov"),
        _config(weight_init="pytorch_default"),
        _config(init_scale=2.0),
        _config(batch_sampling="epoch_shuffle"),
    ]
    assert len({sgd.run_fingerprint(ARCH, c, X, y, X, y) for c in variants}) == len(variants)
    curve = sgd.train(ARCH, X, y, X, y, _config(momentum_form="nesterov", batch_sampling="epoch_shuffle")).curve
    assert list(curve.columns) == list(run_tables.CURVE_COLUMNS + run_tables.CONFIG_COLUMNS)  # no new columns


# --- initialisation ----------------------------------------------------------------------------


def test_pytorch_default_draws_weights_and_biases_within_one_over_sqrt_fan_in():
    arch = mlp.Architecture(n_inputs=300, n_hidden=200, n_classes=10)
    w = mlp.initialise(arch, np.random.default_rng(0), "pytorch_default", bias_init=5.0)
    p = arch.unpack(w)
    for W, bias in ((p.W1, p.b1), (p.W2, p.b2)):
        a = 1.0 / math.sqrt(W.shape[0])
        assert np.abs(W).max() <= a and np.abs(W).max() > 0.95 * a
        assert W.var() == pytest.approx(a * a / 3.0, rel=0.05)  # variance of U(-a, a)
        assert np.abs(bias).max() <= a and np.count_nonzero(bias) == bias.size  # drawn: bias_init ignored
        assert len(np.unique(bias)) == bias.size
    # documented draw order: W1, b1, W2, b2, in float64, then cast
    rng = np.random.default_rng(0)
    a1, a2 = 1 / math.sqrt(300), 1 / math.sqrt(200)
    expected = [rng.uniform(-a1, a1, (300, 200)), rng.uniform(-a1, a1, 200), rng.uniform(-a2, a2, (200, 10)),
                rng.uniform(-a2, a2, 10)]
    for got, want in zip((p.W1, p.b1, p.W2, p.b2), expected):
        np.testing.assert_array_equal(got, want.astype(np.float32))


def test_existing_schemes_draw_as_before_and_init_scale_one_changes_nothing():
    rng = np.random.default_rng(4)
    a1, a2 = math.sqrt(6 / (20 + 8)), math.sqrt(6 / (8 + 10))
    W1, W2 = rng.uniform(-a1, a1, (20, 8)), rng.uniform(-a2, a2, (8, 10))
    default = mlp.initialise(ARCH, np.random.default_rng(4))
    p = ARCH.unpack(default)
    np.testing.assert_array_equal(p.W1, W1.astype(np.float32))
    np.testing.assert_array_equal(p.W2, W2.astype(np.float32))
    assert not p.b1.any() and not p.b2.any()
    explicit = mlp.initialise(ARCH, np.random.default_rng(4), "glorot_uniform", 0.0, np.float32, init_scale=1.0)
    np.testing.assert_array_equal(explicit, default)
    via_config = sgd.initial_parameters(ARCH, _config(seed=7, init_scale=1.0))
    np.testing.assert_array_equal(via_config, mlp.initialise(ARCH, np.random.default_rng(sgd.run_seeds(7)[0])))


@pytest.mark.parametrize("scheme", mlp.WEIGHT_INITS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_init_scale_multiplies_the_weights_exactly_and_not_the_biases(scheme, dtype):
    scale = 0.37
    plain = ARCH.unpack(mlp.initialise(ARCH, np.random.default_rng(2), scheme, 0.25, dtype))
    scaled = ARCH.unpack(mlp.initialise(ARCH, np.random.default_rng(2), scheme, 0.25, dtype, init_scale=scale))
    for name in ("W1", "W2"):
        np.testing.assert_array_equal(getattr(scaled, name), getattr(plain, name) * dtype(scale))
    for name in ("b1", "b2"):
        np.testing.assert_array_equal(getattr(scaled, name), getattr(plain, name))
    c = _config(weight_init=scheme, init_scale=scale, bias_init=0.25)
    np.testing.assert_array_equal(
        sgd.initial_parameters(ARCH, c, dtype=dtype),
        mlp.initialise(ARCH, np.random.default_rng(sgd.run_seeds(0)[0]), scheme, 0.25, dtype, init_scale=scale),
    )


# --- data: input range and test set ------------------------------------------------------------


def _table(n_train=10, n_test=4):
    rng = np.random.default_rng(0)
    splits = {
        s: datasets.Split(rng.integers(0, 256, (n, 784), dtype=np.uint8), rng.integers(0, 10, n))
        for s, n in [("train", n_train), ("test", n_test)]
    }
    splits["train"].images[0, :2] = [0, 255]  # both ends of the pixel range
    return datasets.to_table(splits).to_pandas(), splits


def test_symmetric_inputs_map_zero_to_minus_one_and_the_scale_to_one():
    table, splits = _table()
    subset = np.array([0, 3, 5])
    unit = inputs.training_data(table, subset, 255.0)
    sym = inputs.training_data(table, subset, 255.0, input_range="symmetric")
    assert sym[0].dtype == np.float32 and sym[0].flags.c_contiguous
    assert sym[0][0, 0] == -1.0 and sym[0][0, 1] == 1.0
    assert sym[0].min() >= -1.0 and sym[0].max() <= 1.0
    np.testing.assert_allclose(sym[0], 2 * (splits["train"].images[subset] / 255.0) - 1, rtol=0, atol=1e-6)
    np.testing.assert_allclose(sym[2], 2 * (splits["test"].images / 255.0) - 1, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(sym[1], unit[1])
    np.testing.assert_array_equal(sym[3], unit[3])
    # the default is the stated [0, 1] range, unchanged
    np.testing.assert_array_equal(unit[0], mlp.scale_pixels(splits["train"].images[subset]))
    sym64 = inputs.training_data(table, subset, 255.0, dtype=np.float64, input_range="symmetric")
    assert sym64[0].dtype == np.float64 and sym64[0][0, 0] == -1.0 and sym64[0][0, 1] == 1.0


def test_test_and_unused_train_appends_exactly_the_unused_pool_images():
    table, splits = _table()
    subset = np.array([7, 2, 5])
    X_tr, y_tr, X_te, y_te = inputs.training_data(table, subset, 255.0, test_set="test_and_unused_train")
    unused = [0, 1, 3, 4, 6, 8, 9]  # pool order
    assert len(X_te) == len(y_te) == 4 + 7
    np.testing.assert_array_equal(X_te[:4], mlp.scale_pixels(splits["test"].images))
    np.testing.assert_array_equal(y_te[:4], splits["test"].labels)
    np.testing.assert_array_equal(X_te[4:], mlp.scale_pixels(splits["train"].images[unused]))
    np.testing.assert_array_equal(y_te[4:], splits["train"].labels[unused])
    np.testing.assert_array_equal(y_tr, splits["train"].labels[subset])
    # no training image is in the enlarged test set
    train_rows = {row.tobytes() for row in X_tr}
    assert not any(row.tobytes() in train_rows for row in X_te[4:])
    # the default test set is the test split alone; a subset of the whole pool adds nothing
    assert len(inputs.training_data(table, subset, 255.0)[2]) == 4
    assert len(inputs.training_data(table, np.arange(10), 255.0, test_set="test_and_unused_train")[2]) == 4


# --- validation and the JAX backend ------------------------------------------------------------


@pytest.mark.parametrize(
    "field,value",
    [
        ("loss_normalisation", "mean"),
        ("momentum_form", "nag"),
        ("weight_init", "xavier"),
        ("batch_sampling", "shuffle"),
        ("init_scale", 0.0),
        ("init_scale", -1.0),
        ("init_scale", math.nan),
        ("init_scale", math.inf),
    ],
)
def test_an_invalid_option_is_refused_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        _config(**{field: value})


def test_invalid_data_and_model_options_are_refused_naming_them():
    table, _ = _table()
    with pytest.raises(ValueError, match=r"input_range.*'unit', 'symmetric'"):
        inputs.training_data(table, np.arange(3), input_range="signed")
    with pytest.raises(ValueError, match=r"test_set.*'test', 'test_and_unused_train'"):
        inputs.training_data(table, np.arange(3), test_set="train")
    with pytest.raises(ValueError, match="loss_normalisation"):
        mlp.GradientWorkspace(ARCH, 4, normalisation="sum")
    with pytest.raises(ValueError, match="init_scale"):
        mlp.initialise(ARCH, np.random.default_rng(0), init_scale=0.0)
    with pytest.raises(ValueError, match=r"momentum_form.*'heavy_ball', 'dampened', 'nesterov'"):
        _config(momentum_form="Nesterov")


def test_the_jax_backend_starts_from_the_pytorch_default_initialisation():
    pytest.importorskip("jax", reason="the JAX backend needs the optional extra")
    from bayes_sgd.training import sgd_jax

    X, y = _data(20, seed=14)
    c = _config(weight_init="pytorch_default", steps=2, eval_points=1)
    got = sgd_jax.train(ARCH, X, y, X, y, c).curve.iloc[0]
    ref = sgd.train(ARCH, X, y, X, y, c).curve.iloc[0]
    glorot = sgd.train(ARCH, X, y, X, y, _config(steps=2, eval_points=1)).curve.iloc[0]
    assert got["step"] == ref["step"] == 0
    assert got["train_cross_entropy"] == pytest.approx(ref["train_cross_entropy"], rel=1e-5)
    assert abs(glorot["train_cross_entropy"] - ref["train_cross_entropy"]) > 1e-3  # another start
