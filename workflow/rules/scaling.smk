# Stage 4 (paper Section 5, Figures 5-7): the learning-rate, training-set-size and momentum
# sweeps, each curve's optimum batch size with a seed-bootstrap interval, the log-log fits of
# the scaling rules, test accuracy against the noise scale g, and the claims report.
#
# Every run of a sweep is a train_mlp job named by run_path() (common.smk), so a run that a
# sweep shares with Figure 4 (or with another sweep) is one job.

SCALING_DIR = f"results/scaling/{DATASET}"

# The run tables of each sweep, by swept column: learning_rate (Figure 5), n_train (Figure 6),
# momentum (Figure 7).
SCALING_RUNS = {sweep: scaling_run_paths(sweep) for sweep in SWEEP_SECTIONS}
SCALING_FIGURES = {str(figure): sweep for sweep, figure in SWEEP_FIGURES.items()}


rule analyse_scaling_sweep:
    input:
        runs=lambda wildcards: SCALING_RUNS[wildcards.sweep],
        code=code("analyse_scaling_sweep"),
    output:
        final=f"{SCALING_DIR}/{{sweep}}/final.parquet",
        curves=f"{SCALING_DIR}/{{sweep}}/curves.parquet",
        optima=f"{SCALING_DIR}/{{sweep}}/optima.parquet",
        replicates=f"{SCALING_DIR}/{{sweep}}/replicates.parquet",
        fits=f"{SCALING_DIR}/{{sweep}}/fits.parquet",
    params:
        analysis=scaling_analysis_params,
        curves=lambda wildcards: sweep_curves(config["scaling"], wildcards.sweep),
    log:
        f"logs/analyse_scaling_sweep/{DATASET}_{{sweep}}.log",
    conda:
        CONDA_ENV
    localrule: True
    wildcard_constraints:
        sweep="|".join(SWEEP_SECTIONS),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/analyse_scaling_sweep.py"


rule plot_scaling_figure:
    input:
        curves=lambda wildcards: f"{SCALING_DIR}/{SCALING_FIGURES[wildcards.figure]}/curves.parquet",
        optima=lambda wildcards: f"{SCALING_DIR}/{SCALING_FIGURES[wildcards.figure]}/optima.parquet",
        fits=lambda wildcards: f"{SCALING_DIR}/{SCALING_FIGURES[wildcards.figure]}/fits.parquet",
        code=code("plot_scaling_figure"),
    output:
        figure=report_figure(
            expand("results/figures/figure_{{figure}}.{ext}", ext=config["plot"]["formats"]),
            "plot_scaling_figure",
            "Figures 5-7: scaling rules",
        ),
    params:
        sweep=lambda wildcards: SCALING_FIGURES[wildcards.figure],
        dpi=config["plot"]["dpi"],
    log:
        "logs/plot_scaling_figure/figure_{figure}.log",
    conda:
        CONDA_ENV
    localrule: True
    wildcard_constraints:
        figure="5|6|7",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/plot_scaling_figure.py"


rule plot_accuracy_vs_noise_scale:
    input:
        curves=expand(f"{SCALING_DIR}/{{sweep}}/curves.parquet", sweep=SWEEP_SECTIONS),
        code=code("plot_accuracy_vs_noise_scale"),
    output:
        figure=report_figure(
            figure_paths("figure_noise_scale"), "plot_accuracy_vs_noise_scale", "Figures 5-7: scaling rules"
        ),
    params:
        sweeps=list(SWEEP_SECTIONS),
        dpi=config["plot"]["dpi"],
    log:
        "logs/plot_accuracy_vs_noise_scale/plot_accuracy_vs_noise_scale.log",
    conda:
        CONDA_ENV
    localrule: True
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/plot_accuracy_vs_noise_scale.py"


rule summarise_claims:
    input:
        logistic=f"results/logistic/{DATASET}/fits.parquet",
        figure_3=f"results/sgd/{DATASET}/figure_3_final.parquet",
        figure_4=f"results/sgd/{DATASET}/figure_4_final.parquet",
        figure_8=f"results/sgd/{DATASET}/figure_8_final.parquet",
        gradients=f"{FIGURE_9_TABLE}_samples.parquet",
        optima=expand(f"{SCALING_DIR}/{{sweep}}/optima.parquet", sweep=SWEEP_SECTIONS),
        fits=expand(f"{SCALING_DIR}/{{sweep}}/fits.parquet", sweep=SWEEP_SECTIONS),
        code=code("summarise_claims"),
    output:
        summary="results/summary.md",
        html=report(
            "results/summary.html", caption="../report/summarise_claims.rst", category="Claims report"
        ),
        claims="results/claims.parquet",
    params:
        dataset=DATASET,
        sweeps=list(SWEEP_SECTIONS),
        thresholds=config["scaling"]["claims"],
        diverged_accuracy=config["scaling"]["diverged_accuracy"],
        untrained_accuracy=config["scaling"]["untrained_accuracy"],
        sweep_settings={name: config["scaling"][name] for name in SWEEP_SECTIONS.values()},
    log:
        "logs/summarise_claims/summarise_claims.log",
    conda:
        CONDA_ENV
    localrule: True
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    script:
        "../scripts/summarise_claims.py"


SCALING_TARGETS = [
    *[f"{SCALING_DIR}/{sweep}/{kind}.parquet" for sweep in SWEEP_SECTIONS for kind in ("final", "curves", "optima", "replicates", "fits")],
    *[path for k in (5, 6, 7) for path in figure_paths(f"figure_{k}")],
    *figure_paths("figure_noise_scale"),
    "results/summary.md",
    "results/summary.html",
    "results/claims.parquet",
]
