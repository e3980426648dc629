"""The exact spectrum of the whole network's Gauss-Newton through its Gram matrix, and the
non-MAP term of the Laplace evidence (:mod:`bayes_sgd.curvature`).

**Exact GGN spectrum.** Write ``Lambda_i = S_i S_i^T`` with ``S_i`` ``[C, C - 1]`` (the softmax
curvature has rank at most ``C - 1``: ``Lambda_i 1 = 0``) and stack the rows ``M_i = S_i^T J_i``
into ``M`` ``[N (C - 1), p]``. Then ``GGN = M^T M``, whose nonzero eigenvalues are those of the
Gram matrix ``K = M M^T`` ``[N (C - 1), N (C - 1)]``, and

    ln det(GGN + lambda I_p) = ln det(K + lambda I) + (p - N (C - 1)) ln lambda,

exact, with no product by the ``p x p`` GGN. For the two dense layers of :mod:`bayes_sgd.mlp`,
``J_i J_j^T = (a1_i . a1_j) D_i^T D_j + (a2_i . a2_j) I`` with ``D_i = dz_i/ds1_i = diag(m_i) W2``
``[H, C]``, so

    K[(i,a),(j,b)] = (a1_i . a1_j) (Phi_i Phi_j^T)[a,b] + (a2_i . a2_j) (S_i^T S_j)[a,b],
    Phi_i = S_i^T W2^T diag(m_i)      [C - 1, H],

``(N (C - 1))^2 (H + d + C)`` multiply-adds and one symmetric eigenproblem of size ``N (C - 1)``
(9,000 at N = 1,000: the step that dominates). ``S_i`` is ``Q_i diag(sqrt(mu_i))`` over the
``C - 1`` largest eigenpairs of ``Lambda_i`` (the smallest is the zero of the ``1`` direction).

**Non-MAP term.** SGD's final weights ``w`` are not the minimiser of ``C(w) = H(w) + (lambda/2)|w|^2``.
The second-order expansion ``C(w + d) = C(w) + g . d + 1/2 d^T A d`` with ``g = grad H + lambda w``
and ``A = GGN + lambda I`` integrates to the usual Laplace evidence **plus**

    1/2 g^T A^-1 g = (1 / (2 lambda)) [ |g|^2 - (M g)^T (K + lambda I)^-1 (M g) ]      (Woodbury),

which is non-negative and vanishes only at the minimum. With ``K = U diag(e) U^T``, ``M g`` is
``M grad H + lambda M w`` (two Jacobian-vector products of the logits, :func:`logit_jvp`) and the
term costs ``O(N C)`` for every further ``lambda``. It is the evidence of the quadratic model
around ``w``: along directions where the GGN is zero it trusts the gradient all the way to
``g / lambda``, so it is reported beside the evidence, never folded into it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg

from bayes_sgd.mlp import Architecture
from bayes_sgd.curvature.forward import ForwardCache, _with_bias, as_float64, forward_cache


def softmax_curvature_factor(probs: np.ndarray) -> np.ndarray:
    """``S_i`` ``[n, C, C - 1]`` with ``S_i S_i^T = Lambda_i = diag(p_i) - p_i p_i^T`` (up to
    rounding): the ``C - 1`` largest eigenpairs of ``Lambda_i``, scaled by the root of their eigenvalue."""
    lam = -probs[:, :, None] * probs[:, None, :]
    idx = np.arange(probs.shape[1])
    lam[:, idx, idx] += probs
    mu, Q = np.linalg.eigh(lam)
    return Q[:, :, 1:] * np.sqrt(np.clip(mu[:, None, 1:], 0.0, None))


def logit_vjp(arch: Architecture, w: np.ndarray, X: np.ndarray, cache: ForwardCache, cotangent: np.ndarray) -> np.ndarray:
    """``sum_i J_i^T u_i`` (flat, the layout of ``w``): logit cotangents ``u`` ``[n, C]`` pulled back
    to the parameters (one backward pass)."""
    p = arch.unpack(w)
    out = np.empty_like(w)
    o = arch.unpack(out)
    o.W2[...] = cache.hidden.T @ cotangent
    o.b2[...] = cotangent.sum(axis=0)
    d1 = (cotangent @ p.W2.T) * cache.mask
    o.W1[...] = X.T @ d1
    o.b1[...] = d1.sum(axis=0)
    return out


def summed_gradient(arch: Architecture, w: np.ndarray, X: np.ndarray, y: np.ndarray, cache: ForwardCache) -> np.ndarray:
    """``grad H`` of the summed cross-entropy at ``w`` (flat): the pull-back of ``p_i - onehot(y_i)``."""
    d2 = cache.probs.copy()
    d2[np.arange(len(y)), np.asarray(y)] -= 1.0
    return logit_vjp(arch, w, X, cache, d2)


def logit_jvp(arch: Architecture, w: np.ndarray, X: np.ndarray, cache: ForwardCache, direction: np.ndarray) -> np.ndarray:
    """``J_i v`` ``[n, C]``: the change of every example's logits along ``direction`` (flat)."""
    p = arch.unpack(w)
    v = arch.unpack(np.asarray(direction, dtype=np.float64))
    dh = (X @ v.W1 + v.b1) * cache.mask
    return dh @ p.W2 + cache.hidden @ v.W2 + v.b2


