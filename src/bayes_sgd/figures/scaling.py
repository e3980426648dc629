"""Figures 5-7 of the paper (the scaling rules) and test accuracy against the noise scale.

Each function takes the tables of :mod:`bayes_sgd.scaling.noise_scale` and returns a
:class:`matplotlib.figure.Figure` built without pyplot (no global state, no display; saving it
uses the Agg canvas). No file I/O: the workflow script saves it.

* :func:`figure_scaling`: panel (a) seed-mean test accuracy against batch size (log axis), one
  line per curve of the sweep, with the range over seeds as a band; panel (b) the refined
  optimum batch size against the swept quantity (``eps``, ``N`` or ``1/(1-m)``) with its seed-
  bootstrap interval, the best grid point, the fitted power law and the slope-1 line of the
  paper's proportionality.
* :func:`figure_accuracy_vs_noise_scale`: every curve of Figures 5-7 against the noise scale
  ``g = eps/(1-m) (N/B - 1)`` on one log axis. Full-batch runs (``g = 0``) cannot be drawn on a
  log axis; they are left out and counted in the caption line.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from bayes_sgd.scaling.fits import LogLogFit
from bayes_sgd.sweeps import get_sweep

_FAMILY_CMAPS = ("viridis", "plasma", "cividis", "cool")
_FAMILY_MARKERS = ("o", "s", "^", "D")


def _curve_colours(values, cmap: str):
    """One colour per swept value, spread over the colormap (avoiding its palest end)."""
    values = np.asarray(values)
    positions = np.linspace(0.0, 0.85, max(values.size, 1))
    return dict(zip(values.tolist(), colormaps[cmap](positions)))


def plot_accuracy_vs_batch_size(ax, curves: pd.DataFrame, swept: str, *, cmap: str = "viridis") -> None:
    """Panel (a): ``mean_accuracy`` against ``batch_size`` (log x), one line per ``swept`` value.

    ``curves``: :func:`bayes_sgd.scaling.noise_scale.batch_size_curves` rows of one sweep. The band is
    the range over seeds (``min_accuracy`` to ``max_accuracy``); batch sizes where every seed
    diverged are marked with a cross.
    """
    values = np.sort(curves[swept].unique())
    colours = _curve_colours(values, cmap)
    for value in values:
        c = curves.loc[curves[swept] == value].sort_values("batch_size")
        colour = colours[value]
        label = get_sweep(swept).curve_label(value)
        ax.plot(c["batch_size"], 100 * c["mean_accuracy"], "-o", color=colour, ms=3.5, lw=1.3, label=label)
        if (c["n_seeds"] > 1).any():
            ax.fill_between(
                c["batch_size"],
                100 * c["min_accuracy"],
                100 * c["max_accuracy"],
                color=colour,
                alpha=0.2,
                lw=0,
            )
        dead = c.loc[c["n_diverged"] == c["n_seeds"]]
        if len(dead):
            ax.plot(dead["batch_size"], 100 * dead["mean_accuracy"], "x", color=colour, ms=7, mew=1.5)
    ax.set_xscale("log")
    ax.set_xlabel("batch size B")
    ax.set_ylabel("test accuracy after training (%)")
    ax.grid(True, which="major", alpha=0.3)
    n_seeds = int(curves["n_seeds"].max())
    ax.legend(
        fontsize=7, title=f"mean of {n_seeds} seed(s); band: seed range; x: all diverged", title_fontsize=7
    )


def plot_optimum_vs_sweep(ax, points: pd.DataFrame, sweep: str, fit: LogLogFit | None = None) -> None:
    """Panel (b): refined optimum ``b_opt`` against the sweep's abscissa, log-log.

    ``points``: :func:`bayes_sgd.scaling.noise_scale.scaling_points` output (``x``, ``b_opt``,
    ``b_opt_low``, ``b_opt_high``, ``b_best``, ``used``, ``excluded_because``). Error bars:
    seed-bootstrap interval. Points not used in the fit (grid edge, below ``min_x``) are hollow.
    Curves without an optimum (``b_opt`` NaN: they never trained) are not drawn; a note in the
    corner names them. ``fit``: drawn over the used range, with the slope-1 line through the
    same points.
    """
    ticks = np.unique(points["x"].to_numpy(dtype=float))
    located = np.isfinite(points["b_opt"].to_numpy(dtype=float))
    missing = points.loc[~located]
    points = points.loc[located]
    used = points["used"].to_numpy(dtype=bool)
    edge_reasons = sorted(set(points.loc[~used, "excluded_because"]))
    for mask, face, label in (
        (used, "C0", "refined optimum (seed bootstrap)"),
        (~used, "none", f"not fitted ({', '.join(edge_reasons)})"),
    ):
        p = points.loc[mask]
        if len(p) == 0:
            continue
        err = np.vstack([p["b_opt"] - p["b_opt_low"], p["b_opt_high"] - p["b_opt"]])
        ax.errorbar(
            p["x"],
            p["b_opt"],
            yerr=np.clip(err, 0, None),
            fmt="o",
            mfc=face,
            mec="C0",
            color="C0",
            capsize=3,
            label=label,
        )
    if len(points):
        ax.plot(points["x"], points["b_best"], "_", color="0.4", ms=10, mew=1.5, label="best grid batch size")
    if fit is not None:
        xs = np.geomspace(fit.x_min, fit.x_max, 50)
        interval = (
            f"[{fit.slope_low:.2f}, {fit.slope_high:.2f}]" if np.isfinite(fit.slope_low) else "(no interval)"
        )
        ax.plot(xs, fit.predict(xs), "-", color="C3", lw=1.3, label=f"fit: slope {fit.slope:.2f} {interval}")
        ax.plot(xs, fit.predict_slope1(xs), "--", color="0.3", lw=1.0, label="slope 1 (B_opt proportional)")
    if len(missing):
        values = ", ".join(f"{v:g}" for v in missing["x"])
        ax.text(
            0.01, 0.01, f"no optimum (never trained) at x = {values}", transform=ax.transAxes, fontsize=7, va="bottom"
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):  # labelled minor ticks of a short log axis overlap
        axis.set_minor_formatter(NullFormatter())
    ax.set_xticks(ticks, [f"{t:.3g}" for t in ticks])  # one labelled tick per curve of the sweep
    ax.set_xlabel(get_sweep(sweep).axis_label)
    ax.set_ylabel(r"optimum batch size $B_{opt}$")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7)


def figure_scaling(
    curves: pd.DataFrame,
    points: pd.DataFrame,
    sweep: str,
    fit: LogLogFit | None = None,
    *,
    title: str | None = None,
    cmap: str = "viridis",
) -> Figure:
    """Figure 5, 6 or 7: (a) accuracy against B per curve, (b) B_opt against the swept quantity.

    ``sweep``: ``"learning_rate"`` (Figure 5), ``"n_train"`` (Figure 6) or ``"momentum"``
    (Figure 7); ``curves`` and ``points`` restricted to that sweep.
    """
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax_a, ax_b = fig.subplots(1, 2)
    plot_accuracy_vs_batch_size(ax_a, curves, sweep, cmap=cmap)
    plot_optimum_vs_sweep(ax_b, points, sweep, fit)
    ax_a.set_title("(a)", loc="left")
    ax_b.set_title("(b)", loc="left")
    if title:
        fig.suptitle(title)
    return fig


def figure_accuracy_vs_noise_scale(
    families: Mapping[str, tuple[pd.DataFrame, str]],
    *,
    title: str | None = None,
) -> Figure:
    """Test accuracy against the noise scale ``g`` for every curve of Figures 5-7, log x.

    ``families``: name (e.g. ``"Fig. 5"``) -> (curves of that sweep from
    :func:`bayes_sgd.scaling.noise_scale.batch_size_curves`, swept column of a registered sweep). Each family has its own
    marker and colormap. If the scaling rules hold, the curves peak at a common ``g``.
    """
    fig = Figure(figsize=(7.5, 4.5), layout="constrained")
    ax = fig.subplots()
    dropped = 0
    for k, (name, (curves, swept)) in enumerate(families.items()):
        values = np.sort(curves[swept].unique())
        colours = _curve_colours(values, _FAMILY_CMAPS[k % len(_FAMILY_CMAPS)])
        for value in values:
            c = curves.loc[curves[swept] == value].sort_values("noise_scale")
            positive = c["noise_scale"] > 0
            dropped += int((~positive).sum())
            c = c.loc[positive]
            label = f"{name}: " + get_sweep(swept).curve_label(value)
            ax.plot(
                c["noise_scale"],
                100 * c["mean_accuracy"],
                "-",
                marker=_FAMILY_MARKERS[k % len(_FAMILY_MARKERS)],
                ms=3.5,
                lw=1.0,
                color=colours[value],
                label=label,
            )
    ax.set_xscale("log")
    ax.set_xlabel(r"noise scale $g = \epsilon/(1-m)\,(N/B - 1)$")
    ax.set_ylabel("test accuracy after training (%), mean over seeds")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=6, ncol=2)
    if dropped:
        ax.text(
            0.01,
            0.01,
            f"{dropped} full-batch point(s) with g = 0 not shown",
            transform=ax.transAxes,
            fontsize=7,
            va="bottom",
        )
    if title:
        ax.set_title(title)
    return fig


def figure_diagnosis(points: pd.DataFrame, hypotheses: pd.DataFrame, title: str | None = None) -> Figure:
    """The diagnosis figure [our extension]: B_opt against eps (left) and against 1/(1-m) (right),
    one colour per variant.

    ``points``: :func:`bayes_sgd.diagnosis.diagnosis_points` (filled markers: the optima the fit
    used; hollow: left out, e.g. at a grid edge); ``hypotheses``:
    :func:`bayes_sgd.diagnosis.judge_hypotheses`, whose rows give each variant's fitted slope
    and intercept (solid line) and each hypothesis' predicted slope (dashed line through the
    centre of its variant's used points in log-log, where the fitted line also passes).
    """
    fig = Figure(figsize=(10, 4.2), layout="constrained")
    axes = dict(zip(("learning_rate", "momentum"), fig.subplots(1, 2)))
    variant_names = list(dict.fromkeys(list(points["variant"]) + [v for v in hypotheses["variant"] if v]))
    colours = {name: f"C{i}" for i, name in enumerate(variant_names)}
    for sweep, ax in axes.items():
        here = points.loc[(points["sweep"] == sweep) & np.isfinite(points["b_opt"].astype(float))]
        for name, group in here.groupby("variant", sort=False):
            used = group["used"].to_numpy(dtype=bool)
            colour = colours[name]
            ax.plot(group.loc[used, "x"], group.loc[used, "b_opt"], "o", color=colour, label=f"{name}: optima")
            if (~used).any():
                ax.plot(group.loc[~used, "x"], group.loc[~used, "b_opt"], "o", mfc="none", color=colour)
        rows = hypotheses.loc[(hypotheses["sweep"] == sweep) & (hypotheses["variant"] != "")]
        for _, row in rows.iterrows():
            fitted = here.loc[(here["variant"] == row["variant"]) & here["used"].astype(bool)]
            if len(fitted) < 2 or not np.isfinite(row["slope"]):
                continue
            colour = colours[row["variant"]]
            xs = np.geomspace(fitted["x"].min(), fitted["x"].max(), 20)
            centre_x, centre_y = np.log(fitted["x"]).mean(), np.log(fitted["b_opt"]).mean()
            label = f"{row['variant']}: fit {row['slope']:.2f} [{row['slope_low']:.2f}, {row['slope_high']:.2f}]"
            if not any(line.get_label() == label for line in ax.get_lines()):
                ax.plot(xs, np.exp(row["intercept"]) * xs ** row["slope"], "-", color=colour, lw=1.2, label=label)
            predicted = np.exp(centre_y + row["predicted_slope"] * (np.log(xs) - centre_x))
            ax.plot(xs, predicted, "--", color=colour, lw=1.0, alpha=0.8,
                    label=f"{row['hypothesis']}: predicted slope {row['predicted_slope']:g}")
        ticks = np.unique(points.loc[points["sweep"] == sweep, "x"].to_numpy(dtype=float))
        ax.set_xscale("log")
        ax.set_yscale("log")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_minor_formatter(NullFormatter())
        if len(ticks):
            ax.set_xticks(ticks, [f"{t:.3g}" for t in ticks])
        else:
            ax.text(0.5, 0.5, "no optima: sweep not run", transform=ax.transAxes, ha="center")
        ax.set_xlabel(get_sweep(sweep).axis_label)
        ax.set_ylabel(r"optimum batch size $B_{opt}$")
        ax.set_title(f"({'a' if sweep == 'learning_rate' else 'b'}) Figure {get_sweep(sweep).figure}b's sweep", loc="left")
        ax.grid(True, which="major", alpha=0.3)
        if ax.get_lines():
            ax.legend(fontsize=6)
    if title:
        fig.suptitle(title)
    return fig
