"""Verdicts on the paper's claims: pure functions from the computed tables to one line each.

Each claim of Smith & Le (2018) that this project measures has an id, the paper's statement,
the figure it comes from, the names of the tables it reads (:data:`TABLES`), an explicit
criterion with numeric thresholds (:class:`ClaimThresholds`, whose values and defaults come
from the ``scaling.claims`` section of the configuration schema), and a function from those
tables to a :class:`ClaimResult`: the measured value as text and a verdict, one of

* ``"holds"``: the criterion is met;
* ``"does not hold"``: it was measured and the criterion is not met;
* ``"not measured in this configuration"``: an input table is missing, or the configuration
  does not reach the claim's regime (e.g. no ``N`` above 20,000 on the 5,000-image dataset,
  or too few usable optima for a fit).

A claim never recomputes an aggregate: it reads the rows of the one table that holds it (the
per-curve accuracy-versus-B tables, the optima, the fits, the gradient-noise summary), the
same rows the figures draw. Rendering is :mod:`bayes_sgd.report`'s business.

"Clearly better" is used throughout in one sense: a difference in mean test accuracy larger
than every seed standard deviation involved and than ``min_gap`` (which is the only bar with
a single seed). Accuracies are fractions in [0, 1]; a diverged run counts at
``scaling.diverged_accuracy`` (chance) in every curve (see :mod:`bayes_sgd.noise_scale`).

**Adding a claim** is one pure function and one registration::

    @claim("my_claim", "Fig. 4", "The paper's sentence.", inputs=("figure_4_curves",))
    def claim_my_claim(curve: pd.DataFrame | None, t: ClaimThresholds) -> ClaimResult:
        criterion = "..."
        if curve is None:
            return missing("my_claim", criterion, "no batch-size curve")
        return result("my_claim", criterion, measured_text, HOLDS if ok else DOES_NOT_HOLD)

The function receives the tables named in ``inputs`` (``None`` where one is absent), in that
order, then the thresholds. A new input table gets a name in :data:`TABLES` (with what it
holds) and a path in the ``summarise_claims`` rule's input; a new threshold gets an entry
under ``scaling.claims`` in the schema (with its default and description) and a field in
:class:`ClaimThresholds`. Claims are reported in registration order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace

import numpy as np
import pandas as pd
from scipy import stats

from bayes_sgd.config import schema_defaults, schema_descriptions
from bayes_sgd.sweeps import get_sweep

#: The tables claims read, by name: what each holds (rule and file in the workflow).
TABLES: dict[str, str] = {
    "logistic": "logistic-regression fits, one row per (label kind, lambda) (rule fit_logistic_regression)",
    "figure_3_curves": "accuracy against B of Figure 3's runs (rule collect_sgd_runs)",
    "figure_4_curves": "accuracy against B of Figure 4's runs (rule collect_sgd_runs)",
    "figure_8_curves": "accuracy against B of Figure 8's runs (rule collect_sgd_runs)",
    "learning_rate_optima": "optimum of every curve of Figure 5 (rule analyse_scaling_sweep)",
    "learning_rate_fits": "log-log fits of Figure 5b (rule analyse_scaling_sweep)",
    "n_train_fits": "log-log fits of Figure 6b (rule analyse_scaling_sweep)",
    "momentum_fits": "log-log fits of Figure 7b (rule analyse_scaling_sweep)",
    "gradient_noise": "normality statistics of Figure 9's gradients (rule compute_gradient_noise)",
}

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
# ---------------------------------------------------------------------------------------------

HOLDS = "holds"
DOES_NOT_HOLD = "does not hold"
NOT_MEASURED = "not measured in this configuration"
VERDICTS = (HOLDS, DOES_NOT_HOLD, NOT_MEASURED)


@dataclass(frozen=True)
class ClaimThresholds:
    """Every number a verdict depends on: the ``scaling.claims`` section of the configuration.

    The schema (``workflow/schemas/config.schema.yaml``) holds each threshold's default and
    meaning; :meth:`defaults` and :meth:`meanings` read them there, so they are never repeated
    here.
    """

    memorise_train_accuracy: float
    binary_chance: float
    chance_tolerance: float
    generalise_test_accuracy: float
    evidence_margin_nats: float
    min_spearman: float
    min_gap: float
    small_batch_size: int
    failure_batch_size: int
    failure_gap: float
    slope_tolerance: float
    min_fit_points: int
    min_fit_span: float
    n_train_min: float
    stable_learning_rate: float
    l2_gap_fraction: float
    gaussian_ratio: float

    @classmethod
    def defaults(cls, **overrides) -> "ClaimThresholds":
        """The schema's defaults, with ``overrides``."""
        return cls(**{**schema_defaults()["scaling"]["claims"], **overrides})

    @staticmethod
    def meanings() -> dict[str, str]:
        """The meaning of each threshold: its description in the schema."""
        return schema_descriptions("scaling.claims")


