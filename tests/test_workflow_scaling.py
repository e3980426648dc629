"""The scaling sweeps (Figures 5-7), their analysis, the g figure, the claims report and
``snakemake --report``, end to end through python -m snakemake on a tiny configuration; plus
the default and paper configurations of the sweeps and the cost estimate. (Bad ``scaling:``
configurations are tested in-process in test_config.py.)"""

from __future__ import annotations

import copy
import dataclasses
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from bayes_sgd import claims
from bayes_sgd.claims.registry import VERDICTS
from bayes_sgd.config import sweep_problems, train_pool_size, validate_config
from bayes_sgd.resources import CostModel, estimate_cost
from bayes_sgd.sweeps import Run, figure_runs, sweep_runs
from bayes_sgd.tables import read_provenance, read_table
from workflow_helpers import TINY_MLP, TINY_RUN, REPO, planned_jobs, run_workflow_once, snakemake, write_config

DEFAULT = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
PAPER = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
SCHEMA = yaml.safe_load((REPO / "src" / "bayes_sgd" / "config.schema.yaml").read_text())

RUN = TINY_RUN
TINY = {
    "logistic": {"lambda_grid": {"min": 1.0e-8, "max": 1.0e3, "per_decade": 1}},
    "mlp": TINY_MLP,
    "scaling": {
        "untrained_accuracy": 0.15,
        "bootstrap_replicates": 200,
        "learning_rate_sweep": {
            "n_train": 40, "momentum": 0.9, "l2": 0.0, "steps_at_unit_learning_rate": 15, "seeds": [0, 1],
            "curves": [
                {"learning_rate": 0.25, "batch_sizes": [2, 5, 10]},
                {"learning_rate": 0.5, "batch_sizes": [1, 5, 40]},  # = Figure 4's runs (30 updates)
                {"learning_rate": 1.0, "batch_sizes": [5, 10, 40]},
            ],
        },
        "n_train_sweep": {
            "learning_rate": 0.5, "momentum": 0.9, "l2": 0.0, "steps": 30, "seeds": [0, 1],
            "curves": [
                {"n_train": 20, "batch_sizes": [2, 5, 20]},
                {"n_train": 40, "batch_sizes": [1, 5, 40]},  # = Figure 4's runs
            ],
        },
        "momentum_sweep": {
            "n_train": 40, "learning_rate": 0.5, "l2": 0.0, "steps": 30, "seeds": [0, 1],
            "curves": [
                {"momentum": 0.0, "batch_sizes": [2, 5, 10]},
                {"momentum": 0.9, "batch_sizes": [1, 5, 40]},  # = Figure 4's runs
            ],
        },
        "claims": {"small_batch_size": 5, "failure_batch_size": 1},
    },
    "plot": {"formats": ["png"], "dpi": 50},
}
SWEEPS = ("learning_rate", "n_train", "momentum")
SCALING = "results/scaling/mnist5k"
FIGURES = "results/figures/mnist5k"
SUMMARY = "results/summary/mnist5k"
# Figure 4: 6 runs (Figure 3's are among them), Figure 8: 2; the sweeps add 12 + 6 + 6, the rest
# of their curves are Figure 4's runs.
DISTINCT_RUNS = 32


def planned(workdir):
    """Jobs a dry run of rule all plans, without the target rule itself."""
    return {rule: n for rule, n in planned_jobs(workdir).items() if rule != "all"}


def run_file(n, eps, m, b, steps, seed):
    return f"results/runs/mnist5k/paper/N{n}/eps{eps:g}_m{m:g}_B{b}_l20_T{steps}_s{seed}.parquet"


def tiny_runs(sweep):
    """(path, eps, N, m, B, seed) of every run of a sweep of TINY, built here independently."""
    s = TINY["scaling"][f"{sweep}_sweep"]
    out = []
    for curve in s["curves"]:
        eps = curve.get("learning_rate", s.get("learning_rate"))
        n = curve.get("n_train", s.get("n_train"))
        m = curve.get("momentum", s.get("momentum"))
        steps = round(s["steps_at_unit_learning_rate"] / eps) if sweep == "learning_rate" else s["steps"]
        for b in curve["batch_sizes"]:
            for seed in s["seeds"]:
                out.append((run_file(n, eps, m, b, steps, seed), eps, n, m, b, seed, steps))
    return out


