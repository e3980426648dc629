"""How much a full-batch SGD step gains from more BLAS threads: the speed-up behind the rule
"a training job's threads follow its batch size" (``bayes_sgd.resources``).

For each full batch B = N of the 784-800-10 network, one step (forward, backward with the
momentum fused into the BLAS call, update; :func:`bayes_sgd.training.sgd.sgd_step`) is timed with 1, 2,
... T BLAS threads, each in a fresh process pinned to that many CPUs (a BLAS fixes its thread
count when it loads), and printed as ms per step and the speed-up over one thread measured in
the same run.

Usage::

    python scripts/benchmark_threads.py                     # T = the CPUs of this process
    python scripts/benchmark_threads.py --threads 1 2 4 8 --batch-sizes 1000 10000 50000

The ratio is only meaningful on an otherwise idle machine: a busy core slows the run with
more threads most.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def child(batch_size: int, threads: int, repeats: int) -> None:
    """Time one full-batch step with ``threads`` BLAS threads (run in its own process)."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:threads])
    sys.path.insert(0, str(SRC))
    import time

    import numpy as np

    from bayes_sgd.mlp import Architecture, GradientWorkspace, initialise
    from bayes_sgd.training.sgd import sgd_step

    arch = Architecture(784, 800, 10)
    rng = np.random.default_rng(1)
    X = rng.random((batch_size, 784), dtype=np.float32) * (rng.random((batch_size, 784)) < 0.2)
    y = rng.integers(0, 10, size=batch_size)
    w = initialise(arch, rng)
    v = np.zeros_like(w)
    ws = GradientWorkspace(arch, batch_size)
    ws.load(X, y)
    sgd_step(ws, w, v, 1e-3, 0.9)
    inner = max(2, int(2.0 / (2.8e-5 * batch_size + 4e-4)) // repeats)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(inner):
            sgd_step(ws, w, v, 1e-3, 0.9)
        best = min(best, (time.perf_counter() - t) / inner)
    print(json.dumps({"ms": 1e3 * best}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    parser.add_argument("--threads", type=int, nargs="+", default=list(range(1, cpus + 1)),
                        help="thread counts to time (default: 1 .. the CPUs of this process)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1000, 5000, 10000],
                        help="full batches B = N to time")
    parser.add_argument("--repeats", type=int, default=3, help="tries per measurement (the best is kept)")
    parser.add_argument("--child", type=int, nargs=2, metavar=("B", "T"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child, args.repeats)
        return
    threads = sorted(set(args.threads) | {1})
    if max(threads) > cpus:
        parser.error(f"--threads {max(threads)}: this process has only {cpus} CPUs")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# full-batch SGD step, 784-800-10 MLP; {cpus} CPUs; load average {load:.2f} at start")
    print("| B = N | threads | ms per step | speed-up over 1 thread |")
    print("|---:|---:|---:|---:|")
    for b in args.batch_sizes:
        base = None
        for t in threads:
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(b), str(t), "--repeats", str(args.repeats)],
                capture_output=True, text=True, check=True,
            )
            ms = json.loads(out.stdout.strip().splitlines()[-1])["ms"]
            base = base or ms
            print(f"| {b} | {t} | {ms:.1f} | {base / ms:.2f} |", flush=True)


if __name__ == "__main__":
    main()
