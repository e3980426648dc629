# Stage 2 (paper Section 3): exact logistic-regression fits on random and informative labels
# over a lambda grid, their Laplace evidence, and Figures 1 and 2.

from bayes_sgd.logistic import lambda_grid

_grid = config["logistic"]["lambda_grid"]  # checked by bayes_sgd.config (common.smk)
LOGISTIC_LAMBDAS = lambda_grid(_grid["min"], _grid["max"], _grid["per_decade"])


rule fit_logistic_regression:
    input:
        dataset="results/data/{dataset}.parquet",
        task="results/tasks/{dataset}/binary.parquet",
        code=code("fit_logistic_regression"),
    output:
        fits="results/logistic/{dataset}/fits.parquet",
        summary="results/logistic/{dataset}/summary.parquet",
        rescaling="results/logistic/{dataset}/rescaling.parquet",
    params:
        lambdas=LOGISTIC_LAMBDAS,
        pixel_scale=config["logistic"]["pixel_scale"],
        newton_tolerance=config["logistic"]["newton_tolerance"],
        newton_max_iterations=config["logistic"]["newton_max_iterations"],
        rescaling_lambda=config["logistic"]["rescaling_lambda"],
        rescaling_factors=config["logistic"]["rescaling_factors"],
    log:
        "logs/fit_logistic_regression/{dataset}.log",
    benchmark:
        "benchmarks/fit_logistic_regression/{dataset}.tsv"
    conda:
        CONDA_ENV
    wildcard_constraints:
        dataset=DATASET_PATTERN,
    threads: 1
    resources:
        mem_mb=4000,
        runtime=15,
    script:
        "../scripts/fit_logistic_regression.py"


rule plot_figures_1_2:
    input:
        fits=f"results/logistic/{DATASET}/fits.parquet",
        code=code("plot_figures_1_2"),
    output:
        figure_1=report_figure(figure_paths("figure_1"), "figure_1", "Figures 1-2: logistic regression"),
        figure_2=report_figure(figure_paths("figure_2"), "figure_2", "Figures 1-2: logistic regression"),
    params:
        dpi=config["plot"]["dpi"],
        titles={
            "figure_1": figure_title("Figure 1: accuracy against the regularisation strength"),
            "figure_2": figure_title("Figure 2: cross-entropy and the evidence against the regularisation strength"),
        },
    log:
        f"logs/plot_figures_1_2/{DATASET}.log",
    conda:
        CONDA_ENV
    localrule: True
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/plot_figures_1_2.py"


LOGISTIC_TARGETS = [
    f"results/logistic/{DATASET}/fits.parquet",
    f"results/logistic/{DATASET}/summary.parquet",
    f"results/logistic/{DATASET}/rescaling.parquet",
    *figure_paths("figure_1"),
    *figure_paths("figure_2"),
]
