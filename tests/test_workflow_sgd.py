"""The MLP/SGD stage end to end through snakemake, on a tiny configuration (few steps, tiny N)."""

import numpy as np
import pytest

from bayes_sgd import claims
from bayes_sgd.mlp import Architecture, evaluate
from bayes_sgd.training.run_tables import CONFIG_COLUMNS, CURVE_COLUMNS
from bayes_sgd.training.sgd import evaluation_steps
from bayes_sgd.data.inputs import training_data
from bayes_sgd.tables import read_provenance, read_table
from workflow_helpers import TINY_MLP, TINY_RUN, planned_jobs, run_workflow_once, snakemake, write_config

RUN = TINY_RUN
TINY = {
    "mlp": TINY_MLP,
    "plot": {"formats": ["png"], "dpi": 50},
}
TABLES = [f"results/sgd/mnist5k/figure_{k}_{kind}.parquet" for k in (3, 4, 8) for kind in ("runs", "final", "curves")]
NOISE = "results/gradient_noise/mnist5k/N40_B5_s0"
FIGURES = [f"results/figures/mnist5k/figure_{k}.png" for k in (3, 4, 8, 9)]
TARGETS = [*TABLES, f"{NOISE}_samples.parquet", f"{NOISE}_summary.parquet", *FIGURES]


def run_file(b, seed, l2=0, eps=0.5):
    return f"results/runs/mnist5k/paper/N40/eps{eps:g}_m0.9_B{b}_l2{l2:g}_T30_s{seed}.parquet"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """The tiny SGD stage, run once for the tests of this module."""
    return run_workflow_once(tmp_path_factory, "sgd", TINY, TARGETS)


def test_dry_run_plans_one_job_per_distinct_configuration(tmp_path):
    write_config(tmp_path, TINY)
    jobs = planned_jobs(tmp_path, *TARGETS)
    # figure 4: 3 B x 2 seeds; figure 3's (B=5, 40; seed 0) are among them; figure 8: 2 more
    assert jobs["train_mlp"] == 8
    assert jobs["collect_sgd_runs"] == 3 and jobs["plot_learning_curves"] == 2
    assert jobs["compute_gradient_noise"] == 1 and jobs["plot_figure_4"] == 1 and jobs["plot_figure_9"] == 1


@pytest.mark.slow
def test_runs_follow_the_table_contract(workdir):
    for b in (1, 5, 40):
        for seed in (0, 1):
            path = workdir / run_file(b, seed)
            curve = read_table(path)
            assert list(curve.columns) == [*CURVE_COLUMNS, "dataset", *CONFIG_COLUMNS]
            assert (curve["dataset"] == "mnist5k").all()
            row = curve.iloc[-1]
            assert (row["n_train"], row["batch_size"], row["seed"], row["steps"]) == (40, b, seed, 30)
            assert row["learning_rate"] == 0.5 and row["momentum"] == 0.9 and row["l2"] == 0.0
            if row["status"] == "ok":
                np.testing.assert_array_equal(curve["step"], evaluation_steps(30, 5))
                assert row["step"] == 30 and row["diverged_step"] == -1
            else:
                assert row["step"] == row["diverged_step"]
            provenance = read_provenance(path)["provenance"]
            assert provenance["training"]["batch_size"] == b and provenance["hidden_units"] == 16
            assert provenance["subset_seed"] == 0 and provenance["status"] == row["status"]
    l2_run = read_table(workdir / run_file(5, 0, l2=0.1))
    assert (l2_run["l2"] == 0.1).all()


def weights_file(b, seed, l2=0, eps=0.5):
    return run_file(b, seed, l2, eps).replace("results/runs/", "results/weights/")


@pytest.mark.slow
def test_final_weights_reproduce_the_last_evaluation(workdir):
    """The weights table is the network the curve's last row evaluated: evaluate it again."""
    data = read_table(workdir / "results/data/mnist5k.parquet")
    subset = read_table(workdir / "results/subsets/mnist5k/N40_seed0.parquet")["index"].to_numpy()
    X_train, y_train, X_test, y_test = training_data(data, subset)
    arch = Architecture(784, 16, 10)
    checked = 0
    for b, seed, l2 in ((1, 0, 0), (40, 1, 0), (5, 0, 0.1)):
        path = workdir / weights_file(b, seed, l2)
        table = read_table(path)
        assert list(table.columns) == ["parameter", "velocity"]
        assert (table.dtypes == np.float32).all() and len(table) == arch.n_params
        provenance = read_provenance(path)["provenance"]
        assert provenance["architecture"] == {"n_inputs": 784, "n_hidden": 16, "n_classes": 10}
        assert provenance["training"]["batch_size"] == b and provenance["seed"] == seed
        last = read_table(workdir / run_file(b, seed, l2)).iloc[-1]
        assert provenance["status"] == last["status"]
        if last["status"] != "ok":
            continue
        w = table["parameter"].to_numpy()
        train_acc, train_ce = evaluate(arch, w, X_train, y_train)
        test_acc, test_ce = evaluate(arch, w, X_test, y_test)
        assert (train_acc, test_acc) == (last["train_accuracy"], last["test_accuracy"])
        # (float32 BLAS here may use other threads than the job: agree to rounding)
        assert train_ce == pytest.approx(last["train_cross_entropy"], rel=1e-5)
        assert test_ce == pytest.approx(last["test_cross_entropy"], rel=1e-5)
        assert np.isfinite(table["velocity"]).all() and np.abs(table["velocity"]).max() > 0
        checked += 1
    assert checked >= 2


