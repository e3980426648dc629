"""The figures, drawn only from the computed tables: one module per figure family (logistic
regression, SGD, scaling, evidence) and the one writer every plot script uses
(:mod:`~bayes_sgd.figures.files`)."""
