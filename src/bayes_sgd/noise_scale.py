"""The SGD noise scale and the scaling rules for the optimum batch size (paper Section 5).

Smith & Le read SGD with learning rate ``eps``, batch size ``B`` and momentum ``m`` on ``N``
training examples as a discretised stochastic differential equation whose noise has scale

    g = eps / (1 - m) * (N / B - 1)                  (Section 5, eq. 11 and Appendix D)

so that, if there is an optimal noise scale ``g_opt``, the batch size that reaches it is

    B_opt = N / (1 + g_opt (1 - m) / eps)  ~=  eps N / ((1 - m) g_opt)   for B << N,

that is B_opt is proportional to ``eps``, to ``N`` and to ``1 / (1 - m)``.

This module measures those rules on tables of finished training runs:

* :func:`noise_scale`: the formula above.
* :func:`batch_size_curves`: seed-mean test accuracy per (curve, batch size).
* :func:`optimum_batch_sizes`: per curve, the best grid batch size, a seed-bootstrap interval
  for it, and a refined optimum from a local quadratic in ``log B``.
* :func:`scaling_points`, :func:`fit_scaling`, :func:`loglog_fit`: the log-log fit of the
  optimum against the swept quantity (``eps``, ``N`` or ``1/(1-m)``, see
  :data:`bayes_sgd.sweeps.SWEEPS`), with the paper's proportionality (slope 1) alongside;
  :func:`sweep_fits`: the fits table of one sweep (every method and fit region, with the
  reason when there is too little to fit), which the figures and the claims read.

Conventions. A *curve* is one setting of the curve keys (by default dataset, ``n_train``,
``learning_rate``, ``momentum``, ``l2``, ``steps``) swept over ``batch_size`` and ``seed``.
The final rows of runs (one per run) come from :func:`bayes_sgd.sgd.final_evaluations`.
Accuracies are fractions in [0, 1]. Logarithms are natural. **Diverged runs** (``status ==
"diverged"``) are scored at ``diverged_accuracy`` (``scaling.diverged_accuracy``, 0.1 by
default: chance for ten balanced classes), not at the accuracy of their last evaluation, nor
left out. This is the one rule of the whole project: every accuracy-versus-B table
(:func:`batch_size_curves`, for Figures 3, 4, 8 and 5-7 alike), every optimum, every figure
line and every claim uses it: a network whose loss became
non-finite no longer predicts anything, and its last finite evaluation would credit an
unstable run with an accuracy it cannot keep. Pass ``diverged_accuracy=None`` to use the
recorded ``test_accuracy`` instead (it must then be finite). **Curves that never train**
(best seed-mean accuracy at most ``untrained_accuracy``, e.g. every run stuck at chance with
dead ReLUs) get no optimum: their argmax would only pick the luckiest chance-level point.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np
import pandas as pd
from scipy import stats

from bayes_sgd.sweeps import get_sweep

#: Columns that identify one accuracy-versus-batch-size curve in the MLP run tables.
DEFAULT_CURVE_KEYS: tuple[str, ...] = ("dataset", "n_train", "learning_rate", "momentum", "l2", "steps")

_STATUSES = ("ok", "diverged")


# --------------------------------------------------------------------------------------------
# The formulas
# --------------------------------------------------------------------------------------------


def noise_scale(learning_rate, n_train, batch_size, momentum=0.0):
    """SGD noise scale ``g = eps / (1 - m) * (N / B - 1)`` (paper Section 5, Appendix D).

    Derivation (Section 5): one SGD step with the mean minibatch gradient is an Euler step of
    length ``eps / N`` of ``dw/dt = -dC/dw + eta(t)``, ``C`` the summed cost. Sampling ``B`` of
    ``N`` examples without replacement gives a gradient error whose covariance is
    ``(N/B - 1) F(w) / N`` (``F`` the per-example gradient covariance), which matches
    ``<eta eta'> = g F(w) delta(t - t')`` for ``g = eps (N/B - 1)``. Momentum ``m`` multiplies
    the effective learning rate by ``1/(1-m)`` (Appendix D). Full batch (``B = N``) has
    ``g = 0``: no gradient noise at all.

    Vectorised over NumPy broadcasting; returns a float for scalar inputs.

    Raises
    ------
    ValueError
        If a learning rate is not positive, a momentum is outside [0, 1) or a batch size is
        outside [1, N].
    """
    eps, n, b, m = (np.asarray(v, dtype=float) for v in (learning_rate, n_train, batch_size, momentum))
    if np.any(~(eps > 0)):
        raise ValueError("noise_scale: learning_rate must be > 0")
    if np.any(~((m >= 0) & (m < 1))):
        raise ValueError("noise_scale: momentum must lie in [0, 1)")
    if np.any(~((b >= 1) & (b <= n))):
        raise ValueError("noise_scale: batch_size must lie in [1, n_train]")
    g = eps / (1.0 - m) * (n / b - 1.0)
    return float(g) if g.ndim == 0 else g


# --------------------------------------------------------------------------------------------
# From run tables to accuracy-versus-batch-size curves
# --------------------------------------------------------------------------------------------


def _require(table: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise KeyError(f"{what}: missing column(s) {missing}; have {list(table.columns)}")


def scored_accuracy(final: pd.DataFrame, *, diverged_accuracy: float | None) -> pd.Series:
    """Test accuracy of each final row, with diverged runs scored at ``diverged_accuracy``.

    ``diverged_accuracy=None`` keeps the recorded accuracy of diverged runs. Raises
    ``ValueError`` on an unknown status or on a non-finite accuracy that would be used.
    """
    _require(final, ["test_accuracy", "status"], "scored_accuracy")
    status = final["status"].astype(str)
    unknown = sorted(set(status) - set(_STATUSES))
    if unknown:
        raise ValueError(f"scored_accuracy: unknown status value(s) {unknown}; expected {_STATUSES}")
    accuracy = final["test_accuracy"].astype(float)
    diverged = status == "diverged"
    if diverged_accuracy is not None:
        accuracy = accuracy.where(~diverged, float(diverged_accuracy))
    if not np.all(np.isfinite(accuracy)):
        bad = final.loc[~np.isfinite(accuracy)]
        raise ValueError(f"scored_accuracy: non-finite test accuracy in {len(bad)} run(s):\n{bad.head()}")
    return accuracy.rename("accuracy")


def _seed_matrices(final: pd.DataFrame, curve_keys: Sequence[str], diverged_accuracy):
    """Yield (key tuple, curve frame, sorted batch sizes, seeds x batch-size accuracy matrix)."""
    keys = list(curve_keys)
    _require(final, [*keys, "batch_size", "seed", "test_accuracy", "status"], "curve analysis")
    table = final.assign(accuracy=scored_accuracy(final, diverged_accuracy=diverged_accuracy))
    if table.duplicated([*keys, "batch_size", "seed"]).any():
        raise ValueError("curve analysis: more than one final row per (curve, batch_size, seed)")
    for key, curve in table.groupby(keys, sort=True, dropna=False):
        matrix = curve.pivot(index="seed", columns="batch_size", values="accuracy").sort_index(axis=1)
        yield key, curve, matrix.columns.to_numpy(dtype=float), matrix.to_numpy(dtype=float)


def batch_size_curves(
    final: pd.DataFrame,
    curve_keys: Sequence[str] = DEFAULT_CURVE_KEYS,
    *,
    diverged_accuracy: float | None,
) -> pd.DataFrame:
    """Seed statistics of test accuracy per (curve, batch size), with the noise scale.

    Input: final rows with ``curve_keys``, ``batch_size``, ``seed``, ``test_accuracy``,
    ``status`` and the columns ``learning_rate``, ``n_train``, ``momentum`` (for ``g``).
    Output, one row per (curve, batch size): ``curve_keys``, ``batch_size``,
    ``mean_accuracy``, ``std_accuracy`` (sample standard deviation over seeds, ddof = 1;
    NaN with a single seed), ``min_accuracy``, ``max_accuracy``, ``n_seeds``, ``n_diverged``
    and ``noise_scale`` (``g`` of the runs, 0 at ``B = N``).
    """
    keys = list(curve_keys)
    _require(final, ["learning_rate", "n_train", "momentum"], "batch_size_curves")
    table = final.assign(
        accuracy=scored_accuracy(final, diverged_accuracy=diverged_accuracy), diverged=final["status"] == "diverged"
    )
    grouped = table.groupby([*keys, "batch_size"], sort=True, dropna=False)
    out = grouped.agg(
        mean_accuracy=("accuracy", "mean"),
        std_accuracy=("accuracy", lambda a: float(np.std(a, ddof=1)) if len(a) > 1 else np.nan),
        min_accuracy=("accuracy", "min"),
        max_accuracy=("accuracy", "max"),
        n_seeds=("seed", "nunique"),
        n_diverged=("diverged", "sum"),
        learning_rate_=("learning_rate", "first"),
        n_train_=("n_train", "first"),
        momentum_=("momentum", "first"),
    ).reset_index()
    out["n_diverged"] = out["n_diverged"].astype("int64")
    out["n_seeds"] = out["n_seeds"].astype("int64")
    out["noise_scale"] = noise_scale(
        out["learning_rate_"], out["n_train_"], out["batch_size"], out["momentum_"]
    )
    return out.drop(columns=["learning_rate_", "n_train_", "momentum_"])


# --------------------------------------------------------------------------------------------
# The optimum batch size of a curve
# --------------------------------------------------------------------------------------------


def _refine_log_optimum(x: np.ndarray, y: np.ndarray, best: np.ndarray) -> np.ndarray:
    """Vertex (in ``x = log B``) of the parabola through the best grid point and its neighbours.

    ``y`` has shape (R, K) (R replicates of a K-point curve), ``best`` the argmax per row.
    Where the best point is at either end of the grid, or the three points are collinear,
    the result is the grid point itself. Because the middle point is the largest of the three,
    the vertex lies between its neighbours; it is clipped there against round-off.
    """
    rows = np.arange(y.shape[0])
    refined = x[best].astype(float)
    inner = (best > 0) & (best < x.size - 1)
    if not inner.any():
        return refined
    i = best[inner]
    r = rows[inner]
    x0, x1, x2 = x[i - 1], x[i], x[i + 1]
    y0, y1, y2 = y[r, i - 1], y[r, i], y[r, i + 1]
    # Leading coefficient of the interpolating parabola; <= 0 because y1 >= y0, y2.
    curvature = ((y2 - y1) / (x2 - x1) - (y1 - y0) / (x1 - x0)) / (x2 - x0)
    numerator = (x1 - x0) ** 2 * (y1 - y2) - (x1 - x2) ** 2 * (y1 - y0)
    denominator = (x1 - x0) * (y1 - y2) - (x1 - x2) * (y1 - y0)
    with np.errstate(divide="ignore", invalid="ignore"):
        vertex = x1 - 0.5 * numerator / denominator
    ok = (curvature < 0) & (denominator != 0) & np.isfinite(vertex)
    refined[inner] = np.where(ok, np.clip(vertex, x0, x2), x1)
    return refined


def _to_batch_size(log_b: np.ndarray, batch_sizes: np.ndarray) -> np.ndarray:
    """``exp(log_b)``, snapped to a grid value it equals up to round-off and kept in the grid range.

    Keeps grid optima exact (``B = N`` must give ``g = 0``, not a ``B`` just above ``N``).
    """
    b = np.clip(np.exp(np.asarray(log_b, dtype=float)), batch_sizes[0], batch_sizes[-1])
    nearest = batch_sizes[np.abs(np.log(batch_sizes)[None, :] - np.log(b)[..., None]).argmin(axis=-1)]
    return np.where(np.isclose(b, nearest, rtol=1e-12, atol=0.0), nearest, b)


def _nan_mean_rows(samples: np.ndarray) -> np.ndarray:
    """Mean over axis 1 ignoring NaN; -inf where a column has no value (never the argmax)."""
    present = np.isfinite(samples)
    counts = present.sum(axis=1)
    sums = np.where(present, samples, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), -np.inf)


def _curve_seed(seed: int, key) -> np.random.SeedSequence:
    """Seed of a curve's bootstrap: the global seed and a stable hash of the curve key.

    A curve's interval thus does not change when other curves are added to or removed from
    the table.
    """
    key = key if isinstance(key, tuple) else (key,)
    plain = [v.item() if hasattr(v, "item") else v for v in key]
    text = json.dumps([repr(float(v)) if isinstance(v, (int, float)) else str(v) for v in plain])
    return np.random.SeedSequence([int(seed), zlib.crc32(text.encode())])


#: Columns of the optimum table that locate the optimum (NaN for a curve that never trained).
_OPTIMUM_LOCATION_COLUMNS = (
    "b_best",
    "b_grid_below",
    "b_grid_above",
    "b_best_low",
    "b_best_high",
    "b_opt",
    "b_opt_low",
    "b_opt_high",
    "optimum_noise_scale",
    "optimum_noise_scale_low",
    "optimum_noise_scale_high",
)


def optimum_batch_sizes(
    final: pd.DataFrame,
    curve_keys: Sequence[str] = DEFAULT_CURVE_KEYS,
    *,
    seed: int,
    n_boot: int,
    confidence: float,
    diverged_accuracy: float | None,
    untrained_accuracy: float | None = None,
    return_replicates: bool = False,
):
    """Optimum batch size of every curve, with a seed-bootstrap interval.

    For each curve (one setting of ``curve_keys``):

    * ``b_best``: the grid batch size with the largest seed-mean accuracy (ties go to the
      smaller batch size), ``best_accuracy`` and ``best_accuracy_std`` (seed std there),
      ``b_grid_below``/``b_grid_above``: its grid neighbours (the paper's error bar; NaN at
      an edge).
    * ``b_opt``: refined optimum, ``exp`` of the vertex of the parabola through the mean
      accuracies at the best grid point and its two neighbours, as a function of ``log B``.
      At a grid edge (``at_grid_edge`` True) there is no bracket and ``b_opt = b_best``; the
      true optimum may lie beyond the grid.
    * Seed bootstrap: ``n_boot`` times, draw the curve's seeds with replacement (a seed keeps
      its runs at every batch size), recompute the mean curve, its argmax and its refined
      optimum. ``b_best_low``/``b_best_high`` are the equal-tailed ``confidence`` percentiles
      of the bootstrap argmax (grid values), ``b_opt_low``/``b_opt_high`` those of the
      refined optimum (in ``log B``). With ``n_seeds == 1`` every resample is the original
      curve and both intervals collapse to the point estimate; ``n_seeds`` says so.
    * ``optimum_noise_scale`` (``g`` at ``b_opt``) and its interval
      ``optimum_noise_scale_low``/``_high`` (from ``b_opt_high``/``b_opt_low``: ``g`` falls
      as ``B`` grows).

    * ``trained``: False when ``untrained_accuracy`` is given and the best seed-mean accuracy
      is at most it (a curve that never trained, all of it near chance). Such a curve has no
      optimum: every batch-size and noise-scale column above is NaN (``best_accuracy`` is
      kept) and ``at_grid_edge`` is False; its bootstrap replicates are NaN too.

    Randomness: each curve's resampling uses ``SeedSequence([seed, crc32(curve key)])``.

    Input columns: ``curve_keys``, ``batch_size``, ``seed``, ``test_accuracy``, ``status``,
    ``learning_rate``, ``n_train``, ``momentum``. Returns the optimum table (one row per
    curve) and, with ``return_replicates``, also the bootstrap replicates (``curve_keys``,
    ``replicate``, ``b_best``, ``b_opt``).
    """
    if not 0 < confidence < 1:
        raise ValueError("optimum_batch_sizes: confidence must lie in (0, 1)")
    if n_boot < 1:
        raise ValueError("optimum_batch_sizes: n_boot must be >= 1")
    keys = list(curve_keys)
    _require(final, ["learning_rate", "n_train", "momentum"], "optimum_batch_sizes")
    lo_q, hi_q = (1 - confidence) / 2, 1 - (1 - confidence) / 2
    rows, replicate_frames = [], []
    for key, curve, batch_sizes, matrix in _seed_matrices(final, keys, diverged_accuracy):
        key = key if isinstance(key, tuple) else (key,)
        x = np.log(batch_sizes)
        n_seeds = matrix.shape[0]
        mean = _nan_mean_rows(matrix[None])[0]
        best = int(np.argmax(mean))
        b_opt = float(_to_batch_size(_refine_log_optimum(x, mean[None, :], np.array([best])), batch_sizes)[0])

        rng = np.random.default_rng(_curve_seed(seed, key))
        draws = rng.integers(0, n_seeds, size=(n_boot, n_seeds))
        boot_mean = _nan_mean_rows(matrix[draws])  # (n_boot, K)
        boot_best = np.argmax(boot_mean, axis=1)
        boot_log_opt = _refine_log_optimum(x, boot_mean, boot_best)
        # Percentiles of the grid index are grid points (the grid is sorted).
        best_low, best_high = np.quantile(boot_best, [lo_q, hi_q], method="inverted_cdf").astype(int)

        eps, n_train, momentum = (float(curve[c].iloc[0]) for c in ("learning_rate", "n_train", "momentum"))
        b_opt_low, b_opt_high = (
            float(b) for b in _to_batch_size(np.quantile(boot_log_opt, [lo_q, hi_q]), batch_sizes)
        )
        at_best = matrix[:, best]
        at_best = at_best[np.isfinite(at_best)]
        trained = untrained_accuracy is None or bool(mean[best] > untrained_accuracy)
        row = dict(zip(keys, key))
        row.update(
            n_batch_sizes=int(batch_sizes.size),
            b_grid_min=float(batch_sizes[0]),
            b_grid_max=float(batch_sizes[-1]),
            n_seeds=int(n_seeds),
            b_best=float(batch_sizes[best]),
            best_accuracy=float(mean[best]),
            best_accuracy_std=float(np.std(at_best, ddof=1)) if at_best.size > 1 else np.nan,
            b_grid_below=float(batch_sizes[best - 1]) if best > 0 else np.nan,
            b_grid_above=float(batch_sizes[best + 1]) if best < batch_sizes.size - 1 else np.nan,
            b_best_low=float(batch_sizes[best_low]),
            b_best_high=float(batch_sizes[best_high]),
            b_opt=b_opt,
            b_opt_low=b_opt_low,
            b_opt_high=b_opt_high,
            at_grid_edge=bool(best == 0 or best == batch_sizes.size - 1),
            optimum_noise_scale=noise_scale(eps, n_train, b_opt, momentum),
            optimum_noise_scale_low=noise_scale(eps, n_train, b_opt_high, momentum),
            optimum_noise_scale_high=noise_scale(eps, n_train, b_opt_low, momentum),
            n_boot=int(n_boot),
            confidence=float(confidence),
            trained=trained,
        )
        if not trained:
            for column in _OPTIMUM_LOCATION_COLUMNS:
                row[column] = np.nan
            row["at_grid_edge"] = False
        rows.append(row)
        if return_replicates:
            rep = pd.DataFrame({k: [v] * n_boot for k, v in zip(keys, key)})
            rep["replicate"] = np.arange(n_boot)
            rep["b_best"] = batch_sizes[boot_best] if trained else np.nan
            rep["b_opt"] = _to_batch_size(boot_log_opt, batch_sizes) if trained else np.nan
            replicate_frames.append(rep)
    optima = pd.DataFrame(rows)
    if return_replicates:
        replicates = pd.concat(replicate_frames, ignore_index=True) if replicate_frames else pd.DataFrame()
        return optima, replicates
    return optima


# --------------------------------------------------------------------------------------------
# Log-log fits of the scaling rules
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogLogFit:
    """``ln y = intercept + slope ln x`` fitted by least squares, and the slope-1 line.

    ``slope_low``/``slope_high``: equal-tailed ``confidence`` interval for the slope (``method``
    "t": Student-t with ``n_points - 2`` degrees of freedom, NaN for two points; "bootstrap":
    percentiles of refits). ``intercept_slope1``: least-squares intercept with the slope held
    at 1, ``mean(ln y - ln x)``: the paper's proportionality ``y = exp(intercept_slope1) x``.
    ``residual_std``: root mean square residual of the free fit on the log scale (ddof 2).
    """

    slope: float
    intercept: float
    slope_low: float
    slope_high: float
    intercept_slope1: float
    residual_std: float
    n_points: int
    x_min: float
    x_max: float
    confidence: float
    method: str

    def predict(self, x):
        """Fitted ``y`` at ``x``."""
        return np.exp(self.intercept + self.slope * np.log(np.asarray(x, dtype=float)))

    def predict_slope1(self, x):
        """``y`` of the proportional (slope-1) fit at ``x``."""
        return np.exp(self.intercept_slope1) * np.asarray(x, dtype=float)

    def contains_one(self) -> bool:
        """Whether the slope interval contains 1 (False if the interval is undefined)."""
        return bool(self.slope_low <= 1.0 <= self.slope_high)


def _ols_slopes(lx: np.ndarray, ly: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise least-squares slope and intercept of ``ly`` on ``lx`` (both shape (R, n))."""
    xm = lx.mean(axis=-1, keepdims=True)
    ym = ly.mean(axis=-1, keepdims=True)
    sxx = ((lx - xm) ** 2).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = ((lx - xm) * (ly - ym)).sum(axis=-1) / sxx
    return slope, ym[..., 0] - slope * xm[..., 0]


