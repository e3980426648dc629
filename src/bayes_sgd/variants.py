"""Protocol variants: which unstated choice do the paper's results depend on?

The stated protocol (docs/paper.md section 3) leaves choices open that a reimplementation must make:
how the loss is normalised, the form of momentum, the initialisation, the input range, how
batches are drawn and which images the test accuracy is read on. Each is a *protocol option*
of the ``mlp:`` configuration (:data:`PROTOCOL_OPTIONS`), whose schema default is the stated
protocol (our reading of it). A *variant* (``variants:``) overrides some of them, and may scale
every learning rate (an "eps scaled" variant). This is a sensitivity analysis: every variant is
judged by the same claims with the same thresholds as the main summary; none is picked.

Identity. The options of a run name its protocol folder, :func:`protocol_id`: ``paper`` when
every option has its stated value, otherwise the options that differ, in
:data:`PROTOCOL_OPTIONS` order, as ``option-value`` joined by ``__``
(``momentum_form-dampened__init_scale-0.5``). The folder is part of every run path
(:func:`bayes_sgd.sweeps.run_path`), so two variants with the same options (or a variant and
the main run) share their runs, and editing one variant reruns only the runs of its protocol.
A full-batch run drops ``batch_sampling`` from its folder (:func:`run_protocol`): with
``B = N`` both samplers give the whole set every step, and the run is shared.
:func:`parse_protocol_id` reads the options back from a folder name, so a training job needs
nothing but its path.

Comparison (pure functions over tables): :func:`variant_claims` keeps the claims a variant's
tables decide; :func:`verdict_table` stacks every variant's claims (one row per variant and
claim); :func:`variant_overview` says per variant whether Figures 3, 4 and 8 hold and whether
the scaling rules it measured hold, the one table the report section and the README read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from bayes_sgd.claims.registry import (
    CLAIMS, DOES_NOT_HOLD, NOT_MEASURED, ClaimThresholds, combine_verdicts, evaluate_claims,
)
from bayes_sgd.sweeps import Run, figure_runs, format_number, sweep_curves, sweep_runs

#: The protocol options of ``mlp:`` (and of a variant), in the order protocol ids list them.
PROTOCOL_OPTIONS = (
    "loss_normalisation",
    "momentum_form",
    "weight_init",
    "init_scale",
    "input_range",
    "batch_sampling",
    "test_set",
)
#: Options whose values are numbers (the others are names).
NUMERIC_OPTIONS = ("init_scale",)
#: The protocol id of the stated protocol, and the name of its variant.
PAPER = "paper"
#: Separators of a protocol id: between options, and between an option and its value.
OPTION_SEPARATOR = "__"
VALUE_SEPARATOR = "-"

#: The figures a variant always runs, and the claims of the main summary that decide them.
VARIANT_FIGURES = ("3", "4", "8")
FIGURE_CLAIMS = ("Fig. 3", "Fig. 4", "Fig. 8")
#: The sweeps a variant may request (``variants.<name>.sweeps``).
VARIANT_SWEEPS = ("learning_rate", "momentum")


def _value_text(option: str, value: Any) -> str:
    return format_number(float(value)) if option in NUMERIC_OPTIONS else str(value)


def protocol_options(mlp: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The protocol options of ``mlp`` (the ``mlp:`` configuration) with ``overrides`` applied."""
    options = {k: mlp[k] for k in PROTOCOL_OPTIONS}
    options.update({k: v for k, v in (overrides or {}).items() if k in PROTOCOL_OPTIONS})
    return options


def protocol_id(options: Mapping[str, Any], stated: Mapping[str, Any]) -> str:
    """The protocol folder of runs trained with ``options``; ``stated``: the stated values.

    ``paper`` when every option equals its stated value, else the differing options as
    ``option-value`` joined by ``__``, in :data:`PROTOCOL_OPTIONS` order.
    """
    parts = []
    for option in PROTOCOL_OPTIONS:
        value, default = options[option], stated[option]
        same = float(value) == float(default) if option in NUMERIC_OPTIONS else value == default
        if not same:
            parts.append(f"{option}{VALUE_SEPARATOR}{_value_text(option, value)}")
    return OPTION_SEPARATOR.join(parts) or PAPER


