"""Seeded, deterministic subsets of a dataset's indices.

Every function takes an explicit :class:`numpy.random.Generator` and returns sorted indices,
so the same seed gives the same subset on every machine (NumPy's PCG64 stream is stable).
"""

from __future__ import annotations

import numpy as np


def random_subset(n_pool: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` distinct indices drawn uniformly from ``range(n_pool)``, sorted."""
    if not 0 < n <= n_pool:
        raise ValueError(f"cannot draw {n} distinct indices from a pool of {n_pool}")
    return np.sort(rng.choice(n_pool, size=n, replace=False))


def balanced_subset(
    labels: np.ndarray, classes: list[int], per_class: int, rng: np.random.Generator
) -> np.ndarray:
    """``per_class`` distinct indices of each class in ``classes``, drawn uniformly, sorted."""
    labels = np.asarray(labels)
    chosen = []
    for c in classes:
        members = np.flatnonzero(labels == c)
        if per_class > len(members):
            raise ValueError(f"class {c}: asked for {per_class} examples, only {len(members)} available")
        chosen.append(rng.choice(members, size=per_class, replace=False))
    return np.sort(np.concatenate(chosen))


def balanced_split(
    labels: np.ndarray, held_out_per_class: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Split every index into (kept, held out) with ``held_out_per_class`` of each class held out.

    Used to give the embedded 5,000-image MNIST subset a class-balanced test split.
    """
    labels = np.asarray(labels)
    held_out = balanced_subset(labels, sorted(np.unique(labels).tolist()), held_out_per_class, rng)
    kept = np.setdiff1d(np.arange(len(labels)), held_out)
    return kept, held_out
