#!/usr/bin/env python
"""Time the exact logistic-regression fits of paper Section 3, per lambda, on one core.

Builds the 0-versus-1 task as the workflow does (800 training images; mnist5k: its 200 test
images, mnist: 5000 + 5000 remaining training-split images), then walks the lambda grid from
strong to weak regularisation for random and informative labels and reports, per lambda, the
Newton fit alone and the whole step (fit + Laplace evidence + largest Hessian eigenvalue +
train/test evaluation). BLAS is pinned to one thread before NumPy loads.

    python scripts/benchmark_logistic.py --dataset mnist5k
    python scripts/benchmark_logistic.py --dataset mnist --mnist-dir ../shared/data/mnist
"""

from __future__ import annotations

import argparse
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import time  # noqa: E402

import numpy as np  # noqa: E402

from bayes_sgd import logistic  # noqa: E402
from bayes_sgd.data import datasets
from bayes_sgd.laplace import laplace_log_evidence  # noqa: E402
from bayes_sgd.data.labels import binary_task  # noqa: E402


def load_task(args) -> tuple[np.ndarray, dict, np.ndarray, dict]:
    if args.dataset == "mnist5k":
        images, labels = datasets.read_mnist5k(datasets.mnist5k_path())
        splits = datasets.load_mnist5k(images, labels, 100, np.random.default_rng(0))
        test_labels = splits["test"].labels
        test_per_class = None
    else:
        splits, _ = datasets.load_idx_dataset(args.mnist_dir, datasets.MNIST_SHA256)
        test_labels = None
        test_per_class = 5000
    task = binary_task(splits["train"].labels, test_labels, [0, 1], 400, test_per_class, args.seed)
    images = {name: split.images for name, split in splits.items()}
    (train_pixels, train_labels), (test_pixels, test_labels) = (
        logistic.task_arrays(images, task, split) for split in ("train", "test")
    )
    return (
        logistic.design_matrix(train_pixels, 255.0), train_labels,
        logistic.design_matrix(test_pixels, 255.0), test_labels,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=["mnist5k", "mnist"], default="mnist5k")
    parser.add_argument("--mnist-dir", default="../shared/data/mnist", help="directory of the MNIST IDX files")
    parser.add_argument("--lambda-min", type=float, default=1e-8)
    parser.add_argument("--lambda-max", type=float, default=1e3)
    parser.add_argument("--per-decade", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    X_train, train_labels, X_test, test_labels = load_task(args)
    lambdas = logistic.lambda_grid(args.lambda_min, args.lambda_max, args.per_decade)
    print(
        f"{args.dataset}: X_train {X_train.shape[0]} x {X_train.shape[1]}, X_test {X_test.shape[0]} x "
        f"{X_test.shape[1]}, {len(lambdas)} lambdas in [{lambdas[0]:g}, {lambdas[-1]:g}], one BLAS thread"
    )
    print(f"{'labels':<12} {'newton median':>14} {'newton max':>11} {'step median':>12} {'step max':>9} {'total':>7} {'steps':>6}")
    for kind in train_labels:
        y, y_test = train_labels[kind], test_labels[kind]
        fit_times, step_times, iterations = [], [], 0
        step_start = time.perf_counter()
        for lam, fit, seconds in logistic.fit_lambda_path(X_train, y, lambdas):
            laplace_log_evidence(fit.cost, None, lam, cholesky_factor=fit.hessian_cholesky)
            logistic.largest_hessian_eigenvalue(fit)
            logistic.evaluate(fit.weights, X_train, y)
            logistic.evaluate(fit.weights, X_test, y_test)
            now = time.perf_counter()
            fit_times.append(seconds)
            step_times.append(now - step_start)
            iterations += fit.newton_iterations
            step_start = now
        print(
            f"{kind:<12} {np.median(fit_times):>13.3f}s {max(fit_times):>10.3f}s {np.median(step_times):>11.3f}s "
            f"{max(step_times):>8.3f}s {sum(step_times):>6.2f}s {iterations:>6d}"
        )


if __name__ == "__main__":
    main()
