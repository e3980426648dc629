"""The scaling sweeps of Figures 5-7 as lists of training runs, and what they cost.

Paper Section 5 sweeps one quantity at a time around the Figure 4 setting (N = 1000,
eps = 1, m = 0.9, 10,000 updates) and measures the optimum batch size of every curve:

* Figure 5, the **learning-rate sweep**: N and m fixed, each curve at learning rate ``eps``
  runs ``round(steps_at_unit_learning_rate / eps)`` updates, so that the SDE time
  ``t = steps * eps / N`` (one update is a time step ``eps / N``, Section 5) is the same for
  every curve. The paper has ``steps_at_unit_learning_rate = 10,000``.
* Figure 6, the **training-set-size sweep**: eps, m and the number of updates fixed, N varies.
* Figure 7, the **momentum sweep**: eps, N and the number of updates fixed, m varies.

A sweep is one section of the ``scaling:`` configuration: the fixed settings, ``seeds`` and
``curves``, a list with the swept value of each curve and that curve's own batch-size grid.
:func:`sweep_runs` turns it into :class:`Run` records (one per curve, batch size and seed),
the same records as the runs of Figures 3, 4 and 8 (:func:`figure_runs`), so a configuration
requested twice is one run.

:class:`CostModel` estimates the single-core time of a run from its number of updates, batch
size and evaluations; :func:`estimate_cost` sums it over a set of distinct runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from bayes_sgd.sgd import evaluation_steps

#: Configuration section of each sweep, by swept column (the run-table column that varies).
SWEEP_SECTIONS = {
    "learning_rate": "learning_rate_sweep",
    "n_train": "n_train_sweep",
    "momentum": "momentum_sweep",
}

#: Figure number of each sweep.
SWEEP_FIGURES = {"learning_rate": 5, "n_train": 6, "momentum": 7}

#: The settings of a run besides its batch size and seed.
CURVE_SETTINGS = ("n_train", "learning_rate", "momentum", "l2", "steps")


@dataclass(frozen=True, order=True)
class Run:
    """One MLP training run (the wildcards of rule ``train_mlp``)."""

    n_train: int
    learning_rate: float
    momentum: float
    batch_size: int
    l2: float
    steps: int
    seed: int


def steps_for_learning_rate(steps_at_unit_learning_rate: float, learning_rate: float) -> int:
    """Updates at ``learning_rate`` for the SDE time of ``steps_at_unit_learning_rate`` updates at eps = 1.

    ``round(steps_at_unit_learning_rate / learning_rate)``; the paper's ``10,000 / eps``.
    Raises ``ValueError`` if that is less than one update.
    """
    steps = int(round(steps_at_unit_learning_rate / learning_rate))
    if steps < 1:
        raise ValueError(
            f"learning rate {learning_rate:g} with steps_at_unit_learning_rate "
            f"{steps_at_unit_learning_rate:g} gives {steps} updates"
        )
    return steps


def sweep_curves(scaling: Mapping[str, Any], sweep: str) -> list[dict[str, Any]]:
    """The curves of one sweep: the settings of each (``CURVE_SETTINGS``) and its ``batch_sizes``.

    ``scaling``: the ``scaling:`` configuration; ``sweep``: a key of :data:`SWEEP_SECTIONS`.
    Curves keep their configured order.
    """
    if sweep not in SWEEP_SECTIONS:
        raise ValueError(f"unknown sweep {sweep!r}; one of {sorted(SWEEP_SECTIONS)}")
    section = scaling[SWEEP_SECTIONS[sweep]]
    curves = []
    for curve in section["curves"]:
        settings = {k: section[k] for k in CURVE_SETTINGS if k in section}
        settings[sweep] = curve[sweep]
        if sweep == "learning_rate":
            settings["steps"] = steps_for_learning_rate(
                section["steps_at_unit_learning_rate"], curve["learning_rate"]
            )
        settings = {
            "n_train": int(settings["n_train"]),
            "learning_rate": float(settings["learning_rate"]),
            "momentum": float(settings["momentum"]),
            "l2": float(settings["l2"]),
            "steps": int(settings["steps"]),
        }
        curves.append({**settings, "batch_sizes": [int(b) for b in curve["batch_sizes"]]})
    return curves


def sweep_runs(scaling: Mapping[str, Any], sweep: str) -> list[Run]:
    """Every run of one sweep: each curve at each of its batch sizes and each of the sweep's seeds."""
    seeds = scaling[SWEEP_SECTIONS[sweep]]["seeds"]
    runs = []
    for curve in sweep_curves(scaling, sweep):
        settings = {k: curve[k] for k in CURVE_SETTINGS}
        runs += [Run(batch_size=b, seed=int(s), **settings) for b in curve["batch_sizes"] for s in seeds]
    return runs


def sweep_reference(scaling: Mapping[str, Any], sweep: str) -> dict[str, float]:
    """The settings the sweep holds fixed (for :func:`bayes_sgd.noise_scale.select_sweep`).

    ``steps`` is left out of the learning-rate sweep, where it changes with eps.
    """
    section = scaling[SWEEP_SECTIONS[sweep]]
    keys = [k for k in ("n_train", "learning_rate", "momentum", "l2", "steps") if k != sweep and k in section]
    return {k: section[k] for k in keys}


