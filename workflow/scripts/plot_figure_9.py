"""Draw Figure 9 (gradient of one softmax-layer weight at initialisation) from its tables."""

from bayes_sgd.figures.files import save_figure
from bayes_sgd.figures.sgd import plot_gradient_noise
from bayes_sgd.logging_setup import script_logger
from bayes_sgd.tables import read_table

log = script_logger(snakemake)
samples = read_table(snakemake.input.samples)
summary = read_table(snakemake.input.summary)
fig = plot_gradient_noise(samples, summary, snakemake.params.title)
save_figure(fig, snakemake.output.figure, snakemake.params.dpi, log)
