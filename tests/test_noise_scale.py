"""Tests of the noise scale, the optimum-batch-size analysis and the log-log fits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayes_sgd.scaling.curves import batch_size_curves, scored_accuracy
from bayes_sgd.scaling.fits import fit_of, fit_scaling, loglog_fit, scaling_points, sweep_fits
from bayes_sgd.scaling.noise_scale import noise_scale
from bayes_sgd.scaling.optimum import optimum_batch_sizes
from table_builders import log_parabola_final

GRID = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]
CHANCE = 0.1  # scaling.diverged_accuracy of the tests


def optimum(final, **settings):
    """optimum_batch_sizes with the tests' diverged score, level and (small) bootstrap."""
    return optimum_batch_sizes(final, **{"diverged_accuracy": CHANCE, "confidence": 0.95, "n_boot": 50, **settings})


def curves_of(final, **settings):
    return batch_size_curves(final, **{"diverged_accuracy": CHANCE, **settings})


def synthetic_final(
    b_star,
    *,
    learning_rate=1.0,
    n_train=1000,
    momentum=0.9,
    seeds=(0, 1, 2, 3, 4),
    noise=0.0,
    grid=GRID,
    rng=None,
    peak=0.95,
    curvature=0.02,
):
    """Final rows of one curve with acc = peak - curvature (log B - log B*)^2 + noise."""
    return log_parabola_final(
        b_star, grid=grid, seeds=seeds, peak=peak, curvature=curvature, noise=noise, rng=rng,
        n_train=n_train, learning_rate=learning_rate, momentum=momentum, steps=int(round(10000 / learning_rate)),
    )


# ---- the noise scale ----------------------------------------------------------------------


def test_noise_scale_hand_values():
    # eps = 1, m = 0.9, N = 1000, B = 30: 1/0.1 * (1000/30 - 1) = 10 * 97/3
    assert noise_scale(1.0, 1000, 30, 0.9) == pytest.approx(970 / 3, rel=1e-12)
    assert noise_scale(0.1, 1000, 100, 0.0) == pytest.approx(0.9, rel=1e-12)
    assert noise_scale(3.0, 50000, 50000, 0.5) == 0.0  # full batch: no noise
    assert noise_scale(1.0, 1000, 1) == pytest.approx(999.0)


def test_noise_scale_vectorised():
    b = np.array([1, 10, 100, 1000])
    g = noise_scale(1.0, 1000, b, 0.9)
    np.testing.assert_allclose(g, [9990.0, 990.0, 90.0, 0.0])
    eps = np.array([[0.5], [2.0]])
    assert noise_scale(eps, 1000, b, 0.0).shape == (2, 4)


@pytest.mark.parametrize(
    "args",
    [
        (0.0, 1000, 10, 0.9),
        (1.0, 1000, 10, 1.0),
        (1.0, 1000, 2000, 0.0),
        (1.0, 1000, 0.5, 0.0),
        (-1.0, 10, 1, 0),
    ],
)
def test_noise_scale_rejects_invalid(args):
    with pytest.raises(ValueError):
        noise_scale(*args)


def test_noise_scale_matches_minibatch_gradient_variance():
    """Monte-Carlo check of g = eps (N/B - 1) from its definition (paper Section 5).

    With per-example gradients of (ddof 1) variance F, one step of SGD adds noise
    eps * (mean_B - mean_N); its variance is g * F * dt with dt = eps / N.
    """
    rng = np.random.default_rng(0)
    n, b, eps = 40, 6, 0.7
    per_example = rng.standard_exponential(n)  # skewed on purpose: the result is exact anyway
    f = per_example.var(ddof=1)
    draws = np.argsort(rng.random((200_000, n)), axis=1)[:, :b]  # B of N without replacement
    noise = eps * (per_example[draws].mean(axis=1) - per_example.mean())
    g_empirical = noise.var() / (f * eps / n)
    assert g_empirical == pytest.approx(noise_scale(eps, n, b), rel=0.02)


