"""The scaling sweeps of Figures 5-7: their registry and their lists of training runs.

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

:data:`SWEEPS` is the one registry of the sweeps: what each varies, its configuration
section, figure number, symbols and axis label; every rule, analysis, figure and report line
that needs one of these reads it there. (What a run costs is :mod:`bayes_sgd.resources`.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Sweep:
    """What one scaling sweep varies and how every output names it (the one registry of sweeps).

    ``column``: the run-table column the sweep varies (and the ``{sweep}`` wildcard);
    ``section``: its key under ``scaling:``; ``figure``: the paper's figure number;
    ``quantity``: the swept quantity in words (figure titles);
    ``symbol``: the swept quantity in plain text (report lines); ``x_symbol``: the abscissa of
    its scaling rule in plain text; ``x_name``: that abscissa as a column name of the fits
    table; ``axis_label``/``legend_symbol``: the same for matplotlib; ``abscissa``: the
    abscissa from the swept column (``B_opt`` should be proportional to it).
    """

    column: str
    section: str
    figure: int
    quantity: str
    symbol: str
    x_symbol: str
    x_name: str
    axis_label: str
    legend_symbol: str
    abscissa: Callable[[np.ndarray], np.ndarray]

    def x(self, table) -> np.ndarray:
        """The abscissa of every row of ``table`` (which has the swept column)."""
        return self.abscissa(np.asarray(table[self.column], dtype=float))

    def curve_label(self, value: float) -> str:
        """Legend label of the curve at swept value ``value``."""
        return f"{self.legend_symbol} = {value:g}"


#: The sweeps of Figures 5-7, by swept column, in the paper's order.
SWEEPS: dict[str, Sweep] = {
    s.column: s
    for s in (
        Sweep("learning_rate", "learning_rate_sweep", 5, "learning rate", "eps", "eps", "learning_rate",
              r"learning rate $\epsilon$", r"$\epsilon$", lambda v: v),
        Sweep("n_train", "n_train_sweep", 6, "training-set size", "N", "N", "n_train",
              r"training set size $N$", "N", lambda v: v),
        Sweep("momentum", "momentum_sweep", 7, "momentum", "m", "1/(1-m)", "1/(1-momentum)",
              r"$1/(1-m)$", "m", lambda v: 1.0 / (1.0 - v)),
    )
}


def get_sweep(column: str) -> Sweep:
    """The registered sweep that varies ``column``; ``ValueError`` naming the choices otherwise."""
    if column not in SWEEPS:
        raise ValueError(f"unknown sweep {column!r}; one of {sorted(SWEEPS)}")
    return SWEEPS[column]


#: A number as run paths write it (:func:`format_number`): 1, 0.1, 1e-06, 1e+06.
NUMBER_PATTERN = r"[0-9][0-9.e+-]*"


def format_number(x: float) -> str:
    """A number as it appears in run paths: 1.0 -> '1', 0.1 -> '0.1', 1e-06 -> '1e-06'.

    The one number format of every path (shortest ``%g``), so that a run requested by two
    figures with the same settings is one file, one job.
    """
    return format(x, "g")


#: The settings of a run besides its batch size and seed: the runs of one accuracy-versus-B
#: curve share them (the one place they are spelled).
CURVE_SETTINGS = ("n_train", "learning_rate", "momentum", "l2", "steps")
#: The columns that identify one curve in the run tables of every dataset.
CURVE_KEYS = ("dataset", *CURVE_SETTINGS)


@dataclass(frozen=True, order=True)
class Run:
    """One MLP training run (the wildcards of rule ``train_mlp``).

    ``protocol``: the run's protocol folder (:func:`bayes_sgd.variants.protocol_id`; ``paper``
    is the stated protocol).
    """

    n_train: int
    learning_rate: float
    momentum: float
    batch_size: int
    l2: float
    steps: int
    seed: int
    protocol: str = "paper"


def run_stem(dataset: str, run: Run) -> str:
    """What names a run's configuration but not its seed: ``{dataset}/{protocol}/N.../eps..._T{steps}``."""
    return (
        f"{dataset}/{run.protocol}/N{int(run.n_train)}/"
        f"eps{format_number(run.learning_rate)}_m{format_number(run.momentum)}_B{int(run.batch_size)}"
        f"_l2{format_number(run.l2)}_T{int(run.steps)}"
    )


def run_path(dataset: str, run: Run) -> str:
    """Path of the table of one MLP training run (rule ``train_mlp``; its wildcards)."""
    return f"results/runs/{run_stem(dataset, run)}_s{int(run.seed)}.parquet"


def seed_groups(dataset: str, runs: Iterable[Run]) -> dict[str, tuple[int, ...]]:
    """The seeds of ``runs`` that share a configuration, by :func:`run_stem` (sorted, distinct).

    With the JAX backend the runs of one stem train in one job (rule ``train_mlp_seeds``), a group
    named by :func:`group_name`: a run requested by several figures, sweeps or variants is in one
    group, with the seeds all of them ask for.
    """
    groups: dict[str, set[int]] = {}
    for run in runs:
        groups.setdefault(run_stem(dataset, run), set()).add(int(run.seed))
    return {stem: tuple(sorted(seeds)) for stem, seeds in groups.items()}


def group_name(stem: str, seeds: Iterable[int]) -> str:
    """The name of the group of runs ``stem`` at ``seeds``: ``{stem}_seeds0-1-2``."""
    return f"{stem}_seeds{'-'.join(str(int(s)) for s in seeds)}"


def group_seeds(seeds_text: str) -> tuple[int, ...]:
    """The seeds of a group name's ``seeds`` part (``"0-1-2"``), the inverse of :func:`group_name`."""
    return tuple(int(s) for s in seeds_text.split("-"))


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

    ``scaling``: the ``scaling:`` configuration; ``sweep``: a key of :data:`SWEEPS`.
    Curves keep their configured order.
    """
    section = scaling[get_sweep(sweep).section]
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
    seeds = scaling[SWEEPS[sweep].section]["seeds"]
    runs = []
    for curve in sweep_curves(scaling, sweep):
        settings = {k: curve[k] for k in CURVE_SETTINGS}
        runs += [Run(batch_size=b, seed=int(s), **settings) for b in curve["batch_sizes"] for s in seeds]
    return runs


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


def describe_sweeps(scaling: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One record per sweep for the report: its figure, section, what it holds fixed, its
    updates, seeds and curves (plain text; the report template lays them out)."""
    records = []
    for column, sw in SWEEPS.items():
        section = scaling[sw.section]
        fixed = ", ".join(
            f"{k} = {section[k]:g}" for k in ("n_train", "learning_rate", "momentum", "l2") if k in section and k != column
        )
        if column == "learning_rate":
            updates = (
                f"each curve runs round({section['steps_at_unit_learning_rate']:g} / eps) updates "
                "(constant SDE time; the paper: 10,000 / eps)"
            )
        else:
            updates = f"{section['steps']} updates"
        curves = "; ".join(
            f"{sw.symbol} = {c[column]:g}: B in {{{', '.join(str(b) for b in c['batch_sizes'])}}}"
            for c in section["curves"]
        )
        records.append(
            dict(
                figure=sw.figure,
                section=f"scaling.{sw.section}",
                fixed=fixed,
                updates=updates,
                seeds=", ".join(str(s) for s in section["seeds"]),
                curves=curves,
            )
        )
    return records
