"""The tables of a training run: its learning curve (one row per evaluation), its final weights,
and the final row of every run of several (what the accuracy-versus-B analysis reads)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from bayes_sgd.training.sgd import TrainingConfig

#: One evaluation: (train accuracy, test accuracy, train cross-entropy, test cross-entropy).
Metrics = tuple[float, float, float, float]


def measure(
    evaluate: Callable[[object, object], tuple[float, float]], finite: bool, train: tuple, test: tuple
) -> Metrics | None:
    """The metrics of one evaluation of a network, or ``None`` when it has diverged.

    ``evaluate(X, y)`` gives (accuracy, mean cross-entropy) of the network on ``X, y``; ``finite``
    says whether every weight is finite. A network with a non-finite weight, or whose training
    cross-entropy is not finite, has diverged (its test set is then not evaluated). Both trainers
    (NumPy and JAX) evaluate through this one function.
    """
    if not finite:
        return None
    train_accuracy, train_ce = evaluate(*train)
    if not math.isfinite(train_ce):
        return None
    test_accuracy, test_ce = evaluate(*test)
    return train_accuracy, test_accuracy, train_ce, test_ce


def curve_row(step: int, metrics: Metrics | None, batch_size: int, n_train: int, seconds: float) -> dict:
    """One row of a learning curve (the evaluation columns of :data:`CURVE_COLUMNS`); ``metrics``
    ``None`` (a diverged network) gives ``nan`` metrics."""
    train_accuracy, test_accuracy, train_ce, test_ce = metrics if metrics is not None else (math.nan,) * 4
    return dict(step=step, epoch=step * batch_size / n_train, train_accuracy=train_accuracy, test_accuracy=test_accuracy,
                train_cross_entropy=train_ce, test_cross_entropy=test_ce, seconds=seconds)


CURVE_COLUMNS = (
    "step",
    "epoch",
    "train_accuracy",
    "test_accuracy",
    "train_cross_entropy",
    "test_cross_entropy",
    "status",
    "diverged_step",
    "seconds",
)


CONFIG_COLUMNS = ("n_train", "learning_rate", "momentum", "batch_size", "l2", "steps", "seed")


WEIGHT_COLUMNS = ("parameter", "velocity")


def weights_table(parameters: np.ndarray, velocity: np.ndarray) -> pd.DataFrame:
    """The final state as a table: float32 columns ``parameter`` (w) and ``velocity`` (v).

    One row per element of the flat parameter vector, in the layout of
    :class:`bayes_sgd.mlp.Architecture`; non-finite values (a diverged run) are kept as they are.
    """
    parameters = np.asarray(parameters)
    velocity = np.asarray(velocity)
    if parameters.ndim != 1 or parameters.shape != velocity.shape:
        raise ValueError(f"parameters {parameters.shape} and velocity {velocity.shape} must be flat and alike")
    return pd.DataFrame(
        {"parameter": parameters.astype(np.float32), "velocity": velocity.astype(np.float32)}
    )


def curve_table(rows: list[dict], diverged_step: int, n_train: int, config: TrainingConfig) -> pd.DataFrame:
    """The curve of one run from its evaluation rows: :data:`CURVE_COLUMNS` + :data:`CONFIG_COLUMNS`."""
    curve = pd.DataFrame(rows)
    curve["status"] = "ok" if diverged_step < 0 else "diverged"
    curve["diverged_step"] = diverged_step
    curve["n_train"] = n_train
    for key in ("learning_rate", "momentum", "batch_size", "l2", "steps", "seed"):
        curve[key] = getattr(config, key)
    curve = curve.astype(
        {"step": "int64", "diverged_step": "int64", "n_train": "int64", "batch_size": "int64",
         "steps": "int64", "seed": "int64", "learning_rate": "float64", "momentum": "float64",
         "l2": "float64"}
    )
    return curve[list(CURVE_COLUMNS + CONFIG_COLUMNS)]


RUN_KEYS = ("dataset", *CONFIG_COLUMNS)


def final_evaluations(runs: pd.DataFrame) -> pd.DataFrame:
    """The last row of every run in ``runs`` (rows of several curves, see :func:`train`).

    That is the row at ``step == steps``, or at ``diverged_step`` for a diverged run (whose
    metrics are then ``nan``). A run is identified by :data:`RUN_KEYS`.
    """
    keys = [k for k in RUN_KEYS if k in runs.columns]
    last = runs.sort_values([*keys, "step"]).groupby(keys, sort=True).tail(1)
    return last.reset_index(drop=True)
