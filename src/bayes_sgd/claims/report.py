"""The claims report: rendering only (the verdicts are :mod:`bayes_sgd.claims.registry`).

:func:`report_context` gathers everything the report shows, as tables and plain values, from
the tables the workflow computed; :func:`render_markdown` and :func:`render_html` fill the
Jinja2 templates of ``bayes_sgd/claims/templates/`` with it. Tables are written by
``DataFrame.to_markdown`` (tabulate) and ``DataFrame.to_html``; the prose lives in
``templates/report_text.j2``, shared by both formats. Nothing here computes a number: each
cell is a formatted value of one row of one input table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

import jinja2
import numpy as np
import pandas as pd
from markupsafe import Markup

from bayes_sgd.claims.formatting import number, percent
from bayes_sgd.claims.registry import (
    DOES_NOT_HOLD, HOLDS, NOT_MEASURED, TABLES, UNDECIDED, VERDICTS, ClaimResult, ClaimThresholds,
)
from bayes_sgd.sweeps import get_sweep

_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.PackageLoader("bayes_sgd.claims", "templates"),
    autoescape=lambda name: bool(name) and name.endswith(".html.j2"),
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined,
)

_METHOD = {"t": "Student t", "bootstrap": "seed bootstrap"}


def _interval(low: float, high: float) -> str:
    return f"[{number(low)}, {number(high)}]" if np.isfinite(low) and np.isfinite(high) else "-"


def claims_frame(rows: Sequence[ClaimResult]) -> pd.DataFrame:
    """The claims as the report shows them (one row per claim)."""
    return pd.DataFrame(
        [
            {
                "Figure": r.figure,
                "Claim": r.claim_id,
                "Paper's statement": r.statement,
                "Criterion": r.criterion,
                "Measured": r.measured,
                "Tables": r.tables,
                "Verdict": r.verdict,
            }
            for r in rows
        ]
    )


def optima_frame(optima: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Every curve's optimum, one row per curve, from the sweeps' ``optima.parquet`` tables.

    ``optima``: swept column -> :func:`bayes_sgd.scaling.noise_scale.scaling_points` output of that
    sweep.
    """
    rows = []
    for column, table in optima.items():
        sweep = get_sweep(column)
        for _, r in table.sort_values(column).iterrows():
            std = r["best_accuracy_std"]
            located = np.isfinite(r["b_opt"])
            rows.append(
                {
                    "Figure": sweep.figure,
                    "Curve": f"{sweep.symbol} = {r[column]:g}",
                    "Updates": int(r["steps"]),
                    "Grid of B": f"{r['b_grid_min']:g} to {r['b_grid_max']:g} ({int(r['n_batch_sizes'])})",
                    "Seeds": int(r["n_seeds"]),
                    "Best grid B": f"{r['b_best']:g}" if located else "none",
                    "Its accuracy (seed mean +- std)": percent(r["best_accuracy"])
                    + (f" +- {percent(std)}" if np.isfinite(std) else ""),
                    "Refined B_opt [bootstrap interval]": (
                        f"{number(r['b_opt'])} {_interval(r['b_opt_low'], r['b_opt_high'])}" if located else "none"
                    ),
                    "g_opt [interval]": (
                        f"{number(r['optimum_noise_scale'])} "
                        f"{_interval(r['optimum_noise_scale_low'], r['optimum_noise_scale_high'])}"
                        if located
                        else "none"
                    ),
                    "In the fit": "yes" if r["used"] else f"no ({r['excluded_because']})",
                }
            )
    return pd.DataFrame(rows)


