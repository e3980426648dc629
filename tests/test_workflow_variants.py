"""The protocol-variant comparison end to end through python -m snakemake on a tiny configuration:
its tables, figure and report section, runs shared between variants, and exact reruns when one
variant is edited. (The options' update rules are tested in test_sgd_options.py, the comparison's
functions in test_variants.py.)"""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest

from bayes_sgd import claims
from bayes_sgd.tables import read_provenance, read_table
from workflow_helpers import REPO, TINY_MLP, dry_run, run_workflow_once, snakemake, write_config

VARIANTS = {
    "dampened": {"momentum_form": "dampened"},
    "epochs": {"batch_sampling": "epoch_shuffle"},
    "slow": {"learning_rate_scale": 0.5},
}
TINY = {
    "mlp": TINY_MLP,
    "targets": ["variants"],
    "variant_comparison": {"seeds": [0]},
    "variants": VARIANTS,
    "scaling": {"claims": {"small_batch_size": 5, "failure_batch_size": 1}},
    "plot": {"formats": ["png"], "dpi": 50},
}
DIR = "results/variants/mnist5k"
FIGURE_CLAIM_IDS = [cid for cid, c in claims.CLAIMS.items() if c.figure in ("Fig. 3", "Fig. 4", "Fig. 8")]


def run_file(protocol: str, b: int, eps: float = 0.5, l2: float = 0.0) -> str:
    return f"results/runs/mnist5k/{protocol}/N40/eps{eps:g}_m0.9_B{b}_l2{l2:g}_T30_s0.parquet"


def variant_runs(protocol: str, eps: float = 0.5, full_batch_protocol: str | None = None) -> set[str]:
    """The seed-0 runs of Figures 3, 4 and 8 of TINY_MLP under one protocol."""
    full = full_batch_protocol or protocol
    runs = {run_file(protocol if b < 40 else full, b, eps) for b in TINY_MLP["figure_4"]["batch_sizes"]}
    runs |= {run_file(protocol if b < 40 else full, b, eps, l2=0.1) for b in TINY_MLP["figure_8"]["batch_sizes"]}
    return runs


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return run_workflow_once(tmp_path_factory, "variants", TINY)


def test_comparison_tables_figure_and_section(workdir):
    verdicts = read_table(workdir / DIR / "verdicts.parquet")
    names = ["paper", *VARIANTS]
    assert list(dict.fromkeys(verdicts["variant"])) == names
    for name in names:  # every variant judged on exactly the main claims of Figures 3, 4 and 8
        assert list(verdicts.loc[verdicts["variant"] == name, "claim_id"]) == FIGURE_CLAIM_IDS
    assert set(verdicts["verdict"]) <= set(claims.VERDICTS)
    overview = read_table(workdir / DIR / "overview.parquet")
    assert list(overview["variant"]) == names
    assert dict(zip(overview["variant"], overview["protocol"])) == {
        "paper": "paper", "dampened": "momentum_form-dampened", "epochs": "batch_sampling-epoch_shuffle",
        "slow": "paper",
    }
    # the figure's rows are each variant's own Figure 4 table, unchanged
    accuracy = read_table(workdir / DIR / "accuracy.parquet")
    for name in names:
        own = read_table(workdir / DIR / name / "figure_4_curves.parquet")
        rows = accuracy.loc[accuracy["variant"] == name].reset_index(drop=True)
        assert rows[own.columns].equals(own)
    assert set(accuracy.loc[accuracy["variant"] == "slow", "learning_rate"]) == {0.25}
    assert (workdir / "results/figures/mnist5k/variants_accuracy.png").stat().st_size > 0
    section = (workdir / DIR / "summary.md").read_text()
    assert "## Protocol variants on mnist5k" in section and "not a claim about the authors' code" in section
    for _, row in verdicts.iterrows():
        assert row["measured"].replace("|", "\\|") in section
    assert "<table" in (workdir / DIR / "summary.html").read_text()


