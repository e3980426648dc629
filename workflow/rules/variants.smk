# Protocol variants [our extension, a sensitivity analysis]: the runs of Figures 3, 4 and 8 (and the
# sweeps a variant asks for) under each variant's protocol options, each variant's claims judged
# exactly as the main summary judges them, and one comparison: results/variants/<dataset>/.
#
# A variant's runs are ordinary train_mlp jobs in their protocol folder (bayes_sgd.variants), so runs
# that two variants (or a variant and the main run) share are one job, and editing a variant reruns
# only its runs. The tables of a variant are built by the main rules (collect_sgd_runs,
# analyse_scaling_sweep) reused for the variant's runs.

# The rules that `use rule` extends below, unless the Snakefile has included them already
# (Snakemake does not skip a file included twice: it would define its rules again).
if not rules.has("collect_sgd_runs"):

    include: "figures_sgd.smk"


if not rules.has("analyse_scaling_sweep"):

    include: "scaling.smk"


VARIANT_RECORDS = {name: v.record() for name, v in VARIANTS.items()}
VARIANT_RUNS = {
    name: {k: [sweeps.run_path(DATASET, r) for r in runs] for k, runs in figures.items()}
    for name, figures in VARIANT_FIGURE_RUNS.items()
}
VARIANT_SWEEP_RUNS = {
    name: {sweep: [sweeps.run_path(DATASET, r) for r in runs] for sweep, runs in sweep_sets.items()}
    for name, sweep_sets in VARIANT_SWEEP_RUN_SETS.items()
}


use rule collect_sgd_runs as collect_variant_runs with:
    input:
        runs=lambda wildcards: VARIANT_RUNS[wildcards.variant][wildcards.figure],
        code=code("collect_sgd_runs"),
    output:
        runs=f"{VARIANTS_DIR}/{{variant}}/figure_{{figure}}_runs.parquet",
        final=f"{VARIANTS_DIR}/{{variant}}/figure_{{figure}}_final.parquet",
        curves=f"{VARIANTS_DIR}/{{variant}}/figure_{{figure}}_curves.parquet",
    log:
        f"logs/collect_variant_runs/{DATASET}/{{variant}}_figure_{{figure}}.log",


use rule analyse_scaling_sweep as analyse_variant_sweep with:
    input:
        runs=lambda wildcards: VARIANT_SWEEP_RUNS[wildcards.variant][wildcards.sweep],
        code=code("analyse_scaling_sweep"),
    output:
        final=f"{VARIANTS_DIR}/{{variant}}/{{sweep}}/final.parquet",
        curves=f"{VARIANTS_DIR}/{{variant}}/{{sweep}}/curves.parquet",
        optima=f"{VARIANTS_DIR}/{{variant}}/{{sweep}}/optima.parquet",
        replicates=f"{VARIANTS_DIR}/{{variant}}/{{sweep}}/replicates.parquet",
        fits=f"{VARIANTS_DIR}/{{variant}}/{{sweep}}/fits.parquet",
    params:
        analysis=scaling_analysis_params,
        fit_regions=fit_regions,
        curves=lambda wildcards: variants.variant_sweep_curves(VARIANTS[wildcards.variant], config["scaling"], wildcards.sweep),
    log:
        f"logs/analyse_variant_sweep/{DATASET}/{{variant}}_{{sweep}}.log",


rule assess_variant_claims:
    input:
        unpack(variant_claim_tables),
        code=code("assess_variant_claims"),
    output:
        claims=f"{VARIANTS_DIR}/{{variant}}/claims.parquet",
    params:
        variant=lambda wildcards: VARIANT_RECORDS[wildcards.variant],
        tables=lambda wildcards: list(variant_claim_tables(wildcards)),
        thresholds=config["scaling"]["claims"],
    log:
        f"logs/assess_variant_claims/{DATASET}/{{variant}}.log",
    conda:
        CONDA_ENV
    localrule: True
    wildcard_constraints:
        variant="|".join(VARIANTS) or "(?!)",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/assess_variant_claims.py"


rule compare_variants:
    input:
        claims=expand(f"{VARIANTS_DIR}/{{variant}}/claims.parquet", variant=VARIANTS),
        curves=expand(f"{VARIANTS_DIR}/{{variant}}/figure_4_curves.parquet", variant=VARIANTS),
        code=code("compare_variants"),
        templates=[os.path.relpath(path) for path in sorted((SRC / "claims" / "templates").glob("variants*.j2"))],
    output:
        verdicts=f"{VARIANTS_DIR}/verdicts.parquet",
        overview=f"{VARIANTS_DIR}/overview.parquet",
        accuracy=f"{VARIANTS_DIR}/accuracy.parquet",
        summary=f"{VARIANTS_DIR}/summary.md",
        html=report(f"{VARIANTS_DIR}/summary.html", caption="../report/compare_variants.rst", category="Protocol variants"),
    params:
        dataset=DATASET,
        variants=VARIANT_RECORDS,
        seeds=config["variant_comparison"]["seeds"],
    log:
        f"logs/compare_variants/{DATASET}.log",
    conda:
        CONDA_ENV
    localrule: True
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/compare_variants.py"


rule plot_variant_accuracy:
    input:
        accuracy=f"{VARIANTS_DIR}/accuracy.parquet",
        code=code("plot_variant_accuracy"),
    output:
        figure=report_figure(figure_paths("variants_accuracy"), "plot_variant_accuracy", "Protocol variants"),
    params:
        title=figure_title("Test accuracy against B under each protocol variant (Figure 4's runs)"),
        dpi=config["plot"]["dpi"],
    log:
        f"logs/plot_variant_accuracy/{DATASET}.log",
    conda:
        CONDA_ENV
    localrule: True
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/plot_variant_accuracy.py"


VARIANT_TARGETS = (
    [
        f"{VARIANTS_DIR}/verdicts.parquet",
        f"{VARIANTS_DIR}/overview.parquet",
        f"{VARIANTS_DIR}/accuracy.parquet",
        f"{VARIANTS_DIR}/summary.md",
        f"{VARIANTS_DIR}/summary.html",
        *figure_paths("variants_accuracy"),
    ]
    if VARIANTS
    else []
)
