"""The claims of Figures 3-4 (paper Section 4): small batches against full batch, and the optimum batch size."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayes_sgd.claims.formatting import percent
from bayes_sgd.claims.registry import (
    DOES_NOT_HOLD,
    HOLDS,
    ClaimResult,
    ClaimThresholds,
    claim,
    clearly_better_criterion,
    combine_verdicts,
    gap_verdict,
    missing,
    result,
    spread,
)


#: Columns of the accuracy-versus-B tables (rule collect_sgd_runs; bayes_sgd.scaling.curves).
CURVE_BATCH_SIZE = "batch_size"
CURVE_MEAN = "mean_accuracy"
CURVE_STD = "std_accuracy"
CURVE_N_SEEDS = "n_seeds"
CURVE_N_DIVERGED = "n_diverged"
CURVE_N_TRAIN = "n_train"
CURVE_L2 = "l2"


def _check_single_curve(curve: pd.DataFrame) -> None:
    """Refuse a table that holds more than one curve (a batch size twice)."""
    if curve[CURVE_BATCH_SIZE].duplicated().any():
        raise ValueError("claims: expected one batch-size curve, got repeated batch sizes")


def _at_batch(curve: pd.DataFrame, batch_size: float) -> pd.Series | None:
    rows = curve.loc[np.isclose(curve[CURVE_BATCH_SIZE].to_numpy(dtype=float), float(batch_size))]
    return rows.iloc[0] if len(rows) else None


def _small_full_gap(curve: pd.DataFrame, t: ClaimThresholds):
    """(gap, bar, text) of mean accuracy at B = small minus B = N, or None if either is missing."""
    _check_single_curve(curve)
    n_train = float(curve[CURVE_N_TRAIN].iloc[0])
    small, full = _at_batch(curve, t.small_batch_size), _at_batch(curve, n_train)
    if small is None or full is None:
        return None
    gap = float(small[CURVE_MEAN] - full[CURVE_MEAN])
    bar = max(spread(small[CURVE_STD], full[CURVE_STD]), t.min_gap)
    text = (
        f"B = {t.small_batch_size}: {percent(small[CURVE_MEAN])}, B = N = {n_train:g}: {percent(full[CURVE_MEAN])} "
        f"(gap {100 * gap:+.1f} points, {int(small[CURVE_N_SEEDS])}/{int(full[CURVE_N_SEEDS])} seeds)"
    )
    return gap, bar, text


@claim(
    "small_batch_beats_full_batch",
    "Fig. 3",
    'Small batches (B = 30) end clearly better than full batch (B = N) after 10,000 updates.',
    inputs=('figure_3_curves',),
)
def claim_small_batch_beats_full_batch(curve: pd.DataFrame | None, t: ClaimThresholds) -> ClaimResult:
    """Figure 3: mean accuracy at B = small clearly above B = N, on Figure 3's own curve."""
    cid = "small_batch_beats_full_batch"
    criterion = (
        f"B = {t.small_batch_size} clearly better than B = N (clearly worse: does not hold; within the "
        "noise: undecided); " + clearly_better_criterion(t)
    )
    if curve is None or len(curve) == 0:
        return missing(cid, criterion, "no batch-size curve")
    found = _small_full_gap(curve, t)
    if found is None:
        return missing(cid, criterion, f"grid lacks B = {t.small_batch_size} or B = N")
    gap, bar, text = found
    return result(cid, criterion, text, gap_verdict(gap, bar))


