"""The claims on the evidence of the trained networks [our extension; docs/paper.md, "Beyond the
paper"]: does the Laplace evidence of the minimum SGD ends in rank runs like their test accuracy,
and does it peak where accuracy does? Judged, like the paper's claims, by the registry
(:mod:`bayes_sgd.claims.registry`), from the evidence table (rule collect_mlp_evidence), with the
thresholds of the ``evidence.claims`` section (:class:`EvidenceThresholds`).

Runs that failed to train (diverged, or test accuracy at most ``evidence.failed_accuracy``) are
left out of both statistics: the claims ask whether the evidence tells runs apart where test
accuracy does, not whether a dead network has a low evidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from bayes_sgd.claims.formatting import number
from bayes_sgd.claims.registry import DOES_NOT_HOLD, HOLDS, UNDECIDED, ClaimResult, claim, missing, result
from bayes_sgd.mlp_evidence import EVIDENCE_COLUMN, select_evidence, trained_mask
from bayes_sgd.schema import schema_descriptions, section_defaults
from bayes_sgd.sweeps import CURVE_SETTINGS

#: The settings section whose thresholds these claims read.
SECTION = "evidence.claims"


@dataclass(frozen=True)
class EvidenceThresholds:
    """Every number the evidence claims depend on: ``evidence.claims`` and ``evidence.failed_accuracy``.

    ``method`` and ``prior_precision`` choose the evidence estimate (``prior_precision`` is
    ``"maximum"`` or a number, the grid precision closest to it); the schema holds every default
    and meaning (:meth:`defaults`).
    """

    method: str
    prior_precision: str | float
    min_spearman: float
    min_runs: int
    max_grid_steps: int
    min_fraction: float
    min_batch_sizes: int
    well_trained_accuracy: float
    min_well_trained_batch_sizes: int
    min_median_within_curve_rho: float
    min_positive_fraction: float
    failed_accuracy: float

    @classmethod
    def from_config(cls, evidence: dict) -> "EvidenceThresholds":
        """From the ``evidence:`` section of a (validated) configuration."""
        return cls(**evidence["claims"], failed_accuracy=evidence["failed_accuracy"])

    @classmethod
    def defaults(cls, **overrides) -> "EvidenceThresholds":
        """The schema's defaults, with ``overrides``."""
        return cls(**{**cls.from_config(section_defaults("evidence")).__dict__, **overrides})

    @staticmethod
    def meanings() -> dict[str, str]:
        """The meaning of each threshold: its description in the schema."""
        return {**schema_descriptions(SECTION), "failed_accuracy": schema_descriptions("evidence")["failed_accuracy"]}


def _counts(trained: pd.Series) -> str:
    return f"{int(trained.sum())} trained runs; {int((~trained).sum())} failed to train (excluded)"


@claim(
    "mlp_evidence_ranks_runs",
    "evidence (b)",
    "The evidence of the minimum SGD ends in ranks trained runs like their test accuracy "
    "(the paper's thesis, tested directly on every trained network).",
    inputs=("evidence",),
    thresholds=SECTION,
)
def claim_evidence_ranks_runs(table: pd.DataFrame | None, t: EvidenceThresholds) -> ClaimResult:
    """Spearman rho of the per-example log evidence ratio with final test accuracy over every
    trained run (one row per run) ``>= min_spearman``; fewer than ``min_runs`` trained runs:
    not measured."""
    criterion = (
        f"Spearman rho(ln evidence ratio per example [{t.method}, lambda = {t.prior_precision}], test accuracy) over "
        f"trained runs >= {t.min_spearman:g} (at least {t.min_runs} runs; failed: diverged or test "
        f"accuracy <= {t.failed_accuracy:g})"
    )
    if table is None:
        return missing("mlp_evidence_ranks_runs", criterion, "no evidence table")
    rows = select_evidence(table, t.method, t.prior_precision)
    ok = trained_mask(rows, t.failed_accuracy) & np.isfinite(rows[EVIDENCE_COLUMN])
    if int(ok.sum()) < t.min_runs:
        return missing("mlp_evidence_ranks_runs", criterion, f"{_counts(ok)}: too few")
    rho = float(stats.spearmanr(rows.loc[ok, EVIDENCE_COLUMN], rows.loc[ok, "test_accuracy"]).statistic)
    verdict = HOLDS if np.isfinite(rho) and rho >= t.min_spearman else DOES_NOT_HOLD
    measured = f"rho = {rho:.2f}; {_counts(ok)}"
    if "kfac_ggn_trace" in rows:
        ratio = (rows.loc[ok, "kfac_ggn_trace"] / rows.loc[ok, "ggn_trace"]).median()
        measured += f"; KFAC / exact Gauss-Newton trace: median {number(ratio)}"
    if t.prior_precision == "maximum":
        on_bound = int((ok & ~rows["prior_interior"].astype(bool)).sum())
        measured += f"; {on_bound} of the trained runs have their evidence-maximising lambda on a search bound"
    return result("mlp_evidence_ranks_runs", criterion, measured, verdict)


