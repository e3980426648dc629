"""The claims of Figures 5-7 (paper Section 5): the scaling rules of the optimum batch size."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayes_sgd.claims.formatting import percent
from bayes_sgd.claims.registry import (
    DOES_NOT_HOLD,
    ClaimResult,
    ClaimThresholds,
    claim,
    clearly_better_criterion,
    combine_verdicts,
    gap_verdict,
    interval_verdict,
    missing,
    result,
    spread,
)
from bayes_sgd.sweeps import get_sweep


#: Columns of the optima tables (rule analyse_scaling_sweep; bayes_sgd.scaling.optimum).
OPTIMA_BEST_ACCURACY = "best_accuracy"
OPTIMA_BEST_STD = "best_accuracy_std"
OPTIMA_LEARNING_RATE = "learning_rate"


def _fit_row(fits: pd.DataFrame, min_x: float | None) -> pd.Series | None:
    """The Student-t fit of region ``min_x`` (None: every interior optimum) in a fits table."""
    bound = fits["min_x"].to_numpy(dtype=float)
    region = np.isnan(bound) if min_x is None else np.isclose(bound, float(min_x))
    rows = fits.loc[region & (fits["method"] == "t").to_numpy()]
    return rows.iloc[0] if len(rows) else None


def slope_result(
    cid: str, sweep: str, fits: pd.DataFrame | None, t: ClaimThresholds, *, slope: float = 1.0, min_x=None,
    min_span: float = 0.0,
) -> ClaimResult:
    """The log-log slope of the interior optima b_opt against the sweep's x, judged by its
    t-interval against ``slope`` +- tol (:func:`~bayes_sgd.claims.registry.interval_verdict`:
    inside holds, wholly outside does not hold, straddling is undecided); read from the sweep's
    fits table (:func:`bayes_sgd.scaling.fits.sweep_fits`), the fit over ``x >= min_x`` where a
    bound is given. The optima must span a factor of at least ``min_fit_span`` and ``min_span``
    (the claim's own range, e.g. Figure 5b's two decades).

    ``slope = 1`` is the paper's proportionality (every scaling-rule claim); the diagnosis
    (:mod:`bayes_sgd.diagnosis`) also asks ``slope = 0``, B_opt independent of x.
    """
    label = get_sweep(sweep).x_symbol
    region = f" over {label} >= {min_x:g}" if min_x is not None else ""
    row = None if fits is None or len(fits) == 0 else _fit_row(fits, min_x)
    level = f"{100 * float(row['confidence']):g}% " if row is not None and np.isfinite(row["confidence"]) else ""
    lower, upper = slope - t.slope_tolerance, slope + t.slope_tolerance
    need_span = max(float(t.min_fit_span), float(min_span))
    criterion = (
        f"log-log OLS slope of refined B_opt against {label}{region} (interior optima only, >= "
        f"{t.min_fit_points} of them, spanning a factor >= {need_span:g}): holds if its "
        f"{level}t-interval lies within {slope:g} +- {t.slope_tolerance:g} ([{lower:g}, {upper:g}]), does not hold "
        "if it lies wholly outside, undecided if it straddles a bound"
    )
    if fits is None or len(fits) == 0:
        return missing(cid, criterion, "no fits table for this sweep")
    if row is None:
        return missing(cid, criterion, f"the fits table has no fit{region}")
    n_points = int(row["n_points"])
    note = f"; excluded: {row['excluded']}" if row["excluded"] else ""
    span = float(row["x_max"] / row["x_min"]) if n_points and np.isfinite(row["x_min"]) else 0.0
    if not row["fitted"] or n_points < t.min_fit_points or span < need_span:
        return missing(
            cid, criterion, f"{n_points} usable optima of {int(row['n_optima'])}, spanning a factor {span:.3g}{note}"
        )
    measured = (
        f"slope {row['slope']:.2f} [{row['slope_low']:.2f}, {row['slope_high']:.2f}] from {n_points} optima, "
        f"{label} from {row['x_min']:g} to {row['x_max']:g}{note}"
    )
    verdict = interval_verdict(float(row["slope_low"]), float(row["slope_high"]), lower, upper)
    return result(cid, criterion, measured, verdict)


def _claim_proportional(
    cid: str, sweep: str, fits: pd.DataFrame | None, t: ClaimThresholds, min_x=None, min_span: float = 0.0
) -> ClaimResult:
    """The paper's proportionality B_opt ~ x: :func:`slope_result` at slope 1."""
    return slope_result(cid, sweep, fits, t, slope=1.0, min_x=min_x, min_span=min_span)


