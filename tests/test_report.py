"""The report layer: one table behind a figure and a claim, and the rendering of the claims report."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayes_sgd.claims import report
from bayes_sgd import claims
from bayes_sgd.scaling.curves import batch_size_curves
from bayes_sgd.scaling.fits import fit_of, scaling_points
from bayes_sgd.figures.scaling import figure_scaling
from bayes_sgd.figures.sgd import plot_final_accuracy
from bayes_sgd.sweeps import describe_sweeps
from test_claims import T, all_tables, curve_final, sweep_fits, sweep_optima


def _pct(a):
    return f"{100 * a:.1f}%"


def test_figure_4_and_its_claims_draw_and_read_the_same_rows():
    """Figure 4's mean line is the curve table's rows, and the Figure 4 claims quote those rows,
    diverged runs (B <= 10 here) scored at chance in both."""
    final = curve_final(fail_below=10)
    curves = batch_size_curves(final, diverged_accuracy=0.1)  # the collect_sgd_runs table
    fig = plot_final_accuracy(final, curves)
    (mean_line,) = [ln for ln in fig.axes[0].get_lines() if ln.get_label().startswith("mean over seeds")]
    rows = curves.sort_values("batch_size")
    np.testing.assert_array_equal(mean_line.get_xdata(), rows["batch_size"])
    np.testing.assert_array_equal(mean_line.get_ydata(), rows["mean_accuracy"])
    np.testing.assert_allclose(rows.loc[rows["batch_size"] <= 10, "mean_accuracy"], 0.1)  # not dropped, not their last value

    fails = claims.claim_small_batches_fail(curves, T)
    for _, row in rows.loc[rows["batch_size"] <= T.failure_batch_size].iterrows():
        assert f"B = {row['batch_size']:g}: {_pct(row['mean_accuracy'])}" in fails.measured
    interior = claims.claim_interior_optimum(curves, T)
    top = rows.loc[rows["mean_accuracy"].idxmax()]
    assert f"best B = {top['batch_size']:g} ({_pct(top['mean_accuracy'])})" in interior.measured
    assert fails.tables == interior.tables == "figure_4_curves"


def test_figure_5b_and_its_claim_use_the_same_fit_row():
    eps = np.array([0.1, 0.3, 1.0, 3.0, 10.0])
    optima = scaling_points(sweep_optima("learning_rate", eps, 50 * eps**0.9), "learning_rate")
    optima = optima.assign(b_opt_low=optima["b_opt"], b_opt_high=optima["b_opt"], b_best=optima["b_opt"])
    fits = sweep_fits("learning_rate", eps, 50 * eps**0.9)
    fit, _ = fit_of(fits)
    curves = pd.DataFrame(
        dict(learning_rate=np.repeat(eps, 2), batch_size=np.tile([10, 100], 5), mean_accuracy=0.9,
             min_accuracy=0.9, max_accuracy=0.9, n_seeds=1, n_diverged=0, noise_scale=1.0)
    )
    fig = figure_scaling(curves, optima, "learning_rate", fit)
    (line,) = [ln for ln in fig.axes[1].get_lines() if ln.get_label().startswith("fit: slope")]
    row = fits.query("method == 't'").iloc[0]
    assert line.get_label().startswith(f"fit: slope {row['slope']:.2f} [{row['slope_low']:.2f}, {row['slope_high']:.2f}]")
    result = claims.claim_optimum_proportional_to_learning_rate(fits, T)
    assert f"slope {row['slope']:.2f} [{row['slope_low']:.2f}, {row['slope_high']:.2f}]" in result.measured


def context(rng=None):
    tables = all_tables(rng or np.random.default_rng(6))
    results = claims.evaluate_claims(tables, T)
    optima = {
        "learning_rate": scaling_points(
            sweep_optima("learning_rate", [0.3, 1.0], [15.0, 50.0]).assign(
                steps=1000, b_grid_min=10.0, b_grid_max=300.0, n_batch_sizes=4, n_seeds=2, b_best=30.0,
                b_opt_low=10.0, b_opt_high=np.nan, optimum_noise_scale=5.0, optimum_noise_scale_low=4.0,
                optimum_noise_scale_high=6.0,
            ),
            "learning_rate",
        )
    }
    from workflow_helpers import DEFAULT_CONFIG
    import yaml

    scaling = yaml.safe_load(DEFAULT_CONFIG.read_text())["scaling"]
    return report.report_context(
        dataset="mnist5k",
        results=results,
        thresholds=T,
        optima=optima,
        fits=pd.concat([tables["learning_rate_fits"], tables["n_train_fits"]], ignore_index=True),
        sweeps=describe_sweeps(scaling),
        table_paths={name: f"results/{name}.parquet" for name in claims.TABLES},
        diverged_accuracy=0.1,
        untrained_accuracy=0.5,
    ), results


def test_markdown_report_has_one_line_per_claim_and_every_threshold():
    ctx, results = context()
    text = report.render_markdown(ctx)
    assert text.startswith("# Claims report: Smith & Le (ICLR 2018) reproduced on mnist5k\n")
    lines = [line for line in text.splitlines() if line.startswith("| Fig.")]
    assert len(lines) == len(results)
    for line, r in zip(lines, results):
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        assert cells[1] == f"`{r.claim_id}`" and cells[-1].strip("*") == r.verdict and cells[-2] == r.tables
    counts = {v: sum(r.verdict == v for r in results) for v in claims.VERDICTS}
    assert f"Verdicts: {counts['holds']} holds, {counts['does not hold']} does not hold" in text
    for name, meaning in claims.ClaimThresholds.meanings().items():
        assert f"- `{name}` = {getattr(T, name)}: {meaning}" in text
    for name in claims.TABLES:
        assert f"- `{name}`: `results/{name}.parquet`" in text
    assert "counts at 0.1 (scaling.diverged_accuracy" in text
    assert "eps = 0.3" in text and "| 15 -" in text  # an interval with a NaN bound prints as none


def test_markdown_cells_escape_bars_and_html_escapes_markup():
    ctx, results = context()
    odd = claims.ClaimResult("x", "Fig. 1", "a | b <i>", "c", "d", claims.HOLDS, "logistic")
    ctx = {**ctx, "claims": report.claims_frame([odd])}
    md = report.render_markdown(ctx)
    (line,) = [line for line in md.splitlines() if line.startswith("| Fig. 1")]
    assert "a \\| b <i>" in line and line.count(" | ") == 6
    html = report.render_html(ctx)
    assert html.startswith("<!DOCTYPE html>") and "a | b &lt;i&gt;" in html and "<i>" not in html
    assert '<td class="holds">holds</td>' in html and "<code>x</code>" in html


def test_html_report_holds_the_same_tables():
    ctx, results = context()
    html = report.render_html(ctx)
    assert html.count("<code>") >= len(results) and html.count('class="dataframe"') == 2
    for r in results:
        assert f"<code>{r.claim_id}</code>" in html
    assert "all interior optima" in html and "Student t, 95%" in html


def test_the_claims_report_has_the_variants_section_only_with_a_comparison():
    ctx, _ = context()
    assert "Protocol variants" not in report.render_markdown(ctx) and "Protocol variants" not in report.render_html(ctx)
    overview = pd.DataFrame(
        {"variant": ["paper", "dampened"], "protocol": ["paper", "momentum_form-dampened"],
         "changes": ["the main protocol (mlp:)", "momentum_form = dampened"],
         "figures_3_4_8": [claims.DOES_NOT_HOLD, claims.HOLDS], "scaling": [claims.NOT_MEASURED] * 2,
         "failing_claims": ["interior_optimum_batch_size", ""]}
    )
    verdicts = pd.DataFrame(
        {"variant": ["paper", "dampened"], "protocol": overview["protocol"], "changes": overview["changes"],
         "learning_rate_scale": 1.0, "claim_id": "interior_optimum_batch_size", "figure": "Fig. 4",
         "verdict": [claims.DOES_NOT_HOLD, claims.HOLDS], "measured": ["best B = 1000", "best B = 30"],
         "criterion": "c"}
    )
    section = report.variants_context(dataset="mnist5k", overview=overview, verdicts=verdicts, seeds=None)
    ctx = {**ctx, "variants": section}
    md = report.render_markdown(ctx)
    assert "## Protocol variants on mnist5k" in md and "best B = 30" in md
    assert "Figures 3, 4 and 8 hold (every claim of those figures holds) under: dampened." in md
    assert md.index("## Protocol variants") < md.index("## The sweeps of this configuration")
    html = report.render_html(ctx)
    assert "<h2>Protocol variants on mnist5k</h2>" in html and "best B = 1000" in html
