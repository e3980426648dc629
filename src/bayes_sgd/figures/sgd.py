"""Figures 3, 4, 8 and 9 of the paper: SGD on the MLP (Section 4, Appendices B and C).

Every figure is drawn only from tables the workflow computed:

- Figures 3 and 8 (:func:`plot_learning_curves`): test accuracy and test cross-entropy versus
  the number of updates, one line per run (colour = batch size, one line per seed), from the
  concatenated run tables. Step 0 is left out of the log axis. A diverged run ends in a cross.
- Figure 4 (:func:`plot_final_accuracy`): final test accuracy versus batch size on a log axis:
  the seed mean and min-max range of the figure's batch-size curve table
  (:func:`bayes_sgd.scaling.noise_scale.batch_size_curves`, diverged runs scored at chance, the same
  rows the claims read) and every seed that did not diverge as a dot. Diverged runs are drawn
  as crosses on the bottom edge and counted in the legend.
- Figure 9 (:func:`plot_gradient_noise`): histograms of the gradient of one softmax-layer weight
  over single examples and over batch means, each with the normal of the sample's mean and
  standard deviation and its normality statistics, from :mod:`bayes_sgd.minibatch_gradients`'s tables.

The functions return a :class:`matplotlib.figure.Figure` and write nothing; the workflow saves it.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.transforms import blended_transform_factory  # noqa: E402
from scipy import stats  # noqa: E402

from bayes_sgd.sweeps import CURVE_KEYS  # noqa: E402

DIVERGED_COLOUR = "tab:red"


def _require(table: pd.DataFrame, columns, what: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{what}: the table lacks columns {missing}")
    if table.empty:
        raise ValueError(f"{what}: the table is empty")


def _setting(table: pd.DataFrame, keys=CURVE_KEYS) -> str:
    """The shared configuration of the runs in ``table`` as a title line."""
    names = {"dataset": "", "n_train": "N", "learning_rate": "ε", "momentum": "m", "l2": "L2", "steps": "updates"}
    parts = []
    for key in keys:
        if key not in table.columns:
            continue
        values = sorted(table[key].unique())
        text = ", ".join(format(v, "g") if not isinstance(v, str) else v for v in values)
        parts.append(text if key == "dataset" else f"{names[key]} = {text}")
    return ", ".join(parts)


def _batch_label(b: int, n_train: int) -> str:
    return f"B = {b}, full batch" if b == n_train else f"B = {b}"


def plot_learning_curves(runs: pd.DataFrame, title: str = "") -> Figure:
    """Test accuracy (a) and test cross-entropy (b) versus updates for every run in ``runs``."""
    _require(runs, ["step", "test_accuracy", "test_cross_entropy", "batch_size", "seed", "status", "n_train"], "learning curves")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    batch_sizes = sorted(runs["batch_size"].unique())
    colours = plt.get_cmap("viridis")(np.linspace(0.0, 0.85, len(batch_sizes)))
    metrics = (("test_accuracy", "test accuracy", "(a)"), ("test_cross_entropy", "test cross-entropy (mean)", "(b)"))
    for ax, (column, label, tag) in zip(axes, metrics):
        for colour, b in zip(colours, batch_sizes):
            rows = runs[runs["batch_size"] == b]
            n_train = int(rows["n_train"].iloc[0])
            seeds = sorted(rows["seed"].unique())
            for i, seed in enumerate(seeds):
                curve = rows[(rows["seed"] == seed) & (rows["step"] > 0)].sort_values("step")
                finite = curve[np.isfinite(curve[column])]
                ax.plot(finite["step"], finite[column], color=colour, lw=1.3, alpha=0.85,
                        label=f"{_batch_label(b, n_train)} ({len(seeds)} seed{'s' * (len(seeds) > 1)})" if i == 0 else None)
                if (curve["status"] == "diverged").any() and not finite.empty:
                    ax.plot(finite["step"].iloc[-1], finite[column].iloc[-1], "x", color=DIVERGED_COLOUR, ms=9, mew=2)
        ax.set_xscale("log")
        ax.set_xlabel("updates (log scale)")
        ax.set_ylabel(label)
        ax.set_title(f"{tag} {label}")
        ax.grid(alpha=0.3, which="both")
    if (runs["status"] == "diverged").any():
        axes[0].plot([], [], "x", color=DIVERGED_COLOUR, ms=9, mew=2, label="diverged (last finite evaluation)")
    axes[0].legend(loc="lower right", fontsize=8)
    fig.suptitle(f"{title}\n{_setting(runs)}" if title else _setting(runs), fontsize=10)
    return fig


def plot_final_accuracy(final: pd.DataFrame, curves: pd.DataFrame, title: str = "") -> Figure:
    """Final test accuracy versus batch size: the curve's seed mean and range, seeds, diverged runs.

    ``curves``: the figure's :func:`bayes_sgd.scaling.noise_scale.batch_size_curves` table (one curve),
    whose ``mean_accuracy``, ``min_accuracy`` and ``max_accuracy`` are drawn as they are (the
    rows the claims read); diverged runs are scored there at ``scaling.diverged_accuracy``.
    ``final``: the final row of every run, drawn as one dot per seed that did not diverge and a
    cross on the bottom edge per diverged run.
    """
    _require(final, ["batch_size", "seed", "status", "test_accuracy"], "final evaluations")
    _require(curves, ["batch_size", "n_seeds", "n_diverged", "mean_accuracy", "min_accuracy", "max_accuracy"],
             "batch-size curve")
    if curves["batch_size"].duplicated().any():
        raise ValueError("batch-size curve: expected one curve, got repeated batch sizes")
    fig, ax = plt.subplots(figsize=(6, 4.2), constrained_layout=True)
    c = curves.sort_values("batch_size")
    n_seeds = int(c["n_seeds"].max())
    ax.fill_between(c["batch_size"], c["min_accuracy"], c["max_accuracy"], color="tab:blue", alpha=0.2,
                    lw=0, label="min-max over seeds")
    ax.plot(c["batch_size"], c["mean_accuracy"], "o-", color="tab:blue", lw=1.8,
            label=f"mean over seeds (up to {n_seeds}; diverged runs at chance)")
    good = final[final["status"] == "ok"]
    ax.plot(good["batch_size"], good["test_accuracy"], ".", color="0.25", ms=5, label="one seed")
    diverged = final[final["status"] == "diverged"]
    if not diverged.empty:
        edge = blended_transform_factory(ax.transData, ax.transAxes)
        ax.plot(diverged["batch_size"], np.full(len(diverged), 0.02), "x", color=DIVERGED_COLOUR, ms=10, mew=2,
                transform=edge, clip_on=False, label=f"diverged ({len(diverged)} of {len(final)} runs)")
    ax.set_xscale("log")
    ax.set_xticks(c["batch_size"])
    ax.set_xticklabels([str(b) for b in c["batch_size"]])
    ax.minorticks_off()
    ax.set_xlabel("batch size B (log scale)")
    ax.set_ylabel("test accuracy after training")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    ax.set_title(f"{title}\n{_setting(final)}" if title else _setting(final), fontsize=9)
    return fig


def plot_gradient_noise(samples: pd.DataFrame, summary: pd.DataFrame, title: str = "", bins: int = 60) -> Figure:
    """Histograms of single-example and batch-mean gradients with their fitted normals."""
    _require(samples, ["sample", "batch_size", "gradient"], "gradient samples")
    _require(summary, ["sample", "batch_size", "mean", "std", "shapiro_w", "ks_distance", "skewness",
                       "excess_kurtosis", "hidden_unit", "output_class", "n"], "gradient-noise summary")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for ax, (kind, tag) in zip(axes, (("single", "(a)"), ("batch", "(b)"))):
        row = summary[summary["sample"] == kind].iloc[0]
        values = samples.loc[samples["sample"] == kind, "gradient"].to_numpy()
        ax.hist(values, bins=bins, density=True, color="tab:blue", alpha=0.6, label=f"{int(row['n'])} samples")
        if row["std"] > 0:
            grid = np.linspace(values.min(), values.max(), 400)
            ax.plot(grid, stats.norm.pdf(grid, row["mean"], row["std"]), color="tab:orange", lw=2,
                    label="normal (sample mean and std)")
        text = (f"Shapiro-Wilk W = {row['shapiro_w']:.3f}\nKS distance = {row['ks_distance']:.3f}\n"
                f"skewness = {row['skewness']:.2f}\nexcess kurtosis = {row['excess_kurtosis']:.2f}")
        ax.text(0.02, 0.97, text, transform=ax.transAxes, va="top", fontsize=8,
                bbox=dict(boxstyle="round", fc="white", alpha=0.8))
        what = "single examples" if kind == "single" else f"batches of B = {int(row['batch_size'])}"
        ax.set_title(f"{tag} {what}")
        ax.set_xlabel("gradient of the cross-entropy" if kind == "single" else "gradient of the batch-mean cross-entropy")
        ax.set_ylabel("density")
        ax.legend(fontsize=8, loc="upper right")
    row = summary.iloc[0]
    weight = f"softmax-layer weight W2[{int(row['hidden_unit'])}, {int(row['output_class'])}] at initialisation"
    fig.suptitle(f"{title}: {weight}" if title else weight, fontsize=10)
    return fig


def plot_variant_accuracy(accuracy: pd.DataFrame, title: str = "") -> Figure:
    """Final test accuracy against batch size, one curve per protocol variant.

    ``accuracy``: the comparison's accuracy table (:func:`bayes_sgd.variants.accuracy_table`:
    every variant's Figure 4 batch-size curve, diverged runs scored at chance), drawn as the
    seed mean with its min-max range; the legend names each variant, its learning rate and how
    many of its runs diverged. The paper variant is drawn in black.
    """
    _require(accuracy, ["variant", "batch_size", "learning_rate", "mean_accuracy", "min_accuracy",
                        "max_accuracy", "n_diverged", "n_seeds"], "plot_variant_accuracy")
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    names = list(dict.fromkeys(accuracy["variant"]))
    colours = plt.get_cmap("tab10")
    for i, name in enumerate(names):
        curve = accuracy.loc[accuracy["variant"] == name].sort_values("batch_size")
        b = curve["batch_size"].to_numpy(dtype=float)
        mean = curve["mean_accuracy"].to_numpy(dtype=float)
        colour = "black" if name == "paper" else colours(i % 10)
        eps = ", ".join(f"{x:g}" for x in sorted(set(curve["learning_rate"])))
        diverged = int(curve["n_diverged"].sum())
        label = f"{name} (eps = {eps}; {diverged}/{int(curve['n_seeds'].sum())} runs diverged)"
        ax.errorbar(
            b, mean, yerr=[mean - curve["min_accuracy"].to_numpy(dtype=float), curve["max_accuracy"].to_numpy(dtype=float) - mean],
            marker="o", ms=4, capsize=2, lw=2.0 if name == "paper" else 1.2, color=colour, label=label,
        )
    ax.set_xscale("log")
    ax.set_xlabel("batch size B")
    ax.set_ylabel("final test accuracy (seed mean, min-max)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    ax.set_title(title or "Test accuracy against B under each protocol variant", fontsize=10)
    fig.tight_layout()
    return fig