def evidence_peaks(table: pd.DataFrame, t: EvidenceThresholds) -> pd.DataFrame:
    """Per curve (runs sharing :data:`bayes_sgd.sweeps.CURVE_SETTINGS`), the batch size of the
    highest mean (over trained seeds) evidence and of the highest mean test accuracy, and their
    distance in grid steps (positions in the curve's sorted batch-size grid, failed batch sizes
    included).

    Only batch sizes with at least one trained run compete; curves with fewer than
    ``t.min_batch_sizes`` such batch sizes are left out.
    """
    keys = list(CURVE_SETTINGS)
    rows = select_evidence(table, t.method, t.prior_precision)
    rows = rows.assign(trained=trained_mask(rows, t.failed_accuracy) & np.isfinite(rows[EVIDENCE_COLUMN]))
    out = []
    for key, curve in rows.groupby(keys, sort=True):
        grid = np.sort(curve["batch_size"].unique())
        good = curve[curve["trained"]].groupby("batch_size")[[EVIDENCE_COLUMN, "test_accuracy"]].mean()
        if len(good) < t.min_batch_sizes:
            continue
        b_ev, b_acc = int(good[EVIDENCE_COLUMN].idxmax()), int(good["test_accuracy"].idxmax())
        position = {int(b): int(np.searchsorted(grid, b)) for b in good.index}
        steps = abs(position[b_ev] - position[b_acc])
        # the permutation null: the evidence's argmax equally likely at any competing batch size
        p_null = float(np.mean([abs(position[b] - position[b_acc]) <= t.max_grid_steps for b in position]))
        out.append(dict(zip(keys, key), b_evidence=b_ev, b_accuracy=b_acc, grid_steps=steps,
                        n_batch_sizes=len(good), n_failed=int((~curve["trained"]).sum()), p_null=p_null))
    return pd.DataFrame(
        out, columns=[*keys, "b_evidence", "b_accuracy", "grid_steps", "n_batch_sizes", "n_failed", "p_null"]
    )


def null_fraction_quantile(p_null: np.ndarray, q: float = 0.95) -> float:
    """The ``q`` quantile of the fraction of curves within the grid-step bar under the permutation
    null, where curve c is within with probability ``p_null[c]`` independently (the exact
    Poisson-binomial distribution of the count, by convolution)."""
    pmf = np.array([1.0])
    for p in np.asarray(p_null, dtype=float):
        pmf = np.convolve(pmf, [1.0 - p, p])
    count = int(np.searchsorted(np.cumsum(pmf), q - 1e-12))
    return count / len(p_null)


