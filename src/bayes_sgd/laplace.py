"""Bayesian model comparison with the Laplace approximation (paper Section 2).

A model M with p parameters w, a Gaussian prior of precision ``lambda`` on every parameter,
``P(w) = (lambda / 2 pi)^(p/2) exp(-lambda |w|^2 / 2)``, and the summed negative log-likelihood
``H(w) = -sum_i ln P(y_i | w, x_i)`` has the regularised cost

    C(w) = H(w) + (lambda / 2) |w|^2

and the evidence ``P(y | x; M) = (lambda / 2 pi)^(p/2) integral exp(-C(w)) dw``. Expanding C to
second order about its minimum w0 (Hessian A, eigenvalues lambda_j >= lambda) gives the Laplace
approximation used throughout the paper (Smith & Le 2018, Section 2; MacKay 1992):

    ln P(y | x; M) ~= -C(w0) - 1/2 sum_j ln(lambda_j / lambda)
                    = -C(w0) - 1/2 (ln det A - p ln lambda).

The second term is the (log) **Occam factor**; this project reports it as the non-negative
penalty ``1/2 sum_j ln(lambda_j / lambda)`` that is subtracted from ``-C(w0)``. The
approximation is exact when the posterior is Gaussian (e.g. linear regression with Gaussian
noise).

The null model assigns equal probability to each of n classes, ``ln P(y | x; NULL) = -N ln n``.

**Sign convention.** The log evidence ratio reported by this project is

    ln P(y | x; M) - ln P(y | x; NULL)

so that a **positive** value means the data favour the model M over the null model and a
negative value means they favour the null model. (The paper plots the same quantity with the
opposite sign in places.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg


@dataclass(frozen=True)
class LaplaceEvidence:
    """The terms of the Laplace log evidence at a minimum w0 of C.

    Attributes
    ----------
    cost:
        C(w0), the regularised summed cost at the minimum.
    occam_factor:
        ``1/2 sum_j ln(lambda_j / lambda)`` (>= 0), the penalty subtracted from ``-C(w0)``.
    log_evidence:
        ``-C(w0) - occam_factor``, the Laplace approximation to ln P(y | x; M).
    """

    cost: float
    occam_factor: float
    log_evidence: float


def log_det_from_cholesky(cholesky_factor: np.ndarray) -> float:
    """``ln det A = 2 sum_i ln L_ii`` for a (lower or upper) triangular factor of A."""
    diagonal = np.diagonal(cholesky_factor)
    if np.any(diagonal <= 0.0):
        raise ValueError("Cholesky factor has a non-positive diagonal entry")
    return float(2.0 * np.sum(np.log(diagonal)))


def occam_factor(log_det_hessian: float, n_parameters: int, prior_precision: float) -> float:
    """``1/2 sum_j ln(lambda_j / lambda) = 1/2 (ln det A - p ln lambda)``."""
    if prior_precision <= 0.0:
        raise ValueError(f"prior precision must be positive, got {prior_precision!r}")
    return 0.5 * (log_det_hessian - n_parameters * np.log(prior_precision))


def laplace_log_evidence(
    cost_at_minimum: float,
    hessian: np.ndarray | None,
    prior_precision: float,
    *,
    cholesky_factor: np.ndarray | None = None,
) -> LaplaceEvidence:
    """Laplace approximation to ``ln P(y | x; M)`` (paper Section 2).

    ``ln P ~= -C(w0) - 1/2 sum_j ln(lambda_j / lambda)`` with lambda_j the eigenvalues of the
    Hessian A of C at its minimum w0. The log-determinant comes from a Cholesky factor of A:
    pass ``cholesky_factor`` (lower triangular, ``A = L L^T``) when the caller already has it,
    else ``hessian``, which is factorised here. A Hessian that is not positive definite (w0 not
    a strict minimum) raises ``numpy.linalg.LinAlgError``.
    """
    if cholesky_factor is None:
        if hessian is None:
            raise ValueError("pass the Hessian or its Cholesky factor")
        cholesky_factor = linalg.cholesky(np.asarray(hessian, dtype=np.float64), lower=True)
    n_parameters = cholesky_factor.shape[0]
    occam = occam_factor(log_det_from_cholesky(cholesky_factor), n_parameters, prior_precision)
    cost = float(cost_at_minimum)
    return LaplaceEvidence(cost=cost, occam_factor=float(occam), log_evidence=-cost - float(occam))


def null_log_evidence(n_examples: int, n_classes: int) -> float:
    """``ln P(y | x; NULL) = -N ln n``: every one of the n classes has probability 1/n."""
    if n_classes < 2:
        raise ValueError(f"the null model needs at least 2 classes, got {n_classes}")
    return -float(n_examples) * float(np.log(n_classes))


def log_evidence_ratio(log_evidence: float, n_examples: int, n_classes: int) -> float:
    """``ln P(y | x; M) - ln P(y | x; NULL) = ln P(y | x; M) + N ln n``.

    Positive: the data favour the model over the null model; negative: they favour the null
    model.
    """
    return float(log_evidence) - null_log_evidence(n_examples, n_classes)
