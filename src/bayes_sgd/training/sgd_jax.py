"""The SGD trainer of :mod:`bayes_sgd.training.sgd`, compiled whole with JAX (``mlp.backend: jax``).

Same model, loss, update rule, protocol options and schedule as the NumPy trainer (docs/paper.md
section 3)::

    g <- (1/B) sum_{i in batch} grad ln-loss_i(w)  +  (l2 / N) w
    v <- m v + g
    w <- w - eps v

on the same flat float32 parameter vector (layout of :class:`bayes_sgd.mlp.Architecture`),
starting from the same initial weights (:func:`bayes_sgd.training.sgd.initial_parameters`), evaluated
at the same log-spaced steps (:func:`bayes_sgd.training.sgd.evaluation_steps`) and returning the same
curve table and final state (:class:`bayes_sgd.training.sgd.TrainingResult`).

What differs is where the work runs: the steps between two evaluations are one compiled XLA
loop (``lax.while_loop``; the loop bounds are arguments, so it compiles once per run), with
the batches drawn on the device, so a GPU runs a whole segment without returning to Python.

Batches. Step ``t`` draws ``B`` distinct indices uniformly (``jax.random.choice`` without
replacement) from the key ``fold_in(key, t)``, with ``key = PRNGKey(s)`` and ``s`` a 32-bit
word of the run's batch seed sequence (:func:`bayes_sgd.training.sgd.run_seeds`). This is another
generator than NumPy's, so the two backends train on different batches and their curves
differ run by run (statistically alike); the curves record their backend. Because a step's
batch depends only on the seed and the step, a checkpoint needs no generator state.
``batches`` (tests) replaces the draws by given index rows, for step-by-step comparison with
the NumPy trainer.

Precision. Matrix products use ``precision=HIGHEST`` by default: true float32 products, so a
GPU does not silently compute them in TF32 (about 10 bits of mantissa).

Divergence as in the NumPy trainer: a step whose batch loss is not finite stops the run at
that step (the loop stops there and keeps the weights of that step), and an evaluation that
finds a non-finite weight or training cross-entropy stops it too; status ``diverged``.

Evaluation computes the mean cross-entropy from float32 log-softmax on the device (the NumPy
trainer accumulates it in float64), so the two agree to float32 rounding, not bit for bit.

Options. Every protocol option of :class:`bayes_sgd.training.sgd.TrainingConfig`, as the NumPy
trainer defines it: ``loss_normalisation = batch_and_classes`` divides the batch loss (and so its
gradient, not the L2 term) by ``C``; ``momentum_form`` ``dampened`` (``v <- m v + (1-m) g``) and
``nesterov`` (``v <- m v + g``, ``w <- w - eps (g + m v)``); ``weight_init`` and ``init_scale``
through the shared :func:`bayes_sgd.training.sgd.initial_parameters`; ``batch_sampling =
epoch_shuffle``, a stream of independent random permutations of the training set, one per epoch,
step ``t`` taking stream elements ``(t-1) B .. t B - 1`` (:class:`bayes_sgd.training.batches.EpochSampler`'s
rule; a batch across an epoch boundary takes the end of one permutation and the start of the next).
Epoch ``e``'s permutation is ``jax.random.permutation(fold_in(epoch_key(s), e), N)``, another
generator than NumPy's, as for the uniform draws. The input range and the test set are the data's
(:mod:`bayes_sgd.data.inputs`), the same for both trainers. ``tests/test_sgd_jax.py`` checks each
option step for step against the NumPy trainer on identical batches.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from bayes_sgd.training.checkpoint import Checkpoint, CheckpointGroup, TrainingState
from bayes_sgd.mlp import Architecture
from bayes_sgd.training.sgd import Progress, TrainingConfig, TrainingResult, evaluation_steps, initial_parameters, run_seeds
from bayes_sgd.training.run_tables import curve_row, curve_table, measure

PRECISIONS = {"highest": lax.Precision.HIGHEST, "high": lax.Precision.HIGH, "default": lax.Precision.DEFAULT}

def batch_key(seed: int) -> jax.Array:
    """The base key of a run's uniform batches: the first 32-bit word of its batch seed sequence."""
    word = int(run_seeds(seed)[1].generate_state(1, np.uint32)[0])
    return jax.random.PRNGKey(word)


def epoch_key(seed: int) -> jax.Array:
    """The base key of a run's epoch permutations (``batch_sampling = epoch_shuffle``): the
    second 32-bit word of its batch seed sequence."""
    word = int(run_seeds(seed)[1].generate_state(2, np.uint32)[1])
    return jax.random.PRNGKey(word)


