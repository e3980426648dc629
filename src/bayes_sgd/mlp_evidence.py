"""The Laplace evidence of a trained MLP at its final weights (docs/paper.md, "Beyond the paper:
the evidence of a trained network"); the claims about it are :mod:`bayes_sgd.claims.evidence`.

**Evidence.** For the final weights ``w`` of a run (p parameters), the summed cross-entropy
``H(w)`` over the run's N training examples and a Gaussian prior of precision ``lambda`` on every
parameter (biases too), the Laplace approximation (docs/paper.md Section 1; MacKay 1992) is

    ln Z(lambda) = -C(w) + (p/2) ln lambda - 1/2 ln det(GGN + lambda I)
                 = depth - Occam factor,
    depth        = -C(w) = -H(w) - (lambda/2) |w|^2,
    Occam factor = 1/2 sum_j ln(1 + e_j / lambda)  (>= 0),

with ``e_j`` the eigenvalues of the generalised Gauss-Newton (GGN) of ``H`` at ``w``
(:mod:`bayes_sgd.curvature`), standing in for the Hessian. ``w`` is where SGD stopped, not
the minimiser of ``C`` for this ``lambda``: the paper's runs have no prior (no L2), so the
evidence is that of the minimum SGD found, read with a prior chosen afterwards. Runs trained
with L2 coefficient ``l2`` (summed-cost convention, :mod:`bayes_sgd.training.sgd`) did minimise ``C`` with
``lambda = l2``; they are treated like the others (grid plus maximising ``lambda``).

Five estimates (column ``method``):

* ``exact``: every parameter, the exact eigenvalues of the whole network's GGN from its
  ``N (C - 1)`` square Gram matrix (:func:`bayes_sgd.curvature.gram_spectrum`; the rest of the
  ``p`` eigenvalues are exactly zero): the ground truth the estimators are judged against, for
  the runs ``evidence.exact_network`` picks with N <= its ``max_examples`` (the eigenproblem
  grows as N^3);
* ``slq``: every parameter, the Gram side of the Gauss-Newton with its negligible rows pruned
  (:func:`bayes_sgd.curvature.gram_side_spectrum`): the rows of the confidently fitted examples,
  whose diagonals sum to at most ``2 lambda_min x evidence.slq.pruning_tolerance``, are dropped,
  which lowers the Occam factor by at most ``dropped trace / (2 lambda)`` (column
  ``occam_bound``, a certified bound); the kept rows' exact eigenvalues when at most
  ``evidence.slq.dense_rows`` are left, stochastic Lanczos quadrature with the top of the
  spectrum deflated otherwise, with the Occam factor's standard error over the probes (column
  ``occam_standard_error``; 0 for exact eigenvalues). No KFAC independence assumption, and any N
  (config ``evidence.slq``; validated against the exact evidence by ``scripts/validate_slq.py``);
* ``kfac``: every parameter, ``e_j = N a_k g_l`` of each layer's KFAC factors (blocks between
  layers dropped), ``p = 636,010`` at H = 800;
* ``kfac_softmax_layer`` and ``exact_softmax_layer``: the evidence of the softmax layer alone
  (``[W2; b2]``, ``p = 10 (H + 1) = 8,010``) with the hidden layer fixed at its trained
  weights, i.e. of a linear softmax model on the trained features ``[h(x), 1]`` with the prior
  on the softmax layer only (depth ``-H(w) - (lambda/2) |w_softmax|^2``). There the GGN is the
  exact Hessian; ``exact_softmax_layer`` uses its exact eigenvalues, ``kfac_softmax_layer`` its
  KFAC approximation, so the pair measures KFAC's error on the same quantity.

The prior precision is reported on a configured grid and at the ``lambda*`` that maximises each
estimate: ``d ln Z / d ln lambda = -(lambda/2)|w|^2 + (1/2) sum_j e_j / (e_j + lambda)`` is
strictly decreasing in ``ln lambda`` (``ln Z`` is concave in ``ln lambda``), so ``lambda*`` is
the unique root (MacKay's ``lambda |w|^2 = gamma``, ``gamma`` the number of well-determined
parameters), found by Brent's method on the cached eigenvalues; if it lies outside the search
bounds the bound is returned and flagged.

**Non-MAP term** (column ``non_map_term``): ``w`` is not the minimum of ``C``, and the Laplace
expansion around a point with gradient ``g = grad H + lambda w`` adds ``1/2 g^T (GGN + lambda I)^-1 g``
(>= 0) to ``ln Z`` (:mod:`bayes_sgd.curvature.gram`). It is given beside the evidence, not added
to it (the quadratic model it trusts is poor far from ``w``), for ``exact`` (Woodbury on the Gram
matrix) and ``kfac`` (its eigenbasis, blocks between layers dropped); ``nan`` for the softmax-layer
estimates.

The null model (every class 1/n) has ``ln Z_null = -N ln n``; the **log evidence ratio**
``ln Z - ln Z_null`` is positive when the network beats the null model. Every quantity is also
given per example (divided by N), in nats.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize

from bayes_sgd.laplace import null_log_evidence
from bayes_sgd.mlp import Architecture
from bayes_sgd.schema import section_defaults
from bayes_sgd import curvature as curv

METHODS = ("kfac", "kfac_softmax_layer", "exact_softmax_layer", "exact", "slq")
PRIOR_KINDS = ("grid", "maximum")


@dataclass(frozen=True)
class LaplaceTerms:
    """``ln Z = depth - occam_factor`` at one prior precision."""

    prior_precision: float
    depth: float
    occam_factor: float

    @property
    def log_evidence(self) -> float:
        return self.depth - self.occam_factor


def laplace_terms(
    cross_entropy: float, squared_norm: float, eigenvalues: np.ndarray, prior_precision: float,
    weights: np.ndarray | None = None,
) -> LaplaceTerms:
    """``depth = -H - (lambda/2)|w|^2`` and ``Occam = 1/2 sum_j ln(1 + e_j/lambda)``.

    ``eigenvalues``: all ``p`` eigenvalues of the curvature (zeros included), ``>= 0``.
    ``1/2 sum ln(1 + e/lambda)`` equals ``1/2 [ln det(GGN + lambda I) - p ln lambda]``.
    ``weights``: the multiplicity of each eigenvalue (a quadrature's nodes, :mod:`bayes_sgd.curvature.slq`);
    None: one each.
    """
    if not prior_precision > 0:
        raise ValueError(f"prior precision must be positive, got {prior_precision!r}")
    e = np.asarray(eigenvalues, dtype=np.float64)
    if np.any(e < 0) or not np.isfinite(e).all():
        raise ValueError("curvature eigenvalues must be finite and non-negative")
    depth = -float(cross_entropy) - 0.5 * prior_precision * float(squared_norm)
    terms = np.log1p(e / prior_precision)
    occam = 0.5 * float(terms.sum() if weights is None else np.asarray(weights) @ terms)
    return LaplaceTerms(float(prior_precision), depth, occam)


def maximising_prior_precision(
    squared_norm: float, eigenvalues: np.ndarray, bounds: tuple[float, float] = (1e-8, 1e8),
    weights: np.ndarray | None = None,
) -> tuple[float, bool]:
    """``(lambda*, interior)``: the prior precision maximising ``ln Z`` within ``bounds``.

    Root of ``f(t) = -(e^t/2)|w|^2 + (1/2) sum_j e_j/(e_j + e^t)``, ``t = ln lambda`` (strictly
    decreasing), by Brent's method to ``|dt| <= 1e-10``. ``interior`` is False when ``f`` does
    not change sign on the bounds (the bound where ``ln Z`` is largest is returned).
    """
    lo, hi = (math.log(b) for b in bounds)
    e = np.asarray(eigenvalues, dtype=np.float64)
    mult = np.ones_like(e) if weights is None else np.asarray(weights, dtype=np.float64)
    w2 = float(squared_norm)

    def slope(t: float) -> float:
        lam = math.exp(t)
        return -0.5 * lam * w2 + 0.5 * float(mult @ (e / (e + lam)))

    f_lo, f_hi = slope(lo), slope(hi)
    if f_lo <= 0:
        return bounds[0], False
    if f_hi >= 0:
        return bounds[1], False
    t = optimize.brentq(slope, lo, hi, xtol=1e-10)
    return math.exp(t), True


def evidence_rows(
    *,
    method: str,
    cross_entropy: float,
    squared_norm: float,
    eigenvalues: np.ndarray,
    n_examples: int,
    n_classes: int,
    prior_precisions: Sequence[float],
    search_bounds: tuple[float, float],
    non_map: Callable[[float], float] | None = None,
    weights: np.ndarray | None = None,
    n_parameters: int | None = None,
    occam_standard_error: Callable[[float], float] | None = None,
    occam_bound: Callable[[float], float] | None = None,
) -> pd.DataFrame:
    """One row per prior precision of the grid plus one at the maximising ``lambda*``.

    Columns: ``method``, ``prior_precision``, ``prior_kind`` (``grid``/``maximum``),
    ``prior_interior`` (``lambda*`` inside the search bounds; True on grid rows),
    ``n_parameters``, ``squared_norm``, ``depth``, ``occam_factor``, ``log_evidence``,
    ``null_log_evidence``, ``log_evidence_ratio``, ``non_map_term`` (``non_map(lambda)``, ``nan``
    without it), ``occam_standard_error`` (of a stochastic estimate; ``nan`` for the
    deterministic ones), ``occam_bound`` (how much an estimate that pruned the curvature can be low by;
    ``nan`` for the others) and the ``..._per_example`` of the evidence terms. ``weights`` and
    ``n_parameters``: a quadrature's nodes with their multiplicities instead of every eigenvalue.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    lam_star, interior = maximising_prior_precision(squared_norm, eigenvalues, search_bounds, weights)
    null = null_log_evidence(n_examples, n_classes)
    rows = []
    for lam, kind, inside in [*((float(l), "grid", True) for l in prior_precisions), (lam_star, "maximum", interior)]:
        t = laplace_terms(cross_entropy, squared_norm, eigenvalues, lam, weights)
        rows.append(
            dict(
                method=method, prior_precision=lam, prior_kind=kind, prior_interior=bool(inside),
                n_parameters=int(len(eigenvalues) if n_parameters is None else n_parameters),
                squared_norm=float(squared_norm),
                depth=t.depth, occam_factor=t.occam_factor, log_evidence=t.log_evidence,
                null_log_evidence=null, log_evidence_ratio=t.log_evidence - null,
                non_map_term=float(non_map(lam)) if non_map is not None else math.nan,
                occam_standard_error=float(occam_standard_error(lam)) if occam_standard_error else math.nan,
                occam_bound=float(occam_bound(lam)) if occam_bound else math.nan,
            )
        )
    out = pd.DataFrame(rows)
    for col in ("depth", "occam_factor", "log_evidence", "log_evidence_ratio", "non_map_term", "occam_standard_error",
                "occam_bound"):
        out[f"{col}_per_example"] = out[col] / n_examples
    return out


#: The schema's defaults of the evidence: section (the one place they are written).
_EVIDENCE = section_defaults("evidence")


@dataclass(frozen=True)
class EvidenceSettings:
    """The settings of one evidence job (config section ``evidence:``)."""

    prior_precisions: tuple[float, ...]
    search_bounds: tuple[float, float] = (_EVIDENCE["search_bounds"]["min"], _EVIDENCE["search_bounds"]["max"])
    exact_softmax_layer: bool = True  # per job: whether this run gets it (evidence.exact_softmax_layer picks the runs)
    exact_network: bool = False  # per job: whether this run gets method exact (evidence.exact_network)
    slq_probes: int = 0  # method slq (evidence.slq): Rademacher probes; 0: no method slq
    slq_steps: int = _EVIDENCE["slq"]["steps"]  # Lanczos steps per probe
    slq_block: int = _EVIDENCE["slq"]["block"]  # the deflation's block Krylov space: block size
    slq_block_steps: int = _EVIDENCE["slq"]["block_steps"]  # and its steps
    slq_dense_rows: int = _EVIDENCE["slq"]["dense_rows"]  # exact eigenvalues up to this many kept rows
    slq_pruning_tolerance: float = _EVIDENCE["slq"]["pruning_tolerance"]  # nats at the smallest grid precision
    slq_seed: int = 0
    sharpness_tolerance: float = _EVIDENCE["sharpness"]["tolerance"]
    sharpness_max_iterations: int = _EVIDENCE["sharpness"]["max_iterations"]
    lanczos_vectors: int = _EVIDENCE["sharpness"]["lanczos_vectors"]
    chunk_size: int = _EVIDENCE["chunk_size"]


RUN_COLUMNS = (
    "train_cross_entropy_summed",
    "sharpness",
    "sharpness_matvecs",
    "sharpness_converged",
    "ggn_trace",
    "kfac_ggn_trace",
    "b_simple",
    "gradient_trace_covariance",
    "gradient_norm_squared",
)


def _layer_blocks(arch: Architecture, flat: np.ndarray) -> list[np.ndarray]:
    """``[W1; b1]`` and ``[W2; b2]`` of a flat parameter vector (the blocks of :func:`bayes_sgd.curvature.kfac_factors`)."""
    q = arch.unpack(flat)
    return [np.vstack([q.W1, q.b1]), np.vstack([q.W2, q.b2])]


def run_evidence(
    arch: Architecture,
    w: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    settings: EvidenceSettings,
    rng: np.random.Generator,
    l2: float = 0.0,
    timings: dict | None = None,
) -> pd.DataFrame:
    """Every evidence row of one run (methods x prior precisions) with the run-level curvature.

    ``w``: final weights (any float dtype; computed in float64); ``X, y``: the run's N training
    examples. Run-level columns (:data:`RUN_COLUMNS`, repeated on every row):
    ``train_cross_entropy_summed`` ``H(w)``; ``sharpness`` the largest eigenvalue of the Hessian
    of the **mean** cross-entropy (Lanczos on exact Hessian-vector products; ``rng`` draws the
    start vector); ``ggn_trace`` the exact trace of the GGN of the **summed** cross-entropy and
    ``kfac_ggn_trace`` that of its KFAC approximation, ``sum_layers N tr(A) tr(G)`` (their ratio
    measures KFAC's error on every run: KFAC assumes the layer inputs independent of the output
    curvature, and a network whose uncertain examples are those with silent hidden units
    breaks that assumption);
    ``b_simple``, ``gradient_trace_covariance``, ``gradient_norm_squared`` (McCandlish et al.,
    mean gradient including the L2 term ``(l2/N) w``); ``gram_rows``, ``gram_rows_kept`` and
    ``slq_solver`` of method ``slq`` (``nan``/empty without it). ``timings`` (if given) receives the
    seconds of each part.
    """
    import time

    clock = time.perf_counter
    timings = {} if timings is None else timings
    w = curv.as_float64(arch, w)
    X = np.ascontiguousarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.intp)
    n, C = X.shape[0], arch.n_classes
    p = arch.unpack(w)
    t0 = clock()
    cache = curv.forward_cache(arch, w, X)
    ce = curv.summed_cross_entropy(cache.log_probs, y)
    factors = curv.kfac_factors(arch, w, X, settings.chunk_size)
    timings["kfac"] = clock() - t0
    w_sq = float(w @ w)
    last_sq = float(p.W2.ravel() @ p.W2.ravel() + p.b2 @ p.b2)
    common = dict(
        cross_entropy=ce, n_examples=n, n_classes=C,
        prior_precisions=settings.prior_precisions, search_bounds=settings.search_bounds,
    )
    # KFAC's non-MAP term: grad H and w of each layer in the eigenbasis of its factors
    grad = curv.summed_gradient(arch, w, X, y, cache)
    layers = [(f.rotate(gb), f.rotate(wb)) for f, wb, gb in zip(factors, _layer_blocks(arch, w), _layer_blocks(arch, grad))]

    def kfac_non_map(lam: float) -> float:
        return 0.5 * sum(f.inverse_quadratic_form(rg + lam * rw, lam) for f, (rg, rw) in zip(factors, layers))

    tables = [
        evidence_rows(method="kfac", squared_norm=w_sq,
                      eigenvalues=np.concatenate([f.ggn_eigenvalues() for f in factors]), non_map=kfac_non_map,
                      **common),
        evidence_rows(method="kfac_softmax_layer", squared_norm=last_sq,
                      eigenvalues=factors[1].ggn_eigenvalues(), **common),
    ]
    if settings.exact_network:
        t0 = clock()
        gram = curv.gram_spectrum(arch, w, X, y)
        timings["exact"] = clock() - t0
        tables.append(evidence_rows(method="exact", squared_norm=w_sq, eigenvalues=gram.ggn_eigenvalues(),
                                    non_map=gram.non_map_term, **common))
    spectrum = None
    if settings.slq_probes > 0:
        t0 = clock()
        spectrum = curv.gram_side_spectrum(  # the Gauss-Newton's nonzero spectrum, without its null space
            arch, w, X, max_dropped_trace=curv.slq.pruning_budget(settings.prior_precisions, settings.slq_pruning_tolerance),
            dense_rows=settings.slq_dense_rows, probes=settings.slq_probes, steps=settings.slq_steps,
            block=settings.slq_block, block_steps=settings.slq_block_steps, rng=np.random.default_rng(settings.slq_seed),
        )
        nodes, mass = spectrum.nodes_and_weights()
        timings["slq"] = clock() - t0
        tables.append(evidence_rows(method="slq", squared_norm=w_sq, eigenvalues=nodes, weights=mass,
                                    n_parameters=arch.n_params, occam_standard_error=spectrum.occam_standard_error,
                                    occam_bound=spectrum.occam_bound, **common))
    if settings.exact_softmax_layer:
        t0 = clock()
        exact = curv.last_layer_ggn_eigenvalues(arch, w, X, settings.chunk_size)
        timings["exact_softmax_layer"] = clock() - t0
        tables.append(evidence_rows(method="exact_softmax_layer", squared_norm=last_sq, eigenvalues=exact, **common))
    t0 = clock()
    top = curv.sharpness(
        arch, w, X, y, rng, tolerance=settings.sharpness_tolerance,
        max_iterations=settings.sharpness_max_iterations, lanczos_vectors=settings.lanczos_vectors,
    )
    timings["sharpness"] = clock() - t0
    t0 = clock()
    trace = curv.ggn_trace(arch, w, X)
    noise = curv.gradient_noise_scale(arch, w, X, y, l2=l2)
    timings["trace_and_noise"] = clock() - t0
    out = pd.concat(tables, ignore_index=True)
    out["train_cross_entropy_summed"] = ce
    out["sharpness"] = top.eigenvalue
    out["sharpness_matvecs"] = top.matvecs
    out["sharpness_converged"] = top.converged
    out["ggn_trace"] = trace
    out["kfac_ggn_trace"] = float(sum(f.ggn_eigenvalues().sum() for f in factors))
    out["b_simple"] = noise.b_simple
    out["gradient_trace_covariance"] = noise.trace_covariance
    out["gradient_norm_squared"] = noise.gradient_norm_squared
    out["gram_rows"] = np.nan if spectrum is None else spectrum.rows
    out["gram_rows_kept"] = np.nan if spectrum is None else spectrum.rows_kept
    out["slq_solver"] = "" if spectrum is None else spectrum.solver
    return out


