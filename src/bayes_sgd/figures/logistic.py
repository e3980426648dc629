"""Figures 1 and 2 of the paper (Section 3): logistic regression on random and informative labels.

Both figures are drawn only from the table written by :func:`bayes_sgd.logistic.sweep_lambda`
(one row per label kind and lambda). Panel (a) shows random labels, panel (b) informative
labels; lambda, the prior precision, is on a log axis.

- Figure 1: train and test accuracy versus lambda.
- Figure 2: train and test mean cross-entropy (left axis) and the log evidence ratio
  ``ln P(y|x;M) - ln P(y|x;NULL)`` (right axis; positive = the model beats the null model)
  versus lambda. A dotted vertical line marks the lambda of maximum evidence.

The functions return a :class:`matplotlib.figure.Figure` and write nothing; the workflow saves it.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

PANELS = (("random", "(a) random labels"), ("informative", "(b) informative labels"))

DEFAULT_COLOURS = {"train": "tab:blue", "test": "tab:orange", "evidence": "tab:green"}

EVIDENCE_LABEL = "log evidence ratio ln P(y|M) − ln P(y|NULL)\n(> 0: model beats null model)"

REQUIRED_COLUMNS = (
    "label_kind",
    "lambda",
    "train_accuracy",
    "test_accuracy",
    "train_cross_entropy",
    "test_cross_entropy",
    "log_evidence_ratio",
)


def _panels(fits: pd.DataFrame):
    missing = [c for c in REQUIRED_COLUMNS if c not in fits.columns]
    if missing:
        raise ValueError(f"logistic fits table lacks columns {missing}")
    for kind, title in PANELS:
        rows = fits[fits["label_kind"] == kind].sort_values("lambda")
        if rows.empty:
            raise ValueError(f"logistic fits table has no rows for label kind {kind!r}")
        yield rows, title


def _colours(colours: Mapping[str, str] | None) -> dict[str, str]:
    return {**DEFAULT_COLOURS, **(colours or {})}


def plot_figure_1(fits: pd.DataFrame, colours: Mapping[str, str] | None = None, title: str = "") -> Figure:
    """Figure 1: train and test accuracy versus lambda, (a) random and (b) informative labels."""
    colours = _colours(colours)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True, layout="constrained")
    for ax, (rows, title) in zip(axes, _panels(fits)):
        ax.plot(rows["lambda"], rows["train_accuracy"], "o-", ms=3, color=colours["train"], label="train")
        ax.plot(rows["lambda"], rows["test_accuracy"], "s-", ms=3, color=colours["test"], label="test")
        ax.axhline(0.5, color="0.6", lw=0.8, ls="--", label="chance")
        ax.set_xscale("log")
        ax.set_xlabel("prior precision λ (L2 coefficient)")
        ax.set_title(title)
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("accuracy")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=3)
    if title:
        fig.suptitle(title)
    return fig


def plot_figure_2(fits: pd.DataFrame, colours: Mapping[str, str] | None = None, title: str = "") -> Figure:
    """Figure 2: train/test mean cross-entropy and the log evidence ratio versus lambda."""
    colours = _colours(colours)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), layout="constrained")
    for ax, (rows, title) in zip(axes, _panels(fits)):
        train = ax.plot(
            rows["lambda"], rows["train_cross_entropy"], "o-", ms=3, color=colours["train"], label="train cross-entropy"
        )
        test = ax.plot(
            rows["lambda"], rows["test_cross_entropy"], "s-", ms=3, color=colours["test"], label="test cross-entropy"
        )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("prior precision λ (L2 coefficient)")
        ax.set_ylabel("mean cross-entropy (nats)")
        ax.set_title(title)
        ax.grid(True, which="major", alpha=0.3)

        twin = ax.twinx()
        evidence = twin.plot(
            rows["lambda"], rows["log_evidence_ratio"], "^-", ms=3, color=colours["evidence"], label="log evidence ratio"
        )
        twin.axhline(0.0, color=colours["evidence"], lw=0.8, ls="--")
        best = rows.loc[rows["log_evidence_ratio"].idxmax(), "lambda"]
        marker = twin.axvline(best, color=colours["evidence"], lw=0.8, ls=":", label="λ of maximum evidence")
        twin.set_ylabel(EVIDENCE_LABEL, color=colours["evidence"])
        twin.tick_params(axis="y", colors=colours["evidence"])
        handles = train + test + evidence + [marker]
    fig.legend(handles, [h.get_label() for h in handles], loc="outside lower center", ncols=4)
    if title:
        fig.suptitle(title)
    return fig