@dataclass(frozen=True)
class ClaimResult:
    """One line of the claims report."""

    claim_id: str
    figure: str
    statement: str
    criterion: str
    measured: str
    verdict: str
    tables: str = ""

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {self.verdict!r}")


@dataclass(frozen=True)
class Claim:
    """A registered claim: what the paper says, where, which tables it reads, how it is judged."""

    claim_id: str
    figure: str
    statement: str
    inputs: tuple[str, ...]
    evaluate: Callable[..., ClaimResult]


#: Every claim, by id, in the paper's order (filled by :func:`claim`).
CLAIMS: dict[str, Claim] = {}


def claim(claim_id: str, figure: str, statement: str, *, inputs: Sequence[str]):
    """Register the decorated function as the verdict of claim ``claim_id`` (module docstring)."""
    unknown = [name for name in inputs if name not in TABLES]
    if unknown:
        raise ValueError(f"claim {claim_id}: unknown input table(s) {unknown}; add them to TABLES")

    def register(function):
        if claim_id in CLAIMS:
            raise ValueError(f"claim {claim_id} registered twice")
        CLAIMS[claim_id] = Claim(claim_id, figure, statement, tuple(inputs), function)
        return function

    return register


def result(claim_id: str, criterion: str, measured: str, verdict: str) -> ClaimResult:
    """The line of registered claim ``claim_id``, with its figure, statement and input tables."""
    c = CLAIMS[claim_id]
    return ClaimResult(claim_id, c.figure, c.statement, criterion, measured, verdict, ", ".join(c.inputs))


def missing(claim_id: str, criterion: str, why: str) -> ClaimResult:
    """Claim ``claim_id`` not measured, because ``why``."""
    return result(claim_id, criterion, why, NOT_MEASURED)


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


@claim(
    "random_labels_memorised",
    "Fig. 1a",
    'With random labels, weakly regularised logistic regression memorises the training set (train accuracy -> 100%) while test accuracy stays at chance.',
    inputs=('logistic',),
)
def claim_random_labels_memorised(logistic: pd.DataFrame | None, t: ClaimThresholds) -> ClaimResult:
    """At the weakest lambda: train accuracy >= bar and |test accuracy - chance| <= tolerance."""
    cid = "random_labels_memorised"
    criterion = (
        f"random labels, weakest lambda: train accuracy >= {_pct(t.memorise_train_accuracy)} and "
        f"|test accuracy - {_pct(t.binary_chance)}| <= {_pct(t.chance_tolerance)}"
    )
    rows = _label_kind(logistic, LOGISTIC_RANDOM)
    if rows is None:
        return missing(cid, criterion, "no random-label logistic table")
    weakest = rows.iloc[0]
    train, test = float(weakest[LOGISTIC_TRAIN_ACCURACY]), float(weakest[LOGISTIC_TEST_ACCURACY])
    ok = train >= t.memorise_train_accuracy and abs(test - t.binary_chance) <= t.chance_tolerance
    measured = f"lambda = {_g(weakest[LOGISTIC_LAMBDA])}: train {_pct(train)}, test {_pct(test)}"
    return result(cid, criterion, measured, HOLDS if ok else DOES_NOT_HOLD)


@claim(
    "informative_labels_generalise",
    "Fig. 1b",
    'With informative labels the model generalises to the test set.',
    inputs=('logistic',),
)
def claim_informative_labels_generalise(logistic: pd.DataFrame | None, t: ClaimThresholds) -> ClaimResult:
    """Test accuracy at the evidence-maximising lambda >= bar (informative labels)."""
    cid = "informative_labels_generalise"
    criterion = (
        "informative labels: test accuracy at the evidence-maximising lambda >= "
        f"{_pct(t.generalise_test_accuracy)}"
    )
    rows = _label_kind(logistic, LOGISTIC_INFORMATIVE)
    if rows is None:
        return missing(cid, criterion, "no informative-label logistic table")
    best = rows.loc[rows[LOGISTIC_EVIDENCE].idxmax()]
    test = float(best[LOGISTIC_TEST_ACCURACY])
    train = float(best[LOGISTIC_TRAIN_ACCURACY])
    measured = f"lambda = {_g(best[LOGISTIC_LAMBDA])}: test {_pct(test)}, train {_pct(train)}"
    return result(cid, criterion, measured, HOLDS if test >= t.generalise_test_accuracy else DOES_NOT_HOLD)


