"""Gradient noise at initialisation: single examples versus batches (docs/paper.md section 5, Figure 9).

Smith & Le (2018, Appendix C) read SGD as a stochastic differential equation whose noise is
Gaussian, which rests on the central limit theorem for the minibatch gradient. Figure 9 checks
it on one weight ``W2[j, k]`` of the softmax layer at initialisation.

For one example ``(x_i, y_i)`` the gradient of its cross-entropy with respect to ``W2[j, k]`` is

    g_i = h_ij (p_ik - [y_i = k]),

``h_i`` the hidden activations and ``p_i`` the softmax output. The gradient of the mean
cross-entropy of a batch ``S`` at the same weights is the batch mean ``(1/|S|) sum_{i in S} g_i``,
so batch samples are means of ``g_i`` over batches drawn as in training
(:func:`bayes_sgd.training.batches.sample_batch`: ``B`` distinct examples, uniformly).

Normality is summarised by the Shapiro-Wilk ``W`` (1 for a perfectly normal sample), the
Kolmogorov-Smirnov distance to the normal with the sample's mean and standard deviation, and
the sample skewness and excess kurtosis (both 0 for a normal distribution).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from bayes_sgd.mlp import Architecture, forward, log_softmax
from bayes_sgd.training.sgd import TrainingConfig, initial_parameters
from bayes_sgd.training.batches import sample_batch


def initial_state(
    arch: Architecture, seed: int, *, weight_init: str, bias_init: float, init_scale: float = 1.0
) -> tuple[np.ndarray, np.random.Generator]:
    """The weights Figure 9 examines and the generator of its batches, both from run seed ``seed``.

    The weights are the initialisation of the training run with seed ``seed`` (the same stream
    as ``train_mlp``: the first child of ``SeedSequence(seed)``, :func:`bayes_sgd.training.sgd.run_seeds`);
    the batches come from a third child of the same seed sequence, independent of the run's
    initialisation (first child) and batch order (second child).
    """
    run = TrainingConfig(
        learning_rate=1.0, momentum=0.0, batch_size=1, steps=1, seed=int(seed),
        weight_init=weight_init, bias_init=float(bias_init), init_scale=float(init_scale),
    )
    w = initial_parameters(arch, run)
    rng = np.random.default_rng(np.random.SeedSequence(int(seed)).spawn(3)[2])
    return w, rng


def most_active_hidden_unit(arch: Architecture, w: np.ndarray, X: np.ndarray) -> int:
    """The hidden unit that is active (``h > 0``) on the most rows of ``X`` (lowest index on ties).

    At initialisation a ReLU unit is silent on part of the inputs, where its outgoing weights get
    exactly zero gradient; the most active unit gives the least degenerate distribution.
    """
    h, _ = forward(arch, w, X)
    return int(np.argmax(np.count_nonzero(h > 0, axis=0)))


def per_example_output_gradients(
    arch: Architecture, w: np.ndarray, X: np.ndarray, y: np.ndarray, hidden_unit: int, output_class: int
) -> np.ndarray:
    """``g_i = h_ij (p_ik - [y_i = k])`` for every row ``i``: d(cross-entropy_i)/dW2[j, k]."""
    if not 0 <= hidden_unit < arch.n_hidden:
        raise ValueError(f"hidden_unit must lie in [0, {arch.n_hidden}), got {hidden_unit}")
    if not 0 <= output_class < arch.n_classes:
        raise ValueError(f"output_class must lie in [0, {arch.n_classes}), got {output_class}")
    h, z = forward(arch, w, X)
    p = np.exp(log_softmax(z.astype(np.float64)))
    residual = p[:, output_class] - (np.asarray(y) == output_class)
    return h[:, hidden_unit].astype(np.float64) * residual


def batch_mean_gradients(
    per_example: np.ndarray, batch_size: int, n_batches: int, rng: np.random.Generator
) -> np.ndarray:
    """Means of ``per_example`` over ``n_batches`` independent batches of ``batch_size`` examples."""
    n = per_example.shape[0]
    out = np.empty(n_batches)
    for b in range(n_batches):
        out[b] = per_example[sample_batch(rng, n, batch_size)].mean()
    return out


def normality_statistics(sample: np.ndarray) -> dict[str, float]:
    """Mean, standard deviation and the normality statistics of the module docstring.

    Shapiro-Wilk is computed on at most the first 5000 values (scipy's p-value is exact only up
    to that size); the other statistics use the whole sample.
    """
    sample = np.asarray(sample, dtype=np.float64)
    mean = float(sample.mean())
    std = float(sample.std(ddof=1))
    shapiro = stats.shapiro(sample[:5000])
    if std > 0:
        ks = stats.kstest(sample, "norm", args=(mean, std)).statistic
    else:
        ks = float("nan")
    return dict(
        n=int(sample.size),
        mean=mean,
        std=std,
        skewness=float(stats.skew(sample)),
        excess_kurtosis=float(stats.kurtosis(sample, fisher=True)),
        shapiro_w=float(shapiro.statistic),
        shapiro_p=float(shapiro.pvalue),
        ks_distance=float(ks),
    )


def gradient_noise_samples(
    arch: Architecture,
    w: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    n_batches: int,
    rng: np.random.Generator,
    hidden_unit: int | None = None,
    output_class: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Single-example and batch-mean gradients of ``W2[hidden_unit, output_class]`` at ``w``.

    ``hidden_unit=None`` picks :func:`most_active_hidden_unit`. Returns ``(samples, summary)``:
    ``samples`` has one row per gradient value (columns ``sample`` = ``"single"`` or
    ``"batch"``, ``batch_size``, ``gradient``); ``summary`` one row per kind with
    :func:`normality_statistics`, plus ``hidden_unit`` and ``output_class``.
    """
    if hidden_unit is None:
        hidden_unit = most_active_hidden_unit(arch, w, X)
    single = per_example_output_gradients(arch, w, X, y, hidden_unit, output_class)
    batch = batch_mean_gradients(single, batch_size, n_batches, rng)
    samples = pd.concat(
        [
            pd.DataFrame({"sample": "single", "batch_size": 1, "gradient": single}),
            pd.DataFrame({"sample": "batch", "batch_size": batch_size, "gradient": batch}),
        ],
        ignore_index=True,
    )
    summary = pd.DataFrame(
        [
            dict(sample="single", batch_size=1, **normality_statistics(single)),
            dict(sample="batch", batch_size=batch_size, **normality_statistics(batch)),
        ]
    )
    summary["hidden_unit"] = hidden_unit
    summary["output_class"] = output_class
    return samples, summary
