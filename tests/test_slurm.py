"""The shipped SLURM profile drives a real single-node SLURM cluster on localhost.

The workflows here are tiny throwaway Snakefiles written into a temporary directory; they
run through profiles/slurm with the CI overrides of profiles/slurm-ci layered on top, the
way CI runs the real workflow. Every snakemake run is killed after SNAKEMAKE_TIMEOUT_S: the
plugin never returns if it ends up querying job status with sacct, which fails without
slurmdbd.
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from slurm_fixture import cluster, slurm_cluster  # noqa: F401  (pytest fixture)

REPO = Path(__file__).resolve().parents[1]
PROFILES = REPO / "profiles"
SNAKEMAKE_TIMEOUT_S = 300


def snakemake_on_slurm(workdir: Path, slurm, *args: str) -> subprocess.CompletedProcess:
    """Run snakemake in ``workdir`` through profiles/slurm + profiles/slurm-ci."""
    argv = [
        "timeout", "-s", "KILL", str(SNAKEMAKE_TIMEOUT_S),
        sys.executable, "-m", "snakemake",
        "--profile", str(PROFILES / "slurm"),
        "--workflow-profile", str(PROFILES / "slurm-ci"),
        *args,
    ]
    return subprocess.run(
        argv, cwd=workdir, env=slurm.env, capture_output=True, text=True,
        timeout=SNAKEMAKE_TIMEOUT_S + 30,
    )


def explain(done: subprocess.CompletedProcess, slurm) -> str:
    return (
        f"snakemake exited {done.returncode}"
        + (" (killed by the hard timeout)" if done.returncode in (124, 137) else "")
        + f"\n--- stderr (tail) ---\n{done.stderr[-6000:]}\n{slurm.logs(tail=15)}"
    )


def job_state(slurm, job_id: str) -> str:
    done = subprocess.run(
        ["scontrol", "show", "job", job_id], env=slurm.env, capture_output=True,
        text=True, timeout=30,
    )
    match = re.search(r"JobState=(\S+)", done.stdout)
    assert match, f"scontrol knows no job {job_id}: {done.stdout}{done.stderr}"
    return match.group(1)


TINY_WORKFLOW = """\
rule all:
    input: "aggregate.txt"

rule prepare:
    output: "prepared.txt"
    shell: 'echo "${{SLURM_JOB_ID:-}}" > {output}'

# Named like the workflow's training rule, so that profiles/slurm groups these jobs.
rule train_mlp:
    input: "prepared.txt"
    output: "runs/{i}.txt"
    threads: 1
    resources: runtime=2, mem_mb=50
    shell: 'echo "${{SLURM_JOB_ID:-}}" > {output}'

rule aggregate:
    localrule: True
    input: expand("runs/{i}.txt", i=range(3))
    output: "aggregate.txt"
    shell: 'cat {input} > {output}; echo "local:${{SLURM_JOB_ID:-}}" >> {output}'
"""


@pytest.mark.slurm
@pytest.mark.slow
def test_profile_runs_jobs_on_slurm_grouped_and_local(tmp_path, slurm_cluster):
    (tmp_path / "Snakefile").write_text(TINY_WORKFLOW)

    done = snakemake_on_slurm(tmp_path, slurm_cluster)

    assert done.returncode == 0, explain(done, slurm_cluster)
    prepare_id = (tmp_path / "prepared.txt").read_text().strip()
    train_ids = [(tmp_path / f"runs/{i}.txt").read_text().strip() for i in range(3)]
    assert prepare_id.isdigit(), f"prepare ran outside SLURM: {prepare_id!r}"
    assert all(job_id.isdigit() for job_id in train_ids), train_ids
    # profiles/slurm groups train_mlp: the three runs share one submission.
    assert len(set(train_ids)) == 1, f"train_mlp jobs not grouped: {train_ids}"
    assert train_ids[0] != prepare_id
    for job_id in (prepare_id, train_ids[0]):
        assert job_state(slurm_cluster, job_id) == "COMPLETED"
    # The local rule ran in snakemake's own process tree, outside any SLURM job.
    lines = (tmp_path / "aggregate.txt").read_text().splitlines()
    assert lines == [*train_ids, "local:"]


FAILING_WORKFLOW = """\
rule fail:
    output: "never.txt"
    shell: 'echo "${{SLURM_JOB_ID:-}}" > job_id.txt; exit 3'
