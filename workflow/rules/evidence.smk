# Our extension (PAPER.md, "Beyond the paper: the evidence of a trained network"): the Laplace
# evidence, sharpness and gradient noise scale of every Figure 4 and scaling-sweep run at its
# final weights (one job per run, reading the weights train_mlp keeps), one table of them all,
# the two evidence claims, and three figures drawn from that table.

EVIDENCE = config["evidence"]
EVIDENCE_DIR = f"results/evidence/{DATASET}"
RUN_WILDCARDS = "{dataset}/N{n_train}/eps{learning_rate}_m{momentum}_B{batch_size}_l2{l2}_T{steps}_s{seed}"


def evidence_path(run):
    """The evidence table of one run (a bayes_sgd.sweeps.Run) of the configured dataset."""
    return run_path(DATASET, *(getattr(run, k) for k in Run.__dataclass_fields__)).replace(
        "results/runs/", "results/evidence/runs/"
    )


from bayes_sgd.sweeps import figure_runs

EVIDENCE_FIGURE_4 = figure_runs(config["mlp"], ["figure_4"])
EVIDENCE_RUNS = sorted(set(EVIDENCE_FIGURE_4) | {r for s in SWEEP_SECTIONS for r in sweep_runs(config["scaling"], s)})
_exact = EVIDENCE["exact_softmax_layer"]
EXACT_SOFTMAX_RUNS = {
    evidence_path(r)
    for r in {"none": [], "figure_4": EVIDENCE_FIGURE_4, "all": EVIDENCE_RUNS}[_exact["runs"]]
    if _exact["seeds"] is None or r.seed in _exact["seeds"]
}


def exact_softmax_layer(wildcards):
    """Whether this run gets the exact softmax-layer evidence (evidence.exact_softmax_layer)."""
    return f"results/evidence/runs/{RUN_WILDCARDS.format(**dict(wildcards.items()))}.parquet" in EXACT_SOFTMAX_RUNS


# Cluster resources of one evidence job. Measured on one core at H = 800, N = 1,000: KFAC,
# Lanczos sharpness and B_simple take a few seconds (linear in N); the exact softmax-layer
# eigenvalue problem (8,010 x 8,010, independent of N) takes 1-2 minutes and 1.1 GB. Memory:
# about 1 GB for Python and the dataset table, and about 40 kB per training example (float64
# inputs, hidden activations and the Hessian-vector-product temporaries).


def evidence_mem_mb(wildcards, attempt):
    exact = 1200 if exact_softmax_layer(wildcards) else 0
    return int(1000 + 0.04 * int(wildcards.n_train) + exact) * 2 * attempt


def evidence_runtime(wildcards, attempt):
    minutes = 5 + 0.2 * int(wildcards.n_train) / 1000 + (5 if exact_softmax_layer(wildcards) else 0)
    return int(-(-3 * minutes // 1)) * attempt


rule compute_mlp_evidence:
    input:
        weights=f"results/weights/{RUN_WILDCARDS}.parquet",
        curve=f"results/runs/{RUN_WILDCARDS}.parquet",
        dataset="results/data/{dataset}.parquet",
        subset=TRAINING_SUBSET,
        code=code("compute_mlp_evidence"),
    output:
        evidence=f"results/evidence/runs/{RUN_WILDCARDS}.parquet",
    params:
        prior_precision_grid=EVIDENCE["prior_precision_grid"],
        search_bounds=EVIDENCE["search_bounds"],
        exact_softmax_layer=exact_softmax_layer,
        sharpness=EVIDENCE["sharpness"],
        chunk_size=EVIDENCE["chunk_size"],
        failed_accuracy=EVIDENCE["failed_accuracy"],
        hidden_units=MLP["hidden_units"],
        pixel_scale=MLP["pixel_scale"],
        subset_seed=MLP["subset_seed"],
    log:
        f"logs/compute_mlp_evidence/{RUN_WILDCARDS}.log",
    benchmark:
        f"benchmarks/compute_mlp_evidence/{RUN_WILDCARDS}.tsv"
    conda:
        CONDA_ENV
    wildcard_constraints:
        dataset="mnist5k|mnist|fashion_mnist",
        n_train=r"\d+",
        learning_rate=NUMBER,
        momentum=NUMBER,
        batch_size=r"\d+",
        l2=NUMBER,
        steps=r"\d+",
        seed=r"\d+",
    threads: 1
    resources:
        # scaled with N and doubled on a retry (evidence_mem_mb, evidence_runtime above)
        mem_mb=evidence_mem_mb,
        runtime=evidence_runtime,
    script:
        "../scripts/compute_mlp_evidence.py"


rule collect_mlp_evidence:
    input:
        runs=[evidence_path(r) for r in EVIDENCE_RUNS],
        code=code("collect_mlp_evidence"),
    output:
        evidence=f"{EVIDENCE_DIR}/evidence.parquet",
    params:
        figure_4={k: config["mlp"]["figure_4"][k] for k in ("n_train", "learning_rate", "momentum", "l2", "steps")},
    log:
        f"logs/collect_mlp_evidence/{DATASET}.log",
    conda:
        CONDA_ENV
    localrule: True
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    script:
        "../scripts/collect_mlp_evidence.py"


rule assess_evidence_claims:
    input:
        evidence=f"{EVIDENCE_DIR}/evidence.parquet",
        code=code("assess_evidence_claims"),
    output:
        claims=f"{EVIDENCE_DIR}/claims.parquet",
        peaks=f"{EVIDENCE_DIR}/peaks.parquet",
    params:
        claims=EVIDENCE["claims"],
        failed_accuracy=EVIDENCE["failed_accuracy"],
    log:
        f"logs/assess_evidence_claims/{DATASET}.log",
    conda:
        CONDA_ENV
    localrule: True
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/assess_evidence_claims.py"


EVIDENCE_FIGURES = {
    "evidence_vs_batch_size": "Log evidence (depth and Occam factor) against B for the Figure 4 runs",
    "evidence_vs_accuracy": "Log evidence against test accuracy over every run",
    "b_simple_vs_optimum": "Gradient noise scale B_simple against the measured optimum batch size",
}


rule plot_evidence_figure:
    input:
        evidence=f"{EVIDENCE_DIR}/evidence.parquet",
        optima=expand(f"{SCALING_DIR}/{{sweep}}/optima.parquet", sweep=SWEEP_SECTIONS),
        code=code("plot_evidence_figure"),
    output:
        figure=report_figure(
            expand("results/figures/{{figure}}.{ext}", ext=config["plot"]["formats"]),
            "plot_evidence_figure",
            "Beyond the paper: the evidence of trained networks",
        ),
    params:
        title=lambda wildcards: EVIDENCE_FIGURES[wildcards.figure],
        claims=EVIDENCE["claims"],
        failed_accuracy=EVIDENCE["failed_accuracy"],
        dpi=config["plot"]["dpi"],
    log:
        "logs/plot_evidence_figure/{figure}.log",
    conda:
        CONDA_ENV
    localrule: True
    wildcard_constraints:
        figure="|".join(EVIDENCE_FIGURES),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/plot_evidence_figure.py"


EVIDENCE_TARGETS = [
    f"{EVIDENCE_DIR}/evidence.parquet",
    f"{EVIDENCE_DIR}/claims.parquet",
    f"{EVIDENCE_DIR}/peaks.parquet",
    *[path for name in EVIDENCE_FIGURES for path in figure_paths(name)],
]
