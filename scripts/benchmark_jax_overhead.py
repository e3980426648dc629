"""What a JAX training job pays besides its steps, and what grouping the seeds saves.

Every number comes from fresh Python processes started by this script, as Snakemake starts jobs,
on JAX's default device (``--device`` names it only in the output), on random MNIST-like data
(N examples of 784 sparse pixels) and the 784-800-10 network:

1. **Per-job overhead**, one process per row: the process start (interpreter, NumPy, the data),
   the import of JAX and the trainer, and the first run of one step (compiling the training
   segment and the evaluation, one step, two evaluations), with the persistent compilation cache
   (:mod:`bayes_sgd.training.jax_cache`) off, cold (an empty folder) and warm (the folder the cold
   process filled). The cache's hits and misses are JAX's own counts.
2. **A group of seeds against single runs**: ``--seeds`` runs of ``--steps`` steps at ``--batch-size``,
   as one process per seed (``sgd_jax.train``, the cache warm) and as one process training them
   together (``sgd_jax.train_seeds``, vmap), each timed whole, and the ratio.

Usage::

    python scripts/benchmark_jax_overhead.py [--n-train 1000] [--batch-size 100] [--steps 500]
        [--seeds 5] [--csv FILE]

Prints two Markdown tables; ``--csv`` writes the per-job rows (for
``scripts/estimate_paper_cost.py --device gpu``, from a GPU machine's run).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")

CHILD = textwrap.dedent("""
    import json, sys, time
    t_start = time.perf_counter()
    import numpy as np
    args = json.loads(sys.argv[1])
    rng = np.random.default_rng(1)
    n = args["n_train"]
    X = (rng.random((n, 784), dtype=np.float32) * (rng.random((n, 784)) < 0.2)).astype(np.float32)
    y = rng.integers(0, 10, size=n)
    t_data = time.perf_counter()
    import jax
    from bayes_sgd.mlp import Architecture
    from bayes_sgd.training import jax_cache, sgd, sgd_jax
    counter = jax_cache.enable_compilation_cache(args["cache"])
    t_import = time.perf_counter()
    config = sgd.TrainingConfig(learning_rate=0.1, momentum=0.9, batch_size=args["batch_size"], steps=args["steps"],
                                seed=0, eval_points=args["eval_points"])
    configs = [sgd.TrainingConfig(**{**config.__dict__, "seed": s}) for s in args["seeds"]]
    arch = Architecture()
    if args["group"]:
        results = sgd_jax.train_seeds(arch, X, y, X, y, configs)
    else:
        results = [sgd_jax.train(arch, X, y, X, y, c) for c in configs]
    t_run = time.perf_counter()
    print(json.dumps({"data_s": t_data - t_start, "import_s": t_import - t_data, "run_s": t_run - t_import,
                      "hits": counter.hits if counter else None, "misses": counter.misses if counter else None,
                      "device": str(jax.devices()[0].device_kind), "jax": jax.__version__}))
""")


def child(n_train: int, batch_size: int, steps: int, seeds: list[int], group: bool, cache: str | None,
          eval_points: int) -> dict:
    """Run one job-like process; its own timings plus the parent's wall time of the whole process."""
    args = dict(n_train=n_train, batch_size=batch_size, steps=steps, seeds=seeds, group=group, cache=cache,
                eval_points=eval_points)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")])),
               XLA_PYTHON_CLIENT_PREALLOCATE="false")
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(args)], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(f"benchmark process failed:\n{out.stderr[-3000:]}")
    record = json.loads(out.stdout.strip().splitlines()[-1])
    record["wall_s"] = wall
    record["start_s"] = wall - record["import_s"] - record["run_s"]  # interpreter, NumPy, data, exit
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-train", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--steps", type=int, default=500, help="steps of each run in the group comparison")
    parser.add_argument("--seeds", type=int, default=5, help="runs in the group comparison")
    parser.add_argument("--csv", default=None, help="also write the per-job rows to this CSV file")
    args = parser.parse_args()

    print(f"per-job overhead: N = {args.n_train}, B = {args.batch_size}, 784-800-10, one step, one process per row")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cache = str(Path(tmp) / "jax_cache")
        for label, folder in (("off", None), ("cold", cache), ("warm", cache)):
            r = child(args.n_train, args.batch_size, 1, [0], False, folder, 1)
            rows.append({"cache": label, **r})
        print(f"device: {rows[0]['device']}, JAX {rows[0]['jax']}")
        print()
        print("| compilation cache | process start (s) | import JAX (s) | compile + first step (s) | whole job (s) "
              "| programs loaded / compiled | whole job / cache off |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            counts = "-" if r["hits"] is None else f"{r['hits']} / {r['misses']}"
            print(f"| {r['cache']} | {r['start_s']:.2f} | {r['import_s']:.2f} | {r['run_s']:.2f} | {r['wall_s']:.2f} "
                  f"| {counts} | {r['wall_s'] / rows[0]['wall_s']:.2f} |", flush=True)

        seeds = list(range(args.seeds))
        print()
        print(f"{args.seeds} seeds of {args.steps} steps at B = {args.batch_size} (N = {args.n_train}), the cache warm")
        print()
        singles = [child(args.n_train, args.batch_size, args.steps, [s], False, cache, 5) for s in seeds]
        group = child(args.n_train, args.batch_size, args.steps, seeds, True, cache, 5)
        single_wall = sum(r["wall_s"] for r in singles)
        print("| how | processes | wall time (s) | training (s) | single runs / this |")
        print("|---|---:|---:|---:|---:|")
        print(f"| one job per seed | {len(singles)} | {single_wall:.2f} | {sum(r['run_s'] for r in singles):.2f} | 1.00 |")
        print(f"| one job for the group (vmap) | 1 | {group['wall_s']:.2f} | {group['run_s']:.2f} "
              f"| {single_wall / group['wall_s']:.2f} |")
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            fields = ["cache", "device", "jax", "start_s", "import_s", "run_s", "wall_s", "hits", "misses"]
            writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()
