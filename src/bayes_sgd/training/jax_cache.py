"""JAX's persistent compilation cache for the training jobs (``mlp.jax_compilation_cache``).

Every training job of the JAX backend is a new Python process that compiles the same few XLA
programs (the training segment and the evaluation, one per shape: N, B, protocol, network).
With the persistent cache, the first job to compile a program writes the executable to a
directory and every later job with the same program, on any machine sharing that directory,
loads it instead of compiling. The cache changes no number (a loaded executable is the one
the compiler produced), so the directory is a resource of the job, not a parameter.

JAX caches a program only if it took at least ``jax_persistent_cache_min_compile_time_secs``
(1 s by default) to compile; on a CPU the training segment compiles in a fraction of that, so
the threshold is set to 0 here: every program the job compiles is cached.

:class:`CacheCounter` counts JAX's own monitoring events (``/jax/compilation_cache/cache_hits``
and ``cache_misses``), so a job's log says how many programs it loaded and how many it compiled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HIT_EVENT = "/jax/compilation_cache/cache_hits"
MISS_EVENT = "/jax/compilation_cache/cache_misses"


@dataclass
class CacheCounter:
    """Programs loaded from the persistent cache (``hits``) and compiled and written (``misses``)."""

    hits: int = 0
    misses: int = 0

    def __call__(self, event: str, **kwargs) -> None:
        if event == HIT_EVENT:
            self.hits += 1
        elif event == MISS_EVENT:
            self.misses += 1

    def describe(self) -> str:
        return f"{self.hits} programs loaded from the compilation cache, {self.misses} compiled into it"


def enable_compilation_cache(directory: str | Path | None) -> CacheCounter | None:
    """Use ``directory`` as JAX's persistent compilation cache (created if missing); ``None`` or
    ``""`` leaves the cache off. Returns the counter of this process's hits and misses (``None``
    when off). Call before the first compilation."""
    if not directory:
        return None
    import jax

    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(path.resolve()))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    counter = CacheCounter()
    jax.monitoring.register_event_listener(counter)
    return counter
