"""How many cores a local run may use at once: never more than the machine lets this process run
on, whatever ``--cores`` says.

Snakemake starts as many jobs as ``--cores`` allows. On a machine with fewer CPUs than that (the
README's ``--cores 8`` on a 2-core laptop) the jobs time-slice, evict each other's weights from
cache and ask for BLAS threads the machine does not have: on the 2-core development machine a
training job then cost about 4x what it costs alone. The workflow therefore lowers Snakemake's
core budget of a local run to :func:`usable_cpus` (or to the configuration's ``local_cpus``);
Snakemake then runs at most that many single-threaded jobs at once and caps every job's threads
to it. A cluster run (an executor such as slurm) is left alone: its jobs run on other machines.
"""

from __future__ import annotations

import os


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity: ``taskset``, a cgroup cpuset, a batch
    allocation), or the machine's CPU count where the platform has no affinity."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def local_core_budget(requested: int | None, local_cpus: int | None, usable: int | None = None) -> tuple[int, str | None]:
    """The core budget of a local run and, when it is lower than ``requested``, the line to log.

    ``requested`` is ``--cores`` (None: not given); ``local_cpus`` the configuration key
    (None: :func:`usable_cpus`, or ``usable`` where given).
    """
    limit = int(local_cpus) if local_cpus is not None else (usable if usable is not None else usable_cpus())
    if requested is None:
        return limit, None
    if requested <= limit:
        return requested, None
    source = "config key local_cpus" if local_cpus is not None else "the CPUs this process may run on, os.sched_getaffinity"
    note = (
        f"bayes-sgd: --cores {requested}, but this run uses at most {limit} core(s) at once ({source}) "
        f"so that its jobs do not time-slice each other's CPUs; to allow more, set local_cpus "
        f"(e.g. --config local_cpus={requested})"
    )
    return limit, note
