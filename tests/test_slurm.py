"""The shipped SLURM profile drives a real single-node SLURM cluster on localhost.

The first workflows here are tiny throwaway Snakefiles written into a temporary directory
(proofs of the harness and the profile); then a tiny configuration of the real workflow runs
on the cluster and is compared with a local run. All of them run through profiles/slurm with
the CI overrides of profiles/slurm-ci layered on top. Every snakemake run is killed after
SNAKEMAKE_TIMEOUT_S: the plugin never returns if it ends up querying job status with sacct,
which fails without slurmdbd.
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from bayes_sgd.logging_setup import job_origin
from bayes_sgd.tables import read_table
from slurm_fixture import cluster, slurm_cluster  # noqa: F401  (pytest fixture)
from workflow_helpers import SNAKEFILE, snakemake, write_config

REPO = Path(__file__).resolve().parents[1]
PROFILES = REPO / "profiles"
SNAKEMAKE_TIMEOUT_S = 300


def slurm_argv(*args: str) -> list[str]:
    """snakemake through profiles/slurm + profiles/slurm-ci, killed after SNAKEMAKE_TIMEOUT_S."""
    return [
        "timeout", "-s", "KILL", str(SNAKEMAKE_TIMEOUT_S),
        sys.executable, "-m", "snakemake",
        "--profile", str(PROFILES / "slurm"),
        "--workflow-profile", str(PROFILES / "slurm-ci"),
        *args,
    ]


def snakemake_on_slurm(workdir: Path, slurm, *args: str) -> subprocess.CompletedProcess:
    """Run snakemake in ``workdir`` through profiles/slurm + profiles/slurm-ci."""
    return subprocess.run(
        slurm_argv(*args), cwd=workdir, env=slurm.env, capture_output=True, text=True,
        timeout=SNAKEMAKE_TIMEOUT_S + 30,
    )


def explain(done: subprocess.CompletedProcess, slurm) -> str:
    return (
        f"snakemake exited {done.returncode}"
        + (" (killed by the hard timeout)" if done.returncode in (124, 137) else "")
        + f"\n--- stderr (tail) ---\n{done.stderr[-6000:]}\n{slurm.logs(tail=15)}"
    )


def scontrol_job(slurm, job_id: str) -> dict[str, str]:
    """The fields of ``scontrol show job`` (key=value pairs)."""
    done = subprocess.run(
        ["scontrol", "--oneliner", "show", "job", job_id], env=slurm.env, capture_output=True,
        text=True, timeout=30,
    )
    fields = dict(re.findall(r"(\w+)=(\S*)", done.stdout))
    assert "JobState" in fields, f"scontrol knows no job {job_id}: {done.stdout}{done.stderr}"
    return fields


def job_state(slurm, job_id: str) -> str:
    return scontrol_job(slurm, job_id)["JobState"]


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


def test_job_logs_start_with_the_slurm_job_id_and_host(monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.delenv("SLURM_STEP_ID", raising=False)
    assert re.match(r"SLURM job id none on host \S+ \(pid \d+\)$", job_origin())
    monkeypatch.setenv("SLURM_JOB_ID", "4711")
    monkeypatch.setenv("SLURM_STEP_ID", "2")
    assert job_origin().startswith("SLURM job id 4711 step 2 on host ")


# The real workflow, tiny: Figure 4 from two runs (B = 5 and full batch) on 50 images.
TINY_FIGURE_4 = {
    "mlp": {
        "hidden_units": 16,
        "eval_points": 3,
        "figure_4": {"n_train": 50, "learning_rate": 0.5, "momentum": 0.9, "steps": 30,
                     "l2": 0.0, "batch_sizes": [5, 50], "seeds": [0]},
    },
    "plot": {"formats": ["png"], "dpi": 50},
}
RUNS = [f"results/runs/mnist5k/paper/N50/eps0.5_m0.9_B{b}_l20_T30_s0.parquet" for b in (5, 50)]
COLLECTED = [f"results/sgd/mnist5k/figure_4_{kind}.parquet" for kind in ("runs", "final", "curves")]
TABLES = ["results/data/mnist5k.parquet", "results/subsets/mnist5k/N50_seed0.parquet", *RUNS, *COLLECTED]
FIGURE_4 = "results/figures/mnist5k/figure_4.png"
WALL_TIME_COLUMNS = ["seconds"]  # differ between any two runs; everything else must not
JOB_ID = re.compile(r"SLURM job id (\S+) ")


def slurm_job_id(log: Path) -> str:
    """The SLURM job id a job's log starts with ('none' for a job run outside SLURM)."""
    match = JOB_ID.search(log.read_text().splitlines()[0])
    assert match, f"{log} does not start with its SLURM job id:\n{log.read_text()[:500]}"
    return match.group(1)


