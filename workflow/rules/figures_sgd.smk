# Stage 3, figures: the runs of Figures 3, 4 and 8 collected into one table per figure, and
# Figures 3, 4, 8 and 9 drawn from those tables (plot: keys never rerun training).


rule collect_sgd_runs:
    input:
        runs=lambda wildcards: SGD_FIGURE_RUNS[wildcards.figure],
        code=code("collect_sgd_runs"),
    output:
        runs=f"{SGD_DIR}/figure_{{figure}}_runs.parquet",
        final=f"{SGD_DIR}/figure_{{figure}}_final.parquet",
        curves=f"{SGD_DIR}/figure_{{figure}}_curves.parquet",
    params:
        diverged_accuracy=config["scaling"]["diverged_accuracy"],
    log:
        f"logs/collect_sgd_runs/{DATASET}_figure_{{figure}}.log",
    conda:
        CONDA_ENV
    localrule: True
    wildcard_constraints:
        figure="3|4|8",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    script:
        "../scripts/collect_sgd_runs.py"


rule plot_learning_curves:
    input:
        runs=f"{SGD_DIR}/figure_{{figure}}_runs.parquet",
        code=code("plot_learning_curves"),
    output:
        figure=report_figure(
            expand(f"results/figures/{DATASET}/figure_{{{{figure}}}}.{{ext}}", ext=config["plot"]["formats"]),
            "plot_learning_curves",
            "Figures 3-4, 8-9: SGD and the batch size",
        ),
    params:
        dpi=config["plot"]["dpi"],
        title=lambda wildcards: figure_title(
            {
                "3": "Figure 3: small batch versus full batch",
                "8": "Figure 8: small batch versus full batch with L2 regularisation",
            }[wildcards.figure]
        ),
    log:
        f"logs/plot_learning_curves/{DATASET}_figure_{{figure}}.log",
    conda:
        CONDA_ENV
    localrule: True
    wildcard_constraints:
        figure="3|8",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/plot_learning_curves.py"


rule plot_figure_4:
    input:
        final=f"{SGD_DIR}/figure_4_final.parquet",
        curves=f"{SGD_DIR}/figure_4_curves.parquet",
        code=code("plot_figure_4"),
    output:
        figure=report_figure(figure_paths("figure_4"), "plot_figure_4", "Figures 3-4, 8-9: SGD and the batch size"),
    params:
        dpi=config["plot"]["dpi"],
        title=figure_title("Figure 4: test accuracy after training versus batch size"),
    log:
        f"logs/plot_figure_4/{DATASET}.log",
    conda:
        CONDA_ENV
    localrule: True
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/plot_figure_4.py"


rule plot_figure_9:
    input:
        samples=f"{FIGURE_9_TABLE}_samples.parquet",
        summary=f"{FIGURE_9_TABLE}_summary.parquet",
        code=code("plot_figure_9"),
    output:
        figure=report_figure(figure_paths("figure_9"), "plot_figure_9", "Figures 3-4, 8-9: SGD and the batch size"),
    params:
        dpi=config["plot"]["dpi"],
        title=figure_title("Figure 9"),
    log:
        f"logs/plot_figure_9/{DATASET}.log",
    conda:
        CONDA_ENV
    localrule: True
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/plot_figure_9.py"


SGD_TARGETS = [
    *[f"{SGD_DIR}/figure_{k}_{kind}.parquet" for k in (3, 4, 8) for kind in ("runs", "final", "curves")],
    f"{FIGURE_9_TABLE}_samples.parquet",
    f"{FIGURE_9_TABLE}_summary.parquet",
    *[path for k in (3, 4, 8, 9) for path in figure_paths(f"figure_{k}")],
]
