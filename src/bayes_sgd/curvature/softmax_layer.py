"""The exact Gauss-Newton (= Hessian) of the softmax layer alone, and its eigenvalues on the directions
that change the probabilities (:mod:`bayes_sgd.curvature`)."""

from __future__ import annotations


import numpy as np
from scipy import linalg
from scipy.linalg import blas

from bayes_sgd.mlp import Architecture
from bayes_sgd.curvature.forward import _chunks, _with_bias, as_float64, forward_cache


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
