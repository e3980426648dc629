"""Logistic regression, its exact minimiser and the Laplace evidence, each checked against an
independent computation: finite differences, numerical integration, closed forms."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, special, stats

from bayes_sgd import logistic
from bayes_sgd import laplace


def logistic_problem(n: int, p: int, seed: int, signal: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    """n examples, p - 1 Gaussian features plus the bias input, labels drawn from the model."""
    rng = np.random.default_rng(seed)
    X = np.ones((n, p))
    X[:, :-1] = rng.normal(size=(n, p - 1))
    true_w = np.r_[signal * np.ones(p - 1), -0.5]
    y = (rng.random(n) < special.expit(X @ true_w)).astype(np.float64)
    return X, y


# ---------------------------------------------------------------------------------------------
# Cost, gradient, Hessian


def test_cost_matches_direct_formula_and_stays_finite_for_huge_logits():
    X, y = logistic_problem(40, 4, seed=0)
    w = np.array([0.3, -0.2, 0.5, 0.1])
    prob = 1.0 / (1.0 + np.exp(-(X @ w)))
    direct = -np.sum(y * np.log(prob) + (1 - y) * np.log(1 - prob)) + 0.5 * 0.7 * w @ w
    assert logistic.cost(w, X, y, 0.7) == pytest.approx(direct, rel=1e-12)
    # A logit of +-1000 is exactly representable in the log domain: -ln sigmoid(-1000) = 1000.
    huge = logistic.summed_cross_entropy(np.array([1000.0, -1000.0, 1000.0]), np.array([0.0, 1.0, 1.0]))
    assert huge == pytest.approx(2000.0, rel=1e-12)


@pytest.mark.parametrize("scale", [0.3, 3.0])
def test_gradient_matches_central_finite_differences(scale):
    X, y = logistic_problem(50, 5, seed=1)
    w = scale * np.random.default_rng(2).normal(size=5)
    lam = 0.37
    h = 1e-6
    numeric = np.array(
        [
            (logistic.cost(w + h * e, X, y, lam) - logistic.cost(w - h * e, X, y, lam)) / (2 * h)
            for e in np.eye(5)
        ]
    )
    np.testing.assert_allclose(logistic.cost_gradient(w, X, y, lam), numeric, rtol=1e-6, atol=1e-6)


def test_hessian_matches_finite_differences_of_the_gradient():
    X, y = logistic_problem(50, 5, seed=3)
    w = np.random.default_rng(4).normal(size=5)
    lam = 0.37
    h = 1e-6
    numeric = np.column_stack(
        [
            (logistic.cost_gradient(w + h * e, X, y, lam) - logistic.cost_gradient(w - h * e, X, y, lam)) / (2 * h)
            for e in np.eye(5)
        ]
    )
    hessian = logistic.cost_hessian(w, X, y, lam)
    np.testing.assert_allclose(hessian, numeric, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(hessian, hessian.T)


def test_design_matrix_scales_pixels_and_appends_the_bias_input():
    pixels = np.array([[0, 255, 51], [255, 0, 102]], dtype=np.uint8)
    X = logistic.design_matrix(pixels, pixel_scale=255.0)
    assert X.dtype == np.float64
    np.testing.assert_allclose(X, [[0.0, 1.0, 0.2, 1.0], [1.0, 0.0, 0.4, 1.0]])


# ---------------------------------------------------------------------------------------------
# Exact minimiser


def test_minimiser_is_optimal_and_newton_converges_quadratically():
    X, y = logistic_problem(200, 6, seed=5)
    fit = logistic.minimise_cost(X, y, 0.1, tolerance=1e-14)
    # Independent check of optimality: the gradient recomputed from scratch vanishes.
    gradient = logistic.cost_gradient(fit.weights, X, y, 0.1)
    assert np.linalg.norm(gradient) < 1e-6
    assert fit.gradient_norm == pytest.approx(np.linalg.norm(gradient), rel=1e-6, abs=1e-12)
    # Any perturbation increases the cost.
    rng = np.random.default_rng(6)
    for _ in range(20):
        assert logistic.cost(fit.weights + 1e-3 * rng.normal(size=6), X, y, 0.1) > fit.cost
    # The returned Cholesky factor is that of the Hessian at w0.
    np.testing.assert_allclose(fit.hessian(), logistic.cost_hessian(fit.weights, X, y, 0.1), rtol=1e-12)
    assert fit.newton_iterations <= 10


def test_warm_start_along_the_path_and_cold_start_give_the_same_minimiser():
    # Random labels with 2p examples: nearly separable, the hard regime at weak lambda.
    rng = np.random.default_rng(7)
    X = np.ones((60, 31))
    X[:, :-1] = rng.normal(size=(60, 30))
    y = rng.integers(0, 2, size=60).astype(np.float64)
    lambdas = np.logspace(3, -6, 19)
    warm = {lam: fit for lam, fit, _ in logistic.fit_lambda_path(X, y, lambdas, tolerance=1e-14)}
    assert list(warm) == sorted(lambdas, reverse=True)
    cold_iterations = warm_iterations = 0
    for lam in lambdas[1::3]:
        cold = logistic.minimise_cost(X, y, lam, tolerance=1e-14)
        cold_iterations += cold.newton_iterations
        warm_iterations += warm[lam].newton_iterations
        # The decrement bounds C(w) - C(w0) <= 1e-14 |C|, so |w - w0| is of order 1e-7 |w0|.
        np.testing.assert_allclose(warm[lam].weights, cold.weights, atol=1e-6 * np.linalg.norm(cold.weights))
        assert warm[lam].cost == pytest.approx(cold.cost, rel=1e-12)
    assert warm_iterations < cold_iterations
    # Weakest lambda: the 60 random labels in 31 dimensions are memorised.
    accuracy, _ = logistic.evaluate(warm[lambdas[-1]].weights, X, y)
    assert accuracy == 1.0


def test_non_convergence_is_an_error_that_names_lambda():
    X, y = logistic_problem(100, 4, seed=8, signal=20.0)
    with pytest.raises(logistic.NewtonConvergenceError, match=r"lambda=0\.0025"):
        logistic.minimise_cost(X, y, 0.0025, max_iterations=1)


def test_invalid_problems_are_rejected():
    X, y = logistic_problem(10, 3, seed=9)
    with pytest.raises(ValueError, match="lambda"):
        logistic.minimise_cost(X, y, 0.0)
    with pytest.raises(ValueError, match="0 or 1"):
        logistic.minimise_cost(X, 2 * y - 1, 1.0)


# ---------------------------------------------------------------------------------------------
# Laplace evidence


def test_laplace_evidence_is_exact_for_a_gaussian_posterior():
    """Bayesian linear regression: C is quadratic, so the Laplace evidence is the exact marginal
    likelihood ln N(y; 0, sigma^2 I + Phi Phi^T / lambda)."""
    rng = np.random.default_rng(10)
    n, p, sigma, lam = 30, 4, 0.5, 2.0
    Phi = rng.normal(size=(n, p))
    y = Phi @ rng.normal(size=p) + sigma * rng.normal(size=n)
    hessian = Phi.T @ Phi / sigma**2 + lam * np.eye(p)
    w0 = np.linalg.solve(hessian, Phi.T @ y / sigma**2)
    neg_log_likelihood = 0.5 * np.sum((y - Phi @ w0) ** 2) / sigma**2 + 0.5 * n * np.log(2 * np.pi * sigma**2)
    cost_at_minimum = neg_log_likelihood + 0.5 * lam * w0 @ w0
    approx = laplace.laplace_log_evidence(cost_at_minimum, hessian, lam)
    exact = stats.multivariate_normal(np.zeros(n), sigma**2 * np.eye(n) + Phi @ Phi.T / lam).logpdf(y)
    assert approx.log_evidence == pytest.approx(exact, abs=1e-10)
    eigenvalues = np.linalg.eigvalsh(hessian)
    assert approx.occam_factor == pytest.approx(0.5 * np.sum(np.log(eigenvalues / lam)), rel=1e-12)


def _evidence_by_quadrature(X, y, lam):
    """ln P(y|x) = ln[(lambda / 2 pi)^(p/2) integral exp(-C(w)) dw] by adaptive quadrature."""
    fit = logistic.minimise_cost(X, y, lam)
    p = X.shape[1]
    half_width = 15.0 * np.sqrt(np.diag(np.linalg.inv(fit.hessian())))
    lo, hi = fit.weights - half_width, fit.weights + half_width

    def integrand(*w):
        return np.exp(-(logistic.cost(np.array(w), X, y, lam) - fit.cost))

    if p == 1:
        value, _ = integrate.quad(integrand, lo[0], hi[0], epsabs=0, epsrel=1e-11)
    else:
        value, _ = integrate.dblquad(
            lambda w1, w0: integrand(w0, w1), lo[0], hi[0], lo[1], hi[1], epsabs=0, epsrel=1e-10
        )
    quadrature = -fit.cost + np.log(value) + 0.5 * p * np.log(lam / (2 * np.pi))
    approx = laplace.laplace_log_evidence(fit.cost, None, lam, cholesky_factor=fit.hessian_cholesky)
    return approx.log_evidence, quadrature


@pytest.mark.parametrize("p", [1, 2])
def test_laplace_evidence_agrees_with_numerical_integration(p):
    """p = 1: the bias alone; p = 2: one feature and the bias. The Laplace error is O(1/N)."""
    errors = {}
    for n in (30, 1000):
        X, y = logistic_problem(n, p, seed=11)
        estimate, quadrature = _evidence_by_quadrature(X, y, lam=0.5)
        errors[n] = abs(estimate - quadrature)
    assert errors[1000] < 5e-3
    assert errors[30] < 0.05
    assert errors[1000] < errors[30] / 5  # the error shrinks like 1/N


def test_null_model_term():
    X, y = logistic_problem(123, 3, seed=12)
    # ln P(y|NULL) = -N ln 2 is the log-likelihood of w = 0 (every probability 1/2).
    assert laplace.null_log_evidence(123, 2) == pytest.approx(-logistic.summed_cross_entropy(np.zeros(123), y))
    assert laplace.null_log_evidence(10, 10) == pytest.approx(-10 * np.log(10))
    assert laplace.log_evidence_ratio(-50.0, 123, 2) == pytest.approx(-50.0 + 123 * np.log(2))
    # As lambda -> infinity the prior pins w to 0: the model becomes the null model, so the
    # log evidence ratio tends to 0 (from below: the model cannot beat the null model then).
    ratios = []
    for lam in (1e4, 1e6, 1e8):
        fit = logistic.minimise_cost(X, y, lam)
        log_ev = laplace.laplace_log_evidence(fit.cost, fit.hessian(), lam).log_evidence
        ratios.append(laplace.log_evidence_ratio(log_ev, len(y), 2))
    assert abs(ratios[-1]) < 1e-3
    assert abs(ratios[0]) > abs(ratios[1]) > abs(ratios[2])


@pytest.mark.parametrize("label_kind", ["random", "informative"])
def test_rescaling_leaves_the_evidence_unchanged_but_sharpness_scales_by_a_minus_2(label_kind):
    X, y = logistic_problem(120, 6, seed=13)
    if label_kind == "random":
        y = np.random.default_rng(14).integers(0, 2, size=len(y)).astype(np.float64)
    scales = [0.1, 1.0, 3.0, 30.0]
    demo = logistic.rescaling_demonstration(X, y, 0.5, scales)
    assert list(demo["scale"]) == scales
    np.testing.assert_allclose(demo["log_evidence_change"], 0.0, atol=1e-7)
    np.testing.assert_allclose(demo["sharpness_ratio"], np.array(scales) ** -2.0, rtol=1e-7)
    np.testing.assert_allclose(demo["weight_norm"], demo["weight_norm"].iloc[1] * np.array(scales), rtol=1e-6)
    # The check can fail: scaling the inputs without adjusting the prior changes the evidence.
    fit = logistic.minimise_cost(X / 3.0, y, 0.5)
    changed = laplace.laplace_log_evidence(fit.cost, fit.hessian(), 0.5).log_evidence
    assert abs(changed - demo["log_evidence"].iloc[1]) > 0.1


# ---------------------------------------------------------------------------------------------
# Sweep and summary


def test_sweep_rows_are_consistent():
    X, y = logistic_problem(80, 4, seed=15)
    Xt, yt = logistic_problem(200, 4, seed=16)
    table = logistic.sweep_lambda(X, y, Xt, yt, [10.0, 0.01, 1.0], tolerance=1e-14)
    assert list(table["lambda"]) == [0.01, 1.0, 10.0]
    np.testing.assert_allclose(table["log_evidence"], -table["cost"] - table["occam_factor"])
    np.testing.assert_allclose(table["log_evidence_ratio"], table["log_evidence"] + 80 * np.log(2))
    for _, row in table.iterrows():
        fit = logistic.minimise_cost(X, y, row["lambda"], tolerance=1e-14)
        eigenvalues = np.linalg.eigvalsh(logistic.cost_hessian(fit.weights, X, y, row["lambda"]))
        # Warm and cold minimisers agree to ~1e-7 (see the warm-start test), their Hessians too.
        assert row["hessian_max_eigenvalue"] == pytest.approx(eigenvalues[-1], rel=1e-5)
        assert row["occam_factor"] == pytest.approx(0.5 * np.sum(np.log(eigenvalues / row["lambda"])), rel=1e-5)
        accuracy = np.mean((Xt @ fit.weights > 0) == (yt == 1))
        assert row["test_accuracy"] == pytest.approx(accuracy)
        assert row["train_cross_entropy"] == pytest.approx(logistic.summed_cross_entropy(X @ fit.weights, y) / 80)
    assert table["weight_norm"].is_monotonic_decreasing
    assert (table["n_parameters"] == 4).all()


def test_summary_finds_the_extremes_and_the_rank_correlation():
    fits = pd.DataFrame(
        {
            "label_kind": ["informative"] * 4 + ["random"] * 4,
            "lambda": [0.01, 0.1, 1.0, 10.0] * 2,
            "log_evidence_ratio": [1.0, 3.0, 2.0, 0.5, -9.0, -5.0, -2.0, -1.0],
            "test_cross_entropy": [0.5, 0.2, 0.3, 0.6, 0.9, 0.8, 0.75, 0.7],
            "test_accuracy": [0.9, 0.95, 0.93, 0.8, 0.5, 0.5, 0.5, 0.5],
            "train_accuracy": [1.0, 1.0, 0.99, 0.9, 1.0, 0.9, 0.8, 0.6],
        }
    )
    summary = logistic.summarise_sweep(fits).set_index("label_kind")
    assert summary.loc["informative", "lambda_max_evidence"] == 0.1
    assert summary.loc["informative", "lambda_min_test_cross_entropy"] == 0.1
    assert summary.loc["informative", "spearman_evidence_test_cross_entropy"] == pytest.approx(-1.0)
    assert summary.loc["random", "lambda_max_evidence"] == 10.0
    assert summary.loc["random", "lambda_min"] == 0.01
    assert summary.loc["random", "train_accuracy_at_lambda_min"] == 1.0
    assert summary.loc["random", "spearman_evidence_test_cross_entropy"] == pytest.approx(-1.0)


# ---------------------------------------------------------------------------------------------
# Figures 1 and 2


def _toy_fits() -> pd.DataFrame:
    X, y = logistic_problem(60, 4, seed=17)
    Xt, yt = logistic_problem(100, 4, seed=18)
    shuffled = np.random.default_rng(19).permutation(y)
    return logistic.sweep_label_kinds(
        X, {"random": shuffled, "informative": y}, Xt, {"random": yt[::-1].copy(), "informative": yt}, [0.01, 1.0, 100.0]
    )


def test_figures_draw_the_table_in_two_panels_with_the_sign_convention():
    import matplotlib.pyplot as plt

    from bayes_sgd.figures import logistic as figures_logistic

    fits = _toy_fits()
    fig1 = figures_logistic.plot_figure_1(fits)
    titles = [ax.get_title() for ax in fig1.axes]
    assert titles == ["(a) random labels", "(b) informative labels"]
    random_train = fig1.axes[0].lines[0]
    np.testing.assert_allclose(random_train.get_xdata(), [0.01, 1.0, 100.0])
    np.testing.assert_allclose(random_train.get_ydata(), fits[fits.label_kind == "random"]["train_accuracy"])
    assert fig1.axes[0].get_xscale() == "log"

    fig2 = figures_logistic.plot_figure_2(fits)
    evidence_axes = [ax for ax in fig2.axes if "evidence" in ax.get_ylabel()]
    assert len(evidence_axes) == 2
    assert "> 0: model beats null model" in evidence_axes[1].get_ylabel()
    np.testing.assert_allclose(
        evidence_axes[1].lines[0].get_ydata(), fits[fits.label_kind == "informative"]["log_evidence_ratio"]
    )
    plt.close("all")
    with pytest.raises(ValueError, match="no rows for label kind 'random'"):
        figures_logistic.plot_figure_1(fits[fits.label_kind == "informative"])
    with pytest.raises(ValueError, match="lacks columns"):
        figures_logistic.plot_figure_2(fits.drop(columns=["log_evidence_ratio"]))


def test_lambda_grid_and_task_arrays():
    grid = logistic.lambda_grid(1e-6, 1e3, 4)
    assert len(grid) == 37 and grid[0] == pytest.approx(1e-6) and grid[-1] == pytest.approx(1e3)
    np.testing.assert_allclose(np.diff(np.log10(grid)), 0.25)
    with pytest.raises(ValueError, match="min < max"):
        logistic.lambda_grid(1.0, 1.0, 4)
    images = {"train": np.arange(10, dtype=np.uint8)[:, None] * np.ones((1, 3), np.uint8),
              "test": 100 + np.arange(5, dtype=np.uint8)[:, None] * np.ones((1, 3), np.uint8)}
    task = pd.DataFrame(
        {
            "split": ["train", "train", "test", "test"],
            "source_split": ["train", "train", "train", "test"],
            "index": [7, 2, 9, 4],
            "true_label": [1, 0, 1, 0],
            "random_label": [0, 0, 1, 1],
        }
    )
    pixels, labels = logistic.task_arrays(images, task, "test")
    np.testing.assert_array_equal(pixels[:, 0], [9, 104])
    np.testing.assert_array_equal(labels["informative"], [1.0, 0.0])
    np.testing.assert_array_equal(labels["random"], [1.0, 1.0])
    pixels, _ = logistic.task_arrays(images, task, "train")
    np.testing.assert_array_equal(pixels[:, 0], [7, 2])
