"""Draw Figures 1 and 2 (Section 3) from the logistic-regression fits table, in every format."""

from bayes_sgd.figures.files import save_figure
from bayes_sgd.figures.logistic import plot_figure_1, plot_figure_2
from bayes_sgd.logging_setup import script_logger
from bayes_sgd.tables import read_table

log = script_logger(snakemake)
fits = read_table(snakemake.input.fits)
log.info("%d rows from %s", len(fits), snakemake.input.fits)

titles = snakemake.params.titles
for plot, paths, title in (
    (plot_figure_1, snakemake.output.figure_1, titles["figure_1"]),
    (plot_figure_2, snakemake.output.figure_2, titles["figure_2"]),
):
    save_figure(plot(fits, title=title), paths, snakemake.params.dpi, log)
