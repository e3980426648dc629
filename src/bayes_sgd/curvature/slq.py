"""Stochastic Lanczos quadrature (SLQ) of the whole network's Gauss-Newton: a spectral density
from exact Gauss-Newton-vector products, without KFAC's independence assumption
(:mod:`bayes_sgd.curvature`).

**Products.** ``GGN v = sum_i J_i^T Lambda_i J_i v``: the change of the logits along ``v``
(:func:`~bayes_sgd.curvature.gram.logit_jvp`), times ``Lambda_i = diag(p_i) - p_i p_i^T``, pulled
back through the network (one backward pass) (:class:`GaussNewtonProduct`).

**The Gram side.** The Gauss-Newton of p = 636,010 parameters has rank at most N (C - 1) (9,000 at
N = 1,000): 98.6% of its spectrum is an exact zero, and Lanczos resolves that zero only
approximately, which at a small prior precision turns into a large error (a Ritz value of 1e-6
carrying 98.6% of the mass adds 0.5 p ln(1 + 1e-6 / lambda), thousands of nats at lambda = 1e-4).
Its nonzero spectrum is that of the Gram matrix ``K = M M^T`` of :mod:`bayes_sgd.curvature.gram`,
whose products cost the same (one backward and one forward pass, :class:`GramProduct`) and
which has no structural null space, so SLQ runs there (dimension N (C - 1)).

**Quadrature** (Ubaru, Chen & Saad 2017). For a Rademacher probe ``z`` (``|z|^2 = p``), ``k``
Lanczos steps from ``z / |z|`` (full reorthogonalisation) give a ``k x k`` tridiagonal matrix with
eigenvalues ``theta_j`` and first eigenvector components ``tau_j``; then
``z^T f(GGN) z ~= p sum_j tau_j^2 f(theta_j)``, and the mean over probes estimates
``tr f(GGN)`` (Hutchinson). Every ``f`` is read from the same nodes, so one Lanczos run per probe
serves the whole prior-precision grid and the search for ``lambda*``: the result is a discrete
spectral measure, nodes ``theta`` with weights ``p tau^2 / n_probes``
(:class:`SpectralQuadrature`), used wherever the exact evidence uses eigenvalues. The Occam
factor ``1/2 tr ln(1 + GGN / lambda)`` is estimated with its standard error from the spread
over probes (:meth:`SpectralQuadrature.occam_standard_error`).

No library served: SciPy has Lanczos (``eigsh``) but no quadrature, and the SLQ of imate takes a
stored (dense or sparse) matrix, where the Gauss-Newton here exists only as products.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg

from bayes_sgd.mlp import Architecture
from bayes_sgd.curvature.forward import as_float64, forward_cache
from bayes_sgd.curvature.gram import logit_jvp, logit_vjp, softmax_curvature_factor


class GaussNewtonProduct:
    """Exact ``v -> GGN v`` of the summed cross-entropy at ``w`` on ``X`` (module docstring)."""

    def __init__(self, arch: Architecture, w: np.ndarray, X: np.ndarray):
        self.arch = arch
        self.w = as_float64(arch, w)
        self.X = np.ascontiguousarray(X, dtype=np.float64)
        self.cache = forward_cache(arch, self.w, self.X)
        self.matvecs = 0

    def __call__(self, v: np.ndarray) -> np.ndarray:
        arch, c = self.arch, self.cache
        dz = logit_jvp(arch, self.w, self.X, c, np.ascontiguousarray(v, dtype=np.float64))
        u = c.probs * dz - c.probs * (c.probs * dz).sum(axis=1, keepdims=True)
        self.matvecs += 1
        return logit_vjp(arch, self.w, self.X, c, u)


class GramProduct:
    """Exact ``u -> K u`` with ``K = M M^T`` ``[N (C - 1)]`` square, ``M`` the rows ``S_i^T J_i``
    (:mod:`bayes_sgd.curvature.gram`): ``M^T u = sum_i J_i^T (S_i u_i)`` (a backward pass with the
    logit cotangents ``S_i u_i``), then ``M v = S_i^T J_i v`` (a forward pass)."""

    def __init__(self, arch: Architecture, w: np.ndarray, X: np.ndarray):
        self.arch = arch
        self.w = as_float64(arch, w)
        self.X = np.ascontiguousarray(X, dtype=np.float64)
        self.cache = forward_cache(arch, self.w, self.X)
        self.S = softmax_curvature_factor(self.cache.probs)  # [N, C, C-1]
        self.dimension = self.S.shape[0] * self.S.shape[2]
        self.matvecs = 0

    def __call__(self, u: np.ndarray) -> np.ndarray:
        arch, c = self.arch, self.cache
        n, _, r = self.S.shape
        cot = np.einsum("nca,na->nc", self.S, np.asarray(u, dtype=np.float64).reshape(n, r))
        v = logit_vjp(arch, self.w, self.X, c, cot)
        self.matvecs += 1
        return np.einsum("nca,nc->na", self.S, logit_jvp(arch, self.w, self.X, c, v)).ravel()


def lanczos_nodes(matvec, start: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """``(theta, tau^2)``: the Ritz values of ``steps`` Lanczos steps from ``start`` (normalised)
    and the squared first components of their eigenvectors (the Gauss quadrature of the spectral
    measure of ``start``). Full reorthogonalisation; stops early on an invariant subspace."""
    q = start / np.linalg.norm(start)
    basis = [q]
    alpha, beta = [], []
    for k in range(steps):
        r = matvec(basis[-1])
        alpha.append(float(basis[-1] @ r))
        Q = np.array(basis)
        r -= Q.T @ (Q @ r)  # twice is enough (Kahan-Parlett)
        r -= Q.T @ (Q @ r)
        b = float(np.linalg.norm(r))
        if k == steps - 1 or b <= 1e-10 * max(1.0, abs(alpha[-1])):
            break
        beta.append(b)
        basis.append(r / b)
    theta, vectors = linalg.eigh_tridiagonal(np.array(alpha), np.array(beta[: len(alpha) - 1]))
    return np.clip(theta, 0.0, None), vectors[0] ** 2


@dataclass(frozen=True)
class SpectralQuadrature:
    """The SLQ estimate of the spectrum: per probe, its nodes and weights (each probe's weights sum
    to ``n_parameters``); pooled, a discrete measure of total mass ``n_parameters``."""

    n_parameters: int
    nodes: tuple[np.ndarray, ...]
    weights: tuple[np.ndarray, ...]

    @property
    def n_probes(self) -> int:
        return len(self.nodes)

    def pooled(self) -> tuple[np.ndarray, np.ndarray]:
        """Nodes and weights of the mean over probes (weights ``p tau^2 / n_probes``)."""
        return np.concatenate(self.nodes), np.concatenate(self.weights) / self.n_probes

    def occam_per_probe(self, prior_precision: float) -> np.ndarray:
        """Each probe's estimate of the Occam factor ``1/2 tr ln(1 + GGN / lambda)``."""
        return np.array([0.5 * float(w @ np.log1p(t / prior_precision)) for t, w in zip(self.nodes, self.weights)])

    def occam_standard_error(self, prior_precision: float) -> float:
        """The standard error of the pooled Occam factor from the spread over probes."""
        per = self.occam_per_probe(prior_precision)
        return float(per.std(ddof=1) / np.sqrt(len(per))) if len(per) > 1 else float("nan")


def slq_spectrum(matvec, n_parameters: int, probes: int, steps: int, rng: np.random.Generator) -> SpectralQuadrature:
    """``probes`` Rademacher probes of ``steps`` Lanczos steps each on ``matvec`` (``n_parameters`` square)."""
    if probes < 1 or steps < 1:
        raise ValueError(f"SLQ needs at least one probe and one step, got probes={probes}, steps={steps}")
    nodes, weights = [], []
    for _ in range(probes):
        z = rng.choice([-1.0, 1.0], size=n_parameters)
        theta, tau2 = lanczos_nodes(matvec, z, steps)
        nodes.append(theta)
        weights.append(n_parameters * tau2)
    return SpectralQuadrature(n_parameters, tuple(nodes), tuple(weights))
