"""One protocol variant's claims (rule assess_variant_claims): the main summary's claims that the
variant's tables decide, with the main summary's thresholds (bayes_sgd.variants.variant_claims)."""

from bayes_sgd import claims
from bayes_sgd.logging_setup import script_logger
from bayes_sgd.tables import read_table, write_table
from bayes_sgd.variants import variant_claims

log = script_logger(snakemake)
p = snakemake.params
thresholds = claims.ClaimThresholds(**p.thresholds)
paths = {name: snakemake.input[name] for name in p.tables}
results = variant_claims({name: read_table(path) for name, path in paths.items()}, thresholds)
for r in results:
    log.info("%s %s: %s (%s)", p.variant["name"], r.claim_id, r.verdict, r.measured)
write_table(
    claims.claims_table(results),
    snakemake.output.claims,
    {"variant": dict(p.variant), "thresholds": dict(p.thresholds), "inputs": paths, "status": "ok"},
)
log.info("wrote %s", snakemake.output.claims)
