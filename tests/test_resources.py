"""The resource models of a training job (bayes_sgd.resources): how the requests behave, not
their formula."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bayes_sgd import resources
from bayes_sgd.resources import CostModel, architecture, estimate_cost
from bayes_sgd.sweeps import Run

PAPER = architecture(800)


def test_memory_grows_with_the_network_the_batch_and_the_training_set():
    base = resources.train_mlp_megabytes(1000, 100, PAPER)
    assert resources.train_mlp_megabytes(1000, 100, architecture(4000)) > base  # wider network
    assert resources.train_mlp_megabytes(1000, 1000, PAPER) > base  # larger batch
    assert resources.train_mlp_megabytes(50000, 100, PAPER) > base  # larger training set
    assert resources.train_mlp_megabytes(1000, 100, architecture(800, n_inputs=3072)) > base  # larger images
    # the batch workspace grows with the width: a wider network makes B cost more
    wide, narrow = architecture(4000), architecture(16)
    assert (
        resources.train_mlp_megabytes(1000, 5000, wide) - resources.train_mlp_megabytes(1000, 10, wide)
        > resources.train_mlp_megabytes(1000, 5000, narrow) - resources.train_mlp_megabytes(1000, 10, narrow)
    )


def test_memory_matches_the_measured_peaks_within_the_safety_factor():
    """Measured peaks on full MNIST (800 hidden units): 1.0 GB at N = 1,000, B = 1,000 and 1.2 GB at
    N = 50,000, B = 5,000; the request must cover them without being several times larger."""
    for n, b, measured_mb in ((1000, 1000, 1000), (50000, 5000, 1200)):
        request = resources.train_mlp_mem_mb(n, b, PAPER)
        assert measured_mb <= request <= 3 * measured_mb


def test_requests_double_with_every_attempt_and_respect_the_floor():
    for attempt in (1, 2, 3):
        assert resources.train_mlp_runtime_minutes(1000, 30, 10000, 25, PAPER, attempt) == attempt * (
            resources.train_mlp_runtime_minutes(1000, 30, 10000, 25, PAPER)
        )
        assert resources.train_mlp_mem_mb(1000, 30, PAPER, attempt) == attempt * resources.train_mlp_mem_mb(1000, 30, PAPER)
    tiny = architecture(16)
    assert resources.train_mlp_runtime_minutes(40, 5, 30, 5, tiny) == resources.RUNTIME_FLOOR_MIN
    assert resources.train_mlp_mem_mb(40, 5, tiny) >= resources.MEM_FLOOR_MB
    assert resources.train_mlp_mem_mb(40, 5, tiny) % 100 == 0


def test_runtime_grows_with_steps_batch_and_width():
    base = resources.train_mlp_seconds(1000, 100, 10000, 25, PAPER)
    assert resources.train_mlp_seconds(1000, 100, 100000, 25, PAPER) > 3 * base  # ten times the steps
    assert resources.train_mlp_seconds(1000, 1000, 10000, 25, PAPER) > base
    assert resources.train_mlp_seconds(1000, 100, 10000, 25, architecture(16)) - resources.STARTUP_S < (base - resources.STARTUP_S) / 10
    # the cost model measured on one core: a B = 1000 step takes about 28 ms (benchmark_sgd.py)
    step = CostModel().run_seconds(Run(1000, 1.0, 0.9, 1000, 0.0, 1000, 0), n_test=0, eval_points=1)
    assert 20 < step - CostModel().overhead < 40  # 1000 steps of ~28 ms, plus two evaluations


def test_cost_estimate_counts_shared_runs_once():
    model = CostModel(per_step=1e-3, per_example=1e-5, per_image=1e-4, overhead=2.0)
    a = Run(n_train=1000, learning_rate=1.0, momentum=0.9, batch_size=100, l2=0.0, steps=1000, seed=0)
    b = Run(n_train=2000, learning_rate=1.0, momentum=0.9, batch_size=10, l2=0.0, steps=500, seed=1)
    table = estimate_cost({"first": [a, a], "second": [a, b]}, model, n_test=1000, eval_points=5)
    one = {r: model.run_seconds(r, n_test=1000, eval_points=5) for r in (a, b)}
    assert list(table["new_runs"]) == [1, 1, 2]
    np.testing.assert_allclose(table["core_hours"], np.array([one[a], one[b], one[a] + one[b]]) / 3600)
    assert table["longest_run_hours"].iloc[-1] == pytest.approx(max(one.values()) / 3600)


def test_thread_benchmark_prints_each_thread_count_against_one_thread():
    """scripts/benchmark_threads.py: one row per (B, threads), the speed-up relative to its own
    one-thread row (a ratio, never a time the test could fail on)."""
    script = Path(__file__).resolve().parents[1] / "scripts" / "benchmark_threads.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--threads", "1", "--batch-sizes", "50", "80", "--repeats", "1"],
        capture_output=True, text=True, timeout=300, check=True,
    )
    rows = [line.strip("|").split("|") for line in proc.stdout.splitlines() if line.startswith("| ") and "B = N" not in line]
    assert [(int(r[0]), int(r[1])) for r in rows] == [(50, 1), (80, 1)]
    assert all(float(r[2]) > 0 and r[3].strip() == "1.00" for r in rows)
    assert subprocess.run([sys.executable, str(script), "--threads", "100000"], capture_output=True, text=True).returncode != 0


def test_evidence_requests_grow_with_n_and_the_exact_layer_and_double_per_attempt():
    from bayes_sgd.resources import compute_mlp_evidence_mem_mb, compute_mlp_evidence_runtime_minutes

    for request in (compute_mlp_evidence_mem_mb, compute_mlp_evidence_runtime_minutes):
        small, large = request(1000, False), request(50000, False)
        assert 0 < small < large
        assert request(1000, True) > small  # the 8,010 x 8,010 eigenvalue problem
        assert request(50000, True, attempt=2) == 2 * request(50000, True)
    # the measured model (docstring): 1 GB + 40 kB per example (+1.2 GB exact), x 2 safety
    assert compute_mlp_evidence_mem_mb(1000, False) == 2080
    assert compute_mlp_evidence_mem_mb(1000, True) == 4480
    # the exact whole-network evidence: three (9 N)^2 float64 matrices, N^3 minutes
    assert compute_mlp_evidence_mem_mb(1000, False, exact_network=True) == int(1040 + 3 * 9000**2 * 8 / 1e6) * 2
    assert compute_mlp_evidence_runtime_minutes(1000, False, exact_network=True) == 23  # (5 + 0.2 + 2.3) x 3
    assert compute_mlp_evidence_runtime_minutes(500, False, exact_network=True) < 23


def write_benchmark(folder: Path, run_file: str, cpu_time: float, wall: float) -> None:
    """One Snakemake ``benchmark:`` file (its header and one repeat)."""
    path = folder / run_file
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time"
    path.write_text(f"{header}\n{wall}\t0:00:{int(wall):02d}\t100\t200\t90\t95\t0\t1\t90.0\t{cpu_time}\n")


def test_benchmark_ratios_read_the_run_from_the_path_and_compare_cpu_time_with_the_model(tmp_path):
    model = CostModel()
    small = Run(n_train=1000, learning_rate=1.0, momentum=0.9, batch_size=10, l2=0.0, steps=2000, seed=0)
    large = Run(n_train=1000, learning_rate=0.1, momentum=0.9, batch_size=1000, l2=0.0, steps=500, seed=1, protocol="class_mean")
    expected = {r: model.run_seconds(r, n_test=500, eval_points=5) for r in (small, large)}
    folder = tmp_path / "train_mlp"
    write_benchmark(folder, "mnist5k/paper/N1000/eps1_m0.9_B10_l20_T2000_s0.tsv", 2 * expected[small], expected[small])
    write_benchmark(folder, "mnist5k/class_mean/N1000/eps0.1_m0.9_B1000_l20_T500_s1.tsv", 4 * expected[large], expected[large])
    (folder / "notes.txt").write_text("not a benchmark")
    table = resources.benchmark_cost_ratios(folder, model, n_test=500, eval_points=5)
    assert len(table) == 2
    by_batch = table.set_index("batch_size")
    assert by_batch.loc[10, "cpu_ratio"] == pytest.approx(2.0)
    assert by_batch.loc[1000, "cpu_ratio"] == pytest.approx(4.0)
    assert by_batch.loc[1000, "protocol"] == "class_mean" and by_batch.loc[1000, "learning_rate"] == 0.1
    assert by_batch.loc[10, "wall_s"] == pytest.approx(expected[small])


def test_the_ratio_script_prints_the_median_of_a_run(tmp_path):
    folder = tmp_path / "train_mlp"
    model = CostModel()
    for seed, factor in enumerate((1.0, 3.0, 5.0)):
        run = Run(n_train=1000, learning_rate=1.0, momentum=0.9, batch_size=10, l2=0.0, steps=2000, seed=seed)
        seconds = model.run_seconds(run, n_test=500, eval_points=12)
        write_benchmark(folder, f"mnist5k/paper/N1000/eps1_m0.9_B10_l20_T2000_s{seed}.tsv", factor * seconds, seconds)
    script = Path(__file__).resolve().parents[1] / "scripts" / "cost_model_ratio.py"
    # the run's test set (500 images) and evaluations (12), in two files layered as --configfile
    # layers them on config/config.yaml: the second file's eval_points wins
    data, evaluations = tmp_path / "data.yaml", tmp_path / "evaluations.yaml"
    data.write_text("data: {mnist5k_test_per_class: 50}\nmlp: {eval_points: 99}\n")
    evaluations.write_text("mlp: {eval_points: 12}\n")
    out = subprocess.run(
        [sys.executable, str(script), "--config", str(data), str(evaluations), "--benchmarks", str(folder)],
        capture_output=True, text=True, check=True,
    ).stdout
    assert "3 train_mlp jobs" in out and "median 3.00x" in out and "min 1.00, max 5.00" in out, out
    missing = subprocess.run([sys.executable, str(script), "--benchmarks", str(tmp_path / "none")], capture_output=True, text=True)
    assert missing.returncode == 1 and "no benchmark folder" in missing.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("mlp: {eval_points: -1}\n")
    refused = subprocess.run([sys.executable, str(script), "--config", str(bad), "--benchmarks", str(folder)],
                             capture_output=True, text=True)
    assert refused.returncode == 1 and "invalid configuration" in refused.stderr and "eval_points" in refused.stderr


def _gpu_check_folder(folder: Path, device: str = "NVIDIA H100 80GB HBM3") -> Path:
    """The three tables scripts/gpu_check.sh writes, with round numbers."""
    folder.mkdir(parents=True, exist_ok=True)
    header = "batch_size,n_train,device,numpy_ms,jax_ms,jax_eval_us_per_image\n"
    (folder / "benchmark_steps.csv").write_text(header + f"1,1000,{device},0.5,0.1,0.01\n1000,1000,{device},28,1.0,0.01\n")
    (folder / "benchmark_large_batches.csv").write_text(header + f"50000,50000,{device},,10.0,0.01\n")
    (folder / "benchmark_overhead.csv").write_text(
        "cache,device,jax,start_s,import_s,run_s,wall_s,hits,misses\n"
        f"off,{device},0.9,1,2,3,6,,\ncold,{device},0.9,1,2,3,6,0,12\nwarm,{device},0.9,1,2,1,5,12,0\n"
    )
    return folder


def test_the_gpu_model_reads_gpu_check_tables_and_refuses_cpu_or_missing_ones(tmp_path):
    model, note = resources.GpuCostModel.from_gpu_check(_gpu_check_folder(tmp_path / "gpu"))
    assert note.startswith("measured on NVIDIA H100")
    assert model.step_ms == ((1, 0.1), (1000, 1.0), (50000, 10.0))
    assert (model.eval_us_per_image, model.job_overhead_s, model.compile_s) == (0.01, 5.0, 2.0)
    # log-log interpolation: B = 10 is a third of the way from B = 1 to 1000, so 0.1 ms x 10^(1/3)
    assert model.step_seconds(10) == pytest.approx(0.1e-3 * 10 ** (1 / 3))
    assert model.step_seconds(100_000) == pytest.approx(20e-3)  # proportional beyond the largest B
    assert model.step_seconds(1) == pytest.approx(0.1e-3)
    none, why = resources.GpuCostModel.from_gpu_check(_gpu_check_folder(tmp_path / "cpu", device="cpu"))
    assert none is None and "taken on cpu, not a GPU" in why
    none, why = resources.GpuCostModel.from_gpu_check(tmp_path / "empty")
    assert none is None and why.startswith("not measured") and "benchmark_steps.csv" in why


def test_the_gpu_estimate_groups_seeds_into_jobs_and_compiles_a_program_per_shape(tmp_path):
    model, _ = resources.GpuCostModel.from_gpu_check(_gpu_check_folder(tmp_path))
    a = [Run(1000, 1.0, 0.9, 1000, 0.0, 100, seed) for seed in (0, 1)]  # one job, one program
    b = [Run(1000, 0.5, 0.9, 1000, 0.0, 100, 0)]  # another job, the same program (eps is an argument)
    c = [Run(1000, 1.0, 0.9, 1, 0.0, 100, 0)]  # another job and program
    table = resources.estimate_gpu_cost({"A": a, "B": a + b, "C": c}, model, n_test=10_000, eval_points=3)
    evaluations = len(resources.evaluation_steps(100, 3))
    eval_s = evaluations * 0.01e-6 * 11_000
    run_1000 = 100 * 1.0e-3 + eval_s
    run_1 = 100 * 0.1e-3 + eval_s
    expected = {"A": 2 * run_1000 + 5 + 2, "B": run_1000 + 5, "C": run_1 + 5 + 2}
    rows = table.set_index("group")
    for group, seconds in expected.items():
        assert rows.loc[group, "gpu_hours"] * 3600 == pytest.approx(seconds)
    assert rows.loc["B", "new_runs"] == 1 and rows.loc["B", "programs"] == 0
    assert (rows.loc["total", "jobs"], rows.loc["total", "programs"]) == (3, 2)
    assert rows.loc["total", "gpu_hours"] * 3600 == pytest.approx(sum(expected.values()))


def test_the_cost_script_prints_not_measured_and_no_gpu_number_without_a_gpu_check(tmp_path):
    script = Path(__file__).resolve().parents[1] / "scripts" / "estimate_paper_cost.py"
    out = subprocess.run([sys.executable, str(script), "--device", "gpu", "--gpu-check", str(tmp_path)],
                         capture_output=True, text=True, check=True).stdout
    assert "not measured" in out and "hours" not in out and "|" not in out
    _gpu_check_folder(tmp_path)
    out = subprocess.run([sys.executable, str(script), "--device", "gpu", "--gpu-check", str(tmp_path)],
                         capture_output=True, text=True, check=True).stdout
    assert "measured on NVIDIA H100" in out and "hours on one GPU" in out


def test_the_cost_script_layers_configuration_files_as_the_workflow_does():
    """``estimate_paper_cost.py A B``: config/config.yaml, then A, then B (snakemake --configfile A B)."""
    repo = Path(__file__).resolve().parents[1]
    script = repo / "scripts" / "estimate_paper_cost.py"
    out = subprocess.run([sys.executable, str(script), "config/paper.yaml", "config/variants_mnist.yaml"],
                         capture_output=True, text=True, check=True, cwd=repo).stdout
    assert "(dataset mnist, training pool 60000" in out  # from paper.yaml
    assert "variant dampened_momentum" in out and "Figure 5" not in out  # targets: [variants] from the second file
    alone = subprocess.run([sys.executable, str(script), "config/variants_mnist.yaml"],
                           capture_output=True, text=True, check=True, cwd=repo).stdout
    assert "(dataset mnist5k" in alone  # without paper.yaml: the default configuration's dataset
