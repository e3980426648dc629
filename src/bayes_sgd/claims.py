"""Verdicts on the paper's claims, for the claims report (``results/summary.md``).

Each claim of Smith & Le (2018) that this project measures has an id, the paper's statement,
an explicit criterion with numeric thresholds (:class:`ClaimThresholds`, configurable), and a
function from the computed tables to a :class:`ClaimResult`: the measured value as text and a
verdict, one of

* ``"holds"``: the criterion is met;
* ``"does not hold"``: it was measured and the criterion is not met;
* ``"not measured in this configuration"``: an input table is missing, or the configuration
  does not reach the claim's regime (e.g. no ``N`` above 20,000 on the 5,000-image dataset,
  or too few usable optima for a fit).

"Clearly better" is used throughout in one sense: a difference in mean test accuracy larger
than every seed standard deviation involved and than ``min_gap`` (which is the only bar with
a single seed). Accuracies are fractions in [0, 1].

Input tables (column names are collected in the block below so that they can be adapted):

* ``logistic``: one row per (label kind, lambda) of the logistic-regression sweep (paper
  Section 3): label kind, lambda, train/test accuracy, mean train/test cross-entropy and the
  log evidence ratio ``ln P(y|x;M) - ln P(y|x;NULL)`` (positive: the model beats the null).
* curve tables: :func:`bayes_sgd.noise_scale.batch_size_curves` output (``batch_size``,
  ``mean_accuracy``, ``std_accuracy``, ``n_seeds``, ``n_diverged`` plus the curve keys).
* optimum tables: :func:`bayes_sgd.noise_scale.optimum_batch_sizes` output restricted to one
  sweep (:func:`bayes_sgd.noise_scale.select_sweep`).
* ``gradients``: samples of one softmax-layer weight's gradient at initialisation (Appendix C):
  a batch-size column and a gradient-value column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd
from scipy import stats

from bayes_sgd import noise_scale as ns

# ---- Column names of the input tables (the one place to adapt them) ------------------------
LOGISTIC_LABEL_KIND = "label_kind"
LOGISTIC_RANDOM = "random"
LOGISTIC_INFORMATIVE = "informative"
LOGISTIC_LAMBDA = "lambda"
LOGISTIC_TRAIN_ACCURACY = "train_accuracy"
LOGISTIC_TEST_ACCURACY = "test_accuracy"
LOGISTIC_TEST_CROSS_ENTROPY = "test_cross_entropy"
LOGISTIC_EVIDENCE = "log_evidence_ratio"

CURVE_BATCH_SIZE = "batch_size"
CURVE_MEAN = "mean_accuracy"
CURVE_STD = "std_accuracy"
CURVE_N_SEEDS = "n_seeds"
CURVE_N_DIVERGED = "n_diverged"
CURVE_N_TRAIN = "n_train"
CURVE_L2 = "l2"

OPTIMA_BEST_ACCURACY = "best_accuracy"
OPTIMA_BEST_STD = "best_accuracy_std"
OPTIMA_LEARNING_RATE = "learning_rate"

GRADIENT_BATCH_SIZE = "batch_size"
GRADIENT_VALUE = "gradient"
# ---------------------------------------------------------------------------------------------

HOLDS = "holds"
DOES_NOT_HOLD = "does not hold"
NOT_MEASURED = "not measured in this configuration"
VERDICTS = (HOLDS, DOES_NOT_HOLD, NOT_MEASURED)


def _threshold(default, meaning: str):
    return field(default=default, metadata={"meaning": meaning})


@dataclass(frozen=True)
class ClaimThresholds:
    """Every number a verdict depends on (all configurable; printed in the report)."""

    memorise_train_accuracy: float = _threshold(
        0.99,
        "Random labels: train accuracy at the weakest lambda at least this (paper: 100%).",
    )
    binary_chance: float = _threshold(
        0.5,
        "Chance accuracy of the two-class logistic task.",
    )
    chance_tolerance: float = _threshold(
        0.05,
        "Random labels: test accuracy within this of chance at the weakest lambda.",
    )
    generalise_test_accuracy: float = _threshold(
        0.95,
        "Informative labels: test accuracy at the evidence-maximising lambda at least this.",
    )
    evidence_margin_nats: float = _threshold(
        1.0,
        "Bayes factor bar, in nats: 'the model is preferred' means max_lambda ratio > "
        "+margin; 'the null is preferred' means no lambda gives the model more than +margin.",
    )
    min_spearman: float = _threshold(
        0.5,
        "Evidence tracks test cross-entropy: Spearman correlation of the log evidence ratio "
        "with minus the test cross-entropy across lambda at least this, for each label kind.",
    )
    min_gap: float = _threshold(
        0.005,
        "Smallest accuracy difference (fraction) that counts as 'clearly better'.",
    )
    small_batch_size: int = _threshold(
        30,
        "The small batch of Figures 3, 8 and 9.",
    )
    failure_batch_size: int = _threshold(
        10,
        "Figure 4: every grid B <= this must fail to train.",
    )
    failure_gap: float = _threshold(
        0.10,
        "'Fails to train': mean test accuracy at least this far below the curve's best.",
    )
    slope_tolerance: float = _threshold(
        0.5,
        "Proportionality: fitted log-log slope within 1 +- this, with its interval above 0.",
    )
    min_fit_points: int = _threshold(
        3,
        "Fewest usable (interior) optima for a scaling-rule fit; fewer: not measured.",
    )
    min_fit_span: float = _threshold(
        2.5,
        "Smallest ratio x_max / x_min of the usable optima for a scaling-rule fit; narrower: "
        "not measured (the N rule on full MNIST can span at most 20,000 to 60,000, a factor 3).",
    )
    n_train_min: float = _threshold(
        20000,
        "The paper's B_opt ~ N holds only for N above about this.",
    )
    stable_learning_rate: float = _threshold(
        3.0,
        "Peak accuracy falls for learning rates above about this.",
    )
    l2_gap_fraction: float = _threshold(
        0.5,
        "L2 closes the gap: small-minus-full-batch gap with L2 at most this fraction of the "
        "gap without it.",
    )
    gaussian_ratio: float = _threshold(
        1.0,
        "Batch gradients closer to Gaussian: KS distance of batch-B gradients at most this "
        "times that of single-example gradients.",
    )


@dataclass(frozen=True)
class ClaimResult:
    """One line of the claims report."""

    claim_id: str
    figure: str
    statement: str
    criterion: str
    measured: str
    verdict: str

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {self.verdict!r}")


#: The paper's statements, by claim id, with the figure they come from.
STATEMENTS: dict[str, tuple[str, str]] = {
    "random_labels_memorised": (
        "Fig. 1a",
        "With random labels, weakly regularised logistic regression memorises the training set "
        "(train accuracy -> 100%) while test accuracy stays at chance.",
    ),
    "informative_labels_generalise": (
        "Fig. 1b",
        "With informative labels the model generalises to the test set.",
    ),
    "evidence_prefers_null_random": (
        "Fig. 2a",
        "With random labels the Bayesian evidence prefers the null model.",
    ),
    "evidence_prefers_model_informative": (
        "Fig. 2b",
        "With informative labels the evidence prefers the model over the null model.",
    ),
    "evidence_tracks_test_cross_entropy": (
        "Fig. 2",
        "The evidence tracks the test cross-entropy across the regularisation strength.",
    ),
    "small_batch_beats_full_batch": (
        "Fig. 3",
        "Small batches (B = 30) end clearly better than full batch (B = N) after 10,000 updates.",
    ),
    "interior_optimum_batch_size": (
        "Fig. 4",
        "Test accuracy has an interior optimum in the batch size.",
    ),
    "small_batches_fail": (
        "Fig. 4",
        "Batch sizes of about 10 or less fail to train at eps = 1, m = 0.9.",
    ),
    "optimum_proportional_to_learning_rate": (
        "Fig. 5b",
        "B_opt is proportional to the learning rate eps (over two orders of magnitude).",
    ),
    "peak_accuracy_falls_at_large_learning_rate": (
        "Fig. 5a",
        "The peak test accuracy drops once eps is above about 3.",
    ),
    "optimum_proportional_to_training_set_size": (
        "Fig. 6b",
        "B_opt is proportional to the training set size N once N is above about 20,000.",
    ),
    "optimum_proportional_to_inverse_one_minus_momentum": (
        "Fig. 7b",
        "B_opt is proportional to 1/(1 - m).",
    ),
    "l2_closes_the_gap": (
        "Fig. 8",
        "With L2 regularisation the gap between small and full batch largely closes.",
    ),
    "minibatch_gradients_gaussian": (
        "Fig. 9",
        "Gradients over batches of 30 are close to Gaussian, unlike single-example gradients.",
    ),
}


def _result(claim_id: str, criterion: str, measured: str, verdict: str) -> ClaimResult:
    figure, statement = STATEMENTS[claim_id]
    return ClaimResult(claim_id, figure, statement, criterion, measured, verdict)


def _missing(claim_id: str, criterion: str, why: str) -> ClaimResult:
    return _result(claim_id, criterion, why, NOT_MEASURED)


def _pct(a: float) -> str:
    return f"{100 * a:.1f}%"


def _g(x: float) -> str:
    return format(float(x), ".3g")


def _spread(*stds: float) -> float:
    """Largest finite seed standard deviation among ``stds`` (0 if none is defined)."""
    finite = [float(s) for s in stds if s is not None and np.isfinite(s)]
    return max(finite, default=0.0)


def _clearly_better(gap: float, bar: float) -> bool:
    return bool(gap > bar)


# --------------------------------------------------------------------------------------------
# Logistic regression (paper Section 3, Figures 1-2)
# --------------------------------------------------------------------------------------------


def _label_kind(logistic: pd.DataFrame | None, kind: str) -> pd.DataFrame | None:
    if logistic is None or len(logistic) == 0:
        return None
    rows = logistic.loc[logistic[LOGISTIC_LABEL_KIND].astype(str) == kind]
    return rows.sort_values(LOGISTIC_LAMBDA).reset_index(drop=True) if len(rows) else None


def claim_random_labels_memorised(logistic: pd.DataFrame | None, t: ClaimThresholds) -> ClaimResult:
    """At the weakest lambda: train accuracy >= bar and |test accuracy - chance| <= tolerance."""
    cid = "random_labels_memorised"
    criterion = (
        f"random labels, weakest lambda: train accuracy >= {_pct(t.memorise_train_accuracy)} and "
        f"|test accuracy - {_pct(t.binary_chance)}| <= {_pct(t.chance_tolerance)}"
    )
    rows = _label_kind(logistic, LOGISTIC_RANDOM)
    if rows is None:
        return _missing(cid, criterion, "no random-label logistic table")
    weakest = rows.iloc[0]
    train, test = float(weakest[LOGISTIC_TRAIN_ACCURACY]), float(weakest[LOGISTIC_TEST_ACCURACY])
    ok = train >= t.memorise_train_accuracy and abs(test - t.binary_chance) <= t.chance_tolerance
    measured = f"lambda = {_g(weakest[LOGISTIC_LAMBDA])}: train {_pct(train)}, test {_pct(test)}"
    return _result(cid, criterion, measured, HOLDS if ok else DOES_NOT_HOLD)


def claim_informative_labels_generalise(logistic: pd.DataFrame | None, t: ClaimThresholds) -> ClaimResult:
    """Test accuracy at the evidence-maximising lambda >= bar (informative labels)."""
    cid = "informative_labels_generalise"
    criterion = (
        "informative labels: test accuracy at the evidence-maximising lambda >= "
        f"{_pct(t.generalise_test_accuracy)}"
    )
    rows = _label_kind(logistic, LOGISTIC_INFORMATIVE)
    if rows is None:
        return _missing(cid, criterion, "no informative-label logistic table")
    best = rows.loc[rows[LOGISTIC_EVIDENCE].idxmax()]
    test = float(best[LOGISTIC_TEST_ACCURACY])
    train = float(best[LOGISTIC_TRAIN_ACCURACY])
    measured = f"lambda = {_g(best[LOGISTIC_LAMBDA])}: test {_pct(test)}, train {_pct(train)}"
    return _result(cid, criterion, measured, HOLDS if test >= t.generalise_test_accuracy else DOES_NOT_HOLD)


def claim_evidence_prefers_null_random(logistic: pd.DataFrame | None, t: ClaimThresholds) -> ClaimResult:
    """Random labels: max over lambda of the log evidence ratio <= +margin.

    The ratio tends to 0 from below as lambda grows (the model then predicts 1/2 like the null
    model), so 'the null is preferred' is read as: no lambda gives the model a Bayes factor
    above exp(margin).
    """
    cid = "evidence_prefers_null_random"
    criterion = (
        "random labels: max over lambda of ln evidence ratio (model - null) <= "
        f"+{_g(t.evidence_margin_nats)} (nats)"
    )
    rows = _label_kind(logistic, LOGISTIC_RANDOM)
    if rows is None:
        return _missing(cid, criterion, "no random-label logistic table")
    best = rows.loc[rows[LOGISTIC_EVIDENCE].idxmax()]
    value = float(best[LOGISTIC_EVIDENCE])
    measured = (
        f"max {_g(value)} nats at lambda = {_g(best[LOGISTIC_LAMBDA])}; "
        f"min {_g(rows[LOGISTIC_EVIDENCE].min())} nats"
    )
    return _result(cid, criterion, measured, HOLDS if value <= t.evidence_margin_nats else DOES_NOT_HOLD)


def claim_evidence_prefers_model_informative(
    logistic: pd.DataFrame | None, t: ClaimThresholds
) -> ClaimResult:
    """Informative labels: max over lambda of the log evidence ratio > +margin."""
    cid = "evidence_prefers_model_informative"
    criterion = (
        "informative labels: max over lambda of ln evidence ratio (model - null) > "
        f"+{_g(t.evidence_margin_nats)} (nats)"
    )
    rows = _label_kind(logistic, LOGISTIC_INFORMATIVE)
    if rows is None:
        return _missing(cid, criterion, "no informative-label logistic table")
    best = rows.loc[rows[LOGISTIC_EVIDENCE].idxmax()]
    value = float(best[LOGISTIC_EVIDENCE])
    measured = f"max {_g(value)} nats at lambda = {_g(best[LOGISTIC_LAMBDA])}"
    return _result(cid, criterion, measured, HOLDS if value > t.evidence_margin_nats else DOES_NOT_HOLD)


def claim_evidence_tracks_test_cross_entropy(
    logistic: pd.DataFrame | None, t: ClaimThresholds
) -> ClaimResult:
    """Spearman rho(log evidence ratio, -test cross-entropy) across lambda >= bar per label kind.

    Also reports the lambda that maximises the evidence and the one that minimises the test
    cross-entropy. Needs at least three lambdas per label kind.
    """
    cid = "evidence_tracks_test_cross_entropy"
    criterion = (
        f"Spearman rank correlation of ln evidence ratio with -(test cross-entropy) across lambda "
        f">= {_g(t.min_spearman)} for every label kind measured"
    )
    parts, rhos = [], []
    for kind in (LOGISTIC_RANDOM, LOGISTIC_INFORMATIVE):
        rows = _label_kind(logistic, kind)
        if rows is None or len(rows) < 3:
            continue
        rho = float(stats.spearmanr(rows[LOGISTIC_EVIDENCE], -rows[LOGISTIC_TEST_CROSS_ENTROPY]).statistic)
        lam_ev = rows.loc[rows[LOGISTIC_EVIDENCE].idxmax(), LOGISTIC_LAMBDA]
        lam_ce = rows.loc[rows[LOGISTIC_TEST_CROSS_ENTROPY].idxmin(), LOGISTIC_LAMBDA]
        parts.append(
            f"{kind}: rho = {rho:.2f} (best evidence at lambda = {_g(lam_ev)}, "
            f"lowest test CE at {_g(lam_ce)})"
        )
        rhos.append(rho)
    if not rhos:
        return _missing(cid, criterion, "no logistic table with at least three lambdas")
    ok = all(np.isfinite(r) and r >= t.min_spearman for r in rhos)
    return _result(cid, criterion, "; ".join(parts), HOLDS if ok else DOES_NOT_HOLD)


# --------------------------------------------------------------------------------------------
# SGD and the optimum batch size (paper Section 4, Figures 3-4 and 8)
# --------------------------------------------------------------------------------------------


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
    bar = max(_spread(small[CURVE_STD], full[CURVE_STD]), t.min_gap)
    text = (
        f"B = {t.small_batch_size}: {_pct(small[CURVE_MEAN])}, B = N = {n_train:g}: {_pct(full[CURVE_MEAN])} "
        f"(gap {100 * gap:+.1f} points, {int(small[CURVE_N_SEEDS])}/{int(full[CURVE_N_SEEDS])} seeds)"
    )
    return gap, bar, text


def _clearly_better_criterion(t: ClaimThresholds) -> str:
    return (
        "'clearly better' = mean accuracy higher by more than every seed std involved and than "
        f"{_pct(t.min_gap)}"
    )


def claim_small_batch_beats_full_batch(curve: pd.DataFrame | None, t: ClaimThresholds) -> ClaimResult:
    """Figure 3: mean accuracy at B = small clearly above B = N (one curve, no L2)."""
    cid = "small_batch_beats_full_batch"
    criterion = f"B = {t.small_batch_size} clearly better than B = N; " + _clearly_better_criterion(t)
    if curve is None or len(curve) == 0:
        return _missing(cid, criterion, "no batch-size curve")
    found = _small_full_gap(curve, t)
    if found is None:
        return _missing(cid, criterion, f"grid lacks B = {t.small_batch_size} or B = N")
    gap, bar, text = found
    return _result(cid, criterion, text, HOLDS if _clearly_better(gap, bar) else DOES_NOT_HOLD)


def claim_interior_optimum(curve: pd.DataFrame | None, t: ClaimThresholds) -> ClaimResult:
    """Figure 4: the best grid B is strictly inside the grid and clearly better than both ends."""
    cid = "interior_optimum_batch_size"
    criterion = (
        "best grid B strictly inside the grid and clearly better than both ends; "
        + _clearly_better_criterion(t)
    )
    if curve is None or len(curve) < 3:
        return _missing(cid, criterion, "fewer than three batch sizes")
    _check_single_curve(curve)
    curve = curve.sort_values(CURVE_BATCH_SIZE).reset_index(drop=True)
    best = int(curve[CURVE_MEAN].to_numpy().argmax())
    b = curve[CURVE_BATCH_SIZE]
    first, last, top = curve.iloc[0], curve.iloc[-1], curve.iloc[best]
    measured = (
        f"best B = {b.iloc[best]:g} ({_pct(top[CURVE_MEAN])}); B = {b.iloc[0]:g}: {_pct(first[CURVE_MEAN])}, "
        f"B = {b.iloc[-1]:g}: {_pct(last[CURVE_MEAN])}"
    )
    if best in (0, len(curve) - 1):
        return _result(cid, criterion, measured + " (optimum at the grid edge)", DOES_NOT_HOLD)
    ok = all(
        _clearly_better(
            float(top[CURVE_MEAN] - end[CURVE_MEAN]), max(_spread(top[CURVE_STD], end[CURVE_STD]), t.min_gap)
        )
        for end in (first, last)
    )
    return _result(cid, criterion, measured, HOLDS if ok else DOES_NOT_HOLD)


def claim_small_batches_fail(curve: pd.DataFrame | None, t: ClaimThresholds) -> ClaimResult:
    """Figure 4: every grid B <= failure_batch_size is at least failure_gap below the best.

    Diverged runs count at the diverged-run score of :mod:`bayes_sgd.noise_scale`.
    """
    cid = "small_batches_fail"
    criterion = (
        f"every grid B <= {t.failure_batch_size}: mean test accuracy at least "
        f"{100 * t.failure_gap:.0f} points "
        f"below the curve's best (diverged runs scored as chance)"
    )
    if curve is None or len(curve) == 0:
        return _missing(cid, criterion, "no batch-size curve")
    _check_single_curve(curve)
    small = curve.loc[curve[CURVE_BATCH_SIZE] <= t.failure_batch_size].sort_values(CURVE_BATCH_SIZE)
    if len(small) == 0:
        return _missing(cid, criterion, f"no grid batch size <= {t.failure_batch_size}")
    best = float(curve[CURVE_MEAN].max())
    fails = (best - small[CURVE_MEAN]) >= t.failure_gap
    parts = [
        f"B = {r[CURVE_BATCH_SIZE]:g}: {_pct(r[CURVE_MEAN])} "
        f"({int(r[CURVE_N_DIVERGED])}/{int(r[CURVE_N_SEEDS])} diverged)"
        for _, r in small.iterrows()
    ]
    measured = f"best {_pct(best)}; " + ", ".join(parts)
    return _result(cid, criterion, measured, HOLDS if bool(fails.all()) else DOES_NOT_HOLD)


def claim_l2_closes_gap(curves: pd.DataFrame | None, t: ClaimThresholds) -> ClaimResult:
    """Figure 8: gap(B = small minus B = N) with L2 <= fraction x gap without, gap without > 0.

    ``curves``: batch-size curves of one (N, eps, m, steps) setting at ``l2 == 0`` and at one
    or more ``l2 > 0`` (the largest is used).
    """
    cid = "l2_closes_the_gap"
    criterion = (
        f"gap without L2 > 0 and gap with L2 <= {t.l2_gap_fraction:g} x gap without "
        f"(gap = mean accuracy at B = {t.small_batch_size} minus at B = N)"
    )
    if curves is None or len(curves) == 0:
        return _missing(cid, criterion, "no curves with and without L2")
    l2 = curves[CURVE_L2].astype(float)
    if not (l2 == 0).any() or not (l2 > 0).any():
        return _missing(cid, criterion, "need curves at l2 = 0 and at l2 > 0")
    with_l2 = float(l2.max())
    without = _small_full_gap(curves.loc[l2 == 0], t)
    regular = _small_full_gap(curves.loc[l2 == with_l2], t)
    if without is None or regular is None:
        return _missing(cid, criterion, f"B = {t.small_batch_size} or B = N missing at some l2")
    gap0, gapl2 = without[0], regular[0]
    measured = f"gap without L2 {100 * gap0:+.1f} points, with l2 = {with_l2:g}: {100 * gapl2:+.1f} points"
    ok = gap0 > 0 and gapl2 <= t.l2_gap_fraction * gap0
    return _result(cid, criterion, measured, HOLDS if ok else DOES_NOT_HOLD)


# --------------------------------------------------------------------------------------------
# Scaling rules (paper Section 5, Figures 5-7)
# --------------------------------------------------------------------------------------------


def _claim_proportional(
    cid: str, sweep: str, optima: pd.DataFrame | None, t: ClaimThresholds, min_x=None
) -> ClaimResult:
    """log-log slope of the interior optima b_opt against the sweep's x within 1 +- tol, interval above 0."""
    label = {"learning_rate": "eps", "n_train": "N", "momentum": "1/(1-m)"}[sweep]
    region = f" over {label} >= {min_x:g}" if min_x is not None else ""
    criterion = (
        f"log-log OLS slope of refined B_opt against {label}{region} (interior optima only, >= "
        f"{t.min_fit_points} of them, spanning a factor >= {t.min_fit_span:g}) "
        f"within 1 +- {t.slope_tolerance:g}, "
        f"95% t-interval of the slope above 0"
    )
    if optima is None or len(optima) == 0:
        return _missing(cid, criterion, "no optimum table for this sweep")
    points = ns.scaling_points(optima, sweep, min_x=min_x)
    used = points.loc[points["used"]]
    excluded = points["excluded_because"].value_counts().drop("", errors="ignore")
    note = "".join(f"; {n} excluded ({why})" for why, n in excluded.items())
    span = float(used["x"].max() / used["x"].min()) if len(used) else 0.0
    if len(used) < t.min_fit_points or used["x"].nunique() < 2 or span < t.min_fit_span:
        return _missing(
            cid, criterion, f"{len(used)} usable optima of {len(points)}, spanning a factor {span:.3g}{note}"
        )
    fit = ns.fit_scaling(points, confidence=0.95, method="t")
    measured = (
        f"slope {fit.slope:.2f} [{fit.slope_low:.2f}, {fit.slope_high:.2f}] from {fit.n_points} optima, "
        f"{label} from {fit.x_min:g} to {fit.x_max:g}{note}"
    )
    ok = abs(fit.slope - 1.0) <= t.slope_tolerance and fit.slope_low > 0
    return _result(cid, criterion, measured, HOLDS if ok else DOES_NOT_HOLD)