@claim(
    "evidence_prefers_null_random",
    "Fig. 2a",
    'With random labels the Bayesian evidence prefers the null model.',
    inputs=('logistic',),
)
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
        return missing(cid, criterion, "no random-label logistic table")
    best = rows.loc[rows[LOGISTIC_EVIDENCE].idxmax()]
    value = float(best[LOGISTIC_EVIDENCE])
    measured = (
        f"max {_g(value)} nats at lambda = {_g(best[LOGISTIC_LAMBDA])}; "
        f"min {_g(rows[LOGISTIC_EVIDENCE].min())} nats"
    )
    return result(cid, criterion, measured, HOLDS if value <= t.evidence_margin_nats else DOES_NOT_HOLD)


@claim(
    "evidence_prefers_model_informative",
    "Fig. 2b",
    'With informative labels the evidence prefers the model over the null model.',
    inputs=('logistic',),
)
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
        return missing(cid, criterion, "no informative-label logistic table")
    best = rows.loc[rows[LOGISTIC_EVIDENCE].idxmax()]
    value = float(best[LOGISTIC_EVIDENCE])
    measured = f"max {_g(value)} nats at lambda = {_g(best[LOGISTIC_LAMBDA])}"
    return result(cid, criterion, measured, HOLDS if value > t.evidence_margin_nats else DOES_NOT_HOLD)


@claim(
    "evidence_tracks_test_cross_entropy",
    "Fig. 2",
    'The evidence tracks the test cross-entropy across the regularisation strength.',
    inputs=('logistic',),
)
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
        return missing(cid, criterion, "no logistic table with at least three lambdas")
    ok = all(np.isfinite(r) and r >= t.min_spearman for r in rhos)
    return result(cid, criterion, "; ".join(parts), HOLDS if ok else DOES_NOT_HOLD)


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


@claim(
    "small_batch_beats_full_batch",
    "Fig. 3",
    'Small batches (B = 30) end clearly better than full batch (B = N) after 10,000 updates.',
    inputs=('figure_3_curves',),
)
def claim_small_batch_beats_full_batch(curve: pd.DataFrame | None, t: ClaimThresholds) -> ClaimResult:
    """Figure 3: mean accuracy at B = small clearly above B = N, on Figure 3's own curve."""
    cid = "small_batch_beats_full_batch"
    criterion = f"B = {t.small_batch_size} clearly better than B = N; " + _clearly_better_criterion(t)
    if curve is None or len(curve) == 0:
        return missing(cid, criterion, "no batch-size curve")
    found = _small_full_gap(curve, t)
    if found is None:
        return missing(cid, criterion, f"grid lacks B = {t.small_batch_size} or B = N")
    gap, bar, text = found
    return result(cid, criterion, text, HOLDS if _clearly_better(gap, bar) else DOES_NOT_HOLD)


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
        "best grid B strictly inside the grid and clearly better than both ends; "
        + _clearly_better_criterion(t)
    )
    if curve is None or len(curve) < 3:
        return missing(cid, criterion, "fewer than three batch sizes")
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
        return result(cid, criterion, measured + " (optimum at the grid edge)", DOES_NOT_HOLD)
    ok = all(
        _clearly_better(
            float(top[CURVE_MEAN] - end[CURVE_MEAN]), max(_spread(top[CURVE_STD], end[CURVE_STD]), t.min_gap)
        )
        for end in (first, last)
    )
    return result(cid, criterion, measured, HOLDS if ok else DOES_NOT_HOLD)


