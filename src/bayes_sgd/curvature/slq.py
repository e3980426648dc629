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
from bayes_sgd.curvature.gram import gram_diagonal, gram_matrix, logit_jvp, logit_vjp, softmax_curvature_factor


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


# ----------------------------------------------------------------------------------------------
# The Gram side with its negligible rows pruned (method slq of bayes_sgd.mlp_evidence)

#: Above this many kept rows the pruned Gram matrix is not stored (30,000^2 float64 is 7.2 GB) and
#: SLQ runs on matrix-free products (:class:`GramProduct`) instead, each a forward and a backward
#: pass over the N examples (0.1 s at N = 1,000 on one core, growing as N). The products of the
#: deflation come in blocks of 100, which a stored matrix serves with one matrix product: a trained
#: N = 2,000 run (8,865 of 18,000 rows kept) took 20 s in all, while an N = 4,000 run with 24,383 of
#: 36,000 rows kept took 279 s on matrix-free products.
MAX_DENSE_ROWS = 30000


def pruned_rows(diagonal: np.ndarray, max_dropped_trace: float) -> tuple[np.ndarray, float]:
    """``(kept, dropped)``: the rows of the Gram matrix kept (ascending indices) when the rows of
    smallest diagonal are dropped for as long as their diagonals sum to at most
    ``max_dropped_trace``, and that sum.

    Why it is safe (Cauchy interlacing and Fischer's inequality): for a positive semi-definite
    ``K`` with the kept block ``K11`` and the dropped block ``K22``,
    ``ln det(I + K11/lambda) <= ln det(I + K/lambda) <= ln det(I + K11/lambda) + tr(K22)/lambda``,
    so the Occam factor of the kept rows is low by at most ``dropped / (2 lambda)``, at every
    ``lambda``. A confidently fitted example has a vanishing softmax curvature, so its rows are
    nearly zero: on trained 784-800-10 networks at N = 1,000 about 2,000 of the 9,000 rows carry
    all but 1e-6 of the trace.
    """
    d = np.clip(np.asarray(diagonal, dtype=np.float64), 0.0, None)
    if not max_dropped_trace >= 0:
        raise ValueError(f"the trace to drop must be non-negative, got {max_dropped_trace!r}")
    order = np.argsort(d, kind="stable")
    total = np.cumsum(d[order])
    k = int(np.searchsorted(total, max_dropped_trace, side="right"))
    return np.sort(order[k:]), float(total[k - 1]) if k else 0.0