def loglog_fit(
    x,
    y,
    *,
    confidence: float,
    method: str = "t",
    rng: np.random.Generator | None = None,
    n_boot: int = 2000,
    y_replicates=None,
) -> LogLogFit:
    """Fit ``y = exp(intercept) x**slope`` by ordinary least squares on ``(ln x, ln y)``.

    ``method="t"``: slope interval ``slope +- t_{n-2} * se`` with
    ``se = sqrt(sum r^2 / (n - 2) / sum (ln x - mean)^2)``; undefined (NaN) for ``n = 2``.
    ``method="bootstrap"``: percentile interval of the slopes refitted to ``n_boot`` resamples
    of the points with replacement (resamples with a single distinct ``x`` are skipped; needs
    ``rng``), or, if ``y_replicates`` (shape (R, n): e.g. bootstrap replicates of each
    curve's optimum) is given, of the slopes fitted to each replicate row, which carries the
    seed-to-seed uncertainty of ``y`` into the slope.

    Raises ``ValueError`` for fewer than two points, non-positive values or a single ``x``.
    """
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape or x.size < 2:
        raise ValueError("loglog_fit: need at least two (x, y) pairs of equal length")
    if np.any(~(x > 0)) or np.any(~(y > 0)):
        raise ValueError("loglog_fit: x and y must be positive and finite")
    if np.unique(x).size < 2:
        raise ValueError("loglog_fit: need at least two distinct x")
    if not 0 < confidence < 1:
        raise ValueError("loglog_fit: confidence must lie in (0, 1)")
    lx, ly = np.log(x), np.log(y)
    slope, intercept = (float(v[0]) for v in _ols_slopes(lx[None, :], ly[None, :]))
    n = x.size
    residuals = ly - intercept - slope * lx
    dof = n - 2
    residual_std = float(np.sqrt((residuals**2).sum() / dof)) if dof > 0 else np.nan
    alpha = 1 - confidence
    if method == "t":
        if dof > 0:
            se = residual_std / np.sqrt(((lx - lx.mean()) ** 2).sum())
            half = float(stats.t.ppf(1 - alpha / 2, dof) * se)
            low, high = slope - half, slope + half
        else:
            low = high = np.nan
    elif method == "bootstrap":
        if y_replicates is not None:
            reps = np.asarray(y_replicates, dtype=float)
            if reps.ndim != 2 or reps.shape[1] != n or np.any(~(reps > 0)):
                raise ValueError("loglog_fit: y_replicates must be positive with shape (R, n_points)")
            slopes, _ = _ols_slopes(np.broadcast_to(lx, reps.shape), np.log(reps))
        else:
            if rng is None:
                raise ValueError("loglog_fit: method='bootstrap' needs rng (or y_replicates)")
            draws = rng.integers(0, n, size=(n_boot, n))
            bx, by = lx[draws], ly[draws]
            distinct = bx.max(axis=1) > bx.min(axis=1)
            slopes, _ = _ols_slopes(bx[distinct], by[distinct])
        if slopes.size == 0:
            raise ValueError("loglog_fit: no usable bootstrap resample")
        low, high = (float(v) for v in np.quantile(slopes, [alpha / 2, 1 - alpha / 2]))
    else:
        raise ValueError(f"loglog_fit: unknown method {method!r} (use 't' or 'bootstrap')")
    return LogLogFit(
        slope=slope,
        intercept=intercept,
        slope_low=float(low),
        slope_high=float(high),
        intercept_slope1=float(np.mean(ly - lx)),
        residual_std=residual_std,
        n_points=int(n),
        x_min=float(x.min()),
        x_max=float(x.max()),
        confidence=float(confidence),
        method=method,
    )