@pytest.mark.slurm
@pytest.mark.slow
def test_real_workflow_on_slurm_equals_a_local_run(tmp_path, slurm_cluster):
    on_slurm, local = tmp_path / "slurm", tmp_path / "local"
    for workdir in (on_slurm, local):
        write_config(workdir, TINY_FIGURE_4)

    # The cluster run spends most of its time waiting for the plugin's status checks: do the
    # local run meanwhile.
    # Submitted from a process that may run on one CPU only: a cluster run is not held to the
    # submitting machine's CPUs (bayes_sgd.local_cores caps local runs only), so the group
    # below still asks SLURM for both runs' CPUs at once.
    console = tmp_path / "slurm_console.txt"
    one_cpu = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    with open(console, "w") as out:
        proc = subprocess.Popen([*one_cpu, *slurm_argv("--snakefile", str(SNAKEFILE), FIGURE_4)], cwd=on_slurm,
                                env=slurm_cluster.env, stdout=out, stderr=subprocess.STDOUT)
    try:
        snakemake(local, "--cores", "1", FIGURE_4, timeout=SNAKEMAKE_TIMEOUT_S)
    finally:
        proc.wait(timeout=SNAKEMAKE_TIMEOUT_S + 30)  # `timeout -s KILL` ends it before that
    done = subprocess.CompletedProcess(proc.args, proc.returncode, "", console.read_text())
    assert done.returncode == 0, explain(done, slurm_cluster)
    assert "bayes-sgd: --cores" not in done.stderr  # no local core cap was applied

    # Compute jobs ran as SLURM jobs that completed; the two training runs in one group
    # submission; collection and plot (local rules) in snakemake's own process.
    logs = on_slurm / "logs"
    train_ids = {slurm_job_id(logs / "train_mlp" / Path(run).relative_to("results/runs").with_suffix(".log"))
                 for run in RUNS}
    prepare_id = slurm_job_id(logs / "prepare_dataset" / "mnist5k.log")
    assert len(train_ids) == 1, f"train_mlp jobs not in one group submission: {train_ids}"
    (train_id,) = train_ids
    assert train_id.isdigit() and prepare_id.isdigit() and train_id != prepare_id
    assert job_state(slurm_cluster, train_id) == "COMPLETED"
    # The group asked SLURM for what its runs declare (scaled from N, B and steps), both
    # running at once: the CPUs and memory of both, the runtime of the longer.
    declared = [dict(re.findall(r"(mem_mb|runtime)=(\d+)", line))
                for line in done.stderr.splitlines() if line.startswith("        resources: ")]
    assert len(declared) == 2 and all(int(d["mem_mb"]) > 100 for d in declared), declared  # not the CI default
    job = scontrol_job(slurm_cluster, train_id)
    assert job["NumCPUs"] == "2"
    assert job["MinMemoryNode"] == f"{sum(int(d['mem_mb']) for d in declared)}M"
    assert job["TimeLimit"] == f"00:{max(int(d['runtime']) for d in declared):02d}:00"
    assert slurm_job_id(logs / "collect_sgd_runs" / "mnist5k_figure_4.log") == "none"
    assert slurm_job_id(logs / "plot_figure_4" / "mnist5k.log") == "none"
    assert slurm_job_id(local / "logs" / "prepare_dataset" / "mnist5k.log") == "none"

    # The same tables as the local run, bit for bit apart from wall times.
    for table in TABLES:
        mine, theirs = (read_table(workdir / table) for workdir in (on_slurm, local))
        pd.testing.assert_frame_equal(
            mine.drop(columns=WALL_TIME_COLUMNS, errors="ignore"),
            theirs.drop(columns=WALL_TIME_COLUMNS, errors="ignore"),
            check_exact=True, obj=table,
        )
    final = read_table(on_slurm / COLLECTED[1])
    assert sorted(final["batch_size"]) == [5, 50] and (final["step"] == final["steps"]).all()
    assert (on_slurm / FIGURE_4).stat().st_size > 1000


def test_training_resources_follow_the_configured_network(tmp_path):
    """train_mlp's runtime and mem_mb are bayes_sgd.resources' requests for its own run and the
    configured network (their behaviour is tested in test_resources.py): a wider network asks
    for more memory, a longer run for more time."""
    from bayes_sgd import resources

    runs = {  # (N, B, steps) -> path
        (1000, 10, 10000): "results/runs/mnist5k/paper/N1000/eps1_m0.9_B10_l20_T10000_s0.parquet",
        (1000, 1000, 100000): "results/runs/mnist5k/paper/N1000/eps0.1_m0.9_B1000_l20_T100000_s0.parquet",
    }
    declared = {}
    for hidden_units in (800, 4000):
        write_config(tmp_path, {"mlp": {"eval_points": 25, "hidden_units": hidden_units}})
        out = snakemake(tmp_path, "-n", *runs.values(), timeout=SNAKEMAKE_TIMEOUT_S).stdout
        for block in out.split("rule train_mlp:")[1:]:
            output = re.search(r"output: ([^,\s]+)", block).group(1)  # the run table (then its weights)
            declared[hidden_units, output] = {k: int(v) for k, v in re.findall(r"\b(mem_mb|runtime)=(\d+)", block)}
        arch = resources.architecture(hidden_units)
        for (n, b, steps), path in runs.items():
            assert declared[hidden_units, path] == {
                "runtime": resources.train_mlp_runtime_minutes(n, b, steps, 25, arch),
                "mem_mb": resources.train_mlp_mem_mb(n, b, arch),
            }, path
    short, long = runs.values()
    assert declared[800, short]["runtime"] < declared[800, long]["runtime"]
    assert declared[800, long]["mem_mb"] < declared[4000, long]["mem_mb"]
