"""The claims report (rule summarise_claims): every claim of the paper with the number this run
measured, the paper's statement and a verdict, then every curve's optimum batch size and the
scaling-rule fits. Writes results/summary.md, the same as HTML for `snakemake --report`, and
the claims as a table."""

from pathlib import Path

import pandas as pd

from bayes_sgd import claims
from bayes_sgd import noise_scale as ns
from bayes_sgd.logging_setup import script_logger
from bayes_sgd.sweeps import describe_sweeps
from bayes_sgd.tables import read_table, write_atomic, write_table

log = script_logger(snakemake)
inp, p = snakemake.input, snakemake.params
thresholds = claims.ClaimThresholds(**p.thresholds)


def curves_of(*paths):
    final = pd.concat([read_table(path) for path in paths], ignore_index=True)
    return ns.batch_size_curves(final, diverged_accuracy=p.diverged_accuracy)


optima = {sweep: read_table(path) for sweep, path in zip(p.sweeps, inp.optima)}
fits = pd.concat([read_table(path) for path in inp.fits], ignore_index=True)
results = claims.evaluate_claims(
    logistic=read_table(inp.logistic),
    reference_curve=curves_of(inp.figure_4),
    l2_curves=curves_of(inp.figure_3, inp.figure_8),
    learning_rate_optima=optima["learning_rate"],
    n_train_optima=optima["n_train"],
    momentum_optima=optima["momentum"],
    gradients=read_table(inp.gradients),
    thresholds=thresholds,
)
for r in results:
    log.info("%s: %s (%s)", r.claim_id, r.verdict, r.measured)

title = f"Claims report: Smith & Le (ICLR 2018) reproduced on {p.dataset}"
text = "\n".join(
    [
        f"# {title}",
        "",
        "Written by the workflow (rule `summarise_claims`) from the tables it computed; every "
        "number below is measured in this run. A claim that fails is reported as failing. "
        "Verdicts: **holds**, **does not hold**, or *not measured in this configuration* (the "
        "configuration does not reach the claim's regime). Accuracies are test accuracies after "
        f"training; diverged runs count as {p.diverged_accuracy:g}.",
        "",
        "## Claims",
        "",
        claims.render_summary(results, thresholds),
        "## Optimum batch size of every curve (Figures 5-7)",
        "",
        "Best grid B: the grid batch size with the highest seed-mean accuracy. Refined B_opt: the "
        "vertex of a parabola in log B through it and its two neighbours; the interval is the "
        f"equal-tailed seed bootstrap. g_opt = eps/(1-m) (N/B_opt - 1). A curve whose best accuracy is "
        f"at most {p.untrained_accuracy:g} never trained and has no optimum; an optimum at either end "
        "of its grid is only a bound and is left out of the fits.",
        "",
        claims.render_optima(optima),
        "## Scaling-rule fits (Figures 5b, 6b, 7b)",
        "",
        "Least squares of ln B_opt on ln x over the curves marked 'yes' above; the paper's rules "
        "are slope 1.",
        "",
        claims.render_fits(fits),
        "## The sweeps of this configuration",
        "",
        *describe_sweeps(p.sweep_settings),
        "",
    ]
)
write_atomic(snakemake.output.summary, lambda tmp: Path(tmp).write_text(text))
write_atomic(snakemake.output.html, lambda tmp: Path(tmp).write_text(claims.markdown_to_html(text, title)))
write_table(
    claims.claims_table(results),
    snakemake.output.claims,
    {"dataset": p.dataset, "thresholds": dict(p.thresholds), "inputs": list(inp), "status": "ok"},
)
log.info("wrote %s", ", ".join(snakemake.output))
