"""Draw Figure 3 or 8 (test accuracy and cross-entropy versus updates) from its runs table."""

import matplotlib.pyplot as plt

from bayes_sgd.figures_sgd import plot_learning_curves
from bayes_sgd.logging_setup import script_logger
from bayes_sgd.tables import read_table, write_atomic

log = script_logger(snakemake)
runs = read_table(snakemake.input.runs)
log.info("%d rows of %d runs from %s", len(runs), runs.groupby(["batch_size", "seed"]).ngroups, snakemake.input.runs)
fig = plot_learning_curves(runs, snakemake.params.title)
for path in snakemake.output.figure:
    fmt = path.rsplit(".", 1)[-1]
    write_atomic(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=snakemake.params.dpi))
    log.info("wrote %s", path)
plt.close(fig)
