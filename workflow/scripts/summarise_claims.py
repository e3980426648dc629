"""The claims report (rule summarise_claims): every claim's verdict from the tables the workflow
computed (bayes_sgd.claims.registry), rendered as Markdown and HTML (bayes_sgd.claims.report), and the claims
as a table. A claim of a stage the configuration does not build (config key targets) is 'not
measured', and says so."""

from pathlib import Path

import pandas as pd

from bayes_sgd.claims import report
from bayes_sgd import claims
from bayes_sgd.logging_setup import script_logger
from bayes_sgd.claims.evidence import SECTION as EVIDENCE_THRESHOLDS
from bayes_sgd.sweeps import describe_sweeps
from bayes_sgd.tables import read_table, write_atomic, write_table

log = script_logger(snakemake)
inp, p = snakemake.input, snakemake.params
thresholds = claims.ClaimThresholds(**p.thresholds)
not_built = {name: p.not_built[stage] for name, stage in p.table_stages.items() if stage in p.not_built}
paths = {name: inp[name] for name in p.table_stages if name not in not_built}
tables = {name: read_table(path) for name, path in paths.items()}
results = claims.evaluate_claims(tables, thresholds, not_built=not_built)
# The evidence of the trained networks [our extension]: verdicts judged by rule
# assess_evidence_claims (the same registry), reported here as they are (never re-evaluated),
# as read from that rule's table.
if "evidence" in p.not_built:
    results += claims.evaluate_claims(not_built={"evidence": p.not_built["evidence"]}, thresholds={EVIDENCE_THRESHOLDS: None})
else:
    results += [
        claims.ClaimResult(**{**row, "tables": "evidence_claims"})
        for row in read_table(inp.evidence_claims).to_dict("records")
    ]
    paths["evidence_claims"] = inp.evidence_claims
    paths["evidence_check"] = inp.evidence_check
for r in results:
    log.info("%s: %s (%s)", r.claim_id, r.verdict, r.measured)

variants = None
if inp.variants:  # the protocol-variant comparison [our extension]: its section, read from its tables
    overview_path, verdicts_path = inp.variants
    variants = report.variants_context(
        dataset=p.dataset, overview=read_table(overview_path), verdicts=read_table(verdicts_path), seeds=p.variant_seeds
    )
    paths.update(variants_overview=overview_path, variants_verdicts=verdicts_path)
diagnosis = None
if inp.diagnosis:  # the diagnosis [our extension]: its section, read from its tables
    hypotheses_path, diagnosis_overview_path = inp.diagnosis
    diagnosis = report.diagnosis_context(
        dataset=p.dataset, hypotheses=read_table(hypotheses_path), overview=read_table(diagnosis_overview_path)
    )
    paths.update(diagnosis_hypotheses=hypotheses_path, diagnosis_overview=diagnosis_overview_path)
context = report.report_context(
    dataset=p.dataset,
    results=results,
    thresholds=thresholds,
    optima={sweep: read_table(path) for sweep, path in zip(p.sweeps, inp.optima)},
    fits=pd.concat([tables[f"{sweep}_fits"] for sweep in p.sweeps if f"{sweep}_fits" in tables] or [pd.DataFrame()], ignore_index=True),
    not_built=p.not_built,
    sweeps=describe_sweeps(p.sweep_settings),
    table_paths=paths,
    diverged_accuracy=p.diverged_accuracy,
    untrained_accuracy=p.untrained_accuracy,
    variants=variants,
    diagnosis=diagnosis,
    evidence_check=None if "evidence" in p.not_built else read_table(inp.evidence_check),
)
write_atomic(snakemake.output.summary, lambda tmp: Path(tmp).write_text(report.render_markdown(context)))
write_atomic(snakemake.output.html, lambda tmp: Path(tmp).write_text(report.render_html(context)))
write_table(
    claims.claims_table(results),
    snakemake.output.claims,
    {"dataset": p.dataset, "targets": list(p.targets), "not_built": dict(p.not_built),
     "thresholds": dict(p.thresholds), "inputs": paths, "status": "ok"},
)
log.info("wrote %s", ", ".join(snakemake.output))
