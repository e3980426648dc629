"""Checkpoints of a training run: save its whole state atomically, resume it bit for bit.

A long run (hours for the full-batch runs of full MNIST) is killed by a time limit, a lost
session or a node failure. The trainer (:func:`bayes_sgd.training.sgd.train`, and the JAX trainer)
saves its state every ``interval_seconds`` of work; a new attempt at the same run loads it and
continues from there, so that the finished curve and weights are **bit-identical** to those of
an uninterrupted run (only the wall-clock ``seconds`` column differs).

The state (:class:`TrainingState`) is everything a step depends on: the weights ``w``, the
momentum ``v``, the state of the batch-sampling generator, the step, the position in the
evaluation schedule and the curve rows recorded so far (the initialisation generator is used
only before step 1 and needs no saving).

Identity. A checkpoint is only resumed by the run that wrote it: its file records a
*fingerprint* (:func:`fingerprint`), a SHA-256 over the full training configuration, the
architecture, the float type, the backend, the training and test arrays themselves and the
source of the modules that compute a step. A checkpoint whose fingerprint differs (an edited
config, other data, changed code) is ignored and overwritten; the run starts afresh.

Format: one ``.npz`` file (NumPy arrays ``parameters``, ``velocity``, plus the JSON record
``meta`` with the fingerprint, step, generator state and curve rows) written to a temporary file
and renamed into place (:func:`bayes_sgd.tables.write_atomic`), so a kill during a save leaves
the previous checkpoint intact. JSON stores floats by their shortest round-trip repr (NaN too),
so the rows come back exactly.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bayes_sgd.tables import write_atomic

FORMAT_VERSION = 1
log = logging.getLogger(__name__)


class Stopped(Exception):
    """Training stopped on request (:meth:`Checkpoint.request_stop`) after saving its state."""


@dataclass
class TrainingState:
    """Everything a run needs to continue after ``step`` as if it had never stopped.

    ``next_eval`` indexes the evaluation schedule (the next evaluation still to do);
    ``rng_state`` is JSON-able (NumPy ``bit_generator.state``, or a JAX key's words);
    ``rows`` the curve rows so far; ``seconds`` the training wall time spent so far.
    """

    step: int
    next_eval: int
    parameters: np.ndarray
    velocity: np.ndarray
    rng_state: Any
    rows: list[dict]
    seconds: float


def _hash_array(h, array: np.ndarray) -> None:
    a = np.ascontiguousarray(array)
    h.update(f"{a.dtype.str}{a.shape}".encode())
    h.update(memoryview(a).cast("B"))


def fingerprint(config: Any, arrays: dict[str, np.ndarray], extra: dict[str, Any] | None = None) -> str:
    """SHA-256 (hex) identifying a run: its configuration, its data and whatever else decides it.

    ``config`` is a dataclass or a JSON-able mapping; ``arrays`` the data (training and test
    inputs and labels), hashed by dtype, shape and bytes; ``extra`` anything else (architecture,
    float type, backend, code version). Equal fingerprints mean the same computation.
    """
    record = asdict(config) if is_dataclass(config) else dict(config)
    h = hashlib.sha256()
    h.update(json.dumps({"config": record, "extra": extra or {}}, sort_keys=True, default=str).encode())
    for name in sorted(arrays):
        h.update(name.encode())
        _hash_array(h, arrays[name])
    return h.hexdigest()


def source_digest(*modules) -> str:
    """SHA-256 of the source files of ``modules`` (a code edit changes the fingerprint)."""
    h = hashlib.sha256()
    for module in modules:
        h.update(Path(module.__file__).read_bytes())
    return h.hexdigest()


def _plain(value: Any) -> Any:
    """NumPy scalars to Python values, recursively, for JSON."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass
class Checkpoint:
    """Where and how often a run saves its state, and the fingerprint that owns it.

    ``interval_seconds``: the trainer saves when at least this much training time has passed
    since the start or the previous save (``0`` saves at every opportunity; ``math.inf``
    never). ``saves`` counts the saves of this process; ``resumed_step`` is the step a loaded
    state resumed from (``None``: started afresh).
    """

    path: Path
    fingerprint: str
    interval_seconds: float = 300.0
    saves: int = field(default=0, init=False)
    resumed_step: int | None = field(default=None, init=False)
    stop_requested: bool = field(default=False, init=False)

    def __post_init__(self):
        self.path = Path(self.path)
        if not self.interval_seconds >= 0:
            raise ValueError(f"checkpoint interval must be >= 0 seconds, got {self.interval_seconds}")

    @property
    def enabled(self) -> bool:
        return math.isfinite(self.interval_seconds)

    def request_stop(self) -> None:
        """Ask the trainer to save at its next opportunity and then raise :class:`Stopped`.

        Safe to call from a signal handler (it only sets a flag): the workflow script calls it
        on SIGTERM, which SLURM sends at a job's time limit some seconds before SIGKILL, so the
        retried job loses (almost) no work.
        """
        self.stop_requested = True

    def due(self, seconds_since_save: float) -> bool:
        """Whether the trainer should save now."""
        return self.stop_requested or seconds_since_save >= self.interval_seconds

    def saved(self, step: int) -> None:
        """Called by the trainer after a save: raises :class:`Stopped` if a stop was requested."""
        if self.stop_requested:
            raise Stopped(f"stopped on request after saving step {step} to {self.path}")

    def load(self) -> TrainingState | None:
        """The saved state if there is one written by this very run, else ``None`` (logged)."""
        if not self.path.exists():
            return None
        try:
            with np.load(self.path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                parameters, velocity = data["parameters"].copy(), data["velocity"].copy()
        except Exception as err:  # a damaged file: start afresh rather than fail the job
            log.warning("checkpoint %s is unreadable (%s): starting afresh", self.path, err)
            return None
        if meta.get("format") != FORMAT_VERSION or meta.get("fingerprint") != self.fingerprint:
            log.warning(
                "checkpoint %s belongs to another configuration, data or code (fingerprint %s, this run %s): "
                "starting afresh",
                self.path, str(meta.get("fingerprint"))[:12], self.fingerprint[:12],
            )
            return None
        self.resumed_step = int(meta["step"])
        log.info("resuming from checkpoint %s at step %d", self.path, self.resumed_step)
        return TrainingState(
            step=int(meta["step"]),
            next_eval=int(meta["next_eval"]),
            parameters=parameters,
            velocity=velocity,
            rng_state=meta["rng_state"],
            rows=meta["rows"],
            seconds=float(meta["seconds"]),
        )

    def save(self, state: TrainingState) -> None:
        """Write ``state`` atomically (replacing the previous checkpoint)."""
        meta = {
            "format": FORMAT_VERSION,
            "fingerprint": self.fingerprint,
            "step": int(state.step),
            "next_eval": int(state.next_eval),
            "rng_state": _plain(state.rng_state),
            "rows": _plain(state.rows),
            "seconds": float(state.seconds),
        }

        def write(tmp):
            with open(tmp, "wb") as f:  # a file object: np.savez would append .npz to a name
                np.savez(f, parameters=state.parameters, velocity=state.velocity, meta=np.array(json.dumps(meta)))
                f.flush()
                os.fsync(f.fileno())

        write_atomic(self.path, write)
        self.saves += 1

    def remove(self) -> None:
        """Delete the checkpoint (the run finished and its outputs are written)."""
        self.path.unlink(missing_ok=True)


@dataclass
class CheckpointGroup:
    """The checkpoints of runs trained together (:func:`bayes_sgd.training.sgd_jax.train_seeds`).

    One :class:`Checkpoint` file per run, at the path that run has when trained alone, saved
    together after the same step. A group resumes only when every member's file is there, written
    by this very group (the members' fingerprints name the group's seeds) and at one step;
    otherwise it starts afresh, logged. The interval and the stop request are the group's: the
    first member's interval, and a stop asked of the group stops every member.
    """

    members: list[Checkpoint]

    def __post_init__(self):
        if not self.members:
            raise ValueError("a checkpoint group needs at least one member")

    @property
    def enabled(self) -> bool:
        return self.members[0].enabled

    @property
    def saves(self) -> int:
        return self.members[0].saves

    @property
    def resumed_step(self) -> int | None:
        return self.members[0].resumed_step

    def request_stop(self) -> None:
        """As :meth:`Checkpoint.request_stop`, for every member (safe in a signal handler)."""
        for member in self.members:
            member.stop_requested = True

    def due(self, seconds_since_save: float) -> bool:
        return self.members[0].due(seconds_since_save)

    def saved(self, step: int) -> None:
        """Raises :class:`Stopped` after a save if a stop was requested."""
        if self.members[0].stop_requested:
            raise Stopped(f"stopped on request after saving step {step} of {len(self.members)} runs to "
                          f"{', '.join(str(m.path) for m in self.members)}")

    def load(self) -> list[TrainingState] | None:
        """Every member's saved state, if all were saved by this group at the same step; else ``None``."""
        present = [m.path.exists() for m in self.members]
        if not any(present):
            return None
        states = [m.load() if here else None for m, here in zip(self.members, present)]
        steps = {(s.step, s.next_eval) for s in states if s is not None}
        if any(s is None for s in states) or len(steps) != 1:
            log.warning(
                "the checkpoints of this group are incomplete or at different steps (%s): starting afresh",
                ", ".join(f"{m.path.name}: {'step ' + str(s.step) if s else 'none'}" for m, s in zip(self.members, states)),
            )
            for member in self.members:
                member.resumed_step = None
            return None
        return states

    def save(self, states: list[TrainingState]) -> None:
        """Write each member's state (each file atomically)."""
        if len(states) != len(self.members):
            raise ValueError(f"{len(states)} states for a group of {len(self.members)} checkpoints")
        for member, state in zip(self.members, states):
            member.save(state)

    def remove(self) -> None:
        for member in self.members:
            member.remove()
