"""KFAC: the Kronecker-factored approximation of each dense layer's Gauss-Newton block
(Martens & Grosse 2015; Ritter et al. 2018 for the Laplace approximation; :mod:`bayes_sgd.curvature`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg
from scipy.linalg import blas

from bayes_sgd.mlp import Architecture
from bayes_sgd.curvature.forward import _chunks, _with_bias, as_float64, forward_cache, softmax_curvature_root


@dataclass(frozen=True)
class KroneckerFactor:
    """The KFAC approximation ``N * (A kron G)`` of one dense layer's GGN block.

    ``A = mean_i a_i a_i^T`` (inputs with the bias appended) and ``G = mean_i J_i^T Lambda_i J_i``,
    with their eigenvalues (ascending, clipped at 0: both are positive semi-definite and a
    negative eigenvalue is rounding) and eigenvectors (columns).
    """

    name: str
    n_examples: int
    A: np.ndarray
    G: np.ndarray
    a_eigenvalues: np.ndarray
    g_eigenvalues: np.ndarray
    a_vectors: np.ndarray
    g_vectors: np.ndarray

    @property
    def n_params(self) -> int:
        return self.A.shape[0] * self.G.shape[0]

    def ggn_eigenvalues(self) -> np.ndarray:
        """The ``n_params`` eigenvalues ``N a_k g_l`` of ``N (A kron G)``."""
        return (self.n_examples * np.outer(self.a_eigenvalues, self.g_eigenvalues)).ravel()

    def log_det(self, prior_precision: float) -> float:
        """``ln det(N A kron G + lambda I) = sum_kl ln(N a_k g_l + lambda)``."""
        return float(np.log(self.ggn_eigenvalues() + prior_precision).sum())

    def rotate(self, block: np.ndarray) -> np.ndarray:
        """A ``[fan_in + 1, fan_out]`` block of parameters (weights over bias) in the eigenbasis of
        ``A kron G``: ``Q_A^T V Q_G``, whose squares pair with :meth:`ggn_eigenvalues` (same order)."""
        return self.a_vectors.T @ block @ self.g_vectors

    def inverse_quadratic_form(self, rotated: np.ndarray, prior_precision: float) -> float:
        """``v^T (N A kron G + lambda I)^-1 v`` for ``v`` given by :meth:`rotate`."""
        return float((rotated.ravel() ** 2 / (self.ggn_eigenvalues() + prior_precision)).sum())


def _factor(name: str, n: int, A_sum: np.ndarray, G_sum: np.ndarray) -> KroneckerFactor:
    A, G = A_sum / n, G_sum / n
    a_eig, a_vec = linalg.eigh(A, check_finite=False)
    g_eig, g_vec = linalg.eigh(G, check_finite=False)
    return KroneckerFactor(name, n, A, G, np.clip(a_eig, 0.0, None), np.clip(g_eig, 0.0, None), a_vec, g_vec)


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
