"""Writing a drawn figure to the files a figure rule declares (every plot script's last step)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from bayes_sgd.tables import write_atomic  # noqa: E402


def save_figure(fig: Figure, paths: Iterable[str], dpi: int, log: logging.Logger | None = None) -> None:
    """Write ``fig`` to every path, each in the format its extension names (png, pdf, svg),
    atomically (a crash never leaves a half-written figure), then close it."""
    for path in paths:
        fmt = str(path).rsplit(".", 1)[-1]
        write_atomic(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=dpi))
        if log is not None:
            log.info("wrote %s", path)
    plt.close(fig)
