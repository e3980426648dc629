"""Log-log fits of the scaling rules: the slope of log B_opt against the log of the swept quantity
(``eps``, ``N`` or ``1/(1-m)``, :data:`bayes_sgd.sweeps.SWEEPS`), with the paper's
proportionality (slope 1) alongside, by Student t and by seed bootstrap; :func:`sweep_fits` is
the fits table of one sweep that the figures and the claims read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np
import pandas as pd
from scipy import stats

from bayes_sgd.scaling.curves import DEFAULT_CURVE_KEYS, _require
from bayes_sgd.sweeps import get_sweep


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
