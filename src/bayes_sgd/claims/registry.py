"""Verdicts on the paper's claims: pure functions from the computed tables to one line each.

Each claim of Smith & Le (2018) that this project measures has an id, the paper's statement,
the figure it comes from, the names of the tables it reads (:data:`TABLES`), an explicit
criterion with numeric thresholds (:class:`ClaimThresholds`, whose values and defaults come
from the ``scaling.claims`` section of the configuration schema), and a function from those
tables to a :class:`ClaimResult`: the measured value as text and a verdict, one of

* ``"holds"``: the criterion is met;
* ``"does not hold"``: it was measured and the measurement excludes the paper's statement;
* ``"undecided"``: it was measured, but the measurement cannot exclude either the statement or
  its negation (an interval that straddles a bound of the criterion, a gap within the seed
  noise): more seeds or grid points would decide it;
* ``"not measured in this configuration"``: an input table is missing, or the configuration
  does not reach the claim's regime (e.g. no ``N`` above 20,000 on the 5,000-image dataset,
  or too few usable optima for a fit).

A claim never recomputes an aggregate: it reads the rows of the one table that holds it (the
per-curve accuracy-versus-B tables, the optima, the fits, the gradient-noise summary), the
same rows the figures draw. Rendering is :mod:`bayes_sgd.claims.report`'s business.

"Clearly better" is used throughout in one sense: a difference in mean test accuracy larger
than every seed standard deviation involved and than ``min_gap`` (which is the only bar with
a single seed). Accuracies are fractions in [0, 1]; a diverged run counts at
``scaling.diverged_accuracy`` (chance) in every curve (see :mod:`bayes_sgd.scaling.noise_scale`).

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
from typing import Any
from dataclasses import dataclass, fields, replace

import numpy as np
import pandas as pd

from bayes_sgd.claims.formatting import percent
from bayes_sgd.schema import schema_defaults, schema_descriptions

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
    "evidence": "the evidence of every trained network [our extension] (rule collect_mlp_evidence)",
}

#: The configuration section that holds the thresholds of the paper's claims.
PAPER_THRESHOLDS = "scaling.claims"


HOLDS = "holds"
DOES_NOT_HOLD = "does not hold"
UNDECIDED = "undecided"
NOT_MEASURED = "not measured in this configuration"
VERDICTS = (HOLDS, DOES_NOT_HOLD, UNDECIDED, NOT_MEASURED)


@dataclass(frozen=True)
class ClaimThresholds:
    """Every number a verdict depends on: the ``scaling.claims`` section of the configuration.

    The schema (``src/bayes_sgd/config.schema.yaml``) holds each threshold's default and
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
    gaussian_max_skewness: float
    gaussian_max_excess_kurtosis: float
    learning_rate_min_span: float

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
    #: The configuration section of its thresholds (the object its function receives).
    thresholds: str = PAPER_THRESHOLDS


#: Every claim, by id, in the paper's order (filled by :func:`claim`).
CLAIMS: dict[str, Claim] = {}


def claim(claim_id: str, figure: str, statement: str, *, inputs: Sequence[str], thresholds: str = PAPER_THRESHOLDS):
    """Register the decorated function as the verdict of claim ``claim_id`` (module docstring).

    ``thresholds``: the configuration section whose thresholds object the function receives
    (``scaling.claims``, :class:`ClaimThresholds`, for the paper's claims).
    """
    unknown = [name for name in inputs if name not in TABLES]
    if unknown:
        raise ValueError(f"claim {claim_id}: unknown input table(s) {unknown}; add them to TABLES")

    def register(function):
        if claim_id in CLAIMS:
            raise ValueError(f"claim {claim_id} registered twice")
        CLAIMS[claim_id] = Claim(claim_id, figure, statement, tuple(inputs), function, thresholds)
        return function

    return register


def result(claim_id: str, criterion: str, measured: str, verdict: str) -> ClaimResult:
    """The line of registered claim ``claim_id``, with its figure, statement and input tables."""
    c = CLAIMS[claim_id]
    return ClaimResult(claim_id, c.figure, c.statement, criterion, measured, verdict, ", ".join(c.inputs))


def missing(claim_id: str, criterion: str, why: str) -> ClaimResult:
    """Claim ``claim_id`` not measured, because ``why``."""
    return result(claim_id, criterion, why, NOT_MEASURED)



# "Clearly better", in the one sense every claim uses (module docstring).
def spread(*stds: float) -> float:
    """Largest finite seed standard deviation among ``stds`` (0 if none is defined)."""
    finite = [float(s) for s in stds if s is not None and np.isfinite(s)]
    return max(finite, default=0.0)


