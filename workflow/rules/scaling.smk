# Stage 4 (paper Section 5, Figures 5-7): the learning-rate, training-set-size and momentum
# sweeps, each curve's optimum batch size with a seed-bootstrap interval, the log-log fits of
# the scaling rules, test accuracy against the noise scale g, and the claims report (of the stages
# the configuration builds).
#
# Every run of a sweep is a train_mlp job named by run_path() (common.smk), so a run that a
# sweep shares with Figure 4 (or with another sweep) is one job.

SCALING_DIR = f"results/scaling/{DATASET}"
SUMMARY_DIR = f"results/summary/{DATASET}"

# The run tables of each sweep (bayes_sgd.sweeps.SWEEPS: learning_rate, Figure 5; n_train,
# Figure 6; momentum, Figure 7) and the sweep of each figure number.
SCALING_RUNS = {sweep: scaling_run_paths(sweep) for sweep in SWEEPS}
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


# The claim tables (bayes_sgd.claims.registry.TABLES) and the stage (config key targets) that builds each.
# The claims report judges the claims of the stages this configuration builds; a claim whose
# table belongs to a stage it leaves out reads 'not measured', with that reason.
CLAIM_TABLES = {
    "logistic": ("logistic", f"results/logistic/{DATASET}/fits.parquet"),
    "figure_3_curves": ("sgd", f"{SGD_DIR}/figure_3_curves.parquet"),
    "figure_4_curves": ("sgd", f"{SGD_DIR}/figure_4_curves.parquet"),
    "figure_8_curves": ("sgd", f"{SGD_DIR}/figure_8_curves.parquet"),
    "learning_rate_optima": ("scaling", f"{SCALING_DIR}/learning_rate/optima.parquet"),
    "learning_rate_fits": ("scaling", f"{SCALING_DIR}/learning_rate/fits.parquet"),
    "n_train_fits": ("scaling", f"{SCALING_DIR}/n_train/fits.parquet"),
    "momentum_fits": ("scaling", f"{SCALING_DIR}/momentum/fits.parquet"),
    "gradient_noise": ("sgd", f"{FIGURE_9_TABLE}_summary.parquet"),
}
# The stages whose claims the report judges; it is built when the targets hold any of them.
CLAIM_STAGES = ("logistic", "sgd", "scaling", "evidence")
STAGES_NOT_BUILT = [stage for stage in CLAIM_STAGES if stage not in config["targets"]]


rule summarise_claims:
    input:
        # the tables the claims read (bayes_sgd.claims.registry.TABLES), by name, of the stages built
        **{name: path for name, (stage, path) in CLAIM_TABLES.items() if stage not in STAGES_NOT_BUILT},
        # the evidence claims, judged once by rule assess_evidence_claims (evidence.smk)
        evidence_claims=[] if "evidence" in STAGES_NOT_BUILT else f"results/evidence/{DATASET}/claims.parquet",
        # and the optima of every sweep, for the report's table
        optima=[] if "scaling" in STAGES_NOT_BUILT else expand(f"{SCALING_DIR}/{{sweep}}/optima.parquet", sweep=SWEEPS),
        # the protocol-variant comparison's tables, for its section, if the configuration builds one
        variants=lambda wildcards: (
            [f"{VARIANTS_DIR}/overview.parquet", f"{VARIANTS_DIR}/verdicts.parquet"]
            if VARIANTS and "variants" in config["targets"]
            else []
        ),
        code=code("summarise_claims"),
        # the report's Jinja2 templates (package data, not modules)
        templates=[os.path.relpath(path) for path in sorted((SRC / "claims" / "templates").glob("*.j2"))],
    output:
        summary=f"{SUMMARY_DIR}/summary.md",
        html=report(f"{SUMMARY_DIR}/summary.html", caption="../report/summarise_claims.rst", category="Claims report"),
        claims=f"{SUMMARY_DIR}/claims.parquet",
    params:
        dataset=DATASET,
        table_stages={name: stage for name, (stage, _) in CLAIM_TABLES.items()},
        not_built={stage: not_built_reason(stage) for stage in STAGES_NOT_BUILT},
        targets=config["targets"],
        sweeps=list(SWEEPS),
        thresholds=config["scaling"]["claims"],
        diverged_accuracy=config["scaling"]["diverged_accuracy"],
        untrained_accuracy=config["scaling"]["untrained_accuracy"],
        sweep_settings={s.section: config["scaling"][s.section] for s in SWEEPS.values()},
        variant_seeds=config["variant_comparison"]["seeds"],
    log:
        f"logs/summarise_claims/{DATASET}.log",
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
    *[f"{SCALING_DIR}/{sweep}/{kind}.parquet" for sweep in SWEEPS for kind in ("final", "curves", "optima", "replicates", "fits")],
    *[path for s in SWEEPS.values() for path in figure_paths(f"figure_{s.figure}")],
    *figure_paths("figure_noise_scale"),
]
# The claims report, of whichever claim stages the targets hold (none: no report).
SUMMARY_TARGETS = (
    [f"{SUMMARY_DIR}/summary.md", f"{SUMMARY_DIR}/summary.html", f"{SUMMARY_DIR}/claims.parquet"]
    if len(STAGES_NOT_BUILT) < len(CLAIM_STAGES)
    else []
)