@claim(
    "mlp_evidence_peaks_at_accuracy_optimum",
    "evidence (a)",
    "The evidence peaks within one grid step of the accuracy-optimal batch size.",
    inputs=("evidence",),
    thresholds=SECTION,
)
def claim_evidence_peaks_at_accuracy_optimum(table: pd.DataFrame | None, t: EvidenceThresholds) -> ClaimResult:
    """The evidence-maximising batch size lies within ``max_grid_steps`` grid steps of the
    accuracy-maximising one on at least ``min_fraction`` of the curves (:func:`evidence_peaks`),
    and on more of them than a random argmax would manage: above the 95th percentile of the
    permutation null (:func:`null_fraction_quantile`). On short curves a random argmax is within
    one step most of the time (7/9 on three batch sizes), so the null is the real bar: a fraction
    that clears ``min_fraction`` but not the null is undecided (the grid cannot tell the
    evidence from chance)."""
    criterion = (
        f"on >= {100 * t.min_fraction:.0f}% of the curves with >= {t.min_batch_sizes} trained batch sizes, "
        f"argmax_B evidence [{t.method}, lambda = {t.prior_precision}] within {t.max_grid_steps} grid step(s) "
        "of argmax_B test accuracy, and that fraction above the 95th percentile of its permutation null "
        "(the evidence's argmax drawn uniformly among each curve's trained batch sizes); at or below "
        "the null's percentile: undecided"
    )
    cid = "mlp_evidence_peaks_at_accuracy_optimum"
    if table is None:
        return missing(cid, criterion, "no evidence table")
    peaks = evidence_peaks(table, t)
    if peaks.empty:
        return missing(cid, criterion, "no curve with enough trained batch sizes")
    within = peaks["grid_steps"] <= t.max_grid_steps
    fraction = float(within.mean())
    null_q95 = null_fraction_quantile(peaks["p_null"].to_numpy())
    parts = [
        f"{int(within.sum())}/{len(peaks)} curves within ({100 * fraction:.0f}%); permutation null: "
        f"mean {100 * peaks['p_null'].mean():.0f}%, 95th percentile {100 * null_q95:.0f}%"
    ]
    parts += [
        f"N={r.n_train} eps={r.learning_rate:g} m={r.momentum:g}: B_ev={r.b_evidence}, B_acc={r.b_accuracy} "
        f"({r.grid_steps} step{'s' if r.grid_steps != 1 else ''})"
        for r in peaks.itertuples()
    ]
    parts.append(f"{int(peaks['n_failed'].sum())} failed runs excluded")
    if fraction < t.min_fraction:
        verdict = DOES_NOT_HOLD
    else:
        verdict = HOLDS if fraction > null_q95 else UNDECIDED
    return result(cid, criterion, "; ".join(parts), verdict)




#: The generalisation measures compared within curves (Jiang et al. 2019, "Fantastic
#: generalization measures"): name -> (column of the evidence table, sign), each oriented so
#: that larger should mean better test accuracy.
MEASURES = {
    "evidence": (EVIDENCE_COLUMN, 1.0),
    "sharpness (negated)": ("sharpness", -1.0),
    "Gauss-Newton trace (negated)": ("ggn_trace", -1.0),
    "Occam factor (negated)": ("occam_factor_per_example", -1.0),
}


def within_curve_measures(table: pd.DataFrame, t: EvidenceThresholds) -> pd.DataFrame:
    """Per curve and measure (:data:`MEASURES`), the Spearman rho over the curve's well-trained
    batch sizes between the seed-mean measure and the seed-mean test accuracy.

    A batch size is well trained when its seed-mean test accuracy is at least
    ``t.well_trained_accuracy`` (over the runs that trained, as for the other claims); a curve
    enters with at least ``t.min_well_trained_batch_sizes`` of them. The evidence is
    ``t.method`` at ``t.prior_precision``; sharpness and the Gauss-Newton trace are run-level
    (the same on every row of a run). One row per (curve, measure): ``n_batch_sizes``, ``rho``.
    """
    keys = list(CURVE_SETTINGS)
    rows = select_evidence(table, t.method, t.prior_precision)
    rows = rows[trained_mask(rows, t.failed_accuracy) & np.isfinite(rows[EVIDENCE_COLUMN])]
    measures = {name: spec for name, spec in MEASURES.items() if spec[0] in rows}  # a table may lack some
    columns = [column for column, _ in measures.values()]
    out = []
    for key, curve in rows.groupby(keys, sort=True):
        means = curve.groupby("batch_size")[[*columns, "test_accuracy"]].mean()
        good = means[means["test_accuracy"] >= t.well_trained_accuracy]
        if len(good) < t.min_well_trained_batch_sizes:
            continue
        for name, (column, sign) in measures.items():
            rho = float(stats.spearmanr(sign * good[column], good["test_accuracy"]).statistic)
            out.append(dict(zip(keys, key), measure=name, n_batch_sizes=len(good), rho=rho))
    return pd.DataFrame(out, columns=[*keys, "measure", "n_batch_sizes", "rho"])


