"""How many BLAS threads a training job uses, from its batch size."""

from __future__ import annotations


#: Batch examples per BLAS thread of a training job (:func:`training_threads`).
EXAMPLES_PER_THREAD = 1000


def training_threads(batch_size: int, max_threads: int, examples_per_thread: int = EXAMPLES_PER_THREAD) -> int:
    """Threads for a training job: ``clip(floor(B / examples_per_thread), 1, max_threads)``.

    A step costs about ``0.35 ms + 0.028 ms x B`` on one core (the cost model of
    :mod:`bayes_sgd.resources`); its ``gemm`` calls dominate from ``B`` of a few hundred on and
    split over threads, while the per-step overhead and the weight update (memory bound) do not.
    So small batches get one thread (several single-threaded jobs use the cores better), and the
    large full-batch runs (``B = N`` up to 50,000), the longest jobs of the paper config, get up
    to ``max_threads``.
    """
    if batch_size < 1 or max_threads < 1 or examples_per_thread < 1:
        raise ValueError("batch_size, max_threads and examples_per_thread must be at least 1")
    return max(1, min(max_threads, batch_size // examples_per_thread))


def set_job_threads(threads: int) -> bool:
    """Set a training job's thread variables (OpenBLAS, OpenMP, MKL) to ``threads``, and let
    JAX jobs share a GPU (no preallocation of most of its memory). Call before NumPy is first
    imported: Snakemake sets the thread variables for script jobs already, and setting them
    again keeps the job at its thread count however it is started. Returns whether NumPy was
    imported before (then the values Snakemake set are the ones in force). Imports nothing."""
    import os
    import sys

    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    return "numpy" in sys.modules
