"""The two evidence claims and each curve's evidence and accuracy optima (rule assess_evidence_claims)."""

from dataclasses import asdict

import pandas as pd

from bayes_sgd.logging_setup import script_logger
from bayes_sgd.mlp_evidence import evidence_claims, evidence_peaks
from bayes_sgd.tables import read_table, write_table

log = script_logger(snakemake)
p = snakemake.params
table = read_table(snakemake.input.evidence)
claims = evidence_claims(table, p.claims, p.failed_accuracy)
for c in claims:
    log.info("%s: %s (%s)", c.claim_id, c.verdict, c.measured)
peaks = evidence_peaks(table, method=p.claims["method"], prior=p.claims["prior_precision"],
                       failed_accuracy=p.failed_accuracy, min_batch_sizes=p.claims["min_batch_sizes"])
provenance = {"dataset": str(table["dataset"].iloc[0]), "claims": dict(p.claims),
              "failed_accuracy": p.failed_accuracy, "status": "ok"}
write_table(pd.DataFrame([asdict(c) for c in claims]), snakemake.output.claims, provenance)
write_table(peaks, snakemake.output.peaks, provenance)
log.info("wrote %s and %s", snakemake.output.claims, snakemake.output.peaks)
