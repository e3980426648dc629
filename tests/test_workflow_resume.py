"""Resuming after a hard kill: finished runs are kept, the interrupted run is redone, and no
partly written table is ever taken as complete.

A real run of a few training jobs is killed (SIGKILL to snakemake's whole process group, as
a lost login session or an out-of-memory killer would) while one slow run is training, then
started again the way the README says (``--unlock``, then the same command; profiles/default
sets ``rerun-incomplete``).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bayes_sgd.tables import read_provenance, read_table
from workflow_helpers import REPO, SNAKEFILE, planned_jobs, snakemake, write_config

TIMEOUT_S = 240
CONFIG = {"mlp": {"eval_points": 3}, "plot": {"formats": ["png"], "dpi": 50}}


def run_file(batch_size: int, steps: int) -> str:
    return f"results/runs/mnist5k/paper/N40/eps0.1_m0.9_B{batch_size}_l20_T{steps}_s0.parquet"


FAST = [run_file(b, 20) for b in (5, 10, 20)]
# 7-20 s on one core of the development machine, depending on its load (800 hidden units,
# B = 40): long enough to be killed mid-training, short enough to be redone quickly.
SLOW_STEPS = 5000
SLOW = run_file(40, SLOW_STEPS)
SLOW_LOG = Path(SLOW.replace("results/runs", "logs/train_mlp")).with_suffix(".log")


def started_and_finished(output: str) -> tuple[dict[str, str], set[str], dict[str, str]]:
    """From snakemake's console output: jobid -> first output of every started job, the ids of
    the jobs it reported finished (after recording them as complete), and output -> the reason
    the job was run."""
    started, reasons, current = {}, {}, None
    for line in output.splitlines():
        if re.fullmatch(r"(?:local)?rule \w+:", line):
            current = {}
        elif current is not None and line.startswith("    output: "):
            current["output"] = line.removeprefix("    output: ").split(", ")[0]
        elif current is not None and (match := re.fullmatch(r"    jobid: (\d+)", line)):
            started[match.group(1)] = current.get("output", "")
        elif current is not None and line.startswith("    reason: "):
            reasons[current.get("output", "")] = line.removeprefix("    reason: ")
            current = None
    finished = set(re.findall(r"Finished jobid: (\d+)", output))
    return started, finished, reasons


def file_id(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_ino, st.st_mtime_ns, st.st_size


@pytest.mark.slow
def test_killed_run_resumes_without_redoing_finished_runs(tmp_path):
    write_config(tmp_path, CONFIG)
    console = tmp_path / "first_run.txt"
    argv = [
        sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), "--directory", str(tmp_path),
        "--workflow-profile", str(REPO / "profiles" / "default"), "--cores", "2", *FAST, SLOW,
    ]
    with open(console, "w") as out:
        proc = subprocess.Popen(argv, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
                                env=dict(os.environ, PYTHONUNBUFFERED="1"), start_new_session=True)
    try:
        # Wait until a training job has finished and the slow one is training (progress logged).
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            started, finished, _ = started_and_finished(console.read_text())
            done_runs = {started[j] for j in finished if started.get(j, "").startswith("results/runs/")}
            slow_log = tmp_path / SLOW_LOG
            training = slow_log.is_file() and "step " in slow_log.read_text()
            if done_runs and training:
                break
            assert proc.poll() is None, f"snakemake ended before it could be killed:\n{console.read_text()[-4000:]}"
            assert time.monotonic() < deadline, f"no run finished in {TIMEOUT_S} s:\n{console.read_text()[-4000:]}"
            time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # snakemake and every job it started
        proc.wait(timeout=60)

    started, finished, _ = started_and_finished(console.read_text())
    finished_runs = {started[j] for j in finished if started.get(j, "").startswith("results/runs/")}
    assert finished_runs and SLOW not in finished_runs
    before = {run: file_id(tmp_path / run) for run in finished_runs}
    # Tables are written to a hidden temporary name and renamed when complete: the slow run
    # left nothing under its name, and everything under a table's name is a whole table.
    assert not (tmp_path / SLOW).exists()
    time.sleep(1.0)
    assert not (tmp_path / SLOW).exists(), "a job outlived the kill"
    for path in (tmp_path / "results/runs").rglob("*"):
        if path.is_file() and not path.name.startswith("."):
            assert read_provenance(path)["provenance"]["status"] in {"ok", "diverged"}, path
    # Even a partly written file under the final name (a crash inside a non-atomic writer)
    # must not be taken as the table: Snakemake marked the interrupted job incomplete.
    (tmp_path / SLOW).write_bytes((tmp_path / sorted(finished_runs)[0]).read_bytes()[:100])

    # The working directory is still locked by the killed snakemake.
    locked = snakemake(tmp_path, "--cores", "2", *FAST, SLOW, check=False, timeout=TIMEOUT_S)
    assert locked.returncode != 0 and "Directory cannot be locked" in locked.stdout, locked.stdout[-3000:]
    snakemake(tmp_path, "--unlock", *FAST, SLOW, timeout=TIMEOUT_S)
    # Without rerun-incomplete (profiles/default sets it) Snakemake refuses to go on.
    strict = snakemake(tmp_path, "--workflow-profile", "none", "-n", *FAST, SLOW, check=False, timeout=TIMEOUT_S)
    assert strict.returncode != 0 and "seem to be incomplete" in strict.stdout, strict.stdout[-3000:]
    assert SLOW in strict.stdout.split("seem to be incomplete", 1)[1]
    rerun = snakemake(tmp_path, "--cores", "2", *FAST, SLOW, timeout=TIMEOUT_S).stdout

    started, _, reasons = started_and_finished(rerun)
    restarted = set(started.values())
    assert SLOW in restarted
    # rerun-incomplete forces the jobs of incomplete files
    assert reasons[SLOW].startswith(("Forced execution", "Incomplete output files")), reasons[SLOW]
    assert not restarted & finished_runs, f"finished runs redone: {restarted & finished_runs}"
    assert {run: file_id(tmp_path / run) for run in finished_runs} == before
    curve = read_table(tmp_path / SLOW)
    assert curve["step"].iloc[-1] == SLOW_STEPS and (curve["status"] == "ok").all()
    assert planned_jobs(tmp_path, *FAST, SLOW) == {}
    # The rerun's log of the slow job shows its progress: step, accuracy, speed, time left.
    log = (tmp_path / SLOW_LOG).read_text()
    assert re.search(rf"step \d+/{SLOW_STEPS}  test accuracy 0\.\d+ .* \d+ steps/s  ETA \d+ s", log), log[-2000:]