def test_momentum_multiplies_the_noise_scale_by_one_over_one_minus_m():
    """Simulate v <- m v + xi, w <- w - eps v with white gradient noise xi of variance s2.

    Over T steps the SDE time is T * eps_eff / N with eps_eff = eps / (1 - m), so the noise
    scale of the simulation is g = Var(w_T) / (F * T * eps_eff / N), and xi with variance
    F (N/B - 1) / N must give g = eps / (1 - m) (N/B - 1).
    """
    rng = np.random.default_rng(1)
    n, b, eps, m, f = 100, 10, 0.5, 0.8, 2.0
    s2 = f * (n / b - 1) / n
    chains, steps = 4000, 1500
    v = np.zeros(chains)
    w = np.zeros(chains)
    for _ in range(steps):
        v = m * v + rng.normal(0.0, np.sqrt(s2), chains)
        w -= eps * v
    g_empirical = w.var() / (f * steps * eps / (1 - m) / n)
    assert g_empirical == pytest.approx(noise_scale(eps, n, b, m), rel=0.08)
    # Without the momentum factor the simulation would be off by 1/(1-m) = 5.
    assert abs(g_empirical / noise_scale(eps, n, b, 0.0) - 1) > 1


# ---- from run tables to curves ------------------------------------------------------------


def test_final_evaluations_take_the_last_step_of_each_run():
    from bayes_sgd.training.run_tables import final_evaluations

    base = synthetic_final(50, seeds=(0,), grid=[10, 100])
    runs = pd.concat(
        [base.assign(step=s, test_accuracy=base["test_accuracy"] - 0.1 * (s < 100)) for s in (100, 1, 10)]
    )
    final = final_evaluations(runs)
    assert len(final) == 2
    assert (final["step"] == 100).all()
    np.testing.assert_allclose(final.sort_values("batch_size")["test_accuracy"], base["test_accuracy"])


def test_batch_size_curves_statistics_and_noise_scale():
    rng = np.random.default_rng(2)
    final = synthetic_final(50, noise=0.01, rng=rng, seeds=(0, 1, 2))
    final.loc[(final["batch_size"] == 1) & (final["seed"] == 0), "status"] = "diverged"
    curves = curves_of(final)
    assert len(curves) == len(GRID)
    row = curves.loc[curves["batch_size"] == 20].iloc[0]
    acc = final.loc[final["batch_size"] == 20, "test_accuracy"]
    assert row["mean_accuracy"] == pytest.approx(acc.mean())
    assert row["std_accuracy"] == pytest.approx(acc.std(ddof=1))
    assert row["noise_scale"] == pytest.approx(10 * (1000 / 20 - 1))
    b1 = curves.loc[curves["batch_size"] == 1].iloc[0]
    assert b1["n_diverged"] == 1 and b1["n_seeds"] == 3
    scored = final.loc[final["batch_size"] == 1, "test_accuracy"].to_numpy().copy()
    scored[0] = CHANCE
    assert b1["mean_accuracy"] == pytest.approx(scored.mean())


def test_non_finite_accuracy_of_a_finished_run_is_an_error():
    final = synthetic_final(50, seeds=(0,))
    final.loc[0, "test_accuracy"] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        curves_of(final)
    final.loc[0, "status"] = "diverged"  # scored at chance: fine
    assert np.isfinite(curves_of(final)["mean_accuracy"]).all()
    with pytest.raises(ValueError, match="status"):
        scored_accuracy(final.assign(status="exploded"), diverged_accuracy=CHANCE)


# ---- the optimum of a curve ---------------------------------------------------------------


def test_refined_optimum_is_exact_for_a_parabola_in_log_b():
    final = synthetic_final(70.0)  # between grid points 50 and 100
    opt = optimum(final, seed=0, n_boot=50).iloc[0]
    assert opt["b_best"] == 50 or opt["b_best"] == 100
    assert opt["b_opt"] == pytest.approx(70.0, rel=1e-9)
    assert not opt["at_grid_edge"]
    assert opt["best_accuracy"] == pytest.approx(0.95 - 0.02 * np.log(opt["b_best"] / 70) ** 2)
    assert opt["optimum_noise_scale"] == pytest.approx(noise_scale(1.0, 1000, 70.0, 0.9))


