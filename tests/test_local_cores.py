"""A local run never puts more jobs on the machine than it has CPUs, whatever --cores says
(bayes_sgd.local_cores, applied in workflow/rules/common.smk); config key local_cpus changes
the limit. The SLURM side (not capped) is checked in test_slurm.py's real workflow run."""

from __future__ import annotations

import re
import shutil
from datetime import datetime
from pathlib import Path

import pytest

from bayes_sgd.local_cores import local_core_budget
from workflow_helpers import TINY_MLP, TINY_RUN, snakemake, write_config

TINY = {
    "mlp": {**TINY_MLP, "figure_4": {**TINY_RUN, "batch_sizes": [5, 40], "seeds": [0, 1]}},
    "plot": {"formats": ["png"], "dpi": 50},
}
TARGET = "results/sgd/mnist5k/figure_4_final.parquet"
STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) ", re.M)


def test_the_budget_is_the_smaller_of_cores_and_the_usable_cpus():
    assert local_core_budget(8, None, usable=2)[0] == 2
    assert local_core_budget(2, None, usable=8) == (2, None)  # fewer asked for: nothing to say
    assert local_core_budget(1, None, usable=1) == (1, None)
    cores, note = local_core_budget(8, None, usable=2)
    assert "--cores 8" in note and "at most 2 core(s)" in note and "os.sched_getaffinity" in note
    assert "local_cpus" in note  # how to change it
    # the configuration key replaces the machine's count, in both directions
    assert local_core_budget(8, 8, usable=2) == (8, None)
    cores, note = local_core_budget(8, 3, usable=16)
    assert cores == 3 and "config key local_cpus" in note
    assert local_core_budget(None, None, usable=4) == (4, None)


def job_intervals(workdir: Path, rule: str | None = None) -> list[tuple[datetime, datetime, str]]:
    """(first, last logged time, log) of every job's log under workdir/logs (of ``rule``)."""
    intervals = []
    for log in sorted((workdir / "logs" / (rule or "")).rglob("*.log")):
        stamps = [datetime.strptime(s, "%Y-%m-%d %H:%M:%S.%f") for s in STAMP.findall(log.read_text())]
        if stamps:
            intervals.append((stamps[0], stamps[-1], str(log.relative_to(workdir))))
    return intervals


def most_at_once(intervals) -> int:
    """The largest number of intervals that overlap at one moment."""
    events = sorted([(start, 1) for start, _, _ in intervals] + [(end, -1) for _, end, _ in intervals],
                    key=lambda e: (e[0], e[1]))  # an end before a start at the same instant
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("taskset") is None, reason="needs taskset (util-linux)")
def test_cores_8_on_one_cpu_runs_one_job_at_a_time(tmp_path):
    one_cpu = ["taskset", "-c", "0"]
    write_config(tmp_path, TINY)
    proc = snakemake(tmp_path, "--cores", "8", TARGET, wrapper=one_cpu)
    assert "bayes-sgd: --cores 8, but this run uses at most 1 core(s) at once" in proc.stdout
    intervals = job_intervals(tmp_path)
    assert len([i for i in intervals if "train_mlp" in i[2]]) == 4 and len(intervals) >= 7
    assert most_at_once(intervals) == 1, sorted(intervals)

    # The measurement can see jobs that overlap: local_cpus: 4 lets four training jobs share the CPU.
    write_config(tmp_path, {**TINY, "local_cpus": 4})
    proc = snakemake(tmp_path, "--cores", "8", "--forceall", TARGET, wrapper=one_cpu)
    assert "at most 4 core(s) at once (config key local_cpus)" in proc.stdout
    training = job_intervals(tmp_path, "train_mlp")
    assert len(training) == 4 and 1 < most_at_once(training) <= 4, sorted(training)


@pytest.mark.skipif(shutil.which("taskset") is None, reason="needs taskset (util-linux)")
def test_a_job_never_gets_more_threads_than_the_cpus(tmp_path):
    """A full-batch run of N = 4,000 asks for 4 BLAS threads (one per 1,000 examples); on one CPU
    it is planned with 1, and with --cores 1 nothing is said (nothing was lowered)."""
    write_config(tmp_path, {"mlp": {"max_threads": 8}})
    run = "results/runs/mnist5k/paper/N4000/eps1_m0.9_B4000_l20_T10_s0.parquet"
    planned = snakemake(tmp_path, "-n", "--cores", "8", run, wrapper=["taskset", "-c", "0"]).stdout
    block = planned.split("rule train_mlp:")[1]
    assert "threads: 4" not in block and "bayes-sgd: --cores 8" in planned
    planned = snakemake(tmp_path, "-n", "--cores", "8", run, wrapper=["taskset", "-c", "0,1"]).stdout
    assert "threads: 2" in planned.split("rule train_mlp:")[1]
    planned = snakemake(tmp_path, "-n", "--cores", "8", run, "--config", "local_cpus=8", wrapper=["taskset", "-c", "0"]).stdout
    assert "threads: 4" in planned.split("rule train_mlp:")[1] and "bayes-sgd: --cores" not in planned