def test_variants_train_in_their_protocol_folders_and_share_runs(workdir):
    trained = {str(p.relative_to(workdir)) for p in (workdir / "results/runs").rglob("*.parquet")}
    paper = variant_runs("paper")
    expected = (
        paper
        | variant_runs("momentum_form-dampened")
        # full-batch runs are the same under either sampler: shared with the paper's
        | variant_runs("batch_sampling-epoch_shuffle", full_batch_protocol="paper")
        | variant_runs("paper", eps=0.25)
    )
    assert trained == expected
    meta = read_provenance(workdir / run_file("momentum_form-dampened", 5))["provenance"]
    assert meta["protocol"] == "momentum_form-dampened"
    assert meta["protocol_options"]["momentum_form"] == "dampened"
    assert meta["training"]["momentum_form"] == "dampened"
    # the options reach the trainer: another sampler, another curve
    epochs = read_table(workdir / run_file("batch_sampling-epoch_shuffle", 5))
    stated = read_table(workdir / run_file("paper", 5))
    assert not epochs["train_cross_entropy"].equals(stated["train_cross_entropy"])


def test_complete_run_plans_nothing(workdir):
    assert [job for job in dry_run(workdir) if job.rule != "all"] == []


@pytest.fixture
def edited(workdir):
    yield workdir
    write_config(workdir, TINY)


def test_editing_one_variant_reruns_exactly_its_runs(edited):
    config = copy.deepcopy(TINY)
    config["variants"]["dampened"] = {"momentum_form": "nesterov"}
    write_config(edited, config)

    jobs = [job for job in dry_run(edited) if job.rule != "all"]

    train = {job.outputs[0] for job in jobs if job.rule == "train_mlp"}
    assert train == variant_runs("momentum_form-nesterov")
    collected = {job.outputs[0] for job in jobs if job.rule in ("collect_variant_runs", "assess_variant_claims")}
    assert collected and all(path.startswith(f"{DIR}/dampened/") for path in collected)
    assert {job.rule for job in jobs} == {
        "train_mlp", "collect_variant_runs", "assess_variant_claims", "compare_variants", "plot_variant_accuracy"
    }


def test_a_variant_with_the_options_of_another_trains_nothing(edited):
    config = copy.deepcopy(TINY)
    config["variants"]["dampened_again"] = {"momentum_form": "dampened"}
    write_config(edited, config)

    jobs = [job for job in dry_run(edited) if job.rule != "all"]

    assert not [job for job in jobs if job.rule == "train_mlp"]
    assert {path for job in jobs if job.rule == "collect_variant_runs" for path in job.outputs} == {
        f"{DIR}/dampened_again/figure_{k}_{kind}.parquet" for k in (3, 4, 8) for kind in ("runs", "final", "curves")
    }


def test_readme_variants_table_is_generated_from_the_comparison(workdir, tmp_path):
    overview = read_table(workdir / DIR / "overview.parquet")
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n<!-- variants table: mnist5k -->\n| old |\n<!-- end of variants table: mnist5k -->\n\nrest\n")
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "readme_results.py"), str(workdir / DIR / "overview.parquet"),
         "--readme", str(readme)],
        capture_output=True, text=True, timeout=120, check=True,
    )
    lines = proc.stdout.splitlines()
    assert len(lines) == 2 + len(overview)
    for line, (_, row) in zip(lines[2:], overview.iterrows()):
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        assert cells[0] == row["variant"] and cells[2] == row["figures_3_4_8"] and cells[3] == row["scaling"]
    text = readme.read_text()
    assert proc.stdout in text and "| old |" not in text and text.endswith("rest\n")


def test_a_variant_with_sweeps_gets_the_scaling_claims(tmp_path):
    from test_workflow_reruns import tiny_scaling  # the default sweeps on 40 images, 20 updates
    from workflow_helpers import DEFAULT_CONFIG
    import yaml

    scaling = tiny_scaling(yaml.safe_load(DEFAULT_CONFIG.read_text())["scaling"])
    config = {**TINY, "variants": {"slow": {"learning_rate_scale": 0.5, "sweeps": ["learning_rate", "momentum"]}},
              "scaling": {**scaling, "claims": TINY["scaling"]["claims"]}}
    write_config(tmp_path, config)
    snakemake(tmp_path, "--cores", "2", timeout=600)
    for sweep in ("learning_rate", "momentum"):
        curves = read_table(tmp_path / DIR / "slow" / sweep / "curves.parquet")
        assert len(curves) and (curves["learning_rate"] < 1.0).all()  # the variant's scaled eps
    verdicts = read_table(tmp_path / DIR / "verdicts.parquet")
    slow = list(verdicts.loc[verdicts["variant"] == "slow", "claim_id"])
    sweeps = [cid for cid, c in claims.CLAIMS.items() if set(c.inputs) & {"learning_rate_optima", "learning_rate_fits", "momentum_fits"}]
    assert slow == [cid for cid in claims.CLAIMS if cid in FIGURE_CLAIM_IDS or cid in sweeps]
    assert list(verdicts.loc[verdicts["variant"] == "paper", "claim_id"]) == FIGURE_CLAIM_IDS