def parse_protocol_id(pid: str, stated: Mapping[str, Any]) -> dict[str, Any]:
    """The options a protocol folder name stands for (the inverse of :func:`protocol_id`).

    Raises ``ValueError`` naming the part that is not ``option-value`` of a known option, or an
    option given twice, or a spelling :func:`protocol_id` would not produce.
    """
    options = {k: stated[k] for k in PROTOCOL_OPTIONS}
    if pid == PAPER:
        return options
    seen = set()
    for part in pid.split(OPTION_SEPARATOR):
        option, sep, text = part.partition(VALUE_SEPARATOR)
        if not sep or option not in PROTOCOL_OPTIONS or option in seen or not text:
            raise ValueError(
                f"protocol {pid!r}: {part!r} is not <option>-<value> of a protocol option "
                f"({', '.join(PROTOCOL_OPTIONS)}) given once"
            )
        seen.add(option)
        options[option] = float(text) if option in NUMERIC_OPTIONS else text
    if protocol_id(options, stated) != pid:
        raise ValueError(f"protocol {pid!r}: write it as {protocol_id(options, stated)!r}")
    return options


def run_protocol(run: Run, options: Mapping[str, Any], stated: Mapping[str, Any]) -> Run:
    """``run`` in the protocol folder of ``options``, canonical for it, so that runs which train
    the same network are one job:

    - a full-batch run (``B = N``) takes the whole training set every step under either
      ``batch_sampling``, so that option is dropped from its protocol;
    - at ``m = 0`` every ``momentum_form`` is plain SGD (``v <- g``, ``w <- w - eps g``), so that
      option is dropped too (``tests/test_sgd.py`` checks the three forms train bit-identical
      weights there).
    """
    if run.batch_size == run.n_train:
        options = {**options, "batch_sampling": stated["batch_sampling"]}
    if run.momentum == 0:
        options = {**options, "momentum_form": stated["momentum_form"]}
    return replace(run, protocol=protocol_id(options, stated))


@dataclass(frozen=True)
class Variant:
    """One protocol variant: its name, full options, protocol id, learning-rate factor and sweeps."""

    name: str
    options: dict[str, Any]
    protocol: str
    learning_rate_scale: float = 1.0
    sweeps: tuple[str, ...] = ()
    overrides: dict[str, Any] = field(default_factory=dict)
    stated: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """The variant's changes to the main protocol in words (``stated protocol`` if none)."""
        parts = [f"{k} = {_value_text(k, v)}" for k, v in self.overrides.items() if k in PROTOCOL_OPTIONS]
        if self.learning_rate_scale != 1.0:
            parts.append(f"every eps x {self.learning_rate_scale:g}")
        return ", ".join(parts) or "the main protocol (mlp:)"

    def record(self) -> dict[str, Any]:
        """The variant as a plain dict (provenance, rule params)."""
        return {
            "name": self.name, "protocol": self.protocol, "options": dict(self.options),
            "overrides": dict(self.overrides), "learning_rate_scale": self.learning_rate_scale,
            "sweeps": list(self.sweeps), "description": self.describe(),
        }


def configured_variants(config: Mapping[str, Any], stated: Mapping[str, Any]) -> dict[str, Variant]:
    """The variants of a validated configuration, ``paper`` (the mlp settings as they are) first.

    Empty when ``variants:`` is. ``stated``: the stated option values (the schema's defaults).
    """
    if not config["variants"]:
        return {}
    entries = {PAPER: {}, **config["variants"]}
    variants = {}
    for name, entry in entries.items():
        overrides = {k: entry[k] for k in PROTOCOL_OPTIONS if k in entry}
        options = protocol_options(config["mlp"], overrides)
        variants[name] = Variant(
            name=name,
            options=options,
            protocol=protocol_id(options, stated),
            learning_rate_scale=float(entry.get("learning_rate_scale", 1.0)),
            sweeps=tuple(entry.get("sweeps", ())),
            overrides=overrides,
            stated=dict(stated),
        )
    return variants


def _scaled(run: Run, variant: Variant) -> Run:
    """``run`` under ``variant``: its protocol (:func:`run_protocol`) and its learning rate times
    the variant's factor (rounded to the run-path number format, so the path and the trained
    value agree)."""
    learning_rate = float(format_number(run.learning_rate * variant.learning_rate_scale))
    return run_protocol(replace(run, learning_rate=learning_rate), variant.options, variant.stated)


def variant_figure_runs(variant: Variant, mlp: Mapping[str, Any], seeds: Sequence[int] | None) -> dict[str, list[Run]]:
    """The runs of Figures 3, 4 and 8 under ``variant`` (:func:`bayes_sgd.sweeps.figure_runs`);
    ``seeds`` (None: each figure's own)."""
    runs = {}
    for k in VARIANT_FIGURES:
        section = mlp[f"figure_{k}"] if seeds is None else {**mlp[f"figure_{k}"], "seeds": list(seeds)}
        runs[k] = [_scaled(r, variant) for r in figure_runs({"figure": section}, ["figure"])]
    return runs


