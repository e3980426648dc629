"""Figure 9's samples: the gradient of one softmax-layer weight at initialisation, over single
examples and over batch means (rule compute_gradient_noise)."""

from bayes_sgd.minibatch_gradients import gradient_noise_samples, initial_state
from bayes_sgd.logging_setup import script_logger
from bayes_sgd.mlp import Architecture
from bayes_sgd.data.inputs import training_data
from bayes_sgd.tables import read_table, write_table

log = script_logger(snakemake)
wc, p = snakemake.wildcards, snakemake.params
n_train, batch_size, seed = int(wc.n_train), int(wc.batch_size), int(wc.seed)
subset = read_table(snakemake.input.subset)["index"].to_numpy()
X, y, _, _ = training_data(read_table(snakemake.input.dataset), subset, p.pixel_scale, input_range=p.input_range)
arch = Architecture(n_inputs=X.shape[1], n_hidden=int(p.hidden_units), n_classes=10)
w, rng = initial_state(arch, seed, weight_init=p.weight_init, bias_init=p.bias_init, init_scale=p.init_scale)
samples, summary = gradient_noise_samples(
    arch, w, X, y, batch_size, int(p.n_batches), rng, hidden_unit=p.hidden_unit, output_class=int(p.output_class)
)
for _, row in summary.iterrows():
    log.info(
        "%s (B=%d): n=%d mean %.3g std %.3g skewness %.3f excess kurtosis %.3f Shapiro-Wilk W %.4f KS %.4f",
        row["sample"], row["batch_size"], row["n"], row["mean"], row["std"], row["skewness"],
        row["excess_kurtosis"], row["shapiro_w"], row["ks_distance"],
    )
provenance = {
    "dataset": wc.dataset, "n_train": n_train, "batch_size": batch_size, "seed": seed,
    "n_batches": int(p.n_batches), "hidden_unit": int(summary["hidden_unit"].iloc[0]),
    "hidden_unit_setting": p.hidden_unit, "output_class": int(p.output_class),
    "hidden_units": int(p.hidden_units), "weight_init": p.weight_init, "init_scale": float(p.init_scale),
    "input_range": p.input_range, "bias_init": float(p.bias_init),
    "pixel_scale": float(p.pixel_scale), "subset_seed": int(p.subset_seed), "status": "ok",
}
summary.insert(0, "dataset", wc.dataset)
summary.insert(1, "n_train", n_train)
summary.insert(2, "seed", seed)
write_table(samples, snakemake.output.samples, provenance)
write_table(summary, snakemake.output.summary, provenance)
log.info("wrote %s and %s", snakemake.output.samples, snakemake.output.summary)
