"""Accuracy against batch size: one row per (curve, batch size), from the final rows of runs.


Conventions. A *curve* is one setting of the curve keys (by default dataset, ``n_train``,
``learning_rate``, ``momentum``, ``l2``, ``steps``) swept over ``batch_size`` and ``seed``.
The final rows of runs (one per run) come from :func:`bayes_sgd.training.run_tables.final_evaluations`.
Accuracies are fractions in [0, 1]. Logarithms are natural. **Diverged runs** (``status ==
"diverged"``) are scored at ``diverged_accuracy`` (``scaling.diverged_accuracy``, 0.1 by
default: chance for ten balanced classes), not at the accuracy of their last evaluation, nor
left out. This is the one rule of the whole project: every accuracy-versus-B table
(:func:`batch_size_curves`, for Figures 3, 4, 8 and 5-7 alike), every optimum, every figure
line and every claim uses it: a network whose loss became
non-finite no longer predicts anything, and its last finite evaluation would credit an
unstable run with an accuracy it cannot keep. Pass ``diverged_accuracy=None`` to use the
recorded ``test_accuracy`` instead (it must then be finite). **Curves that never train**
(best seed-mean accuracy at most ``untrained_accuracy``, e.g. every run stuck at chance with
dead ReLUs) get no optimum: their argmax would only pick the luckiest chance-level point.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from bayes_sgd.scaling.noise_scale import noise_scale
from bayes_sgd.sweeps import CURVE_KEYS

#: Columns that identify one accuracy-versus-batch-size curve in the MLP run tables.
DEFAULT_CURVE_KEYS: tuple[str, ...] = CURVE_KEYS

_STATUSES = ("ok", "diverged")


def _require(table: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise KeyError(f"{what}: missing column(s) {missing}; have {list(table.columns)}")


def scored_accuracy(final: pd.DataFrame, *, diverged_accuracy: float | None) -> pd.Series:
    """Test accuracy of each final row, with diverged runs scored at ``diverged_accuracy``.

    ``diverged_accuracy=None`` keeps the recorded accuracy of diverged runs. Raises
    ``ValueError`` on an unknown status or on a non-finite accuracy that would be used.
    """
    _require(final, ["test_accuracy", "status"], "scored_accuracy")
    status = final["status"].astype(str)
    unknown = sorted(set(status) - set(_STATUSES))
    if unknown:
        raise ValueError(f"scored_accuracy: unknown status value(s) {unknown}; expected {_STATUSES}")
    accuracy = final["test_accuracy"].astype(float)
    diverged = status == "diverged"
    if diverged_accuracy is not None:
        accuracy = accuracy.where(~diverged, float(diverged_accuracy))
    if not np.all(np.isfinite(accuracy)):
        bad = final.loc[~np.isfinite(accuracy)]
        raise ValueError(f"scored_accuracy: non-finite test accuracy in {len(bad)} run(s):\n{bad.head()}")
    return accuracy.rename("accuracy")


def _seed_matrices(final: pd.DataFrame, curve_keys: Sequence[str], diverged_accuracy):
    """Yield (key tuple, curve frame, sorted batch sizes, seeds x batch-size accuracy matrix)."""
    keys = list(curve_keys)
    _require(final, [*keys, "batch_size", "seed", "test_accuracy", "status"], "curve analysis")
    table = final.assign(accuracy=scored_accuracy(final, diverged_accuracy=diverged_accuracy))
    if table.duplicated([*keys, "batch_size", "seed"]).any():
        raise ValueError("curve analysis: more than one final row per (curve, batch_size, seed)")
    for key, curve in table.groupby(keys, sort=True, dropna=False):
        matrix = curve.pivot(index="seed", columns="batch_size", values="accuracy").sort_index(axis=1)
        yield key, curve, matrix.columns.to_numpy(dtype=float), matrix.to_numpy(dtype=float)


def batch_size_curves(
    final: pd.DataFrame,
    curve_keys: Sequence[str] = DEFAULT_CURVE_KEYS,
    *,
    diverged_accuracy: float | None,
) -> pd.DataFrame:
    """Seed statistics of test accuracy per (curve, batch size), with the noise scale.

    Input: final rows with ``curve_keys``, ``batch_size``, ``seed``, ``test_accuracy``,
    ``status`` and the columns ``learning_rate``, ``n_train``, ``momentum`` (for ``g``).
    Output, one row per (curve, batch size): ``curve_keys``, ``batch_size``,
    ``mean_accuracy``, ``std_accuracy`` (sample standard deviation over seeds, ddof = 1;
    NaN with a single seed), ``min_accuracy``, ``max_accuracy``, ``n_seeds``, ``n_diverged``
    and ``noise_scale`` (``g`` of the runs, 0 at ``B = N``).
    """
    keys = list(curve_keys)
    _require(final, ["learning_rate", "n_train", "momentum"], "batch_size_curves")
    table = final.assign(
        accuracy=scored_accuracy(final, diverged_accuracy=diverged_accuracy), diverged=final["status"] == "diverged"
    )
    grouped = table.groupby([*keys, "batch_size"], sort=True, dropna=False)
    out = grouped.agg(
        mean_accuracy=("accuracy", "mean"),
        std_accuracy=("accuracy", lambda a: float(np.std(a, ddof=1)) if len(a) > 1 else np.nan),
        min_accuracy=("accuracy", "min"),
        max_accuracy=("accuracy", "max"),
        n_seeds=("seed", "nunique"),
        n_diverged=("diverged", "sum"),
        learning_rate_=("learning_rate", "first"),
        n_train_=("n_train", "first"),
        momentum_=("momentum", "first"),
    ).reset_index()
    out["n_diverged"] = out["n_diverged"].astype("int64")
    out["n_seeds"] = out["n_seeds"].astype("int64")
    out["noise_scale"] = noise_scale(
        out["learning_rate_"], out["n_train_"], out["batch_size"], out["momentum_"]
    )
    return out.drop(columns=["learning_rate_", "n_train_", "momentum_"])
