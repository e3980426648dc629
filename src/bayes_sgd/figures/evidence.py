"""Figures of the evidence of trained networks (docs/paper.md, "Beyond the paper"), drawn only from
the aggregated evidence table (rule collect_mlp_evidence) and the sweeps' optimum tables.

* :func:`plot_evidence_vs_batch_size`: the Figure 4 runs, log evidence ratio per example
  against B, split into depth (``-C(w)/N + ln n``, relative to the null model) and Occam factor
  (the shaded band between them), with final test accuracy on a second axis and, where
  computed, the exact softmax-layer estimate as a check on KFAC;
* :func:`plot_evidence_vs_accuracy`: every run, log evidence ratio per example against final test
  accuracy, with Spearman's rho over the trained runs;
* :func:`plot_b_simple_vs_optimum`: each sweep curve's gradient noise scale ``B_simple`` (median
  over its trained runs, range as a bar) against its measured optimum batch size.

Runs that failed to train (:func:`bayes_sgd.mlp_evidence.trained_mask`) are drawn as grey
crosses at their own values and kept out of every statistic; a diverged run has no evidence (or
no accuracy) to draw, so it is marked on the bottom edge of the axes at its batch size (or not
drawn, where its accuracy is missing), never at a made-up value; each figure says how many
there are.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from scipy import stats  # noqa: E402

from bayes_sgd.mlp_evidence import EVIDENCE_COLUMN, select_evidence, trained_mask  # noqa: E402
from bayes_sgd.sweeps import CURVE_SETTINGS as CURVE_KEYS  # noqa: E402  (one dataset per figure)

FAILED_STYLE = dict(marker="x", color="0.5", linestyle="none")


def _runs(table: pd.DataFrame, method: str, prior, failed_accuracy: float) -> pd.DataFrame:
    rows = select_evidence(table, method, prior)
    return rows.assign(trained=trained_mask(rows, failed_accuracy) & np.isfinite(rows[EVIDENCE_COLUMN]))


def plot_evidence_vs_batch_size(table: pd.DataFrame, *, method: str, prior, failed_accuracy: float,
                                title: str = "") -> Figure:
    """Figure 4 runs (column ``figure_4``): depth, Occam factor and their difference per B."""
    rows = _runs(table[table["figure_4"]], method, prior, failed_accuracy)
    ln_n = -rows["null_log_evidence"] / rows["n_train"]
    rows = rows.assign(depth_vs_null=rows["depth_per_example"] + ln_n)
    fig, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
    good = rows[rows["trained"]]
    mean = good.groupby("batch_size")[["depth_vs_null", "occam_factor_per_example", EVIDENCE_COLUMN, "test_accuracy"]].mean()
    b = mean.index.to_numpy()
    if len(mean):
        ax.plot(b, mean["depth_vs_null"], "-o", color="C0", label="depth  -C(w)/N + ln n")
        ax.plot(b, mean[EVIDENCE_COLUMN], "-s", color="C3", label="log evidence ratio / N")
        ax.fill_between(b, mean[EVIDENCE_COLUMN], mean["depth_vs_null"], color="C1", alpha=0.3,
                        label="Occam factor / N")
        ax.plot(good["batch_size"], good[EVIDENCE_COLUMN], ".", color="C3", alpha=0.5)
    bad = rows[~rows["trained"]]
    if len(bad):
        drawn = bad[np.isfinite(bad[EVIDENCE_COLUMN])]
        ax.plot(drawn["batch_size"], drawn[EVIDENCE_COLUMN], **FAILED_STYLE, label=f"failed to train ({len(drawn)})")
        no_value = bad[~np.isfinite(bad[EVIDENCE_COLUMN])]
        if len(no_value):  # at their B, on the axes' bottom edge (axes coordinates): no evidence to draw
            ax.plot(no_value["batch_size"], np.full(len(no_value), 0.02), "v", color="0.5", linestyle="none",
                    transform=ax.get_xaxis_transform(), label=f"diverged, no evidence ({len(no_value)})")
    if method != "exact_softmax_layer":
        exact = _runs(table[table["figure_4"]], "exact_softmax_layer", prior, failed_accuracy)
        exact = exact[exact["trained"]]
        if len(exact):
            ax.plot(exact["batch_size"], exact[EVIDENCE_COLUMN], "D", mfc="none", color="C4",
                    label="log evidence ratio / N, exact softmax layer alone")
    ax.axhline(0.0, color="k", lw=0.5)
    ax.set_xscale("log")
    ax.set_xlabel("batch size B")
    ax.set_ylabel("nats per example (positive: beats the null model)")
    acc = ax.twinx()
    acc.plot(rows["batch_size"], rows["test_accuracy"], "^", color="C2", alpha=0.5)
    if len(mean):
        acc.plot(b, mean["test_accuracy"], "--", color="C2", label="test accuracy")
    acc.set_ylabel("final test accuracy", color="C2")
    handles = ax.get_legend_handles_labels()
    extra = acc.get_legend_handles_labels()
    ax.legend(handles[0] + extra[0], handles[1] + extra[1], fontsize=7, loc="best")
    ax.set_title(f"{title}\n[{method}, prior precision: {prior}]", fontsize=9)
    return fig


def plot_evidence_vs_accuracy(table: pd.DataFrame, *, method: str, prior, failed_accuracy: float,
                              title: str = "") -> Figure:
    """Every run: log evidence ratio per example against final test accuracy, one colour per curve."""
    rows = _runs(table, method, prior, failed_accuracy)
    fig, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
    good = rows[rows["trained"]]
    for i, (key, curve) in enumerate(good.groupby(list(CURVE_KEYS), sort=True)):
        label = "N={} eps={:g} m={:g} l2={:g} T={}".format(*key)
        ax.plot(curve["test_accuracy"], curve[EVIDENCE_COLUMN], "o", color=f"C{i % 10}", ms=4, label=label)
    bad = rows[~rows["trained"]]
    drawn = bad[np.isfinite(bad[EVIDENCE_COLUMN]) & np.isfinite(bad["test_accuracy"])]
    if len(drawn):
        ax.plot(drawn["test_accuracy"], drawn[EVIDENCE_COLUMN], **FAILED_STYLE, label="failed to train")
    rho = stats.spearmanr(good[EVIDENCE_COLUMN], good["test_accuracy"]).statistic if len(good) > 2 else np.nan
    ax.set_xlabel("final test accuracy")
    ax.set_ylabel("log evidence ratio per example (nats)")
    not_drawn = f", {len(bad) - len(drawn)} of them diverged and not drawn" if len(bad) > len(drawn) else ""
    ax.set_title(f"{title}\nSpearman rho = {rho:.2f} over {len(good)} trained runs; "
                 f"{len(bad)} failed runs excluded{not_drawn} [{method}, {prior}]", fontsize=9)
    ax.legend(fontsize=5, loc="best", ncol=2)
    return fig


def plot_b_simple_vs_optimum(table: pd.DataFrame, optima: pd.DataFrame, *, failed_accuracy: float,
                             title: str = "") -> Figure:
    """Each curve with a measured optimum (``b_opt`` with ``b_opt_low``/``b_opt_high``):
    median ``B_simple`` over its trained runs (bar: min to max) against ``b_opt``; an optimum at
    the edge of its grid (``at_grid_edge``) is drawn hollow."""
    runs = table.drop_duplicates(["n_train", "learning_rate", "momentum", "batch_size", "l2", "steps", "seed"])
    runs = runs.assign(trained=trained_mask(runs, failed_accuracy) & np.isfinite(runs["b_simple"]))
    fig, ax = plt.subplots(figsize=(5.2, 4.4), constrained_layout=True)
    points = []
    for _, opt in optima.dropna(subset=["b_opt"]).iterrows():
        match = np.ones(len(runs), dtype=bool)
        for k in CURVE_KEYS:
            match &= np.isclose(runs[k].to_numpy(dtype=float), float(opt[k]))
        b = runs.loc[match & runs["trained"], "b_simple"]
        if len(b):
            points.append((opt, float(b.median()), float(b.min()), float(b.max())))
    for i, (opt, med, lo, hi) in enumerate(points):
        xerr = [[opt["b_opt"] - opt.get("b_opt_low", opt["b_opt"])], [opt.get("b_opt_high", opt["b_opt"]) - opt["b_opt"]]]
        edge = bool(opt.get("at_grid_edge", False))
        ax.errorbar(opt["b_opt"], med, xerr=np.abs(np.nan_to_num(xerr)), yerr=[[med - lo], [hi - med]], fmt="o",
                    color=f"C{i % 10}", ms=4, mfc="none" if edge else None,
                    label=f"N={opt['n_train']:g} eps={opt['learning_rate']:g} m={opt['momentum']:g}"
                    + (" (optimum at grid edge)" if edge else ""))
    if points:
        values = [p[0]["b_opt"] for p in points] + [p[2] for p in points] + [p[3] for p in points]
        values = [v for v in values if v > 0 and np.isfinite(v)]
        if values:
            line = np.array([min(values) / 2, max(values) * 2])
            ax.plot(line, line, "k:", lw=0.8, label="B_simple = B_opt")
        ax.legend(fontsize=5, loc="best")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("measured optimum batch size B_opt")
    ax.set_ylabel("gradient noise scale B_simple (final weights)")
    n_failed = int((~runs["trained"]).sum())
    ax.set_title(f"{title}\n{len(points)} curves; {n_failed} failed runs excluded", fontsize=9)
    return fig
