"""The multilayer perceptron of Smith & Le (2018), Section 4: 784 -> 800 ReLU -> 10 softmax.

Model. For an input row ``x`` (pixels scaled to [0, 1]),

    h = relu(x W1 + b1),    z = h W2 + b2,    p = softmax(z),

and the loss of a batch of ``B`` examples is the **mean** cross-entropy

    L(w) = -(1/B) sum_i ln p_i[y_i].

Its gradient is what SGD uses (docs/paper.md section 3: ``g`` is the mean gradient over the batch,
equivalently ``(1/N) dH/dw`` scaled to the batch, with ``H`` the summed cross-entropy of
section 1). Back-propagation with ``dz_i = (p_i - onehot(y_i)) / B``:

    dL/dW2 = h^T dz,   dL/db2 = sum_i dz_i,
    dh = (dz W2^T) * [h > 0],
    dL/dW1 = x^T dh,   dL/db1 = sum_i dh_i.

Loss normalisation (:data:`LOSS_NORMALISATIONS`, docs/paper.md section 3; the stated one is the
default): ``batch`` is the mean above. ``batch_and_classes`` **[our choice, an option]** is
what a ``reduce_mean`` over the ``B x C`` matrix of per-class terms ``-onehot(y_i)_k ln p_ik``
gives, ``L / C``: the same back-propagation with ``dz_i = (p_i - onehot(y_i)) / (B C)``, so
its gradient is the stated one divided by ``C`` (10 for MNIST).

Layout. All parameters live in one flat vector ``w`` (``float32`` for SGD, ``float64`` for the
gradient checks) in the order ``W1, b1, W2, b2``; the matrices are Fortran-ordered views into
it. One flat vector lets the trainer update every parameter with a single BLAS ``axpy``, and
Fortran order lets :class:`GradientWorkspace` hand the views straight to BLAS ``gemm`` without
copies.

Initialisation (not given by the paper; docs/paper.md section 3 **[our choice]**): Glorot-uniform
weights, ``U(-a, a)`` with ``a = sqrt(6 / (fan_in + fan_out))`` (Glorot & Bengio 2010), and
zero biases. Other schemes are selectable by name (:data:`WEIGHT_INITS`): Glorot-normal,
He-uniform and He-normal (weights only, biases constant), and ``pytorch_default``, PyTorch's
``nn.Linear`` default, which draws the biases too: weights and biases ``U(-a, a)`` with
``a = 1 / sqrt(fan_in)``. ``init_scale`` (default 1) multiplies the drawn weight matrices,
not the biases, to probe the dependence on the initial weight scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg import blas

from bayes_sgd.schema import allowed_values, section_defaults

#: The schema's defaults of the mlp: section (the stated protocol), the one place they are written.
_MLP = section_defaults("mlp")
WEIGHT_INITS = allowed_values("mlp.weight_init")
#: How the batch loss is normalised: by ``B`` (stated, the default) or by ``B`` and the classes.
LOSS_NORMALISATIONS = allowed_values("mlp.loss_normalisation")


@dataclass(frozen=True)
class Architecture:
    """Sizes of the network ``n_inputs -> n_hidden ReLU -> n_classes softmax``."""

    n_inputs: int = 784
    n_hidden: int = 800
    n_classes: int = 10

    @property
    def n_params(self) -> int:
        """Number of parameters: both weight matrices and both bias vectors."""
        d, h, c = self.n_inputs, self.n_hidden, self.n_classes
        return d * h + h + h * c + c

    def unpack(self, flat: np.ndarray) -> Parameters:
        """Views ``(W1, b1, W2, b2)`` into the flat parameter vector ``flat`` (no copies).

        ``W1`` is ``(n_inputs, n_hidden)`` and ``W2`` is ``(n_hidden, n_classes)``, both
        Fortran-ordered; writing into a view writes into ``flat``.
        """
        if flat.ndim != 1 or flat.shape[0] != self.n_params:
            raise ValueError(f"expected a flat vector of {self.n_params} parameters, got shape {flat.shape}")
        if not flat.flags.c_contiguous:
            raise ValueError("the flat parameter vector must be contiguous")
        d, h, c = self.n_inputs, self.n_hidden, self.n_classes
        o1 = d * h
        o2 = o1 + h
        o3 = o2 + h * c
        return Parameters(
            W1=flat[:o1].reshape((d, h), order="F"),
            b1=flat[o1:o2],
            W2=flat[o2:o3].reshape((h, c), order="F"),
            b2=flat[o3:],
        )


@dataclass(frozen=True)
class Parameters:
    """Views of the weights and biases inside one flat parameter vector."""

    W1: np.ndarray
    b1: np.ndarray
    W2: np.ndarray
    b2: np.ndarray


def initialise(
    arch: Architecture,
    rng: np.random.Generator,
    weight_init: str = _MLP["weight_init"],
    bias_init: float = _MLP["bias_init"],
    dtype=np.float32,
    init_scale: float = _MLP["init_scale"],
) -> np.ndarray:
    """A flat parameter vector drawn from ``rng``.

    ``weight_init`` (fan_in, fan_out of the layer):

    - ``glorot_uniform``: ``U(-a, a)``, ``a = sqrt(6 / (fan_in + fan_out))`` (default);
    - ``glorot_normal``: ``N(0, 2 / (fan_in + fan_out))``;
    - ``he_uniform``: ``U(-a, a)``, ``a = sqrt(6 / fan_in)``;
    - ``he_normal``: ``N(0, 2 / fan_in)``;
    - ``pytorch_default``: PyTorch ``nn.Linear``'s default (``kaiming_uniform_`` with
      ``a = sqrt(5)``, and its bias rule): weights **and biases** ``U(-a, a)``,
      ``a = 1 / sqrt(fan_in)``; ``bias_init`` is ignored.

    The draws are made in float64 and then cast, so a float64 and a float32 network from the
    same seed agree to rounding. Draw order: ``W1``, then ``W2``, for the first four schemes
    (biases set to ``bias_init``, not drawn); ``W1, b1, W2, b2`` for ``pytorch_default``.

    ``init_scale`` (> 0) then multiplies both weight matrices (not the biases), in ``dtype``
    after the cast, so the result is exactly ``init_scale`` times the unscaled one (as a
    ``dtype`` product); at 1 no multiply is made.
    """
    if weight_init not in WEIGHT_INITS:
        raise ValueError(f"weight_init must be one of {WEIGHT_INITS}, got {weight_init!r}")
    if not (math.isfinite(init_scale) and init_scale > 0.0):
        raise ValueError(f"init_scale must be positive and finite, got {init_scale!r}")
    flat = np.empty(arch.n_params, dtype=dtype)
    p = arch.unpack(flat)
    if weight_init == "pytorch_default":
        for W, bias in ((p.W1, p.b1), (p.W2, p.b2)):
            a = 1.0 / math.sqrt(W.shape[0])  # fan_in
            W[...] = rng.uniform(-a, a, size=W.shape)
            bias[...] = rng.uniform(-a, a, size=bias.shape)
        _scale_weights(p, init_scale)
        return flat
    for W in (p.W1, p.W2):
        fan_in, fan_out = W.shape
        if weight_init == "glorot_uniform":
            a = math.sqrt(6.0 / (fan_in + fan_out))
            W[...] = rng.uniform(-a, a, size=W.shape)
        elif weight_init == "glorot_normal":
            W[...] = rng.normal(0.0, math.sqrt(2.0 / (fan_in + fan_out)), size=W.shape)
        elif weight_init == "he_uniform":
            a = math.sqrt(6.0 / fan_in)
            W[...] = rng.uniform(-a, a, size=W.shape)
        else:  # he_normal
            W[...] = rng.normal(0.0, math.sqrt(2.0 / fan_in), size=W.shape)
    p.b1[...] = bias_init
    p.b2[...] = bias_init
    _scale_weights(p, init_scale)
    return flat


def _scale_weights(p: Parameters, init_scale: float) -> None:
    """``W1, W2 <- init_scale * W`` in place (in their own dtype); nothing at ``init_scale == 1``."""
    if init_scale != 1.0:
        for W in (p.W1, p.W2):
            W *= W.dtype.type(init_scale)


def scale_pixels(pixels: np.ndarray, scale: float = _MLP["pixel_scale"], dtype=np.float32) -> np.ndarray:
    """Pixels ``[n, 784]`` divided by ``scale``, as a C-ordered ``dtype`` array.

    With ``uint8`` pixels and the default ``scale = 255`` the inputs lie in [0, 1]
    (docs/paper.md section 2 **[our choice]**, used for the MLP too).
    """
    return np.ascontiguousarray(np.asarray(pixels, dtype=dtype) / dtype(scale))


def forward(arch: Architecture, w: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hidden activations ``h`` ``[n, n_hidden]`` and logits ``z`` ``[n, n_classes]`` (allocating)."""
    p = arch.unpack(w)
    h = X @ p.W1
    h += p.b1
    np.maximum(h, 0, out=h)
    z = h @ p.W2
    z += p.b2
    return h, z