def scaling_points(
    optima: pd.DataFrame,
    sweep: str,
    *,
    min_x: float | None = None,
    exclude_grid_edge: bool = True,
) -> pd.DataFrame:
    """The points of a scaling-rule fit: the swept quantity ``x`` and the optimum of each curve.

    ``sweep`` is ``"learning_rate"`` (``x = eps``), ``"n_train"`` (``x = N``) or ``"momentum"``
    (``x = 1/(1-m)``), a registered sweep (:data:`bayes_sgd.sweeps.SWEEPS`). Returns ``optima``
    (the optimum table of that sweep) with ``x`` and ``used`` columns and ``excluded_because``: ``""``,
    ``"never trained"`` (``trained`` is False: no optimum), ``"grid edge"`` (the optimum is at
    the end of its grid, so only a bound) or ``"x below min_x"`` (e.g. the paper's N rule holds
    only above N of about 20,000).
    """
    registered = get_sweep(sweep)
    _require(optima, [sweep, "b_opt", "at_grid_edge"], "scaling_points")
    points = optima.copy()
    points["x"] = registered.x(points)
    reason = np.full(len(points), "", dtype=object)
    if "trained" in points.columns:
        reason[~points["trained"].to_numpy(dtype=bool)] = "never trained"
    if min_x is not None:
        reason[(points["x"].to_numpy() < min_x) & (reason == "")] = "x below min_x"
    if exclude_grid_edge:
        edge = points["at_grid_edge"].to_numpy(dtype=bool)
        reason[edge & (reason == "")] = "grid edge"
    points["excluded_because"] = reason.astype(str)
    points["used"] = points["excluded_because"] == ""
    return points.sort_values("x").reset_index(drop=True)


