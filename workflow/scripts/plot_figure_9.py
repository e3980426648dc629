"""Draw Figure 9 (gradient of one softmax-layer weight at initialisation) from its tables."""

import matplotlib.pyplot as plt

from bayes_sgd.figures_sgd import plot_gradient_noise
from bayes_sgd.logging_setup import script_logger
from bayes_sgd.tables import read_table, write_atomic

log = script_logger(snakemake)
samples = read_table(snakemake.input.samples)
summary = read_table(snakemake.input.summary)
fig = plot_gradient_noise(samples, summary, snakemake.params.title)
for path in snakemake.output.figure:
    fmt = path.rsplit(".", 1)[-1]
    write_atomic(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=snakemake.params.dpi))
    log.info("wrote %s", path)
plt.close(fig)
