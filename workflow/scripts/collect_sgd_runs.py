"""Collect the run tables of one figure: all rows, the final row of each run, and the final test
accuracy summarised over seeds (rule collect_sgd_runs)."""

import pandas as pd

from bayes_sgd.logging_setup import script_logger
from bayes_sgd.sgd import final_evaluations, summarise_final_accuracy
from bayes_sgd.tables import read_table, write_table

log = script_logger(snakemake)
runs = pd.concat([read_table(path) for path in snakemake.input.runs], ignore_index=True)
final = final_evaluations(runs)
summary = summarise_final_accuracy(final)
if len(final) != len(snakemake.input.runs):
    raise ValueError(f"{len(snakemake.input.runs)} run tables but {len(final)} distinct runs")
for _, row in summary.iterrows():
    log.info(
        "B=%d l2=%g: %d runs, %d diverged, mean final test accuracy %.4f (min %.4f, max %.4f)",
        row["batch_size"], row["l2"], row["n_runs"], row["n_diverged"], row["mean_test_accuracy"],
        row["min_test_accuracy"], row["max_test_accuracy"],
    )
provenance = {"figure": snakemake.wildcards.figure, "dataset": str(runs["dataset"].iloc[0]),
              "runs": list(snakemake.input.runs), "status": "ok"}
write_table(runs, snakemake.output.runs, provenance)
write_table(final, snakemake.output.final, provenance)
write_table(summary, snakemake.output.summary, provenance)
log.info("wrote %s, %s, %s", snakemake.output.runs, snakemake.output.final, snakemake.output.summary)