def batch_source(config: TrainingConfig) -> jax.Array:
    """The key a run's batches are drawn from, for its ``batch_sampling``."""
    return epoch_key(config.seed) if config.batch_sampling == "epoch_shuffle" else batch_key(config.seed)


def unpack(arch: Architecture, w: jax.Array):
    """``(W1, b1, W2, b2)`` of a flat vector in the layout of :meth:`Architecture.unpack`.

    The matrices are Fortran-ordered there, i.e. ``W1`` is the C-ordered ``[h, d]`` block
    transposed.
    """
    d, h, c = arch.n_inputs, arch.n_hidden, arch.n_classes
    o1, o2, o3 = d * h, d * h + h, d * h + h + h * c
    return w[:o1].reshape(h, d).T, w[o1:o2], w[o2:o3].reshape(c, h).T, w[o3:]


def logits(arch: Architecture, w: jax.Array, X: jax.Array, precision) -> jax.Array:
    """``z = relu(X W1 + b1) W2 + b2``."""
    W1, b1, W2, b2 = unpack(arch, w)
    hidden = jnp.maximum(jnp.dot(X, W1, precision=precision) + b1, 0.0)
    return jnp.dot(hidden, W2, precision=precision) + b2


def to_tree(arch: Architecture, w: jax.Array) -> tuple[jax.Array, ...]:
    """The flat vector as the tuple ``(W1, b1, W2, b2)`` of contiguous arrays the loop carries."""
    return tuple(jnp.asarray(a) for a in unpack(arch, w))


def to_flat(tree: tuple[jax.Array, ...]) -> jax.Array:
    """The inverse of :func:`to_tree`: ``W1, b1, W2, b2`` in the flat (Fortran-matrix) layout."""
    W1, b1, W2, b2 = tree
    return jnp.concatenate([W1.T.ravel(), b1, W2.T.ravel(), b2])


def epoch_batch_indices(t, key: jax.Array, n: int, b: int) -> jax.Array:
    """The ``b`` indices of step ``t`` (1-based) under ``batch_sampling = epoch_shuffle``: stream
    elements ``(t-1) b .. t b - 1`` of the permutations ``permutation(fold_in(key, e), n)``,
    ``e = 0, 1, ...`` (``key``: :func:`epoch_key`), within one epoch or across the boundary into
    the next (:class:`bayes_sgd.training.batches.EpochSampler`'s rule)."""
    position = (t - 1) * b + jnp.arange(b)
    first = position[0] // n
    this, following = (jax.random.permutation(jax.random.fold_in(key, e), n) for e in (first, first + 1))
    return jnp.where(position // n == first, this[position % n], following[position % n])


def step_constants(config: TrainingConfig, n: int) -> jax.Array:
    """The numbers of the update that are arguments of the compiled segment, not part of it:
    ``[eps, m, 1 - m, l2 / N]`` as float32, each rounded once from its float64 value (as a Python
    constant in the loop would be), so one compiled program serves every eps, m and L2 of a shape
    and the persistent compilation cache (:mod:`bayes_sgd.training.jax_cache`) reuses it across runs."""
    c = config
    return jnp.asarray(np.array([c.learning_rate, c.momentum, 1.0 - c.momentum, c.l2 / n], dtype=np.float32))


def make_segment(arch: Architecture, config: TrainingConfig, n: int, precision, given_batches: bool):
    """A compiled function running steps ``start+1 .. end`` (stopping early on a non-finite loss).

    ``segment(w, v, start, end, X, y, key_or_batches, constants) -> (w, v, step, diverged_step)``
    with ``w`` and ``v`` flat vectors (inside the loop carried as ``(W1, b1, W2, b2)`` trees, no
    flattening per step) and ``constants`` the run's :func:`step_constants`. ``diverged_step`` is
    ``-1`` unless a batch loss was not finite. What the program depends on is the shape of the run
    (N, B, the network) and its protocol options; the step sizes are arguments.
    """
    c = config
    b = c.batch_size
    # the batch term of g: the mean over the batch, or over the B x C loss matrix
    loss_scale = 1.0 if c.loss_normalisation == "batch" else 1.0 / arch.n_classes

    def loss(tree, X, y):
        W1, b1, W2, b2 = tree
        hidden = jnp.maximum(jnp.dot(X, W1, precision=precision) + b1, 0.0)
        logp = jax.nn.log_softmax(jnp.dot(hidden, W2, precision=precision) + b2, axis=1)
        return -loss_scale * jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    loss_and_grad = jax.value_and_grad(loss)

    def batch(t, source):
        if given_batches:
            return lax.dynamic_index_in_dim(source, t - 1, keepdims=False)
        if b == n:
            return jnp.arange(n)
        if c.batch_sampling == "epoch_shuffle":
            return epoch_batch_indices(t, source, n, b)
        return jax.random.choice(jax.random.fold_in(source, t), n, (b,), replace=False)

    def update(w, v, g, constants):
        """``(w, v)`` after one step with gradient ``g`` of the batch loss, in ``momentum_form``."""
        eps, m, one_minus_m, l2_over_n = constants[0], constants[1], constants[2], constants[3]
        g = jax.tree.map(lambda g, w: g + l2_over_n * w, g, w)
        if c.momentum_form == "dampened":
            v = jax.tree.map(lambda v, g: m * v + one_minus_m * g, v, g)
            return jax.tree.map(lambda w, v: w - eps * v, w, v), v
        v = jax.tree.map(lambda v, g: m * v + g, v, g)
        if c.momentum_form == "nesterov":
            return jax.tree.map(lambda w, g, v: w - eps * (g + m * v), w, g, v), v
        return jax.tree.map(lambda w, v: w - eps * v, w, v), v

    def segment(w, v, start, end, X, y, source, constants):
        def cond(carry):
            _, _, t, diverged = carry
            return (t < end) & (diverged < 0)

        def body(carry):
            w, v, t, _ = carry
            t = t + 1
            idx = batch(t, source)
            value, g = loss_and_grad(w, X[idx], y[idx])
            finite = jnp.isfinite(value)
            w_new, v_new = update(w, v, g, constants)
            # a non-finite loss stops the run at this step; its weights stay as they were
            keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(finite, a, b), new, old)  # noqa: E731
            return keep(w_new, w), keep(v_new, v), t, jnp.where(finite, -1, t)

        w, v, t, diverged = lax.while_loop(
            cond, body, (to_tree(arch, w), to_tree(arch, v), start, jnp.int32(-1))
        )
        return to_flat(w), to_flat(v), t, diverged

    return jax.jit(segment)


