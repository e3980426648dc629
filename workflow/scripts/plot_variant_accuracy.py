"""Draw the protocol-variant comparison figure (test accuracy against B, one curve per variant)
from the comparison's accuracy table (rule plot_variant_accuracy)."""

from bayes_sgd.figures.files import save_figure
from bayes_sgd.figures.sgd import plot_variant_accuracy
from bayes_sgd.logging_setup import script_logger
from bayes_sgd.tables import read_table

log = script_logger(snakemake)
accuracy = read_table(snakemake.input.accuracy)
fig = plot_variant_accuracy(accuracy, snakemake.params.title)
save_figure(fig, snakemake.output.figure, snakemake.params.dpi, log)
