"""The protocol-variant comparison (rule compare_variants): every variant's claims in one table,
the per-variant overview (do Figures 3, 4 and 8 hold, do the scaling rules), the accuracy-against-B
rows of the comparison figure, and the section of the report (Markdown, HTML)."""

from pathlib import Path

from bayes_sgd import variants
from bayes_sgd.claims import report
from bayes_sgd.logging_setup import script_logger
from bayes_sgd.tables import read_table, write_atomic, write_table

log = script_logger(snakemake)
p = snakemake.params
names = list(p.variants)
verdicts = variants.verdict_table(
    {name: read_table(path) for name, path in zip(names, snakemake.input.claims)}, p.variants
)
overview = variants.variant_overview(verdicts)
accuracy = variants.accuracy_table(
    {name: read_table(path) for name, path in zip(names, snakemake.input.curves)}, p.variants
)
for _, row in overview.iterrows():
    log.info("%s (%s): Figures 3, 4, 8 %s; scaling rules %s", row["variant"], row["changes"],
             row["figures_3_4_8"], row["scaling"])
provenance = {"dataset": p.dataset, "variants": dict(p.variants), "seeds": p.seeds,
              "inputs": list(snakemake.input.claims) + list(snakemake.input.curves), "status": "ok"}
write_table(verdicts, snakemake.output.verdicts, provenance)
write_table(overview, snakemake.output.overview, provenance)
write_table(accuracy, snakemake.output.accuracy, provenance)
context = report.variants_context(dataset=p.dataset, overview=overview, verdicts=verdicts, seeds=p.seeds)
write_atomic(snakemake.output.summary, lambda tmp: Path(tmp).write_text(report.render_variants_markdown(context)))
write_atomic(snakemake.output.html, lambda tmp: Path(tmp).write_text(report.render_variants_html(context, page=True)))
log.info("wrote %s", ", ".join(snakemake.output))