def block_krylov_basis(matmat, n: int, block: int, steps: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``(Q, T)``: an orthonormal basis ``Q`` ``[n, <= block x steps]`` of the block Krylov space of
    ``matmat`` from a Gaussian ``[n, block]`` start, and ``T = Q^T K Q`` (symmetrised). Every new
    block is orthogonalised twice against all before it; directions that vanish (an invariant
    subspace: the operator's rank is exhausted) are dropped, and the space stops growing."""
    Q = np.linalg.qr(rng.standard_normal((n, min(block, n))))[0]
    basis, images = [Q], []
    scale = 0.0
    for k in range(steps):
        R = matmat(basis[-1])
        images.append(R)
        if k == steps - 1:
            break
        B = np.hstack(basis)
        for _ in range(2):
            R = R - B @ (B.T @ R)
        U, sv, _ = np.linalg.svd(R, full_matrices=False)
        scale = max(scale, float(sv[0]) if len(sv) else 0.0)
        U = U[:, sv > 1e-10 * max(scale, 1e-300)]
        if U.shape[1] == 0 or B.shape[1] + U.shape[1] > n:
            break
        U = U - B @ (B.T @ U)
        basis.append(np.linalg.qr(U)[0])
    Q = np.hstack(basis[: len(images)])
    T = Q.T @ np.hstack(images)
    return Q, 0.5 * (T + T.T)


def deflated_slq(matmat, n: int, *, block: int, block_steps: int, probes: int, steps: int,
                 rng: np.random.Generator) -> SpectralQuadrature:
    """Stochastic Lanczos quadrature with the top of the spectrum deflated (Gambhir, Stathopoulos &
    Orginos 2017; in the spirit of Hutch++, Meyer et al. 2021): a block Krylov space ``Q``
    (:func:`block_krylov_basis`, ``block x block_steps`` products) captures the large eigenvalues,
    whose Ritz values enter the quadrature with weight 1 in every probe; the rest,
    ``(I - QQ^T) K (I - QQ^T)``, is read by ``probes`` Rademacher probes projected off ``Q``, each
    with ``steps`` Lanczos steps (run in lockstep, so every step is one block product). Where the
    Occam factor's terms are concentrated on a few hundred eigenvalues (trained networks), the
    probes only see the small remainder and their spread, the standard error, shrinks with it."""
    Q, T = block_krylov_basis(matmat, n, block, block_steps, rng) if block and block_steps else (np.zeros((n, 0)), np.zeros((0, 0)))
    ritz = np.clip(np.linalg.eigvalsh(T), 0.0, None) if T.size else np.zeros(0)
    rest = n - Q.shape[1]
    if probes < 1 or rest <= 0:
        return SpectralQuadrature(n, (ritz,), (np.ones_like(ritz),))

    def project(V):
        return V - Q @ (Q.T @ V)

    Z = project(rng.choice([-1.0, 1.0], size=(n, probes)))
    norms = np.linalg.norm(Z, axis=0)
    V = [Z / norms]
    alphas, betas = [], []
    for k in range(min(steps, rest)):
        W = project(matmat(V[-1]))
        alphas.append(np.einsum("ij,ij->j", V[-1], W))
        stack = np.stack(V)
        for _ in range(2):
            W = project(W - np.einsum("kip,kp->ip", stack, np.einsum("kip,ip->kp", stack, W)))
        b = np.linalg.norm(W, axis=0)
        if k == min(steps, rest) - 1:
            break
        betas.append(b)
        V.append(W / np.maximum(b, 1e-300))
    alphas, betas = np.array(alphas), np.array(betas)
    nodes, weights = [], []
    for j in range(probes):
        a, b = alphas[:, j], betas[:, j] if len(betas) else np.zeros(0)
        # an early invariant subspace of this probe: its tridiagonal ends at the first tiny beta
        small = np.flatnonzero(b <= 1e-10 * max(1.0, float(np.abs(a).max())))
        m = int(small[0]) + 1 if len(small) else len(a)
        theta, vectors = linalg.eigh_tridiagonal(a[:m], b[: m - 1])
        # Hutchinson on the remainder: z^T f(R) z with |z|^2 = norms^2 (about ``rest``)
        nodes.append(np.concatenate([ritz, np.clip(theta, 0.0, None)]))
        weights.append(np.concatenate([np.ones_like(ritz), norms[j] ** 2 * vectors[0] ** 2]))
    return SpectralQuadrature(n, tuple(nodes), tuple(weights))


def pruning_budget(prior_precisions, tolerance: float) -> float:
    """The trace :func:`pruned_rows` may drop so that the Occam factor is low by at most
    ``tolerance`` nats at the smallest of ``prior_precisions`` (config ``evidence.slq.pruning_tolerance``)."""
    return 2.0 * float(min(prior_precisions)) * float(tolerance)


@dataclass(frozen=True)
class GramSideSpectrum:
    """The whole network's Gauss-Newton spectrum from its pruned Gram matrix (:func:`gram_side_spectrum`).

    ``solver`` is ``dense`` (the kept rows' exact eigenvalues: no stochastic error, only the pruning
    bound) or ``lanczos`` (SLQ on the kept rows: a standard error from the probes as well).
    """

    n_parameters: int
    rows: int  # N (C - 1)
    rows_kept: int
    dropped_trace: float
    solver: str
    quadrature: SpectralQuadrature  # dense: one 'probe' whose nodes are the eigenvalues, weights 1

    def nodes_and_weights(self) -> tuple[np.ndarray, np.ndarray]:
        return self.quadrature.pooled()

    def occam_standard_error(self, prior_precision: float) -> float:
        """0 for the dense solver; SLQ's standard error from its probes otherwise."""
        return 0.0 if self.solver == "dense" else self.quadrature.occam_standard_error(prior_precision)

    def occam_bound(self, prior_precision: float) -> float:
        """How much the pruning can have lowered the Occam factor: ``dropped / (2 lambda)``."""
        return self.dropped_trace / (2.0 * float(prior_precision))


def gram_side_spectrum(
    arch: Architecture, w: np.ndarray, X: np.ndarray, *, max_dropped_trace: float, dense_rows: int,
    probes: int, steps: int, block: int, block_steps: int, rng: np.random.Generator,
) -> GramSideSpectrum:
    """The Gauss-Newton spectrum of every parameter at ``w`` on ``X``, from the Gram matrix's rows
    left after :func:`pruned_rows`: their exact eigenvalues when at most ``dense_rows`` are left
    (the principal submatrix is built, ``rows^2 (H + d + C)`` multiply-adds, and diagonalised,
    ``rows^3``), otherwise :func:`deflated_slq` (a block Krylov space of ``block`` x ``block_steps``
    products, then ``probes`` x ``steps`` on the remainder), with products by the stored submatrix
    up to :data:`MAX_DENSE_ROWS` rows and matrix-free products (:class:`GramProduct`) beyond."""
    w = as_float64(arch, w)
    X = np.ascontiguousarray(X, dtype=np.float64)
    cache = forward_cache(arch, w, X)
    S = softmax_curvature_factor(cache.probs)
    kept, dropped = pruned_rows(gram_diagonal(arch, w, X, cache, S), max_dropped_trace)
    rows = S.shape[0] * S.shape[2]
    common = dict(n_parameters=arch.n_params, rows=rows, rows_kept=len(kept), dropped_trace=dropped)
    if len(kept) == 0:
        empty = SpectralQuadrature(0, (np.zeros(0),), (np.zeros(0),))
        return GramSideSpectrum(**common, solver="dense", quadrature=empty)
    if len(kept) <= dense_rows:
        K = gram_matrix(arch, w, X, cache, S, rows=kept)
        e = np.clip(linalg.eigvalsh(K, overwrite_a=True, check_finite=False), 0.0, None)
        quad = SpectralQuadrature(len(kept), (e,), (np.ones_like(e),))
        return GramSideSpectrum(**common, solver="dense", quadrature=quad)
    if len(kept) <= MAX_DENSE_ROWS:
        K = gram_matrix(arch, w, X, cache, S, rows=kept)
        matmat = K.__matmul__
    else:
        gram = GramProduct(arch, w, X)

        def matmat(U: np.ndarray) -> np.ndarray:
            out = np.empty_like(U)
            full = np.zeros(rows)
            for j in range(U.shape[1]):
                full[kept] = U[:, j]
                out[:, j] = gram(full)[kept]
            return out
    quad = deflated_slq(matmat, len(kept), block=block, block_steps=block_steps, probes=probes, steps=steps, rng=rng)
    return GramSideSpectrum(**common, solver="lanczos", quadrature=quad)
