"""The workflow's data stage, the wiring of its configuration check and its dry runs, through snakemake."""

import numpy as np
import pytest
import yaml

from bayes_sgd.data.datasets import split_arrays
from bayes_sgd.data.idx import read_idx
from bayes_sgd.tables import read_provenance, read_table
from workflow_helpers import REPO, planned_jobs, snakemake, write_config

DATA = ["results/data/mnist5k.parquet", "results/tasks/mnist5k/binary.parquet"]


def test_bad_config_fails_before_any_job(tmp_path):
    """The wiring: the workflow runs bayes_sgd.config.validate_config before building any rule
    (every bad case is tested in-process in test_config.py)."""
    write_config(tmp_path, {"mlp": {"figure_9": {"n_train": 20, "batch_size": 30}}})
    proc = snakemake(tmp_path, "-n", check=False)
    assert proc.returncode != 0
    message = "Invalid configuration: mlp.figure_9.batch_size: 30 is larger than the training set (20 images)"
    assert message in proc.stdout, proc.stdout[-2000:]
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("configfile", ["config.yaml", "paper.yaml"])
def test_dry_run_plans_both_configs(tmp_path, configfile, request):
    overrides = {}
    if configfile == "paper.yaml":
        overrides = {"data": {"mnist_dir": str(request.getfixturevalue("mnist_dir"))}}
    config = write_config(tmp_path, overrides, base=REPO / "config" / configfile)
    jobs = planned_jobs(tmp_path)
    assert jobs["prepare_dataset"] == 1 and jobs["all"] == 1
    assert config["dataset"] == ("mnist" if configfile == "paper.yaml" else "mnist5k")


def test_missing_mnist_dir_is_named(tmp_path):
    write_config(tmp_path, {"data": {"mnist_dir": str(tmp_path / "nowhere")}}, base=REPO / "config" / "paper.yaml")
    proc = snakemake(tmp_path, "-n", check=False)
    assert proc.returncode != 0
    assert "nowhere/train-images-idx3-ubyte.gz" in proc.stdout


def test_lint_is_clean():
    proc = snakemake(REPO, "--lint", check=False)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "Congratulations" in proc.stdout


@pytest.mark.slow
def test_prepare_mnist5k_end_to_end_and_deterministic(tmp_path):
    runs = []
    for name in ("a", "b"):
        workdir = tmp_path / name
        write_config(workdir)
        snakemake(workdir, "--cores", "2", *DATA)
        runs.append(workdir)
    for path in DATA:
        first, second = (read_table(run / path) for run in runs)
        assert first.drop(columns=["pixels"], errors="ignore").equals(second.drop(columns=["pixels"], errors="ignore"))
    table = read_table(runs[0] / DATA[0])
    assert (table.split == "train").sum() == 4000 and (table.split == "test").sum() == 1000
    provenance = read_provenance(runs[0] / DATA[0])
    assert provenance["provenance"]["status"] == "ok" and provenance["versions"]["numpy"] == np.__version__
    task = read_table(runs[0] / DATA[1])
    assert task.groupby("split").size().to_dict() == {"test": 200, "train": 800}
    # the task's true labels are the dataset's labels of the images it points at
    for split, rows in task.groupby("source_split"):
        _, labels = split_arrays(table, split)
        np.testing.assert_array_equal(labels[rows["index"]], rows["true_label"])
    # a second run plans nothing; changing the seed of the task redraws only the task
    assert planned_jobs(runs[0], *DATA) == {}
    write_config(runs[0], {"logistic": {"seed": 1}})
    assert planned_jobs(runs[0], *DATA) == {"draw_binary_task": 1}


@pytest.mark.slow
def test_prepare_full_mnist(tmp_path, mnist_dir):
    write_config(tmp_path, {"data": {"mnist_dir": str(mnist_dir)}}, base=REPO / "config" / "paper.yaml")
    snakemake(tmp_path, "--cores", "1", "results/data/mnist.parquet")
    table = read_table(tmp_path / "results/data/mnist.parquet")
    assert (table.split == "train").sum() == 60_000 and (table.split == "test").sum() == 10_000
    for split, prefix in [("train", "train"), ("test", "t10k")]:
        idx_labels, _ = read_idx(mnist_dir / f"{prefix}-labels-idx1-ubyte.gz")
        _, labels = split_arrays(table, split)
        np.testing.assert_array_equal(labels, idx_labels)
    sha = read_provenance(tmp_path / "results/data/mnist.parquet")["provenance"]["sha256"]
    assert sha["train-images-idx3-ubyte.gz"].startswith("ba891046")


def test_default_config_matches_schema_defaults():
    """Every key of the default config exists in the schema (and the schema has a default)."""
    schema = yaml.safe_load((REPO / "src/bayes_sgd/config.schema.yaml").read_text())

    def check(node, config, path):
        for key, value in config.items():
            assert key in node["properties"], f"{path}{key} missing from the schema"
            sub = node["properties"][key]
            assert "description" in sub and "default" in sub, f"{path}{key}: no description/default"
            if isinstance(value, dict) and "properties" in sub:
                check(sub, value, f"{path}{key}.")

    for name in ("config.yaml", "paper.yaml"):
        check(schema, yaml.safe_load((REPO / "config" / name).read_text()), "")
