"""A property of the configuration check (Hypothesis): a random mutation of a valid configuration
either passes or fails with a :class:`ConfigError` that names the mutated key; never another
exception. A mutation that passes plans a DAG without a missing-input error (checked with a dry
run of the workflow on a few of them)."""

from __future__ import annotations

import copy
import re

import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis")  # the test extra installs it (CI: the README's test command)
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from bayes_sgd.config import ConfigError, validate_config  # noqa: E402
from workflow_helpers import DEFAULT_CONFIG, snakemake  # noqa: E402

BASE = validate_config(yaml.safe_load(DEFAULT_CONFIG.read_text()))  # every default filled in


def leaves(node, path=()):
    """Every key path of the configuration down to its values (mappings and list elements)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield path + (key,)
            yield from leaves(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield path + (i,)
            yield from leaves(value, path + (i,))


PATHS = sorted(leaves(BASE), key=lambda p: tuple(map(str, p)))

#: Replacement values: plausible numbers (including NaN, infinities and out-of-range ones),
#: wrong types, empty and odd containers.
VALUES = st.one_of(
    st.integers(min_value=-10, max_value=100_000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, 2, 5, 30, 1000, 0.0, 0.5, 0.9, 1.0, 1e-8, 255.0]),
    st.booleans(),
    st.none(),
    st.text(max_size=8),
    st.sampled_from(["numpy", "jax", "dampened", "epoch_shuffle", "maximum", "figure_4", "all", "mnist"]),
    st.lists(st.integers(min_value=-2, max_value=2000), max_size=4),
    st.just({}),
    st.dictionaries(st.sampled_from(["momentum_form", "bogus", "learning_rate"]), st.sampled_from([0.5, "dampened"]), max_size=2),
)


def mutate(config, path, value):
    out = copy.deepcopy(config)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


def dotted(path) -> str:
    return ".".join(map(str, path))


def names_the_key(message: str, path) -> bool:
    """The error names the mutated key: its dotted path, a key inside it (a replaced mapping or
    list), the section that holds it (a missing or extra key of that section), or, for a value that
    another key's check depends on (a pool size, a training-set size), the key itself by name."""
    key = message.split(": ", 1)[0]
    mutated = dotted(path)
    if key == "<top level>":
        return len(path) == 1
    if key == mutated or key.startswith(mutated + ".") or mutated.startswith(key + "."):
        return True
    parent = dotted(path[:-1])
    if parent and key.startswith(parent + "."):
        return True
    leaf = str(path[-1]) if not isinstance(path[-1], int) else str(path[-2])
    return re.search(rf"\b{re.escape(leaf)}\b", message) is not None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(PATHS), value=VALUES)
def test_a_mutated_configuration_passes_or_names_the_mutated_key(path, value):
    config = mutate(BASE, path, value)
    try:
        validate_config(config)
    except ConfigError as err:
        assert names_the_key(str(err), path), f"mutated {dotted(path)} = {value!r}; error: {err}"


def passing_mutations(n: int) -> list:
    """The first ``n`` mutations (in a fixed, seeded order) that pass the check and change a value."""
    found = []

    @settings(max_examples=300, deadline=None, database=None, derandomize=True)
    @given(path=st.sampled_from(PATHS), value=VALUES)
    def collect(path, value):
        config = mutate(BASE, path, value)
        if len(found) >= n or config == BASE:
            return
        try:
            validate_config(copy.deepcopy(config))
        except ConfigError:
            return
        found.append((path, value, config))

    collect()
    return found


@pytest.mark.slow
def test_a_configuration_that_passes_plans_a_dag(tmp_path):
    """A few mutations that pass the check: the workflow plans them (a dry run), no missing input."""
    mutations = passing_mutations(6)
    assert mutations, "no passing mutation found"
    for i, (path, value, config) in enumerate(mutations):
        workdir = tmp_path / f"m{i}"
        (workdir / "config").mkdir(parents=True)
        (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        proc = snakemake(workdir, "-n", "--quiet", check=False, timeout=300)
        assert proc.returncode == 0 and "MissingInputException" not in proc.stdout, (
            f"mutated {dotted(path)} = {value!r}:\n{proc.stdout[-3000:]}"
        )
