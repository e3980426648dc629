"""The diagnosis (rule diagnose): every hypothesis of bayes_sgd.diagnosis judged on the sweep fits of
the variant it is tested under, one row per prediction (hypotheses.parquet), one per hypothesis
(overview.parquet), the points of the figure (points.parquet) and the section of the report
(Markdown, HTML)."""

from pathlib import Path

from bayes_sgd import claims, diagnosis
from bayes_sgd.claims import report
from bayes_sgd.logging_setup import script_logger
from bayes_sgd.tables import read_table, write_atomic, write_table

log = script_logger(snakemake)
p = snakemake.params
thresholds = claims.ClaimThresholds(**p.thresholds)
keys = [tuple(k.split("/")) for k in p.fits]
fits = {key: read_table(snakemake.input[f"fits_{'/'.join(key)}"]) for key in keys}
optima = {key: read_table(snakemake.input[f"optima_{'/'.join(key)}"]) for key in keys}
hypotheses = diagnosis.judge_hypotheses(p.variants, fits, thresholds, p.seeds)
variant_claims = {name: read_table(path) for name, path in zip(p.tested, snakemake.input.variant_claims)}
overview = diagnosis.hypothesis_overview(hypotheses, variant_claims)
points = diagnosis.diagnosis_points(optima)
for _, row in hypotheses.iterrows():
    log.info("%s (variant %s): %s -> %s (%s)", row["hypothesis"], row["variant"] or "none", row["prediction"],
             row["outcome"], row["measured"])
for _, row in overview.iterrows():
    log.info("%s: %s%s", row["hypothesis"], row["verdict"], "; explains the paper's scaling rules" if row["explains_paper"] else "")
provenance = {
    "dataset": p.dataset, "variants": dict(p.variants), "thresholds": dict(p.thresholds), "seeds": dict(p.seeds),
    "hypotheses": [h.name for h in diagnosis.HYPOTHESES],
    "inputs": [str(path) for name, path in snakemake.input.items() if name.startswith(("fits_", "optima_"))]
    + list(snakemake.input.variant_claims),
    "status": "ok",
}
write_table(hypotheses, snakemake.output.hypotheses, provenance)
write_table(overview, snakemake.output.overview, provenance)
write_table(points, snakemake.output.points, provenance)
context = report.diagnosis_context(dataset=p.dataset, hypotheses=hypotheses, overview=overview)
write_atomic(snakemake.output.summary, lambda tmp: Path(tmp).write_text(report.render_diagnosis_markdown(context)))
write_atomic(snakemake.output.html, lambda tmp: Path(tmp).write_text(report.render_diagnosis_html(context, page=True)))
log.info("wrote %s", ", ".join(snakemake.output))
