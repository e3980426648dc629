# Our extension (docs/paper.md, "Beyond the paper: the evidence of a trained network"): the Laplace
# evidence, sharpness and gradient noise scale of every Figure 4 and scaling-sweep run at its
# final weights (one job per run, reading the weights train_mlp keeps), one table of them all,
# the two evidence claims, and three figures drawn from that table.

EVIDENCE = config["evidence"]


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
        exact_network=exact_network,
        slq=EVIDENCE["slq"],
        sharpness=EVIDENCE["sharpness"],
        chunk_size=EVIDENCE["chunk_size"],
        failed_accuracy=EVIDENCE["failed_accuracy"],
        hidden_units=MLP["hidden_units"],
        pixel_scale=MLP["pixel_scale"],
        protocol=protocol_params,
        subset_seed=MLP["subset_seed"],
    log:
        f"logs/compute_mlp_evidence/{RUN_WILDCARDS}.log",
    benchmark:
        f"benchmarks/compute_mlp_evidence/{RUN_WILDCARDS}.tsv"
    conda:
        CONDA_ENV
    wildcard_constraints:
        **RUN_CONSTRAINTS,
    threads: 1
    resources:
        # scaled with N and doubled on a retry (common.smk)
        mem_mb=evidence_mem_mb,
        runtime=evidence_runtime,
    script:
        "../scripts/compute_mlp_evidence.py"


rule collect_mlp_evidence:
    input:
        runs=[evidence_path(r) for r in EVIDENCE_RUNS],
        # the same tables again: those of Figure 4's runs (marked figure_4 in the collected table)
        figure_4=[evidence_path(r) for r in FIGURE_RUNS["4"]],
        code=code("collect_mlp_evidence"),
    output:
        evidence=f"{EVIDENCE_DIR}/evidence.parquet",
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
        # KFAC against the exact evidence, run by run (evidence.exact_network)
        estimator_check=f"{EVIDENCE_DIR}/estimator_check.parquet",
        # the within-curve rho of every generalisation measure among well-trained runs
        measures=f"{EVIDENCE_DIR}/measures.parquet",
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
        # the sweeps' optimum batch sizes, for the B_simple figure only
        optima=lambda wildcards: (
            expand(f"{SCALING_DIR}/{{sweep}}/optima.parquet", sweep=SWEEPS)
            if wildcards.figure == "b_simple_vs_optimum"
            else []
        ),
        code=code("plot_evidence_figure"),
    output:
        figure=report_figure(
            expand(f"results/figures/{DATASET}/{{{{figure}}}}.{{ext}}", ext=config["plot"]["formats"]),
            "plot_evidence_figure",
            "Beyond the paper: the evidence of trained networks",
        ),
    params:
        title=lambda wildcards: figure_title(EVIDENCE_FIGURES[wildcards.figure]),
        claims=EVIDENCE["claims"],
        failed_accuracy=EVIDENCE["failed_accuracy"],
        dpi=config["plot"]["dpi"],
    log:
        f"logs/plot_evidence_figure/{DATASET}/{{figure}}.log",
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
