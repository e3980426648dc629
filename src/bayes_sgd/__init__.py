"""bayes_sgd: a reproduction of Smith & Le (ICLR 2018).

"A Bayesian Perspective on Generalization and Stochastic Gradient Descent".
All numerical logic lives in this package as plain functions on NumPy arrays;
the Snakemake workflow under ``workflow/`` only wires it together.
"""

__version__ = "0.1.0"