def claim_optimum_proportional_to_learning_rate(
    optima: pd.DataFrame | None, t: ClaimThresholds
) -> ClaimResult:
    """Figure 5b: B_opt proportional to eps."""
    return _claim_proportional("optimum_proportional_to_learning_rate", "learning_rate", optima, t)


def claim_optimum_proportional_to_training_set_size(
    optima: pd.DataFrame | None, t: ClaimThresholds
) -> ClaimResult:
    """Figure 6b: B_opt proportional to N, for N >= n_train_min only."""
    return _claim_proportional(
        "optimum_proportional_to_training_set_size", "n_train", optima, t, min_x=t.n_train_min
    )


def claim_optimum_proportional_to_inverse_one_minus_momentum(
    optima: pd.DataFrame | None, t: ClaimThresholds
) -> ClaimResult:
    """Figure 7b: B_opt proportional to 1/(1-m)."""
    return _claim_proportional("optimum_proportional_to_inverse_one_minus_momentum", "momentum", optima, t)


def claim_peak_accuracy_falls(optima: pd.DataFrame | None, t: ClaimThresholds) -> ClaimResult:
    """Figure 5a: every eps > stable has a peak accuracy clearly below the best peak at eps <= stable.

    The peak of a curve is its best seed-mean accuracy on the grid (``best_accuracy``).
    """
    cid = "peak_accuracy_falls_at_large_learning_rate"
    criterion = (
        f"best seed-mean accuracy of every curve with eps > {t.stable_learning_rate:g} "
        "clearly below the best "
        f"among eps <= {t.stable_learning_rate:g}; " + _clearly_better_criterion(t)
    )
    if optima is None or len(optima) == 0:
        return _missing(cid, criterion, "no optimum table for the learning-rate sweep")
    eps = optima[OPTIMA_LEARNING_RATE].astype(float)
    low, high = optima.loc[eps <= t.stable_learning_rate], optima.loc[eps > t.stable_learning_rate]
    if len(low) == 0 or len(high) == 0:
        return _missing(cid, criterion, f"need learning rates on both sides of {t.stable_learning_rate:g}")
    ref = low.loc[low[OPTIMA_BEST_ACCURACY].idxmax()]
    ok = all(
        _clearly_better(
            float(ref[OPTIMA_BEST_ACCURACY] - r[OPTIMA_BEST_ACCURACY]),
            max(_spread(ref[OPTIMA_BEST_STD], r[OPTIMA_BEST_STD]), t.min_gap),
        )
        for _, r in high.iterrows()
    )
    parts = ", ".join(
        f"eps = {r[OPTIMA_LEARNING_RATE]:g}: {_pct(r[OPTIMA_BEST_ACCURACY])}"
        for _, r in high.sort_values(OPTIMA_LEARNING_RATE).iterrows()
    )
    measured = (
        f"best peak at eps <= {t.stable_learning_rate:g}: {_pct(ref[OPTIMA_BEST_ACCURACY])} "
        f"(eps = {ref[OPTIMA_LEARNING_RATE]:g}); {parts}"
    )
    return _result(cid, criterion, measured, HOLDS if ok else DOES_NOT_HOLD)