def fit_scaling(
    points: pd.DataFrame,
    *,
    y_column: str = "b_opt",
    confidence: float,
    method: str = "t",
    rng: np.random.Generator | None = None,
    n_boot: int = 2000,
    replicates: pd.DataFrame | None = None,
    curve_keys: Sequence[str] = DEFAULT_CURVE_KEYS,
) -> LogLogFit:
    """Log-log fit of ``y_column`` against ``x`` over the ``used`` rows of :func:`scaling_points`.

    With ``method="bootstrap"`` and the ``replicates`` table of :func:`optimum_batch_sizes`,
    the slope interval comes from refitting each bootstrap replicate of the optima (the
    seed-to-seed uncertainty); without it, from resampling the points. Raises ``ValueError``
    when fewer than two usable points with distinct ``x`` remain.
    """
    used = points.loc[points["used"]]
    y_replicates = None
    if method == "bootstrap" and replicates is not None:
        keys = [k for k in curve_keys if k in used.columns]
        wide = replicates.pivot_table(index="replicate", columns=keys, values=y_column)
        wanted = pd.MultiIndex.from_frame(used[keys]) if len(keys) > 1 else pd.Index(used[keys[0]])
        y_replicates = wide.reindex(columns=wanted).to_numpy(dtype=float)
        if np.any(~np.isfinite(y_replicates)):
            raise ValueError("fit_scaling: replicates missing for some used curves")
    return loglog_fit(
        used["x"],
        used[y_column],
        confidence=confidence,
        method=method,
        rng=rng,
        n_boot=n_boot,
        y_replicates=y_replicates,
    )