# ---- configuration ---------------------------------------------------------------------------


def test_claim_thresholds_are_the_schema_section_and_take_its_defaults():
    schema = SCHEMA["properties"]["scaling"]["properties"]["claims"]["properties"]
    assert [f.name for f in fields(claims.ClaimThresholds)] == list(schema)
    assert all(f.default is dataclasses.MISSING for f in fields(claims.ClaimThresholds))  # no copy in code
    defaults = claims.ClaimThresholds.defaults()
    for name, entry in schema.items():
        assert getattr(defaults, name) == entry["default"], name
        assert claims.ClaimThresholds.meanings()[name] == " ".join(entry["description"].split())


def test_schema_defaults_are_the_default_configuration():
    props = SCHEMA["properties"]["scaling"]["properties"]
    for key, value in DEFAULT["scaling"].items():
        if key == "claims":
            continue
        if isinstance(value, dict):
            for sub, v in value.items():
                assert props[key]["properties"][sub]["default"] == v, f"scaling.{key}.{sub}"
        else:
            assert props[key]["default"] == value, f"scaling.{key}"


def test_default_sweeps_share_runs_with_figure_4_and_each_other():
    s = DEFAULT["scaling"]
    lr, n, m = (set(sweep_runs(s, sweep)) for sweep in SWEEPS)
    figure_4 = set(figure_runs(DEFAULT["mlp"], ["figure_4"]))
    # steps = round(steps_at_unit_learning_rate / eps): the same SDE time for every curve
    for run in lr:
        assert run.steps == round(s["learning_rate_sweep"]["steps_at_unit_learning_rate"] / run.learning_rate)
    assert {r for r in n if r.n_train == 1000} <= lr  # the N = 1000 curve is the eps = 0.1 curve
    assert {r for r in m if r.momentum == 0.9} <= figure_4
    # every grid of the default configuration holds each batch size at most once, within [1, N]
    assert list(sweep_problems(s, train_pool_size(validate_config(copy.deepcopy(DEFAULT))), "mnist5k")) == []


def test_paper_configuration_follows_the_paper():
    s = PAPER["scaling"]
    lr = s["learning_rate_sweep"]
    eps = [c["learning_rate"] for c in lr["curves"]]
    assert lr["steps_at_unit_learning_rate"] == 10000 and max(eps) / min(eps) >= 100
    n = s["n_train_sweep"]
    assert (n["learning_rate"], n["momentum"], n["steps"]) == (1.0, 0.9, 10000)
    assert max(c["n_train"] for c in n["curves"]) == 50000 and len(n["seeds"]) == 5
    m = [c["momentum"] for c in s["momentum_sweep"]["curves"]]
    assert min(m) == 0.0 and max(m) >= 0.95
    assert list(sweep_problems(s, 60000, "mnist")) == []


# ---- the cost estimate -----------------------------------------------------------------------


def test_cost_estimate_counts_shared_runs_once():
    model = CostModel(per_step=1e-3, per_example=1e-5, per_image=1e-4, overhead=2.0)
    a = Run(n_train=1000, learning_rate=1.0, momentum=0.9, batch_size=100, l2=0.0, steps=1000, seed=0)
    b = Run(n_train=2000, learning_rate=1.0, momentum=0.9, batch_size=10, l2=0.0, steps=500, seed=1)
    table = estimate_cost({"first": [a, a], "second": [a, b]}, model, n_test=1000, eval_points=5)
    # evaluations: step 0, log-spaced 1..steps (5 points, unique) and the last step
    seconds_a = 2.0 + 1000 * (1e-3 + 1e-5 * 100) + 6 * 1e-4 * 2000
    seconds_b = 2.0 + 500 * (1e-3 + 1e-5 * 10) + 6 * 1e-4 * 3000
    assert list(table["new_runs"]) == [1, 1, 2]
    np.testing.assert_allclose(table["core_hours"], np.array([seconds_a, seconds_b, seconds_a + seconds_b]) / 3600)


