"""Collect the evidence tables of every run into one table (rule collect_mlp_evidence)."""

import pandas as pd

from bayes_sgd.logging_setup import script_logger
from bayes_sgd.mlp_evidence import mark_figure_4
from bayes_sgd.tables import read_table, write_table

log = script_logger(snakemake)
table = pd.concat([read_table(path) for path in snakemake.input.runs], ignore_index=True)
table = mark_figure_4(table, snakemake.params.figure_4)
runs = table.drop_duplicates(["n_train", "learning_rate", "momentum", "batch_size", "l2", "steps", "seed"])
log.info("%d runs (%d in Figure 4), %d diverged; %d rows", len(runs), int(runs["figure_4"].sum()),
         int((runs["status"] != "ok").sum()), len(table))
write_table(table, snakemake.output.evidence,
            {"dataset": str(table["dataset"].iloc[0]), "runs": list(snakemake.input.runs),
             "figure_4": snakemake.params.figure_4, "status": "ok"})
log.info("wrote %s", snakemake.output.evidence)
