"""The seed convention of Figure 9 (bayes_sgd.minibatch_gradients.initial_state)."""

import numpy as np

from bayes_sgd import minibatch_gradients
from bayes_sgd.training import sgd
from bayes_sgd.mlp import Architecture


def test_figure_9_examines_the_initialisation_of_its_run_seed_with_an_independent_batch_stream():
    arch = Architecture(n_inputs=6, n_hidden=4, n_classes=3)
    w, rng = minibatch_gradients.initial_state(arch, 7, weight_init="glorot_uniform", bias_init=0.0)
    run = sgd.TrainingConfig(learning_rate=1.0, momentum=0.9, batch_size=5, steps=10, seed=7)
    np.testing.assert_array_equal(w, sgd.initial_parameters(arch, run))  # train_mlp's seed-7 start
    _, again = minibatch_gradients.initial_state(arch, 7, weight_init="glorot_uniform", bias_init=0.0)
    draws = rng.integers(0, 1 << 30, 8)
    np.testing.assert_array_equal(draws, again.integers(0, 1 << 30, 8))  # seeded
    batches = np.random.default_rng(sgd.run_seeds(7)[1]).integers(0, 1 << 30, 8)
    assert not np.array_equal(draws, batches)  # not the run's batch order
    other, _ = minibatch_gradients.initial_state(arch, 8, weight_init="glorot_uniform", bias_init=0.0)
    assert not np.array_equal(w, other)
