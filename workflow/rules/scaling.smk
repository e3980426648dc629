# Stage 4 (paper Section 5, Figures 5-7): the learning-rate, training-set-size and momentum
# sweeps, each curve's optimum batch size with a seed-bootstrap interval, the log-log fits of
# the scaling rules, and test accuracy against the noise scale g.
#
# Every run of a sweep (SCALING_RUNS, common.smk) is a train_mlp job named by run_path(), so a run
# that a sweep shares with Figure 4 (or with another sweep) is one job.

# The sweep of each figure number (bayes_sgd.sweeps.SWEEPS).
SCALING_FIGURES = {str(s.figure): sweep for sweep, s in SWEEPS.items()}


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
        fit_regions=fit_regions,
        curves=lambda wildcards: sweeps.sweep_curves(config["scaling"], wildcards.sweep),
    log:
        f"logs/analyse_scaling_sweep/{DATASET}_{{sweep}}.log",
    conda:
        CONDA_ENV
    localrule: True
    wildcard_constraints:
        sweep="|".join(SWEEPS),
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
            expand(f"results/figures/{DATASET}/figure_{{{{figure}}}}.{{ext}}", ext=config["plot"]["formats"]),
            "plot_scaling_figure",
            "Figures 5-7: scaling rules",
        ),
    params:
        sweep=lambda wildcards: SCALING_FIGURES[wildcards.figure],
        title=lambda wildcards: figure_title(
            f"Figure {wildcards.figure}: the optimum batch size against the "
            f"{SWEEPS[SCALING_FIGURES[wildcards.figure]].quantity}"
        ),
        dpi=config["plot"]["dpi"],
    log:
        f"logs/plot_scaling_figure/{DATASET}_figure_{{figure}}.log",
    conda:
        CONDA_ENV
    localrule: True
    wildcard_constraints:
        figure="|".join(SCALING_FIGURES),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/plot_scaling_figure.py"


rule plot_accuracy_vs_noise_scale:
    input:
        curves=expand(f"{SCALING_DIR}/{{sweep}}/curves.parquet", sweep=SWEEPS),
        code=code("plot_accuracy_vs_noise_scale"),
    output:
        figure=report_figure(
            figure_paths("figure_noise_scale"), "plot_accuracy_vs_noise_scale", "Figures 5-7: scaling rules"
        ),
    params:
        sweeps=list(SWEEPS),
        title=figure_title("Test accuracy against the SGD noise scale, every curve of Figures 5-7"),
        dpi=config["plot"]["dpi"],
    log:
        f"logs/plot_accuracy_vs_noise_scale/{DATASET}.log",
    conda:
        CONDA_ENV
    localrule: True
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/plot_accuracy_vs_noise_scale.py"


SCALING_TARGETS = [
    *[f"{SCALING_DIR}/{sweep}/{kind}.parquet" for sweep in SWEEPS for kind in ("final", "curves", "optima", "replicates", "fits")],
    *[path for s in SWEEPS.values() for path in figure_paths(f"figure_{s.figure}")],
    *figure_paths("figure_noise_scale"),
]
