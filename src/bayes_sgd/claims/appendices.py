"""The claims of the appendices: L2 regularisation (Appendix B, Figure 8) and Gaussian minibatch gradients (Appendix C, Figure 9)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from bayes_sgd.claims.batch_size import CURVE_L2, _small_full_gap
from bayes_sgd.claims.registry import (
    DOES_NOT_HOLD,
    HOLDS,
    UNDECIDED,
    ClaimResult,
    ClaimThresholds,
    claim,
    clearly_better_criterion,
    combine_verdicts,
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


def _closeness(value: float, bound: float, standard_error: float) -> str:
    """Is ``|value| <= bound``? HOLDS within by two standard errors, DOES_NOT_HOLD beyond by two,
    else UNDECIDED."""
    if abs(value) + 2 * standard_error <= bound:
        return HOLDS
    if abs(value) - 2 * standard_error > bound:
        return DOES_NOT_HOLD
    return UNDECIDED


def gaussian_closeness(row: pd.Series, t: ClaimThresholds) -> str:
    """Whether a sample is close to Gaussian by the stated effect sizes: |skewness| and |excess
    kurtosis| within ``gaussian_max_skewness`` and ``gaussian_max_excess_kurtosis``, each with its
    large-sample standard error (sqrt(6/n), sqrt(24/n)); :func:`~bayes_sgd.claims.registry.combine_verdicts` of the two."""
    n = float(row["n"])
    return combine_verdicts([
        _closeness(float(row["skewness"]), t.gaussian_max_skewness, math.sqrt(6 / n)),
        _closeness(float(row["excess_kurtosis"]), t.gaussian_max_excess_kurtosis, math.sqrt(24 / n)),
    ])


@claim(
    "minibatch_gradients_gaussian",
    "Fig. 9",
    "Gradients over batches of 30 are close to Gaussian, unlike single-example gradients.",
    inputs=("gradient_noise",),
)
def claim_minibatch_gradients_gaussian(summary: pd.DataFrame | None, t: ClaimThresholds) -> ClaimResult:
    """Figure 9: the batch-B gradients are close to Gaussian by fixed effect sizes (:func:`gaussian_closeness`)
    and the single-example gradients are not.

    ``summary``: the gradient-noise summary of :func:`bayes_sgd.minibatch_gradients.gradient_noise_samples`
    (one row per sample kind, ``"single"`` and ``"batch"``, with ``batch_size``, ``n``, ``skewness``,
    ``excess_kurtosis`` and ``ks_distance``), the same numbers Figure 9 prints. A test of exact
    normality (KS, Shapiro-Wilk) rejects every real distribution at n = 5,000, so the KS distance
    is reported with its 5% Lilliefors critical value (about 0.886 / sqrt(n)) but does not decide.
    """
    cid = "minibatch_gradients_gaussian"
    criterion = (
        f"batch-{t.small_batch_size} gradients close to Gaussian and single-example gradients not: "
        f"close = |skewness| <= {t.gaussian_max_skewness:g} and |excess kurtosis| <= "
        f"{t.gaussian_max_excess_kurtosis:g}, each within by two standard errors (sqrt(6/n), sqrt(24/n)); "
        "beyond by two: not close; else undecided"
    )
    if summary is None or len(summary) == 0:
        return missing(cid, criterion, "no gradient-noise summary")
    kinds = summary.set_index("sample")
    if not {"single", "batch"} <= set(kinds.index) or int(kinds.loc["batch", "batch_size"]) != t.small_batch_size:
        return missing(cid, criterion, f"need gradient samples at B = 1 and B = {t.small_batch_size}")
    single, batch = kinds.loc["single"], kinds.loc["batch"]
    numbers = [float(single[k]) for k in ("skewness", "excess_kurtosis", "ks_distance")]
    numbers += [float(batch[k]) for k in ("skewness", "excess_kurtosis", "ks_distance")]
    if not np.isfinite(numbers).all():
        return missing(cid, criterion, "gradient samples are constant (a weight with no gradient)")

    def describe(row, name):
        return (f"{name}: skewness {float(row['skewness']):.2f}, excess kurtosis {float(row['excess_kurtosis']):.2f}, "
                f"KS {float(row['ks_distance']):.3f} (5% Lilliefors critical {0.886 / math.sqrt(float(row['n'])):.3f}, "
                f"n = {int(row['n'])})")

    batch_close, single_close = gaussian_closeness(batch, t), gaussian_closeness(single, t)
    measured = f"{describe(single, 'single examples')}; {describe(batch, f'B = {t.small_batch_size}')}"
    single_not_close = {HOLDS: DOES_NOT_HOLD, DOES_NOT_HOLD: HOLDS}.get(single_close, single_close)
    return result(cid, criterion, measured, combine_verdicts([batch_close, single_not_close]))
