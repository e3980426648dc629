# Helpers shared by every rule file (configuration validation, figure paths and titles, the
# package modules declared as inputs), the names several rule files use (output folders, run sets,
# wildcard patterns, the protocol variants), defined here once so that each rule file reads alone
# after this one, and input functions. No rules.

import functools
import os
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

from bayes_sgd.data.datasets import DATASETS, FASHION_MNIST_SHA256, IDX_FILES, MNIST_SHA256, mnist5k_path
from bayes_sgd.config import ConfigError, validate_config
from bayes_sgd.schema import schema_defaults
from bayes_sgd.dependencies import script_inputs
from bayes_sgd import diagnosis, local_cores, resources, sweeps, variants

# Every check of the configuration, and its defaults, in one place (bayes_sgd.config), before
# any rule is built; an error names the dotted key.
try:
    validate_config(config)  # against the schema shipped inside the package (bayes_sgd.schema)
except ConfigError as err:
    raise WorkflowError(f"Invalid configuration: {err}") from None

# A local run uses at most the cores this machine lets it run on (or config key local_cpus),
# whatever --cores says: Snakemake then starts no more single-threaded jobs than that at once
# and caps every job's threads to it (bayes_sgd.local_cores). Not a cluster run (an executor
# such as slurm submits jobs to other machines: --jobs sets _nodes there, and its dry runs keep
# the cluster's threads), and not inside a job (a cluster job's own snakemake process).
if workflow.is_main_process and workflow.local_exec and workflow.global_resources["_nodes"].value is None:
    LOCAL_CORES, _note = local_cores.local_core_budget(workflow.global_resources["_cores"].value, config["local_cpus"])
    if _note:
        logger.info(_note)
    workflow.global_resources["_cores"] = LOCAL_CORES

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


# --- names several rule files share ---

# The output folders of the stages' tables.
SGD_DIR = f"results/sgd/{DATASET}"
SCALING_DIR = f"results/scaling/{DATASET}"
EVIDENCE_DIR = f"results/evidence/{DATASET}"
VARIANTS_DIR = f"results/variants/{DATASET}"
DIAGNOSIS_DIR = f"results/diagnosis/{DATASET}"
SUMMARY_DIR = f"results/summary/{DATASET}"

# Wildcard patterns: a dataset, a number as run paths write it (1, 0.1, 1e-06, 1e+06), a protocol
# folder (bayes_sgd.variants.protocol_id).
DATASET_PATTERN = "|".join(DATASETS)
NUMBER = sweeps.NUMBER_PATTERN
PROTOCOL_PATTERN = r"[A-Za-z0-9_.+-]+"

# The wildcards of one MLP run's files (bayes_sgd.sweeps.run_path), and their constraints in
# every rule that writes such a file (train_mlp, compute_mlp_evidence).
RUN_STEM = "{dataset}/{protocol}/N{n_train}/eps{learning_rate}_m{momentum}_B{batch_size}_l2{l2}_T{steps}"
RUN_WILDCARDS = f"{RUN_STEM}_s{{seed}}"
RUN_CONSTRAINTS = dict(
    dataset=DATASET_PATTERN,
    protocol=PROTOCOL_PATTERN,
    n_train=r"\d+",
    learning_rate=NUMBER,
    momentum=NUMBER,
    batch_size=r"\d+",
    l2=NUMBER,
    steps=r"\d+",
    seed=r"\d+",
)

MLP = config["mlp"]
# The seeded N-image training subset, shared by every run seed of that N.
TRAINING_SUBSET = "results/subsets/{{dataset}}/N{{n_train}}_seed{subset_seed}.parquet".format(subset_seed=MLP["subset_seed"])
# The gradient-noise tables of Figure 9 (its _samples and _summary tables).
FIGURE_9 = MLP["figure_9"]
FIGURE_9_TABLE = f"results/gradient_noise/{DATASET}/N{FIGURE_9['n_train']}_B{FIGURE_9['batch_size']}_s{FIGURE_9['seed']}"

