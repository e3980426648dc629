"""The SGD noise scale and the scaling rules for the optimum batch size (paper Section 5).

Smith & Le read SGD with learning rate ``eps``, batch size ``B`` and momentum ``m`` on ``N``
training examples as a discretised stochastic differential equation whose noise has scale

    g = eps / (1 - m) * (N / B - 1)                  (Section 5, eq. 11 and Appendix D)

so that, if there is an optimal noise scale ``g_opt``, the batch size that reaches it is

    B_opt = N / (1 + g_opt (1 - m) / eps)  ~=  eps N / ((1 - m) g_opt)   for B << N,


The noise scale is what the scaling analysis (:mod:`bayes_sgd.scaling`) reads the optimum
batch size against: :mod:`~bayes_sgd.scaling.curves` (accuracy against ``B``),
:mod:`~bayes_sgd.scaling.optimum` (the optimum of a curve) and :mod:`~bayes_sgd.scaling.fits`
(the log-log fits of the rules).
"""

from __future__ import annotations

import numpy as np


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