def test_estimate_script_prints_the_paper_total():
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "estimate_paper_cost.py"), "--cores", "8"],
        capture_output=True, text=True, timeout=120, check=True,
    )
    assert "config/paper.yaml (dataset mnist" in proc.stdout
    total = [line for line in proc.stdout.splitlines() if line.startswith("total:")]
    assert len(total) == 1 and float(total[0].split()[1]) > 10  # tens of core-hours on full MNIST


# ---- end to end ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """The whole tiny workflow (rule all), run once for the tests below."""

    def check_plan(path):
        jobs = planned(path)
        assert jobs["train_mlp"] == DISTINCT_RUNS  # runs shared by figures and sweeps are one job
        assert jobs["analyse_scaling_sweep"] == 3 and jobs["plot_scaling_figure"] == 3

    return run_workflow_once(tmp_path_factory, "scaling", TINY, timeout=900, before=check_plan)


def final_rows_read_here(workdir, sweep):
    """The last row of every run table of a sweep, read directly from the run files."""
    rows = []
    for path, eps, n, m, b, seed, steps in tiny_runs(sweep):
        last = read_table(workdir / path).iloc[-1]
        assert last["step"] == (steps if last["status"] == "ok" else last["diverged_step"])
        accuracy = 0.1 if last["status"] == "diverged" else float(last["test_accuracy"])
        rows.append(dict(eps=eps, n=n, m=m, b=b, seed=seed, accuracy=accuracy, steps=steps))
    return pd.DataFrame(rows)


@pytest.mark.slow
@pytest.mark.parametrize("sweep", SWEEPS)
def test_noise_scale_of_every_run(workdir, sweep):
    final = read_table(workdir / f"{SCALING}/{sweep}/final.parquet")
    mine = final_rows_read_here(workdir, sweep)
    assert len(final) == len(mine) == len(tiny_runs(sweep))
    merged = mine.merge(
        final, left_on=["eps", "n", "m", "b", "seed"], right_on=["learning_rate", "n_train", "momentum", "batch_size", "seed"]
    )
    assert len(merged) == len(mine)
    expected = merged["eps"] / (1 - merged["m"]) * (merged["n"] / merged["b"] - 1)
    np.testing.assert_allclose(merged["noise_scale"], expected, rtol=1e-12)
    assert (merged.loc[merged["b"] == merged["n"], "noise_scale"] == 0).all()


@pytest.mark.slow
@pytest.mark.parametrize("sweep", SWEEPS)
def test_optimum_table_is_the_argmax_of_the_seed_mean(workdir, sweep):
    optima = read_table(workdir / f"{SCALING}/{sweep}/optima.parquet")
    mine = final_rows_read_here(workdir, sweep)
    swept = {"learning_rate": "eps", "n_train": "n", "momentum": "m"}[sweep]
    assert sorted(optima[sweep]) == sorted(mine[swept].unique())
    untrained = TINY["scaling"]["untrained_accuracy"]
    for value, runs in mine.groupby(swept):
        row = optima.loc[np.isclose(optima[sweep], value)].iloc[0]
        mean = runs.groupby("b")["accuracy"].mean()
        assert row["best_accuracy"] == pytest.approx(mean.max(), abs=1e-12)
        assert row["n_seeds"] == 2 and row["n_batch_sizes"] == len(mean)
        if mean.max() <= untrained:  # never trained: no optimum, not fitted
            assert not row["trained"] and np.isnan(row["b_opt"]) and row["excluded_because"] == "never trained"
            continue
        best = mean[mean == mean.max()].index.min()  # ties go to the smaller batch size
        assert row["trained"] and row["b_best"] == best
        assert row["b_best_low"] <= row["b_best"] <= row["b_best_high"]
        assert mean.index.min() <= row["b_opt"] <= mean.index.max()
        assert row["b_opt_low"] <= row["b_opt"] * (1 + 1e-9) and row["b_opt"] <= row["b_opt_high"] * (1 + 1e-9)
        edge = best in (mean.index.min(), mean.index.max())
        assert row["at_grid_edge"] == edge and (row["b_opt"] == best if edge else True)
        eps, n, m = runs[["eps", "n", "m"]].iloc[0]
        assert row["optimum_noise_scale"] == pytest.approx(eps / (1 - m) * (n / row["b_opt"] - 1), abs=1e-9)
        assert row["used"] == (not edge)
    provenance = read_provenance(workdir / f"{SCALING}/{sweep}/optima.parquet")["provenance"]
    assert provenance["analysis"]["bootstrap_replicates"] == 200 and provenance["analysis"]["diverged_accuracy"] == 0.1
    assert len(provenance["runs"]) == len(tiny_runs(sweep))


