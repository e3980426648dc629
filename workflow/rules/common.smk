# Helpers shared by every rule file (configuration validation, number formatting in paths,
# the path of an MLP run, the package modules declared as inputs), and input functions. No rules.

import functools
import os
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from bayes_sgd.datasets import FASHION_MNIST_SHA256, IDX_FILES, MNIST_SHA256, mnist5k_path
from bayes_sgd.config import ConfigError, check_config, validate_schema
from bayes_sgd.dependencies import script_inputs

CONFIG_SCHEMA = workflow.source_path("../schemas/config.schema.yaml")
try:
    validate_schema(config, CONFIG_SCHEMA)
    validate(config, schema="../schemas/config.schema.yaml")  # fills in the defaults
    check_config(config)
except ConfigError as err:
    raise WorkflowError(f"Invalid configuration: {err}") from None

DATASET = config["dataset"]
SRC = Path(workflow.basedir) / "src" / "bayes_sgd"
SCRIPTS = Path(workflow.basedir) / "workflow" / "scripts"
CONDA_ENV = "../../envs/bayes_sgd.yaml"


def code(script):
    """The package modules that workflow/scripts/<script>.py imports, directly or not, as inputs.

    Derived from the script's imports (bayes_sgd.dependencies), never listed by hand, so that
    editing a module reruns exactly the jobs that run it. The paths are relative to the working
    directory, so moving a checkout together with its results/ (or running it from a differently
    spelled path) does not change the set of inputs and does not retrain anything.
    """
    return list(_script_code(script))


@functools.cache
def _script_code(script):
    return tuple(script_inputs([SCRIPTS / f"{script}.py"], SRC))


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


# --- cluster resources of train_mlp (workflow/rules/train.smk) ---
# The cost model of one run (bayes_sgd.sweeps.CostModel, measured on one core of the
# development machine: a step costs about 0.35 ms + 0.028 ms x B, an evaluation about 0.02 ms
# per image), so that a cluster gets a runtime and memory request that grows with the run
# (N, B, steps) instead of one size for all. Memory: about 1 GB for Python,
# NumPy and the dataset table of full MNIST, 784 float32 per training or test image, and the
# batch workspace (inputs, three hidden-layer arrays, outputs) per example of a batch (measured
# peaks on full MNIST: 1.0 GB at N = 1,000, B = 1,000; 1.2 GB at N = 50,000, B = 5,000).
# The requests are the estimate times a safety factor, with a floor, and double with every
# attempt (profiles/slurm resubmits a failed job once, e.g. after TIMEOUT or OUT_OF_MEMORY).

from bayes_sgd.sweeps import CostModel, Run

TRAIN_RUNTIME_SAFETY = 3.0
TRAIN_RUNTIME_FLOOR_MIN = 10
TRAIN_MEM_SAFETY = 1.5
TRAIN_MEM_FLOOR_MB = 1000
MAX_TEST_IMAGES = 10_000
TRAIN_STARTUP_S = 60.0


def train_mlp_seconds(n_train, batch_size, steps, eval_points):
    """Estimated wall time in seconds of one train_mlp job on one core.

    The single-core cost of the run (sweeps.CostModel, the model the paper-cost estimate uses)
    with the largest test set, plus a start-up allowance for a cluster node (Python, imports,
    reading the dataset table from a shared file system).
    """
    run = Run(int(n_train), 1.0, 0.0, int(batch_size), 0.0, int(steps), 0)
    return TRAIN_STARTUP_S + CostModel().run_seconds(run, n_test=MAX_TEST_IMAGES, eval_points=eval_points)


def train_mlp_megabytes(n_train, batch_size):
    """Estimated peak memory in MB of one train_mlp job."""
    inputs = (n_train + MAX_TEST_IMAGES) * 784 * 4 / 1e6
    workspace = batch_size * (784 + 3 * 800 + 3 * 10) * 4 / 1e6
    return 1000.0 + inputs + workspace