@pytest.mark.slow
def test_jobs_are_single_threaded_and_log_progress(workdir):
    log = (workdir / "logs/train_mlp/mnist5k/paper/N40" / "eps0.5_m0.9_B5_l20_T30_s0.log").read_text()
    assert "OPENBLAS_NUM_THREADS=1" in log
    assert "step 30/30" in log and "done: status" in log
    bench = workdir / "benchmarks/train_mlp/mnist5k/paper/N40" / "eps0.5_m0.9_B5_l20_T30_s0.tsv"
    assert bench.is_file()


@pytest.mark.slow
def test_seeds_share_the_subset_and_differ_in_the_run(workdir):
    a, b = (read_table(workdir / run_file(5, s)) for s in (0, 1))
    assert not np.array_equal(a["test_cross_entropy"], b["test_cross_entropy"])
    # step 0 differs only through the initialisation; the training subset is the same file
    assert len(list((workdir / "results/subsets/mnist5k").glob("N40_seed*.parquet"))) == 1


@pytest.mark.slow
def test_collected_tables_and_figures(workdir):
    runs = read_table(workdir / "results/sgd/mnist5k/figure_4_runs.parquet")
    final = read_table(workdir / "results/sgd/mnist5k/figure_4_final.parquet")
    curves = read_table(workdir / "results/sgd/mnist5k/figure_4_curves.parquet")
    assert runs.groupby(["batch_size", "seed"]).ngroups == 6
    assert len(final) == 6 and sorted(curves["batch_size"]) == [1, 5, 40]
    for _, row in curves.iterrows():  # seed mean with a diverged run counted at chance (0.1)
        mine = final[final["batch_size"] == row["batch_size"]]
        scored = np.where(mine["status"] == "diverged", 0.1, mine["test_accuracy"])
        assert row["n_seeds"] == 2 and row["n_diverged"] == (mine["status"] == "diverged").sum()
        assert row["mean_accuracy"] == pytest.approx(scored.mean(), abs=1e-12)
    assert read_provenance(workdir / "results/sgd/mnist5k/figure_4_curves.parquet")["provenance"]["diverged_accuracy"] == 0.1
    fig3 = read_table(workdir / "results/sgd/mnist5k/figure_3_runs.parquet")
    assert sorted(fig3["batch_size"].unique()) == [5, 40] and set(fig3["seed"]) == {0}
    noise = read_table(workdir / f"{NOISE}_summary.parquet")
    assert list(noise["sample"]) == ["single", "batch"] and list(noise["n"]) == [40, 100]
    for figure in FIGURES:
        assert (workdir / figure).stat().st_size > 1000