@claim(
    "small_batches_fail",
    "Fig. 4",
    'Batch sizes of about 10 or less fail to train at eps = 1, m = 0.9.',
    inputs=('figure_4_curves',),
)
def claim_small_batches_fail(curve: pd.DataFrame | None, t: ClaimThresholds) -> ClaimResult:
    """Figure 4: every grid B <= failure_batch_size is at least failure_gap below the best.

    ``curve``: Figure 4's batch-size curve (:func:`bayes_sgd.noise_scale.batch_size_curves`,
    diverged runs scored at ``scaling.diverged_accuracy``), the rows Figure 4 draws.
    """
    cid = "small_batches_fail"
    criterion = (
        f"every grid B <= {t.failure_batch_size}: mean test accuracy at least "
        f"{100 * t.failure_gap:.0f} points "
        f"below the curve's best (diverged runs scored at scaling.diverged_accuracy)"
    )
    if curve is None or len(curve) == 0:
        return missing(cid, criterion, "no batch-size curve")
    _check_single_curve(curve)
    small = curve.loc[curve[CURVE_BATCH_SIZE] <= t.failure_batch_size].sort_values(CURVE_BATCH_SIZE)
    if len(small) == 0:
        return missing(cid, criterion, f"no grid batch size <= {t.failure_batch_size}")
    best = float(curve[CURVE_MEAN].max())
    fails = (best - small[CURVE_MEAN]) >= t.failure_gap
    parts = [
        f"B = {r[CURVE_BATCH_SIZE]:g}: {_pct(r[CURVE_MEAN])} "
        f"({int(r[CURVE_N_DIVERGED])}/{int(r[CURVE_N_SEEDS])} diverged)"
        for _, r in small.iterrows()
    ]
    measured = f"best {_pct(best)}; " + ", ".join(parts)
    return result(cid, criterion, measured, HOLDS if bool(fails.all()) else DOES_NOT_HOLD)


# --------------------------------------------------------------------------------------------
# Scaling rules (paper Section 5, Figures 5-7)
# --------------------------------------------------------------------------------------------


def _fit_row(fits: pd.DataFrame, min_x: float | None) -> pd.Series | None:
    """The Student-t fit of region ``min_x`` (None: every interior optimum) in a fits table."""
    bound = fits["min_x"].to_numpy(dtype=float)
    region = np.isnan(bound) if min_x is None else np.isclose(bound, float(min_x))
    rows = fits.loc[region & (fits["method"] == "t").to_numpy()]
    return rows.iloc[0] if len(rows) else None


def _claim_proportional(
    cid: str, sweep: str, fits: pd.DataFrame | None, t: ClaimThresholds, min_x=None
) -> ClaimResult:
    """Fitted log-log slope of the interior optima b_opt against the sweep's x within 1 +- tol,
    its t-interval above 0; read from the sweep's fits table (:func:`bayes_sgd.noise_scale.sweep_fits`),
    the fit over ``x >= min_x`` where a bound is given."""
    label = get_sweep(sweep).x_symbol
    region = f" over {label} >= {min_x:g}" if min_x is not None else ""
    row = None if fits is None or len(fits) == 0 else _fit_row(fits, min_x)
    level = f"{100 * float(row['confidence']):g}% " if row is not None and np.isfinite(row["confidence"]) else ""
    criterion = (
        f"log-log OLS slope of refined B_opt against {label}{region} (interior optima only, >= "
        f"{t.min_fit_points} of them, spanning a factor >= {t.min_fit_span:g}) "
        f"within 1 +- {t.slope_tolerance:g}, "
        f"{level}t-interval of the slope above 0"
    )
    if fits is None or len(fits) == 0:
        return missing(cid, criterion, "no fits table for this sweep")
    if row is None:
        return missing(cid, criterion, f"the fits table has no fit{region}")
    n_points = int(row["n_points"])
    note = f"; excluded: {row['excluded']}" if row["excluded"] else ""
    span = float(row["x_max"] / row["x_min"]) if n_points and np.isfinite(row["x_min"]) else 0.0
    if not row["fitted"] or n_points < t.min_fit_points or span < t.min_fit_span:
        return missing(
            cid, criterion, f"{n_points} usable optima of {int(row['n_optima'])}, spanning a factor {span:.3g}{note}"
        )
    measured = (
        f"slope {row['slope']:.2f} [{row['slope_low']:.2f}, {row['slope_high']:.2f}] from {n_points} optima, "
        f"{label} from {row['x_min']:g} to {row['x_max']:g}{note}"
    )
    ok = abs(row["slope"] - 1.0) <= t.slope_tolerance and row["slope_low"] > 0
    return result(cid, criterion, measured, HOLDS if ok else DOES_NOT_HOLD)


