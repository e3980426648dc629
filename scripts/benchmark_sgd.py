"""Time one SGD step of the 784-800-10 MLP on one thread, next to the machine's own floors.

A step is what the trainer's inner loop does: draw the batch (B < N), gather it, forward,
backward with the momentum update fused into the gradient ``gemm``, and the weight update
(:func:`bayes_sgd.training.sgd.sgd_step`). N = 1000 as in the paper, so B = 1000 is the full batch.

The floors are measured here, single-threaded:

- compute: 2.56 MFLOP per example per step (forward ``2*(784*800 + 800*10)`` plus backward
  ``2*(784*800 + 2*800*10)`` multiply-adds), at the rate of a float32 ``sgemm`` of the shape
  of the first layer (B = 1000: ``[1000 x 784] @ [784 x 800]``);
- memory: the step reads and writes the first-layer momentum in the ``gemm`` and reads the
  momentum and reads and writes the weights in the ``axpy``: 5 passes over 2.54 MB of float32
  parameters, about 12.7 MB, at the bandwidth of a float32 ``axpy`` over the parameter vector.

Usage: ``python scripts/benchmark_sgd.py [--repeats 5] [--threads 1] [--backend numpy|jax]
[--n-train 1000] [--batch-sizes 1,10,100,1000] [--no-numpy] [--csv FILE]``. Prints a Markdown table;
``--csv`` also writes its rows (B, ms per step of each backend, the device) for
``scripts/estimate_paper_cost.py --device gpu``.

``--n-train N`` draws the random training set of N examples (the largest batch is then N, the
full batch); ``--no-numpy`` times the JAX trainer alone (on a GPU machine, where NumPy's step
at B = 50,000 is of no interest); its rows then have no NumPy columns.

``--threads T``: T BLAS threads (and the process pinned to T CPUs, so XLA's thread pool uses
no more either); the floors are then measured with T threads too.

``--backend jax`` adds the JAX trainer (:mod:`bayes_sgd.training.sgd_jax`) on JAX's default device
beside NumPy: the ms per step of its compiled loop (a segment of steps timed as a whole,
batches drawn on the device, float32 at precision HIGHEST) and the ratio NumPy / JAX.
"""

import argparse
import os

_early = argparse.ArgumentParser(add_help=False)
_early.add_argument("--threads", type=int, default=1)
THREADS = _early.parse_known_args()[0].threads
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(THREADS)
if hasattr(os, "sched_setaffinity") and THREADS <= len(os.sched_getaffinity(0)):
    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:THREADS])
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import platform  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from scipy.linalg import blas  # noqa: E402

from bayes_sgd.mlp import Architecture, GradientWorkspace, initialise  # noqa: E402
from bayes_sgd.training.batches import sample_batch  # noqa: E402
from bayes_sgd.training.sgd import sgd_step  # noqa: E402

N_TRAIN = 1000
BATCH_SIZES = (1, 10, 100, 1000)


def flops_per_example(arch: Architecture) -> int:
    d, h, c = arch.n_inputs, arch.n_hidden, arch.n_classes
    forward = 2 * (d * h + h * c)
    backward = 2 * (d * h + 2 * h * c)  # dW1, dW2 and dh = dz W2^T (the input gradient is not needed)
    return forward + backward


def traffic_bytes(arch: Architecture) -> int:
    return 5 * arch.n_params * 4