def train_mlp_runtime(wildcards, attempt):
    """runtime (minutes) of a train_mlp job: the estimate x safety, floored, x attempt."""
    seconds = train_mlp_seconds(
        int(wildcards.n_train), int(wildcards.batch_size), int(wildcards.steps), config["mlp"]["eval_points"]
    )
    minutes = max(TRAIN_RUNTIME_FLOOR_MIN, -(-TRAIN_RUNTIME_SAFETY * seconds // 60))
    return int(minutes) * attempt


def train_mlp_mem_mb(wildcards, attempt):
    """mem_mb of a train_mlp job: the estimate x safety, rounded up to 100 MB, x attempt."""
    megabytes = TRAIN_MEM_SAFETY * train_mlp_megabytes(int(wildcards.n_train), int(wildcards.batch_size))
    return max(TRAIN_MEM_FLOOR_MB, int(-(-megabytes // 100) * 100)) * attempt


# --- scaling and report (workflow/rules/scaling.smk; report flags for every figure rule) ---

from bayes_sgd.sweeps import SWEEP_FIGURES, SWEEP_SECTIONS, sweep_curves, sweep_runs


def scaling_run_paths(sweep):
    """The run tables of one scaling sweep: every curve at each of its batch sizes and seeds."""
    return [
        run_path(DATASET, r.n_train, r.learning_rate, r.momentum, r.batch_size, r.l2, r.steps, r.seed)
        for r in sweep_runs(config["scaling"], sweep)
    ]


def scaling_analysis_params(wildcards):
    """The settings of the optimum-batch-size analysis (the same for every sweep)."""
    s = config["scaling"]
    return {
        k: s[k]
        for k in ("diverged_accuracy", "untrained_accuracy", "bootstrap_seed", "bootstrap_replicates", "confidence")
    }


def report_figure(paths, caption, category):
    """``paths`` (one figure in each plot format) with the one the HTML report shows (PNG, else SVG,
    else PDF) flagged for ``snakemake --report``, captioned by workflow/report/<caption>.rst."""
    formats = config["plot"]["formats"]
    shown = next(ext for ext in ("png", "svg", "pdf") if ext in formats)
    flag = dict(caption=f"../report/{caption}.rst", category=category)
    return [report(path, **flag) if path.endswith(f".{shown}") else path for path in paths]


# --- evidence of the trained networks (workflow/rules/evidence.smk) ---

from bayes_sgd.sweeps import figure_runs

RUN_WILDCARDS = "{dataset}/N{n_train}/eps{learning_rate}_m{momentum}_B{batch_size}_l2{l2}_T{steps}_s{seed}"


def evidence_path(run):
    """The evidence table of one run (a bayes_sgd.sweeps.Run) of the configured dataset."""
    return run_path(DATASET, *(getattr(run, k) for k in Run.__dataclass_fields__)).replace(
        "results/runs/", "results/evidence/runs/"
    )


def exact_softmax_layer(wildcards):
    """Whether this run gets the exact softmax-layer evidence (evidence.exact_softmax_layer)."""
    return f"results/evidence/runs/{RUN_WILDCARDS.format(**dict(wildcards.items()))}.parquet" in exact_softmax_runs()


@functools.cache
def exact_softmax_runs():
    """The evidence tables of the runs that get the exact softmax-layer evidence (evidence.exact_softmax_layer)."""
    exact = config["evidence"]["exact_softmax_layer"]
    figure_4 = figure_runs(config["mlp"], ["figure_4"])
    every = set(figure_4) | {r for s in SWEEP_SECTIONS for r in sweep_runs(config["scaling"], s)}
    runs = {"none": [], "figure_4": figure_4, "all": every}[exact["runs"]]
    return frozenset(evidence_path(r) for r in runs if exact["seeds"] is None or r.seed in exact["seeds"])


# Cluster resources of one evidence job. Measured on one core at H = 800, N = 1,000: KFAC,
# Lanczos sharpness and B_simple take a few seconds (linear in N); the exact softmax-layer
# eigenvalue problem (8,010 x 8,010, independent of N) about 35 CPU-seconds and 1.1 GB. Memory:
# about 1 GB for Python and the dataset table, and about 40 kB per training example (float64
# inputs, hidden activations and the Hessian-vector-product temporaries).


def evidence_mem_mb(wildcards, attempt):
    """mem_mb of a compute_mlp_evidence job: the estimate above x 2, x attempt."""
    exact = 1200 if exact_softmax_layer(wildcards) else 0
    return int(1000 + 0.04 * int(wildcards.n_train) + exact) * 2 * attempt


def evidence_runtime(wildcards, attempt):
    """runtime (minutes) of a compute_mlp_evidence job: a generous estimate x 3, x attempt."""
    minutes = 5 + 0.2 * int(wildcards.n_train) / 1000 + (5 if exact_softmax_layer(wildcards) else 0)
    return int(-(-3 * minutes // 1)) * attempt
