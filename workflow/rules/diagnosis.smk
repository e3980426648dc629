# The diagnosis [our extension, a sensitivity analysis]: every hypothesis of bayes_sgd.diagnosis
# (a candidate explanation of Figures 3, 4 and 8, the variant it is tested under and its predicted
# scaling rules) judged on that variant's sweep fits with the scaling-rule claims' own function and
# thresholds, in results/diagnosis/<dataset>/, and the figure of B_opt against eps and 1/(1-m), one
# line per variant. The variants' runs and sweep tables are the comparison's (variants.smk).

if not rules.has("analyse_variant_sweep"):

    include: "variants.smk"


rule diagnose:
    input:
        unpack(lambda wildcards: {f"fits_{k}": path for k, path in diagnosis_tables("fits").items()}),
        unpack(lambda wildcards: {f"optima_{k}": path for k, path in diagnosis_tables("optima").items()}),
        # each tested variant's claims (whether Figures 3, 4 and 8 hold under it)
        variant_claims=lambda wildcards: [f"{VARIANTS_DIR}/{name}/claims.parquet" for name in diagnosis_variants()],
        code=code("diagnose"),
        templates=[os.path.relpath(path) for path in sorted((SRC / "claims" / "templates").glob("diagnosis*.j2"))],
    output:
        hypotheses=f"{DIAGNOSIS_DIR}/hypotheses.parquet",
        overview=f"{DIAGNOSIS_DIR}/overview.parquet",
        points=f"{DIAGNOSIS_DIR}/points.parquet",
        summary=f"{DIAGNOSIS_DIR}/summary.md",
        html=report(f"{DIAGNOSIS_DIR}/summary.html", caption="../report/diagnose.rst", category="Diagnosis"),
    params:
        dataset=DATASET,
        variants={name: v.record() for name, v in VARIANTS.items()},
        fits=lambda wildcards: list(diagnosis_tables("fits")),
        tested=lambda wildcards: diagnosis_variants(),
        thresholds=config["scaling"]["claims"],
        seeds={sweep: len(config["scaling"][f"{sweep}_sweep"]["seeds"]) for sweep in ("learning_rate", "momentum")},
    log:
        f"logs/diagnose/{DATASET}.log",
    conda:
        CONDA_ENV
    localrule: True
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/diagnose.py"


rule plot_diagnosis:
    input:
        hypotheses=f"{DIAGNOSIS_DIR}/hypotheses.parquet",
        points=f"{DIAGNOSIS_DIR}/points.parquet",
        code=code("plot_diagnosis"),
    output:
        figure=report_figure(figure_paths("diagnosis_scaling"), "plot_diagnosis", "Diagnosis"),
    params:
        title=figure_title("B_opt against eps and 1/(1-m) under each variant, with the slopes each hypothesis predicts"),
        dpi=config["plot"]["dpi"],
    log:
        f"logs/plot_diagnosis/{DATASET}.log",
    conda:
        CONDA_ENV
    localrule: True
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/plot_diagnosis.py"


DIAGNOSIS_TARGETS = [
    f"{DIAGNOSIS_DIR}/hypotheses.parquet",
    f"{DIAGNOSIS_DIR}/overview.parquet",
    f"{DIAGNOSIS_DIR}/summary.md",
    f"{DIAGNOSIS_DIR}/summary.html",
    *figure_paths("diagnosis_scaling"),
]
