"""The arrays one MLP run trains and tests on, from a dataset table and its training subset."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayes_sgd.data.datasets import split_arrays
from bayes_sgd.mlp import scale_pixels
from bayes_sgd.schema import allowed_values, section_defaults

#: The values of the input-range and test-set options (the schema's); the first is the stated one.
INPUT_RANGES = allowed_values("mlp.input_range")
TEST_SETS = allowed_values("mlp.test_set")


def training_data(
    dataset: pd.DataFrame,
    subset: np.ndarray,
    pixel_scale: float = section_defaults("mlp")["pixel_scale"],
    dtype=np.float32,
    input_range: str = INPUT_RANGES[0],
    test_set: str = TEST_SETS[0],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(X_train, y_train, X_test, y_test)`` for one run.

    ``dataset`` is a dataset table (:mod:`bayes_sgd.data.datasets`); ``subset`` indexes its train
    split (the seeded N-image training subset, the pool).

    ``input_range`` (:data:`INPUT_RANGES`): ``unit`` (stated, docs/paper.md section 2): pixels
    divided by ``pixel_scale``, in [0, 1]; ``symmetric`` **[our choice, an option]**:
    ``2 (pixels / pixel_scale) - 1`` computed in ``dtype`` from the unit inputs, in [-1, 1]
    (0 maps to -1 and ``pixel_scale`` to 1 exactly).

    ``test_set`` (:data:`TEST_SETS`): ``test`` (default) is the whole test split;
    ``test_and_unused_train`` is the test split followed by every pool image not in
    ``subset``, in pool order: a larger test set where the pool is larger than ``N``.
    """
    if input_range not in INPUT_RANGES:
        raise ValueError(f"input_range must be one of {INPUT_RANGES}, got {input_range!r}")
    if test_set not in TEST_SETS:
        raise ValueError(f"test_set must be one of {TEST_SETS}, got {test_set!r}")
    pool_X, pool_y = split_arrays(dataset, "train")
    test_X, test_y = split_arrays(dataset, "test")
    subset = np.asarray(subset, dtype=np.int64)
    if test_set == "test_and_unused_train":
        unused = np.setdiff1d(np.arange(len(pool_y)), subset)  # sorted: pool order
        test_X = np.concatenate([test_X, pool_X[unused]])
        test_y = np.concatenate([test_y, pool_y[unused]])

    def inputs(pixels: np.ndarray) -> np.ndarray:
        X = scale_pixels(pixels, pixel_scale, dtype)
        if input_range == "symmetric":
            X *= 2
            X -= 1
        return X

    return inputs(pool_X[subset]), pool_y[subset], inputs(test_X), test_y