def test_refined_optimum_matches_polyfit_on_the_three_points():
    # A skewed, non-parabolic curve: the refinement is the vertex of the parabola through
    # the best grid point and its neighbours, computed independently with numpy.polyfit.
    grid = np.array(GRID, dtype=float)
    acc = 0.9 - np.abs(np.log(grid / 30.0)) ** 1.5 * np.where(grid < 30, 0.01, 0.03)
    final = synthetic_final(30.0, seeds=(0,), grid=grid)
    final["test_accuracy"] = np.repeat(acc, 1)
    opt = optimum(final, seed=0, n_boot=10).iloc[0]
    i = int(np.argmax(acc))
    a, b_, _ = np.polyfit(np.log(grid[i - 1 : i + 2]), acc[i - 1 : i + 2], 2)
    assert opt["b_best"] == grid[i]
    assert np.log(opt["b_opt"]) == pytest.approx(-b_ / (2 * a), rel=1e-9)


def test_noisy_optimum_and_bootstrap_interval_recover_the_truth():
    rng = np.random.default_rng(3)
    final = synthetic_final(70.0, noise=0.003, rng=rng)
    opt = optimum(final, seed=0, n_boot=1000).iloc[0]
    assert opt["b_opt"] == pytest.approx(70.0, rel=0.2)
    assert opt["b_opt_low"] <= opt["b_opt"] <= opt["b_opt_high"]
    assert opt["b_opt_low"] < 70.0 < opt["b_opt_high"]
    assert opt["b_opt_high"] > opt["b_opt_low"]
    assert opt["b_best_low"] in GRID and opt["b_best_high"] in GRID
    assert opt["b_best_low"] <= opt["b_best"] <= opt["b_best_high"]
    assert opt["b_grid_below"] < opt["b_best"] < opt["b_grid_above"]
    assert opt["optimum_noise_scale_low"] <= opt["optimum_noise_scale"] <= opt["optimum_noise_scale_high"]
    assert opt["n_seeds"] == 5


def test_bootstrap_is_seeded_and_per_curve():
    rng = np.random.default_rng(4)
    one = synthetic_final(70.0, noise=0.005, rng=rng)
    two = pd.concat([one, synthetic_final(200.0, learning_rate=3.0, noise=0.005, rng=rng)])
    a = optimum(one, seed=7, n_boot=300)
    b = optimum(two, seed=7, n_boot=300)
    pd.testing.assert_frame_equal(a, b.loc[b["learning_rate"] == 1.0].reset_index(drop=True))
    c = optimum(one, seed=8, n_boot=300)
    assert (c["b_opt_low"] != a["b_opt_low"]).any() or (c["b_opt_high"] != a["b_opt_high"]).any()


def test_bootstrap_resamples_whole_seeds():
    # Seed 0 is good at B = 10 only, seed 1 at B = 100 only: every resample's argmax is
    # one of those two, never another grid point (which resampling single runs could give).
    final = synthetic_final(30.0, seeds=(0, 1), grid=[1, 10, 100, 1000])
    final["test_accuracy"] = 0.5
    final.loc[(final["seed"] == 0) & (final["batch_size"] == 10), "test_accuracy"] = 0.9
    final.loc[(final["seed"] == 1) & (final["batch_size"] == 100), "test_accuracy"] = 0.8
    opt, reps = optimum(final, seed=0, n_boot=400, return_replicates=True)
    assert set(reps["b_best"]) == {10.0, 100.0}
    assert opt.iloc[0]["b_best_low"] == 10 and opt.iloc[0]["b_best_high"] == 100


