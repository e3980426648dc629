"""The two evidence claims and each curve's evidence and accuracy optima (rule assess_evidence_claims),
judged by the claims registry with the evidence.claims thresholds."""

from dataclasses import asdict

import pandas as pd

from bayes_sgd import claims
from bayes_sgd.claims.evidence import SECTION, EvidenceThresholds, estimator_check, evidence_peaks, within_curve_measures
from bayes_sgd.logging_setup import script_logger
from bayes_sgd.tables import read_table, write_table

log = script_logger(snakemake)
p = snakemake.params
table = read_table(snakemake.input.evidence)
thresholds = EvidenceThresholds(**p.claims, failed_accuracy=p.failed_accuracy)
results = claims.evaluate_claims({"evidence": table}, {SECTION: thresholds})
for c in results:
    log.info("%s: %s (%s)", c.claim_id, c.verdict, c.measured)
peaks = evidence_peaks(table, thresholds)
provenance = {"dataset": str(table["dataset"].iloc[0]), "claims": dict(p.claims),
              "failed_accuracy": p.failed_accuracy, "status": "ok"}
write_table(pd.DataFrame([asdict(c) for c in results]), snakemake.output.claims, provenance)
write_table(peaks, snakemake.output.peaks, provenance)
check = estimator_check(table)
for _, r in check.iterrows():
    log.info("N = %d, eps = %g, m = %g, B = %d, seed %d (%s, test accuracy %.3f): slq %.4f, exact %.4f, KFAC %.4f "
             "nats/example (KFAC - slq %+.4f, slq - exact %+.4f); non-MAP term %.4f (KFAC's %.4f)", r["n_train"],
             r["learning_rate"], r["momentum"], r["batch_size"], r["seed"], r["status"], r["test_accuracy"], r["slq"],
             r["exact"], r["kfac"], r["kfac_minus_slq"], r["slq_minus_exact"], r["exact_non_map"], r["kfac_non_map"])
write_table(check, snakemake.output.estimator_check, provenance)
write_table(within_curve_measures(table, thresholds), snakemake.output.measures, provenance)
log.info("wrote %s", ", ".join(snakemake.output))
