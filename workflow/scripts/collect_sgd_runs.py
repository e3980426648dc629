"""Collect the run tables of one figure (rule collect_sgd_runs): all rows, the final row of each
run, and the figure's accuracy-versus-batch-size curve (seed statistics, diverged runs scored at
scaling.diverged_accuracy), the one table its plot and its claims read."""

import pandas as pd

from bayes_sgd.logging_setup import script_logger
from bayes_sgd.scaling.curves import batch_size_curves
from bayes_sgd.training.run_tables import final_evaluations
from bayes_sgd.tables import read_table, write_table

log = script_logger(snakemake)
runs = pd.concat([read_table(path) for path in snakemake.input.runs], ignore_index=True)
final = final_evaluations(runs)
if len(final) != len(snakemake.input.runs):
    raise ValueError(f"{len(snakemake.input.runs)} run tables but {len(final)} distinct runs")
curves = batch_size_curves(final, diverged_accuracy=snakemake.params.diverged_accuracy)
for _, row in curves.iterrows():
    log.info(
        "B=%d l2=%g: %d seeds, %d diverged, mean final test accuracy %.4f (min %.4f, max %.4f)",
        row["batch_size"], row["l2"], row["n_seeds"], row["n_diverged"], row["mean_accuracy"],
        row["min_accuracy"], row["max_accuracy"],
    )
provenance = {"figure": snakemake.wildcards.figure, "dataset": str(runs["dataset"].iloc[0]),
              "diverged_accuracy": snakemake.params.diverged_accuracy,
              "runs": list(snakemake.input.runs), "status": "ok"}
write_table(runs, snakemake.output.runs, provenance)
write_table(final, snakemake.output.final, provenance)
write_table(curves, snakemake.output.curves, provenance)
log.info("wrote %s, %s, %s", snakemake.output.runs, snakemake.output.final, snakemake.output.curves)
