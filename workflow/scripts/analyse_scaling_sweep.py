"""One scaling sweep (rule analyse_scaling_sweep): the final row and noise scale g of every run,
test accuracy per (curve, batch size), each curve's optimum batch size with its seed bootstrap,
and the log-log fit of the optimum against the swept quantity."""

from dataclasses import asdict, fields

import numpy as np
import pandas as pd

from bayes_sgd import noise_scale as ns
from bayes_sgd.logging_setup import script_logger
from bayes_sgd.sgd import final_evaluations
from bayes_sgd.tables import read_table, write_table

log = script_logger(snakemake)
sweep = snakemake.wildcards.sweep
p = snakemake.params.analysis
runs = pd.concat([read_table(path) for path in snakemake.input.runs], ignore_index=True)
final = final_evaluations(runs)
if len(final) != len(snakemake.input.runs):
    raise ValueError(f"{len(snakemake.input.runs)} run tables but {len(final)} distinct runs")
final["noise_scale"] = ns.noise_scale(final["learning_rate"], final["n_train"], final["batch_size"], final["momentum"])
log.info("%s sweep: %d runs, %d diverged", sweep, len(final), int((final["status"] == "diverged").sum()))

curves = ns.batch_size_curves(final, diverged_accuracy=p["diverged_accuracy"])
optima, replicates = ns.optimum_batch_sizes(
    final,
    seed=p["bootstrap_seed"],
    n_boot=p["bootstrap_replicates"],
    confidence=p["confidence"],
    diverged_accuracy=p["diverged_accuracy"],
    untrained_accuracy=p["untrained_accuracy"],
    return_replicates=True,
)
optima = ns.scaling_points(optima, sweep)
for row in optima.itertuples():
    log.info(
        "%s = %g: best accuracy %.4f at B = %g, refined B_opt %.4g [%.4g, %.4g], g_opt %.4g%s",
        sweep, getattr(row, sweep), row.best_accuracy, row.b_best, row.b_opt, row.b_opt_low, row.b_opt_high,
        row.optimum_noise_scale, f" (not fitted: {row.excluded_because})" if not row.used else "",
    )

fit_rows = []
for method in ("t", "bootstrap"):
    try:
        fit = ns.fit_scaling(optima, confidence=p["confidence"], method=method, replicates=replicates)
    except ValueError as err:  # fewer than two usable optima: record why; the figure draws no line
        excluded = optima.loc[~optima["used"], "excluded_because"].value_counts()
        reason = f"{int(optima['used'].sum())} usable optima of {len(optima)}" + "".join(
            f"; {n} {why}" for why, n in excluded.items()
        )
        log.warning("%s sweep, %s fit: not fitted (%s): %s", sweep, method, reason, err)
        fit = ns.LogLogFit(**{f.name: np.nan for f in fields(ns.LogLogFit)} | {"n_points": 0, "method": method})
        fit_rows.append({"sweep": sweep, **asdict(fit), "fitted": False, "reason": reason})
        continue
    log.info("%s sweep, %s fit: slope %.3f [%.3f, %.3f] over %d optima", sweep, method, fit.slope,
             fit.slope_low, fit.slope_high, fit.n_points)
    fit_rows.append({"sweep": sweep, **asdict(fit), "fitted": True, "reason": ""})
fits = pd.DataFrame(fit_rows)
fits.insert(1, "x", ns.SWEEP_X_NAME[sweep])

provenance = {"sweep": sweep, "dataset": str(final["dataset"].iloc[0]), "analysis": dict(p),
              "curves": snakemake.params.curves, "runs": list(snakemake.input.runs), "status": "ok"}
write_table(final, snakemake.output.final, provenance)
write_table(curves, snakemake.output.curves, provenance)
write_table(optima, snakemake.output.optima, provenance)
write_table(replicates, snakemake.output.replicates, provenance)
write_table(fits, snakemake.output.fits, provenance)
log.info("wrote %s", ", ".join(snakemake.output))
