"""Draw test accuracy against the noise scale g for every curve of Figures 5-7 on one axis
(rule plot_accuracy_vs_noise_scale; a figure the paper does not have)."""

from bayes_sgd.figures.files import save_figure
from bayes_sgd.figures.scaling import figure_accuracy_vs_noise_scale
from bayes_sgd.logging_setup import script_logger
from bayes_sgd.sweeps import get_sweep
from bayes_sgd.tables import read_table

log = script_logger(snakemake)
families = {
    f"Fig. {get_sweep(sweep).figure}": (read_table(path), sweep)
    for sweep, path in zip(snakemake.params.sweeps, snakemake.input.curves)
}
for name, (curves, sweep) in families.items():
    log.info("%s: %d curves over %s, %d points", name, curves[sweep].nunique(), sweep, len(curves))
fig = figure_accuracy_vs_noise_scale(families, title=snakemake.params.title)
save_figure(fig, snakemake.output.figure, snakemake.params.dpi, log)
