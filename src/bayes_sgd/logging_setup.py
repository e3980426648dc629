"""Logging for workflow scripts: one log file per job, plus stderr for the console."""

from __future__ import annotations

import logging
import sys


def script_logger(snakemake, name: str | None = None) -> logging.Logger:
    """A logger that writes to the job's ``log:`` file (first entry) and to stderr.

    Uncaught exceptions are logged with their traceback before the job fails, so the log file
    says why a job stopped.
    """
    logger = logging.getLogger(name or snakemake.rule)
    logger.setLevel(logging.INFO)
    logger.handlers.clear()
    fmt = logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    handlers = [logging.StreamHandler(sys.stderr)]
    if len(snakemake.log):
        handlers.append(logging.FileHandler(snakemake.log[0], mode="w"))
    for handler in handlers:
        handler.setFormatter(fmt)
        logger.addHandler(handler)

    def excepthook(kind, value, tb):
        logger.error("job failed: %s", value, exc_info=(kind, value, tb))

    sys.excepthook = excepthook
    return logger