def fits_frame(fits: pd.DataFrame) -> pd.DataFrame:
    """The log-log fits of B_opt, one row per (sweep, region, method), from ``fits.parquet``."""
    rows = []
    for _, r in fits.iterrows():
        sweep = get_sweep(r["sweep"])
        region = "all interior optima" if np.isnan(r["min_x"]) else f"{sweep.x_symbol} >= {r['min_x']:g}"
        fitted = bool(r["fitted"])
        rows.append(
            {
                "Figure": f"{sweep.figure}b",
                "B_opt against": sweep.x_symbol,
                "Optima": region,
                "Interval": f"{_METHOD.get(r['method'], r['method'])}, {100 * r['confidence']:g}%",
                "Slope [interval]": f"{r['slope']:.2f} {_interval(r['slope_low'], r['slope_high'])}"
                if fitted
                else "not fitted",
                "Optima used": int(r["n_points"]),
                "Range of x": f"{r['x_min']:g} to {r['x_max']:g}" if fitted else "-",
                "Note": r["reason"] or r["excluded"],
            }
        )
    return pd.DataFrame(rows)


def report_context(
    *,
    dataset: str,
    results: Sequence[ClaimResult],
    thresholds: ClaimThresholds,
    optima: Mapping[str, pd.DataFrame],
    fits: pd.DataFrame,
    sweeps: Sequence[Mapping[str, Any]],
    table_paths: Mapping[str, str],
    diverged_accuracy: float,
    untrained_accuracy: float,
    variants: Mapping[str, Any] | None = None,
    diagnosis: Mapping[str, Any] | None = None,
    not_built: Mapping[str, str] | None = None,
    evidence_check: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Everything the report shows, as tables and plain values (the templates' one input).

    ``sweeps``: :func:`bayes_sgd.sweeps.describe_sweeps` records; ``table_paths``: claim input
    name -> file it was read from; ``variants``: :func:`variants_context` of the protocol-variant
    comparison, if the configuration has one (the report then has its section); ``diagnosis``:
    :func:`diagnosis_context` of the diagnosis, likewise; ``not_built``:
    stage -> why the configuration did not build it (the report says so, and a section of a
    stage not built shows that reason instead of its table); ``evidence_check``: the
    ``estimator_check.parquet`` of the evidence stage (:func:`bayes_sgd.claims.evidence.estimator_check`),
    shown as its section.
    """
    meanings = ClaimThresholds.meanings()
    read = {name for r in results for name in r.tables.split(", ") if name}  # the tables the claims read
    counts = {v: sum(r.verdict == v for r in results) for v in VERDICTS}
    return dict(
        title=f"Claims report: Smith & Le (ICLR 2018) reproduced on {dataset}",
        dataset=dataset,
        diverged_accuracy=float(diverged_accuracy),
        untrained_accuracy=float(untrained_accuracy),
        claims=claims_frame(results),
        verdict_counts=counts,
        not_measured=NOT_MEASURED,
        thresholds=[
            dict(name=f.name, value=getattr(thresholds, f.name), meaning=meanings[f.name])
            for f in fields(ClaimThresholds)
        ],
        optima=optima_frame(optima),
        fits=fits_frame(fits),
        sweeps=list(sweeps),
        tables=[
            dict(name=name, path=table_paths.get(name, "not given"), holds=holds)
            for name, holds in REPORTED_TABLES.items()
            if name in read or name in table_paths
        ],
        variants=variants,
        diagnosis=diagnosis,
        not_built=dict(not_built or {}),
        evidence_check=None if evidence_check is None else evidence_check_frame(evidence_check),
        evidence_check_summary="" if evidence_check is None else kfac_error_summary(evidence_check),
    )


def evidence_check_frame(check: pd.DataFrame) -> pd.DataFrame:
    """The report's rows of ``estimator_check.parquet``: one per run with the slq or the exact
    evidence (nats per example above the null model, each method at its own maximum; "-" where a
    run lacks a method)."""
    f = lambda x: "-" if pd.isna(x) else f"{x:.4f}"  # noqa: E731
    slq = [("-" if pd.isna(v) else f"{v:.4f}" + ("" if pd.isna(se) or se == 0 else f" ({se:.4f})"))
           for v, se in zip(check["slq"], check["slq_standard_error"])]
    return pd.DataFrame(
        {
            "N": check["n_train"].astype(int), "eps": check["learning_rate"].map("{:g}".format),
            "m": check["momentum"].map("{:g}".format), "B": check["batch_size"].astype(int),
            "Seed": check["seed"].astype(int), "Test accuracy": check["test_accuracy"].map(lambda x: f"{x:.3f}"),
            "SLQ ln Z/N - null (SE)": slq, "KFAC - SLQ": check["kfac_minus_slq"].map(f),
            "KFAC - SLQ, same lambda": check["kfac_minus_slq_same_lambda"].map(f),
            "Exact ln Z/N - null": check["exact"].map(f), "SLQ - exact": check["slq_minus_exact"].map(f),
            "KFAC - exact": check["kfac_minus_exact"].map(f), "Non-MAP term/N": check["exact_non_map"].map(f),
            "KFAC / exact GGN trace": check["trace_ratio"].map(lambda x: f"{x:.3g}"),
        }
    )


def kfac_error_summary(check: pd.DataFrame) -> str:
    """One sentence on KFAC minus SLQ over every run that has both (nats per example)."""
    both = check.dropna(subset=["kfac_minus_slq"])
    if both.empty:
        return "No run has both the KFAC and the slq evidence."
    err = both["kfac_minus_slq"]
    worst = both.loc[err.abs().idxmax()]
    return (f"KFAC minus SLQ over the {len(both)} runs with both (nats per example, each at its own maximum): median "
            f"{err.median():+.4f}, median |error| {err.abs().median():.4f}, {int((err.abs() > 0.01).sum())} runs off by "
            f"more than 0.01 (10 nats per 1,000 examples); the largest, {err.abs().max():.4f}, at N={int(worst['n_train'])} "
            f"eps={worst['learning_rate']:g} m={worst['momentum']:g} B={int(worst['batch_size'])} seed {int(worst['seed'])} "
            f"(test accuracy {worst['test_accuracy']:.3f}). " + _slq_minus_exact(check))


def _slq_minus_exact(check: pd.DataFrame) -> str:
    """SLQ against the exact evidence where the run computed both (evidence.exact_network)."""
    both = check["slq_minus_exact"].dropna()
    if both.empty:
        return ("No run of this configuration has the exact evidence (evidence.exact_network); "
                "scripts/validate_slq.py measures SLQ against it.")
    return f"SLQ minus exact on the {len(both)} runs with both: largest |difference| {both.abs().max():.5f}."


# The claims' input tables, then the tables whose verdicts the report shows as judged elsewhere.
REPORTED_TABLES: dict[str, str] = {
    **TABLES,
    "evidence_claims": "verdicts of the claims on the trained networks' evidence [our extension] (rule assess_evidence_claims)",
    "evidence_check": "KFAC's evidence against SLQ's and the exact evidence of the whole network, run by run [our extension] (rule assess_evidence_claims)",
    "variants_verdicts": "every protocol variant's claims, one row per variant and claim [our extension] (rule compare_variants)",
    "variants_overview": "per protocol variant: do Figures 3, 4 and 8 and the scaling rules hold (rule compare_variants)",
    "diagnosis_hypotheses": "every hypothesis of the diagnosis, one row per prediction [our extension] (rule diagnose)",
    "diagnosis_overview": "per hypothesis of the diagnosis: its verdict and whether it explains the paper's figures (rule diagnose)",
}


def _markdown_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """Cells safe inside a Markdown pipe table (a literal bar is escaped)."""
    return frame.astype(str).apply(lambda col: col.str.replace("|", "\\|", regex=False).str.replace("\n", " "))


def render_markdown(context: Mapping[str, Any]) -> str:
    """The report as Markdown (``summary.md``)."""
    claims = context["claims"].assign(
        Claim=lambda f: "`" + f["Claim"] + "`",
        Verdict=lambda f: f["Verdict"].where(f["Verdict"] == NOT_MEASURED, "**" + f["Verdict"] + "**"),
    )
    md = _md_table
    return _ENVIRONMENT.get_template("summary.md.j2").render(
        **context, claims_table=md(claims), optima_table=md(context["optima"]), fits_table=md(context["fits"]),
        evidence_check_table=md(context["evidence_check"]) if context["evidence_check"] is not None else "",
        variants_section=render_variants_markdown(context["variants"]) if context["variants"] else "",
        diagnosis_section=render_diagnosis_markdown(context["diagnosis"]) if context["diagnosis"] else "",
    )


def render_html(context: Mapping[str, Any]) -> str:
    """The report as a standalone HTML page (``summary.html``, shown by ``snakemake --report``)."""
    return _ENVIRONMENT.get_template("summary.html.j2").render(
        **context,
        claim_rows=context["claims"].to_dict("records"),
        optima_table=_html_table(context["optima"]),
        fits_table=_html_table(context["fits"]),
        evidence_check_table=_html_table(context["evidence_check"]) if context["evidence_check"] is not None else "",
        variants_section=Markup(render_variants_html(context["variants"])) if context["variants"] else "",
        diagnosis_section=Markup(render_diagnosis_html(context["diagnosis"])) if context["diagnosis"] else "",
    )


def results_table(claims_table: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """The README's "Results of the default run" table from a run's ``claims.parquet``.

    One row per claim, in the table's order: the figure, the claim (its id in words), what was
    measured and the verdict, each cell copied from the claims table.
    """
    return pd.DataFrame(
        {
            "Figure": claims_table["figure"].str.removeprefix("Fig. "),
            "Claim": claims_table["claim_id"].str.replace("_", " "),
            f"Measured on {dataset}": claims_table["measured"],
            "Verdict": claims_table["verdict"],
        }
    )


def verdict_counts_line(claims_table: pd.DataFrame) -> str:
    """How many claims of a ``claims.parquet`` have each verdict, as one sentence."""
    counts = claims_table["verdict"].value_counts()
    return "Verdicts: " + ", ".join(f"{int(counts.get(v, 0))} {v}" for v in VERDICTS) + "."


def results_markdown(claims_table: pd.DataFrame, dataset: str) -> str:
    """:func:`results_table` as a Markdown pipe table, then :func:`verdict_counts_line`."""
    table = _markdown_cells(results_table(claims_table, dataset)).to_markdown(index=False, tablefmt="pipe")
    return f"{table}\n\n{verdict_counts_line(claims_table)}\n"


def measures_frame(measures: pd.DataFrame) -> pd.DataFrame:
    """``measures.parquet`` (:func:`bayes_sgd.claims.evidence.within_curve_measures`) as a curve x
    measure table of within-curve rho, with the well-trained batch sizes of each curve."""
    if measures.empty:
        return pd.DataFrame()
    label = ("N=" + measures["n_train"].astype(str) + " eps=" + measures["learning_rate"].map("{:g}".format)
             + " m=" + measures["momentum"].map("{:g}".format))
    table = measures.assign(Curve=label).pivot_table(index=["Curve", "n_batch_sizes"], columns="measure", values="rho",
                                                     sort=False)
    table = table.reindex(columns=list(dict.fromkeys(measures["measure"])))
    return table.map(lambda x: f"{x:.2f}").reset_index().rename(columns={"n_batch_sizes": "Batch sizes"})


def evidence_markdown(claims_table: pd.DataFrame, check: pd.DataFrame, measures: pd.DataFrame | None = None) -> str:
    """The README's evidence results from a run's ``results/evidence/<dataset>/claims.parquet``
    and the ``estimator_check.parquet`` and ``measures.parquet`` beside it: each evidence claim's
    verdict and measurement, KFAC against SLQ over every run (:func:`kfac_error_summary`), the runs with
    the exact evidence (:func:`evidence_check_frame`)
    and the generalisation measures (:func:`measures_frame`), every cell copied from those tables."""
    claims = "\n".join(
        f"- `{r.claim_id}` ({r.figure}): **{r.verdict}**. {r.measured}." for r in claims_table.itertuples()
    )
    exact = check[check["exact"].notna()]
    exact_table = "" if exact.empty else (
        "\n\nThe runs with the exact evidence of the whole network "
        "(nats per example above the null model, each method at its own evidence-maximising prior precision; "
        "SLQ's standard error in brackets where it has one; the non-MAP term beside them; every run's row is in the "
        f"claims report):\n\n{_md_table(evidence_check_frame(exact))}"
    )
    return (
        f"{claims}\n\n{kfac_error_summary(check)}{exact_table}\n"
        + ("" if measures is None else
           "\nGeneralisation measures (Jiang et al. 2019) among well-trained batch sizes: the Spearman rho of each "
           "measure (oriented so that larger should mean better) with test accuracy within each curve:\n\n"
           f"{_md_table(measures_frame(measures))}\n")
    )


# --- the protocol-variant comparison (bayes_sgd.variants) ---------------------------------------


def _overview_frame(overview: pd.DataFrame) -> pd.DataFrame:
    """The columns of ``overview.parquet`` that both the report section and the README table show."""
    return pd.DataFrame(
        {
            "Variant": overview["variant"],
            "Changes": overview["changes"],
            "Figures 3, 4, 8": overview["figures_3_4_8"],
            "Scaling rules": overview["scaling"],
            "Failing claims": overview["failing_claims"].replace("", "-"),
        }
    )


def variants_context(
    *, dataset: str, overview: pd.DataFrame, verdicts: pd.DataFrame, seeds: Sequence[int] | None
) -> dict[str, Any]:
    """What the variants section shows, from ``overview.parquet`` and ``verdicts.parquet``
    (:func:`bayes_sgd.variants.variant_overview`, :func:`bayes_sgd.variants.verdict_table`)."""
    hold = overview.loc[overview["figures_3_4_8"] == HOLDS]
    names = lambda frame: list(frame["variant"])  # noqa: E731
    matrix = verdicts.pivot(index=["figure", "claim_id"], columns="variant", values="verdict")
    matrix = matrix.reindex(columns=list(overview["variant"])).reset_index()
    order = {cid: i for i, cid in enumerate(dict.fromkeys(verdicts["claim_id"]))}
    matrix = matrix.sort_values("claim_id", key=lambda c: c.map(order)).fillna("-")
    return dict(
        dataset=dataset,
        seeds="of each figure" if seeds is None else ", ".join(str(s) for s in seeds),
        headline=dict(
            hold=names(hold),
            scaling_hold=names(hold.loc[hold["scaling"] == HOLDS]),
            scaling_fail=names(hold.loc[hold["scaling"] == DOES_NOT_HOLD]),
            scaling_undecided=names(hold.loc[hold["scaling"] == UNDECIDED]),
            scaling_unmeasured=names(hold.loc[hold["scaling"] == NOT_MEASURED]),
        ),
        overview=_overview_frame(overview).assign(**{"Protocol folder": overview["protocol"]})[
            ["Variant", "Changes", "Protocol folder", "Figures 3, 4, 8", "Scaling rules", "Failing claims"]
        ],
        matrix=matrix.rename(columns={"figure": "Figure", "claim_id": "Claim"}),
        measured=pd.DataFrame(
            {"Variant": verdicts["variant"], "Claim": verdicts["claim_id"], "Measured": verdicts["measured"],
             "Verdict": verdicts["verdict"]}
        ),
    )


def rewrite_readme_section(readme, name: str, text: str) -> None:
    """Replace what lies between ``<!-- name -->`` and ``<!-- end of name -->`` in the file
    ``readme`` by ``text``; stop with the missing markers named (scripts/readme_results.py,
    scripts/validate_slq.py)."""
    import re
    import sys
    from pathlib import Path

    start, end = f"<!-- {name} -->", f"<!-- end of {name} -->"
    readme = Path(readme)
    old = readme.read_text()
    pattern = re.compile(re.escape(start) + r"\n.*?" + re.escape(end), re.DOTALL)
    if not pattern.search(old):
        sys.exit(f"{readme}: no '{start}' ... '{end}' markers")
    readme.write_text(pattern.sub(lambda _: f"{start}\n{text}{end}", old))


def _md_table(frame: pd.DataFrame) -> str:
    return _markdown_cells(frame).to_markdown(index=False, tablefmt="pipe") if len(frame) else "(none)"


def _html_table(frame: pd.DataFrame) -> Markup:
    return Markup(frame.to_html(index=False, border=0, na_rep="-") if len(frame) else "<p>(none)</p>")


def render_variants_markdown(context: Mapping[str, Any]) -> str:
    """The variants section as Markdown (``results/variants/<dataset>/summary.md``, and a section
    of the claims report)."""
    return _ENVIRONMENT.get_template("variants.md.j2").render(
        **context, overview_table=_md_table(context["overview"]), matrix_table=_md_table(context["matrix"]),
        measured_table=_md_table(context["measured"]),
    )


def render_variants_html(context: Mapping[str, Any], page: bool = False) -> str:
    """The variants section as HTML: a fragment of the claims report, or (``page``) a standalone
    page (``results/variants/<dataset>/summary.html``)."""
    return _render_section_html(
        "variants.html.j2", "Protocol variants", page, **context, overview_table=_html_table(context["overview"]),
        matrix_table=_html_table(context["matrix"]), measured_table=_html_table(context["measured"]),
    )


def _render_section_html(template: str, page_title: str, page: bool, **context: Any) -> str:
    """A report section's HTML ``template``: a fragment of the claims report, or (``page``) a
    standalone page titled ``page_title``."""
    if page:
        return _ENVIRONMENT.get_template("section_page.html.j2").render(
            **context, section_template=template, page_title=page_title
        )
    return _ENVIRONMENT.get_template(template).render(**context)


def variants_markdown(overview: pd.DataFrame, verdicts: pd.DataFrame) -> str:
    """The README's protocol-variant table from a run's ``overview.parquet`` and
    ``verdicts.parquet``: per variant its changes, the two verdicts, the failing claims and what
    Figures 3 and 4 measured (every cell copied from those tables)."""
    measured = verdicts.pivot(index="variant", columns="claim_id", values="measured")

    def column(claim_id: str) -> list[str]:
        if claim_id not in measured.columns:
            return ["-"] * len(overview)
        return [str(measured.loc[name, claim_id]) for name in overview["variant"]]

    table = _overview_frame(overview).assign(
        **{"Fig. 3 measured": column("small_batch_beats_full_batch"), "Fig. 4 measured": column("interior_optimum_batch_size")}
    )
    return _md_table(table) + "\n"


# --- the diagnosis (bayes_sgd.diagnosis) --------------------------------------------------------


def _seeds_text(value: float) -> str:
    """The seeds per point that would decide an undecided prediction, in words."""
    if pd.isna(value):
        return "-"
    return "no number (the slope sits on a bound)" if not np.isfinite(value) else f"{int(value)}"


def diagnosis_overview_frame(overview: pd.DataFrame) -> pd.DataFrame:
    """The columns of the diagnosis' ``overview.parquet`` that the report section and the README show."""
    return pd.DataFrame(
        {
            "Hypothesis": overview["hypothesis"],
            "Tested under": overview["variant"].replace("", "(no such variant configured)"),
            "Verdict": overview["verdict"],
            "Predictions are the paper's rules": overview["agrees_with_paper"].map({True: "yes", False: "no"}),
            "Figures 3, 4, 8 under it": overview["figures_3_4_8"],
            "Failing figure claims": overview["failing_figure_claims"].replace("", "-"),
            "Explains the paper's figures": overview["explains_paper"].map({True: "yes", False: "no"}),
            "Seeds per point to decide": overview["seeds_to_decide"].map(_seeds_text),
        }
    )


def diagnosis_predictions_frame(hypotheses: pd.DataFrame) -> pd.DataFrame:
    """The rows of the diagnosis' ``hypotheses.parquet``, one per (hypothesis, prediction)."""
    return pd.DataFrame(
        {
            "Hypothesis": hypotheses["hypothesis"],
            "Prediction": hypotheses["prediction"] + " (" + hypotheses["figure"] + "'s sweep)",
            "Because": hypotheses["because"],
            "Measured": hypotheses["measured"],
            "Outcome": hypotheses["outcome"],
            "Seeds per point to decide": hypotheses["seeds_to_decide"].map(_seeds_text),
        }
    )


def diagnosis_context(*, dataset: str, hypotheses: pd.DataFrame, overview: pd.DataFrame) -> dict[str, Any]:
    """What the diagnosis section shows, from ``hypotheses.parquet`` and ``overview.parquet``
    (:func:`bayes_sgd.diagnosis.judge_hypotheses`, :func:`bayes_sgd.diagnosis.hypothesis_overview`)."""
    names = lambda mask: list(overview.loc[mask, "hypothesis"])  # noqa: E731
    supported = overview["verdict"] == "supported"
    agrees = overview["agrees_with_paper"].astype(bool)
    undecided = overview.loc[overview["verdict"] == UNDECIDED]
    return dict(
        dataset=dataset,
        headline=dict(
            explains=names(overview["explains_paper"].astype(bool)),
            supported=names(supported),
            supported_against_paper=names(supported & ~agrees),
            supported_figures_fail=[
                f"{r['hypothesis']} ({r['figures_3_4_8']}{': ' + r['failing_figure_claims'] if r['failing_figure_claims'] else ''})"
                for _, r in overview.loc[supported & agrees & (overview["figures_3_4_8"] != HOLDS)].iterrows()
            ],
            refuted=names(overview["verdict"] == "refuted"),
            undecided=[f"{r['hypothesis']} (seeds per point to decide: {_seeds_text(r['seeds_to_decide'])})" for _, r in undecided.iterrows()],
            not_measured=names(overview["verdict"] == NOT_MEASURED),
        ),
        overview=diagnosis_overview_frame(overview),
        predictions=diagnosis_predictions_frame(hypotheses),
    )


def render_diagnosis_markdown(context: Mapping[str, Any]) -> str:
    """The diagnosis section as Markdown (``results/diagnosis/<dataset>/summary.md``, and a
    section of the claims report)."""
    return _ENVIRONMENT.get_template("diagnosis.md.j2").render(
        **context, overview_table=_md_table(context["overview"]), predictions_table=_md_table(context["predictions"]),
    )


def render_diagnosis_html(context: Mapping[str, Any], page: bool = False) -> str:
    """The diagnosis section as HTML: a fragment of the claims report, or (``page``) a standalone
    page (``results/diagnosis/<dataset>/summary.html``)."""
    return _render_section_html(
        "diagnosis.html.j2", "Diagnosis", page, **context, overview_table=_html_table(context["overview"]),
        predictions_table=_html_table(context["predictions"]),
    )


def diagnosis_markdown(hypotheses: pd.DataFrame, overview: pd.DataFrame, dataset: str) -> str:
    """The README's diagnosis block from a run's ``hypotheses.parquet`` and ``overview.parquet``:
    the headline in plain words, the overview and the predictions (every cell copied)."""
    context = diagnosis_context(dataset=dataset, hypotheses=hypotheses, overview=overview)
    headline = _ENVIRONMENT.from_string(
        '{% import "report_text.j2" as text %}{{ text.diagnosis_headline(headline) }}'
    ).render(headline=context["headline"])
    return f"{headline}\n\n{_md_table(context['overview'])}\n\n{_md_table(context['predictions'])}\n"