def test_single_seed_interval_degenerates_to_the_point():
    rng = np.random.default_rng(5)
    final = synthetic_final(70.0, seeds=(3,), noise=0.003, rng=rng)
    opt = optimum(final, seed=0, n_boot=100).iloc[0]
    assert opt["n_seeds"] == 1
    assert opt["b_best_low"] == opt["b_best"] == opt["b_best_high"]
    assert opt["b_opt_low"] == pytest.approx(opt["b_opt"]) and opt["b_opt_high"] == pytest.approx(
        opt["b_opt"]
    )
    assert np.isnan(opt["best_accuracy_std"])


def test_optimum_at_the_grid_edge_is_flagged_and_not_refined():
    final = synthetic_final(5000.0)
    opt = optimum(final, seed=0, n_boot=20).iloc[0]
    assert opt["at_grid_edge"]
    assert opt["b_best"] == opt["b_opt"] == 1000
    assert np.isnan(opt["b_grid_above"])
    assert opt["optimum_noise_scale"] == 0.0


def test_a_curve_that_never_trained_gets_no_optimum():
    final = pd.concat(
        [
            synthetic_final(70.0, seeds=(0, 1), learning_rate=1.0),
            synthetic_final(70.0, seeds=(0, 1), learning_rate=3.0, peak=0.12, curvature=0.001),
        ]
    )
    optima, replicates = optimum(
        final, seed=0, n_boot=50, untrained_accuracy=0.5, return_replicates=True
    )
    trained, dead = (optima.loc[optima["learning_rate"] == eps].iloc[0] for eps in (1.0, 3.0))
    assert trained["trained"] and trained["b_opt"] == pytest.approx(70.0, rel=1e-9)
    assert not dead["trained"] and dead["best_accuracy"] == pytest.approx(0.12, abs=1e-3)
    for column in ("b_best", "b_opt", "b_opt_low", "b_opt_high", "optimum_noise_scale"):
        assert np.isnan(dead[column]), column
    assert not dead["at_grid_edge"]
    assert replicates.loc[replicates["learning_rate"] == 3.0, "b_opt"].isna().all()
    points = scaling_points(optima, "learning_rate")
    assert list(points["excluded_because"]) == ["", "never trained"]
    # without the threshold the argmax of a flat chance-level curve would be reported as an optimum
    assert optimum(final, seed=0, n_boot=50)["b_best"].notna().all()


def test_diverged_runs_count_as_chance_not_as_their_last_evaluation():
    final = synthetic_final(70.0, seeds=(0, 1))
    small = final["batch_size"] <= 2
    final.loc[small, "status"] = "diverged"
    final.loc[small, "test_accuracy"] = 0.99  # last finite evaluation before divergence
    assert optimum(final, seed=0, n_boot=20).iloc[0]["b_best"] in (50, 100)
    assert optimum(final, seed=0, n_boot=20, diverged_accuracy=None).iloc[0]["b_best"] == 1


def test_missing_runs_are_ignored_not_zero():
    final = synthetic_final(70.0, seeds=(0, 1, 2))
    final = final.drop(final.index[(final["batch_size"] == 50) & (final["seed"] == 1)])
    opt = optimum(final, seed=0, n_boot=200).iloc[0]
    assert opt["b_opt"] == pytest.approx(70.0, rel=1e-9)
    assert opt["b_opt_low"] == pytest.approx(70.0, rel=1e-9)


def test_duplicate_runs_are_an_error():
    final = synthetic_final(70.0, seeds=(0,))
    with pytest.raises(ValueError, match="more than one"):
        optimum(pd.concat([final, final]), seed=0)


# ---- log-log fits -------------------------------------------------------------------------


def test_loglog_fit_exact_power_law_and_slope_one_line():
    x = np.array([0.1, 0.3, 1.0, 3.0, 10.0])
    fit = loglog_fit(x, 7.0 * x**0.8, confidence=0.95)
    assert fit.slope == pytest.approx(0.8, abs=1e-12)
    assert fit.intercept == pytest.approx(np.log(7.0), abs=1e-12)
    assert fit.slope_low == pytest.approx(0.8, abs=1e-9) and fit.slope_high == pytest.approx(0.8, abs=1e-9)
    np.testing.assert_allclose(fit.predict(x), 7.0 * x**0.8)
    prop = loglog_fit(x, 3.0 * x, confidence=0.95)
    assert prop.intercept_slope1 == pytest.approx(np.log(3.0))
    np.testing.assert_allclose(prop.predict_slope1(x), 3.0 * x)
    assert prop.contains_one()


