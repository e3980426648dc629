"""Draw the diagnosis figure (B_opt against eps and 1/(1-m), one line per variant, with each
hypothesis' predicted slope) from the diagnosis' tables (rule plot_diagnosis)."""

from bayes_sgd.figures.files import save_figure
from bayes_sgd.figures.scaling import figure_diagnosis
from bayes_sgd.logging_setup import script_logger
from bayes_sgd.tables import read_table

log = script_logger(snakemake)
fig = figure_diagnosis(read_table(snakemake.input.points), read_table(snakemake.input.hypotheses), snakemake.params.title)
save_figure(fig, snakemake.output.figure, snakemake.params.dpi, log)
