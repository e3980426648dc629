"""Logistic regression with a Gaussian prior, minimised exactly (paper Section 3).

Model: ``P(y = 1 | x, w) = sigmoid(w . x)`` where x carries a constant 1 as its last entry, so
the bias is the last weight (p = 784 + 1 = 785 parameters for MNIST) and, like every other
weight, has prior precision ``lambda``. With labels y_i in {0, 1} and logits z_i = w . x_i:

    H(w) = -sum_i [y_i ln sigmoid(z_i) + (1 - y_i) ln sigmoid(-z_i)]      (summed, not mean)
    C(w) = H(w) + (lambda / 2) |w|^2
    grad C = X^T (sigmoid(z) - y) + lambda w
    hess C = X^T diag(sigmoid(z) sigmoid(-z)) X + lambda I

``ln sigmoid`` is evaluated with :func:`scipy.special.log_expit`, which is accurate for logits
of any size (memorising random labels at weak regularisation drives |z| into the hundreds).
Everything is float64.

C is strictly convex, so its minimiser w0 (the MAP point) is unique. :func:`minimise_cost`
finds it with damped Newton steps (Cholesky solve, Armijo backtracking) and stops on the
Newton decrement ``delta^2 = grad^T hess^-1 grad``: ``delta^2 / 2`` bounds the remaining
suboptimality ``C(w) - C(w0)`` near the minimum (Boyd & Vandenberghe, Section 9.5).
On separable data (random labels at weak lambda) H alone has no minimiser; the prior term
makes one exist, with |w0| growing as lambda shrinks. :func:`fit_lambda_path` walks a lambda
grid from strong to weak regularisation, warm-starting each fit at the previous minimiser, and
:func:`sweep_lambda` adds the Laplace evidence (:mod:`bayes_sgd.laplace`, computed with the
Cholesky factor of the exact Hessian at w0) and the train/test accuracy and cross-entropy.
The log evidence ratio is ``ln P(y|x;M) - ln P(y|x;NULL)``: positive = the model beats the
null model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import linalg, special, stats

from bayes_sgd.laplace import laplace_log_evidence, log_evidence_ratio, null_log_evidence

N_CLASSES = 2

LABEL_COLUMNS = {"random": "random_label", "informative": "true_label"}
"""The two tasks of paper Section 3 and their label columns in the binary task table."""


class NewtonConvergenceError(RuntimeError):
    """Newton's method did not reach the requested decrement; the message names lambda."""


# ----------------------------------------------------------------------------------------------
# Data


def design_matrix(pixels: np.ndarray, pixel_scale: float) -> np.ndarray:
    """Float64 design matrix ``[pixels / pixel_scale, 1]`` (last column: the bias input).

    ``pixel_scale = 255`` maps uint8 MNIST pixels to [0, 1] (the project's choice, docs/paper.md
    Section 2).
    """
    if pixel_scale <= 0:
        raise ValueError(f"pixel_scale must be positive, got {pixel_scale!r}")
    pixels = np.asarray(pixels)
    if pixels.ndim != 2:
        raise ValueError(f"pixels must be a 2-d array [n, d], got shape {pixels.shape}")
    X = np.empty((pixels.shape[0], pixels.shape[1] + 1), dtype=np.float64)
    np.divide(pixels, pixel_scale, out=X[:, :-1], dtype=np.float64)
    X[:, -1] = 1.0
    return X


def lambda_grid(minimum: float, maximum: float, per_decade: int) -> list[float]:
    """Log-spaced prior precisions from ``minimum`` to ``maximum`` (both included),
    ``per_decade`` points per factor of ten (rounded to the nearest whole number of steps)."""
    if not 0.0 < minimum < maximum:
        raise ValueError(f"need 0 < min < max, got min={minimum!r}, max={maximum!r}")
    if per_decade < 1:
        raise ValueError(f"per_decade must be at least 1, got {per_decade!r}")
    steps = max(1, int(round(per_decade * np.log10(maximum / minimum))))
    return [float(v) for v in np.logspace(np.log10(minimum), np.log10(maximum), steps + 1)]


