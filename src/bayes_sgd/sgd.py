"""Minibatch SGD with momentum for the MLP, as PAPER.md section 3 defines it.

Update rule (Smith & Le 2018, Section 4; Appendix D for momentum)::

    g <- (1/B) sum_{i in batch} grad ln-loss_i(w)  +  (l2 / N) w
    v <- m v + g
    w <- w - eps v

with the learning rate ``eps`` constant (never decayed, not scaled with ``B``). ``g`` is the
**mean** gradient of the cross-entropy over the batch, so one step equals the paper's
``-(eps/N) dC/dw`` with the summed cost ``C = H + (l2/2) |w|^2`` of section 1: the optional L2
term is in that summed-cost convention, ``(l2/N) w``, and it applies to every parameter, the
biases too (the Gaussian prior of section 1) **[our choice]**.

Batches: every step draws ``B`` distinct training examples uniformly at random, independently
of the other steps (:func:`sample_batch`); ``B = N`` is the full training set every step.

Randomness: the run seed feeds a :class:`numpy.random.SeedSequence` whose two children draw the
initialisation and the batches. The training subset itself is chosen elsewhere (its own seed),
so the seeds of one ``N`` share the subset and differ in initialisation and batch order.

Divergence: a step whose batch loss is not finite, or an evaluation that finds a non-finite
weight or training cross-entropy, stops the run; it is returned with status ``diverged`` and
the step at which that was seen, and never raises.

All arithmetic in the hot loop is in ``float32`` and allocation-free: the momentum update is
fused into the gradient's BLAS ``gemm`` (``v <- m v + x^T dh``, see
:class:`bayes_sgd.mlp.GradientWorkspace`), then one ``axpy`` adds the L2 term and one ``axpy``
moves the weights, all on a single flat parameter vector.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from bayes_sgd.datasets import split_arrays
from bayes_sgd.mlp import Architecture, GradientWorkspace, evaluate, initialise, scale_pixels

CURVE_COLUMNS = (
    "step",
    "epoch",
    "train_accuracy",
    "test_accuracy",
    "train_cross_entropy",
    "test_cross_entropy",
    "status",
    "diverged_step",
    "seconds",
)
CONFIG_COLUMNS = ("n_train", "learning_rate", "momentum", "batch_size", "l2", "steps", "seed")


@dataclass(frozen=True)
class TrainingConfig:
    """Everything that defines one SGD run besides the data.

    ``eval_points`` log-spaced evaluations between step 1 and ``steps`` (plus step 0 and the
    last step, see :func:`evaluation_steps`); ``eval_chunk`` rows are evaluated at a time.
    """

    learning_rate: float
    momentum: float
    batch_size: int
    steps: int
    seed: int
    l2: float = 0.0
    weight_init: str = "glorot_uniform"
    bias_init: float = 0.0
    eval_points: int = 25
    eval_chunk: int = 1000

    def __post_init__(self):
        if self.batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if self.steps < 1:
            raise ValueError("steps must be at least 1")
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError("momentum must lie in [0, 1)")
        if self.learning_rate <= 0.0:
            raise ValueError("learning_rate must be positive")
        if self.l2 < 0.0:
            raise ValueError("l2 must be non-negative")


@dataclass(frozen=True)
class TrainingResult:
    """What :func:`train` returns: the learning curve and the run's final state.

    ``parameters`` is the flat parameter vector ``w`` in the layout of
    :class:`bayes_sgd.mlp.Architecture` (``W1, b1, W2, b2``) and ``velocity`` the momentum
    buffer ``v`` after the last step taken (for a diverged run, the step that diverged; their
    values may then be non-finite).
    """

    curve: pd.DataFrame
    parameters: np.ndarray
    velocity: np.ndarray


@dataclass(frozen=True)
class Progress:
    """What the trainer reports to its ``progress`` callback."""

    step: int
    steps: int
    test_accuracy: float  # at the latest evaluation
    steps_per_second: float
    eta_seconds: float


def evaluation_steps(steps: int, n_points: int) -> np.ndarray:
    """Step 0, ``n_points`` log-spaced steps in ``[1, steps]`` (rounded, unique) and ``steps``."""
    if n_points < 1:
        raise ValueError("n_points must be at least 1")
    logspaced = np.rint(np.logspace(0.0, math.log10(steps), n_points)).astype(np.int64)
    return np.unique(np.concatenate([[0], logspaced, [steps]]))


def sample_batch(rng: np.random.Generator, n: int, batch_size: int) -> np.ndarray:
    """``batch_size`` distinct indices drawn uniformly from ``range(n)``.

    Every subset of size ``batch_size`` is equally likely. The order within the batch is not
    random (it does not matter for a mean gradient); ``batch_size == n`` returns ``arange(n)``
    without drawing. NumPy's ``Generator.choice`` without replacement is exact (a partial
    Fisher-Yates shuffle, or Floyd-style set sampling when ``n`` is large) and takes a few
    microseconds, well below the cost of a step.
    """
    if not 1 <= batch_size <= n:
        raise ValueError(f"batch_size must lie in [1, n={n}], got {batch_size}")
    if batch_size == n:
        return np.arange(n)
    return rng.choice(n, size=batch_size, replace=False, shuffle=False)


def training_data(
    dataset: pd.DataFrame, subset: np.ndarray, pixel_scale: float = 255.0, dtype=np.float32
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(X_train, y_train, X_test, y_test)`` for one run.

    ``dataset`` is a dataset table (:mod:`bayes_sgd.datasets`); ``subset`` indexes its train
    split (the seeded N-image training subset); the test set is the whole test split. Pixels
    are divided by ``pixel_scale``.
    """
    pool_X, pool_y = split_arrays(dataset, "train")
    test_X, test_y = split_arrays(dataset, "test")
    subset = np.asarray(subset, dtype=np.int64)
    return (
        scale_pixels(pool_X[subset], pixel_scale, dtype),
        pool_y[subset],
        scale_pixels(test_X, pixel_scale, dtype),
        test_y,
    )


