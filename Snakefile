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


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/logistic.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/figures_sgd.smk"
include: "workflow/rules/scaling.smk"
include: "workflow/rules/evidence.smk"
include: "workflow/rules/variants.smk"
include: "workflow/rules/report.smk"


# The stages the default target builds (config key targets; all of them by default).
STAGE_TARGETS = {
    "data": DATA_TARGETS,
    "logistic": LOGISTIC_TARGETS,
    "sgd": SGD_TARGETS,
    "scaling": SCALING_TARGETS,
    "evidence": EVIDENCE_TARGETS,
    "variants": VARIANT_TARGETS,
}


rule all:
    input:
        [STAGE_TARGETS[stage] for stage in config["targets"]],
        SUMMARY_TARGETS,
    default_target: True