def task_arrays(
    images: dict[str, np.ndarray], task: pd.DataFrame, split: str
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Pixels and labels of one split ("train"/"test") of the binary task table.

    ``images`` maps a dataset split name to its images (uint8 [n, 784], row k = ``index`` k,
    as from :func:`bayes_sgd.data.datasets.split_arrays`); each task row points at one of them
    through ``source_split`` and ``index``. Returns the pixels in task-row order and, for each
    label kind of :data:`LABEL_COLUMNS`, the 0/1 labels.
    """
    rows = task[task["split"] == split]
    if rows.empty:
        raise ValueError(f"the binary task table has no {split!r} rows")
    pixels = np.empty((len(rows), next(iter(images.values())).shape[1]), dtype=np.uint8)
    for source, group in rows.groupby("source_split", sort=False):
        where = np.flatnonzero((rows["source_split"] == source).to_numpy())
        pixels[where] = images[source][group["index"].to_numpy()]
    labels = {kind: rows[column].to_numpy(dtype=np.float64) for kind, column in LABEL_COLUMNS.items()}
    return pixels, labels


def _check_data(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ValueError(f"X must be [n, p] and y [n]; got {X.shape} and {y.shape}")
    if not np.all((y == 0.0) | (y == 1.0)):
        raise ValueError("labels must be 0 or 1")
    return X, y


def _check_problem(X: np.ndarray, y: np.ndarray, prior_precision: float) -> tuple[np.ndarray, np.ndarray]:
    if not prior_precision > 0.0:
        raise ValueError(f"prior precision lambda must be positive, got {prior_precision!r}")
    return _check_data(X, y)


# ----------------------------------------------------------------------------------------------
# Cost, gradient, Hessian


def summed_cross_entropy(logits: np.ndarray, y: np.ndarray) -> float:
    """``H = -sum_i [y_i ln sigmoid(z_i) + (1 - y_i) ln sigmoid(-z_i)]``, computed stably."""
    return float(-np.sum(np.where(y == 1.0, special.log_expit(logits), special.log_expit(-logits))))


def cost(w: np.ndarray, X: np.ndarray, y: np.ndarray, prior_precision: float) -> float:
    """``C(w) = H(w) + (lambda / 2) |w|^2`` with H the summed binary cross-entropy."""
    return summed_cross_entropy(X @ w, y) + 0.5 * prior_precision * float(w @ w)


def cost_gradient(w: np.ndarray, X: np.ndarray, y: np.ndarray, prior_precision: float) -> np.ndarray:
    """``grad C = X^T (sigmoid(Xw) - y) + lambda w``."""
    return X.T @ (special.expit(X @ w) - y) + prior_precision * w


def _hessian_from_logits(logits: np.ndarray, X: np.ndarray, prior_precision: float) -> np.ndarray:
    # sigmoid(z) sigmoid(-z) = sigmoid'(z), without cancellation for large |z|. B^T B with
    # B = diag(sqrt(s)) X is exactly symmetric (one BLAS syrk, half the work of a gemm).
    root_curvature = np.sqrt(special.expit(logits) * special.expit(-logits))
    scaled = X * root_curvature[:, None]
    hessian = scaled.T @ scaled
    hessian.flat[:: hessian.shape[0] + 1] += prior_precision
    return hessian


def cost_hessian(w: np.ndarray, X: np.ndarray, y: np.ndarray, prior_precision: float) -> np.ndarray:
    """``hess C = X^T diag(sigmoid(z) sigmoid(-z)) X + lambda I`` (independent of y)."""
    del y  # the logistic Hessian does not depend on the labels
    return _hessian_from_logits(X @ w, X, prior_precision)


# ----------------------------------------------------------------------------------------------
# Exact minimisation


@dataclass(frozen=True)
class LogisticFit:
    """The minimiser w0 of C for one lambda, with the exact Hessian's Cholesky factor there.

    Attributes
    ----------
    weights: w0 (the last entry is the bias).
    prior_precision: lambda.
    cost: C(w0).
    gradient_norm: |grad C(w0)|, the optimality residual.
    newton_decrement_squared: ``grad^T hess^-1 grad`` at w0 (the stopping quantity).
    newton_iterations: Newton steps taken from the starting point.
    hessian_cholesky: lower-triangular L with ``hess C(w0) = L L^T``.
    """

    weights: np.ndarray
    prior_precision: float
    cost: float
    gradient_norm: float
    newton_decrement_squared: float
    newton_iterations: int
    hessian_cholesky: np.ndarray

    def hessian(self) -> np.ndarray:
        """``hess C(w0) = L L^T``."""
        return self.hessian_cholesky @ self.hessian_cholesky.T


def minimise_cost(
    X: np.ndarray,
    y: np.ndarray,
    prior_precision: float,
    *,
    w_init: np.ndarray | None = None,
    tolerance: float = 1e-12,
    max_iterations: int = 100,
    armijo: float = 1e-4,
    backtrack: float = 0.5,
) -> LogisticFit:
    """Minimise C(w) exactly with damped Newton steps.

    Each iteration solves ``hess C d = -grad C`` by Cholesky and backtracks along d until the
    Armijo condition ``C(w + t d) <= C(w) - armijo * t * delta^2`` holds. It stops at the first
    iterate whose Newton decrement satisfies ``delta^2 / 2 <= tolerance * max(1, |C(w)|)``
    (a relative bound on ``C(w) - C(w0)``), and returns that iterate with the Cholesky factor of
    the Hessian there. Failure to converge within ``max_iterations`` steps, or a line search
    that cannot decrease C, raises :class:`NewtonConvergenceError` naming lambda; no
    unconverged number is ever returned.
    """
    X, y = _check_problem(X, y, prior_precision)
    n_parameters = X.shape[1]
    w = np.zeros(n_parameters) if w_init is None else np.array(w_init, dtype=np.float64)
    if w.shape != (n_parameters,):
        raise ValueError(f"w_init must have shape ({n_parameters},), got {w.shape}")
    logits = X @ w
    current = summed_cross_entropy(logits, y) + 0.5 * prior_precision * float(w @ w)
    for iteration in range(max_iterations + 1):
        gradient = X.T @ (special.expit(logits) - y) + prior_precision * w
        cholesky = linalg.cholesky(_hessian_from_logits(logits, X, prior_precision), lower=True)
        direction = -linalg.cho_solve((cholesky, True), gradient)
        decrement_squared = float(-gradient @ direction)
        if not np.isfinite(current) or not np.isfinite(decrement_squared):
            raise NewtonConvergenceError(
                f"lambda={prior_precision:g}: non-finite cost or Newton decrement at iteration {iteration}"
            )
        if 0.5 * decrement_squared <= tolerance * max(1.0, abs(current)):
            return LogisticFit(
                weights=w,
                prior_precision=float(prior_precision),
                cost=current,
                gradient_norm=float(np.linalg.norm(gradient)),
                newton_decrement_squared=decrement_squared,
                newton_iterations=iteration,
                hessian_cholesky=cholesky,
            )
        if iteration == max_iterations:
            break
        step = 1.0
        direction_logits = X @ direction
        while True:
            trial_w = w + step * direction
            trial_logits = logits + step * direction_logits
            trial = summed_cross_entropy(trial_logits, y) + 0.5 * prior_precision * float(trial_w @ trial_w)
            if trial <= current - armijo * step * decrement_squared:
                break
            step *= backtrack
            if step < 1e-12:
                raise NewtonConvergenceError(
                    f"lambda={prior_precision:g}: line search failed at Newton iteration {iteration} "
                    f"(C={current:.17g}, decrement^2/2={0.5 * decrement_squared:.3g})"
                )
        w, logits, current = trial_w, trial_logits, trial
    raise NewtonConvergenceError(
        f"lambda={prior_precision:g}: Newton did not converge in {max_iterations} iterations "
        f"(decrement^2/2={0.5 * decrement_squared:.3g}, tolerance {tolerance:g} * max(1, |C|={abs(current):.6g}))"
    )


def largest_hessian_eigenvalue(fit: LogisticFit) -> float:
    """The largest eigenvalue of hess C(w0), the "sharpness" of the minimum."""
    hessian = fit.hessian()
    p = hessian.shape[0]
    return float(linalg.eigh(hessian, eigvals_only=True, subset_by_index=[p - 1, p - 1])[0])


# ----------------------------------------------------------------------------------------------
# The lambda sweep of paper Section 3


def evaluate(w: np.ndarray, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(accuracy, mean cross-entropy in nats) of weights w on (X, y); predicts 1 where w.x > 0."""
    logits = X @ w
    accuracy = float(np.mean((logits > 0.0) == (y == 1.0)))
    return accuracy, summed_cross_entropy(logits, np.asarray(y, dtype=np.float64)) / len(y)


def fit_lambda_path(
    X: np.ndarray,
    y: np.ndarray,
    lambdas,
    *,
    tolerance: float = 1e-12,
    max_iterations: int = 100,
):
    """Fit every lambda, from the strongest to the weakest, warm-starting each at the last w0.

    Yields ``(lambda, LogisticFit, seconds)`` in decreasing order of lambda. The first fit
    starts from w = 0 (the exact minimiser as lambda -> infinity).
    """
    w = None
    for lam in sorted((float(v) for v in lambdas), reverse=True):
        start = time.perf_counter()
        fit = minimise_cost(X, y, lam, w_init=w, tolerance=tolerance, max_iterations=max_iterations)
        yield lam, fit, time.perf_counter() - start
        w = fit.weights


def sweep_lambda(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    lambdas,
    *,
    tolerance: float = 1e-12,
    max_iterations: int = 100,
) -> pd.DataFrame:
    """One row per lambda: fit quality, Laplace evidence and its terms (paper Figures 1-2).

    Columns: ``lambda``, ``train_accuracy``, ``test_accuracy``, ``train_cross_entropy``,
    ``test_cross_entropy`` (mean over examples, nats), ``cost`` (C(w0), summed),
    ``occam_factor`` (``1/2 sum_j ln(lambda_j / lambda)``), ``log_evidence``,
    ``null_log_evidence`` (``-N ln 2``), ``log_evidence_ratio`` (``ln P(y|x;M) - ln
    P(y|x;NULL)``, positive = the model beats the null model), ``weight_norm`` (|w0|),
    ``gradient_norm``, ``newton_iterations``, ``hessian_max_eigenvalue``, ``fit_seconds``
    (wall time of the Newton fit, warm-started), ``n_train``, ``n_test``, ``n_parameters``.
    Rows are in increasing order of lambda.
    """
    X_train, y_train = _check_data(X_train, y_train)
    X_test, y_test = _check_data(X_test, y_test)
    n_train = len(y_train)
    null = null_log_evidence(n_train, N_CLASSES)
    rows = []
    for lam, fit, seconds in fit_lambda_path(
        X_train, y_train, lambdas, tolerance=tolerance, max_iterations=max_iterations
    ):
        evidence = laplace_log_evidence(fit.cost, None, lam, cholesky_factor=fit.hessian_cholesky)
        train_accuracy, train_ce = evaluate(fit.weights, X_train, y_train)
        test_accuracy, test_ce = evaluate(fit.weights, X_test, y_test)
        rows.append(
            {
                "lambda": lam,
                "train_accuracy": train_accuracy,
                "test_accuracy": test_accuracy,
                "train_cross_entropy": train_ce,
                "test_cross_entropy": test_ce,
                "cost": evidence.cost,
                "occam_factor": evidence.occam_factor,
                "log_evidence": evidence.log_evidence,
                "null_log_evidence": null,
                "log_evidence_ratio": log_evidence_ratio(evidence.log_evidence, n_train, N_CLASSES),
                "weight_norm": float(np.linalg.norm(fit.weights)),
                "gradient_norm": fit.gradient_norm,
                "newton_iterations": fit.newton_iterations,
                "hessian_max_eigenvalue": largest_hessian_eigenvalue(fit),
                "fit_seconds": seconds,
                "n_train": n_train,
                "n_test": len(y_test),
                "n_parameters": X_train.shape[1],
            }
        )
    return pd.DataFrame(rows).sort_values("lambda", ignore_index=True)


def sweep_label_kinds(
    X_train: np.ndarray,
    train_labels: dict[str, np.ndarray],
    X_test: np.ndarray,
    test_labels: dict[str, np.ndarray],
    lambdas,
    **newton,
) -> pd.DataFrame:
    """:func:`sweep_lambda` for each label kind on the same inputs, with a ``label_kind`` column."""
    tables = []
    for kind in train_labels:
        table = sweep_lambda(X_train, train_labels[kind], X_test, test_labels[kind], lambdas, **newton)
        table.insert(0, "label_kind", kind)
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def summarise_sweep(fits: pd.DataFrame) -> pd.DataFrame:
    """Per label kind: the accuracies at the weakest lambda (does the model memorise?), the
    evidence-maximising lambda, the test-cross-entropy-minimising lambda, and how well the
    evidence tracks the test cross-entropy across the grid.

    ``spearman_evidence_test_cross_entropy`` is Spearman's rank correlation between the log
    evidence ratio and the test mean cross-entropy over all lambdas of the grid: -1 means a
    higher evidence always goes with a lower test cross-entropy (the evidence tracks
    generalisation perfectly), +1 the reverse. Ties (e.g. equal accuracies) are ranked by
    average rank.
    """
    rows = []
    for kind, group in fits.groupby("label_kind", sort=False):
        best_evidence = group.loc[group["log_evidence_ratio"].idxmax()]
        best_test = group.loc[group["test_cross_entropy"].idxmin()]
        rho = stats.spearmanr(group["log_evidence_ratio"], group["test_cross_entropy"]).statistic
        weakest = group.loc[group["lambda"].idxmin()]
        rows.append(
            {
                "label_kind": kind,
                "lambda_min": float(weakest["lambda"]),
                "train_accuracy_at_lambda_min": float(weakest["train_accuracy"]),
                "test_accuracy_at_lambda_min": float(weakest["test_accuracy"]),
                "lambda_max_evidence": float(best_evidence["lambda"]),
                "max_log_evidence_ratio": float(best_evidence["log_evidence_ratio"]),
                "test_accuracy_at_max_evidence": float(best_evidence["test_accuracy"]),
                "test_cross_entropy_at_max_evidence": float(best_evidence["test_cross_entropy"]),
                "lambda_min_test_cross_entropy": float(best_test["lambda"]),
                "min_test_cross_entropy": float(best_test["test_cross_entropy"]),
                "test_accuracy_at_min_test_cross_entropy": float(best_test["test_accuracy"]),
                "spearman_evidence_test_cross_entropy": float(rho),
                "n_lambdas": len(group),
            }
        )
    return pd.DataFrame(rows)


def rescaling_demonstration(
    X: np.ndarray,
    y: np.ndarray,
    prior_precision: float,
    scales,
    *,
    tolerance: float = 1e-12,
    max_iterations: int = 100,
) -> pd.DataFrame:
    """Reparameterise w -> a w and show that the evidence is unchanged but the sharpness is not.

    With ``w' = a w`` the logits are ``X w = (X / a) w'``; a prior of precision lambda on w is a
    prior of precision ``lambda / a^2`` on w'. The two parameterisations describe the same
    model, so C(w0), the Occam factor and the evidence are identical, while the Hessian becomes
    ``hess' = hess / a^2`` and its largest eigenvalue (the "sharpness") scales by ``a^-2``.
    Each rescaled problem is minimised from scratch (cold start, w = 0).

    One row per scale a: ``scale``, ``lambda`` (original), ``prior_precision`` (lambda / a^2),
    ``cost``, ``occam_factor``, ``log_evidence``, ``log_evidence_ratio``,
    ``hessian_max_eigenvalue``, ``weight_norm``, and the comparisons with a = 1:
    ``log_evidence_change`` (should be 0), ``sharpness_ratio`` and its prediction
    ``expected_sharpness_ratio = a^-2``.
    """
    X, y = _check_problem(X, y, prior_precision)

    def fit_scaled(scale: float) -> dict:
        lam = prior_precision / scale**2
        fit = minimise_cost(X / scale, y, lam, tolerance=tolerance, max_iterations=max_iterations)
        evidence = laplace_log_evidence(fit.cost, None, lam, cholesky_factor=fit.hessian_cholesky)
        return {
            "scale": float(scale),
            "lambda": float(prior_precision),
            "prior_precision": lam,
            "cost": evidence.cost,
            "occam_factor": evidence.occam_factor,
            "log_evidence": evidence.log_evidence,
            "log_evidence_ratio": log_evidence_ratio(evidence.log_evidence, len(y), N_CLASSES),
            "hessian_max_eigenvalue": largest_hessian_eigenvalue(fit),
            "weight_norm": float(np.linalg.norm(fit.weights)),
        }

    reference = fit_scaled(1.0)
    rows = []
    for scale in scales:
        if not scale > 0:
            raise ValueError(f"rescaling factors must be positive, got {scale!r}")
        row = reference if scale == 1.0 else fit_scaled(float(scale))
        rows.append(
            {
                **row,
                "log_evidence_change": row["log_evidence"] - reference["log_evidence"],
                "sharpness_ratio": row["hessian_max_eigenvalue"] / reference["hessian_max_eigenvalue"],
                "expected_sharpness_ratio": float(scale) ** -2,
            }
        )
    return pd.DataFrame(rows)