@claim(
    "optimum_proportional_to_learning_rate",
    "Fig. 5b",
    "B_opt is proportional to the learning rate eps (over two orders of magnitude).",
    inputs=("learning_rate_fits",),
)
def claim_optimum_proportional_to_learning_rate(fits: pd.DataFrame | None, t: ClaimThresholds) -> ClaimResult:
    """Figure 5b: B_opt proportional to eps, over at least ``learning_rate_min_span`` of eps (the
    paper's two orders of magnitude): the sweep's grids are spaced at equal noise scale, so over a
    narrower span a failure edge or a flat top gives slope 1 by construction."""
    return _claim_proportional(
        "optimum_proportional_to_learning_rate", "learning_rate", fits, t, min_span=t.learning_rate_min_span
    )


@claim(
    "peak_accuracy_falls_at_large_learning_rate",
    "Fig. 5a",
    'The peak test accuracy drops once eps is above about 3.',
    inputs=('learning_rate_optima',),
)
def claim_peak_accuracy_falls(optima: pd.DataFrame | None, t: ClaimThresholds) -> ClaimResult:
    """Figure 5a: the peak accuracy holds up to eps of about ``stable`` and drops above it.

    Holds if every eps > stable has a peak clearly below the best peak at eps <= stable, and the
    largest eps <= stable still trains (its peak less than ``failure_gap`` below that best): the
    drop is at about ``stable``, not below it. The peak of a curve is its best seed-mean accuracy
    on the grid (``best_accuracy``).
    """
    cid = "peak_accuracy_falls_at_large_learning_rate"
    criterion = (
        f"best seed-mean accuracy of every curve with eps > {t.stable_learning_rate:g} "
        "clearly below the best "
        f"among eps <= {t.stable_learning_rate:g} (undecided if one is within the noise of it, does "
        "not hold if one is clearly above), and the largest eps <= "
        f"{t.stable_learning_rate:g} still trains (its peak less than {100 * t.failure_gap:.0f} points "
        "below that best); " + clearly_better_criterion(t)
    )
    if optima is None or len(optima) == 0:
        return missing(cid, criterion, "no optimum table for the learning-rate sweep")
    eps = optima[OPTIMA_LEARNING_RATE].astype(float)
    low, high = optima.loc[eps <= t.stable_learning_rate], optima.loc[eps > t.stable_learning_rate]
    if len(low) == 0 or len(high) == 0:
        return missing(cid, criterion, f"need learning rates on both sides of {t.stable_learning_rate:g}")
    ref = low.loc[low[OPTIMA_BEST_ACCURACY].idxmax()]
    edge = low.loc[low[OPTIMA_LEARNING_RATE].astype(float).idxmax()]  # the largest stable eps
    edge_trains = float(ref[OPTIMA_BEST_ACCURACY] - edge[OPTIMA_BEST_ACCURACY]) < t.failure_gap
    verdict = DOES_NOT_HOLD if not edge_trains else combine_verdicts([
        gap_verdict(
            float(ref[OPTIMA_BEST_ACCURACY] - r[OPTIMA_BEST_ACCURACY]),
            max(spread(ref[OPTIMA_BEST_STD], r[OPTIMA_BEST_STD]), t.min_gap),
        )
        for _, r in high.iterrows()
    ])
    parts = ", ".join(
        f"eps = {r[OPTIMA_LEARNING_RATE]:g}: {percent(r[OPTIMA_BEST_ACCURACY])}"
        for _, r in high.sort_values(OPTIMA_LEARNING_RATE).iterrows()
    )
    measured = (
        f"best peak at eps <= {t.stable_learning_rate:g}: {percent(ref[OPTIMA_BEST_ACCURACY])} "
        f"(eps = {ref[OPTIMA_LEARNING_RATE]:g}); largest eps <= {t.stable_learning_rate:g}: "
        f"eps = {edge[OPTIMA_LEARNING_RATE]:g}, {percent(edge[OPTIMA_BEST_ACCURACY])} "
        f"({'trains' if edge_trains else 'fails to train'}); {parts}"
    )
    return result(cid, criterion, measured, verdict)




@claim(
    "optimum_proportional_to_training_set_size",
    "Fig. 6b",
    "B_opt is proportional to the training set size N once N is above about 20,000.",
    inputs=("n_train_fits",),
)
def claim_optimum_proportional_to_training_set_size(fits: pd.DataFrame | None, t: ClaimThresholds) -> ClaimResult:
    """Figure 6b: B_opt proportional to N, for N >= n_train_min only (the fit over that region)."""
    return _claim_proportional(
        "optimum_proportional_to_training_set_size", "n_train", fits, t, min_x=t.n_train_min
    )


@claim(
    "optimum_proportional_to_inverse_one_minus_momentum",
    "Fig. 7b",
    "B_opt is proportional to 1/(1 - m).",
    inputs=("momentum_fits",),
)
def claim_optimum_proportional_to_inverse_one_minus_momentum(
    fits: pd.DataFrame | None, t: ClaimThresholds
) -> ClaimResult:
    """Figure 7b: B_opt proportional to 1/(1-m)."""
    return _claim_proportional("optimum_proportional_to_inverse_one_minus_momentum", "momentum", fits, t)
