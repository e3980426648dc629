"""Draw Figure 5, 6 or 7 (rule plot_scaling_figure): (a) test accuracy against batch size, one line
per curve of the sweep; (b) the optimum batch size against the swept quantity, with its
seed-bootstrap interval, the log-log fit and the slope-1 line of the paper's proportionality."""

from bayes_sgd.figures.files import save_figure
from bayes_sgd.figures.scaling import figure_scaling
from bayes_sgd.logging_setup import script_logger
from bayes_sgd.scaling.fits import fit_of
from bayes_sgd.tables import read_table

log = script_logger(snakemake)
sweep = snakemake.params.sweep
curves = read_table(snakemake.input.curves)
points = read_table(snakemake.input.optima)
fit, reason = fit_of(read_table(snakemake.input.fits))
if fit is not None:
    log.info("fit: slope %.3f [%.3f, %.3f] over %d optima", fit.slope, fit.slope_low, fit.slope_high, fit.n_points)
else:
    log.info("no fit drawn: %s", reason)
fig = figure_scaling(curves, points, sweep, fit, title=snakemake.params.title)
save_figure(fig, snakemake.output.figure, snakemake.params.dpi, log)
