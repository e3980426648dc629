"""The evidence stage end to end through python -m snakemake on a tiny configuration: one
evidence job per Figure 4 and sweep run, the aggregated table, the two claims and the three
figures; plus what a dry run of the default configuration plans."""

from __future__ import annotations

import numpy as np
import pytest

from bayes_sgd import mlp_evidence as me
from bayes_sgd.claims.registry import VERDICTS
from bayes_sgd.tables import read_provenance, read_table
from workflow_helpers import TINY_MLP, planned_jobs, run_workflow_once, snakemake, write_config

SWEEP = {"momentum": 0.9, "l2": 0.0, "seeds": [0, 1]}
TINY = {
    "mlp": TINY_MLP,
    "scaling": {
        "untrained_accuracy": 0.15,
        "bootstrap_replicates": 50,
        "learning_rate_sweep": {**SWEEP, "n_train": 40, "steps_at_unit_learning_rate": 15,
                                "curves": [{"learning_rate": 0.5, "batch_sizes": [1, 5, 40]}]},
        "n_train_sweep": {**SWEEP, "learning_rate": 0.5, "steps": 30,
                          "curves": [{"n_train": 20, "batch_sizes": [2, 5, 20]}, {"n_train": 40, "batch_sizes": [1, 5, 40]}]},
        "momentum_sweep": {"n_train": 40, "learning_rate": 0.5, "l2": 0.0, "steps": 30, "seeds": [0, 1],
                           "curves": [{"momentum": 0.9, "batch_sizes": [1, 5, 40]}]},
    },
    "evidence": {"exact_softmax_layer": {"runs": "figure_4", "seeds": [0]},
                 "claims": {"min_runs": 3, "min_batch_sizes": 2}},
    "plot": {"formats": ["png"], "dpi": 50},
}
EVIDENCE = "results/evidence/mnist5k"
FIGURES = [f"results/figures/mnist5k/{name}.png" for name in ("evidence_vs_batch_size", "evidence_vs_accuracy", "b_simple_vs_optimum")]
TARGETS = [f"{EVIDENCE}/evidence.parquet", f"{EVIDENCE}/claims.parquet", f"{EVIDENCE}/peaks.parquet",
           f"{EVIDENCE}/estimator_check.parquet", f"{EVIDENCE}/measures.parquet", *FIGURES]
# Figure 4 (3 B x 2 seeds, = the eps 0.5 and m 0.9 curves and N = 40 curve) + N = 20 (3 B x 2 seeds)
N_RUNS = 12


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return run_workflow_once(tmp_path_factory, "evidence", TINY, TARGETS)


def test_dry_run_plans_one_evidence_job_per_run(tmp_path):
    write_config(tmp_path, TINY)
    jobs = planned_jobs(tmp_path, *TARGETS)
    assert jobs["compute_mlp_evidence"] == N_RUNS
    assert jobs["train_mlp"] == N_RUNS
    assert jobs["collect_mlp_evidence"] == 1 and jobs["assess_evidence_claims"] == 1
    assert jobs["plot_evidence_figure"] == 3


def test_default_config_plans_evidence_for_every_figure_4_and_sweep_run(tmp_path):
    write_config(tmp_path)
    jobs = planned_jobs(tmp_path, f"{EVIDENCE}/evidence.parquet")
    assert jobs["compute_mlp_evidence"] == jobs["train_mlp"]
    assert jobs["compute_mlp_evidence"] > 100


@pytest.mark.slow
def test_evidence_tables_claims_and_figures(workdir):
    table = read_table(workdir / f"{EVIDENCE}/evidence.parquet")
    keys = ["n_train", "learning_rate", "momentum", "batch_size", "l2", "steps", "seed"]
    runs = table.drop_duplicates(keys)
    assert len(runs) == N_RUNS
    assert int(runs["figure_4"].sum()) == 6
    for col in ("method", "prior_precision", "prior_kind", "depth", "occam_factor", "log_evidence",
                "null_log_evidence", "log_evidence_ratio", "log_evidence_ratio_per_example", "sharpness",
                "ggn_trace", "b_simple", "status", "test_accuracy", "dataset"):
        assert col in table.columns, col
    ok = table[table["status"] == "ok"]
    assert np.allclose(ok["log_evidence"], ok["depth"] - ok["occam_factor"])
    assert np.allclose(table["null_log_evidence"], -table["n_train"] * np.log(10))
    # grid: 1e-4 ... 1e2, one per decade (7) + the maximum, per method
    per_run = ok.groupby(keys)["method"].value_counts().unstack()
    assert (per_run["kfac"] == 8).all() and (per_run["kfac_softmax_layer"] == 8).all()
    exact = ok[ok["method"] == "exact_softmax_layer"].drop_duplicates(keys)
    assert set(exact["seed"]) <= {0} and set(exact["n_train"]) == {40}
    trained = runs["figure_4"] & (runs["seed"] == 0) & (runs["status"] == "ok") & (runs["test_accuracy"] > 0.15)
    assert len(exact) == int(trained.sum()) >= 1
    # the exact whole-network evidence (default evidence.exact_network: Figure 4, seed 0), trained or not
    whole = ok[ok["method"] == "exact"].drop_duplicates(keys)
    picked = runs["figure_4"] & (runs["seed"] == 0) & (runs["status"] == "ok")
    assert len(whole) == int(picked.sum()) >= 1 and set(whole["seed"]) == {0}
    for method in ("exact", "kfac"):
        assert (ok.loc[ok["method"] == method, "non_map_term"] >= 0).all()
    assert ok.loc[ok["method"] == "kfac_softmax_layer", "non_map_term"].isna().all()
    check = read_table(workdir / f"{EVIDENCE}/estimator_check.parquet")
    with_exact = check[check["exact"].notna()]
    assert sorted(with_exact["batch_size"]) == sorted(whole["batch_size"])
    assert np.allclose(with_exact["kfac_minus_exact"], with_exact["kfac"] - with_exact["exact"])
    # method slq (the claims' estimate) on every run with finite weights, as KFAC
    slq = ok[ok["method"] == "slq"].drop_duplicates(keys)
    assert len(slq) == len(ok.drop_duplicates(keys)) >= 1 and (slq["slq_solver"].isin(["dense", "lanczos"])).all()
    assert (check["kfac_minus_slq"].notna().sum() == len(slq))
    assert (abs(with_exact["slq_minus_exact"].dropna()) <= 1e-3).all(), with_exact[["batch_size", "slq_minus_exact"]]
    one = workdir / "results/evidence/runs/mnist5k/paper/N40/eps0.5_m0.9_B5_l20_T30_s0.parquet"
    provenance = read_provenance(one)["provenance"]
    assert provenance["run"]["batch_size"] == 5 and "settings" in provenance and "status" in provenance
    claims = read_table(workdir / f"{EVIDENCE}/claims.parquet")
    assert list(claims["claim_id"]) == ["mlp_evidence_ranks_runs", "mlp_evidence_peaks_at_accuracy_optimum",
                                         "mlp_evidence_ranks_well_trained_runs", "mlp_evidence_beats_other_measures"]
    assert set(claims["verdict"]) <= set(VERDICTS)
    assert all("failed" in m or "curve" in m for m in claims["measured"])
    for figure in FIGURES:
        assert (workdir / figure).stat().st_size > 0
    # A second dry run plans nothing.
    assert planned_jobs(workdir, *TARGETS) == {}


