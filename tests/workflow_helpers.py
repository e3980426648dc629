"""Run the real workflow on a small configuration in a temporary directory.

The Snakefile and workflow/ stay in the repository; only the working directory (config,
results, logs, .snakemake) lives in the temporary directory.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "Snakefile"
DEFAULT_CONFIG = REPO / "config" / "config.yaml"
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"

#: A tiny MLP run (40 images, 30 updates) and the mlp: section of a tiny configuration whose
#: Figures 3, 4, 8 and 9 run in seconds; workflow tests build their configurations from it.
TINY_RUN = dict(n_train=40, learning_rate=0.5, momentum=0.9, steps=30, l2=0.0)
TINY_MLP = {
    "hidden_units": 16,
    "eval_points": 5,
    "figure_3": {**TINY_RUN, "batch_sizes": [5, 40], "seeds": [0]},
    "figure_4": {**TINY_RUN, "batch_sizes": [1, 5, 40], "seeds": [0, 1]},
    "figure_8": {**TINY_RUN, "l2": 0.1, "batch_sizes": [5, 40], "seeds": [0]},
    "figure_9": {"n_train": 40, "batch_size": 5, "n_batches": 100, "seed": 0},
}


def merge(base: dict, overrides: dict) -> dict:
    """``base`` updated recursively by ``overrides`` (mappings merged, other values replaced)."""
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def write_config(workdir: Path, overrides: dict | None = None, base: Path = DEFAULT_CONFIG) -> dict:
    """Write ``base`` merged with ``overrides`` to workdir/config/config.yaml; return it."""
    config = merge(yaml.safe_load(base.read_text()), overrides or {})
    (workdir / "config").mkdir(parents=True, exist_ok=True)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return config


def snakemake(
    workdir: Path, *args: str, timeout: float = 600, check: bool = True, wrapper: Sequence[str] = ()
) -> subprocess.CompletedProcess:
    """``python -m snakemake`` on the repository's Snakefile with ``workdir`` as working directory.

    Uses workdir/config/config.yaml (see :func:`write_config`). ``wrapper`` goes before the
    command (e.g. ``taskset -c 0``). Returns the completed process with stdout and stderr merged
    in ``.stdout``; raises with the output when ``check`` and the exit status is not 0.
    """
    cmd = [
        *wrapper,
        sys.executable, "-m", "snakemake",
        "--snakefile", str(SNAKEFILE),
        "--directory", str(workdir),
        "--workflow-profile", str(REPO / "profiles" / "default"),
        *args,
    ]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout)
    proc.stdout = proc.stdout + proc.stderr
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-6000:]}")
    return proc


def run_workflow_once(
    tmp_path_factory,
    name: str,
    overrides: dict,
    targets: Sequence[str] = (),
    *,
    cores: int = 2,
    timeout: float = 600,
    before: Callable[[Path], None] | None = None,
) -> Path:
    """A new working directory (``tmp_path_factory.mktemp(name)``) with ``overrides`` as its
    configuration (:func:`write_config`), after ``snakemake --cores <cores> <targets>`` (rule
    ``all`` when no targets) has run there; return it.

    The one body of the module-scoped ``workdir`` fixtures of the workflow tests, each of which
    runs its own configuration once for the tests of its module. ``before(path)``, if given,
    runs after the configuration is written and before the workflow (e.g. to check what a dry
    run plans).
    """
    path = tmp_path_factory.mktemp(name)
    write_config(path, overrides)
    if before is not None:
        before(path)
    snakemake(path, "--cores", str(cores), *targets, timeout=timeout)
    return path


@dataclass
class Job:
    """One job of a dry run: its rule, outputs and Snakemake's reasons."""

    rule: str
    outputs: list[str]
    reasons: dict[str, str]  # reason -> its details (file names), as the dry run prints them


def dry_run(workdir: Path, *args: str, timeout: float = 600) -> list[Job]:
    """The jobs ``snakemake -n`` plans (the target rule ``all`` included), in its order.

    The one dry-run parser of the tests: :func:`planned_jobs` counts its jobs per rule.
    """
    out = snakemake(workdir, "-n", *args, timeout=timeout).stdout
    jobs: list[Job] = []
    for line in out.splitlines():
        if match := re.fullmatch(r"(?:local)?rule (\w+):", line):
            jobs.append(Job(match.group(1), [], {}))
        elif jobs and line.startswith("    output: "):
            jobs[-1].outputs = line.removeprefix("    output: ").split(", ")
        elif jobs and line.startswith("    reason: "):
            for part in line.removeprefix("    reason: ").split("; "):
                reason, _, details = part.partition(": ")
                jobs[-1].reasons[reason] = details
    return jobs


def planned_jobs(workdir: Path, *args: str) -> dict[str, int]:
    """Rule name -> number of jobs a dry run plans (empty when nothing is to be done)."""
    counts: dict[str, int] = {}
    for job in dry_run(workdir, *args):
        counts[job.rule] = counts.get(job.rule, 0) + 1
    return counts


def sigterm_training_job(workdir: Path, log: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    """SLURM's time limit, by hand: ``snakemake --cores 1 <args>`` in the background; once the
    job's ``log`` shows a training step, SIGTERM to the job's script process; Snakemake's exit.

    Returns the finished process (``returncode``; its output in ``stdout``).
    """
    import signal
    import time

    argv = [
        sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), "--directory", str(workdir),
        "--workflow-profile", str(REPO / "profiles" / "default"), "--cores", "1", *args,
    ]
    output = workdir / "sigterm_run.txt"
    with open(output, "w") as out:
        proc = subprocess.Popen(argv, cwd=workdir, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while not (log.is_file() and "step " in log.read_text()):  # training has started
            assert proc.poll() is None and time.monotonic() < deadline, output.read_text()[-3000:]
            time.sleep(0.05)
        found = subprocess.run(["pgrep", "-f", f"{workdir}/.snakemake/scripts/"], capture_output=True, text=True)
        (job,) = [int(pid) for pid in found.stdout.split()]
        os.kill(job, signal.SIGTERM)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return subprocess.CompletedProcess(argv, proc.returncode, output.read_text())
