"""Synthetic tables for the unit tests: the final rows (one per run) of a batch-size curve whose
test accuracy is a parabola in log B, as bayes_sgd.training.run_tables.final_evaluations writes
them (the columns the curve, optimum and claim functions read), and the optima and fits tables of
a scaling sweep."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from bayes_sgd.scaling.fits import sweep_fits as analysis_sweep_fits


def log_parabola_final(
    b_star: float,
    *,
    grid: Sequence[int],
    seeds: Sequence[int],
    peak: float,
    curvature: float,
    noise: float = 0.0,
    rng: np.random.Generator | None = None,
    fail_below: int | None = None,
    dataset: str = "synthetic",
    n_train: int = 1000,
    learning_rate: float = 1.0,
    momentum: float = 0.9,
    l2: float = 0.0,
    steps: int = 10000,
) -> pd.DataFrame:
    """One row per batch size of ``grid`` and seed: test accuracy = peak - curvature (log B -
    log b_star)^2, plus N(0, noise) drawn from ``rng`` when noise > 0; status 'diverged' at
    B <= fail_below (the accuracy is kept: the curve functions score a diverged run at chance)."""
    if noise and rng is None:
        raise ValueError("noise > 0 needs an rng")
    rows = []
    for b in grid:
        for s in seeds:
            accuracy = peak - curvature * (np.log(b) - np.log(b_star)) ** 2
            if noise:
                accuracy += rng.normal(0.0, noise)
            rows.append(
                dict(
                    dataset=dataset,
                    n_train=n_train,
                    learning_rate=learning_rate,
                    momentum=momentum,
                    l2=l2,
                    steps=steps,
                    batch_size=b,
                    seed=s,
                    test_accuracy=float(accuracy),
                    status="diverged" if fail_below is not None and b <= fail_below else "ok",
                )
            )
    return pd.DataFrame(rows)


def sweep_optima(sweep, values, b_opt, *, at_edge=None, best_accuracy=None, best_std=0.001):
    values = np.asarray(values, dtype=float)
    table = pd.DataFrame(
        {
            "learning_rate": 1.0,
            "n_train": 1000,
            "momentum": 0.9,
            sweep: values,
            "b_opt": np.asarray(b_opt, dtype=float),
            "at_grid_edge": np.zeros(values.size, bool) if at_edge is None else np.asarray(at_edge),
            "best_accuracy": 0.95 if best_accuracy is None else np.asarray(best_accuracy, dtype=float),
            "best_accuracy_std": best_std,
        }
    )
    return table


def sweep_fits(sweep, values, b_opt, *, at_edge=None, min_x_values=(None,), n_boot=50):
    """The fits table of a sweep whose curves have optima ``b_opt`` (the analysis's own function),
    with bootstrap replicates that equal the optimum."""
    optima = sweep_optima(sweep, values, b_opt, at_edge=at_edge)
    replicates = pd.DataFrame(
        [
            {"learning_rate": r["learning_rate"], "n_train": r["n_train"], "momentum": r["momentum"],
             "replicate": k, "b_opt": r["b_opt"]}
            for _, r in optima.iterrows()
            for k in range(n_boot)
        ]
    )
    return analysis_sweep_fits(optima, replicates, sweep, confidence=0.95, min_x_values=min_x_values)
