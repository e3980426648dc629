"""Collect the evidence tables of every run into one table (rule collect_mlp_evidence); the
rows of Figure 4's runs (input ``figure_4``, a subset of ``runs``) are marked ``figure_4``."""

import pandas as pd

from bayes_sgd.logging_setup import script_logger
from bayes_sgd.tables import read_table, write_table

log = script_logger(snakemake)
figure_4 = set(snakemake.input.figure_4)
missing = figure_4 - set(snakemake.input.runs)
if missing:
    raise ValueError(f"Figure 4 evidence tables not among the collected runs: {sorted(missing)}")
table = pd.concat(
    [read_table(path).assign(figure_4=path in figure_4) for path in snakemake.input.runs], ignore_index=True
)
runs = table.drop_duplicates(["n_train", "learning_rate", "momentum", "batch_size", "l2", "steps", "seed"])
log.info("%d runs (%d in Figure 4), %d diverged; %d rows", len(runs), int(runs["figure_4"].sum()),
         int((runs["status"] != "ok").sum()), len(table))
write_table(table, snakemake.output.evidence,
            {"dataset": str(table["dataset"].iloc[0]), "runs": list(snakemake.input.runs),
             "figure_4": sorted(figure_4), "status": "ok"})
log.info("wrote %s", snakemake.output.evidence)
