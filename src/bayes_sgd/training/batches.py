"""Which training examples each SGD step takes (paper Section 4; docs/paper.md section 3).

``uniform`` (stated): every step draws ``B`` distinct examples uniformly at random,
independently of the other steps (:func:`sample_batch`). ``epoch_shuffle`` (an option): the steps
walk through a stream of independent random permutations of the training set, one per epoch
(:class:`EpochSampler`). With ``B = N`` both take the full training set every step.
"""

from __future__ import annotations

import numpy as np


def sample_batch(rng: np.random.Generator, n: int, batch_size: int) -> np.ndarray:
    """``batch_size`` distinct indices drawn uniformly from ``range(n)``.

    Every subset of size ``batch_size`` is equally likely. The order within the batch is not
    random (it does not matter for a mean gradient); ``batch_size == n`` returns ``arange(n)``
    without drawing. NumPy's ``Generator.choice`` without replacement is exact (a partial
    Fisher-Yates shuffle, or Floyd-style set sampling when ``n`` is large) and takes a few
    microseconds, well below the cost of a step.
    """
    if not 1 <= batch_size <= n:
        raise ValueError(f"batch_size must lie in [1, n={n}], got {batch_size}")
    if batch_size == n:
        return np.arange(n)
    return rng.choice(n, size=batch_size, replace=False, shuffle=False)


class EpochSampler:
    """Epoch-wise reshuffling without replacement (``batch_sampling = epoch_shuffle``).

    The examples form a stream ``pi_0, pi_1, ...`` of independent uniformly random permutations
    of ``range(n)``, one per epoch; step ``s`` (1-based) takes elements ``(s-1) B .. s B - 1``
    of the stream. So every ``n`` consecutive draws from the start visit every example exactly
    once. A batch that straddles an epoch boundary (``B`` not dividing ``n``) takes the end of
    ``pi_e`` and the start of ``pi_{e+1}``, and may then hold one example twice (its mean
    gradient counts it twice).

    Stateless in the step: the permutation of epoch ``e`` (0-based) is
    ``default_rng(SeedSequence(entropy=seq.entropy, spawn_key=seq.spawn_key + (e,))).permutation(n)``
    with ``seq`` the run's batch seed sequence (:func:`run_seeds`), i.e. the ``e``-th child
    that ``seq.spawn`` would return, built directly without spawning. A step's batch is thus a
    function of the seed and the step alone, and a run resumed from a checkpoint takes the same
    batches without any saved sampler state. The permutations of the current and the next epoch
    are cached (at most two are kept).

    ``batch(step)`` returns a view into the cached permutation (do not write into it), or a
    fresh array for a batch that straddles two epochs. The trainer does not use the sampler
    when ``B = n``: it takes the full set in index order every step, as under ``uniform``.
    """

    def __init__(self, seq: np.random.SeedSequence, n: int, batch_size: int):
        if not 1 <= batch_size <= n:
            raise ValueError(f"batch_size must lie in [1, n={n}], got {batch_size}")
        self.seq, self.n, self.batch_size = seq, int(n), int(batch_size)
        self._cache: dict[int, np.ndarray] = {}

    def permutation(self, epoch: int) -> np.ndarray:
        """The permutation ``pi_epoch`` of ``range(n)`` (cached; do not write into it)."""
        perm = self._cache.get(epoch)
        if perm is None:
            child = np.random.SeedSequence(
                entropy=self.seq.entropy,
                spawn_key=(*self.seq.spawn_key, int(epoch)),
                pool_size=self.seq.pool_size,
            )
            perm = np.random.default_rng(child).permutation(self.n)
            self._cache = {e: p for e, p in self._cache.items() if e in (epoch - 1, epoch + 1)}
            self._cache[epoch] = perm
        return perm

    def batch(self, step: int) -> np.ndarray:
        """The indices of step ``step`` (1-based): stream elements ``(step-1) B .. step B - 1``."""
        if step < 1:
            raise ValueError(f"steps count from 1, got {step}")
        n, b = self.n, self.batch_size
        start = (step - 1) * b
        epoch, offset = divmod(start, n)
        if offset + b <= n:
            return self.permutation(epoch)[offset : offset + b]
        head = self.permutation(epoch)[offset:]
        return np.concatenate([head, self.permutation(epoch + 1)[: b - len(head)]])
