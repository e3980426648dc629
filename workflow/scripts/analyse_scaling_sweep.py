"""One scaling sweep (rule analyse_scaling_sweep): the final row and noise scale g of every run,
test accuracy per (curve, batch size), each curve's optimum batch size with its seed bootstrap,
and the log-log fits of the optimum against the swept quantity."""

import pandas as pd

from bayes_sgd.scaling.curves import batch_size_curves
from bayes_sgd.scaling.fits import scaling_points, sweep_fits
from bayes_sgd.scaling.noise_scale import noise_scale
from bayes_sgd.scaling.optimum import optimum_batch_sizes
from bayes_sgd.logging_setup import script_logger
from bayes_sgd.training.run_tables import final_evaluations
from bayes_sgd.tables import read_table, write_table

log = script_logger(snakemake)
sweep = snakemake.wildcards.sweep
p = snakemake.params.analysis
runs = pd.concat([read_table(path) for path in snakemake.input.runs], ignore_index=True)
final = final_evaluations(runs)
if len(final) != len(snakemake.input.runs):
    raise ValueError(f"{len(snakemake.input.runs)} run tables but {len(final)} distinct runs")
final["noise_scale"] = noise_scale(final["learning_rate"], final["n_train"], final["batch_size"], final["momentum"])
log.info("%s sweep: %d runs, %d diverged", sweep, len(final), int((final["status"] == "diverged").sum()))

curves = batch_size_curves(final, diverged_accuracy=p["diverged_accuracy"])
optima, replicates = optimum_batch_sizes(
    final,
    seed=p["bootstrap_seed"],
    n_boot=p["bootstrap_replicates"],
    confidence=p["confidence"],
    diverged_accuracy=p["diverged_accuracy"],
    untrained_accuracy=p["untrained_accuracy"],
    return_replicates=True,
)
optima = scaling_points(optima, sweep)
for row in optima.itertuples():
    log.info(
        "%s = %g: best accuracy %.4f at B = %g, refined B_opt %.4g [%.4g, %.4g], g_opt %.4g%s",
        sweep, getattr(row, sweep), row.best_accuracy, row.b_best, row.b_opt, row.b_opt_low, row.b_opt_high,
        row.optimum_noise_scale, f" (not fitted: {row.excluded_because})" if not row.used else "",
    )
fits = sweep_fits(optima, replicates, sweep, confidence=p["confidence"], min_x_values=snakemake.params.fit_regions)
for fit in fits.itertuples():
    log.info("%s sweep, %s fit over x >= %g: %s", sweep, fit.method, fit.min_x,
             f"slope {fit.slope:.3f} [{fit.slope_low:.3f}, {fit.slope_high:.3f}] over {fit.n_points} optima"
             if fit.fitted else f"not fitted ({fit.reason})")

provenance = {"sweep": sweep, "dataset": str(final["dataset"].iloc[0]), "analysis": dict(p),
              "fit_regions": list(snakemake.params.fit_regions), "curves": snakemake.params.curves,
              "runs": list(snakemake.input.runs), "status": "ok"}
write_table(final, snakemake.output.final, provenance)
write_table(curves, snakemake.output.curves, provenance)
write_table(optima, snakemake.output.optima, provenance)
write_table(replicates, snakemake.output.replicates, provenance)
write_table(fits, snakemake.output.fits, provenance)
log.info("wrote %s", ", ".join(snakemake.output))
