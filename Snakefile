# bayes-sgd: a reproduction of Smith & Le (ICLR 2018), "A Bayesian Perspective on
# Generalization and Stochastic Gradient Descent". This file only wires the workflow together:
# configuration, validation, the rule files of each stage and the target rule `all`.

import os
import sys

from snakemake.utils import min_version

min_version("9.19")

# The package under src/ holds all the logic; make it importable here and in every job
# (local, conda or cluster), whether or not it was pip-installed.
sys.path.insert(0, os.path.join(workflow.basedir, "src"))
os.environ.update(
    PYTHONPATH=os.pathsep.join(
        filter(None, [os.path.join(workflow.basedir, "src"), os.environ.get("PYTHONPATH")])
    )
)

# The default configuration, read first by the project's own loader so that a YAML error in it
# names the file, line and column (Snakemake's loader says only that it is not valid YAML). A
# file given with --configfile is read by Snakemake before this file runs: check it with
# `bayes-sgd-check-config FILE` (README, Troubleshooting).
DEFAULT_CONFIGFILE = "config/config.yaml"
if os.path.exists(DEFAULT_CONFIGFILE):
    from snakemake.exceptions import WorkflowError

    from bayes_sgd.config import ConfigError, load_config_file

    try:
        load_config_file(DEFAULT_CONFIGFILE)
    except ConfigError as err:
        raise WorkflowError(f"Invalid configuration file: {err}") from None


configfile: DEFAULT_CONFIGFILE


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/logistic.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/figures_sgd.smk"
include: "workflow/rules/scaling.smk"
include: "workflow/rules/evidence.smk"
include: "workflow/rules/variants.smk"
include: "workflow/rules/diagnosis.smk"
include: "workflow/rules/report.smk"


# The stages the default target builds (config key targets; all of them by default).
STAGE_TARGETS = {
    "data": DATA_TARGETS,
    "logistic": LOGISTIC_TARGETS,
    "sgd": SGD_TARGETS,
    "scaling": SCALING_TARGETS,
    "evidence": EVIDENCE_TARGETS,
    "variants": VARIANT_TARGETS,
    "diagnosis": DIAGNOSIS_TARGETS,
}


rule all:
    input:
        [STAGE_TARGETS[stage] for stage in config["targets"]],
        SUMMARY_TARGETS,
    default_target: True
