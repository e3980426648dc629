"""Draw Figure 5, 6 or 7 (rule plot_scaling_figure): (a) test accuracy against batch size, one line
per curve of the sweep; (b) the optimum batch size against the swept quantity, with its
seed-bootstrap interval, the log-log fit and the slope-1 line of the paper's proportionality."""

import dataclasses

from bayes_sgd.figures_scaling import figure_scaling
from bayes_sgd.logging_setup import script_logger
from bayes_sgd.noise_scale import LogLogFit
from bayes_sgd.tables import read_table, write_atomic

TITLES = {
    "learning_rate": "Figure 5: the optimum batch size against the learning rate",
    "n_train": "Figure 6: the optimum batch size against the training-set size",
    "momentum": "Figure 7: the optimum batch size against the momentum",
}

log = script_logger(snakemake)
sweep = snakemake.params.sweep
curves = read_table(snakemake.input.curves)
points = read_table(snakemake.input.optima)
fits = read_table(snakemake.input.fits)
row = fits.loc[(fits["method"] == "t") & fits["fitted"]]
fit = None
if len(row):
    names = [f.name for f in dataclasses.fields(LogLogFit)]
    fit = LogLogFit(**{name: row.iloc[0][name] for name in names})
    log.info("fit: slope %.3f [%.3f, %.3f] over %d optima", fit.slope, fit.slope_low, fit.slope_high, fit.n_points)
else:
    log.info("no fit drawn: %s", fits.loc[fits["method"] == "t", "reason"].iloc[0])
fig = figure_scaling(curves, points, sweep, fit, title=TITLES[sweep])
for path in snakemake.output.figure:
    fmt = path.rsplit(".", 1)[-1]
    write_atomic(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=snakemake.params.dpi))
    log.info("wrote %s", path)
