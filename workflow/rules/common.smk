# Helpers shared by every rule file (configuration validation, number formatting in paths,
# the path of an MLP run, the package modules declared as inputs), and input functions. No rules.

import os
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from bayes_sgd.datasets import FASHION_MNIST_SHA256, IDX_FILES, MNIST_SHA256, mnist5k_path
from bayes_sgd.config import ConfigError, check_config, validate_schema

CONFIG_SCHEMA = workflow.source_path("../schemas/config.schema.yaml")
try:
    validate_schema(config, CONFIG_SCHEMA)
    validate(config, schema="../schemas/config.schema.yaml")  # fills in the defaults
    check_config(config)
except ConfigError as err:
    raise WorkflowError(f"Invalid configuration: {err}") from None

DATASET = config["dataset"]
SRC = Path(workflow.basedir) / "src" / "bayes_sgd"
CONDA_ENV = "../../envs/bayes_sgd.yaml"


def code(*modules):
    """Package modules a rule depends on, as inputs (editing one reruns its jobs)."""
    return [str(SRC / f"{module}.py") for module in modules]


def fmt(x):
    """A number as it appears in file names: 1.0 -> '1', 0.1 -> '0.1', 1e-06 -> '1e-06'."""
    return format(x, "g")


def run_path(dataset, n_train, learning_rate, momentum, batch_size, l2, steps, seed):
    """Path of the table of one MLP training run (rule train_mlp)."""
    return (
        f"results/runs/{dataset}/N{int(n_train)}/"
        f"eps{fmt(learning_rate)}_m{fmt(momentum)}_B{int(batch_size)}_l2{fmt(l2)}"
        f"_T{int(steps)}_s{int(seed)}.parquet"
    )


def figure_paths(name):
    """The files of one figure, one per configured format."""
    return [f"results/figures/{name}.{ext}" for ext in config["plot"]["formats"]]


# --- data (workflow/rules/data.smk) ---


def idx_inputs(directory):
    """The four IDX files in ``directory``, gzip-compressed or plain, whichever is there."""
    paths = {}
    for (split, kind), name in IDX_FILES.items():
        path = Path(directory) / name
        if not path.exists() and path.with_suffix("").exists():
            path = path.with_suffix("")
        paths[f"{split}_{kind}"] = str(path)
    return paths


def dataset_sources(wildcards):
    if wildcards.dataset == "mnist5k":
        return {"csv": str(mnist5k_path())}
    if wildcards.dataset == "mnist":
        return idx_inputs(config["data"]["mnist_dir"] or "resources/mnist")
    return idx_inputs(config["data"]["fashion_mnist_dir"])


def dataset_params(wildcards):
    """Only the settings a dataset depends on, so editing another's reruns nothing."""
    if wildcards.dataset == "mnist5k":
        return {
            "test_per_class": config["data"]["mnist5k_test_per_class"],
            "split_seed": config["data"]["split_seed"],
        }
    checksums = MNIST_SHA256 if wildcards.dataset == "mnist" else FASHION_MNIST_SHA256
    return {"checksums": checksums}