def variant_sweep_runs(variant: Variant, scaling: Mapping[str, Any], sweep: str) -> list[Run]:
    """The runs of one scaling sweep under ``variant`` (the configured grids and seeds)."""
    return [_scaled(r, variant) for r in sweep_runs(scaling, sweep)]


def variant_sweep_curves(variant: Variant, scaling: Mapping[str, Any], sweep: str) -> list[dict[str, Any]]:
    """The curves of one scaling sweep under ``variant`` (:func:`bayes_sgd.sweeps.sweep_curves`,
    learning rates scaled)."""
    curves = sweep_curves(scaling, sweep)
    for curve in curves:
        curve["learning_rate"] = float(format_number(curve["learning_rate"] * variant.learning_rate_scale))
    return curves


def variant_table_files(sweeps: Sequence[str]) -> dict[str, str]:
    """The claim tables (:data:`bayes_sgd.claims.registry.TABLES` names) of a variant with ``sweeps``,
    each with its file in the variant's folder (the main rules' names for the same tables)."""
    files = {f"figure_{k}_curves": f"figure_{k}_curves.parquet" for k in VARIANT_FIGURES}
    for sweep in sweeps:
        kinds = ("optima", "fits") if sweep == "learning_rate" else ("fits",)
        files.update({f"{sweep}_{kind}": f"{sweep}/{kind}.parquet" for kind in kinds})
    return files


def variant_claims(tables: Mapping[str, pd.DataFrame], thresholds: ClaimThresholds) -> list:
    """The main summary's claims that ``tables`` decide (every input table present), judged with
    the main summary's thresholds."""
    results = evaluate_claims(dict(tables), thresholds)
    decided = {cid for cid, c in CLAIMS.items() if set(c.inputs) <= set(tables)}
    return [r for r in results if r.claim_id in decided]


def verdict_table(claims: Mapping[str, pd.DataFrame], variants: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Every variant's claims, one row per (variant, claim): the variant's protocol, its changes
    in words, the claim's figure, verdict, measured values and criterion.

    ``claims``: variant name -> its claims table (:func:`bayes_sgd.claims.registry.claims_table`);
    ``variants``: variant name -> :meth:`Variant.record`. Variants keep their configured order.
    """
    rows = []
    for name, table in claims.items():
        v = variants[name]
        for _, r in table.iterrows():
            rows.append(
                {
                    "variant": name, "protocol": v["protocol"], "changes": v["description"],
                    "learning_rate_scale": float(v["learning_rate_scale"]), "claim_id": r["claim_id"],
                    "figure": r["figure"], "verdict": r["verdict"], "measured": r["measured"],
                    "criterion": r["criterion"],
                }
            )
    return pd.DataFrame(rows)


def _all_hold(verdicts: pd.Series) -> str:
    """``holds`` if every verdict holds, ``does not hold`` if one was measured and failed, else
    ``undecided`` if one is undecided, else ``not measured``
    (:func:`bayes_sgd.claims.registry.combine_verdicts`)."""
    return combine_verdicts(list(verdicts))


def variant_overview(verdicts: pd.DataFrame) -> pd.DataFrame:
    """Per variant (rows of :func:`verdict_table`): whether every claim of Figures 3, 4 and 8
    holds (``figures_3_4_8``), whether every scaling-rule claim it measured holds (``scaling``;
    ``not measured`` without sweeps), and the failing claims by id."""
    rows = []
    for name, group in verdicts.groupby("variant", sort=False):
        figures = group.loc[group["figure"].isin(FIGURE_CLAIMS)]
        scaling = group.loc[~group["figure"].isin(FIGURE_CLAIMS)]
        failing = group.loc[group["verdict"] == DOES_NOT_HOLD, "claim_id"]
        rows.append(
            {
                "variant": name, "protocol": group["protocol"].iloc[0], "changes": group["changes"].iloc[0],
                "figures_3_4_8": _all_hold(figures["verdict"]),
                "scaling": _all_hold(scaling["verdict"]) if len(scaling) else NOT_MEASURED,
                "failing_claims": ", ".join(failing),
            }
        )
    return pd.DataFrame(rows)


def accuracy_table(curves: Mapping[str, pd.DataFrame], variants: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Figure 4's accuracy-against-B curve of every variant (the rows of its
    ``figure_4_curves`` table, :func:`bayes_sgd.scaling.noise_scale.batch_size_curves`), with the
    variant's name, protocol and learning-rate factor in front; the comparison figure's rows."""
    frames = []
    for name, table in curves.items():
        t = table.copy()
        t.insert(0, "variant", name)
        t.insert(1, "protocol", variants[name]["protocol"])
        t.insert(2, "learning_rate_scale", float(variants[name]["learning_rate_scale"]))
        frames.append(t)
    return pd.concat(frames, ignore_index=True)
