"""Minibatch SGD with momentum for the MLP, as docs/paper.md section 3 defines it.

Update rule (Smith & Le 2018, Section 4; Appendix D for momentum)::

    g <- (1/B) sum_{i in batch} grad ln-loss_i(w)  +  (l2 / N) w
    v <- m v + g
    w <- w - eps v

with the learning rate ``eps`` constant (never decayed, not scaled with ``B``). ``g`` is the
**mean** gradient of the cross-entropy over the batch, so one step equals the paper's
``-(eps/N) dC/dw`` with the summed cost ``C = H + (l2/2) |w|^2`` of section 1: the optional L2
term is in that summed-cost convention, ``(l2/N) w``, and it applies to every parameter, the
biases too (the Gaussian prior of section 1) **[our choice]**.

Options for what the paper leaves open (:class:`TrainingConfig`; each defaults to the stated
protocol above, and with all defaults the arithmetic is exactly the stated one):

- ``loss_normalisation``: ``batch`` (stated) is the mean over the batch; ``batch_and_classes``
  divides the loss and its gradient by a further ``C = n_classes`` (what a ``reduce_mean`` over
  the ``B x C`` loss matrix gives), so the batch term of ``g`` is the stated one ``/ C``; the
  L2 term is not divided (:class:`bayes_sgd.mlp.GradientWorkspace`).
- ``momentum_form``, with ``g`` as above: ``heavy_ball`` (stated) is the rule above;
  ``dampened`` is ``v <- m v + (1 - m) g; w <- w - eps v``; ``nesterov`` (PyTorch's form) is
  ``v <- m v + g; w <- w - eps (g + m v)`` with the new ``v`` (:func:`sgd_step`).
- ``weight_init`` and ``init_scale``: the initialisation scheme and a factor on the drawn
  weight matrices (:func:`bayes_sgd.mlp.initialise`).
- ``batch_sampling``: ``uniform`` (stated, below) or ``epoch_shuffle`` (:class:`bayes_sgd.training.batches.EpochSampler`).

Batches: every step draws ``B`` distinct training examples uniformly at random, independently
of the other steps (:func:`bayes_sgd.training.batches.sample_batch`); ``B = N`` is the full training set every step. Under
``batch_sampling = epoch_shuffle`` the steps instead walk through a stream of independent
random permutations of the training set, one per epoch (:class:`bayes_sgd.training.batches.EpochSampler`), so every ``N``
consecutive draws visit every example once; ``B = N`` is again the full set every step.

Randomness: the run seed feeds a :class:`numpy.random.SeedSequence` whose two children draw the
initialisation and the batches. The training subset itself is chosen elsewhere (its own seed),
so the seeds of one ``N`` share the subset and differ in initialisation and batch order.

Divergence: a step whose batch loss is not finite, or an evaluation that finds a non-finite
weight or training cross-entropy, stops the run; it is returned with status ``diverged`` and
the step at which that was seen, and never raises.

All arithmetic in the hot loop is in ``float32`` and allocation-free: the momentum update is
fused into the gradient's BLAS ``gemm`` (``v <- m v + x^T dh``, see
:class:`bayes_sgd.mlp.GradientWorkspace`), then one ``axpy`` adds the L2 term and one ``axpy``
moves the weights, all on a single flat parameter vector. The ``dampened`` and ``nesterov``
forms compute ``g`` into a buffer of its own and combine it with ``scal`` and ``axpy`` (two
and three more passes over the parameters than ``heavy_ball``).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from bayes_sgd.training.checkpoint import Checkpoint, TrainingState, fingerprint, source_digest
from bayes_sgd import mlp
from bayes_sgd.mlp import Architecture, GradientWorkspace, evaluate, initialise
from bayes_sgd.schema import allowed_values, section_defaults
from bayes_sgd.training.batches import EpochSampler, sample_batch
from bayes_sgd.training.run_tables import Metrics, curve_row, curve_table, measure


#: The values of the protocol options; the first of each is the stated protocol (the default).
LOSS_NORMALISATIONS = mlp.LOSS_NORMALISATIONS
MOMENTUM_FORMS = allowed_values("mlp.momentum_form")
BATCH_SAMPLINGS = allowed_values("mlp.batch_sampling")
_MLP = section_defaults("mlp")  # the stated protocol: the defaults of TrainingConfig
#: Steps between flushes of the momentum buffer's subnormal entries (:class:`SubnormalFlush`).
FLUSH_EVERY = 16


@dataclass(frozen=True)
class TrainingConfig:
    """Everything that defines one SGD run besides the data.

    ``eval_points`` log-spaced evaluations between step 1 and ``steps`` (plus step 0 and the
    last step, see :func:`evaluation_steps`); ``eval_chunk`` rows are evaluated at a time.

    Protocol options (module docstring; the defaults are the stated protocol):
    ``loss_normalisation`` in :data:`LOSS_NORMALISATIONS`, ``momentum_form`` in
    :data:`MOMENTUM_FORMS`, ``weight_init`` in :data:`bayes_sgd.mlp.WEIGHT_INITS` (with
    ``bias_init``, ignored by ``pytorch_default``), ``init_scale > 0`` and ``batch_sampling`` in
    :data:`BATCH_SAMPLINGS`. The curves record the loss-independent metrics whatever the
    normalisation: ``*_cross_entropy`` is always the mean per-example cross-entropy.
    """

    learning_rate: float
    momentum: float
    batch_size: int
    steps: int
    seed: int
    l2: float = 0.0  # no prior: the paper's network is unregularised unless stated
    weight_init: str = _MLP["weight_init"]
    bias_init: float = _MLP["bias_init"]
    eval_points: int = _MLP["eval_points"]
    eval_chunk: int = _MLP["eval_chunk"]
    loss_normalisation: str = _MLP["loss_normalisation"]
    momentum_form: str = _MLP["momentum_form"]
    init_scale: float = _MLP["init_scale"]
    batch_sampling: str = _MLP["batch_sampling"]

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
        for name, allowed in (
            ("loss_normalisation", LOSS_NORMALISATIONS),
            ("momentum_form", MOMENTUM_FORMS),
            ("weight_init", mlp.WEIGHT_INITS),
            ("batch_sampling", BATCH_SAMPLINGS),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if not (math.isfinite(self.init_scale) and self.init_scale > 0.0):
            raise ValueError(f"init_scale must be positive and finite, got {self.init_scale!r}")


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


def run_seeds(seed: int) -> tuple[np.random.SeedSequence, np.random.SeedSequence]:
    """The independent seed sequences of a run: (initialisation, batch order)."""
    init_seq, batch_seq = np.random.SeedSequence(seed).spawn(2)
    return init_seq, batch_seq


def initial_parameters(arch: Architecture, config: TrainingConfig, dtype=np.float32) -> np.ndarray:
    """The weights the run ``config`` starts from (its seed's initialisation stream).

    ``config.weight_init``, ``bias_init`` and ``init_scale`` as in :func:`bayes_sgd.mlp.initialise`.
    """
    rng = np.random.default_rng(run_seeds(config.seed)[0])
    return initialise(arch, rng, config.weight_init, config.bias_init, dtype=dtype, init_scale=config.init_scale)


class SubnormalFlush:
    """Sets the subnormal entries of a float buffer to zero, without allocating.

    When ReLUs die, the momentum of their weights decays geometrically (``v <- m v``) through the
    subnormal range (below ``finfo.tiny``, about 1.2e-38 in float32) before it underflows to zero,
    and x86 CPUs compute on subnormal operands many times slower: at eps = 1, m = 0.8, B = 30
    most of the buffer was subnormal and a step took about 20 times as long as on a healthy
    network (and 2-4 times as long even on healthy small-batch runs). The trainer flushes the
    buffer every :data:`FLUSH_EVERY` steps, on step numbers only, so a resumed run flushes where an
    uninterrupted one does. A flushed entry is below ``tiny``, so ``eps * v`` is far below half an
    ulp of any parameter larger than about 1e-30 in magnitude: the curves do not change, and a
    parameter can only differ where it is itself that small (a zero-initialised bias that has only
    ever received subnormal updates; seen as 22 biases of about 1e-35 in one dead run). Tested
    bit-identical with and without the flush on a dying mnist5k run.
    """

    def __init__(self, like: np.ndarray):
        self.tiny = np.finfo(like.dtype).tiny
        self.magnitude = np.empty_like(like)
        self.mask = np.empty(like.shape, dtype=bool)

    def __call__(self, buffer: np.ndarray) -> None:
        np.less(np.abs(buffer, out=self.magnitude), self.tiny, out=self.mask)
        np.copyto(buffer, 0, where=self.mask)


def sgd_step(
    ws: GradientWorkspace,
    w: np.ndarray,
    v: np.ndarray,
    learning_rate: float,
    momentum: float,
    l2_over_n: float = 0.0,
    momentum_form: str = MOMENTUM_FORMS[0],
    scratch: np.ndarray | None = None,
) -> float:
    """One update on the batch loaded in ``ws``, in place; returns the batch loss before it.

    With ``g = grad L(w) + (l2/N) w`` (``L`` as normalised by ``ws``) and ``momentum_form``:

    - ``heavy_ball`` (stated): ``v <- m v + g``, ``w <- w - eps v``; ``m v`` is fused into the
      gradient's ``gemm`` (``beta = m``), ``g`` is never stored;
    - ``dampened``: ``v <- m v + (1 - m) g``, ``w <- w - eps v``;
    - ``nesterov`` (PyTorch's ``SGD(nesterov=True)``): ``v <- m v + g``,
      ``w <- w - eps (g + m v)`` with the new ``v``.

    The last two compute ``g`` into ``scratch`` (a flat buffer like ``w``, allocated here if
    ``None``; the trainer passes one, so the loop does not allocate) and combine it with BLAS
    ``scal``/``axpy``.
    """
    if momentum_form == "heavy_ball":
        loss = ws.gradient(w, v, beta=momentum)
        if l2_over_n:
            ws.axpy(w, v, a=l2_over_n)
        ws.axpy(v, w, a=-learning_rate)
        return loss
    if momentum_form not in MOMENTUM_FORMS:
        raise ValueError(f"momentum_form must be one of {MOMENTUM_FORMS}, got {momentum_form!r}")
    g = np.empty_like(w) if scratch is None else scratch
    loss = ws.gradient(w, g, beta=0.0)
    if l2_over_n:
        ws.axpy(w, g, a=l2_over_n)
    ws.scal(momentum, v)
    if momentum_form == "dampened":
        ws.axpy(g, v, a=1.0 - momentum)
        ws.axpy(v, w, a=-learning_rate)
    else:  # nesterov
        ws.axpy(g, v, a=1.0)
        ws.axpy(g, w, a=-learning_rate)
        ws.axpy(v, w, a=-learning_rate * momentum)
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
    checkpoint: Checkpoint | None = None,
    flush_every: int = FLUSH_EVERY,
) -> TrainingResult:
    """Train from scratch; return the learning curve (one row per evaluation) and final state.

    ``X_*`` are float inputs ``[n, n_inputs]`` (cast to ``dtype`` C order if needed), ``y_*``
    integer labels. Columns: :data:`CURVE_COLUMNS` then :data:`CONFIG_COLUMNS`. ``epoch`` is
    ``step * B / N``; ``seconds`` the wall time since training started. ``status`` and
    ``diverged_step`` describe the whole run and repeat on every row; a diverged run's last
    row is at ``diverged_step`` and has ``nan`` metrics (there is no finite network to
    evaluate). ``progress`` is called every ``progress_fraction`` of the steps and whenever
    ``progress_seconds`` have passed since its last call.

    ``checkpoint`` (optional, :class:`bayes_sgd.training.checkpoint.Checkpoint`): the run resumes from
    the state saved there if that was saved by this very run (same fingerprint, see
    :func:`run_fingerprint`), and saves its state there every ``checkpoint.interval_seconds``
    of training time (after a step, never after the last one or a divergence). A resumed run
    takes the same steps with the same batches as an uninterrupted one, so its curve and final
    state are bit-identical to it, but for the wall-clock ``seconds``, which count the
    training time of every attempt. Deleting the checkpoint after the outputs are written is
    the caller's job. After :meth:`~bayes_sgd.training.checkpoint.Checkpoint.request_stop` the run
    saves after its current step and raises :class:`bayes_sgd.training.checkpoint.Stopped`.

    ``flush_every``: steps between flushes of the momentum buffer's subnormal entries
    (:class:`SubnormalFlush`; a speed measure that leaves the weights unchanged); 0 never flushes.
    """
    c = config
    X_train = np.ascontiguousarray(X_train, dtype=dtype)
    X_test = np.ascontiguousarray(X_test, dtype=dtype)
    y_train = np.asarray(y_train, dtype=np.intp)
    y_test = np.asarray(y_test, dtype=np.intp)
    n = X_train.shape[0]
    if c.batch_size > n:
        raise ValueError(f"batch_size {c.batch_size} exceeds the {n} training examples")

    eval_at = evaluation_steps(c.steps, c.eval_points)
    l2_over_n = c.l2 / n
    full_batch = c.batch_size == n
    ws = GradientWorkspace(arch, c.batch_size, dtype=dtype, normalisation=c.loss_normalisation)
    if full_batch:
        ws.load(X_train, y_train)

    batch_seq = run_seeds(c.seed)[1]
    batch_rng = np.random.default_rng(batch_seq)  # uniform sampling; unused by epoch_shuffle
    sampler = EpochSampler(batch_seq, n, c.batch_size) if c.batch_sampling == "epoch_shuffle" else None
    state = checkpoint.load() if checkpoint is not None else None
    if state is None:
        w = initial_parameters(arch, c, dtype=dtype)
        v = np.zeros_like(w)
        rows: list[dict] = []
        step, next_eval, seconds_before = 0, 1, 0.0  # next_eval indexes eval_at
    else:
        if state.parameters.shape != (arch.n_params,) or state.parameters.dtype != np.dtype(dtype):
            raise ValueError(f"checkpoint state {state.parameters.shape} {state.parameters.dtype} does not fit this run")
        w, v = state.parameters, state.velocity
        batch_rng.bit_generator.state = state.rng_state
        rows, step, next_eval, seconds_before = state.rows, state.step, state.next_eval, state.seconds
    scratch = None if c.momentum_form == "heavy_ball" else np.empty_like(w)  # g of the other forms
    flush = SubnormalFlush(v) if flush_every else None
    t0 = time.perf_counter() - seconds_before

    def record(step: int, metrics: Metrics | None) -> None:
        rows.append(curve_row(step, metrics, c.batch_size, n, time.perf_counter() - t0))

    def measure_now() -> Metrics | None:
        """Train/test metrics at the current weights, or None if the network has diverged."""
        return measure(lambda X, y: evaluate(arch, w, X, y, c.eval_chunk), bool(np.isfinite(w).all()),
                       (X_train, y_train), (X_test, y_test))

    diverged_step = -1
    if state is None:
        initial = measure_now()
        record(0, initial)
        if initial is None:
            diverged_step = 0
    report_every = max(1, int(c.steps * progress_fraction))
    last_report = time.perf_counter()
    saving = checkpoint is not None and checkpoint.enabled
    last_save = time.perf_counter()
    # A diverging network overflows; that is detected from the loss and weights, not warned about.
    with np.errstate(over="ignore", invalid="ignore"):
        while diverged_step < 0 and step < c.steps:
            step += 1
            if not full_batch:
                batch = sample_batch(batch_rng, n, c.batch_size) if sampler is None else sampler.batch(step)
                ws.load(X_train, y_train, batch)
            loss = sgd_step(ws, w, v, c.learning_rate, c.momentum, l2_over_n, c.momentum_form, scratch)
            if flush is not None and step % flush_every == 0:
                flush(v)
            if not math.isfinite(loss):
                diverged_step = step
                record(step, None)
                break
            if step == eval_at[next_eval]:
                next_eval += 1
                metrics = measure_now()
                record(step, metrics)
                if metrics is None:
                    diverged_step = step
            if progress is not None and (
                step % report_every == 0 or time.perf_counter() - last_report >= progress_seconds
            ):
                last_report = time.perf_counter()
                done = step - (state.step if state is not None else 0)
                rate = done / max(last_report - t0 - seconds_before, 1e-9)
                progress(
                    Progress(step, c.steps, rows[-1]["test_accuracy"], rate, (c.steps - step) / rate)
                )
            if saving and diverged_step < 0 and step < c.steps:
                now = time.perf_counter()
                if checkpoint.due(now - last_save):
                    checkpoint.save(
                        TrainingState(step, next_eval, w, v, batch_rng.bit_generator.state, rows, now - t0)
                    )
                    checkpoint.saved(step)
                    last_save = time.perf_counter()

    return TrainingResult(curve_table(rows, diverged_step, n, c), w, v)


def run_fingerprint(
    arch: Architecture,
    config: TrainingConfig,
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    backend: str = "numpy",
    dtype=np.float32,
    threads: int = 1,
    backend_modules: tuple = (),
    group: tuple[int, ...] = (),
) -> str:
    """The identity of a run for its checkpoint (:func:`bayes_sgd.training.checkpoint.fingerprint`).

    Covers the configuration, the architecture, the float type, the backend, the data as the
    trainer sees it (cast to ``dtype``), the source of the modules that compute a step (this
    module, :mod:`bayes_sgd.mlp`, and ``backend_modules``, the backend's own if not NumPy) and the
    number of BLAS threads: a multi-threaded ``gemm`` may sum in another order (measured: 1
    and 2 OpenBLAS threads differ by ~1e-8 after 5 steps at B = 1000), so a resume with other
    threads would not be bit-identical and starts afresh instead. ``group``: the seeds of the runs
    trained together with this one (:func:`bayes_sgd.training.sgd_jax.train_seeds`; empty: trained
    alone), as batching the seeds' products may round differently from training alone.
    """
    modules = [sys.modules[__name__], mlp, *backend_modules]
    arrays = {
        "X_train": np.ascontiguousarray(X_train, dtype=dtype),
        "y_train": np.asarray(y_train, dtype=np.int64),
        "X_test": np.ascontiguousarray(X_test, dtype=dtype),
        "y_test": np.asarray(y_test, dtype=np.int64),
    }
    extra = {
        "architecture": asdict(arch),
        "dtype": np.dtype(dtype).str,
        "backend": backend,
        "code": source_digest(*modules),
        "numpy": np.__version__,
        "threads": int(threads),
    }
    if group:
        extra["group_seeds"] = [int(seed) for seed in group]
    return fingerprint(config, arrays, extra)


# --- tables of several runs --------------------------------------------------------------------