def diverged_rows(settings: EvidenceSettings, n_examples: int, n_classes: int) -> pd.DataFrame:
    """The rows of a run whose weights are not finite: every number ``nan``, one row per method
    and grid precision (no maximum), so that the run is visible and counted downstream."""
    null = null_log_evidence(n_examples, n_classes)
    methods = [m for m in METHODS if (m != "exact_softmax_layer" or settings.exact_softmax_layer)
               and (m != "exact" or settings.exact_network) and (m != "slq" or settings.slq_probes > 0)]
    rows = [
        dict(method=m, prior_precision=float(l), prior_kind="grid", prior_interior=False, n_parameters=-1,
             null_log_evidence=null)
        for m in methods for l in settings.prior_precisions
    ]
    out = pd.DataFrame(rows)
    nan_columns = ("squared_norm", "depth", "occam_factor", "log_evidence", "log_evidence_ratio", "non_map_term",
                   "occam_standard_error", "occam_bound", "depth_per_example", "occam_factor_per_example",
                   "log_evidence_per_example", "log_evidence_ratio_per_example", "non_map_term_per_example",
                   "occam_standard_error_per_example", "occam_bound_per_example", *RUN_COLUMNS, "gram_rows",
                   "gram_rows_kept")
    for col in nan_columns:
        out[col] = np.nan
    out["slq_solver"] = ""
    return out


# ----------------------------------------------------------------------------------------------
# Which runs count, and which estimate is read


def trained_mask(table: pd.DataFrame, failed_accuracy: float) -> pd.Series:
    """True for runs that trained: status ``ok`` and final test accuracy above ``failed_accuracy``
    (chance is 1/n_classes = 0.1 on ten classes)."""
    return (table["status"] == "ok") & (table["test_accuracy"] > failed_accuracy)


def select_evidence(table: pd.DataFrame, method: str, prior: str | float) -> pd.DataFrame:
    """One row per run: ``method`` at the maximising precision (``prior="maximum"``) or at the grid
    precision closest (in log) to the number ``prior``."""
    rows = table[table["method"] == method]
    if prior == "maximum":
        rows = rows[rows["prior_kind"] == "maximum"]
    else:
        grid = rows[rows["prior_kind"] == "grid"]
        values = np.unique(grid["prior_precision"].to_numpy())
        if len(values) == 0:
            return grid
        nearest = values[np.argmin(np.abs(np.log(values) - math.log(float(prior))))]
        rows = grid[np.isclose(grid["prior_precision"], nearest)]
    return rows.reset_index(drop=True)


EVIDENCE_COLUMN = "log_evidence_ratio_per_example"


