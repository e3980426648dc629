"""How a run's training jobs compare with the cost model: CPU time measured against predicted.

Reads the job benchmarks a workflow run wrote (``benchmarks/train_mlp/``, Snakemake's
``benchmark:`` files) and prints, for its ``train_mlp`` jobs, the median, quartiles and range
of ``cpu_time / cost model`` (:func:`bayes_sgd.resources.benchmark_cost_ratios`, model
:class:`bayes_sgd.resources.CostModel`: 0.35 ms + 0.028 ms x B per step, evaluations, 3 s per
job, measured on the 2-core development machine with one job per core). A median near 1 says
the jobs ran as fast as they do alone; well above 1, that they shared cores or caches with
other jobs (e.g. more jobs than CPUs) or ran on a slower machine (``estimate_paper_cost.py
--measure`` times this one).

Usage::

    python scripts/cost_model_ratio.py                        # benchmarks/train_mlp, config/config.yaml
    python scripts/cost_model_ratio.py --config config/paper.yaml --benchmarks /path/to/run/benchmarks/train_mlp
    python scripts/cost_model_ratio.py --config config/paper.yaml config/variants_mnist.yaml   # layered

``--config`` takes the files the run was given with ``snakemake --configfile``; like the workflow,
they are read on top of ``config/config.yaml``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from bayes_sgd.config import ConfigError, check_files, test_set_size  # noqa: E402
from bayes_sgd.resources import CostModel, architecture, benchmark_cost_ratios  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", nargs="+", default=[], metavar="FILE",
                        help="the run's configuration files (test set, evaluations, network), on top of config/config.yaml")
    parser.add_argument("--benchmarks", default="benchmarks/train_mlp", help="the train_mlp job benchmarks of the run")
    args = parser.parse_args(argv)

    try:
        config = check_files([REPO / "config" / "config.yaml", *args.config])
    except ConfigError as err:
        print(f"error: invalid configuration: {err}", file=sys.stderr)
        return 1
    folder = Path(args.benchmarks)
    if not folder.is_dir():
        print(f"error: no benchmark folder {folder} (run the workflow first, or pass --benchmarks)", file=sys.stderr)
        return 1
    table = benchmark_cost_ratios(
        folder, CostModel(), n_test=test_set_size(config), eval_points=config["mlp"]["eval_points"],
        architecture=architecture(config["mlp"]["hidden_units"]),
    )
    if table.empty:
        print(f"error: no train_mlp benchmark files under {folder}", file=sys.stderr)
        return 1
    ratio = table["cpu_ratio"]
    print(f"{len(table)} train_mlp jobs under {folder}: {table['cpu_s'].sum() / 60:.1f} CPU-minutes measured, "
          f"{table['model_s'].sum() / 60:.1f} predicted by the cost model")
    print(f"CPU time / cost model: median {ratio.median():.2f}x (quartiles {ratio.quantile(0.25):.2f}-"
          f"{ratio.quantile(0.75):.2f}, min {ratio.min():.2f}, max {ratio.max():.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
