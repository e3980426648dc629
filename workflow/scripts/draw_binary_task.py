"""Draw the two-class task of Section 3: training/test images and their random labels."""

from bayes_sgd.data.labels import binary_task
from bayes_sgd.logging_setup import script_logger
from bayes_sgd.tables import read_table, write_table

log = script_logger(snakemake)
p = snakemake.params
dataset = read_table(snakemake.input.dataset, columns=["split", "index", "label"])

def split_labels(split):
    return dataset[dataset["split"] == split].sort_values("index")["label"].to_numpy()


test_labels = split_labels("test") if p.test_source == "test" else None
task = binary_task(
    split_labels("train"), test_labels, list(p.classes), p.train_per_class, p.test_per_class, p.seed
)
for split, rows in task.groupby("split"):
    log.info(
        "%s: %d images, true labels %s, random labels %s",
        split, len(rows), rows["true_label"].value_counts().sort_index().tolist(),
        rows["random_label"].value_counts().sort_index().tolist(),
    )
provenance = {
    "dataset": snakemake.wildcards.dataset,
    "classes": list(p.classes),
    "train_per_class": p.train_per_class,
    "test_source": p.test_source,
    "test_per_class": p.test_per_class,
    "seed": p.seed,
    "status": "ok",
}
write_table(task, snakemake.output.task, provenance)