def run_seeds(seed: int) -> tuple[np.random.SeedSequence, np.random.SeedSequence]:
    """The independent seed sequences of a run: (initialisation, batch order)."""
    init_seq, batch_seq = np.random.SeedSequence(seed).spawn(2)
    return init_seq, batch_seq


def initial_parameters(arch: Architecture, config: TrainingConfig, dtype=np.float32) -> np.ndarray:
    """The weights the run ``config`` starts from (its seed's initialisation stream)."""
    rng = np.random.default_rng(run_seeds(config.seed)[0])
    return initialise(arch, rng, config.weight_init, config.bias_init, dtype=dtype)


def sgd_step(
    ws: GradientWorkspace,
    w: np.ndarray,
    v: np.ndarray,
    learning_rate: float,
    momentum: float,
    l2_over_n: float = 0.0,
) -> float:
    """One update on the batch loaded in ``ws``, in place; returns the batch loss before it.

    ``v <- m v + grad L(w) + (l2/N) w`` then ``w <- w - eps v``.
    """
    loss = ws.gradient(w, v, beta=momentum)
    if l2_over_n:
        ws.axpy(w, v, a=l2_over_n)
    ws.axpy(v, w, a=-learning_rate)
    return loss


def train(
    arch: Architecture,
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    config: TrainingConfig,
    progress: Callable[[Progress], None] | None = None,
    progress_seconds: float = 10.0,
    progress_fraction: float = 0.05,
    dtype=np.float32,
) -> TrainingResult:
    """Train from scratch; return the learning curve (one row per evaluation) and final state.

    ``X_*`` are float inputs ``[n, n_inputs]`` (cast to ``dtype`` C order if needed), ``y_*``
    integer labels. Columns: :data:`CURVE_COLUMNS` then :data:`CONFIG_COLUMNS`. ``epoch`` is
    ``step * B / N``; ``seconds`` the wall time since training started. ``status`` and
    ``diverged_step`` describe the whole run and repeat on every row; a diverged run's last
    row is at ``diverged_step`` and has ``nan`` metrics (there is no finite network to
    evaluate). ``progress`` is called every ``progress_fraction`` of the steps and whenever
    ``progress_seconds`` have passed since its last call.
    """
    c = config
    X_train = np.ascontiguousarray(X_train, dtype=dtype)
    X_test = np.ascontiguousarray(X_test, dtype=dtype)
    y_train = np.asarray(y_train, dtype=np.intp)
    y_test = np.asarray(y_test, dtype=np.intp)
    n = X_train.shape[0]
    if c.batch_size > n:
        raise ValueError(f"batch_size {c.batch_size} exceeds the {n} training examples")

    w = initial_parameters(arch, c, dtype=dtype)
    batch_rng = np.random.default_rng(run_seeds(c.seed)[1])
    v = np.zeros_like(w)
    ws = GradientWorkspace(arch, c.batch_size, dtype=dtype)
    eval_at = evaluation_steps(c.steps, c.eval_points)
    next_eval = 1  # index into eval_at
    l2_over_n = c.l2 / n
    full_batch = c.batch_size == n
    if full_batch:
        ws.load(X_train, y_train)

    rows: list[dict] = []
    t0 = time.perf_counter()

    def record(step: int, metrics: tuple[float, float, float, float] | None) -> None:
        tr_acc, te_acc, tr_ce, te_ce = metrics if metrics is not None else (math.nan,) * 4
        rows.append(
            dict(
                step=step,
                epoch=step * c.batch_size / n,
                train_accuracy=tr_acc,
                test_accuracy=te_acc,
                train_cross_entropy=tr_ce,
                test_cross_entropy=te_ce,
                seconds=time.perf_counter() - t0,
            )
        )

    def measure() -> tuple[float, float, float, float] | None:
        """Train/test metrics at the current weights, or None if the network has diverged."""
        if not np.isfinite(w).all():
            return None
        tr_acc, tr_ce = evaluate(arch, w, X_train, y_train, c.eval_chunk)
        if not math.isfinite(tr_ce):
            return None
        te_acc, te_ce = evaluate(arch, w, X_test, y_test, c.eval_chunk)
        return tr_acc, te_acc, tr_ce, te_ce

    initial = measure()
    record(0, initial)
    diverged_step = -1 if initial is not None else 0
    report_every = max(1, int(c.steps * progress_fraction))
    last_report = time.perf_counter()
    step = 0
    # A diverging network overflows; that is detected from the loss and weights, not warned about.
    with np.errstate(over="ignore", invalid="ignore"):
        while diverged_step < 0 and step < c.steps:
            step += 1
            if not full_batch:
                ws.load(X_train, y_train, sample_batch(batch_rng, n, c.batch_size))
            loss = sgd_step(ws, w, v, c.learning_rate, c.momentum, l2_over_n)
            if not math.isfinite(loss):
                diverged_step = step
                record(step, None)
                break
            if step == eval_at[next_eval]:
                next_eval += 1
                metrics = measure()
                record(step, metrics)
                if metrics is None:
                    diverged_step = step
            if progress is not None and (
                step % report_every == 0 or time.perf_counter() - last_report >= progress_seconds
            ):
                last_report = time.perf_counter()
                rate = step / (last_report - t0)
                progress(
                    Progress(step, c.steps, rows[-1]["test_accuracy"], rate, (c.steps - step) / rate)
                )

    curve = pd.DataFrame(rows)
    curve["status"] = "ok" if diverged_step < 0 else "diverged"
    curve["diverged_step"] = diverged_step
    curve["n_train"] = n
    for key in ("learning_rate", "momentum", "batch_size", "l2", "steps", "seed"):
        curve[key] = getattr(c, key)
    curve = curve.astype(
        {"step": "int64", "diverged_step": "int64", "n_train": "int64", "batch_size": "int64",
         "steps": "int64", "seed": "int64", "learning_rate": "float64", "momentum": "float64",
         "l2": "float64"}
    )
    return TrainingResult(curve[list(CURVE_COLUMNS + CONFIG_COLUMNS)], w, v)