# The run sets: the main runs (bayes_sgd.sweeps.Run) of Figures 3, 4 and 8 (every batch size and
# seed of mlp.figure_<k>) and of each scaling sweep (bayes_sgd.sweeps.SWEEPS: learning_rate,
# Figure 5; n_train, Figure 6; momentum, Figure 7; every curve at each of its batch sizes and
# seeds), the runs whose evidence is computed (Figure 4's and every sweep's), and the run tables
# that collect_sgd_runs and analyse_scaling_sweep read.
SWEEPS = sweeps.SWEEPS
FIGURE_RUNS = {k: main_runs(sweeps.figure_runs(config["mlp"], [f"figure_{k}"])) for k in ("3", "4", "8")}
SWEEP_RUNS = {sweep: main_runs(sweeps.sweep_runs(config["scaling"], sweep)) for sweep in SWEEPS}
EVIDENCE_RUNS = sorted(set(FIGURE_RUNS["4"]).union(*SWEEP_RUNS.values()))
SGD_FIGURE_RUNS = {k: [sweeps.run_path(DATASET, r) for r in runs] for k, runs in FIGURE_RUNS.items()}
SCALING_RUNS = {sweep: [sweeps.run_path(DATASET, r) for r in runs] for sweep, runs in SWEEP_RUNS.items()}

# The configured protocol variants (bayes_sgd.variants), by name, and their runs: of Figures 3, 4
# and 8 (by figure) and of the sweeps each variant asks for (by sweep).
VARIANTS = variants.configured_variants(config, STATED_PROTOCOL)
VARIANT_FIGURE_RUNS = {
    name: variants.variant_figure_runs(v, config["mlp"], config["variant_comparison"]["seeds"])
    for name, v in VARIANTS.items()
}
VARIANT_SWEEP_RUN_SETS = {
    name: {sweep: variants.variant_sweep_runs(v, config["scaling"], sweep) for sweep in v.sweeps}
    for name, v in VARIANTS.items()
}


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


# --- seed groups of the JAX backend (workflow/rules/train.smk) ---
# With mlp.backend jax and mlp.group_seeds, the seeds of one configuration train in one job
# (train_mlp_seeds) whose folder results/run_groups/<stem>_seeds<0-1-...> holds each seed's tables;
# the group of a configuration has every seed that any figure, sweep or variant asks for
# (bayes_sgd.sweeps.seed_groups). A run no rule asks for (named on the command line) is a group
# of its own seed.

GROUP_SEEDS = MLP["backend"] == "jax" and MLP["group_seeds"]
GROUP_WILDCARDS = f"{RUN_STEM}_seeds{{seeds}}"
GROUP_CONSTRAINTS = {**{k: v for k, v in RUN_CONSTRAINTS.items() if k != "seed"}, "seeds": r"\d+(-\d+)*"}
SEED_GROUPS = sweeps.seed_groups(
    DATASET,
    [
        *(r for runs in FIGURE_RUNS.values() for r in runs),
        *(r for runs in SWEEP_RUNS.values() for r in runs),
        *(r for figures in VARIANT_FIGURE_RUNS.values() for runs in figures.values() for r in runs),
        *(r for sweeps_ in VARIANT_SWEEP_RUN_SETS.values() for runs in sweeps_.values() for r in runs),
    ],
)


def seed_group_folder(wildcards):
    """The folder of the group (rule train_mlp_seeds) that trains the run ``wildcards``."""
    stem, seed = RUN_STEM.format(**wildcards), int(wildcards.seed)
    seeds = SEED_GROUPS.get(stem, ())
    return f"results/run_groups/{sweeps.group_name(stem, seeds if seed in seeds else (seed,))}"


def group_checkpoints(wildcards):
    """The checkpoint file of each seed of a group: the path the seed's run has when trained alone."""
    stem = RUN_STEM.format(**wildcards)
    return [f"results/checkpoints/{stem}_s{seed}.npz" for seed in sweeps.group_seeds(wildcards.seeds)]


def train_group_runtime(wildcards, attempt):
    """runtime (minutes) of a train_mlp_seeds job: the seeds' runs one after another
    (bayes_sgd.resources.train_mlp_runtime_minutes x seeds), an upper bound where the device runs them at once."""
    return len(sweeps.group_seeds(wildcards.seeds)) * train_mlp_runtime(wildcards, attempt)


def train_group_mem_mb(wildcards, attempt):
    """mem_mb of a train_mlp_seeds job: one run's (bayes_sgd.resources.train_mlp_mem_mb) x seeds, an upper bound."""
    return len(sweeps.group_seeds(wildcards.seeds)) * train_mlp_mem_mb(wildcards, attempt)