#: The interval methods of every scaling-rule fit: Student t (the claims read it) and the seed
#: bootstrap of the optima (``replicates``).
FIT_METHODS = ("t", "bootstrap")


def sweep_fits(
    optima: pd.DataFrame,
    replicates: pd.DataFrame,
    sweep: str,
    *,
    confidence: float,
    min_x_values: Sequence[float | None] = (None,),
) -> pd.DataFrame:
    """The fits table of one sweep: one row per (fit region ``min_x``, interval method).

    For each ``min_x`` in ``min_x_values`` (``None``: every interior optimum, as Figures 5b-7b
    draw; a number: only optima with ``x >= min_x``, e.g. the paper's N rule above N = 20,000)
    and each method of :data:`FIT_METHODS`, the :func:`fit_scaling` of the points of
    :func:`scaling_points` at the ``confidence`` level. Columns: ``sweep``, ``x`` (the
    abscissa's name), ``min_x`` (NaN: no bound), every :class:`LogLogFit` field, ``fitted``,
    ``n_optima`` (curves of the sweep), ``excluded`` (how many were left out and why, as text)
    and ``reason`` (why a fit could not be made, else ""). A region with fewer than two usable
    optima with distinct ``x`` is not fitted: its numbers are NaN, ``n_points`` counts the
    usable optima, ``fitted`` is False.
    """
    registered = get_sweep(sweep)
    rows = []
    for min_x in min_x_values:
        points = scaling_points(optima, sweep, min_x=min_x)
        used = points.loc[points["used"]]
        counts = points["excluded_because"].value_counts().drop("", errors="ignore")
        excluded = "; ".join(f"{n} {why}" for why, n in counts.items())
        region = dict(
            sweep=sweep,
            x=registered.x_name,
            min_x=np.nan if min_x is None else float(min_x),
            n_optima=int(len(points)),
            excluded=excluded,
        )
        for method in FIT_METHODS:
            if used["x"].nunique() < 2:  # nothing to fit: say why
                empty = {f.name: np.nan for f in fields(LogLogFit)}
                empty.update(
                    n_points=int(len(used)),
                    x_min=float(used["x"].min()) if len(used) else np.nan,
                    x_max=float(used["x"].max()) if len(used) else np.nan,
                    confidence=float(confidence),
                    method=method,
                )
                reason = f"{len(used)} usable optima of {len(points)}" + "".join(f"; {n} {why}" for why, n in counts.items())
                rows.append({**region, **empty, "fitted": False, "reason": reason})
                continue
            fit = fit_scaling(points, confidence=confidence, method=method, replicates=replicates)
            rows.append({**region, **asdict(fit), "fitted": True, "reason": ""})
    return pd.DataFrame(rows)


def fit_of(fits: pd.DataFrame, *, method: str = "t", min_x: float | None = None) -> tuple[LogLogFit | None, str]:
    """The fit of region ``min_x`` and interval ``method`` in a :func:`sweep_fits` table.

    Returns ``(fit, "")``, or ``(None, reason)`` when that fit could not be made or is not in
    the table. Figures 5b-7b draw ``fit_of(fits)`` (Student t, every interior optimum).
    """
    bound = fits["min_x"].to_numpy(dtype=float)
    region = np.isnan(bound) if min_x is None else np.isclose(bound, float(min_x))
    rows = fits.loc[region & (fits["method"] == method).to_numpy()]
    if len(rows) == 0:
        return None, f"no {method} fit for min_x = {min_x} in the fits table"
    row = rows.iloc[0]
    if not row["fitted"]:
        return None, str(row["reason"])
    return LogLogFit(**{f.name: row[f.name] for f in fields(LogLogFit)}), ""
