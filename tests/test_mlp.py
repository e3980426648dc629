"""The MLP: layout, initialisation, evaluation and gradients against finite differences."""

import math

import numpy as np
import pytest

from bayes_sgd import mlp

SMALL = mlp.Architecture(n_inputs=12, n_hidden=9, n_classes=4)


def _problem(arch, n, seed, dtype=np.float64):
    """Random weights with non-zero biases (so no ReLU sits exactly at its kink) and data."""
    rng = np.random.default_rng(seed)
    w = mlp.initialise(arch, rng, dtype=dtype)
    p = arch.unpack(w)
    p.b1[...] = rng.normal(0.0, 0.3, size=p.b1.shape)
    p.b2[...] = rng.normal(0.0, 0.3, size=p.b2.shape)
    X = rng.random((n, arch.n_inputs)).astype(dtype)
    y = rng.integers(0, arch.n_classes, size=n)
    return w, X, y


def _mean_cross_entropy(arch, w, X, y):
    """Independent loss: -(1/n) sum_i ln softmax(z_i)[y_i] with plain NumPy, no workspace."""
    p = arch.unpack(w)
    h = np.maximum(X @ p.W1 + p.b1, 0.0)
    z = h @ p.W2 + p.b2
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -logp[np.arange(len(y)), y].mean()


def test_parameter_count_and_views_share_memory():
    arch = mlp.Architecture()
    assert arch.n_params == 784 * 800 + 800 + 800 * 10 + 10
    flat = np.zeros(arch.n_params, dtype=np.float32)
    p = arch.unpack(flat)
    assert p.W1.shape == (784, 800) and p.W2.shape == (800, 10)
    assert p.W1.flags.f_contiguous and p.W2.flags.f_contiguous
    p.W1[3, 5] = 1.0
    p.b2[-1] = 2.0
    assert flat[5 * 784 + 3] == 1.0  # Fortran order: column 5, row 3
    assert flat[-1] == 2.0
    with pytest.raises(ValueError):
        arch.unpack(np.zeros(10, dtype=np.float32))


def test_glorot_uniform_bounds_variance_and_zero_biases():
    arch = mlp.Architecture(n_inputs=300, n_hidden=200, n_classes=10)
    w = mlp.initialise(arch, np.random.default_rng(0))
    p = arch.unpack(w)
    assert w.dtype == np.float32
    for W in (p.W1, p.W2):
        a = math.sqrt(6.0 / sum(W.shape))
        assert np.abs(W).max() <= a
        assert np.abs(W).max() > 0.95 * a
        assert W.var() == pytest.approx(a * a / 3.0, rel=0.05)  # variance of U(-a, a)
    assert not p.b1.any() and not p.b2.any()


def test_initialisation_is_seeded_and_dtype_independent():
    w32 = mlp.initialise(SMALL, np.random.default_rng(7), dtype=np.float32)
    w64 = mlp.initialise(SMALL, np.random.default_rng(7), dtype=np.float64)
    np.testing.assert_allclose(w32, w64, rtol=1e-6)
    w_other = mlp.initialise(SMALL, np.random.default_rng(8))
    assert not np.allclose(w32, w_other)


@pytest.mark.parametrize("scheme", mlp.WEIGHT_INITS)
def test_every_init_scheme_has_its_variance(scheme):
    arch = mlp.Architecture(n_inputs=400, n_hidden=300, n_classes=10)
    W1 = arch.unpack(mlp.initialise(arch, np.random.default_rng(1), scheme)).W1
    fan_in, fan_out = W1.shape
    if scheme == "pytorch_default":
        expected = 1.0 / (3.0 * fan_in)  # U(-a, a) with a = 1 / sqrt(fan_in)
    else:
        expected = 2.0 / (fan_in + fan_out) if scheme.startswith("glorot") else 2.0 / fan_in
    assert W1.var() == pytest.approx(expected, rel=0.03)


def test_unknown_init_scheme_is_rejected():
    with pytest.raises(ValueError, match="weight_init"):
        mlp.initialise(SMALL, np.random.default_rng(0), "lecun")