def make_evaluate(arch: Architecture, precision):
    """A compiled ``(w, X, y) -> (number correct, summed cross-entropy)`` of one chunk."""

    def chunk(w, X, y):
        z = logits(arch, w, X, precision)
        finite = jnp.all(jnp.isfinite(z), axis=1)
        correct = jnp.sum((jnp.argmax(z, axis=1) == y) & finite)
        logp = jax.nn.log_softmax(z, axis=1)
        return correct, -jnp.sum(jnp.take_along_axis(logp, y[:, None], axis=1))

    return jax.jit(chunk)


def evaluate_in_chunks(chunk, w, X, y, eval_chunk: int) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of ``w`` on ``X, y``, ``eval_chunk`` examples per call of
    the compiled ``chunk`` (from :func:`make_evaluate`), summed on the host."""
    correct, total = 0, 0.0
    for start in range(0, X.shape[0], eval_chunk):
        k, s = chunk(w, X[start : start + eval_chunk], y[start : start + eval_chunk])
        correct += int(k)
        total += float(s)
    return correct / X.shape[0], total / X.shape[0]


def _checked_run(config: TrainingConfig, precision: str, X_train) -> tuple:
    """``(matmul precision, N)`` of a run this backend can train, or a ValueError saying why not."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {tuple(PRECISIONS)}, got {precision!r}")
    n = X_train.shape[0]
    if config.batch_size > n:
        raise ValueError(f"batch_size {config.batch_size} exceeds the {n} training examples")
    return PRECISIONS[precision], n