@pytest.mark.slow
@pytest.mark.parametrize("sweep", SWEEPS)
def test_fits_use_exactly_the_interior_optima(workdir, sweep):
    optima = read_table(workdir / f"{SCALING}/{sweep}/optima.parquet")
    all_fits = read_table(workdir / f"{SCALING}/{sweep}/fits.parquet")
    # one region for every sweep; the N rule also has its claim's region N >= n_train_min
    assert sorted(all_fits["min_x"].fillna(0).unique()) == ([0, 20000] if sweep == "n_train" else [0])
    fits = all_fits.loc[all_fits["min_x"].isna()]
    assert sorted(fits["method"]) == ["bootstrap", "t"]
    used = optima.loc[optima["used"]]
    for _, fit in fits.iterrows():
        if used["x"].nunique() >= 2:
            assert fit["fitted"] and fit["n_points"] == len(used)
            lx, ly = np.log(used["x"]), np.log(used["b_opt"])
            assert fit["slope"] == pytest.approx(np.polyfit(lx, ly, 1)[0], rel=1e-9)
            assert fit["intercept_slope1"] == pytest.approx(np.mean(ly - lx), rel=1e-9)
        else:
            assert not fit["fitted"] and np.isnan(fit["slope"]) and "usable optima" in fit["reason"]


