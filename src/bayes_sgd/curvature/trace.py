"""The exact trace of the whole network's Gauss-Newton, without forming it (:mod:`bayes_sgd.curvature`)."""

from __future__ import annotations


import numpy as np

from bayes_sgd.mlp import Architecture
from bayes_sgd.curvature.forward import _chunks, as_float64, forward_cache


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