@dataclass(frozen=True)
class GramSpectrum:
    """The eigen-decomposition of the Gram matrix ``K = U diag(e) U^T`` of the whole network's GGN
    and the two projected vectors the non-MAP term needs (``U^T M grad H`` and ``U^T M w``)."""

    n_parameters: int
    eigenvalues: np.ndarray  # ascending, clipped at 0, length N (C - 1)
    gradient_coordinates: np.ndarray
    weight_coordinates: np.ndarray
    gradient_norm_squared: float  # |grad H|^2
    gradient_dot_weights: float  # grad H . w
    weight_norm_squared: float  # |w|^2

    def ggn_eigenvalues(self) -> np.ndarray:
        """All ``p`` eigenvalues of the GGN: those of ``K`` and ``p - N (C - 1)`` exact zeros."""
        return np.concatenate([np.zeros(self.n_parameters - len(self.eigenvalues)), self.eigenvalues])

    def non_map_term(self, prior_precision: float) -> float:
        """``1/2 g^T (GGN + lambda I)^-1 g`` with ``g = grad H + lambda w`` (module docstring)."""
        lam = float(prior_precision)
        if not lam > 0:
            raise ValueError(f"prior precision must be positive, got {prior_precision!r}")
        c = self.gradient_coordinates + lam * self.weight_coordinates
        g_sq = self.gradient_norm_squared + 2 * lam * self.gradient_dot_weights + lam**2 * self.weight_norm_squared
        inside = float(c @ (c / (self.eigenvalues + lam)))
        return max(0.0, 0.5 * (g_sq - inside) / lam)


def _gram_factors(arch: Architecture, w: np.ndarray, cache: ForwardCache, S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``Phi`` ``[N (C - 1), H]`` (rows ``Phi_i``, module docstring) and ``S^T`` ``[N (C - 1), C]``."""
    n, C, r = S.shape
    W2 = arch.unpack(w).W2
    phi = np.einsum("hc,nca->nah", W2, S) * cache.mask[:, None, :]  # [n, C-1, H]
    return phi.reshape(n * r, -1), S.transpose(0, 2, 1).reshape(n * r, C)


def gram_diagonal(arch: Architecture, w: np.ndarray, X: np.ndarray, cache: ForwardCache, S: np.ndarray) -> np.ndarray:
    """The diagonal of ``K`` (row ``(i, a)`` at ``i (C - 1) + a``): ``|a1_i|^2 |Phi_ia|^2 +
    |a2_i|^2 |S_ia|^2``, in ``O(N C H)``. Its sum is the Gauss-Newton's trace."""
    n, _, r = S.shape
    phi, flat = _gram_factors(arch, w, cache, S)
    a1 = (X * X).sum(axis=1) + 1.0
    a2 = (cache.hidden * cache.hidden).sum(axis=1) + 1.0
    return np.repeat(a1, r) * (phi * phi).sum(axis=1) + np.repeat(a2, r) * (flat * flat).sum(axis=1)


def gram_matrix(arch: Architecture, w: np.ndarray, X: np.ndarray, cache: ForwardCache, S: np.ndarray,
                rows: np.ndarray | None = None) -> np.ndarray:
    """``K = M M^T`` ``[N (C - 1), N (C - 1)]`` (module docstring), row ``(i, a)`` at ``i (C - 1) + a``;
    with ``rows`` (indices into those), the principal submatrix ``K[rows][:, rows]`` only, at a cost
    of ``len(rows)^2 (H + d + C)``."""
    n, C, r = S.shape
    phi, flat = _gram_factors(arch, w, cache, S)
    a1, a2 = _with_bias(X), _with_bias(cache.hidden)
    if rows is None:
        K = phi @ phi.T
        del phi
        K4 = K.reshape(n, r, n, r)
        K4 *= (a1 @ a1.T)[:, None, :, None]
        K4 += (flat @ flat.T).reshape(n, r, n, r) * (a2 @ a2.T)[:, None, :, None]
        return K
    rows = np.asarray(rows, dtype=np.intp)
    examples = np.unique(rows // r)
    where = np.searchsorted(examples, rows // r)  # each kept row's example among the kept examples
    phi, flat = phi[rows], flat[rows]
    K = phi @ phi.T
    del phi
    A1, A2 = a1[examples] @ a1[examples].T, a2[examples] @ a2[examples].T
    for start in range(0, len(rows), 2048):  # in row blocks: no temporary as large as K
        part = slice(start, start + 2048)
        K[part] *= A1[where[part]][:, where]
        K[part] += (flat[part] @ flat.T) * A2[where[part]][:, where]
    return K


def gram_spectrum(arch: Architecture, w: np.ndarray, X: np.ndarray, y: np.ndarray) -> GramSpectrum:
    """The exact GGN spectrum of every parameter and the parts of the non-MAP term, at ``w`` on ``(X, y)``.

    Memory: about three ``(N (C - 1))^2`` float64 matrices (2 GB at N = 1,000, ten classes).
    """
    w = as_float64(arch, w)
    X = np.ascontiguousarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.intp)
    cache = forward_cache(arch, w, X)
    S = softmax_curvature_factor(cache.probs)
    n, _, r = S.shape
    if n * r > arch.n_params:
        raise ValueError(f"N (C - 1) = {n * r} exceeds the {arch.n_params} parameters: the Gram matrix is not the smaller side")
    K = gram_matrix(arch, w, X, cache, S)
    e, U = linalg.eigh(K, overwrite_a=True, check_finite=False, driver="evd")
    del K
    grad = summed_gradient(arch, w, X, y, cache)

    def project(direction):
        return U.T @ np.einsum("nca,nc->na", S, logit_jvp(arch, w, X, cache, direction)).ravel()

    return GramSpectrum(
        n_parameters=arch.n_params,
        eigenvalues=np.clip(e, 0.0, None),
        gradient_coordinates=project(grad),
        weight_coordinates=project(w),
        gradient_norm_squared=float(grad @ grad),
        gradient_dot_weights=float(grad @ w),
        weight_norm_squared=float(w @ w),
    )
