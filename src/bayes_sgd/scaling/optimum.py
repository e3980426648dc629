"""The optimum batch size of each accuracy-versus-B curve: the best grid point, a refined optimum
from a local quadratic in ``log B``, and a seed-bootstrap interval for it (paper Section 5; the
paper reads the best B off its grid, with the grid spacing as its error bar).

Curves come from the final rows of runs, scored as :mod:`bayes_sgd.scaling.curves` says
(diverged runs at chance); curves that never train get no optimum.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

from bayes_sgd.scaling.curves import DEFAULT_CURVE_KEYS, _require, _seed_matrices
from bayes_sgd.scaling.noise_scale import noise_scale


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