# --- scaling and report (workflow/rules/scaling.smk; report flags for every figure rule) ---


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


def evidence_path(run):
    """The evidence table of one run (a bayes_sgd.sweeps.Run) of the configured dataset."""
    return sweeps.run_path(DATASET, run).replace(
        "results/runs/", "results/evidence/runs/"
    )


def exact_softmax_layer(wildcards):
    """Whether this run gets the exact softmax-layer evidence (evidence.exact_softmax_layer)."""
    return f"results/evidence/runs/{RUN_WILDCARDS.format(**dict(wildcards.items()))}.parquet" in picked_evidence_runs("exact_softmax_layer")


@functools.cache
def picked_evidence_runs(key):
    """The evidence tables of the runs config["evidence"][key] picks by figure (runs) and seed."""
    exact = config["evidence"][key]
    runs = {"none": [], "figure_4": FIGURE_RUNS["4"], "all": EVIDENCE_RUNS}[exact["runs"]]
    return frozenset(evidence_path(r) for r in runs if exact["seeds"] is None or r.seed in exact["seeds"])


def exact_network(wildcards):
    """Whether this run gets the exact whole-network evidence (evidence.exact_network)."""
    path = f"results/evidence/runs/{RUN_WILDCARDS.format(**dict(wildcards.items()))}.parquet"
    return int(wildcards.n_train) <= config["evidence"]["exact_network"]["max_examples"] and path in picked_evidence_runs("exact_network")


# Cluster resources of one evidence job: they grow with N and with the exact softmax-layer
# evidence, and double with every attempt (bayes_sgd.resources holds the model).


def evidence_mem_mb(wildcards, attempt):
    """mem_mb of a compute_mlp_evidence job (bayes_sgd.resources.compute_mlp_evidence_mem_mb)."""
    return resources.compute_mlp_evidence_mem_mb(
        int(wildcards.n_train), exact_softmax_layer(wildcards), attempt, exact_network(wildcards),
        config["evidence"]["slq"]["probes"] > 0,
    )


def evidence_runtime(wildcards, attempt):
    """runtime (minutes) of a compute_mlp_evidence job (bayes_sgd.resources.compute_mlp_evidence_runtime_minutes)."""
    return resources.compute_mlp_evidence_runtime_minutes(
        int(wildcards.n_train), exact_softmax_layer(wildcards), attempt, exact_network(wildcards),
        config["evidence"]["slq"]["probes"] > 0,
    )


# --- protocol variants (workflow/rules/variants.smk) ---


def variant_claim_tables(wildcards):
    """The claim tables of one variant (VARIANTS), by their bayes_sgd.claims.registry.TABLES names."""
    v = VARIANTS[wildcards.variant]
    return {name: f"{VARIANTS_DIR}/{v.name}/{file}" for name, file in variants.variant_table_files(v.sweeps).items()}


# --- the diagnosis (workflow/rules/diagnosis.smk) ---


@functools.cache
def _diagnosis_needs():
    """Configured variant -> the sweeps the hypotheses of bayes_sgd.diagnosis tested under it need."""
    return diagnosis.hypotheses_for({name: v.record() for name, v in VARIANTS.items()})


def diagnosis_variants():
    """The configured variants that a hypothesis of bayes_sgd.diagnosis is tested under."""
    return list(_diagnosis_needs())


def diagnosis_tables(kind):
    """The sweep tables (``fits`` or ``optima``) the diagnosis reads: for each configured variant
    that a hypothesis is tested under (bayes_sgd.diagnosis), each sweep the hypothesis needs and
    the variant runs, by "variant/sweep"."""
    return {
        f"{name}/{sweep}": f"{VARIANTS_DIR}/{name}/{sweep}/{kind}.parquet"
        for name, wanted in _diagnosis_needs().items()
        for sweep in wanted
        if sweep in VARIANTS[name].sweeps
    }


# --- the claims report (workflow/rules/report.smk) ---


def not_built_reason(stage):
    """Why the claims of ``stage`` are not measured when the configuration's targets leave it out."""
    return f"not built: stage '{stage}' is not in this configuration's targets ({', '.join(config['targets'])})"