def train(
    arch: Architecture,
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    config: TrainingConfig,
    progress: Callable[[Progress], None] | None = None,
    checkpoint: Checkpoint | None = None,
    precision: str = "highest",
    batches: np.ndarray | None = None,
) -> TrainingResult:
    """Train from scratch on the default JAX device, like :func:`bayes_sgd.training.sgd.train`.

    Returns the same curve columns and final state. ``progress`` is called after every
    evaluation segment. ``checkpoint`` is saved after a segment when its interval has passed
    (and resumed from, bit-identically, as in the NumPy trainer). ``precision`` is one of
    :data:`PRECISIONS`. ``batches`` (``[steps, B]`` integer indices) replaces the random draws.
    """
    c = config
    prec, n = _checked_run(c, precision, X_train)
    if batches is not None:
        batches = np.asarray(batches)
        if batches.shape != (c.steps, c.batch_size) or batches.min() < 0 or batches.max() >= n:
            raise ValueError(f"batches must be [steps={c.steps}, B={c.batch_size}] indices into {n} examples")
        source = jnp.asarray(batches, dtype=jnp.int32)
    else:
        source = batch_source(c)
    Xtr = jnp.asarray(X_train, dtype=jnp.float32)
    ytr = jnp.asarray(y_train, dtype=jnp.int32)
    Xte = jnp.asarray(X_test, dtype=jnp.float32)
    yte = jnp.asarray(y_test, dtype=jnp.int32)
    segment = make_segment(arch, c, n, prec, batches is not None)
    constants = step_constants(c, n)
    chunk = make_evaluate(arch, prec)

    def evaluate(w, X, y):
        return evaluate_in_chunks(chunk, w, X, y, c.eval_chunk)

    eval_at = evaluation_steps(c.steps, c.eval_points)
    state = checkpoint.load() if checkpoint is not None else None
    if state is None:
        w = jnp.asarray(initial_parameters(arch, c, dtype=np.float32))
        v = jnp.zeros_like(w)
        rows: list[dict] = []
        step, next_eval, seconds_before = 0, 1, 0.0
    else:
        w, v = jnp.asarray(state.parameters), jnp.asarray(state.velocity)
        rows, step, next_eval, seconds_before = state.rows, state.step, state.next_eval, state.seconds
    t0 = time.perf_counter() - seconds_before

    def record(step, metrics):
        rows.append(curve_row(step, metrics, c.batch_size, n, time.perf_counter() - t0))

    def measure_now():
        return measure(lambda X, y: evaluate(w, X, y), bool(jnp.all(jnp.isfinite(w))), (Xtr, ytr), (Xte, yte))

    diverged_step = -1
    if state is None:
        initial = measure_now()
        record(0, initial)
        if initial is None:
            diverged_step = 0
    saving = checkpoint is not None and checkpoint.enabled
    last_save = time.perf_counter()
    first_step = step
    while diverged_step < 0 and step < c.steps:
        end = int(eval_at[next_eval])
        w, v, t, bad = segment(w, v, jnp.int32(step), jnp.int32(end), Xtr, ytr, source, constants)
        step, bad = int(t), int(bad)
        if bad >= 0:
            diverged_step = step
            record(step, None)
            break
        next_eval += 1
        metrics = measure_now()
        record(step, metrics)
        if metrics is None:
            diverged_step = step
            break
        now = time.perf_counter()
        if progress is not None:
            rate = (step - first_step) / max(now - t0 - seconds_before, 1e-9)
            progress(Progress(step, c.steps, rows[-1]["test_accuracy"], rate, (c.steps - step) / rate))
        if saving and step < c.steps and checkpoint.due(now - last_save):
            checkpoint.save(TrainingState(step, next_eval, np.asarray(w), np.asarray(v),
                                          {"jax": "batches keyed by step"}, rows, now - t0))
            checkpoint.saved(step)  # raises Stopped after request_stop (honoured between segments)
            last_save = time.perf_counter()

    return TrainingResult(curve_table(rows, diverged_step, n, c), np.asarray(w).copy(), np.asarray(v).copy())


