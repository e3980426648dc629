"""Draw the protocol-variant comparison figure (test accuracy against B, one curve per variant)
from the comparison's accuracy table (rule plot_variant_accuracy)."""

import matplotlib.pyplot as plt

from bayes_sgd.figures_sgd import plot_variant_accuracy
from bayes_sgd.logging_setup import script_logger
from bayes_sgd.tables import read_table, write_atomic

log = script_logger(snakemake)
accuracy = read_table(snakemake.input.accuracy)
fig = plot_variant_accuracy(accuracy, snakemake.params.title)
for path in snakemake.output.figure:
    fmt = path.rsplit(".", 1)[-1]
    write_atomic(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=snakemake.params.dpi))
    log.info("wrote %s", path)
plt.close(fig)
