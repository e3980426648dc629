"""What flushing the momentum buffer's subnormal entries buys (``bayes_sgd.training.sgd.SubnormalFlush``).

Trains the 784-800-10 network on N = 1000 images of the embedded mnist5k subset (100 per class; 1,000 more as the test set)
at the stated eps = 1, m = 0.9, where small batches die and leave subnormal momentum behind,
once with the trainer's flush (every ``sgd.FLUSH_EVERY`` steps) and once without, in this one
process and one BLAS thread, and prints ms per step of each, their ratio, and whether the two
runs' curves are identical and which weights differ (only ones below about 1e-30 can).

Usage::

    python scripts/benchmark_flush.py [--steps 2000] [--batch-sizes 1 10 30 100 1000]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np  # noqa: E402

from bayes_sgd import mlp  # noqa: E402
from bayes_sgd.training import sgd  # noqa: E402
from bayes_sgd.data import datasets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 10, 30, 100, 1000])
    parser.add_argument("--learning-rate", type=float, default=1.0)
    parser.add_argument("--momentum", type=float, default=0.9)
    args = parser.parse_args()

    images, labels = datasets.read_mnist5k(datasets.mnist5k_path())
    by_class = [np.nonzero(labels == k)[0] for k in range(10)]
    pick = np.concatenate([idx[:100] for idx in by_class])  # 100 training images per class
    rest = np.concatenate([idx[100:200] for idx in by_class])  # and 100 test images per class
    X, y = mlp.scale_pixels(images[pick]), labels[pick]
    X_test, y_test = mlp.scale_pixels(images[rest]), labels[rest]
    arch = mlp.Architecture(784, 800, 10)
    tiny = np.finfo(np.float32).tiny
    print(f"# eps = {args.learning_rate:g}, m = {args.momentum:g}, N = 1000, {args.steps} steps, 1 thread; "
          f"flush every {sgd.FLUSH_EVERY} steps")
    print("| B | final test accuracy | subnormal momentum entries without flush | ms per step, no flush | "
          "ms per step, flush | no flush / flush | curves identical | weights differing (largest magnitude) |")
    print("|---:|---:|---:|---:|---:|---:|---|---|")
    for b in args.batch_sizes:
        config = sgd.TrainingConfig(learning_rate=args.learning_rate, momentum=args.momentum, batch_size=b,
                                    steps=args.steps, seed=0, eval_points=2)
        ms, results = {}, {}
        for every in (sgd.FLUSH_EVERY, 0):
            start = time.perf_counter()
            results[every] = sgd.train(arch, X, y, X_test, y_test, config, flush_every=every)
            ms[every] = 1e3 * (time.perf_counter() - start) / args.steps
        flushed, kept = results[sgd.FLUSH_EVERY], results[0]
        metrics = [c for c in flushed.curve.columns if c != "seconds"]
        same = flushed.curve[metrics].equals(kept.curve[metrics])
        differ = flushed.parameters != kept.parameters
        largest = f" ({np.abs(kept.parameters[differ]).max():.1e})" if differ.any() else ""
        subnormal = int(((kept.velocity != 0) & (np.abs(kept.velocity) < tiny)).sum())
        print(f"| {b} | {kept.curve['test_accuracy'].iloc[-1]:.3f} | {subnormal} | {ms[0]:.3f} | "
              f"{ms[sgd.FLUSH_EVERY]:.3f} | {ms[0] / ms[sgd.FLUSH_EVERY]:.2f} | {'yes' if same else 'no'} | "
              f"{int(differ.sum())}{largest} |", flush=True)


if __name__ == "__main__":
    main()
