"""The logistic-regression stage (paper Section 3, Figures 1-2) through python -m snakemake."""

import numpy as np
import pytest

from bayes_sgd.tables import read_provenance, read_table
from workflow_helpers import planned_jobs, snakemake, write_config

FITS = "results/logistic/mnist5k/fits.parquet"
SUMMARY = "results/logistic/mnist5k/summary.parquet"
RESCALING = "results/logistic/mnist5k/rescaling.parquet"
FIGURES = [f"results/figures/mnist5k/figure_{k}.{ext}" for k in (1, 2) for ext in ("png", "pdf")]

# One lambda per decade from 1e-8 to 1e3: twelve fits per label kind, a few seconds in all.
TINY = {"logistic": {"lambda_grid": {"min": 1.0e-8, "max": 1.0e3, "per_decade": 1}}}


@pytest.mark.slow
def test_fits_tables_and_figures_end_to_end(tmp_path):
    write_config(tmp_path, TINY)
    snakemake(tmp_path, "--cores", "2", FITS, SUMMARY, RESCALING, *FIGURES)

    fits = read_table(tmp_path / FITS)
    lambdas = np.logspace(-8, 3, 12)
    assert fits.groupby("label_kind").size().to_dict() == {"informative": 12, "random": 12}
    for kind, rows in fits.groupby("label_kind"):
        np.testing.assert_allclose(rows["lambda"], lambdas, rtol=1e-12)
        assert (rows["n_train"] == 800).all() and (rows["n_test"] == 200).all() and (rows["n_parameters"] == 785).all()
        np.testing.assert_allclose(rows["log_evidence"], -rows["cost"] - rows["occam_factor"])
        np.testing.assert_allclose(rows["log_evidence_ratio"], rows["log_evidence"] + 800 * np.log(2))
        assert (rows["occam_factor"] > 0).all() and (rows["gradient_norm"] < 1e-4 * (1 + rows["weight_norm"])).all()
    random = fits[fits.label_kind == "random"].set_index("lambda")
    informative = fits[fits.label_kind == "informative"].set_index("lambda")
    # Random labels: memorised at the weak end, chance on the test set, the null model preferred.
    assert random["train_accuracy"].iloc[0] == 1.0
    assert read_table(tmp_path / SUMMARY).set_index("label_kind").loc["random", "train_accuracy_at_lambda_min"] == 1.0
    assert 0.4 < random["test_accuracy"].iloc[0] < 0.6
    assert (random["log_evidence_ratio"] < 0).all()
    # Informative labels: generalises, and the evidence prefers the model.
    assert (informative["test_accuracy"] > 0.95).all()
    assert (informative["log_evidence_ratio"] > 0).all()
    provenance = read_provenance(tmp_path / FITS)["provenance"]
    assert provenance["status"] == "ok" and provenance["task"]["seed"] == 0
    np.testing.assert_allclose(provenance["lambdas"], lambdas, rtol=1e-12)

    summary = read_table(tmp_path / SUMMARY).set_index("label_kind")
    for kind, rows in fits.groupby("label_kind"):
        assert summary.loc[kind, "lambda_max_evidence"] == rows.loc[rows["log_evidence_ratio"].idxmax(), "lambda"]
        assert summary.loc[kind, "lambda_min_test_cross_entropy"] == rows.loc[rows["test_cross_entropy"].idxmin(), "lambda"]
    rescaling = read_table(tmp_path / RESCALING)
    assert set(rescaling["label_kind"]) == {"random", "informative"}
    np.testing.assert_allclose(rescaling["log_evidence_change"], 0.0, atol=1e-6)
    np.testing.assert_allclose(rescaling["sharpness_ratio"], rescaling["scale"] ** -2.0, rtol=1e-6)

    for path in FIGURES:
        data = (tmp_path / path).read_bytes()
        assert data.startswith(b"\x89PNG" if path.endswith(".png") else b"%PDF")

    # Nothing left to do; a plot setting reruns only the plot, a grid change the fit and plot.
    assert planned_jobs(tmp_path, FITS, *FIGURES) == {}
    write_config(tmp_path, {**TINY, "plot": {"dpi": 80}})
    assert planned_jobs(tmp_path, FITS, *FIGURES) == {"plot_figures_1_2": 1}
    write_config(tmp_path, {"logistic": {"lambda_grid": {"min": 1.0e-8, "max": 1.0e3, "per_decade": 2}}})
    assert planned_jobs(tmp_path, FITS, *FIGURES) == {"fit_logistic_regression": 1, "plot_figures_1_2": 1}

    # A fit that cannot converge fails the job with a message that names lambda.
    write_config(tmp_path, {**TINY, "logistic": {**TINY["logistic"], "newton_max_iterations": 1}})
    proc = snakemake(tmp_path, "--cores", "1", FITS, check=False)
    assert proc.returncode != 0
    assert "Newton did not converge in 1 iterations" in proc.stdout and "lambda=" in proc.stdout
    assert not (tmp_path / FITS).exists()