@pytest.mark.slow
def test_figures_and_claims_report(workdir):
    for name in ("figure_5", "figure_6", "figure_7", "figure_noise_scale"):
        assert (workdir / f"{FIGURES}/{name}.png").stat().st_size > 5000, name
    summary = (workdir / f"{SUMMARY}/summary.md").read_text()
    table = read_table(workdir / f"{SUMMARY}/claims.parquet")
    # every registered claim in the registry's order: the paper's, then the evidence claims, whose
    # verdicts are those judged by rule assess_evidence_claims (copied, never judged again)
    evidence = read_table(workdir / "results/evidence/mnist5k/claims.parquet")
    assert list(table["claim_id"]) == list(claims.CLAIMS)
    assert list(evidence["claim_id"]) == ["mlp_evidence_ranks_runs", "mlp_evidence_peaks_at_accuracy_optimum",
                                         "mlp_evidence_ranks_well_trained_runs", "mlp_evidence_beats_other_measures"]
    copied = table.set_index("claim_id").loc[list(evidence["claim_id"]), ["measured", "verdict"]]
    assert copied.to_dict("records") == evidence[["measured", "verdict"]].to_dict("records")
    statements = {**{k: c.statement for k, c in claims.CLAIMS.items()}, **dict(zip(evidence["claim_id"], evidence["statement"]))}
    assert set(table["verdict"]) <= set(claims.VERDICTS)
    for _, row in table.iterrows():  # one line per claim, with its statement and exactly one verdict
        lines = [line for line in summary.splitlines() if f"`{row['claim_id']}`" in line]
        assert len(lines) == 1
        cells = [c.strip() for c in lines[0].strip("|").split(" | ")]
        assert cells[-1].strip("*") == row["verdict"]
        assert statements[row["claim_id"]] in lines[0]
    # the N rule is claimed above N = 20,000: not reachable on mnist5k
    n_rule = table.set_index("claim_id").loc["optimum_proportional_to_training_set_size"]
    assert n_rule["verdict"] == claims.NOT_MEASURED
    assert "## Optimum batch size of every curve" in summary and "## Scaling-rule fits" in summary
    optima_lines = [line for line in summary.split("## Optimum batch size")[1].splitlines() if line.startswith("| ")]
    curves = [" ".join(line.strip("|").split("|")[1].split()) for line in optima_lines[1:]]
    assert sum(c.startswith("eps = ") for c in curves) == 3 and sum(c.startswith("N = ") for c in curves) == 2
    assert sum(c.startswith("m = ") for c in curves) == 2
    html = (workdir / f"{SUMMARY}/summary.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and html.count("<code>") >= len(claims.CLAIMS)
    # the report names the file behind every claim: the tables the paper's claims read, and the
    # table of rule assess_evidence_claims for the evidence claims (judged there from table 'evidence')
    for name in [*(t for t in claims.TABLES if t != "evidence"), "evidence_claims"]:
        assert f"`{name}`" in summary


@pytest.mark.slow
def test_readme_results_table_is_generated_from_the_claims_table(workdir, tmp_path):
    claims_path = workdir / f"{SUMMARY}/claims.parquet"
    table = read_table(claims_path)
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n<!-- results table: mnist5k -->\n| old | table |\n<!-- end of results table: mnist5k -->\n\nrest\n")
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "readme_results.py"), str(claims_path), "--readme", str(readme)],
        capture_output=True, text=True, timeout=120, check=True,
    )
    lines = proc.stdout.split("\n\n")[0].splitlines()
    assert "Measured on mnist5k" in lines[0] and len(lines) == 2 + len(table)
    counts = table["verdict"].value_counts()
    assert proc.stdout.endswith(
        "\n\nVerdicts: " + ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS) + ".\n"
    )
    for line, (_, row) in zip(lines[2:], table.iterrows()):
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        assert cells[0] == row["figure"].removeprefix("Fig. ") and cells[-1] == row["verdict"]
        assert cells[2] == row["measured"].replace("|", "\\|")
    text = readme.read_text()
    assert proc.stdout in text and "| old | table |" not in text and text.endswith("rest\n")


@pytest.mark.slow
def test_report_builds_offline_with_every_figure_captioned(workdir):
    snakemake(workdir, "--report", "report.html")
    report = (workdir / "report.html").read_text()
    for k in range(1, 10):
        assert f"figure_{k}.png" in report, k
    assert "figure_noise_scale.png" in report and "summary.html" in report
    for caption in ("Figure 1</strong>", "Figure 3</strong>", "Figure 8</strong>", "Figure 5</strong>",
                    "Figure 7</strong>", "Test accuracy against the noise scale</strong>", "Claims report</strong>"):
        assert caption in report, caption


@pytest.mark.slow
def test_analysis_settings_rerun_the_analysis_not_the_training(workdir):
    assert planned(workdir) == {}
    write_config(workdir, {**TINY, "scaling": {**TINY["scaling"], "bootstrap_replicates": 300}})
    jobs = planned(workdir)
    assert jobs == {
        "analyse_scaling_sweep": 3, "plot_scaling_figure": 3, "plot_accuracy_vs_noise_scale": 1, "summarise_claims": 1,
        "plot_evidence_figure": 1,  # B_simple against the optimum batch sizes
    }
    write_config(workdir, {**TINY, "scaling": {**TINY["scaling"], "claims": {"small_batch_size": 5, "failure_batch_size": 2}}})
    assert planned(workdir) == {"summarise_claims": 1}
    write_config(workdir, TINY)


def write_planted_run(workdir, eps, b, seed, steps, accuracy, status="ok"):
    """A run table in train_mlp's format whose final test accuracy is ``accuracy``."""
    from bayes_sgd.tables import write_table

    last = steps if status == "ok" else steps // 2
    final = accuracy if status == "ok" else np.nan
    table = pd.DataFrame(
        dict(
            step=[0, last], epoch=[0.0, last * b / 40], train_accuracy=[0.1, final], test_accuracy=[0.1, final],
            train_cross_entropy=[2.3, 0.3], test_cross_entropy=[2.3, 0.4], status=status,
            diverged_step=-1 if status == "ok" else last, seconds=[0.0, 1.0], dataset="mnist5k", n_train=40,
            learning_rate=eps, momentum=0.9, batch_size=b, l2=0.0, steps=steps, seed=seed,
        )
    )
    write_table(table, workdir / run_file(40, eps, 0.9, b, steps, seed), {"planted": True, "status": status})


