"""Curvature and gradient noise of the trained MLP at its final weights (docs/paper.md, "Beyond the
paper: the evidence of a trained network").

Everything here is float64 and works on the summed cross-entropy of the N training examples,

    H(w) = -sum_i ln p_i[y_i],     p_i = softmax(z_i),

of the network of :mod:`bayes_sgd.mlp`: ``a1_i = [x_i, 1]``, ``s1_i = a1_i [W1; b1]``,
``h_i = relu(s1_i)`` with mask ``m_i = [s1_i > 0]``, ``a2_i = [h_i, 1]``, ``z_i = a2_i [W2; b2]``.

**Generalised Gauss-Newton (GGN).** ``GGN = sum_i J_i^T Lambda_i J_i`` with ``J_i = dz_i/dw`` and
``Lambda_i = diag(p_i) - p_i p_i^T`` the Hessian of the cross-entropy in the logits. It is
positive semi-definite and equals the Hessian of H wherever the logits are linear in w (the
softmax layer; a linear softmax model). This module uses a square root of ``Lambda_i``,

    R_i = diag(sqrt(p_i)) - p_i sqrt(p_i)^T,     R_i R_i^T = Lambda_i       (since sum p_i = 1),

so every GGN block is a Gram matrix (:func:`softmax_curvature_root`).

**Dense layers.** A layer with input ``a`` (bias appended) and pre-activation ``s = a W`` has
``dz/dvec(W) = a^T kron J_s`` with ``J_s = dz/ds`` (``I`` for the softmax layer,
``W2^T diag(m)`` for the hidden layer), so its GGN block is ``sum_i (a_i a_i^T) kron (J_i^T Lambda_i J_i)``.
**KFAC** (Martens & Grosse 2015; Ritter et al. 2018 for the Laplace approximation) replaces it
by ``N * (A kron G)`` with ``A = mean_i a_i a_i^T`` and ``G = mean_i J_i^T Lambda_i J_i``, and drops
the blocks between layers; its eigenvalues are ``N a_k g_l`` over the eigenvalues ``a_k`` of A
and ``g_l`` of G (:func:`kfac_factors`, :meth:`KroneckerFactor.ggn_eigenvalues`).

**Exact GGN of the softmax layer** (:func:`last_layer_ggn`, and for its eigenvalues the same
on the directions that change the probabilities, :func:`reduced_last_layer_ggn`): ``sum_i Lambda_i kron a2_i a2_i^T``
(parameter order: class-major, ``index = c * (H + 1) + j``), built as the block-diagonal
``blockdiag_c(A2^T diag(p_c) A2)`` minus the Gram matrix ``Q^T Q`` of ``Q = [p_0 * A2, ..., p_{C-1} * A2]``
(from ``Lambda_i = diag(p_i) - p_i p_i^T``), i.e. ``(C (H+1))^2 N`` multiply-adds.

**Hessian-vector products** (:class:`HessianVectorProduct`): the exact Hessian of the **mean**
cross-entropy ``L = H / N`` times a vector, by Pearlmutter's R-operator (one forward and one
backward pass; the ReLU's second derivative is zero almost everywhere). The **sharpness** is its
largest eigenvalue, by Lanczos (:func:`sharpness`, ``scipy.sparse.linalg.eigsh``).

**Gradient noise scale** (McCandlish et al. 2018): ``B_simple = tr(Sigma) / |G|^2`` with ``G`` the
mean gradient and ``Sigma`` the covariance of the per-example gradients ``g_i``. For a dense
layer ``g_i = a_i kron delta_i`` (``delta_i`` the gradient of example i's cross-entropy in the
layer's pre-activation), so ``|g_i|^2 = |a_i|^2 |delta_i|^2`` exactly, and no per-example
gradient is stored (:func:`gradient_noise_scale`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg
from scipy.linalg import blas
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

from bayes_sgd.mlp import Architecture, log_softmax


# ----------------------------------------------------------------------------------------------
# Forward pass and the softmax curvature


@dataclass(frozen=True)
class ForwardCache:
    """What every quantity of this module needs of one forward pass (float64).

    ``hidden`` ``[n, H]`` (post-ReLU), ``mask`` ``[n, H]`` (``s1 > 0``), ``probs`` ``[n, C]`` and
    ``log_probs`` ``[n, C]``.
    """

    hidden: np.ndarray
    mask: np.ndarray
    probs: np.ndarray
    log_probs: np.ndarray


def as_float64(arch: Architecture, w: np.ndarray) -> np.ndarray:
    """The flat parameter vector in float64 (a copy), refusing non-finite weights."""
    w = np.array(w, dtype=np.float64)
    if w.shape != (arch.n_params,):
        raise ValueError(f"expected {arch.n_params} parameters for {arch}, got shape {w.shape}")
    if not np.isfinite(w).all():
        raise ValueError("the weights are not all finite (a diverged run has no curvature)")
    return w


def forward_cache(arch: Architecture, w: np.ndarray, X: np.ndarray) -> ForwardCache:
    """One float64 forward pass of ``X`` through the network ``w``."""
    p = arch.unpack(w)
    s1 = X @ p.W1
    s1 += p.b1
    mask = s1 > 0
    hidden = np.where(mask, s1, 0.0)
    z = hidden @ p.W2
    z += p.b2
    log_probs = log_softmax(z)
    return ForwardCache(hidden=hidden, mask=mask, probs=np.exp(log_probs), log_probs=log_probs)


def summed_cross_entropy(log_probs: np.ndarray, y: np.ndarray) -> float:
    """``H = -sum_i ln p_i[y_i]`` (summed, not mean; docs/paper.md Section 1)."""
    return float(-log_probs[np.arange(len(y)), np.asarray(y)].sum())


def softmax_curvature_root(probs: np.ndarray) -> np.ndarray:
    """``R_i = diag(sqrt(p_i)) - p_i sqrt(p_i)^T`` ``[n, C, C]``, with ``R_i R_i^T = Lambda_i``.

    ``R R^T = diag(p) - 2 p p^T + p (sqrt(p) . sqrt(p)) p^T = diag(p) - p p^T`` because the
    probabilities sum to one.
    """
    root = np.sqrt(probs)
    R = -probs[:, :, None] * root[:, None, :]
    idx = np.arange(probs.shape[1])
    R[:, idx, idx] += root
    return R


def _with_bias(a: np.ndarray) -> np.ndarray:
    return np.hstack([a, np.ones((a.shape[0], 1))])


def _chunks(n: int, size: int):
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


# ----------------------------------------------------------------------------------------------
# KFAC


@dataclass(frozen=True)
class KroneckerFactor:
    """The KFAC approximation ``N * (A kron G)`` of one dense layer's GGN block.

    ``A = mean_i a_i a_i^T`` (inputs with the bias appended) and ``G = mean_i J_i^T Lambda_i J_i``,
    with their eigenvalues (ascending, clipped at 0: both are positive semi-definite and a
    negative eigenvalue is rounding).
    """

    name: str
    n_examples: int
    A: np.ndarray
    G: np.ndarray
    a_eigenvalues: np.ndarray
    g_eigenvalues: np.ndarray

    @property
    def n_params(self) -> int:
        return self.A.shape[0] * self.G.shape[0]

    def ggn_eigenvalues(self) -> np.ndarray:
        """The ``n_params`` eigenvalues ``N a_k g_l`` of ``N (A kron G)``."""
        return (self.n_examples * np.outer(self.a_eigenvalues, self.g_eigenvalues)).ravel()

    def log_det(self, prior_precision: float) -> float:
        """``ln det(N A kron G + lambda I) = sum_kl ln(N a_k g_l + lambda)``."""
        return float(np.log(self.ggn_eigenvalues() + prior_precision).sum())


def _factor(name: str, n: int, A_sum: np.ndarray, G_sum: np.ndarray) -> KroneckerFactor:
    A, G = A_sum / n, G_sum / n
    a_eig = np.clip(linalg.eigvalsh(A, check_finite=False), 0.0, None)
    g_eig = np.clip(linalg.eigvalsh(G, check_finite=False), 0.0, None)
    return KroneckerFactor(name, n, A, G, a_eig, g_eig)


def dense_layer_factor(name: str, inputs: np.ndarray, jacobian_root: np.ndarray) -> KroneckerFactor:
    """KFAC factor of a layer from its inputs ``a_i`` ``[n, fan_in]`` (bias **not** yet appended)
    and ``J_i^T R_i`` ``[n, fan_out, C]`` (so that ``J_i^T Lambda_i J_i = (J_i^T R_i)(J_i^T R_i)^T``).
    """
    n = inputs.shape[0]
    a = _with_bias(np.asarray(inputs, dtype=np.float64))
    F = np.ascontiguousarray(jacobian_root.transpose(1, 0, 2)).reshape(jacobian_root.shape[1], -1)
    return _factor(name, n, a.T @ a, F @ F.T)


def kfac_factors(arch: Architecture, w: np.ndarray, X: np.ndarray, chunk_size: int = 250) -> list[KroneckerFactor]:
    """KFAC factors of the hidden layer (``[W1; b1]``) and the softmax layer (``[W2; b2]``).

    Hidden layer: ``a = [x, 1]``, ``J^T R = diag(m) W2 R`` ``[H, C]``; softmax layer:
    ``a = [h, 1]``, ``J^T R = R``. Accumulated over chunks of ``chunk_size`` examples.
    """
    w = as_float64(arch, w)
    X = np.asarray(X, dtype=np.float64)
    p = arch.unpack(w)
    d, H, C = arch.n_inputs, arch.n_hidden, arch.n_classes
    A1, G1 = np.zeros((d + 1, d + 1)), np.zeros((H, H), order="F")
    A2, G2 = np.zeros((H + 1, H + 1)), np.zeros((C, C))
    for rows in _chunks(X.shape[0], chunk_size):
        cache = forward_cache(arch, w, X[rows])
        a1, a2 = _with_bias(X[rows]), _with_bias(cache.hidden)
        A1 += a1.T @ a1
        A2 += a2.T @ a2
        R = softmax_curvature_root(cache.probs)
        G2 += np.einsum("ncd,ned->ce", R, R)
        JR = np.einsum("kc,ncd->nkd", p.W2, R) * cache.mask[:, :, None]  # [n, H, C]
        F = np.ascontiguousarray(JR.transpose(1, 0, 2)).reshape(H, -1)
        G1 = blas.dsyrk(1.0, F, beta=1.0, c=G1, lower=1, overwrite_c=1)
    G1 = np.tril(G1) + np.tril(G1, -1).T
    n = X.shape[0]
    return [_factor("hidden", n, A1, G1), _factor("softmax", n, A2, G2)]


# ----------------------------------------------------------------------------------------------
# Exact GGN of the softmax layer


def last_layer_ggn(features: np.ndarray, probs: np.ndarray, chunk_size: int = 250) -> np.ndarray:
    """Exact ``sum_i Lambda_i kron a_i a_i^T`` of a softmax layer on ``features`` ``[n, F]``.

    ``a_i = [features_i, 1]``; parameter order class-major (``index = c (F + 1) + j``, the
    Fortran order of the ``[F + 1, C]`` weight matrix ``[W; b]``). This is the Hessian of the
    summed cross-entropy in the softmax layer's parameters (logits are linear in them). Only the
    lower triangle is filled (for :func:`scipy.linalg.eigvalsh` with ``lower=True``).
    """
    n, C = probs.shape
    Fp = features.shape[1] + 1
    ggn = np.zeros((C * Fp, C * Fp), order="F")
    for rows in _chunks(n, chunk_size):
        a = _with_bias(np.asarray(features[rows], dtype=np.float64))
        P = probs[rows]
        Q = np.asfortranarray((P[:, :, None] * a[:, None, :]).reshape(a.shape[0], C * Fp))
        ggn = blas.dsyrk(-1.0, Q, beta=1.0, c=ggn, trans=1, lower=1, overwrite_c=1)
        for c in range(C):
            block = slice(c * Fp, (c + 1) * Fp)
            ggn[block, block] += (a * P[:, c : c + 1]).T @ a
    return ggn


def identifiable_basis(n_classes: int) -> np.ndarray:
    """An orthonormal basis ``U`` ``[C, C - 1]`` of the vectors orthogonal to ``1`` in class space.

    ``Lambda_i 1 = p_i - p_i (p_i . 1) = 0`` for every example, so the softmax-layer GGN
    vanishes on the ``F + 1`` directions ``1 kron v`` (adding a constant to every logit), and its
    other eigenvalues are those of ``sum_i (U^T Lambda_i U) kron a_i a_i^T``.
    """
    q, _ = np.linalg.qr(np.column_stack([np.ones(n_classes), np.eye(n_classes)[:, : n_classes - 1]]))
    return q[:, 1:]


def reduced_last_layer_ggn(features: np.ndarray, probs: np.ndarray, chunk_size: int = 250) -> np.ndarray:
    """``sum_i (U^T Lambda_i U) kron a_i a_i^T`` (:func:`identifiable_basis`), lower triangle.

    With ``U^T Lambda_i U = U^T diag(p_i) U - (U^T p_i)(U^T p_i)^T`` its block ``(c, e)`` is
    ``sum_k U_kc U_ke M_k - sum_i (U^T p_i)_c (U^T p_i)_e a_i a_i^T`` with ``M_k = A^T diag(p_k) A``:
    ``C`` products ``M_k`` and one rank-N update of size ``(C - 1)(F + 1)``, about 27% less
    eigenvalue work than the full ``C (F + 1)`` matrix at ten classes.
    """
    n, C = probs.shape
    Fp = features.shape[1] + 1
    U = identifiable_basis(C)
    M = np.zeros((C, Fp, Fp))
    ggn = np.zeros(((C - 1) * Fp, (C - 1) * Fp), order="F")
    for rows in _chunks(n, chunk_size):
        a = _with_bias(np.asarray(features[rows], dtype=np.float64))
        P = probs[rows]
        for k in range(C):
            M[k] += (a * P[:, k : k + 1]).T @ a
        Q = np.asfortranarray(((P @ U)[:, :, None] * a[:, None, :]).reshape(a.shape[0], (C - 1) * Fp))
        ggn = blas.dsyrk(-1.0, Q, beta=1.0, c=ggn, trans=1, lower=1, overwrite_c=1)
    for c in range(C - 1):
        for e in range(c + 1):
            ggn[c * Fp : (c + 1) * Fp, e * Fp : (e + 1) * Fp] += np.tensordot(U[:, c] * U[:, e], M, axes=1)
    return ggn


def last_layer_ggn_eigenvalues(
    arch: Architecture, w: np.ndarray, X: np.ndarray, chunk_size: int = 250
) -> np.ndarray:
    """All ``C (H + 1)`` eigenvalues (ascending, clipped at 0) of the exact GGN of ``[W2; b2]`` at ``w``:
    those of :func:`reduced_last_layer_ggn` and ``H + 1`` exact zeros."""
    w = as_float64(arch, w)
    cache = forward_cache(arch, w, np.asarray(X, dtype=np.float64))
    ggn = reduced_last_layer_ggn(cache.hidden, cache.probs, chunk_size)
    eig = linalg.eigvalsh(ggn, lower=True, overwrite_a=True, check_finite=False, driver="evd")
    return np.sort(np.concatenate([np.clip(eig, 0.0, None), np.zeros(arch.n_hidden + 1)]))


# ----------------------------------------------------------------------------------------------
# Exact GGN trace and the gradient noise scale


def ggn_trace(arch: Architecture, w: np.ndarray, X: np.ndarray, chunk_size: int = 1000) -> float:
    """Exact trace of the GGN of the summed cross-entropy (every parameter, no KFAC).

    ``tr GGN = sum_i [ |a1_i|^2 tr(diag(m_i) W2 Lambda_i W2^T diag(m_i)) + |a2_i|^2 tr(Lambda_i) ]``,
    with ``(W2 Lambda W2^T)_kk = sum_c W2[k,c]^2 p_c - (W2 p)_k^2`` and ``tr Lambda = 1 - |p|^2``.
    """
    w = as_float64(arch, w)
    X = np.asarray(X, dtype=np.float64)
    W2 = arch.unpack(w).W2
    total = 0.0
    for rows in _chunks(X.shape[0], chunk_size):
        cache = forward_cache(arch, w, X[rows])
        P = cache.probs
        diag = P @ (W2**2).T - (P @ W2.T) ** 2  # [n, H]
        a1_sq = np.einsum("nd,nd->n", X[rows], X[rows]) + 1.0
        a2_sq = np.einsum("nh,nh->n", cache.hidden, cache.hidden) + 1.0
        total += float(a1_sq @ (diag * cache.mask).sum(axis=1) + a2_sq @ (1.0 - (P**2).sum(axis=1)))
    return total


@dataclass(frozen=True)
class GradientNoise:
    """``B_simple = tr(Sigma) / |G|^2`` and its parts.

    ``trace_covariance = (1/(N-1)) sum_i |g_i - G_ce|^2`` (unbiased; per-example cross-entropy
    gradients ``g_i``); ``gradient_norm_squared = |G|^2`` with ``G = G_ce + (l2/N) w``, the mean
    gradient SGD follows (the L2 term is the same for every example, so it is in G, not Sigma).
    """

    trace_covariance: float
    gradient_norm_squared: float
    mean_example_norm_squared: float

    @property
    def b_simple(self) -> float:
        return self.trace_covariance / self.gradient_norm_squared


def gradient_noise_scale(
    arch: Architecture, w: np.ndarray, X: np.ndarray, y: np.ndarray, l2: float = 0.0, chunk_size: int = 1000
) -> GradientNoise:
    """McCandlish et al.'s ``B_simple`` at ``w`` over the training set, without per-example gradients.

    For example i, ``delta2_i = p_i - onehot(y_i)``, ``delta1_i = m_i * (W2 delta2_i)`` and
    ``|g_i|^2 = |a1_i|^2 |delta1_i|^2 + |a2_i|^2 |delta2_i|^2``; ``G_ce = (1/N) sum_i g_i`` is the
    full-batch gradient, and ``sum_i |g_i - G_ce|^2 = sum_i |g_i|^2 - N |G_ce|^2``.
    """
    w = as_float64(arch, w)
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    n = X.shape[0]
    if n < 2:
        raise ValueError("the gradient noise scale needs at least two examples")
    p = arch.unpack(w)
    grad = np.zeros_like(w)
    g = arch.unpack(grad)
    sum_sq = 0.0
    for rows in _chunks(n, chunk_size):
        cache = forward_cache(arch, w, X[rows])
        d2 = cache.probs.copy()
        d2[np.arange(d2.shape[0]), y[rows]] -= 1.0
        d1 = (d2 @ p.W2.T) * cache.mask
        a1_sq = np.einsum("nd,nd->n", X[rows], X[rows]) + 1.0
        a2_sq = np.einsum("nh,nh->n", cache.hidden, cache.hidden) + 1.0
        sum_sq += float(a1_sq @ np.einsum("nh,nh->n", d1, d1) + a2_sq @ np.einsum("nc,nc->n", d2, d2))
        g.W1[...] += X[rows].T @ d1
        g.b1[...] += d1.sum(axis=0)
        g.W2[...] += cache.hidden.T @ d2
        g.b2[...] += d2.sum(axis=0)
    grad /= n
    ce_norm_sq = float(grad @ grad)
    trace = (sum_sq - n * ce_norm_sq) / (n - 1)
    total = grad + (l2 / n) * w
    return GradientNoise(
        trace_covariance=float(trace), gradient_norm_squared=float(total @ total), mean_example_norm_squared=sum_sq / n
    )


# ----------------------------------------------------------------------------------------------
# Hessian-vector products and the sharpness


class HessianVectorProduct:
    """Exact ``v -> (d^2 L / dw^2) v`` of the mean cross-entropy ``L = H / N`` (R-operator).

    With the forward pass cached (``h``, ``m``, ``p``, ``delta2 = (p - onehot(y)) / N``) and a
    direction ``v = (V1, c1, V2, c2)``:

        R(s1) = X V1 + c1,   R(h) = m * R(s1),   R(z) = R(h) W2 + h V2 + c2,
        R(delta2) = (p * R(z) - p (p . R(z))) / N,
        R(gW2) = R(h)^T delta2 + h^T R(delta2),   R(gb2) = sum_i R(delta2),
        R(delta1) = m * (R(delta2) W2^T + delta2 V2^T),
        R(gW1) = X^T R(delta1),   R(gb1) = sum_i R(delta1).

    The ReLU's second derivative (a delta at 0) is ignored: the Hessian is that of the
    piecewise-quadratic network with the current activation pattern, which is the Hessian of
    L wherever it exists.
    """

    def __init__(self, arch: Architecture, w: np.ndarray, X: np.ndarray, y: np.ndarray):
        self.arch = arch
        self.w = as_float64(arch, w)
        self.X = np.ascontiguousarray(X, dtype=np.float64)
        self.n = self.X.shape[0]
        self.cache = forward_cache(arch, self.w, self.X)
        d2 = self.cache.probs.copy()
        d2[np.arange(self.n), np.asarray(y)] -= 1.0
        self.delta2 = d2 / self.n
        self.matvecs = 0

    def __call__(self, v: np.ndarray) -> np.ndarray:
        arch, c = self.arch, self.cache
        v = np.ascontiguousarray(np.ravel(v), dtype=np.float64)
        p, dv = arch.unpack(self.w), arch.unpack(v)
        Rh = self.X @ dv.W1
        Rh += dv.b1
        Rh *= c.mask
        Rz = Rh @ p.W2 + c.hidden @ dv.W2 + dv.b2
        Rd2 = (c.probs * Rz - c.probs * (c.probs * Rz).sum(axis=1, keepdims=True)) / self.n
        out = np.empty_like(self.w)
        o = arch.unpack(out)
        o.W2[...] = Rh.T @ self.delta2 + c.hidden.T @ Rd2
        o.b2[...] = Rd2.sum(axis=0)
        Rd1 = (Rd2 @ p.W2.T + self.delta2 @ dv.W2.T) * c.mask
        o.W1[...] = self.X.T @ Rd1
        o.b1[...] = Rd1.sum(axis=0)
        self.matvecs += 1
        return out

    def operator(self) -> LinearOperator:
        p = self.arch.n_params
        return LinearOperator((p, p), matvec=self, dtype=np.float64)


@dataclass(frozen=True)
class Sharpness:
    """Largest eigenvalue of the mean-cross-entropy Hessian and how it was found.

    ``converged`` is False when Lanczos stopped at ``max_iterations`` (``eigenvalue`` is then
    its best Ritz value, or ``nan`` if it had none).
    """

    eigenvalue: float
    matvecs: int
    converged: bool


def sharpness(
    arch: Architecture,
    w: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    rng: np.random.Generator,
    *,
    tolerance: float = 1e-3,
    max_iterations: int = 300,
    lanczos_vectors: int = 20,
) -> Sharpness:
    """Largest (algebraic) eigenvalue of ``d^2 L / dw^2``, ``L`` the mean cross-entropy.

    Implicitly restarted Lanczos (ARPACK, ``eigsh(which="LA")``) on :class:`HessianVectorProduct`,
    started from a standard normal vector drawn from ``rng``, to relative accuracy ``tolerance``.
    The Hessian of the summed cross-entropy has ``N`` times this eigenvalue. A network whose
    softmax outputs are exactly one-hot in float64 (memorised with huge margins) has a zero
    Hessian; that is detected from the first product and reported as sharpness 0.
    """
    hvp = HessianVectorProduct(arch, w, X, y)
    v0 = rng.standard_normal(arch.n_params)
    if not np.any(hvp(v0)):
        return Sharpness(eigenvalue=0.0, matvecs=hvp.matvecs, converged=True)
    ncv = min(arch.n_params, lanczos_vectors)
    try:
        value = eigsh(
            hvp.operator(), k=1, which="LA", tol=tolerance, maxiter=max_iterations, ncv=ncv, v0=v0,
            return_eigenvectors=False,
        )
    except ArpackNoConvergence as err:
        values = np.asarray(err.eigenvalues)
        return Sharpness(float(values.max()) if values.size else float("nan"), hvp.matvecs, False)
    return Sharpness(eigenvalue=float(value[0]), matvecs=hvp.matvecs, converged=True)