def clearly_better(gap: float, bar: float) -> bool:
    return bool(gap > bar)


def gap_verdict(gap: float, bar: float) -> str:
    """The verdict on "clearly better" for a gap in mean accuracy and its bar: holds above the bar,
    does not hold below minus the bar (clearly worse), undecided within the noise."""
    if gap > bar:
        return HOLDS
    if gap < -bar:
        return DOES_NOT_HOLD
    return UNDECIDED


def interval_verdict(low: float, high: float, lower: float, upper: float) -> str:
    """The verdict on "the quantity lies in [lower, upper]" from its interval [low, high]:
    holds if the interval lies inside (it excludes the negation), does not hold if it lies
    wholly outside (it excludes the statement), undecided if it straddles a bound."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return UNDECIDED
    if lower <= low and high <= upper:
        return HOLDS
    if high < lower or low > upper:
        return DOES_NOT_HOLD
    return UNDECIDED


def combine_verdicts(verdicts: Sequence[str]) -> str:
    """The verdict of "every part holds": does not hold if one part does not, else undecided if
    one part is undecided, else holds (no parts: not measured)."""
    verdicts = list(verdicts)
    if not verdicts:
        return NOT_MEASURED
    for verdict in (DOES_NOT_HOLD, UNDECIDED, NOT_MEASURED):
        if verdict in verdicts:
            return verdict
    return HOLDS



def clearly_better_criterion(t: ClaimThresholds) -> str:
    return (
        "'clearly better' = mean accuracy higher by more than every seed std involved and than "
        f"{percent(t.min_gap)}"
    )



def claims_judged_with(section: str) -> list[str]:
    """The ids of the claims whose thresholds are the configuration section ``section``."""
    return [cid for cid, c in CLAIMS.items() if c.thresholds == section]


def evaluate_claims(
    tables: Mapping[str, pd.DataFrame | None] | None = None,
    thresholds: ClaimThresholds | Mapping[str, Any] | None = None,
    *,
    not_built: Mapping[str, str] | None = None,
) -> list[ClaimResult]:
    """The registered claims judged with ``thresholds``, in registration (the paper's) order.

    ``thresholds``: configuration section -> its thresholds object; the claims of every section
    given are judged (a bare :class:`ClaimThresholds` is ``{"scaling.claims": it}``; default: the
    paper's claims with :meth:`ClaimThresholds.defaults`). A section may map to ``None`` when
    every table its claims read is not built: they are then 'not measured' with criterion "-".
    ``tables``: name (a key of :data:`TABLES`) -> table; a missing or ``None`` table makes the
    claims that read it 'not measured'. ``not_built``: name -> why that table was not built (for
    example, its stage is not a target); a claim that reads one is 'not measured' with that reason
    as its measurement.
    """
    not_built = dict(not_built or {})
    unknown = sorted((set(tables or {}) | set(not_built)) - set(TABLES))
    if unknown:
        raise ValueError(f"evaluate_claims: unknown table(s) {unknown}; known: {sorted(TABLES)}")
    both = sorted(set(tables or {}) & set(not_built))
    if both:
        raise ValueError(f"evaluate_claims: table(s) {both} are both given and said not to be built")
    tables = tables or {}
    if thresholds is None or isinstance(thresholds, ClaimThresholds):
        thresholds = {PAPER_THRESHOLDS: thresholds or ClaimThresholds.defaults()}
    results = []
    for c in CLAIMS.values():
        if c.thresholds not in thresholds:
            continue
        t = thresholds[c.thresholds]
        why = list(dict.fromkeys(not_built[name] for name in c.inputs if name in not_built))
        if t is None:
            if len(why) < len(c.inputs) or not why:
                raise ValueError(f"evaluate_claims: claim {c.claim_id} needs the {c.thresholds} thresholds")
            results.append(result(c.claim_id, "-", "; ".join(why), NOT_MEASURED))
            continue
        r = c.evaluate(*(tables.get(name) for name in c.inputs), t)
        if why:
            r = replace(r, measured="; ".join(why), verdict=NOT_MEASURED)
        results.append(r)
    return results


def claims_table(rows: Sequence[ClaimResult]) -> pd.DataFrame:
    """The claim results as a table (one row per claim), e.g. for ``claims.parquet``."""
    return pd.DataFrame([{f.name: getattr(r, f.name) for f in fields(ClaimResult)} for r in rows])
