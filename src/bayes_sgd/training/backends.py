"""The trainers a run can use (``mlp.backend``) and what each implements.

The NumPy trainer (:mod:`bayes_sgd.training.sgd`) implements every protocol option; the JAX
trainer (:mod:`bayes_sgd.training.sgd_jax`) implements the options in :data:`JAX_STATED_ONLY` only
at their stated value. The configuration check (:func:`bayes_sgd.config.check_config`) refuses an
unsupported combination before any job is planned, and the JAX trainer refuses it again itself.
This module imports no JAX, so the check works where JAX is not installed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bayes_sgd.schema import allowed_values, section_defaults

#: The trainers, the default first.
BACKENDS = allowed_values("mlp.backend")
#: The protocol options the JAX backend implements only at their stated (schema default) value.
JAX_STATED_ONLY = ("loss_normalisation", "momentum_form", "batch_sampling", "init_scale")


def unsupported_options(backend: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The options among ``options`` (protocol option -> value) that ``backend`` cannot train,
    with the only value it accepts for each."""
    if backend != "jax":
        return {}
    stated = section_defaults("mlp")
    return {name: stated[name] for name in JAX_STATED_ONLY if name in options and options[name] != stated[name]}