@pytest.mark.slow
def test_claims_report_of_the_stages_built(workdir):
    """targets [data, sgd]: the report judges Figures 3, 4, 8 and 9 from their tables, builds nothing
    of the other stages, and says which stages it left out."""
    only_sgd = ("--config", "targets=[data,sgd]")
    # beyond the SGD targets built above: the rest of stage data (the binary task) and the report
    assert planned_jobs(workdir, *only_sgd) == {"draw_binary_task": 1, "summarise_claims": 1, "all": 1}
    snakemake(workdir, "--cores", "1", *only_sgd)
    summary = "results/summary/mnist5k"
    table = read_table(workdir / f"{summary}/claims.parquet").set_index("claim_id")
    provenance = read_provenance(workdir / f"{summary}/claims.parquet")["provenance"]
    tables = {f"figure_{k}_curves": read_table(workdir / f"results/sgd/mnist5k/figure_{k}_curves.parquet") for k in (3, 4, 8)}
    tables["gradient_noise"] = read_table(workdir / f"{NOISE}_summary.parquet")
    judged = [c.claim_id for c in claims.CLAIMS.values() if set(c.inputs) <= set(tables)]
    assert len(judged) == 5
    for r in claims.evaluate_claims(tables, claims.ClaimThresholds(**provenance["thresholds"])):
        if r.claim_id in judged:
            assert (table.loc[r.claim_id, "measured"], table.loc[r.claim_id, "verdict"]) == (r.measured, r.verdict)
    left_out = table.drop(index=judged)
    assert len(left_out) == len(claims.CLAIMS) - 5  # (the evidence claims among them)
    assert {"mlp_evidence_ranks_runs", "mlp_evidence_peaks_at_accuracy_optimum"} <= set(left_out.index)
    assert (left_out["verdict"] == claims.NOT_MEASURED).all()
    for stage in ("logistic", "scaling", "evidence"):
        assert left_out["measured"].str.contains(f"stage '{stage}' is not in this configuration's targets").any()
    assert not (workdir / "results/logistic").exists() and not (workdir / "results/scaling").exists()
    assert provenance["targets"] == ["data", "sgd"] and sorted(provenance["not_built"]) == ["evidence", "logistic", "scaling"]
    report = (workdir / f"{summary}/summary.md").read_text()
    assert "Not built by this configuration" in report and "stage scaling" in report
    assert "## The sweeps of this configuration" not in report


@pytest.mark.slow
def test_edits_rerun_exactly_what_they_change(workdir):
    assert planned_jobs(workdir, *TARGETS) == {}
    # a new seed for Figure 4: three new runs, then its collection and plot
    write_config(workdir, {**TINY, "mlp": {**TINY["mlp"], "figure_4": {**RUN, "batch_sizes": [1, 5, 40], "seeds": [0, 1, 2]}}})
    jobs = planned_jobs(workdir, *TARGETS)
    assert jobs == {"train_mlp": 3, "collect_sgd_runs": 1, "plot_figure_4": 1}
    # the evaluation schedule is a param of every run
    write_config(workdir, {**TINY, "mlp": {**TINY["mlp"], "eval_points": 6}})
    assert planned_jobs(workdir, *TARGETS)["train_mlp"] == 8
    # the resolution of the figures reruns only the plots
    write_config(workdir, {**TINY, "plot": {"formats": ["png"], "dpi": 60}})
    assert planned_jobs(workdir, *TARGETS) == {"plot_learning_curves": 2, "plot_figure_4": 1, "plot_figure_9": 1}
    write_config(workdir, TINY)


@pytest.mark.slow
def test_any_configuration_through_its_path_and_divergence_does_not_fail(workdir):
    target = "results/runs/mnist5k/paper/N40/eps1e+25_m0.9_B5_l20_T30_s3.parquet"
    snakemake(workdir, "--cores", "1", target)
    curve = read_table(workdir / target)
    assert (curve["status"] == "diverged").all()
    assert curve["step"].iloc[-1] == curve["diverged_step"].iloc[0] >= 1
    assert curve["learning_rate"].iloc[0] == 1e25 and curve["seed"].iloc[0] == 3


@pytest.mark.slow
def test_non_canonical_numbers_in_a_path_are_refused(workdir):
    proc = snakemake(workdir, "--cores", "1", "results/runs/mnist5k/paper/N40/eps0.50_m0.9_B5_l20_T30_s0.parquet", check=False)
    assert proc.returncode != 0
    assert "write it as '0.5'" in proc.stdout


def test_large_batches_get_several_threads(tmp_path):
    # local_cpus 3: the budget this test reads is --cores 3 on any machine, not the CPUs it has
    write_config(tmp_path, {"mlp": {**TINY_MLP, "max_threads": 4}, "local_cpus": 3})
    big = "results/runs/mnist5k/paper/N3000/eps0.1_m0.9_B3000_l20_T1_s0.parquet"
    huge = "results/runs/mnist5k/paper/N4000/eps0.1_m0.9_B4000_l20_T1_s0.parquet"
    small = "results/runs/mnist5k/paper/N3000/eps0.1_m0.9_B30_l20_T1_s0.parquet"
    out = snakemake(tmp_path, "-n", "--cores", "3", big, huge, small).stdout
    threads = {}
    for block in out.split("rule train_mlp:")[1:]:
        job = block.split("Shell command:", 1)[0]  # one job's description; "threads:" only if > 1
        output = job.split("output: ", 1)[1].split(",", 1)[0]
        threads[output] = int(job.split("threads: ", 1)[1].split()[0]) if "threads: " in job else 1
    assert threads == {big: 3, huge: 3, small: 1}  # 3 per B/1000, 4 capped by --cores 3, 1