def test_the_diagnosis_judges_each_hypothesis_on_its_variants_sweeps(tmp_path):
    """config/diagnosis.yaml's shape on a tiny configuration: the stated protocol and the two
    candidate variants with both sweeps, targets variants and diagnosis. The tiny sweeps have two
    batch sizes per curve (every optimum at a grid edge), so every prediction is not measured:
    this checks the wiring, the tables, the figure and the README block; the verdicts' logic is
    tests/test_diagnosis.py's."""
    from test_workflow_reruns import tiny_scaling
    from workflow_helpers import DEFAULT_CONFIG
    import yaml

    from bayes_sgd import diagnosis

    scaling = tiny_scaling(yaml.safe_load(DEFAULT_CONFIG.read_text())["scaling"])
    scaling["momentum_sweep"]["curves"][0]["momentum"] = 0.0  # the m = 0 curve, shared between momentum forms
    both = ["learning_rate", "momentum"]
    config = {
        **TINY, "targets": ["variants", "diagnosis"],
        "variants": {"paper": {"sweeps": both}, "class_mean_loss": {"loss_normalisation": "batch_and_classes", "sweeps": both},
                     "dampened_momentum": {"momentum_form": "dampened", "sweeps": both}, "epochs": VARIANTS["epochs"]},
        "scaling": {**scaling, "claims": TINY["scaling"]["claims"]},
    }
    write_config(tmp_path, config)
    snakemake(tmp_path, "--cores", "2", timeout=600)
    out = tmp_path / "results/diagnosis/mnist5k"
    hypotheses = read_table(out / "hypotheses.parquet")
    assert list(dict.fromkeys(hypotheses["hypothesis"])) == [h.name for h in diagnosis.HYPOTHESES]
    assert dict(zip(hypotheses["hypothesis"], hypotheses["variant"])) == {
        "stated_protocol": "paper", "effective_step_10x_smaller": "class_mean_loss", "dampened_momentum": "dampened_momentum",
    }
    assert set(hypotheses["outcome"]) == {claims.NOT_MEASURED}  # every optimum at a grid edge
    assert hypotheses["measured"].str.contains("usable optima").all()
    overview = read_table(out / "overview.parquet")
    assert not overview["explains_paper"].any()
    assert set(overview["figures_3_4_8"]) <= set(claims.VERDICTS)  # read from the variants' claims tables
    points = read_table(out / "points.parquet")
    assert set(points["variant"]) == {"paper", "class_mean_loss", "dampened_momentum"} and len(points) == 3 * 4
    assert (tmp_path / "results/figures/mnist5k/diagnosis_scaling.png").stat().st_size > 0
    # at m = 0 the dampened variant's runs are the stated protocol's (one job)
    assert not list((tmp_path / "results/runs/mnist5k/momentum_form-dampened").rglob("*_m0_*"))
    assert len(list((tmp_path / "results/runs/mnist5k/paper").rglob("*_m0_*.parquet"))) == 2
    section = (out / "summary.md").read_text()
    assert "## Diagnosis on mnist5k" in section and "not a claim about the authors' code" in section
    readme = tmp_path / "README.md"
    readme.write_text("<!-- diagnosis results: mnist5k -->\nstale-block\n<!-- end of diagnosis results: mnist5k -->\n")
    subprocess.run([sys.executable, str(REPO / "scripts" / "readme_results.py"), str(out / "overview.parquet"),
                    "--readme", str(readme)], capture_output=True, text=True, timeout=120, check=True)
    text = readme.read_text()
    assert "No hypothesis explains the paper's figures" in text and "stale-block" not in text
    assert read_provenance(out / "hypotheses.parquet")["provenance"]["hypotheses"] == [h.name for h in diagnosis.HYPOTHESES]
