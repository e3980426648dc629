"""The data end of the pipeline: raw files in, the arrays a fit or a training run reads out.

IDX parsing (:mod:`~bayes_sgd.data.idx`), the datasets and their checksums
(:mod:`~bayes_sgd.data.datasets`), seeded subsets (:mod:`~bayes_sgd.data.subsets`), the binary
task and its random labels (:mod:`~bayes_sgd.data.labels`), and the inputs of one MLP run
(:mod:`~bayes_sgd.data.inputs`).
"""