WEIGHT_COLUMNS = ("parameter", "velocity")


def weights_table(parameters: np.ndarray, velocity: np.ndarray) -> pd.DataFrame:
    """The final state as a table: float32 columns ``parameter`` (w) and ``velocity`` (v).

    One row per element of the flat parameter vector, in the layout of
    :class:`bayes_sgd.mlp.Architecture`; non-finite values (a diverged run) are kept as they are.
    """
    parameters = np.asarray(parameters)
    velocity = np.asarray(velocity)
    if parameters.ndim != 1 or parameters.shape != velocity.shape:
        raise ValueError(f"parameters {parameters.shape} and velocity {velocity.shape} must be flat and alike")
    return pd.DataFrame(
        {"parameter": parameters.astype(np.float32), "velocity": velocity.astype(np.float32)}
    )


def config_record(config: TrainingConfig) -> dict:
    """The configuration as a plain dict (for provenance records)."""
    return asdict(config)


# --- tables of several runs --------------------------------------------------------------------

RUN_KEYS = ("dataset", *CONFIG_COLUMNS)


def final_evaluations(runs: pd.DataFrame) -> pd.DataFrame:
    """The last row of every run in ``runs`` (rows of several curves, see :func:`train`).

    That is the row at ``step == steps``, or at ``diverged_step`` for a diverged run (whose
    metrics are then ``nan``). A run is identified by :data:`RUN_KEYS`.
    """
    keys = [k for k in RUN_KEYS if k in runs.columns]
    last = runs.sort_values([*keys, "step"]).groupby(keys, sort=True).tail(1)
    return last.reset_index(drop=True)


def summarise_final_accuracy(final: pd.DataFrame) -> pd.DataFrame:
    """Per configuration (all run keys but ``seed``): final test accuracy over the seeds.

    Columns: the configuration, ``n_runs``, ``n_diverged``, and over the runs that did not
    diverge ``n_ok``, ``mean_test_accuracy``, ``std_test_accuracy`` (ddof = 1, ``nan`` for a
    single run), ``min_test_accuracy``, ``max_test_accuracy``, ``mean_test_cross_entropy``,
    ``mean_train_accuracy``. Diverged runs are counted, not scored: a diverged network has no
    accuracy, and what to score it at is a choice the reader should see (Figure 4 marks them).
    """
    keys = [k for k in RUN_KEYS if k in final.columns and k != "seed"]
    rows = []
    for values, group in final.groupby(keys, sort=True):
        ok = group[group["status"] == "ok"]
        rows.append(
            dict(
                zip(keys, values),
                n_runs=len(group),
                n_diverged=int((group["status"] == "diverged").sum()),
                n_ok=len(ok),
                mean_test_accuracy=ok["test_accuracy"].mean(),
                std_test_accuracy=ok["test_accuracy"].std(ddof=1),
                min_test_accuracy=ok["test_accuracy"].min(),
                max_test_accuracy=ok["test_accuracy"].max(),
                mean_test_cross_entropy=ok["test_cross_entropy"].mean(),
                mean_train_accuracy=ok["train_accuracy"].mean(),
            )
        )
    return pd.DataFrame(rows)
