"""The configuration checks, in-process against bayes_sgd.config.validate_config (the function the
workflow calls before any rule is built; test_workflow_data.py checks that wiring once)."""

from __future__ import annotations

import copy

import pytest
import yaml

from bayes_sgd.config import ConfigError, check_files, load_config_file, main, validate_config
from bayes_sgd.schema import schema_defaults
from workflow_helpers import DEFAULT_CONFIG, REPO, TINY_RUN, merge, snakemake

DEFAULT = yaml.safe_load(DEFAULT_CONFIG.read_text())

#: A valid learning-rate sweep on 40 images, which the cases below break one key at a time.
LR_SWEEP = {
    "n_train": 40, "momentum": 0.9, "l2": 0.0, "steps_at_unit_learning_rate": 15, "seeds": [0, 1],
    "curves": [{"learning_rate": 0.5, "batch_sizes": [1, 5, 40]}],
}


def sweep_overrides(**changes):
    return {"scaling": {"learning_rate_sweep": {**LR_SWEEP, **changes}}}


BAD = [
    # schema: unknown keys, types, ranges (the message names the dotted key)
    ({"bogus": 1}, "bogus: unknown configuration key"),
    ({"mlp": {"figure_4": {"stride": 2}}}, "mlp.figure_4.stride: unknown configuration key"),
    ({"data": {"split_seed": "zero"}}, "data.split_seed: 'zero' is not of type 'integer'"),
    ({"dataset": "cifar10"}, "dataset: 'cifar10' is not one of"),
    ({"mlp": {"figure_4": {"batch_sizes": [0, 10]}}}, "mlp.figure_4.batch_sizes.0: 0 is less than the minimum of 1"),
    ({"mlp": {"figure_4": {"batch_sizes": [-3]}}}, "mlp.figure_4.batch_sizes.0: -3 is less than the minimum of 1"),
    ({"logistic": {"lambda_grid": {"step": 2}}}, "logistic.lambda_grid.step: unknown configuration key"),
    ({"logistic": {"lambda_grid": {"min": 0}}}, "logistic.lambda_grid.min: 0 is less than or equal to the minimum of 0"),
    ({"logistic": {"rescaling_factors": [1.0, -2.0]}}, "logistic.rescaling_factors.1: -2.0 is less than or equal"),
    ({"logistic": {"newton_max_iterations": 0}}, "logistic.newton_max_iterations: 0 is less than the minimum of 1"),
    (
        sweep_overrides(curves=[{"learning_rate": 0.5, "batch_sizes": [5, 5]}]),
        "scaling.learning_rate_sweep.curves.0.batch_sizes: [5, 5] has non-unique elements",
    ),
    (
        sweep_overrides(curves=[{"learning_rate": 0.5, "batch_size": [5]}]),
        "scaling.learning_rate_sweep.curves.0.batch_size: unknown configuration key",
    ),
    (
        {"scaling": {"momentum_sweep": {"curves": [{"momentum": 1.0, "batch_sizes": [50]}]}}},
        "scaling.momentum_sweep.curves.0.momentum: 1.0 is greater than or equal to the maximum of 1",
    ),
    ({"scaling": {"claims": {"min_gap": -1}}}, "scaling.claims.min_gap: -1 is less than the minimum of 0"),
    # relations between values
    (
        {"mlp": {"figure_4": {"batch_sizes": [10, 1001]}}},
        "mlp.figure_4.batch_sizes: batch size 1001 is larger than the training set (1000 images)",
    ),
    ({"mlp": {"figure_4": {"n_train": 4001}}}, "mlp.figure_4.n_train: 4001 training images requested"),
    (
        {"logistic": {"lambda_grid": {"min": 10.0, "max": 1.0}}},
        "logistic.lambda_grid: need 0 < min < max, got min=10.0, max=1.0",
    ),
    (
        {"mlp": {"figure_9": {"n_train": 20, "batch_size": 30}}},
        "mlp.figure_9.batch_size: 30 is larger than the training set (20 images)",
    ),
    (
        sweep_overrides(curves=[{"learning_rate": 0.5, "batch_sizes": [5, 50]}]),
        "scaling.learning_rate_sweep.curves.0.batch_sizes: batch size 50 is outside [1, 40]",
    ),
    (
        sweep_overrides(
            curves=[{"learning_rate": 0.5, "batch_sizes": [5]}, {"learning_rate": 0.5, "batch_sizes": [10]}]
        ),
        "scaling.learning_rate_sweep.curves: a learning_rate value appears in more than one curve",
    ),
    (
        sweep_overrides(steps_at_unit_learning_rate=1, curves=[{"learning_rate": 4.0, "batch_sizes": [5]}]),
        "scaling.learning_rate_sweep.curves.0.learning_rate: learning rate 4 with steps_at_unit_learning_rate 1 gives 0 updates",
    ),
    (
        {"scaling": {"n_train_sweep": {"curves": [{"n_train": 5000, "batch_sizes": [50]}]}}},
        "scaling.n_train_sweep.curves.0.n_train: 5000 training images requested, mnist5k has 4000 in its training pool",
    ),
    (
        {"scaling": {"momentum_sweep": {"n_train": 5000}}},
        "scaling.momentum_sweep.n_train: 5000 training images requested, mnist5k has 4000 in its training pool",
    ),
    # NaN and infinities, as YAML writes them (.nan, .inf), in any number key
    (yaml.safe_load("mlp: {figure_4: {learning_rate: .nan}}"), "mlp.figure_4.learning_rate: must be a finite number, got nan"),
    (yaml.safe_load("scaling: {confidence: .inf}"), "scaling.confidence: must be a finite number, got inf"),
    (
        sweep_overrides(curves=[{"learning_rate": float("-inf"), "batch_sizes": [5]}]),
        "scaling.learning_rate_sweep.curves.0.learning_rate: must be a finite number, got -inf",
    ),
    ({"logistic": {"rescaling_factors": [1.0, float("nan")]}}, "logistic.rescaling_factors.1: must be a finite number"),
]