def test_loglog_fit_t_interval_matches_linregress():
    rng = np.random.default_rng(6)
    x = np.geomspace(0.1, 10, 6)
    y = 40 * x**1.2 * np.exp(rng.normal(0, 0.2, x.size))
    fit = loglog_fit(x, y, confidence=0.9)
    ref = stats.linregress(np.log(x), np.log(y))
    half = stats.t.ppf(0.95, x.size - 2) * ref.stderr
    assert fit.slope == pytest.approx(ref.slope)
    assert fit.intercept == pytest.approx(ref.intercept)
    assert fit.slope_low == pytest.approx(ref.slope - half)
    assert fit.slope_high == pytest.approx(ref.slope + half)


def test_loglog_t_interval_coverage():
    rng = np.random.default_rng(7)
    x = np.geomspace(1, 100, 5)
    covered = 0
    trials = 400
    for _ in range(trials):
        y = 2 * x**0.7 * np.exp(rng.normal(0, 0.3, x.size))
        fit = loglog_fit(x, y, confidence=0.95)
        covered += fit.slope_low <= 0.7 <= fit.slope_high
    assert 0.91 <= covered / trials <= 0.99


def test_loglog_bootstrap_intervals():
    rng = np.random.default_rng(8)
    x = np.geomspace(0.1, 10, 8)
    y = 5 * x * np.exp(rng.normal(0, 0.1, x.size))
    fit = loglog_fit(x, y, method="bootstrap", rng=np.random.default_rng(0), n_boot=500, confidence=0.95)
    assert fit.slope_low < fit.slope < fit.slope_high
    assert fit.contains_one()
    # Replicates that are all the same curve give a zero-width interval at the OLS slope.
    same = loglog_fit(x, y, method="bootstrap", y_replicates=np.tile(y, (10, 1)), confidence=0.95)
    assert same.slope_low == pytest.approx(same.slope) and same.slope_high == pytest.approx(same.slope)
    with pytest.raises(ValueError):
        loglog_fit(x, y, method="bootstrap", confidence=0.95)


def test_loglog_fit_two_points_and_bad_input():
    fit = loglog_fit([1, 10], [2, 20], confidence=0.95)
    assert fit.slope == pytest.approx(1.0)
    assert np.isnan(fit.slope_low) and np.isnan(fit.slope_high) and not fit.contains_one()
    for x, y in [([1], [1]), ([1, 1], [1, 2]), ([1, -1], [1, 2]), ([1, 2], [0, 2])]:
        with pytest.raises(ValueError):
            loglog_fit(x, y, confidence=0.95)


# ---- the scaling rules end to end ---------------------------------------------------------


def learning_rate_sweep(rng, learning_rates=(0.25, 0.5, 1.0, 2.0, 4.0), noise=0.002):
    """Curves whose optimum follows the paper's rule B* = 60 eps."""
    return pd.concat(
        [synthetic_final(60.0 * eps, learning_rate=eps, noise=noise, rng=rng) for eps in learning_rates],
        ignore_index=True,
    )


