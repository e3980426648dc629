"""Logging for workflow scripts: one log file per job, plus stderr for the console."""

from __future__ import annotations

import logging
import os
import socket
import sys


def job_origin() -> str:
    """Where this job runs: the SLURM job id (``none`` outside SLURM) and the host name.

    Inside a SLURM allocation ``SLURM_JOB_ID`` is set (and ``SLURM_STEP_ID`` when the job
    runs as a job step, e.g. one job of a group submission); a local job has neither. The
    line lets a log be matched with ``squeue``/``sacct`` records and a node, and shows
    whether a job ran on the cluster at all.
    """
    job_id = os.environ.get("SLURM_JOB_ID") or "none"
    step = os.environ.get("SLURM_STEP_ID")
    where = f"SLURM job id {job_id}" + (f" step {step}" if step and job_id != "none" else "")
    return f"{where} on host {socket.gethostname()} (pid {os.getpid()})"


def script_logger(snakemake, name: str | None = None) -> logging.Logger:
    """A logger that writes to the job's ``log:`` file (first entry) and to stderr.

    The first line of every log says where the job ran (:func:`job_origin`). Uncaught
    exceptions are logged with their traceback before the job fails, so the log file says why
    a job stopped.
    """
    logger = logging.getLogger(name or snakemake.rule)
    logger.setLevel(logging.INFO)
    logger.handlers.clear()
    # milliseconds: the start and end of jobs that ran at once can be told apart
    fmt = logging.Formatter("%(asctime)s.%(msecs)03d %(name)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    handlers = [logging.StreamHandler(sys.stderr)]
    if len(snakemake.log):
        handlers.append(logging.FileHandler(snakemake.log[0], mode="w"))
    for handler in handlers:
        handler.setFormatter(fmt)
        logger.addHandler(handler)

    def excepthook(kind, value, tb):
        logger.error("job failed: %s", value, exc_info=(kind, value, tb))

    sys.excepthook = excepthook
    logger.info("%s", job_origin())
    return logger
