"""The noise scale and the scaling rules of the optimum batch size (paper Section 5; docs/paper.md
section 4), in the order the analysis runs: the formula (:mod:`~bayes_sgd.scaling.noise_scale`),
accuracy against B with diverged runs at chance (:mod:`~bayes_sgd.scaling.curves`), the optimum
of each curve (:mod:`~bayes_sgd.scaling.optimum`) and the log-log fits
(:mod:`~bayes_sgd.scaling.fits`).
"""