@pytest.mark.parametrize("overrides, message", BAD, ids=[message.split(":")[0] for _, message in BAD])
def test_bad_config_is_refused_naming_the_key(overrides, message):
    with pytest.raises(ConfigError) as err:
        validate_config(merge(DEFAULT, overrides))
    assert str(err.value).startswith(message), str(err.value)


@pytest.mark.parametrize("name", ["config.yaml", "paper.yaml", "smoke.yaml"])
def test_shipped_configurations_are_valid(name):
    config = yaml.safe_load((REPO / "config" / name).read_text())
    assert validate_config(config) is config


def test_an_empty_configuration_gets_every_default_of_the_schema():
    config = validate_config({})
    assert config == schema_defaults()
    assert config["scaling"]["claims"]["min_gap"] == 0.005  # a nested default
    assert config["mlp"]["figure_4"]["batch_sizes"] == [1, 3, 10, 30, 100, 300, 1000]


def test_given_values_are_kept_and_only_missing_ones_filled():
    config = validate_config({"mlp": {"figure_4": {**TINY_RUN, "batch_sizes": [1, 40]}}})
    assert config["mlp"]["figure_4"]["batch_sizes"] == [1, 40] and config["mlp"]["figure_4"]["seeds"] == [0, 1]
    assert config["mlp"]["figure_3"]["n_train"] == 1000


def test_defaults_are_copies():
    first, second = validate_config({}), validate_config({})
    first["mlp"]["figure_4"]["batch_sizes"].append(5)
    assert second["mlp"]["figure_4"]["batch_sizes"] == copy.deepcopy(schema_defaults())["mlp"]["figure_4"]["batch_sizes"]


def test_the_jax_backend_takes_every_protocol_option():
    """Both trainers implement every protocol option (tests/test_sgd_jax.py checks the JAX one
    against NumPy), so config/variants.yaml and config/diagnosis.yaml validate with backend jax."""
    validate_config(merge(DEFAULT, {"mlp": {"backend": "jax", "weight_init": "pytorch_default", "momentum_form": "nesterov"},
                                    "variants": {"init": {"weight_init": "he_normal"}}}))
    for name in ("variants.yaml", "diagnosis.yaml"):
        overrides = yaml.safe_load((REPO / "config" / name).read_text())
        validate_config(merge(merge(DEFAULT, overrides), {"mlp": {"backend": "jax"}}))


def test_a_configuration_that_is_not_a_mapping_is_refused():
    with pytest.raises(ConfigError, match="<top level>: the configuration must be a mapping"):
        validate_config(["dataset", "mnist5k"])


def test_a_yaml_syntax_error_names_the_file_and_the_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("mlp:\n  figure_4: {n_train: 100\n  hidden_units: 8\n")
    with pytest.raises(ConfigError, match=rf"^{bad}:3:15: YAML syntax error: expected ',' or '}}'"):
        load_config_file(bad)
    with pytest.raises(ConfigError, match=rf"^{bad}:3:15: YAML syntax error"):  # the second of several files
        check_files([DEFAULT_CONFIG, bad])
    assert main([str(DEFAULT_CONFIG), str(bad)]) == 1


def test_the_workflow_names_the_line_of_a_yaml_error_in_its_default_configuration(tmp_path):
    """The Snakefile reads its own configfile (config/config.yaml of the working directory) with
    the project's loader first: the error names the file, line and column, before any job."""
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(DEFAULT_CONFIG.read_text() + "mlp: {hidden_units: 8\nseed: 1\n")
    proc = snakemake(tmp_path, "-n", check=False)
    assert proc.returncode != 0
    lines = DEFAULT_CONFIG.read_text().count("\n")
    assert f"Invalid configuration file: config/config.yaml:{lines + 2}:" in proc.stdout, proc.stdout[-3000:]
    assert "YAML syntax error" in proc.stdout
    assert not (tmp_path / "results").exists()


def test_a_configuration_file_that_is_not_a_mapping_names_the_file(tmp_path):
    listed = tmp_path / "list.yaml"
    listed.write_text("- dataset\n- mnist5k\n")
    with pytest.raises(ConfigError, match=rf"^{listed}: a configuration file must hold a mapping"):
        check_files([DEFAULT_CONFIG, listed])
    with pytest.raises(ConfigError, match="cannot read the configuration file"):
        load_config_file(tmp_path / "absent.yaml")


def test_files_are_checked_on_top_of_each_other_as_snakemake_merges_them():
    config = check_files([DEFAULT_CONFIG, REPO / "config" / "smoke.yaml"])
    assert config["mlp"]["hidden_units"] == 16 and config["mlp"]["figure_4"]["n_train"] == 40
    assert config["mlp"]["weight_init"] == "glorot_uniform"  # kept from the file below
    assert main([str(DEFAULT_CONFIG), str(REPO / "config" / "variants.yaml")]) == 0
