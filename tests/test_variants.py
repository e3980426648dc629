"""Protocol variants (bayes_sgd.variants): run identity, the variants of a configuration, and the
comparison tables, in-process."""

from __future__ import annotations

import copy

import pandas as pd
import pytest
import yaml

from bayes_sgd import variants
from bayes_sgd import claims
from bayes_sgd.config import ConfigError, validate_config
from bayes_sgd.schema import schema_defaults
from bayes_sgd.claims.report import render_variants_html, render_variants_markdown, variants_context, variants_markdown
from bayes_sgd.sweeps import Run, run_path
from workflow_helpers import DEFAULT_CONFIG

STATED = variants.protocol_options(schema_defaults()["mlp"])


def config_with(variant_entries: dict, **top) -> dict:
    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    config["variants"] = copy.deepcopy(variant_entries)
    config.update(top)
    return validate_config(config)


def test_stated_protocol_is_paper_and_ids_list_only_changed_options_in_order():
    assert variants.protocol_id(STATED, STATED) == "paper"
    options = {**STATED, "init_scale": 0.5, "momentum_form": "dampened"}
    assert variants.protocol_id(options, STATED) == "momentum_form-dampened__init_scale-0.5"
    assert variants.protocol_id({**STATED, "init_scale": 1}, STATED) == "paper"  # 1 == 1.0


@pytest.mark.parametrize(
    "changes",
    [{}, {"loss_normalisation": "batch_and_classes"}, {"init_scale": 1e-05, "test_set": "test_and_unused_train"},
     {"weight_init": "pytorch_default", "input_range": "symmetric", "batch_sampling": "epoch_shuffle"}],
)
def test_protocol_id_round_trips(changes):
    options = {**STATED, **changes}
    pid = variants.protocol_id(options, STATED)
    assert variants.parse_protocol_id(pid, STATED) == options


@pytest.mark.parametrize(
    "pid", ["nonsense", "momentum_form", "momentum_form-", "colour-red",
            "momentum_form-dampened__momentum_form-nesterov", "init_scale-0.50", "momentum_form-heavy_ball"],
)
def test_malformed_protocol_ids_are_refused(pid):
    with pytest.raises(ValueError, match="protocol"):
        variants.parse_protocol_id(pid, STATED)


def test_run_paths_carry_the_protocol():
    run = Run(1000, 1.0, 0.9, 30, 0.0, 10000, 0, "momentum_form-nesterov")
    assert run_path("mnist5k", run) == "results/runs/mnist5k/momentum_form-nesterov/N1000/eps1_m0.9_B30_l20_T10000_s0.parquet"
    assert run_path("mnist5k", Run(1000, 1.0, 0.9, 30, 0.0, 10000, 0)).startswith("results/runs/mnist5k/paper/N1000/")


def test_full_batch_runs_drop_the_sampler_from_their_protocol():
    options = {**STATED, "batch_sampling": "epoch_shuffle", "momentum_form": "nesterov"}
    small = variants.run_protocol(Run(100, 1.0, 0.9, 10, 0.0, 5, 0), options, STATED)
    full = variants.run_protocol(Run(100, 1.0, 0.9, 100, 0.0, 5, 0), options, STATED)
    assert small.protocol == "momentum_form-nesterov__batch_sampling-epoch_shuffle"
    assert full.protocol == "momentum_form-nesterov"


def test_runs_without_momentum_drop_the_momentum_form_from_their_protocol():
    options = {**STATED, "momentum_form": "dampened", "loss_normalisation": "batch_and_classes"}
    moving = variants.run_protocol(Run(100, 1.0, 0.9, 10, 0.0, 5, 0), options, STATED)
    still = variants.run_protocol(Run(100, 1.0, 0.0, 10, 0.0, 5, 0), options, STATED)
    assert moving.protocol == "loss_normalisation-batch_and_classes__momentum_form-dampened"
    assert still.protocol == "loss_normalisation-batch_and_classes"
    only_momentum = {**STATED, "momentum_form": "nesterov"}
    assert variants.run_protocol(Run(100, 1.0, 0.0, 10, 0.0, 5, 0), only_momentum, STATED).protocol == "paper"


def test_configured_variants_put_paper_first_and_apply_overrides_and_scale():
    config = config_with(
        {"dampened": {"momentum_form": "dampened"}, "slow": {"learning_rate_scale": 0.1, "sweeps": ["momentum"]}}
    )
    found = variants.configured_variants(config, STATED)
    assert list(found) == ["paper", "dampened", "slow"]
    assert found["paper"].protocol == "paper" and found["slow"].protocol == "paper"
    assert found["dampened"].protocol == "momentum_form-dampened"
    runs = variants.variant_figure_runs(found["slow"], config["mlp"], seeds=[0])
    figure_4 = config["mlp"]["figure_4"]
    assert [r.batch_size for r in runs["4"]] == figure_4["batch_sizes"]
    assert {r.learning_rate for r in runs["4"]} == {float(f"{figure_4['learning_rate'] * 0.1:g}")}
    assert {r.seed for rs in runs.values() for r in rs} == {0}
    own = variants.variant_figure_runs(found["dampened"], config["mlp"], seeds=None)
    assert {r.seed for r in own["8"]} == set(config["mlp"]["figure_8"]["seeds"])
    sweep = variants.variant_sweep_runs(found["slow"], config["scaling"], "momentum")
    assert sweep and all(r.learning_rate == pytest.approx(0.1) for r in sweep)
    assert variants.configured_variants(config_with({}), STATED) == {}


