"""scripts/gpu_check.sh, the prepared device run, on a CPU with its smoke settings: every phase
finishes and writes its tables, wheels are installed only where the package is missing, and a
full run is refused without its MNIST folder."""

from __future__ import annotations

import base64
import csv
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("jax", reason="the device run needs the JAX backend: pip install -e '.[jax]'")

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "gpu_check.sh"


def make_wheel(folder: Path, name: str, version: str) -> Path:
    """A minimal pure-Python wheel of one module ``name`` (what pip download would bring)."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f"VERSION = {version!r}\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    files[f"{dist}/RECORD"] = "\n".join(record + [f"{dist}/RECORD,,"]) + "\n"
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for path, text in files.items():
            z.writestr(path, text)
    return wheel


def run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHON=sys.executable)
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_the_smoke_run_writes_every_table_and_installs_only_missing_wheels(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels, "bayes_sgd_probe", "0.1")  # missing: installed
    make_wheel(wheels, "pyyaml", "0.0.1")  # PyYAML is installed: skipped, not downgraded
    out = tmp_path / "out"
    proc = run("--smoke", "--wheels", str(wheels), "--out", str(out), "--cores", "2")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    installed = (out / "wheels.txt").read_text().splitlines()
    assert installed == [f"install {wheels}/bayes_sgd_probe-0.1-py3-none-any.whl",
                         f"skip {wheels}/pyyaml-0.0.1-py3-none-any.whl"]
    with open(out / "timings.csv") as f:
        timings = list(csv.DictReader(f))
    assert [t["phase"] for t in timings] == [
        "benchmark_steps", "benchmark_large_batches", "benchmark_overhead", "figure_4", "full_batch_run"]
    assert all(t["status"] == "ok" for t in timings)
    with open(out / "runs.csv") as f:
        runs = list(csv.DictReader(f))
    # config/smoke.yaml's Figure 4 (B = 5, 10, 40, one seed) and the full-batch run
    assert sorted(r["run"].rsplit("/", 1)[1] for r in runs) == [
        "eps0.5_m0.9_B10_l20_T20_s0.parquet", "eps0.5_m0.9_B40_l20_T20_s0.parquet",
        "eps0.5_m0.9_B5_l20_T20_s0.parquet", "eps1_m0.9_B1000_l20_T20_s0.parquet"]
    assert all(r["status"] == "ok" and len(r["weights_sha256"]) == 64 for r in runs)
    with open(out / "benchmark_steps.csv") as f:
        steps = list(csv.DictReader(f))
    assert [int(r["batch_size"]) for r in steps] == [1, 10] and all(float(r["jax_ms"]) > 0 for r in steps)
    overhead = (out / "benchmark_overhead.csv").read_text()
    assert overhead.splitlines()[0].startswith("cache,device,jax") and "\nwarm,cpu," in overhead
    summary = (out / "summary.md").read_text()
    assert "backend cpu" in summary and "| figure_4 " in summary and "JAX ms per step" in summary
    # the workflow ran in a folder of its own, not in the checkout
    assert not (REPO / "results/runs/mnist5k/paper/N1000/eps1_m0.9_B1000_l20_T20_s0.parquet").exists()
    assert f"results: {out}" in proc.stdout


def test_a_full_run_needs_its_mnist_folder_and_known_arguments(tmp_path):
    proc = run("--out", str(tmp_path))
    assert proc.returncode == 2 and "--mnist DIR is needed" in proc.stderr
    proc = run("--mnist", str(tmp_path / "nowhere"), "--out", str(tmp_path))
    assert proc.returncode == 2 and "is not a folder" in proc.stderr
    proc = run("--fast")
    assert proc.returncode == 2 and "unknown argument --fast" in proc.stderr
