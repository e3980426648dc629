"""Draw the seeded N-image training subset used by the MLP runs of one N."""

import numpy as np
import pandas as pd

from bayes_sgd.logging_setup import script_logger
from bayes_sgd.data.subsets import random_subset
from bayes_sgd.tables import read_table, write_table

log = script_logger(snakemake)
n_train, seed = int(snakemake.wildcards.n_train), int(snakemake.wildcards.subset_seed)
dataset = read_table(snakemake.input.dataset, columns=["split", "index", "label"])
train = dataset[dataset["split"] == "train"].sort_values("index")
index = random_subset(len(train), n_train, np.random.default_rng(seed))
labels = train["label"].to_numpy()[index]
log.info("N=%d from a pool of %d (seed %d): labels per class %s", n_train, len(train), seed, np.bincount(labels).tolist())
write_table(
    pd.DataFrame({"index": index.astype(np.int64)}),
    snakemake.output.subset,
    {"dataset": snakemake.wildcards.dataset, "n_train": n_train, "subset_seed": seed, "status": "ok"},
)