def figure_runs(mlp: Mapping[str, Any], figures: Iterable[str] = ("figure_3", "figure_4", "figure_8")) -> list[Run]:
    """The runs of the SGD figures of the ``mlp:`` configuration (every batch size and seed)."""
    runs = []
    for name in figures:
        s = mlp[name]
        for b in s["batch_sizes"]:
            for seed in s["seeds"]:
                runs.append(
                    Run(
                        n_train=int(s["n_train"]),
                        learning_rate=float(s["learning_rate"]),
                        momentum=float(s["momentum"]),
                        batch_size=int(b),
                        l2=float(s["l2"]),
                        steps=int(s["steps"]),
                        seed=int(seed),
                    )
                )
    return runs


def check_sweeps(scaling: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Problems the schema cannot see, as ``(dotted key, message)`` pairs (empty if none).

    Within a sweep every curve's swept value is distinct and every batch size lies in
    ``[1, N]`` of its curve; a learning rate gives at least one update.
    """
    problems = []
    for sweep, name in SWEEP_SECTIONS.items():
        section = scaling.get(name)
        if section is None:
            continue
        values = [curve[sweep] for curve in section["curves"]]
        if len(set(values)) != len(values):
            problems.append((f"scaling.{name}.curves", f"a {sweep} value appears in more than one curve: {values}"))
        for i, curve in enumerate(section["curves"]):
            n = curve["n_train"] if sweep == "n_train" else section["n_train"]
            key = f"scaling.{name}.curves.{i}.batch_sizes"
            for b in curve["batch_sizes"]:
                if not 1 <= b <= n:
                    problems.append((key, f"batch size {b} is outside [1, {n}] (the training set has {n} images)"))
            if sweep == "learning_rate":
                try:
                    steps_for_learning_rate(section["steps_at_unit_learning_rate"], curve["learning_rate"])
                except ValueError as err:
                    problems.append((f"scaling.{name}.curves.{i}.learning_rate", str(err)))
    return problems


# --------------------------------------------------------------------------------------------
# Cost
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CostModel:
    """Single-core seconds of one run of ``train_mlp`` (784-800-10 network, float32).

    ``seconds = overhead + steps * (per_step + per_example * B) + evaluations * per_image * (N + n_test)``

    ``evaluations``: the number of evaluations of the run, ``len(evaluation_steps(steps,
    eval_points))`` (:func:`bayes_sgd.sgd.evaluation_steps`); each evaluates the training set
    and the test set. The defaults were measured on the 2-core development machine with one
    BLAS thread per job: ``scripts/benchmark_sgd.py`` gives the step, about 0.35 ms plus
    0.028 ms per example (B = 1000: 28 ms); the per-image evaluation and the fixed overhead
    (start-up, reading the dataset) come from the workflow's job benchmarks.
    """

    per_step: float = 0.35e-3
    per_example: float = 0.028e-3
    per_image: float = 0.02e-3
    overhead: float = 3.0

    def run_seconds(self, run: Run, *, n_test: int, eval_points: int) -> float:
        """Estimated seconds of ``run``."""
        evaluations = len(evaluation_steps(run.steps, eval_points))
        return (
            self.overhead
            + run.steps * (self.per_step + self.per_example * run.batch_size)
            + evaluations * self.per_image * (run.n_train + n_test)
        )


def estimate_cost(
    groups: Mapping[str, Iterable[Run]], model: CostModel, *, n_test: int, eval_points: int
) -> pd.DataFrame:
    """Estimated core-hours per group of runs, each distinct run counted once.

    ``groups``: name (e.g. ``"Figure 5"``) -> its runs. A run already listed in an earlier
    group is counted there only (runs shared between figures are one job). Returns one row
    per group (``group``, ``runs``, ``new_runs``, ``core_hours``, ``longest_run_hours``) and a
    ``total`` row.
    """
    seen: set[Run] = set()
    rows = []
    for name, runs in groups.items():
        runs = list(dict.fromkeys(runs))
        new = [r for r in runs if r not in seen]
        seen.update(new)
        seconds = [model.run_seconds(r, n_test=n_test, eval_points=eval_points) for r in new]
        rows.append(
            dict(
                group=name,
                runs=len(runs),
                new_runs=len(new),
                core_hours=sum(seconds) / 3600,
                longest_run_hours=max(seconds, default=0.0) / 3600,
            )
        )
    table = pd.DataFrame(rows)
    total = dict(
        group="total",
        runs=int(table["new_runs"].sum()),
        new_runs=int(table["new_runs"].sum()),
        core_hours=float(table["core_hours"].sum()),
        longest_run_hours=float(table["longest_run_hours"].max()),
    )
    return pd.concat([table, pd.DataFrame([total])], ignore_index=True)


def describe_sweeps(scaling: Mapping[str, Any]) -> list[str]:
    """One Markdown bullet per sweep: what it holds fixed, its updates, seeds and curves."""
    lines = []
    for sweep, name in SWEEP_SECTIONS.items():
        section = scaling[name]
        fixed = ", ".join(
            f"{k} = {section[k]:g}" for k in ("n_train", "learning_rate", "momentum", "l2") if k in section and k != sweep
        )
        if sweep == "learning_rate":
            updates = (
                f"each curve runs round({section['steps_at_unit_learning_rate']:g} / eps) updates "
                "(constant SDE time; the paper: 10,000 / eps)"
            )
        else:
            updates = f"{section['steps']} updates"
        curves = "; ".join(
            f"{sweep} = {c[sweep]:g}: B in {{{', '.join(str(b) for b in c['batch_sizes'])}}}" for c in section["curves"]
        )
        seeds = ", ".join(str(s) for s in section["seeds"])
        lines.append(
            f"- Figure {SWEEP_FIGURES[sweep]} (`scaling.{name}`): {fixed}; {updates}; seeds {seeds}; curves: {curves}."
        )
    return lines
