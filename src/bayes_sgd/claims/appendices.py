"""The claims of the appendices: L2 regularisation (Appendix B, Figure 8) and Gaussian minibatch gradients (Appendix C, Figure 9)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayes_sgd.claims.batch_size import CURVE_L2, _small_full_gap
from bayes_sgd.claims.registry import (
    DOES_NOT_HOLD,
    HOLDS,
    ClaimResult,
    ClaimThresholds,
    claim,
    clearly_better_criterion,
    gap_verdict,
    missing,
    result,
)


@claim(
    "l2_closes_the_gap",
    "Fig. 8",
    'With L2 regularisation the gap between small and full batch largely closes.',
    inputs=('figure_3_curves', 'figure_8_curves'),
)
def claim_l2_closes_gap(
    figure_3: pd.DataFrame | None, figure_8: pd.DataFrame | None, t: ClaimThresholds
) -> ClaimResult:
    """Figure 8: gap(B = small minus B = N) with L2 <= fraction x gap without, gap without > 0.

    ``figure_3``, ``figure_8``: the batch-size curves of Figures 3 and 8, together one
    (N, eps, m, steps) setting at ``l2 == 0`` and at one or more ``l2 > 0`` (the largest is
    used).
    """
    present = [c for c in (figure_3, figure_8) if c is not None and len(c)]
    curves = pd.concat(present, ignore_index=True) if present else None
    cid = "l2_closes_the_gap"
    criterion = (
        f"gap without L2 clearly > 0 and gap with L2 <= {t.l2_gap_fraction:g} x gap without "
        f"(gap = mean accuracy at B = {t.small_batch_size} minus at B = N; a gap without L2 within "
        "the noise: undecided, there is no gap to close or not; " + clearly_better_criterion(t) + ")"
    )
    if curves is None or len(curves) == 0:
        return missing(cid, criterion, "no curves with and without L2")
    l2 = curves[CURVE_L2].astype(float)
    if not (l2 == 0).any() or not (l2 > 0).any():
        return missing(cid, criterion, "need curves at l2 = 0 and at l2 > 0")
    with_l2 = float(l2.max())
    without = _small_full_gap(curves.loc[l2 == 0], t)
    regular = _small_full_gap(curves.loc[l2 == with_l2], t)
    if without is None or regular is None:
        return missing(cid, criterion, f"B = {t.small_batch_size} or B = N missing at some l2")
    (gap0, bar0, _), gapl2 = without, regular[0]
    measured = f"gap without L2 {100 * gap0:+.1f} points, with l2 = {with_l2:g}: {100 * gapl2:+.1f} points"
    there_is_a_gap = gap_verdict(gap0, bar0)
    if there_is_a_gap != HOLDS:
        return result(cid, criterion, measured, there_is_a_gap)
    return result(cid, criterion, measured, HOLDS if gapl2 <= t.l2_gap_fraction * gap0 else DOES_NOT_HOLD)


@claim(
    "minibatch_gradients_gaussian",
    "Fig. 9",
    "Gradients over batches of 30 are close to Gaussian, unlike single-example gradients.",
    inputs=("gradient_noise",),
)
def claim_minibatch_gradients_gaussian(summary: pd.DataFrame | None, t: ClaimThresholds) -> ClaimResult:
    """Figure 9: KS distance to a Gaussian of batch-B gradients <= ratio x that of single examples.

    ``summary``: the gradient-noise summary of :func:`bayes_sgd.minibatch_gradients.gradient_noise_samples`
    (one row per sample kind, ``"single"`` and ``"batch"``, with ``batch_size``, ``n`` and
    ``ks_distance``, the Kolmogorov-Smirnov distance to the normal of the sample's mean and
    standard deviation), the same numbers Figure 9 prints.
    """
    cid = "minibatch_gradients_gaussian"
    criterion = (
        f"KS distance to the fitted Gaussian of batch-{t.small_batch_size} gradients <= "
        f"{t.gaussian_ratio:g} x that of single-example gradients"
    )
    if summary is None or len(summary) == 0:
        return missing(cid, criterion, "no gradient-noise summary")
    kinds = summary.set_index("sample")
    if not {"single", "batch"} <= set(kinds.index) or int(kinds.loc["batch", "batch_size"]) != t.small_batch_size:
        return missing(cid, criterion, f"need gradient samples at B = 1 and B = {t.small_batch_size}")
    single, batch = kinds.loc["single"], kinds.loc["batch"]
    d1, db = float(single["ks_distance"]), float(batch["ks_distance"])
    if not (np.isfinite(d1) and np.isfinite(db)):
        return missing(cid, criterion, "gradient samples are constant (a weight with no gradient)")
    measured = (
        f"KS distance: single examples {d1:.3f} (n = {int(single['n'])}), "
        f"B = {t.small_batch_size}: {db:.3f} (n = {int(batch['n'])})"
    )
    return result(cid, criterion, measured, HOLDS if db <= t.gaussian_ratio * d1 else DOES_NOT_HOLD)