"""


@pytest.mark.slurm
@pytest.mark.slow
def test_failing_slurm_job_fails_the_run(tmp_path, slurm_cluster):
    (tmp_path / "Snakefile").write_text(FAILING_WORKFLOW)

    done = snakemake_on_slurm(tmp_path, slurm_cluster)

    assert done.returncode == 1, explain(done, slurm_cluster)
    job_id = (tmp_path / "job_id.txt").read_text().strip()
    assert job_id.isdigit()
    assert job_state(slurm_cluster, job_id) == "FAILED"
    assert not (tmp_path / "never.txt").exists()


@pytest.mark.parametrize("order", ["profile-then-workflow-profile", "two-profiles"])
def test_ci_profile_overrides_the_cluster_profile(order, tmp_path, monkeypatch):
    """The CI settings win over profiles/slurm; the workflow settings pass through."""
    from snakemake.cli import parse_args

    monkeypatch.chdir(tmp_path)  # no profiles/default to pick up
    slurm, ci = str(PROFILES / "slurm"), str(PROFILES / "slurm-ci")
    argv = {
        "profile-then-workflow-profile": ["--profile", slurm, "--workflow-profile", ci],
        "two-profiles": ["--workflow-profile", "none", "--profile", slurm, "--profile", ci],
    }[order]
    _, args = parse_args(argv)

    assert args.executor == "slurm"
    assert (args.jobs, args.cores, args.latency_wait, args.retries) == (2, 2, 5, 0)
    assert args.slurm_status_command == "squeue"
    assert args.slurm_init_seconds_before_status_checks == 10
    assert args.groups == {"train_mlp": "train"}
    assert args.group_components == {"train": 20}
    assert args.default_resources["runtime"].value == 5
    assert args.default_resources["mem_mb"].value == 100
    assert args.default_resources["slurm_partition"].raw == "debug"
    assert "slurm_account" not in args.default_resources


@pytest.mark.slurm
def test_daemons_listen_on_loopback_only(slurm_cluster):
    if shutil.which("ss") is None:
        pytest.skip("ss (iproute2) not installed")
    done = subprocess.run(["ss", "-H", "-l", "-t", "-n", "-p"], capture_output=True,
                          text=True, timeout=30, check=True)
    pids = {slurm_cluster.pids["slurmctld"], slurm_cluster.pids["slurmd"]}
    addresses = [
        line.split()[3].rsplit(":", 1)[0].strip("[]")
        for line in done.stdout.splitlines()
        if any(f"pid={pid}," in line for pid in pids)
    ]
    assert addresses, f"no listening socket of {pids} in:\n{done.stdout}"
    assert all(ipaddress.ip_address(a).is_loopback for a in addresses), addresses


@pytest.mark.parametrize("getent_stdout, returncode, message", [
    ("10.0.0.5        vm\n", 0, "not a loopback address"),
    ("", 2, "does not resolve"),
])
def test_cluster_refuses_a_host_name_off_loopback(getent_stdout, returncode, message,
                                                  monkeypatch):
    def fake_run(argv, **kwargs):
        assert argv[:2] == ["getent", "hosts"]
        return subprocess.CompletedProcess(argv, returncode, getent_stdout, "")

    monkeypatch.setattr(cluster.subprocess, "run", fake_run)
    with pytest.raises(cluster.SlurmUnavailable, match=message):
        cluster.loopback_address("vm")
