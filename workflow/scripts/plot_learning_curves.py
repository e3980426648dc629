"""Draw Figure 3 or 8 (test accuracy and cross-entropy versus updates) from its runs table."""

from bayes_sgd.figures.files import save_figure
from bayes_sgd.figures.sgd import plot_learning_curves
from bayes_sgd.logging_setup import script_logger
from bayes_sgd.tables import read_table

log = script_logger(snakemake)
runs = read_table(snakemake.input.runs)
log.info("%d rows of %d runs from %s", len(runs), runs.groupby(["batch_size", "seed"]).ngroups, snakemake.input.runs)
fig = plot_learning_curves(runs, snakemake.params.title)
save_figure(fig, snakemake.output.figure, snakemake.params.dpi, log)