# --------------------------------------------------------------------------------------------
# Gaussian minibatch gradients (Appendix C, Figure 9)
# --------------------------------------------------------------------------------------------


def normality_distance(values) -> float:
    """Kolmogorov-Smirnov distance between standardised ``values`` and the standard normal.

    ``sup_x |F_n(x) - Phi(x)|`` after subtracting the sample mean and dividing by the sample
    standard deviation (the Lilliefors statistic): 0 for a perfectly Gaussian sample shape, up
    to 1. NaN if the values are constant (a gradient that is identically zero).
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    sd = v.std(ddof=1) if v.size > 1 else 0.0
    if sd == 0:
        return np.nan
    return float(stats.kstest((v - v.mean()) / sd, "norm").statistic)


def claim_minibatch_gradients_gaussian(gradients: pd.DataFrame | None, t: ClaimThresholds) -> ClaimResult:
    """Figure 9: KS distance to a Gaussian of batch-B gradients <= ratio x that of single examples."""
    cid = "minibatch_gradients_gaussian"
    criterion = (
        f"KS distance to the fitted Gaussian of batch-{t.small_batch_size} gradients <= "
        f"{t.gaussian_ratio:g} x that of single-example gradients"
    )
    if gradients is None or len(gradients) == 0:
        return _missing(cid, criterion, "no gradient-sample table")
    size = gradients[GRADIENT_BATCH_SIZE].astype(float)
    single = gradients.loc[size == 1, GRADIENT_VALUE]
    batch = gradients.loc[size == t.small_batch_size, GRADIENT_VALUE]
    if len(single) < 2 or len(batch) < 2:
        return _missing(cid, criterion, f"need gradient samples at B = 1 and B = {t.small_batch_size}")
    d1, db = normality_distance(single), normality_distance(batch)
    if not (np.isfinite(d1) and np.isfinite(db)):
        return _missing(cid, criterion, "gradient samples are constant (a weight with no gradient)")
    measured = (
        f"KS distance: single examples {d1:.3f} (n = {len(single)}), "
        f"B = {t.small_batch_size}: {db:.3f} (n = {len(batch)})"
    )
    return _result(cid, criterion, measured, HOLDS if db <= t.gaussian_ratio * d1 else DOES_NOT_HOLD)


# --------------------------------------------------------------------------------------------
# All claims and the report
# --------------------------------------------------------------------------------------------


def evaluate_claims(
    *,
    logistic: pd.DataFrame | None = None,
    reference_curve: pd.DataFrame | None = None,
    l2_curves: pd.DataFrame | None = None,
    learning_rate_optima: pd.DataFrame | None = None,
    n_train_optima: pd.DataFrame | None = None,
    momentum_optima: pd.DataFrame | None = None,
    gradients: pd.DataFrame | None = None,
    thresholds: ClaimThresholds | None = None,
) -> list[ClaimResult]:
    """Every claim, in the paper's order. A ``None`` input makes its claims 'not measured'.

    ``reference_curve``: the Figure 4 batch-size curve (eps = 1, m = 0.9, N = 1000, no L2).
    ``l2_curves``: the Figure 3/8 setting at ``l2 = 0`` and ``l2 > 0`` (B = small and B = N).
    ``*_optima``: optimum tables of the three sweeps of Figures 5-7.
    """
    t = thresholds or ClaimThresholds()
    return [
        claim_random_labels_memorised(logistic, t),
        claim_informative_labels_generalise(logistic, t),
        claim_evidence_prefers_null_random(logistic, t),
        claim_evidence_prefers_model_informative(logistic, t),
        claim_evidence_tracks_test_cross_entropy(logistic, t),
        claim_small_batch_beats_full_batch(reference_curve, t),
        claim_interior_optimum(reference_curve, t),
        claim_small_batches_fail(reference_curve, t),
        claim_optimum_proportional_to_learning_rate(learning_rate_optima, t),
        claim_peak_accuracy_falls(learning_rate_optima, t),
        claim_optimum_proportional_to_training_set_size(n_train_optima, t),
        claim_optimum_proportional_to_inverse_one_minus_momentum(momentum_optima, t),
        claim_l2_closes_gap(l2_curves, t),
        claim_minibatch_gradients_gaussian(gradients, t),
    ]


def claims_table(rows: Sequence[ClaimResult]) -> pd.DataFrame:
    """The claim results as a table (one row per claim), e.g. for ``results/claims.parquet``."""
    return pd.DataFrame([{f.name: getattr(r, f.name) for f in fields(ClaimResult)} for r in rows])


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_summary(rows: Sequence[ClaimResult], thresholds: ClaimThresholds | None = None) -> str:
    """Markdown report: a table (figure, claim, paper's statement, criterion, measured, verdict),
    a verdict count and, if given, the list of thresholds with their meaning."""
    lines = [
        "| Figure | Claim | Paper's statement | Criterion | Measured | Verdict |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        verdict = f"**{r.verdict}**" if r.verdict != NOT_MEASURED else r.verdict
        lines.append(
            "| "
            + " | ".join(
                _cell(c) for c in (r.figure, f"`{r.claim_id}`", r.statement, r.criterion, r.measured, verdict)
            )
            + " |"
        )
    counts = {v: sum(r.verdict == v for r in rows) for v in VERDICTS}
    lines += ["", "Verdicts: " + ", ".join(f"{n} {v}" for v, n in counts.items()) + "."]
    if thresholds is not None:
        lines += ["", "Thresholds (all configurable):", ""]
        for f in fields(ClaimThresholds):
            lines.append(f"- `{f.name}` = {getattr(thresholds, f.name)!r}: {f.metadata['meaning']}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# The rest of the report: optimum batch sizes, scaling-rule fits, settings; HTML for the report
# --------------------------------------------------------------------------------------------

_SWEEP_SYMBOL = {"learning_rate": "eps", "n_train": "N", "momentum": "m"}
_SWEEP_FIGURE = {"learning_rate": "5", "n_train": "6", "momentum": "7"}


def _interval(low: float, high: float) -> str:
    return f"[{_g(low)}, {_g(high)}]" if np.isfinite(low) and np.isfinite(high) else "-"


def render_optima(optima: dict[str, pd.DataFrame]) -> str:
    """Markdown table of every curve's optimum, from the optimum tables of the sweeps.

    ``optima``: swept column -> :func:`bayes_sgd.noise_scale.scaling_points` output of that
    sweep (the ``optima.parquet`` tables of the workflow).
    """
    lines = [
        "| Figure | Curve | Updates | Grid of B | Seeds | Best grid B | Its accuracy (seed mean +- std) "
        "| Refined B_opt [bootstrap interval] | g_opt [interval] | In the fit |",
        "|---|---|---:|---|---:|---:|---|---|---|---|",
    ]
    for sweep, table in optima.items():
        for _, r in table.sort_values(sweep).iterrows():
            std = r["best_accuracy_std"]
            accuracy = _pct(r["best_accuracy"]) + (f" +- {_pct(std)}" if np.isfinite(std) else "")
            located = np.isfinite(r["b_opt"])
            lines.append(
                "| "
                + " | ".join(
                    [
                        _SWEEP_FIGURE[sweep],
                        f"{_SWEEP_SYMBOL[sweep]} = {r[sweep]:g}",
                        f"{int(r['steps'])}",
                        f"{r['b_grid_min']:g} to {r['b_grid_max']:g} ({int(r['n_batch_sizes'])})",
                        f"{int(r['n_seeds'])}",
                        f"{r['b_best']:g}" if located else "none",
                        accuracy,
                        f"{_g(r['b_opt'])} {_interval(r['b_opt_low'], r['b_opt_high'])}" if located else "none",
                        (
                            f"{_g(r['optimum_noise_scale'])} "
                            f"{_interval(r['optimum_noise_scale_low'], r['optimum_noise_scale_high'])}"
                            if located
                            else "none"
                        ),
                        "yes" if r["used"] else f"no ({r['excluded_because']})",
                    ]
                )
                + " |"
            )
    return "\n".join(lines) + "\n"


def render_fits(fits: pd.DataFrame) -> str:
    """Markdown table of the log-log fits of B_opt (the ``fits.parquet`` tables, concatenated)."""
    lines = [
        "| Figure | B_opt against | Interval method | Slope [interval] | Optima used | Range of x | Note |",
        "|---|---|---|---|---:|---|---|",
    ]
    for _, r in fits.iterrows():
        if r["fitted"]:
            slope = f"{r['slope']:.2f} {_interval(r['slope_low'], r['slope_high'])}"
            span = f"{r['x_min']:g} to {r['x_max']:g}"
        else:
            slope, span = "not fitted", "-"
        lines.append(
            "| "
            + " | ".join(
                _cell(c)
                for c in (
                    _SWEEP_FIGURE[r["sweep"]],
                    r["x"],
                    {"t": "Student t", "bootstrap": "seed bootstrap"}.get(r["method"], r["method"]),
                    slope,
                    int(r["n_points"]),
                    span,
                    r["reason"],
                )
            )
            + " |"
        )
    return "\n".join(lines) + "\n"


def _inline_html(text: str) -> str:
    import html
    import re

    out = html.escape(text, quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)


def markdown_to_html(text: str, title: str) -> str:
    """A standalone HTML page from the Markdown subset :func:`render_summary` and the report use.

    Handles ``#`` headings, paragraphs, ``-`` bullet lists, pipe tables (``\\|`` is a literal
    bar), inline code and bold; everything else is escaped text.
    """
    import html
    import re

    body, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
        elif m := re.match(r"(#{1,6}) (.*)", line):
            level = len(m.group(1))
            body.append(f"<h{level}>{_inline_html(m.group(2))}</h{level}>")
            i += 1
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                cells = re.split(r"(?<!\\)\|", lines[i].strip())[1:-1]
                rows.append([c.strip().replace("\\|", "|") for c in cells])
                i += 1
            head, rest = rows[0], [r for r in rows[1:] if not all(set(c) <= set("-:") for c in r)]
            body.append("<table>")
            body.append("<tr>" + "".join(f"<th>{_inline_html(c)}</th>" for c in head) + "</tr>")
            for r in rest:
                body.append("<tr>" + "".join(f"<td>{_inline_html(c)}</td>" for c in r) + "</tr>")
            body.append("</table>")
        elif line.startswith("- "):
            body.append("<ul>")
            while i < len(lines) and lines[i].startswith("- "):
                body.append(f"<li>{_inline_html(lines[i][2:])}</li>")
                i += 1
            body.append("</ul>")
        else:
            para = []
            while i < len(lines) and lines[i].strip() and not re.match(r"(#{1,6} |\||- )", lines[i]):
                para.append(lines[i])
                i += 1
            body.append(f"<p>{_inline_html(' '.join(para))}</p>")
    style = (
        "body{font-family:sans-serif;font-size:14px;margin:1em}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #bbb;padding:3px 6px;vertical-align:top}th{background:#eee}"
    )
    return (
        f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
