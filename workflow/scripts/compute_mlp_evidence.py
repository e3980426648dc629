"""The Laplace evidence, sharpness and gradient noise scale of one trained MLP at its final
weights (rule compute_mlp_evidence): one row per evidence estimate and prior precision."""

import os
import sys
import time

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(snakemake.threads)

import numpy as np  # noqa: E402

from bayes_sgd.logging_setup import script_logger  # noqa: E402
from bayes_sgd.logistic import lambda_grid  # noqa: E402
from bayes_sgd.mlp import Architecture  # noqa: E402
from bayes_sgd.mlp_evidence import EvidenceSettings, diverged_rows, run_evidence  # noqa: E402
from bayes_sgd.training.run_tables import CONFIG_COLUMNS, final_evaluations  # noqa: E402
from bayes_sgd.data.inputs import training_data  # noqa: E402
from bayes_sgd.tables import read_provenance, read_table, write_table  # noqa: E402

log = script_logger(snakemake)
wc, p = snakemake.wildcards, snakemake.params
start = time.perf_counter()

curve = read_table(snakemake.input.curve)
final = final_evaluations(curve).iloc[0]
weights = read_table(snakemake.input.weights)
meta = read_provenance(snakemake.input.weights)["provenance"]
shape = meta.get("architecture") or {"n_inputs": 784, "n_hidden": int(p.hidden_units), "n_classes": 10}
arch = Architecture(int(shape["n_inputs"]), int(shape["n_hidden"]), int(shape["n_classes"]))
if arch.n_hidden != int(p.hidden_units):
    raise ValueError(f"{snakemake.input.weights}: {arch.n_hidden} hidden units, mlp.hidden_units is {p.hidden_units}")
w = weights["parameter"].to_numpy()
if len(w) != arch.n_params:
    raise ValueError(f"{snakemake.input.weights}: {len(w)} parameters, expected {arch.n_params} for {arch}")

subset = read_table(snakemake.input.subset)["index"].to_numpy()
X, y, _, _ = training_data(
    read_table(snakemake.input.dataset), subset, p.pixel_scale, dtype=np.float64, input_range=p.protocol["input_range"]
)
if len(y) != int(wc.n_train):
    raise ValueError(f"{snakemake.input.subset} holds {len(y)} indices, expected N={wc.n_train}")

trained = final["status"] == "ok" and final["test_accuracy"] > float(p.failed_accuracy)
exact = bool(p.exact_softmax_layer) and trained
if bool(p.exact_softmax_layer) and not trained:
    log.info("failed to train (test accuracy %.4f <= %g or diverged): no exact softmax-layer evidence",
             final["test_accuracy"], p.failed_accuracy)
# the exact whole-network evidence: every run picked whose weights are finite, trained or not
exact_network = bool(p.exact_network) and final["status"] == "ok" and bool(np.isfinite(w).all())
grid = p.prior_precision_grid
settings = EvidenceSettings(
    prior_precisions=tuple(lambda_grid(grid["min"], grid["max"], grid["per_decade"])),
    search_bounds=(float(p.search_bounds["min"]), float(p.search_bounds["max"])),
    exact_softmax_layer=exact,
    exact_network=exact_network,
    slq_probes=int(p.slq["probes"]),
    slq_steps=int(p.slq["steps"]),
    slq_block=int(p.slq["block"]),
    slq_block_steps=int(p.slq["block_steps"]),
    slq_dense_rows=int(p.slq["dense_rows"]),
    slq_pruning_tolerance=float(p.slq["pruning_tolerance"]),
    slq_seed=int(np.random.SeedSequence([int(p.slq["seed"]), int(wc.seed)]).generate_state(1)[0]),
    sharpness_tolerance=float(p.sharpness["tolerance"]),
    sharpness_max_iterations=int(p.sharpness["max_iterations"]),
    lanczos_vectors=int(p.sharpness["lanczos_vectors"]),
    chunk_size=int(p.chunk_size),
)
status = str(final["status"])
timings = {}
if status != "ok" or not np.isfinite(w).all():
    log.warning("run status %s (finite weights: %s): no curvature; writing nan rows", status, np.isfinite(w).all())
    table = diverged_rows(settings, len(y), arch.n_classes)
    status = "diverged"
else:
    rng = np.random.default_rng([int(p.sharpness["seed"]), int(wc.seed)])
    table = run_evidence(arch, w, X, y, settings, rng, l2=float(final["l2"]), timings=timings)
    best = table[table["prior_kind"] == "maximum"]
    for _, row in best.iterrows():
        log.info(
            "%s: lambda* = %.3g (interior %s): ln Z/N = %.4f = depth %.4f - Occam %.4f; ratio to null %.4f nats/example;"
            " non-MAP term %.4f",
            row["method"], row["prior_precision"], row["prior_interior"], row["log_evidence_per_example"],
            row["depth_per_example"], row["occam_factor_per_example"], row["log_evidence_ratio_per_example"],
            row["non_map_term_per_example"],
        )
    r = table.iloc[0]
    log.info("sharpness %.4g (%d products, converged %s); GGN trace %.4g (KFAC: %.4g); B_simple %.4g",
             r["sharpness"], r["sharpness_matvecs"], r["sharpness_converged"], r["ggn_trace"], r["kfac_ggn_trace"],
             r["b_simple"])
    if r["slq_solver"]:
        log.info("slq: %d of %d Gram rows kept, %s solver", r["gram_rows_kept"], r["gram_rows"], r["slq_solver"])

table.insert(0, "dataset", wc.dataset)
for i, key in enumerate(CONFIG_COLUMNS):
    table.insert(1 + i, key, final[key])
table["status"] = status
for key in ("train_accuracy", "test_accuracy", "train_cross_entropy", "test_cross_entropy"):
    table[key] = final[key]
seconds = time.perf_counter() - start
log.info("parts (s): %s; total %.1f s", {k: round(v, 2) for k, v in timings.items()}, seconds)
write_table(
    table,
    snakemake.output.evidence,
    {
        "dataset": wc.dataset, "run": {k: final[k] for k in CONFIG_COLUMNS}, "seed": int(wc.seed),
        "status": status, "architecture": shape, "settings": settings.__dict__,
        "sharpness_seed": int(p.sharpness["seed"]), "pixel_scale": float(p.pixel_scale),
        "subset_seed": int(p.subset_seed), "weights": snakemake.input.weights, "seconds": seconds,
        "timings": timings,
    },
)
log.info("wrote %s", snakemake.output.evidence)
