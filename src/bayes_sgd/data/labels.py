"""Label tasks: the informative (true) labels and seeded random labels (paper Section 3).

The random-label task keeps the inputs and replaces every label, train and test alike, by one
drawn uniformly from the ``n_classes`` classes, once, from an explicit generator.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def random_labels(n: int, n_classes: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` labels drawn independently and uniformly from ``range(n_classes)``."""
    return rng.integers(0, n_classes, size=n, dtype=np.int64)


def relabel(labels: np.ndarray, classes: list[int]) -> np.ndarray:
    """Map the original class ``classes[k]`` to ``k`` (e.g. digits (0, 1) -> labels (0, 1))."""
    labels = np.asarray(labels)
    out = np.full(labels.shape, -1, dtype=np.int64)
    for k, c in enumerate(classes):
        out[labels == c] = k
    if (out < 0).any():
        raise ValueError(f"labels outside the classes {classes}: {sorted(set(labels[out < 0].tolist()))}")
    return out


def binary_task(
    train_labels: np.ndarray,
    test_labels: np.ndarray | None,
    classes: list[int],
    train_per_class: int,
    test_per_class: int | None,
    seed: int,
) -> pd.DataFrame:
    """The two-class task of paper Section 3.

    Draws ``train_per_class`` images of each of the two ``classes`` from the training split
    (``train_labels``) for training. Test images come from the remaining training-split images
    of those classes when ``test_labels`` is ``None`` (the paper's protocol), otherwise from the
    test split (needed by the embedded 5,000-image subset, whose training pool holds exactly
    400 zeros and 400 ones). ``test_per_class`` images of each class are drawn (``None``: as many
    as the smaller class has, so the test set stays balanced). Then random labels are drawn for
    every selected image, once. Independent streams of ``seed`` drive the three draws.

    Returns one row per image: ``split`` (train/test of the task), ``source_split`` and
    ``index`` (the image's split and position in the dataset table), ``true_label``
    (``classes[k]`` -> ``k``) and ``random_label``.
    """
    from bayes_sgd.data.subsets import balanced_subset

    if len(classes) != 2 or classes[0] == classes[1]:
        raise ValueError(f"a binary task needs two distinct classes, got {classes}")
    train_labels = np.asarray(train_labels)
    train_rng, test_rng, label_rng = (np.random.default_rng([seed, k]) for k in range(3))
    train = balanced_subset(train_labels, classes, train_per_class, train_rng)
    if test_labels is None:
        test_source, pool_labels = "train", train_labels
        pool = np.setdiff1d(np.flatnonzero(np.isin(train_labels, classes)), train)
    else:
        test_source, pool_labels = "test", np.asarray(test_labels)
        pool = np.flatnonzero(np.isin(pool_labels, classes))
    available = min(int((pool_labels[pool] == c).sum()) for c in classes)
    if test_per_class is None:
        test_per_class = available
    if not 0 < test_per_class <= available:
        raise ValueError(
            f"test_per_class={test_per_class}: the {test_source} split has {available} images "
            f"of the rarer class of {classes} left for testing"
        )
    test = pool[balanced_subset(pool_labels[pool], classes, test_per_class, test_rng)]
    index = np.concatenate([train, test])
    n_train, n_test = len(train), len(test)
    return pd.DataFrame(
        {
            "split": ["train"] * n_train + ["test"] * n_test,
            "source_split": ["train"] * n_train + [test_source] * n_test,
            "index": index.astype(np.int64),
            "true_label": np.concatenate(
                [relabel(train_labels[train], classes), relabel(pool_labels[test], classes)]
            ),
            "random_label": random_labels(n_train + n_test, 2, label_rng),
        }
    )
