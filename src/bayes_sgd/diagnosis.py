"""The diagnosis [our extension]: which unstated choice explains the paper's Figures 3, 4 and 8?

The protocol-variant comparison (:mod:`bayes_sgd.variants`) found two variants that move the
edge of training from B ~ 100 down to B ~ 10, the class-mean loss and dampened momentum; with
``L2 = 0`` and ``m = 0.9`` both are the stated update at a 10x smaller effective step, so Figures
3, 4 and 8 cannot tell them apart. The scaling rules can, because the two explanations predict
different ones through the noise scale ``g = eps/(1-m) (N/B - 1)``:

- a 10x smaller effective step keeps ``g``: B_opt stays proportional to eps and to 1/(1-m);
- dampened momentum (``v <- m v + (1-m) g``) removes the 1/(1-m) factor from ``g``: B_opt stops
  depending on m, while B_opt ~ eps survives.

A :class:`Hypothesis` is data: a name, the protocol options of the variant it is tested under,
and its :class:`Prediction` s, each a log-log slope of B_opt against a sweep's x. Each
prediction is judged by the scaling-rule claims' own function
(:func:`bayes_sgd.claims.scaling.slope_result`) and thresholds (``scaling.claims``: the
t-interval within ``slope +- slope_tolerance`` holds, wholly outside does not hold, straddling
a bound is undecided), on the variant's sweep fits; nothing is tuned per hypothesis. A
hypothesis is **supported** when every prediction holds, **refuted** when one does not hold,
**undecided** when one is undecided (with the seeds that would decide it, :func:`seeds_to_decide`),
and **not measured** when a prediction could not be measured and none failed.

Beside the verdict, each prediction says whether it agrees with what the paper reports
(:data:`PAPER_SLOPES`, Figures 5b and 7b), and :func:`hypothesis_overview` adds whether Figures
3, 4 and 8 hold under the hypothesis' variant: an explanation of the paper's figures must be
supported by our runs, predict the paper's own scaling rules **and** make Figures 3, 4 and 8
hold. This is a sensitivity
analysis of choices the paper leaves open; it says which explanation our data support, never
what the authors' code did.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bayes_sgd.claims.registry import (
    DOES_NOT_HOLD, HOLDS, NOT_MEASURED, UNDECIDED, ClaimThresholds, combine_verdicts,
)
from bayes_sgd.claims.scaling import slope_result
from bayes_sgd.scaling.fits import fit_of, scaling_points
from bayes_sgd.sweeps import get_sweep
from bayes_sgd.variants import FIGURE_CLAIMS, PROTOCOL_OPTIONS, VARIANT_SWEEPS

#: A hypothesis' verdicts.
SUPPORTED = "supported"
REFUTED = "refuted"
HYPOTHESIS_VERDICTS = (SUPPORTED, REFUTED, UNDECIDED, NOT_MEASURED)
_FROM_CLAIM_VERDICT = {HOLDS: SUPPORTED, DOES_NOT_HOLD: REFUTED, UNDECIDED: UNDECIDED, NOT_MEASURED: NOT_MEASURED}

#: The slopes the paper reports (docs/paper.md: Figure 5b, B_opt ~ eps; Figure 7b, B_opt ~ 1/(1-m)).
PAPER_SLOPES = {"learning_rate": 1.0, "momentum": 1.0}
#: The paper's figure for each sweep's rule, and the claim (bayes_sgd.claims.scaling) that judges it.
SWEEP_FIGURES = {"learning_rate": "Fig. 5b", "momentum": "Fig. 7b"}
SWEEP_CLAIMS = {
    "learning_rate": "optimum_proportional_to_learning_rate",
    "momentum": "optimum_proportional_to_inverse_one_minus_momentum",
}
#: Most seeds :func:`seeds_to_decide` states as a number (beyond: "more than").
MAX_SEEDS_STATED = 1000


@dataclass(frozen=True)
class Prediction:
    """A predicted log-log slope of B_opt against ``sweep``'s x (``eps`` or ``1/(1-m)``)."""

    sweep: str
    slope: float
    because: str

    def describe(self) -> str:
        x = get_sweep(self.sweep).x_symbol
        return f"B_opt ~ {x}" if self.slope == 1 else f"B_opt independent of {x}" if self.slope == 0 else (
            f"B_opt ~ {x}^{self.slope:g}"
        )


