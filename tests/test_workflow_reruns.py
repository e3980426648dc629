"""Exact incremental reruns: after a complete run of a tiny configuration, each edit plans
exactly the jobs it changes, as a dry run reports them (rule, outputs and Snakemake's reason).

The workflow runs from a copy of the repository (Snakefile, workflow/, src/, config/, envs/,
profiles/) so that one test can edit a package module without touching the repository: the
copied Snakefile puts its own src/ first on sys.path and PYTHONPATH, and declares the copy's
modules as inputs.

What counts as "downstream of an edit" is read from Snakemake's reasons, not listed here, so
the checks hold whatever aggregation, fit, figure and summary rules consume the runs: a job is
downstream when it is planned only because a planned job updates one of its inputs (and, for a
collection, because its set of inputs changed).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from test_dependencies import NO_CODE_INPUTS, modulefinder_names, rule_scripts
from workflow_helpers import DEFAULT_CONFIG, REPO, Job, dry_run, snakemake, write_config

TIMEOUT_S = 300
SCRIPTS_DIR = REPO / "workflow" / "scripts"
RUN = dict(n_train=40, learning_rate=0.5, momentum=0.9, steps=20, l2=0.0)
# Figures 3 and 4 share their learning rate, so editing Figure 4's must leave Figure 3's runs.
MLP = {
    "hidden_units": 16,
    "eval_points": 3,
    "figure_3": {**RUN, "batch_sizes": [5, 40], "seeds": [0]},
    "figure_4": {**RUN, "batch_sizes": [5, 10, 40], "seeds": [0]},
    "figure_8": {**RUN, "l2": 0.1, "batch_sizes": [5, 40], "seeds": [0]},
    "figure_9": {"n_train": 40, "batch_size": 5, "n_batches": 50, "seed": 0},
}
# Rules that a change to the MLP runs must never replan: upstream of them or unrelated.
NOT_DOWNSTREAM_OF_RUNS = {
    "download_mnist", "prepare_dataset", "draw_binary_task", "draw_training_subset",
    "fit_logistic_regression", "plot_figures_1_2", "compute_gradient_noise", "plot_figure_9",
}
DOWNSTREAM = {"Input files updated by another job", "Set of input files has changed since last execution"}

# Swept values of a tiny scaling sweep, by the key its curves vary (two curves each).
TINY_CURVES = {"learning_rate": [0.5, 1.0], "n_train": [30, 40], "momentum": [0.5, 0.9]}


def tiny_scaling(scaling: dict) -> dict:
    """The default ``scaling:`` section shrunk to two curves of two batch sizes and one seed per
    sweep, on 30-40 images and about 20 updates, so that the whole workflow takes seconds."""
    out = dict(scaling)
    if "bootstrap_replicates" in out:
        out["bootstrap_replicates"] = 20
    for name, sweep in scaling.items():
        if not (isinstance(sweep, dict) and "curves" in sweep):
            continue
        sweep = dict(sweep)
        sweep.update({k: v for k, v in dict(n_train=40, steps=20, steps_at_unit_learning_rate=20, seeds=[0]).items()
                      if k in sweep})
        curves = []
        for i, curve in enumerate(sweep["curves"][:2]):
            (swept,) = [k for k in curve if k != "batch_sizes"]
            value = TINY_CURVES[swept][i] if swept in TINY_CURVES else curve[swept]
            curves.append({swept: value, "batch_sizes": [5, 20]})
        sweep["curves"] = curves
        out[name] = sweep
    return out


def tiny_config() -> dict:
    default = yaml.safe_load(DEFAULT_CONFIG.read_text())
    config = {
        "logistic": {"lambda_grid": {"min": 1.0e-8, "max": 1.0e3, "per_decade": 1}},
        "mlp": MLP,
        "plot": {"formats": ["png"], "dpi": 50},
    }
    if "scaling" in default:
        config["scaling"] = tiny_scaling(default["scaling"])
    return config


TINY = tiny_config()


def with_figure_4(**changes) -> dict:
    return {**TINY, "mlp": {**MLP, "figure_4": {**MLP["figure_4"], **changes}}}


def run_file(batch_size: int, learning_rate: float = 0.5, seed: int = 0) -> str:
    return f"results/runs/mnist5k/paper/N40/eps{learning_rate:g}_m0.9_B{batch_size}_l20_T20_s{seed}.parquet"


def weights_file(batch_size: int, learning_rate: float = 0.5, seed: int = 0) -> str:
    return run_file(batch_size, learning_rate, seed).replace("results/runs/", "results/weights/")


#: Rules with one job per training run: a new run plans one job of each, for the run's own sake.
PER_RUN = ("train_mlp", "compute_mlp_evidence")


def assert_new_evidence(jobs, runs) -> None:
    """Exactly the new runs get an evidence job (Figure 4 runs are in the evidence stage)."""
    evidence = sorted(job.outputs[0] for job in jobs if job.rule == "compute_mlp_evidence")
    assert evidence == sorted(r.replace("results/runs/", "results/evidence/runs/") for r in runs)


def planned(workdir: Path, snakefile: Path, *args: str) -> list[Job]:
    """The jobs a dry run of the copy plans (rule ``all`` left out)."""
    jobs = dry_run(workdir, "--snakefile", str(snakefile), *args, timeout=TIMEOUT_S)
    return [job for job in jobs if job.rule != "all"]


def counts(jobs: list[Job]) -> dict[str, int]:
    out: dict[str, int] = {}
    for job in jobs:
        out[job.rule] = out.get(job.rule, 0) + 1
    return out


def assert_rest_is_downstream(jobs: list[Job]) -> None:
    """Every job is planned only because a planned job updates its inputs."""
    for job in jobs:
        assert "Input files updated by another job" in job.reasons and set(job.reasons) <= DOWNSTREAM, (
            f"{job.rule} {job.outputs} planned for its own sake: {job.reasons}"
        )
        assert job.rule not in NOT_DOWNSTREAM_OF_RUNS, f"{job.rule} replanned: {job.reasons}"


@pytest.fixture(scope="module")
def copy(tmp_path_factory):
    """(workdir, Snakefile of a copy of the repository) after a complete run of TINY."""
    root = tmp_path_factory.mktemp("reruns")
    repo = root / "repo"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("workflow", "src", "config", "profiles", "envs"):
        shutil.copytree(REPO / name, repo / name, ignore=ignore)
    shutil.copy2(REPO / "Snakefile", repo / "Snakefile")
    workdir = root / "work"
    write_config(workdir, TINY)
    snakemake(workdir, "--snakefile", str(repo / "Snakefile"), "--cores", "2", timeout=TIMEOUT_S)
    yield workdir, repo / "Snakefile"


@pytest.fixture
def edit(copy):
    """Like ``copy``; the configuration is put back to TINY afterwards."""
    yield copy
    write_config(copy[0], TINY)


@pytest.mark.slow
def test_complete_run_plans_nothing(copy):
    workdir, snakefile = copy
    assert (workdir / "results/figures/mnist5k/figure_4.png").is_file()
    assert planned(workdir, snakefile) == []


@pytest.mark.slow
def test_new_batch_size_plans_its_runs_and_what_depends_on_them(edit):
    workdir, snakefile = edit
    write_config(workdir, with_figure_4(batch_sizes=[5, 10, 20, 40]))

    jobs = planned(workdir, snakefile)

    runs = [job for job in jobs if job.rule == "train_mlp"]
    assert [job.outputs for job in runs] == [[run_file(20), weights_file(20)]]  # one seed
    assert set(runs[0].reasons) == {"Missing output files"}
    assert_new_evidence(jobs, [run_file(20)])
    rest = [job for job in jobs if job.rule not in PER_RUN]
    assert_rest_is_downstream(rest)
    collect = [job for job in rest if job.rule == "collect_sgd_runs"]
    assert len(collect) == 1 and all("figure_4_" in path for path in collect[0].outputs)
    assert counts(rest)["plot_figure_4"] == 1
    assert "plot_learning_curves" not in counts(rest)  # Figures 3 and 8 do not use the new run
    if (workdir / "results/summary/mnist5k/summary.md").exists():  # the claims report reads Figure 4's table
        assert counts(rest)["summarise_claims"] == 1


@pytest.mark.slow
def test_new_learning_rate_plans_exactly_the_runs_that_use_it(edit):
    workdir, snakefile = edit
    write_config(workdir, with_figure_4(learning_rate=0.4))

    jobs = planned(workdir, snakefile)

    runs = sorted(
        path for job in jobs if job.rule == "train_mlp" for path in job.outputs if path.startswith("results/runs/")
    )
    assert runs == sorted(run_file(b, learning_rate=0.4) for b in (5, 10, 40))
    assert all(set(job.reasons) == {"Missing output files"} for job in jobs if job.rule == "train_mlp")
    assert_new_evidence(jobs, runs)
    rest = [job for job in jobs if job.rule not in PER_RUN]
    assert_rest_is_downstream(rest)
    # Figure 3 keeps its runs at the old learning rate, so its collection is not replanned.
    assert [job.outputs[0] for job in rest if job.rule == "collect_sgd_runs"] == [
        "results/sgd/mnist5k/figure_4_runs.parquet"
    ]


@pytest.mark.slow
def test_unrelated_key_plans_no_training(edit):
    workdir, snakefile = edit
    write_config(workdir, {**TINY, "plot": {"formats": ["png"], "dpi": 60}})

    jobs = planned(workdir, snakefile)

    assert jobs, "a figure setting must replan the figures"
    plots = [job for job in jobs if set(job.reasons) == {"Params have changed since last execution"}]
    assert plots and all(job.rule.startswith("plot_") for job in plots), [(j.rule, j.reasons) for j in jobs]
    # Anything else only because it reads a figure (e.g. a report); never training or tables.
    rest = [job for job in jobs if job not in plots]
    assert_rest_is_downstream(rest)
    assert not {job.rule for job in rest} & {"train_mlp", "collect_sgd_runs"}


def module_name(path: str) -> str:
    """The dotted name of a package module from its path (.../src/bayes_sgd/training/sgd.py:
    bayes_sgd.training.sgd; a subpackage's __init__.py: the subpackage)."""
    parts = Path(path).with_suffix("").parts
    parts = parts[parts.index("bayes_sgd"):]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def rules_importing(module: str) -> set[str]:
    """The rules whose script imports bayes_sgd.<module>, directly or not (modulefinder)."""
    return {
        rule for rule, (script, _) in rule_scripts().items()
        if rule not in NO_CODE_INPUTS and f"bayes_sgd.{module}" in modulefinder_names(SCRIPTS_DIR / f"{script}.py")
    }


@pytest.mark.slow
def test_every_job_declares_exactly_the_modules_its_script_imports(copy):
    workdir, snakefile = copy
    out = snakemake(workdir, "--snakefile", str(snakefile), "--detailed-summary", timeout=TIMEOUT_S).stdout
    lines = [line.split("\t") for line in out.splitlines() if line.startswith("results/")]
    scripts = rule_scripts()
    checked = set()
    for output, _date, rule, _log, inputs, *_ in lines:
        declared = sorted(
            module_name(p) for p in inputs.split(",") if "/bayes_sgd/" in p and p.endswith(".py")  # not the report templates
        )
        assert declared == modulefinder_names(SCRIPTS_DIR / f"{scripts[rule][0]}.py"), (rule, output)
        checked.add(rule)
    assert {"train_mlp", "fit_logistic_regression", "plot_figure_4", "summarise_claims"} <= checked


@pytest.mark.slow
@pytest.mark.parametrize("module", ["training.sgd", "data.datasets"])
def test_editing_a_module_plans_exactly_the_jobs_that_import_it(edit, module):
    """``training.sgd`` is the trainer; ``data.datasets`` is imported by the trainer's script only
    through other modules (the training inputs)."""
    workdir, snakefile = edit
    source = snakefile.parent / "src" / "bayes_sgd" / (module.replace(".", "/") + ".py")
    original, stat = source.read_text(), source.stat()
    every = counts(planned(workdir, snakefile, "--forceall"))
    try:
        source.write_text(original + "\n# an edit\n")
        jobs = planned(workdir, snakefile)
    finally:
        source.write_text(original)
        os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    importing = rules_importing(module)
    assert "train_mlp" in importing
    direct = [job for job in jobs if "Updated input files" in job.reasons]
    assert all(job.reasons["Updated input files"].endswith(source.relative_to(snakefile.parent).as_posix()) for job in direct)
    # Every job of every rule that imports the module is planned (Snakemake names the edited file
    # as the reason unless an upstream job already forces it) ...
    planned_counts = counts(jobs)
    assert {rule: planned_counts.get(rule) for rule in importing if rule in every} == {
        rule: every[rule] for rule in importing if rule in every
    }
    assert direct and {job.rule for job in direct} <= importing
    # ... and every other job only because a planned job updates its inputs.
    for job in jobs:
        if job.rule not in importing:
            assert "Input files updated by another job" in job.reasons and set(job.reasons) <= DOWNSTREAM, job
    # Put back (content and mtime), the copy is up to date again.
    assert planned(workdir, snakefile) == []