@claim(
    "optimum_proportional_to_learning_rate",
    "Fig. 5b",
    "B_opt is proportional to the learning rate eps (over two orders of magnitude).",
    inputs=("learning_rate_fits",),
)
def claim_optimum_proportional_to_learning_rate(fits: pd.DataFrame | None, t: ClaimThresholds) -> ClaimResult:
    """Figure 5b: B_opt proportional to eps."""
    return _claim_proportional("optimum_proportional_to_learning_rate", "learning_rate", fits, t)


@claim(
    "peak_accuracy_falls_at_large_learning_rate",
    "Fig. 5a",
    'The peak test accuracy drops once eps is above about 3.',
    inputs=('learning_rate_optima',),
)
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
        return missing(cid, criterion, "no optimum table for the learning-rate sweep")
    eps = optima[OPTIMA_LEARNING_RATE].astype(float)
    low, high = optima.loc[eps <= t.stable_learning_rate], optima.loc[eps > t.stable_learning_rate]
    if len(low) == 0 or len(high) == 0:
        return missing(cid, criterion, f"need learning rates on both sides of {t.stable_learning_rate:g}")
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
    return result(cid, criterion, measured, HOLDS if ok else DOES_NOT_HOLD)




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


# --------------------------------------------------------------------------------------------
# L2 regularisation (Appendix B, Figure 8)
# --------------------------------------------------------------------------------------------


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
        f"gap without L2 > 0 and gap with L2 <= {t.l2_gap_fraction:g} x gap without "
        f"(gap = mean accuracy at B = {t.small_batch_size} minus at B = N)"
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
    gap0, gapl2 = without[0], regular[0]
    measured = f"gap without L2 {100 * gap0:+.1f} points, with l2 = {with_l2:g}: {100 * gapl2:+.1f} points"
    ok = gap0 > 0 and gapl2 <= t.l2_gap_fraction * gap0
    return result(cid, criterion, measured, HOLDS if ok else DOES_NOT_HOLD)


# --------------------------------------------------------------------------------------------
# Gaussian minibatch gradients (Appendix C, Figure 9)
# --------------------------------------------------------------------------------------------


@claim(
    "minibatch_gradients_gaussian",
    "Fig. 9",
    "Gradients over batches of 30 are close to Gaussian, unlike single-example gradients.",
    inputs=("gradient_noise",),
)
def claim_minibatch_gradients_gaussian(summary: pd.DataFrame | None, t: ClaimThresholds) -> ClaimResult:
    """Figure 9: KS distance to a Gaussian of batch-B gradients <= ratio x that of single examples.

    ``summary``: the gradient-noise summary of :func:`bayes_sgd.gradient_noise.gradient_noise_samples`
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


# --------------------------------------------------------------------------------------------
# All claims
# --------------------------------------------------------------------------------------------


def evaluate_claims(
    tables: Mapping[str, pd.DataFrame | None] | None = None,
    thresholds: ClaimThresholds | None = None,
    *,
    not_built: Mapping[str, str] | None = None,
) -> list[ClaimResult]:
    """Every registered claim, in registration (the paper's) order.

    ``tables``: name (a key of :data:`TABLES`) -> table; a missing or ``None`` table makes the
    claims that read it 'not measured'. ``not_built``: name -> why that table was not built (for
    example, its stage is not a target); a claim that reads one is 'not measured' with that reason
    as its measurement. ``thresholds``: default :meth:`ClaimThresholds.defaults`.
    """
    not_built = dict(not_built or {})
    unknown = sorted((set(tables or {}) | set(not_built)) - set(TABLES))
    if unknown:
        raise ValueError(f"evaluate_claims: unknown table(s) {unknown}; known: {sorted(TABLES)}")
    both = sorted(set(tables or {}) & set(not_built))
    if both:
        raise ValueError(f"evaluate_claims: table(s) {both} are both given and said not to be built")
    tables = tables or {}
    t = thresholds or ClaimThresholds.defaults()
    results = []
    for c in CLAIMS.values():
        r = c.evaluate(*(tables.get(name) for name in c.inputs), t)
        why = list(dict.fromkeys(not_built[name] for name in c.inputs if name in not_built))
        if why:
            r = replace(r, measured="; ".join(why), verdict=NOT_MEASURED)
        results.append(r)
    return results


def claims_table(rows: Sequence[ClaimResult]) -> pd.DataFrame:
    """The claim results as a table (one row per claim), e.g. for ``claims.parquet``."""
    return pd.DataFrame([{f.name: getattr(r, f.name) for f in fields(ClaimResult)} for r in rows])