@dataclass(frozen=True)
class Hypothesis:
    """A candidate explanation: tested under the variant with ``overrides`` (protocol options;
    ``{}``: the stated protocol), predicting ``predictions``."""

    name: str
    statement: str
    overrides: dict[str, Any]
    predictions: tuple[Prediction, ...]
    sweeps: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        unknown = set(self.overrides) - set(PROTOCOL_OPTIONS)
        if unknown:
            raise ValueError(f"hypothesis {self.name}: {sorted(unknown)} are not protocol options")
        for p in self.predictions:
            if p.sweep not in VARIANT_SWEEPS:
                raise ValueError(f"hypothesis {self.name}: no variant sweep {p.sweep!r}")
        object.__setattr__(self, "sweeps", tuple(dict.fromkeys(p.sweep for p in self.predictions)))

    def matches(self, variant: Mapping[str, Any]) -> bool:
        """Whether ``variant`` (:meth:`bayes_sgd.variants.Variant.record`) is the one this
        hypothesis is tested under: exactly its overrides, every learning rate unscaled."""
        return dict(variant["overrides"]) == self.overrides and float(variant["learning_rate_scale"]) == 1.0


_EPS_KEEPS = "g = eps/(1-m) (N/B - 1) is unchanged at a fixed ratio eps/B"
HYPOTHESES: tuple[Hypothesis, ...] = (
    Hypothesis(
        name="stated_protocol",
        statement="The stated protocol, as we read it, gives the paper's scaling rules.",
        overrides={},
        predictions=(
            Prediction("learning_rate", 1.0, "the paper's Figure 5b"),
            Prediction("momentum", 1.0, "the paper's Figure 7b"),
        ),
    ),
    Hypothesis(
        name="effective_step_10x_smaller",
        statement=(
            "The paper's runs took a 10x smaller effective step than the stated update (a loss averaged "
            "over the classes too, or eps effectively 0.1), tested under the class-mean loss."
        ),
        overrides={"loss_normalisation": "batch_and_classes"},
        predictions=(
            Prediction("learning_rate", 1.0, _EPS_KEEPS),
            Prediction("momentum", 1.0, "g keeps its factor 1/(1-m)"),
        ),
    ),
    Hypothesis(
        name="dampened_momentum",
        statement="The paper's runs used dampened momentum, v <- m v + (1-m) g.",
        overrides={"momentum_form": "dampened"},
        predictions=(
            Prediction("learning_rate", 1.0, _EPS_KEEPS),
            Prediction("momentum", 0.0, "dampening removes the factor 1/(1-m) from g"),
        ),
    ),
)


def seeds_to_decide(seeds: int, slope: float, low: float, high: float, lower: float, upper: float) -> float:
    """How many seeds per point would make an undecided interval decide, from its measured spread.

    The interval [low, high] around ``slope`` straddles a bound of [lower, upper]; it decides
    once its half-width is below the distance from ``slope`` to the nearer bound. If the
    scatter of the optima about the fit is seed noise, the half-width shrinks as
    1/sqrt(seeds), so ``seeds * (half-width / distance)^2`` seeds would do (rounded up): a lower
    bound, since the grid's own discreteness does not average out. ``inf`` when the slope sits on
    a bound or the interval is undefined.
    """
    half = (high - low) / 2
    distance = min(abs(slope - lower), abs(slope - upper))
    if not (np.isfinite(half) and distance > 0):
        return math.inf
    return float(math.ceil(seeds * (half / distance) ** 2 - 1e-9))


def _matching_variant(h: Hypothesis, variants: Mapping[str, Mapping[str, Any]]) -> str | None:
    return next((name for name, v in variants.items() if h.matches(v)), None)


def judge_hypotheses(
    variants: Mapping[str, Mapping[str, Any]],
    fits: Mapping[tuple[str, str], pd.DataFrame],
    thresholds: ClaimThresholds,
    seeds: Mapping[str, int],
    hypotheses: Sequence[Hypothesis] = HYPOTHESES,
) -> pd.DataFrame:
    """The hypotheses table: one row per (hypothesis, prediction).

    ``variants``: name -> :meth:`bayes_sgd.variants.Variant.record` of the configured variants;
    ``fits``: (variant, sweep) -> that variant's sweep fits table (absent: not run); ``seeds``:
    sweep -> seeds per point. Columns: the hypothesis, its statement, the variant it is tested
    under (or "" if none is configured), the prediction, its sweep and figure, the predicted
    slope, the measured slope with its t-interval and intercept, the fit's points, the
    prediction's outcome (a claim verdict) with the measured text and the criterion, the
    seeds that would decide an undecided outcome, the paper's slope and whether the prediction
    agrees with it, and the hypothesis' verdict (the same on each of its rows).
    """
    rows = []
    for h in hypotheses:
        variant = _matching_variant(h, variants)
        block = []
        for p in h.predictions:
            table = fits.get((variant, p.sweep)) if variant is not None else None
            cid = SWEEP_CLAIMS[p.sweep]  # judged as that claim is, at the predicted slope
            min_span = thresholds.learning_rate_min_span if p.sweep == "learning_rate" else 0.0
            outcome = slope_result(cid, p.sweep, table, thresholds, slope=p.slope, min_span=min_span)
            measured = outcome.measured
            if variant is None:
                measured = "no configured variant has this hypothesis' options: " + (
                    ", ".join(f"{k}: {v}" for k, v in h.overrides.items()) or "the stated protocol"
                )
            elif table is None:
                measured = f"variant {variant} does not run the {p.sweep} sweep (variants.{variant}.sweeps)"
            fit, _ = fit_of(table) if table is not None and len(table) else (None, "")
            lower, upper = p.slope - thresholds.slope_tolerance, p.slope + thresholds.slope_tolerance
            decide = math.nan
            if outcome.verdict == UNDECIDED and fit is not None:
                decide = seeds_to_decide(int(seeds[p.sweep]), fit.slope, fit.slope_low, fit.slope_high, lower, upper)
            block.append(
                {
                    "hypothesis": h.name, "statement": h.statement, "variant": variant or "",
                    "prediction": p.describe(), "because": p.because, "sweep": p.sweep, "figure": SWEEP_FIGURES[p.sweep],
                    "predicted_slope": float(p.slope),
                    "slope": fit.slope if fit else math.nan, "slope_low": fit.slope_low if fit else math.nan,
                    "slope_high": fit.slope_high if fit else math.nan, "intercept": fit.intercept if fit else math.nan,
                    "n_points": int(fit.n_points) if fit else 0, "seeds": int(seeds[p.sweep]),
                    "outcome": outcome.verdict if variant is not None and table is not None else NOT_MEASURED,
                    "measured": measured, "criterion": outcome.criterion, "seeds_to_decide": decide,
                    "paper_slope": PAPER_SLOPES[p.sweep], "agrees_with_paper": bool(p.slope == PAPER_SLOPES[p.sweep]),
                }
            )
        verdict = _FROM_CLAIM_VERDICT[combine_verdicts([r["outcome"] for r in block])]
        rows += [{**r, "verdict": verdict} for r in block]
    return pd.DataFrame(rows)


