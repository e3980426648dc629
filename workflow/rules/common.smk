# Helpers shared by every rule file (configuration validation, the path of an MLP run, figure
# paths and titles, the package modules declared as inputs), and input functions. No rules.

import functools
import os
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

from bayes_sgd.data.datasets import FASHION_MNIST_SHA256, IDX_FILES, MNIST_SHA256, mnist5k_path
from bayes_sgd.config import ConfigError, validate_config
from bayes_sgd.schema import schema_defaults
from bayes_sgd.dependencies import script_inputs
from bayes_sgd import resources, sweeps, variants

# Every check of the configuration, and its defaults, in one place (bayes_sgd.config), before
# any rule is built; an error names the dotted key.
try:
    validate_config(config)  # against the schema shipped inside the package (bayes_sgd.schema)
except ConfigError as err:
    raise WorkflowError(f"Invalid configuration: {err}") from None

DATASET = config["dataset"]
# The stated protocol (the schema's defaults of the protocol options) and the main runs' options:
# their protocol folder is "paper" unless mlp: changes a protocol option (bayes_sgd.variants).
STATED_PROTOCOL = variants.protocol_options(schema_defaults()["mlp"])
MAIN_OPTIONS = variants.protocol_options(config["mlp"])


def main_runs(runs):
    """``runs`` (bayes_sgd.sweeps.Run) of the main protocol, each in its protocol folder."""
    return [variants.run_protocol(r, MAIN_OPTIONS, STATED_PROTOCOL) for r in runs]
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


def figure_paths(name):
    """The files of one figure of the configured dataset, one per configured format."""
    return [f"results/figures/{DATASET}/{name}.{ext}" for ext in config["plot"]["formats"]]


def figure_title(text):
    """A figure's title, naming the dataset it shows."""
    return f"{text} ({DATASET})"


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
# The runtime and memory a job requests grow with its run (N, B, steps) and the configured
# network, and double with every attempt: bayes_sgd.resources holds the models.

TRAIN_ARCHITECTURE = resources.architecture(config["mlp"]["hidden_units"])


def protocol_params(wildcards):
    """The protocol options of a run, read from its protocol folder (bayes_sgd.variants)."""
    try:
        return variants.parse_protocol_id(wildcards.protocol, STATED_PROTOCOL)
    except ValueError as err:
        raise WorkflowError(str(err)) from None


def train_mlp_runtime(wildcards, attempt):
    """runtime (minutes) of a train_mlp job (bayes_sgd.resources.train_mlp_runtime_minutes)."""
    return resources.train_mlp_runtime_minutes(
        int(wildcards.n_train), int(wildcards.batch_size), int(wildcards.steps), config["mlp"]["eval_points"],
        TRAIN_ARCHITECTURE, attempt,
    )


def train_mlp_mem_mb(wildcards, attempt):
    """mem_mb of a train_mlp job (bayes_sgd.resources.train_mlp_mem_mb)."""
    return resources.train_mlp_mem_mb(int(wildcards.n_train), int(wildcards.batch_size), TRAIN_ARCHITECTURE, attempt)


# --- scaling and report (workflow/rules/scaling.smk; report flags for every figure rule) ---

SWEEPS = sweeps.SWEEPS


def scaling_run_paths(sweep):
    """The run tables of one scaling sweep: every curve at each of its batch sizes and seeds."""
    return [sweeps.run_path(DATASET, r) for r in main_runs(sweeps.sweep_runs(config["scaling"], sweep))]


def scaling_analysis_params(wildcards):
    """The settings of the optimum-batch-size analysis (the same for every sweep)."""
    s = config["scaling"]
    return {
        k: s[k]
        for k in ("diverged_accuracy", "untrained_accuracy", "bootstrap_seed", "bootstrap_replicates", "confidence")
    }


def fit_regions(wildcards):
    """The fit regions of a sweep (bayes_sgd.scaling.noise_scale.sweep_fits): every interior optimum (the
    figure), and for the N rule also N >= scaling.claims.n_train_min (the paper's claim holds
    only there)."""
    if wildcards.sweep == "n_train":
        return [None, config["scaling"]["claims"]["n_train_min"]]
    return [None]


def report_figure(paths, caption, category):
    """``paths`` (one figure in each plot format) with the one the HTML report shows (PNG, else SVG,
    else PDF) flagged for ``snakemake --report``, captioned by workflow/report/<caption>.rst."""
    formats = config["plot"]["formats"]
    shown = next(ext for ext in ("png", "svg", "pdf") if ext in formats)
    flag = dict(caption=f"../report/{caption}.rst", category=category)
    return [report(path, **flag) if path.endswith(f".{shown}") else path for path in paths]


# --- evidence of the trained networks (workflow/rules/evidence.smk) ---

from bayes_sgd.sweeps import figure_runs

RUN_WILDCARDS = "{dataset}/{protocol}/N{n_train}/eps{learning_rate}_m{momentum}_B{batch_size}_l2{l2}_T{steps}_s{seed}"


def evidence_path(run):
    """The evidence table of one run (a bayes_sgd.sweeps.Run) of the configured dataset."""
    return sweeps.run_path(DATASET, run).replace(
        "results/runs/", "results/evidence/runs/"
    )


def exact_softmax_layer(wildcards):
    """Whether this run gets the exact softmax-layer evidence (evidence.exact_softmax_layer)."""
    return f"results/evidence/runs/{RUN_WILDCARDS.format(**dict(wildcards.items()))}.parquet" in exact_softmax_runs()


@functools.cache
def exact_softmax_runs():
    """The evidence tables of the runs that get the exact softmax-layer evidence (evidence.exact_softmax_layer)."""
    exact = config["evidence"]["exact_softmax_layer"]
    figure_4 = main_runs(figure_runs(config["mlp"], ["figure_4"]))
    every = set(figure_4) | {r for s in SWEEPS for r in main_runs(sweeps.sweep_runs(config["scaling"], s))}
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


# --- protocol variants (workflow/rules/variants.smk) ---


def variant_claim_tables(wildcards):
    """The claim tables of one variant (VARIANTS, variants.smk), by their bayes_sgd.claims.registry.TABLES names."""
    v = VARIANTS[wildcards.variant]
    return {name: f"{VARIANTS_DIR}/{v.name}/{file}" for name, file in variants.variant_table_files(v.sweeps).items()}


def not_built_reason(stage):
    """Why the claims of ``stage`` are not measured when the configuration's targets leave it out."""
    return f"not built: stage '{stage}' is not in this configuration's targets ({', '.join(config['targets'])})"