def test_scaling_fit_recovers_proportionality_to_the_learning_rate():
    rng = np.random.default_rng(9)
    optima, reps = optimum(
        learning_rate_sweep(rng), seed=0, n_boot=300, return_replicates=True
    )
    points = scaling_points(optima, "learning_rate")
    assert points["used"].all()
    fit = fit_scaling(points, confidence=0.95)
    assert fit.slope == pytest.approx(1.0, abs=0.1)
    assert fit.contains_one()
    boot = fit_scaling(points, method="bootstrap", replicates=reps, confidence=0.95)
    assert boot.slope == fit.slope
    assert boot.slope_low < 1.0 < boot.slope_high
    assert np.exp(fit.intercept_slope1) == pytest.approx(60.0, rel=0.1)
    # the fits table of the workflow holds exactly these fits, at the configured level
    table = sweep_fits(points, reps, "learning_rate", confidence=0.95).set_index("method")
    assert list(table.index) == ["t", "bootstrap"] and table["fitted"].all() and table["min_x"].isna().all()
    for method, expected in (("t", fit), ("bootstrap", boot)):
        for column in ("slope", "slope_low", "slope_high", "intercept_slope1", "n_points"):
            assert table.loc[method, column] == getattr(expected, column), (method, column)
        assert fit_of(table.reset_index(), method=method) == (expected, "")
    narrow = sweep_fits(points, reps, "learning_rate", confidence=0.5).set_index("method")
    assert narrow.loc["t", "slope_high"] - narrow.loc["t", "slope_low"] < fit.slope_high - fit.slope_low


def test_scaling_points_exclusions_and_abscissae():
    optima = pd.DataFrame(
        dict(
            n_train=[1000, 10000, 20000, 40000],
            momentum=[0.0, 0.5, 0.9, 0.95],
            learning_rate=1.0,
            b_opt=[10.0, 80.0, 200.0, 400.0],
            at_grid_edge=[False, False, False, True],
        )
    )
    pts = scaling_points(optima, "n_train", min_x=20000)
    assert list(pts["excluded_because"]) == ["x below min_x", "x below min_x", "", "grid edge"]
    assert list(pts["used"]) == [False, False, True, False]
    np.testing.assert_allclose(scaling_points(optima, "momentum")["x"], [1.0, 2.0, 10.0, 20.0])
    with pytest.raises(ValueError):
        fit_scaling(pts, confidence=0.95)  # one usable point
    with pytest.raises(ValueError):
        scaling_points(optima, "weight_decay")
    # a region with too few optima is a row that says why, not an error
    fits = sweep_fits(optima, pd.DataFrame(), "n_train", confidence=0.95, min_x_values=(20000,))
    region = fits.loc[fits["min_x"] == 20000]
    assert len(region) == 2 and not region["fitted"].any() and region["n_points"].eq(1).all()
    assert region["reason"].str.contains("1 usable optima of 4").all()
    assert fit_of(fits, min_x=20000)[0] is None and "usable optima" in fit_of(fits, min_x=20000)[1]


# ---- figures (drawn from the same tables; smoke test of what they show) -------------------


def test_scaling_figures_draw_the_computed_tables():
    from bayes_sgd.figures import scaling as fs

    rng = np.random.default_rng(10)
    final = learning_rate_sweep(rng, learning_rates=(0.5, 1.0, 2.0))
    curves = curves_of(final)
    optima = optimum(final, seed=0, n_boot=50)
    points = scaling_points(optima, "learning_rate")
    fit = fit_scaling(points, confidence=0.95)
    fig = fs.figure_scaling(curves, points, "learning_rate", fit)
    ax_a, ax_b = fig.axes
    assert len([ln for ln in ax_a.get_lines() if ln.get_linestyle() == "-"]) == 3
    assert ax_a.get_xscale() == "log" and ax_b.get_yscale() == "log"
    fit_line = [ln for ln in ax_b.get_lines() if ln.get_label().startswith("fit: slope")][0]
    x, y = fit_line.get_data()
    np.testing.assert_allclose(y, fit.predict(x))
    g = fs.figure_accuracy_vs_noise_scale({"Fig. 5": (curves, "learning_rate")})
    (ax,) = g.axes
    assert len(ax.get_lines()) == 3
    assert "3 full-batch point(s)" in ax.texts[0].get_text()
    shown = np.concatenate([ln.get_xdata() for ln in ax.get_lines()])
    np.testing.assert_allclose(np.sort(shown), np.sort(curves.loc[curves["noise_scale"] > 0, "noise_scale"]))
