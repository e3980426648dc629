"""Draw Figures 1 and 2 (Section 3) from the logistic-regression fits table, in every format."""

import matplotlib.pyplot as plt

from bayes_sgd.figures_logistic import plot_figure_1, plot_figure_2
from bayes_sgd.logging_setup import script_logger
from bayes_sgd.tables import read_table, write_atomic

log = script_logger(snakemake)
fits = read_table(snakemake.input.fits)
log.info("%d rows from %s", len(fits), snakemake.input.fits)

titles = snakemake.params.titles
for plot, paths, title in (
    (plot_figure_1, snakemake.output.figure_1, titles["figure_1"]),
    (plot_figure_2, snakemake.output.figure_2, titles["figure_2"]),
):
    fig = plot(fits, title=title)
    for path in paths:
        fmt = path.rsplit(".", 1)[-1]
        write_atomic(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=snakemake.params.dpi))
        log.info("wrote %s", path)
    plt.close(fig)