@pytest.mark.slow
def test_analysis_recovers_a_planted_proportional_optimum(tmp_path):
    """Run tables planted with B_opt = 20 eps exactly (accuracy a parabola in log B): the workflow's
    analysis finds each optimum and a slope of 1; a curve at chance gets no optimum; a diverged
    run counts as chance, not as its last evaluation."""
    grid = [2, 5, 10, 20, 40]
    curves = [{"learning_rate": eps, "batch_sizes": grid} for eps in (0.25, 0.5, 1.0, 2.0)]
    sweep = {"n_train": 40, "momentum": 0.9, "l2": 0.0, "steps_at_unit_learning_rate": 15, "seeds": [0, 1], "curves": curves}
    write_config(tmp_path, {"scaling": {"learning_rate_sweep": sweep}, "plot": {"formats": ["png"], "dpi": 50}})
    snakemake(tmp_path, "--cores", "1", "results/data/mnist5k.parquet", "results/subsets/mnist5k/N40_seed0.parquet")
    for eps in (0.25, 0.5, 1.0, 2.0):
        steps = round(15 / eps)
        for b in grid:
            for seed in (0, 1):
                accuracy = 0.9 - 0.02 * np.log(b / (20 * eps)) ** 2 + 0.002 * seed if eps < 2 else 0.1 + 0.001 * seed
                write_planted_run(tmp_path, eps, b, seed, steps, accuracy)
    # a diverged run whose last finite evaluation looked excellent: scored as chance
    write_planted_run(tmp_path, 0.5, 2, 1, 30, 0.99, status="diverged")
    targets = [f"{SCALING}/learning_rate/fits.parquet", f"{FIGURES}/figure_5.png"]
    assert planned_jobs(tmp_path, *targets) == {"analyse_scaling_sweep": 1, "plot_scaling_figure": 1}
    snakemake(tmp_path, "--cores", "1", *targets)

    optima = read_table(tmp_path / f"{SCALING}/learning_rate/optima.parquet").set_index("learning_rate")
    for eps in (0.25, 0.5, 1.0):
        assert optima.loc[eps, "b_best"] == 20 * eps and optima.loc[eps, "used"]
        assert optima.loc[eps, "b_opt"] == pytest.approx(20 * eps, rel=1e-9)
        assert optima.loc[eps, "optimum_noise_scale"] == pytest.approx(eps / 0.1 * (40 / (20 * eps) - 1), rel=1e-9)
    assert not optima.loc[2.0, "trained"] and optima.loc[2.0, "excluded_because"] == "never trained"
    curves_table = read_table(tmp_path / f"{SCALING}/learning_rate/curves.parquet")
    diverged = curves_table.loc[(curves_table["learning_rate"] == 0.5) & (curves_table["batch_size"] == 2)].iloc[0]
    assert diverged["n_diverged"] == 1
    assert diverged["mean_accuracy"] == pytest.approx((0.9 - 0.02 * np.log(2 / 10) ** 2 + 0.1) / 2)
    fits = read_table(tmp_path / f"{SCALING}/learning_rate/fits.parquet").set_index("method")
    assert fits["min_x"].isna().all()  # the learning-rate sweep has one fit region
    for method in ("t", "bootstrap"):
        assert fits.loc[method, "fitted"] and fits.loc[method, "n_points"] == 3
        assert fits.loc[method, "slope"] == pytest.approx(1.0, abs=1e-9)
        assert fits.loc[method, "intercept_slope1"] == pytest.approx(np.log(20.0), abs=1e-9)
    assert fits.loc["bootstrap", "slope_low"] == pytest.approx(1.0, abs=1e-9)
    assert (tmp_path / f"{FIGURES}/figure_5.png").stat().st_size > 5000