def _curve_label(r) -> str:
    return f"N={r.n_train} eps={r.learning_rate:g} m={r.momentum:g}"


@claim(
    "mlp_evidence_ranks_well_trained_runs",
    "evidence (c)",
    "Within a curve, the evidence ranks networks that all trained (test accuracy >= 85%) like their "
    "test accuracy.",
    inputs=("evidence",),
    thresholds=SECTION,
)
def claim_evidence_ranks_well_trained(table: pd.DataFrame | None, t: EvidenceThresholds) -> ClaimResult:
    """Median over curves of the within-curve rho of the evidence (:func:`within_curve_measures`)
    at least ``min_median_within_curve_rho``, and rho > 0 on at least ``min_positive_fraction`` of
    the curves; no curve with enough well-trained batch sizes: not measured."""
    cid = "mlp_evidence_ranks_well_trained_runs"
    criterion = (
        f"over the curves with >= {t.min_well_trained_batch_sizes} batch sizes of seed-mean test accuracy "
        f">= {t.well_trained_accuracy:g}: Spearman rho(seed-mean ln evidence ratio [{t.method}, lambda = "
        f"{t.prior_precision}], seed-mean test accuracy) over those batch sizes; holds if the median over "
        f"curves is >= {t.min_median_within_curve_rho:g} and rho > 0 on >= {100 * t.min_positive_fraction:.0f}% "
        "of the curves"
    )
    if table is None:
        return missing(cid, criterion, "no evidence table")
    m = within_curve_measures(table, t)
    ev = m[m["measure"] == "evidence"]
    if ev.empty:
        return missing(cid, criterion, "no curve with enough well-trained batch sizes")
    median, positive = float(ev["rho"].median()), float((ev["rho"] > 0).mean())
    parts = [f"median rho {median:.2f} over {len(ev)} curves, rho > 0 on {int((ev['rho'] > 0).sum())}/{len(ev)}"]
    parts += [f"{_curve_label(r)}: rho {r.rho:.2f} over {r.n_batch_sizes} B" for r in ev.itertuples()]
    holds = np.isfinite(median) and median >= t.min_median_within_curve_rho and positive >= t.min_positive_fraction
    return result(cid, criterion, "; ".join(parts), HOLDS if holds else DOES_NOT_HOLD)


@claim(
    "mlp_evidence_beats_other_measures",
    "evidence (d)",
    "Within curves of well-trained networks, the evidence tells test accuracy better than sharpness, "
    "the Gauss-Newton trace or the Occam factor alone.",
    inputs=("evidence",),
    thresholds=SECTION,
)
def claim_evidence_beats_other_measures(table: pd.DataFrame | None, t: EvidenceThresholds) -> ClaimResult:
    """The evidence's median within-curve rho exceeds that of every other measure of
    :data:`MEASURES` (each negated, so that larger should mean better)."""
    cid = "mlp_evidence_beats_other_measures"
    criterion = (
        "median over curves of the within-curve rho (as mlp_evidence_ranks_well_trained_runs) of the evidence "
        "above that of every other measure: sharpness, Gauss-Newton trace and Occam factor, each negated"
    )
    if table is None:
        return missing(cid, criterion, "no evidence table")
    m = within_curve_measures(table, t)
    if m.empty:
        return missing(cid, criterion, "no curve with enough well-trained batch sizes")
    medians = m.groupby("measure", sort=False)["rho"].median()
    others = medians.drop("evidence")
    if others.empty:
        return missing(cid, criterion, "the evidence table has none of the other measures")
    measured = "median rho: " + ", ".join(f"{name} {value:.2f}" for name, value in medians.items())
    measured += f" ({m['measure'].eq('evidence').sum()} curves)"
    beats = np.isfinite(medians["evidence"]) and bool((medians["evidence"] > others.fillna(-np.inf)).all())
    return result(cid, criterion, measured, HOLDS if beats else DOES_NOT_HOLD)