def hypothesis_overview(table: pd.DataFrame, variant_claims: Mapping[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """One row per hypothesis of a :func:`judge_hypotheses` table: its variant, verdict, whether
    every prediction agrees with the paper's scaling rules, whether Figures 3, 4 and 8 hold under
    its variant (``figures_3_4_8``, every claim of those figures in the variant's claims table,
    ``variant_claims``: variant -> its ``claims.parquet``; not measured without one) and which of
    them fail, and whether it explains the paper's figures (``explains_paper``: supported by our
    runs, agreeing with the paper's scaling rules, and Figures 3, 4 and 8 holding under its
    variant). ``seeds_to_decide``: the most any undecided prediction needs."""
    variant_claims = variant_claims or {}
    rows = []
    for name, group in table.groupby("hypothesis", sort=False):
        verdict, variant = group["verdict"].iloc[0], group["variant"].iloc[0]
        agrees = bool(group["agrees_with_paper"].all())
        undecided = group.loc[group["outcome"] == UNDECIDED, "seeds_to_decide"]
        claims = variant_claims.get(variant)
        figures = claims.loc[claims["figure"].isin(FIGURE_CLAIMS)] if claims is not None else None
        figures_verdict = combine_verdicts(list(figures["verdict"])) if figures is not None else NOT_MEASURED
        failing = ", ".join(figures.loc[figures["verdict"] == DOES_NOT_HOLD, "claim_id"]) if figures is not None else ""
        rows.append(
            {
                "hypothesis": name, "variant": variant, "verdict": verdict, "agrees_with_paper": agrees,
                "figures_3_4_8": figures_verdict, "failing_figure_claims": failing,
                "explains_paper": verdict == SUPPORTED and agrees and figures_verdict == HOLDS,
                "seeds_to_decide": float(undecided.max()) if len(undecided) else math.nan,
            }
        )
    return pd.DataFrame(rows)


def diagnosis_points(optima: Mapping[tuple[str, str], pd.DataFrame]) -> pd.DataFrame:
    """The points the diagnosis figure draws: every curve's optimum in each (variant, sweep)
    optima table (:func:`bayes_sgd.scaling.fits.scaling_points`: x, b_opt, whether the fit used
    it and why not), with the variant and sweep in front."""
    frames = []
    for (variant, sweep), table in optima.items():
        points = scaling_points(table, sweep)[["x", "b_opt", "used", "excluded_because"]]
        points.insert(0, "sweep", sweep)
        points.insert(0, "variant", variant)
        frames.append(points)
    columns = ["variant", "sweep", "x", "b_opt", "used", "excluded_because"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def hypotheses_for(variants: Mapping[str, Mapping[str, Any]], hypotheses: Sequence[Hypothesis] = HYPOTHESES) -> dict[str, list[str]]:
    """variant name -> the sweeps the hypotheses tested under it need (the diagnosis' inputs),
    for the configured variants that match a hypothesis."""
    needs: dict[str, list[str]] = {}
    for h in hypotheses:
        variant = _matching_variant(h, variants)
        if variant is not None:
            needs.setdefault(variant, [])
            needs[variant] += [s for s in h.sweeps if s not in needs[variant]]
    return needs