def log_softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise ``ln softmax(z)``, computed stably as ``z - max - ln sum exp(z - max)``."""
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def evaluate(
    arch: Architecture, w: np.ndarray, X: np.ndarray, y: np.ndarray, chunk_size: int = 1000
) -> tuple[float, float]:
    """Accuracy and mean cross-entropy ``-(1/n) sum_i ln p_i[y_i]`` on ``(X, y)``.

    Computed ``chunk_size`` rows at a time so that memory stays bounded on large test sets.
    A row whose logits are not all finite counts as a wrong prediction (its cross-entropy,
    and so the mean, is then ``nan``).
    """
    n = X.shape[0]
    if n == 0:
        raise ValueError("cannot evaluate on an empty set")
    correct = 0
    total_ce = 0.0
    # A diverging network overflows here; that is detected from the result, not warned about.
    with np.errstate(over="ignore", invalid="ignore"):
        for start in range(0, n, chunk_size):
            Xc = X[start : start + chunk_size]
            yc = y[start : start + chunk_size]
            _, z = forward(arch, w, Xc)
            finite = np.isfinite(z).all(axis=1)
            correct += int(np.count_nonzero((z.argmax(axis=1) == yc) & finite))
            logp = log_softmax(z.astype(np.float64))
            total_ce -= float(logp[np.arange(len(yc)), yc].sum())
    return correct / n, total_ce / n


def _blas(dtype):
    """The BLAS ``gemm``, ``gemv``, ``axpy`` routines for ``dtype`` (float32 or float64)."""
    gemm, gemv, axpy = blas.get_blas_funcs(("gemm", "gemv", "axpy"), dtype=np.dtype(dtype))
    return gemm, gemv, axpy


class GradientWorkspace:
    """Allocation-free mean-cross-entropy gradient for batches of a fixed size.

    All intermediate arrays are allocated once here; :meth:`gradient` only writes into them.
    The weight gradients are produced by BLAS ``gemm`` calls that write straight into the
    caller's buffer with ``C <- beta C + A B``, so ``beta = m`` fuses the momentum update
    ``v <- m v + g`` into the back-propagation (no separate pass over the gradient).

    ``normalisation`` (:data:`LOSS_NORMALISATIONS`): ``batch`` (stated, default) computes the
    mean cross-entropy ``L`` and its gradient; ``batch_and_classes`` computes ``L / C`` and its
    gradient (``dz = (p - onehot) / (B C)``), the loss a ``reduce_mean`` over the ``B x C``
    per-class terms minimises.
    """

    def __init__(self, arch: Architecture, batch_size: int, dtype=np.float32, normalisation: str = LOSS_NORMALISATIONS[0]):
        self.arch = arch
        self.batch_size = b = int(batch_size)
        self.dtype = dt = np.dtype(dtype)
        if b < 1:
            raise ValueError("batch_size must be at least 1")
        if normalisation not in LOSS_NORMALISATIONS:
            raise ValueError(f"loss_normalisation must be one of {LOSS_NORMALISATIONS}, got {normalisation!r}")
        self.normalisation = normalisation
        d, h, c = arch.n_inputs, arch.n_hidden, arch.n_classes
        # dz = (p - onehot) * dz_scale; the stated 1 / B is computed exactly as it always was
        self.dz_scale = 1.0 / b if normalisation == "batch" else 1.0 / (b * c)
        self.gemm, self.gemv, self.axpy = _blas(dt)
        self.scal = blas.get_blas_funcs("scal", dtype=dt)
        # Batch inputs, C-ordered [B, d]: their transpose is a Fortran-ordered [d, B] matrix.
        self.x = np.empty((b, d), dtype=dt)
        self.y = np.empty(b, dtype=np.intp)
        self.hidden = np.empty((b, h), dtype=dt, order="F")
        self.dead = np.empty((b, h), dtype=bool, order="F")
        self.dhidden = np.empty((b, h), dtype=dt, order="F")
        self.z = np.empty((b, c), dtype=dt, order="F")
        self.zmax = np.empty(b, dtype=dt)
        self.zsum = np.empty(b, dtype=dt)
        self.dsum = np.empty(c, dtype=dt)
        self.ones = np.ones(b, dtype=dt)
        self.rows = np.arange(b)

    def load(self, X: np.ndarray, y: np.ndarray, index: np.ndarray | None = None) -> None:
        """Copy the batch ``X[index], y[index]`` (or all of ``X, y``) into the workspace."""
        if index is None:
            np.copyto(self.x, X)
            np.copyto(self.y, y)
        else:
            np.take(X, index, axis=0, out=self.x, mode="clip")
            np.take(y, index, out=self.y, mode="clip")

    def gradient(self, w: np.ndarray, out: np.ndarray, beta: float = 0.0) -> float:
        """Set ``out <- beta * out + grad L(w)`` on the loaded batch; return ``L(w)``.

        ``L`` is the mean cross-entropy of the batch at ``w``, before any update (divided by
        ``C`` under ``batch_and_classes``: the returned value is the loss whose gradient this
        is, the one minimised). ``out`` is a
        flat vector laid out like ``w``. With ``beta = 0`` the previous content of ``out`` is
        ignored (BLAS semantics), so ``out`` need not be initialised.
        """
        arch = self.arch
        gemm, gemv = self.gemm, self.gemv
        p = arch.unpack(w)
        g = arch.unpack(out)
        xT = self.x.T  # Fortran-ordered [d, B] view
        H, Z = self.hidden, self.z

        # Forward: H = relu(x W1 + b1); Z = H W2 + b2 (biases broadcast into C, then beta = 1).
        np.copyto(H, p.b1)
        gemm(1.0, xT, p.W1, 1.0, H, trans_a=1, overwrite_c=1)
        np.maximum(H, 0, out=H)
        np.copyto(Z, p.b2)
        gemm(1.0, H, p.W2, 1.0, Z, overwrite_c=1)

        # Softmax cross-entropy; Z becomes dz = (p - onehot(y)) / B (or / (B C)) in place.
        np.max(Z, axis=1, out=self.zmax)
        Z -= self.zmax[:, None]
        picked = Z[self.rows, self.y]  # shifted logit of the true class, [B]
        np.exp(Z, out=Z)
        np.sum(Z, axis=1, out=self.zsum)
        loss = float(np.mean(np.log(self.zsum, dtype=np.float64) - picked))
        if self.normalisation == "batch_and_classes":
            loss /= arch.n_classes
        Z /= self.zsum[:, None]
        Z[self.rows, self.y] -= 1.0
        Z *= self.dz_scale

        # Backward, writing beta * out + gradient into the output views.
        gemm(1.0, H, Z, beta, g.W2, trans_a=1, overwrite_c=1)
        np.sum(Z, axis=0, out=self.dsum)
        if beta == 0.0:  # never multiply: 0 * nan is nan, and out may be uninitialised
            np.copyto(g.b2, self.dsum)
        else:
            np.multiply(g.b2, beta, out=g.b2)
            np.add(g.b2, self.dsum, out=g.b2)
        np.less_equal(H, 0, out=self.dead)
        gemm(1.0, Z, p.W2, 0.0, self.dhidden, trans_b=1, overwrite_c=1)
        np.copyto(self.dhidden, 0, where=self.dead)
        gemv(1.0, self.dhidden, self.ones, beta, g.b1, trans=1, overwrite_y=1)
        gemm(1.0, xT, self.dhidden, beta, g.W1, overwrite_c=1)
        return loss


def loss_and_gradient(
    arch: Architecture, w: np.ndarray, X: np.ndarray, y: np.ndarray, normalisation: str = LOSS_NORMALISATIONS[0]
) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of ``(X, y)`` at ``w`` and its gradient (a fresh flat vector).

    Under ``normalisation = "batch_and_classes"`` both are divided by ``n_classes``.
    """
    ws = GradientWorkspace(arch, X.shape[0], dtype=w.dtype, normalisation=normalisation)
    ws.load(X, y)
    grad = np.empty_like(w)
    loss = ws.gradient(w, grad, beta=0.0)
    return loss, grad
