"""Draw Figure 4 (final test accuracy versus batch size) from its batch-size curve table and the
final evaluation of every run."""

from bayes_sgd.figures.files import save_figure
from bayes_sgd.figures.sgd import plot_final_accuracy
from bayes_sgd.logging_setup import script_logger
from bayes_sgd.tables import read_table

log = script_logger(snakemake)
final = read_table(snakemake.input.final)
curves = read_table(snakemake.input.curves)
log.info("%d runs, %d diverged", len(final), int((final["status"] == "diverged").sum()))
fig = plot_final_accuracy(final, curves, snakemake.params.title)
save_figure(fig, snakemake.output.figure, snakemake.params.dpi, log)
