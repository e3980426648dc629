"""Exact Hessian-vector products of the mean cross-entropy (Pearlmutter's R-operator) and the
sharpness, their largest eigenvalue by Lanczos (:mod:`bayes_sgd.curvature`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

from bayes_sgd.mlp import Architecture
from bayes_sgd.curvature.forward import as_float64, forward_cache


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