def test_evaluate_matches_direct_computation_and_chunking():
    w, X, y = _problem(SMALL, 53, seed=1)
    acc, ce = mlp.evaluate(SMALL, w, X, y, chunk_size=7)
    _, z = mlp.forward(SMALL, w, X)
    assert acc == pytest.approx(np.mean(z.argmax(axis=1) == y))
    assert ce == pytest.approx(_mean_cross_entropy(SMALL, w, X, y), rel=1e-12)
    assert mlp.evaluate(SMALL, w, X, y, chunk_size=1000) == pytest.approx((acc, ce))


def test_evaluate_counts_non_finite_logits_as_wrong():
    w, X, y = _problem(SMALL, 20, seed=2)
    w[:] = np.nan
    acc, ce = mlp.evaluate(SMALL, w, X, y)
    assert acc == 0.0
    assert math.isnan(ce)


def test_gradient_matches_central_finite_differences_float64():
    w, X, y = _problem(SMALL, 17, seed=3)
    loss, grad = mlp.loss_and_gradient(SMALL, w, X, y)
    assert loss == pytest.approx(_mean_cross_entropy(SMALL, w, X, y), rel=1e-12)
    h = 1e-6
    numeric = np.empty_like(w)
    for j in range(w.size):
        wp, wm = w.copy(), w.copy()
        wp[j] += h
        wm[j] -= h
        numeric[j] = (_mean_cross_entropy(SMALL, wp, X, y) - _mean_cross_entropy(SMALL, wm, X, y)) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)
    # every block of the gradient is exercised
    p = SMALL.unpack(grad)
    assert all(np.abs(block).max() > 1e-4 for block in (p.W1, p.b1, p.W2, p.b2))


def test_batch_gradient_is_the_mean_of_per_example_gradients():
    w, X, y = _problem(SMALL, 6, seed=4)
    _, batch = mlp.loss_and_gradient(SMALL, w, X, y)
    singles = [mlp.loss_and_gradient(SMALL, w, X[i : i + 1], y[i : i + 1])[1] for i in range(6)]
    np.testing.assert_allclose(batch, np.mean(singles, axis=0), rtol=1e-10, atol=1e-14)


def test_gradient_accumulates_with_beta_and_ignores_garbage_at_beta_zero():
    w, X, y = _problem(SMALL, 5, seed=5)
    _, g = mlp.loss_and_gradient(SMALL, w, X, y)
    ws = mlp.GradientWorkspace(SMALL, 5, dtype=np.float64)
    ws.load(X, y)
    out = np.full_like(w, np.nan)
    ws.gradient(w, out, beta=0.0)
    np.testing.assert_allclose(out, g, rtol=1e-12)
    previous = np.random.default_rng(0).normal(size=w.size)
    out = previous.copy()
    ws.gradient(w, out, beta=0.9)
    np.testing.assert_allclose(out, 0.9 * previous + g, rtol=1e-12, atol=1e-15)


def test_workspace_gathers_the_indexed_batch():
    w, X, y = _problem(SMALL, 30, seed=6)
    index = np.array([29, 3, 17, 4])
    ws = mlp.GradientWorkspace(SMALL, 4, dtype=np.float64)
    ws.load(X, y, index)
    out = np.empty_like(w)
    loss = ws.gradient(w, out)
    ref_loss, ref = mlp.loss_and_gradient(SMALL, w, X[index], y[index])
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    np.testing.assert_allclose(out, ref, rtol=1e-12)


def test_float32_gradient_agrees_with_float64_on_the_paper_network():
    arch = mlp.Architecture()
    w64, X64, y = _problem(arch, 30, seed=7)
    loss64, g64 = mlp.loss_and_gradient(arch, w64, X64, y)
    loss32, g32 = mlp.loss_and_gradient(arch, w64.astype(np.float32), X64.astype(np.float32), y)
    assert g32.dtype == np.float32
    assert loss32 == pytest.approx(loss64, rel=1e-5)
    assert np.abs(g32 - g64).max() <= 1e-4 * np.abs(g64).max()


def test_scale_pixels():
    X = mlp.scale_pixels(np.array([[0, 255, 51]], dtype=np.uint8))
    assert X.dtype == np.float32 and X.flags.c_contiguous
    np.testing.assert_allclose(X, [[0.0, 1.0, 0.2]], rtol=1e-6)