def best_time(fn, repeats: int, inner: int) -> float:
    """Best (least disturbed) mean time of ``inner`` calls of ``fn`` over ``repeats`` tries."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - t) / inner)
    return min(times)


def sgemm_rate(repeats: int) -> float:
    """float32 FLOP/s of one [1000 x 784] @ [784 x 800] sgemm on Fortran-ordered arrays."""
    rng = np.random.default_rng(0)
    a = np.asfortranarray(rng.random((1000, 784), dtype=np.float32))
    b = np.asfortranarray(rng.random((784, 800), dtype=np.float32))
    c = np.zeros((1000, 800), dtype=np.float32, order="F")
    t = best_time(lambda: blas.sgemm(1.0, a, b, 0.0, c, overwrite_c=1), repeats, 10)
    return 2 * 1000 * 784 * 800 / t


def axpy_bandwidth(arch: Architecture, repeats: int) -> float:
    """Bytes/s of a float32 axpy over the parameter vector (reads x and y, writes y)."""
    x = np.full(arch.n_params, 1e-7, dtype=np.float32)
    y = np.zeros(arch.n_params, dtype=np.float32)
    t = best_time(lambda: blas.saxpy(x, y, a=-1.0), repeats, 200)
    return 3 * arch.n_params * 4 / t


def random_data(arch: Architecture, n_train: int) -> tuple[np.ndarray, np.ndarray]:
    """``n_train`` random sparse images (about 20% of pixels on, like MNIST's) and labels."""
    rng = np.random.default_rng(1)
    X = (rng.random((n_train, arch.n_inputs), dtype=np.float32) * (rng.random((n_train, arch.n_inputs)) < 0.2))
    return X.astype(np.float32), rng.integers(0, arch.n_classes, size=n_train)


def step_time(arch: Architecture, batch_size: int, repeats: int, n_train: int = N_TRAIN) -> float:
    rng = np.random.default_rng(1)
    X, y = random_data(arch, n_train)
    w = initialise(arch, rng)
    v = np.zeros_like(w)
    ws = GradientWorkspace(arch, batch_size)
    if batch_size == n_train:
        ws.load(X, y)

    def step():
        if batch_size < n_train:
            ws.load(X, y, sample_batch(rng, n_train, batch_size))
        sgd_step(ws, w, v, 1e-3, 0.9)

    inner = max(3, int(0.5 / (1e-4 + 2.5e-5 * batch_size)) // 10)
    return best_time(step, repeats, inner)


def jax_step_time(arch: Architecture, batch_size: int, repeats: int, n_train: int = N_TRAIN) -> float:
    """ms per step of the JAX trainer's compiled loop (a segment of steps, timed whole)."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    from bayes_sgd.training import sgd_jax
    from bayes_sgd.training.sgd import TrainingConfig

    rng = np.random.default_rng(1)
    X, y = random_data(arch, n_train)
    config = TrainingConfig(learning_rate=1e-3, momentum=0.9, batch_size=batch_size, steps=10**6, seed=0)
    segment = sgd_jax.make_segment(arch, config, n_train, lax.Precision.HIGHEST, given_batches=False)
    constants = sgd_jax.step_constants(config, n_train)
    Xd, yd = jnp.asarray(X), jnp.asarray(y, dtype=jnp.int32)
    key = sgd_jax.batch_key(0)
    state = [jnp.asarray(initialise(arch, rng)), None, 0]
    state[1] = jnp.zeros_like(state[0])
    inner = max(3, int(0.5 / (1e-4 + 2.5e-5 * batch_size)) // 10)

    def run():
        w, v, t, _ = segment(state[0], state[1], jnp.int32(state[2]), jnp.int32(state[2] + inner), Xd, yd, key, constants)
        jax.block_until_ready(w)
        state[0], state[1], state[2] = w, v, int(t)

    return best_time(run, repeats, 1) / inner


def jax_eval_time_per_image(arch: Architecture, repeats: int, n_train: int = N_TRAIN) -> float:
    """Seconds per image of the JAX trainer's evaluation (accuracy and cross-entropy, in chunks of 1,000)."""
    import jax.numpy as jnp
    from jax import lax

    from bayes_sgd.training import sgd_jax

    X, y = random_data(arch, n_train)
    Xd, yd = jnp.asarray(X), jnp.asarray(y, dtype=jnp.int32)
    w = jnp.asarray(initialise(arch, np.random.default_rng(1)))
    chunk = sgd_jax.make_evaluate(arch, lax.Precision.HIGHEST)
    return best_time(lambda: sgd_jax.evaluate_in_chunks(chunk, w, Xd, yd, 1000), repeats, 1) / n_train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="tries per measurement (the best is kept)")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads and CPUs of the process")
    parser.add_argument("--backend", choices=("numpy", "jax"), default="numpy", help="jax: time the JAX trainer beside NumPy")
    parser.add_argument("--n-train", type=int, default=N_TRAIN, help="training examples (the full batch)")
    parser.add_argument("--batch-sizes", default=",".join(map(str, BATCH_SIZES)), help="comma-separated, each <= --n-train")
    parser.add_argument("--no-numpy", action="store_true", help="time the JAX trainer alone (needs --backend jax)")
    parser.add_argument("--csv", default=None, help="also write the rows to this CSV file")
    args = parser.parse_args()
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    if any(not 1 <= b <= args.n_train for b in batch_sizes):
        parser.error(f"--batch-sizes {args.batch_sizes}: each must be between 1 and --n-train {args.n_train}")
    if args.no_numpy and args.backend != "jax":
        parser.error("--no-numpy times the JAX trainer alone: add --backend jax")
    arch = Architecture()
    rate = sgemm_rate(args.repeats)
    bandwidth = axpy_bandwidth(arch, args.repeats)
    flops = flops_per_example(arch)
    traffic = traffic_bytes(arch)
    traffic_floor = traffic / bandwidth
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; {args.threads} BLAS thread(s)")
    print(f"{args.threads}-thread float32 sgemm [1000x784]@[784x800]: {rate / 1e9:.1f} GFLOP/s")
    print(f"{args.threads}-thread float32 axpy over the {arch.n_params} parameters: {bandwidth / 1e9:.1f} GB/s")
    print(f"per step: {flops / 1e6:.3f} MFLOP per example, {traffic / 1e6:.1f} MB of weight and momentum traffic")
    print(f"training set: {args.n_train} random examples")
    device = "cpu (numpy)"
    if args.backend == "jax":
        import jax

        device = str(jax.devices()[0].device_kind)
        print(f"JAX {jax.__version__} on {jax.devices()} ({device}), float32 at precision HIGHEST")
    eval_us = float("nan")
    if args.backend == "jax":
        eval_us = jax_eval_time_per_image(arch, args.repeats, args.n_train) * 1e6
        print(f"JAX evaluation: {eval_us:.3f} us per image ({args.n_train} images in chunks of 1,000)")
    print()
    columns = ([] if args.no_numpy else ["ms per step", "steps/s", "compute floor (ms)", "traffic floor (ms)",
                                         "step / max(floors)", "step / compute floor"])
    if args.backend == "jax":
        columns += ["JAX ms per step"] + ([] if args.no_numpy else ["NumPy / JAX"])
    print("| B | " + " | ".join(columns) + " |")
    print("|---:|" + "---:|" * len(columns))
    records = []
    for b in batch_sizes:
        record = {"batch_size": b, "n_train": args.n_train, "device": device, "numpy_ms": float("nan"), "jax_ms": float("nan"),
                  "jax_eval_us_per_image": eval_us}
        cells = []
        if not args.no_numpy:
            t = step_time(arch, b, args.repeats, args.n_train)
            compute_floor = b * flops / rate
            floor = max(compute_floor, traffic_floor)
            cells += [f"{t * 1e3:.3f}", f"{1 / t:.0f}", f"{compute_floor * 1e3:.3f}", f"{traffic_floor * 1e3:.3f}",
                      f"{t / floor:.2f}", f"{t / compute_floor:.2f}"]
            record["numpy_ms"] = t * 1e3
        if args.backend == "jax":
            tj = jax_step_time(arch, b, args.repeats, args.n_train)
            cells.append(f"{tj * 1e3:.3f}")
            if not args.no_numpy:
                cells.append(f"{t / tj:.2f}")
            record["jax_ms"] = tj * 1e3
        records.append(record)
        print(f"| {b} | " + " | ".join(cells) + " |", flush=True)
    if args.csv:
        import csv

        with open(args.csv, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(records[0]))
            writer.writeheader()
            writer.writerows(records)


if __name__ == "__main__":
    main()