#: The run keys of one row of :func:`estimator_check` (with the seed).
_RUN_KEYS = ("n_train", "learning_rate", "momentum", "batch_size", "l2", "steps", "seed")


def estimator_check(table: pd.DataFrame) -> pd.DataFrame:
    """KFAC against method ``slq`` (every trained run) and against method ``exact`` (the runs
    ``evidence.exact_network`` picks, trained or not), and ``slq`` against ``exact``, run by run:
    one row per run that has ``slq`` or ``exact`` rows.

    Each method at its own evidence-maximising precision, in nats per example above the null
    model: ``lambda_<m>`` and ``<m>`` for ``m`` in kfac, slq, exact; ``slq_standard_error`` and
    ``slq_bound`` (per example); ``exact_non_map`` and ``kfac_non_map`` (the non-MAP terms);
    ``kfac_minus_slq``, ``kfac_minus_exact``, ``slq_minus_exact`` (each at its own maximum) and
    ``kfac_minus_slq_same_lambda``, ``kfac_minus_exact_same_lambda`` (both on the grid precision
    nearest the reference's maximum); ``trace_ratio``, KFAC's Gauss-Newton trace over the exact
    one. ``nan`` where a run lacks a method. Empty (same columns) without slq or exact rows.
    """
    keys = [k for k in _RUN_KEYS if k in table]
    methods = ("kfac", "slq", "exact")
    columns = [*keys, "status", "test_accuracy", *(c for m in methods for c in (f"lambda_{m}", m)),
               "slq_standard_error", "slq_bound", "exact_non_map", "kfac_non_map", "kfac_minus_slq",
               "kfac_minus_slq_same_lambda", "kfac_minus_exact", "kfac_minus_exact_same_lambda", "slq_minus_exact",
               "trace_ratio"]
    best = table[table["prior_kind"] == "maximum"]
    per = {m: best[best["method"] == m].set_index(keys) for m in methods}
    runs = list(dict.fromkeys([*per["slq"].index, *per["exact"].index]))
    if not runs:
        return pd.DataFrame(columns=columns)
    grid = table[table["prior_kind"] == "grid"]

    def value(m, run, column=EVIDENCE_COLUMN):
        return float(per[m].loc[run, column]) if run in per[m].index and column in per[m] else np.nan

    def same_lambda(run, reference):
        """KFAC minus the reference on the grid precision nearest the reference's maximum."""
        if run not in per[reference].index or run not in per["kfac"].index:
            return np.nan
        on_grid = grid[(grid[keys] == pd.Series(run, index=keys)).all(axis=1)]
        levels = np.unique(on_grid["prior_precision"].to_numpy())
        if not len(levels):
            return np.nan
        nearest = levels[np.argmin(np.abs(np.log(levels) - np.log(value(reference, run, "prior_precision"))))]
        pick = on_grid[np.isclose(on_grid["prior_precision"], nearest)].set_index("method")[EVIDENCE_COLUMN]
        return float(pick.get("kfac", np.nan) - pick.get(reference, np.nan))

    rows = []
    for run in runs:
        first = per["slq"].loc[run] if run in per["slq"].index else per["exact"].loc[run]
        row = {**dict(zip(keys, run)), "status": first["status"], "test_accuracy": first["test_accuracy"]}
        for m in methods:
            row[f"lambda_{m}"], row[m] = value(m, run, "prior_precision"), value(m, run)
        row.update(
            slq_standard_error=value("slq", run, "occam_standard_error_per_example"),
            slq_bound=value("slq", run, "occam_bound_per_example"),
            exact_non_map=value("exact", run, "non_map_term_per_example"),
            kfac_non_map=value("kfac", run, "non_map_term_per_example"),
            kfac_minus_slq=row["kfac"] - row["slq"], kfac_minus_slq_same_lambda=same_lambda(run, "slq"),
            kfac_minus_exact=row["kfac"] - row["exact"], kfac_minus_exact_same_lambda=same_lambda(run, "exact"),
            slq_minus_exact=row["slq"] - row["exact"],
            trace_ratio=float(first["kfac_ggn_trace"] / first["ggn_trace"]),
        )
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)