@claim(
    "interior_optimum_batch_size",
    "Fig. 4",
    'Test accuracy has an interior optimum in the batch size.',
    inputs=('figure_4_curves',),
)
def claim_interior_optimum(curve: pd.DataFrame | None, t: ClaimThresholds) -> ClaimResult:
    """Figure 4: the best grid B is strictly inside the grid and clearly better than both ends."""
    cid = "interior_optimum_batch_size"
    criterion = (
        "best grid B strictly inside the grid and clearly better than both ends (does not hold if an "
        "end is clearly better than every interior B; undecided if the best interior B and an end "
        "are within the noise of each other); " + clearly_better_criterion(t)
    )
    if curve is None or len(curve) < 3:
        return missing(cid, criterion, "fewer than three batch sizes")
    _check_single_curve(curve)
    curve = curve.sort_values(CURVE_BATCH_SIZE).reset_index(drop=True)
    best = int(curve[CURVE_MEAN].to_numpy().argmax())
    b = curve[CURVE_BATCH_SIZE]
    first, last, top = curve.iloc[0], curve.iloc[-1], curve.iloc[best]
    measured = (
        f"best B = {b.iloc[best]:g} ({percent(top[CURVE_MEAN])}); B = {b.iloc[0]:g}: {percent(first[CURVE_MEAN])}, "
        f"B = {b.iloc[-1]:g}: {percent(last[CURVE_MEAN])}"
    )
    # the best interior B against each end: clearly above both holds, clearly below one does not
    interior = curve.iloc[1:-1]
    inner = interior.loc[interior[CURVE_MEAN].idxmax()]
    verdict = combine_verdicts([
        gap_verdict(float(inner[CURVE_MEAN] - end[CURVE_MEAN]), max(spread(inner[CURVE_STD], end[CURVE_STD]), t.min_gap))
        for end in (first, last)
    ])
    if best in (0, len(curve) - 1):
        measured += f" (optimum at the grid edge; best interior B = {inner[CURVE_BATCH_SIZE]:g}: {percent(inner[CURVE_MEAN])})"
    return result(cid, criterion, measured, verdict)


@claim(
    "small_batches_fail",
    "Fig. 4",
    'Batch sizes of about 10 or less fail to train at eps = 1, m = 0.9.',
    inputs=('figure_4_curves',),
)
def claim_small_batches_fail(curve: pd.DataFrame | None, t: ClaimThresholds) -> ClaimResult:
    """Figure 4: every grid B <= failure_batch_size is at least failure_gap below the best, and
    the next grid B above it trains (less than failure_gap below the best): the edge of training
    sits at about failure_batch_size, as the paper's figure shows, not anywhere above it.

    ``curve``: Figure 4's batch-size curve (:func:`bayes_sgd.scaling.noise_scale.batch_size_curves`,
    diverged runs scored at ``scaling.diverged_accuracy``), the rows Figure 4 draws.
    """
    cid = "small_batches_fail"
    criterion = (
        f"every grid B <= {t.failure_batch_size}: mean test accuracy at least "
        f"{100 * t.failure_gap:.0f} points below the curve's best, and the next grid B above "
        f"{t.failure_batch_size} less than that below it (it trains: the edge is at about "
        f"{t.failure_batch_size}); diverged runs scored at scaling.diverged_accuracy"
    )
    if curve is None or len(curve) == 0:
        return missing(cid, criterion, "no batch-size curve")
    _check_single_curve(curve)
    curve = curve.sort_values(CURVE_BATCH_SIZE)
    small = curve.loc[curve[CURVE_BATCH_SIZE] <= t.failure_batch_size]
    above = curve.loc[curve[CURVE_BATCH_SIZE] > t.failure_batch_size]
    if len(small) == 0:
        return missing(cid, criterion, f"no grid batch size <= {t.failure_batch_size}")
    if len(above) == 0:
        return missing(cid, criterion, f"no grid batch size above {t.failure_batch_size}")
    best = float(curve[CURVE_MEAN].max())
    fails = (best - small[CURVE_MEAN]) >= t.failure_gap
    nxt = above.iloc[0]
    trains = best - float(nxt[CURVE_MEAN]) < t.failure_gap
    # a curve within failure_gap of its best everywhere has no edge: nothing above B trains either
    flat = best - float(curve[CURVE_MEAN].min()) < t.failure_gap
    label = "the curve is flat: no grid B trains" if flat else ("trains" if trains else "fails too")
    parts = [
        f"B = {r[CURVE_BATCH_SIZE]:g}: {percent(r[CURVE_MEAN])} "
        f"({int(r[CURVE_N_DIVERGED])}/{int(r[CURVE_N_SEEDS])} diverged)"
        for _, r in small.iterrows()
    ]
    measured = (
        f"best {percent(best)}; " + ", ".join(parts)
        + f"; next B = {nxt[CURVE_BATCH_SIZE]:g}: {percent(nxt[CURVE_MEAN])} ({label})"
    )
    return result(cid, criterion, measured, HOLDS if bool(fails.all()) and trains and not flat else DOES_NOT_HOLD)
