"""Draw one evidence figure from the aggregated evidence table (rule plot_evidence_figure)."""

import pandas as pd

from bayes_sgd.figures import evidence as fe
from bayes_sgd.figures.files import save_figure
from bayes_sgd.logging_setup import script_logger
from bayes_sgd.tables import read_table

log = script_logger(snakemake)
p = snakemake.params
table = read_table(snakemake.input.evidence)
options = dict(failed_accuracy=p.failed_accuracy, title=p.title)
choice = dict(method=p.claims["method"], prior=p.claims["prior_precision"])
figure = snakemake.wildcards.figure
if figure == "evidence_vs_batch_size":
    fig = fe.plot_evidence_vs_batch_size(table, **choice, **options)
elif figure == "evidence_vs_accuracy":
    fig = fe.plot_evidence_vs_accuracy(table, **choice, **options)
else:
    optima = pd.concat([read_table(path) for path in snakemake.input.optima], ignore_index=True)
    fig = fe.plot_b_simple_vs_optimum(table, optima, **options)
save_figure(fig, snakemake.output.figure, p.dpi, log)