@pytest.mark.slow
def test_readme_evidence_results_are_generated_from_the_evidence_tables(workdir, tmp_path):
    import subprocess
    import sys

    from workflow_helpers import REPO

    claims_path = workdir / f"{EVIDENCE}/claims.parquet"
    readme = tmp_path / "README.md"
    readme.write_text("x\n<!-- evidence results: mnist5k -->\nSTALE-TABLE\n<!-- end of evidence results: mnist5k -->\nrest\n")
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "readme_results.py"), str(claims_path), "--readme", str(readme)],
        capture_output=True, text=True, timeout=120, check=True,
    )
    claims = read_table(claims_path)
    check = read_table(workdir / f"{EVIDENCE}/estimator_check.parquet")
    for r in claims.itertuples():
        assert f"- `{r.claim_id}` ({r.figure}): **{r.verdict}**. {r.measured}." in proc.stdout
    exact = check[check["exact"].notna()]
    rows = [line for line in proc.stdout.split("Generalisation measures")[0].splitlines() if line.startswith("|")]
    assert len(rows) == 2 + len(exact) and "KFAC - exact" in rows[0]
    for line, r in zip(rows[2:], exact.itertuples()):
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        assert int(cells[3]) == r.batch_size and float(cells[11]) == pytest.approx(r.kfac_minus_exact, abs=1e-4)
    assert "KFAC minus SLQ over the" in proc.stdout
    text = readme.read_text()
    assert proc.stdout in text and "STALE-TABLE" not in text and text.endswith("rest\n")


@pytest.mark.slow
def test_validate_slq_script_on_a_workflow_run(workdir, tmp_path):
    """scripts/validate_slq.py on one run the workflow trained: exact, KFAC and SLQ rows on every
    grid lambda, the exact row with zero error, and the README table between its markers."""
    import subprocess
    import sys

    from workflow_helpers import REPO

    weights = "results/weights/mnist5k/paper/N40/eps0.5_m0.9_B5_l20_T30_s0.parquet"
    readme = tmp_path / "README.md"
    readme.write_text("x\n<!-- slq validation -->\nSTALE-TABLE\n<!-- end of slq validation -->\nrest\n")
    out = tmp_path / "slq.parquet"
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "validate_slq.py"), weights, "--workdir", str(workdir), "--config",
         str(workdir / "config" / "config.yaml"), "--settings", "4x10", "--out", str(out), "--readme", str(readme)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    table = read_table(out)
    assert set(table["estimate"]) == {"exact", "kfac", "slq"} and table.groupby("estimate").size().nunique() == 1
    assert (table.loc[table["estimate"] == "exact", "error"] == 0).all()
    assert (table.loc[table["estimate"] == "slq", "standard_error"] > 0).any()
    assert read_provenance(out)["provenance"]["settings"] == ["4x10"]
    text = readme.read_text()
    assert "SLQ 4x10" in text and "STALE-TABLE" not in text and text.endswith("rest\n")


@pytest.mark.parametrize("claims, key", [({"method": "hessian"}, "evidence.claims.method"),
                                         ({"prior_precision": "largest"}, "evidence.claims.prior_precision")])
def test_bad_evidence_config_names_the_key(tmp_path, claims, key):
    write_config(tmp_path, {**TINY, "evidence": {"claims": claims}})
    out = snakemake(tmp_path, "-n", *TARGETS, check=False)
    assert out.returncode != 0 and f"Invalid configuration: {key}" in out.stdout