def test_the_paper_variant_takes_no_overrides():
    with pytest.raises(ConfigError, match="variants.paper"):
        config_with({"paper": {"momentum_form": "nesterov"}})
    with pytest.raises(ConfigError, match="variants.x.momentum_form"):
        config_with({"x": {"momentum_form": "sideways"}})
    with pytest.raises(ConfigError, match="variants.x.sweeps"):
        config_with({"x": {"sweeps": ["n_train"]}})


def curve(batch_sizes, means, l2=0.0, n_train=100):
    return pd.DataFrame(
        {"batch_size": batch_sizes, "mean_accuracy": means, "std_accuracy": [0.0] * len(means),
         "min_accuracy": means, "max_accuracy": means, "n_seeds": 1, "n_diverged": 0, "n_train": n_train,
         "l2": l2, "learning_rate": 1.0, "momentum": 0.9, "steps": 10},
    )


def test_variant_claims_are_the_main_claims_its_tables_decide():
    t = claims.ClaimThresholds.defaults()
    small, full = t.small_batch_size, 100
    tables = {
        "figure_3_curves": curve([small, full], [0.9, 0.8]),
        "figure_4_curves": curve([1, small, full], [0.1, 0.9, 0.8]),
        "figure_8_curves": curve([small, full], [0.9, 0.88], l2=0.1),
    }
    results = variants.variant_claims(tables, t)
    decided = [r.claim_id for r in results]
    assert decided == [cid for cid, c in claims.CLAIMS.items() if c.figure in variants.FIGURE_CLAIMS]
    # the same verdicts as the main claims on the same tables
    main = {r.claim_id: r for r in claims.evaluate_claims(tables, t)}
    assert all(r == main[r.claim_id] for r in results)


def claims_rows(verdicts: dict) -> pd.DataFrame:
    return pd.DataFrame(
        [{"claim_id": cid, "figure": claims.CLAIMS[cid].figure, "verdict": v, "measured": f"m {cid}",
          "criterion": "c", "statement": "s", "tables": "t"} for cid, v in verdicts.items()]
    )


def test_overview_says_where_figures_3_4_8_and_the_scaling_rules_hold():
    figs = [cid for cid, c in claims.CLAIMS.items() if c.figure in variants.FIGURE_CLAIMS]
    momentum = "optimum_proportional_to_inverse_one_minus_momentum"
    records = {
        name: {"protocol": name, "description": name, "learning_rate_scale": 1.0} for name in ("paper", "a", "b", "c")
    }
    tables = {
        "paper": claims_rows({**{cid: claims.HOLDS for cid in figs}, figs[0]: claims.DOES_NOT_HOLD}),
        "a": claims_rows({cid: claims.HOLDS for cid in figs}),
        "b": claims_rows({**{cid: claims.HOLDS for cid in figs}, momentum: claims.DOES_NOT_HOLD}),
        "c": claims_rows({**{cid: claims.HOLDS for cid in figs}, momentum: claims.HOLDS}),
        # undecided is neither a pass nor a failure: it is reported as such, not as a failing claim
        "d": claims_rows({**{cid: claims.HOLDS for cid in figs}, figs[0]: claims.UNDECIDED, momentum: claims.UNDECIDED}),
    }
    records["d"] = {"protocol": "d", "description": "d", "learning_rate_scale": 1.0}
    verdicts = variants.verdict_table(tables, records)
    assert len(verdicts) == sum(len(t) for t in tables.values())
    overview = variants.variant_overview(verdicts).set_index("variant")
    assert list(overview["figures_3_4_8"]) == [claims.DOES_NOT_HOLD, claims.HOLDS, claims.HOLDS, claims.HOLDS, claims.UNDECIDED]
    assert list(overview["scaling"]) == [
        claims.NOT_MEASURED, claims.NOT_MEASURED, claims.DOES_NOT_HOLD, claims.HOLDS, claims.UNDECIDED
    ]
    assert overview.loc["d", "failing_claims"] == ""
    assert overview.loc["paper", "failing_claims"] == figs[0]

    context = variants_context(dataset="mnist5k", overview=overview.reset_index(), verdicts=verdicts, seeds=[0])
    assert context["headline"] == {"hold": ["a", "b", "c"], "scaling_hold": ["c"], "scaling_fail": ["b"],
                                   "scaling_undecided": [], "scaling_unmeasured": ["a"]}
    markdown = render_variants_markdown(context)
    assert "## Protocol variants on mnist5k" in markdown and f"m {momentum}" in markdown
    assert "hold (every claim of those figures holds) under: a, b, c" in markdown
    assert "<table" in render_variants_html(context) and "<!DOCTYPE html>" in render_variants_html(context, page=True)
    readme = variants_markdown(overview.reset_index(), verdicts)
    assert readme.count("\n") == 2 + len(overview) and f"m {figs[0]}" in readme


def test_accuracy_table_stacks_each_variants_figure_4_curve():
    records = {"paper": {"protocol": "paper", "learning_rate_scale": 1.0},
               "slow": {"protocol": "paper", "learning_rate_scale": 0.1}}
    table = variants.accuracy_table({"paper": curve([1, 10], [0.1, 0.9]), "slow": curve([1, 10], [0.5, 0.8])}, records)
    assert list(table["variant"]) == ["paper", "paper", "slow", "slow"]
    assert list(table["mean_accuracy"]) == [0.1, 0.9, 0.5, 0.8]
    assert list(table["learning_rate_scale"]) == [1.0, 1.0, 0.1, 0.1]


def test_a_variants_claim_tables_are_named_as_the_claims_read_them():
    files = variants.variant_table_files(["learning_rate", "momentum"])
    assert set(files) <= set(claims.TABLES)
    assert files["learning_rate_fits"] == "learning_rate/fits.parquet" and files["momentum_fits"] == "momentum/fits.parquet"
    assert set(variants.variant_table_files([])) == {"figure_3_curves", "figure_4_curves", "figure_8_curves"}
