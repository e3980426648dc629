# The claims report (bayes_sgd.claims): each claim's verdict from the tables of the stages the
# configuration builds, with the sweeps' optima and, where it builds one, the protocol-variant
# comparison. It names those tables by path only (the stages' rule files build them).

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
        # and its check of KFAC against the exact evidence, for the report's section
        evidence_check=[] if "evidence" in STAGES_NOT_BUILT else f"results/evidence/{DATASET}/estimator_check.parquet",
        # and the optima of every sweep, for the report's table
        optima=[] if "scaling" in STAGES_NOT_BUILT else expand(f"{SCALING_DIR}/{{sweep}}/optima.parquet", sweep=SWEEPS),
        # the protocol-variant comparison's tables, for its section, if the configuration builds one
        variants=lambda wildcards: (
            [f"{VARIANTS_DIR}/overview.parquet", f"{VARIANTS_DIR}/verdicts.parquet"]
            if VARIANTS and "variants" in config["targets"]
            else []
        ),
        # and the diagnosis' tables, for its section, if the configuration builds it
        diagnosis=lambda wildcards: (
            [f"{DIAGNOSIS_DIR}/hypotheses.parquet", f"{DIAGNOSIS_DIR}/overview.parquet"]
            if "diagnosis" in config["targets"]
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


# The claims report, of whichever claim stages the targets hold (none: no report).
SUMMARY_TARGETS = (
    [f"{SUMMARY_DIR}/summary.md", f"{SUMMARY_DIR}/summary.html", f"{SUMMARY_DIR}/claims.parquet"]
    if len(STAGES_NOT_BUILT) < len(CLAIM_STAGES)
    else []
)