def train_seeds(
    arch: Architecture,
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    configs: list[TrainingConfig],
    progress: Callable[[Progress], None] | None = None,
    checkpoint: CheckpointGroup | None = None,
    precision: str = "highest",
) -> list[TrainingResult]:
    """Train several runs that differ only in their seed together, with ``vmap`` over the seeds.

    Every run is the run :func:`train` would train alone (same initial weights, same batches
    ``fold_in(key(seed), t)``, same schedule): the vmapped loop batches the matrix products
    of the seeds, which may round differently, so the results agree with one-by-one training
    to float32 rounding. A run that diverges is frozen at its divergence while the others go
    on.

    ``progress`` is called after every evaluation segment, with the mean test accuracy of the
    runs still training. ``checkpoint`` (one file per run, :class:`CheckpointGroup`) is saved after
    a segment when its interval has passed, and resumed from, bit-identically (the state of
    every run, its divergence included); a stop requested of it is honoured between segments.
    """
    if not configs:
        return []
    c = configs[0]
    if any(dataclasses.replace(other, seed=c.seed) != c for other in configs):
        raise ValueError("train_seeds: the runs must differ in their seed only")
    if checkpoint is not None and len(checkpoint.members) != len(configs):
        raise ValueError(f"train_seeds: {len(checkpoint.members)} checkpoints for {len(configs)} runs")
    prec, n = _checked_run(c, precision, X_train)
    Xtr, ytr = jnp.asarray(X_train, dtype=jnp.float32), jnp.asarray(y_train, dtype=jnp.int32)
    Xte, yte = jnp.asarray(X_test, dtype=jnp.float32), jnp.asarray(y_test, dtype=jnp.int32)
    segment = jax.jit(jax.vmap(make_segment(arch, c, n, prec, False), in_axes=(0, 0, None, 0, None, None, 0, None)))
    constants = step_constants(c, n)
    chunk = make_evaluate(arch, prec)

    def measure_seed(w):
        evaluate = lambda X, y: evaluate_in_chunks(chunk, w, X, y, c.eval_chunk)  # noqa: E731
        return measure(evaluate, bool(jnp.all(jnp.isfinite(w))), (Xtr, ytr), (Xte, yte))

    k = len(configs)
    keys = jnp.stack([batch_source(cfg) for cfg in configs])
    eval_at = evaluation_steps(c.steps, c.eval_points)
    states = checkpoint.load() if checkpoint is not None else None
    if states is None:
        W = jnp.stack([jnp.asarray(initial_parameters(arch, cfg, dtype=np.float32)) for cfg in configs])
        V = jnp.zeros_like(W)
        rows: list[list[dict]] = [[] for _ in configs]
        diverged = [-1] * k
        step, next_eval, seconds_before = 0, 1, 0.0
    else:
        W = jnp.stack([jnp.asarray(s.parameters) for s in states])
        V = jnp.stack([jnp.asarray(s.velocity) for s in states])
        rows = [s.rows for s in states]
        diverged = [int(s.rng_state["diverged_step"]) for s in states]
        step, next_eval, seconds_before = states[0].step, states[0].next_eval, states[0].seconds
    t0 = time.perf_counter() - seconds_before

    def record(i, step, metrics):
        rows[i].append(curve_row(step, metrics, c.batch_size, n, time.perf_counter() - t0))

    if states is None:
        for i in range(k):
            metrics = measure_seed(W[i])
            record(i, 0, metrics)
            if metrics is None:
                diverged[i] = 0
    saving = checkpoint is not None and checkpoint.enabled
    last_save = time.perf_counter()
    first_step = step
    while step < c.steps and any(d < 0 for d in diverged):
        end = int(eval_at[next_eval])
        # a finished run takes no steps: its segment ends where it starts
        ends = jnp.asarray([end if d < 0 else step for d in diverged], dtype=jnp.int32)
        W, V, t, bad = segment(W, V, jnp.int32(step), ends, Xtr, ytr, keys, constants)
        t, bad = np.asarray(t), np.asarray(bad)
        for i in range(k):
            if diverged[i] >= 0:
                continue
            if bad[i] >= 0:
                diverged[i] = int(t[i])
                record(i, int(t[i]), None)
                continue
            metrics = measure_seed(W[i])
            record(i, end, metrics)
            if metrics is None:
                diverged[i] = end
        step, next_eval = end, next_eval + 1
        now = time.perf_counter()
        if progress is not None:
            live = [rows[i][-1]["test_accuracy"] for i in range(k) if diverged[i] < 0]
            rate = (step - first_step) / max(now - t0 - seconds_before, 1e-9)
            accuracy = float(np.mean(live)) if live else float("nan")
            progress(Progress(step, c.steps, accuracy, rate, (c.steps - step) / rate))
        if saving and step < c.steps and any(d < 0 for d in diverged) and checkpoint.due(now - last_save):
            checkpoint.save([
                TrainingState(step, next_eval, np.asarray(W[i]), np.asarray(V[i]),
                              {"jax": "batches keyed by step", "diverged_step": diverged[i]}, rows[i], now - t0)
                for i in range(k)
            ])
            checkpoint.saved(step)  # raises Stopped after request_stop (honoured between segments)
            last_save = time.perf_counter()
    return [
        TrainingResult(curve_table(rows[i], diverged[i], n, cfg), np.asarray(W[i]).copy(), np.asarray(V[i]).copy())
        for i, cfg in enumerate(configs)
    ]
