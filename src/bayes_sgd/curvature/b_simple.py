"""The gradient noise scale ``B_simple = tr(Sigma) / |G|^2`` of McCandlish et al. (2018), from
per-example gradient norms that are never stored (:mod:`bayes_sgd.curvature`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bayes_sgd.mlp import Architecture
from bayes_sgd.curvature.forward import _chunks, as_float64, forward_cache


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
