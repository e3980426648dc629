"""SGD with momentum for the MLP (paper Section 4; docs/paper.md section 3).

The trainer (:mod:`~bayes_sgd.training.sgd`; the same on JAX, :mod:`~bayes_sgd.training.sgd_jax`),
which examples each step takes (:mod:`~bayes_sgd.training.batches`), the tables a run writes
(:mod:`~bayes_sgd.training.run_tables`), resumable state (:mod:`~bayes_sgd.training.checkpoint`)
and BLAS threads per job (:mod:`~bayes_sgd.training.threads`).
"""
