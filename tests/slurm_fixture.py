"""pytest fixture ``slurm_cluster``: a real single-node SLURM on localhost for the session.

The cluster (tests/slurm/cluster.py) is started once per test session in a pytest
temporary directory and always stopped at the end, by the pids it recorded. A test gets a
:class:`SlurmCluster`; run client commands and snakemake with ``env=slurm_cluster.env``,
which points them at this cluster.

Outside CI the fixture skips when the cluster cannot be provided here (not root, packages
missing and no apt-get, host name not on loopback). With ``CI=true`` it fails instead, so
a CI machine that should run the SLURM tests cannot silently skip them. A cluster that was
started but does not work is an error everywhere.

Make the fixture visible to a test module with ``from slurm_fixture import slurm_cluster``
or, suite-wide, with ``pytest_plugins = ["slurm_fixture"]`` in tests/conftest.py.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest


def _load_cluster_module():
    """Import tests/slurm/cluster.py by path, whatever the tests' import mode."""
    name = "bayes_sgd_tests_slurm_cluster"
    if name not in sys.modules:
        path = Path(__file__).resolve().parent / "slurm" / "cluster.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up here
        spec.loader.exec_module(module)
    return sys.modules[name]


cluster = _load_cluster_module()
SlurmCluster = cluster.SlurmCluster


def running_in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory) -> SlurmCluster:
    slurm = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    try:
        slurm.start()  # stops whatever it started if it fails
    except cluster.SlurmUnavailable as err:
        if running_in_ci():
            pytest.fail(f"CI=true but no SLURM test cluster: {err}", pytrace=False)
        pytest.skip(f"no SLURM test cluster here: {err}")
    try:
        yield slurm
    finally:
        slurm.stop()
