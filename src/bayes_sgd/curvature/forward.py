"""The forward pass of the MLP in float64 with what the curvature needs (activations, ReLU mask,
probabilities), and the square root of the softmax curvature (:mod:`bayes_sgd.curvature`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bayes_sgd.mlp import Architecture, log_softmax


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
