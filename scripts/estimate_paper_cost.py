"""Estimate the single-core hours of the MLP runs of a configuration, before running anything.

Every distinct run the default target builds (the stages of the config key ``targets``): of
Figures 3, 4 and 8, of the scaling sweeps of Figures 5-7 and of every protocol variant (a run
shared by several figures or variants counted once, as the workflow runs it once) is costed with
:class:`bayes_sgd.resources.CostModel`:

    seconds = overhead + steps * (per_step + per_example * B) + evaluations * per_image * (N + n_test)

The default coefficients were measured on the development machine (one BLAS thread per job);
``--measure`` times the step and the evaluation on this machine instead (about ten seconds).
The logistic-regression stage (Figures 1-2) and Figure 9 take minutes and are not counted.

Usage::

    python scripts/estimate_paper_cost.py                          # config/paper.yaml
    python scripts/estimate_paper_cost.py config/config.yaml --cores 2
    python scripts/estimate_paper_cost.py --measure
    python scripts/estimate_paper_cost.py config/diagnosis.yaml --after config/config.yaml  # beyond the default run
    python scripts/estimate_paper_cost.py config/paper.yaml config/variants_mnist.yaml --cores 2  # layered
    python scripts/estimate_paper_cost.py --device gpu --gpu-check results/gpu_check      # one GPU, JAX

Prints a Markdown table (core-hours per figure, the longest single run) and the total.

``--device gpu`` estimates the hours of the JAX backend on one GPU instead, with the seeds of a
configuration grouped into one job as the workflow groups them
(:class:`bayes_sgd.resources.GpuCostModel`), from the tables ``scripts/gpu_check.sh`` wrote on a
GPU machine (``--gpu-check``). Without such tables it prints "not measured" and no number.
"""

from __future__ import annotations

import argparse
import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

# The checkout's package (its configuration schema lives in the checkout, not in an installed copy).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np  # noqa: E402

from bayes_sgd.config import check_files, test_set_size, train_pool_size  # noqa: E402
from bayes_sgd.schema import schema_defaults  # noqa: E402
from bayes_sgd.variants import (  # noqa: E402
    configured_variants,
    protocol_options,
    run_protocol,
    variant_figure_runs,
    variant_sweep_runs,
)
from bayes_sgd.resources import CostModel, GpuCostModel, estimate_cost, estimate_gpu_cost  # noqa: E402
from bayes_sgd.sweeps import SWEEPS, figure_runs, sweep_runs  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def load_config(*paths: str | Path) -> dict:
    """The configuration the workflow runs with ``--configfile PATHS``: ``config/config.yaml``, then
    each of ``paths`` on top of the ones before, checked as the workflow checks it."""
    return check_files([REPO / "config" / "config.yaml", *paths])


def measure_cost_model(repeats: int = 3) -> CostModel:
    """Time one SGD step at B = 10 and 1000 and one evaluation on this machine, one thread."""
    from bayes_sgd.mlp import Architecture, GradientWorkspace, evaluate, initialise
    from bayes_sgd.training.batches import sample_batch
    from bayes_sgd.training.sgd import sgd_step

    rng = np.random.default_rng(0)
    arch = Architecture()
    n = 1000
    X = (rng.random((n, arch.n_inputs), dtype=np.float32) * (rng.random((n, arch.n_inputs)) < 0.2)).astype(np.float32)
    y = rng.integers(0, arch.n_classes, size=n)
    w = initialise(arch, rng)

    def step_seconds(b: int) -> float:
        v = np.zeros_like(w)
        ws = GradientWorkspace(arch, b)
        inner = max(5, 2000 // b)
        best = np.inf
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(inner):
                ws.load(X, y, sample_batch(rng, n, b) if b < n else None) if b < n else ws.load(X, y)
                sgd_step(ws, w, v, 1e-3, 0.9)
            best = min(best, (time.perf_counter() - start) / inner)
        return best

    small, large = step_seconds(10), step_seconds(1000)
    per_example = (large - small) / 990
    per_step = small - 10 * per_example
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        evaluate(arch, w * 1e-3, X, y)
        best = min(best, time.perf_counter() - start)
    return CostModel(per_step=per_step, per_example=per_example, per_image=best / n)


def run_groups(config: dict) -> dict[str, list]:
    """The MLP runs the default target builds (config key targets), in groups for the table:
    the main Figures 3, 4, 8 and sweeps, then every protocol variant's runs."""
    stated = protocol_options(schema_defaults()["mlp"])
    options = protocol_options(config["mlp"])
    targets = set(config["targets"])
    groups = {}
    if targets & {"sgd", "scaling", "evidence"}:
        groups["Figures 3, 4, 8"] = [run_protocol(r, options, stated) for r in figure_runs(config["mlp"])]
    if targets & {"scaling", "evidence"}:
        for sweep, registered in SWEEPS.items():
            runs = sweep_runs(config["scaling"], sweep)
            groups[f"Figure {registered.figure} ({registered.section})"] = [run_protocol(r, options, stated) for r in runs]
    if targets & {"variants", "diagnosis"}:  # the diagnosis reads the variants' sweeps
        seeds = config["variant_comparison"]["seeds"]
        for name, variant in configured_variants(config, stated).items():
            runs = [r for figure in variant_figure_runs(variant, config["mlp"], seeds).values() for r in figure]
            runs += [r for sweep in variant.sweeps for r in variant_sweep_runs(variant, config["scaling"], sweep)]
            groups[f"variant {name} ({variant.protocol})"] = runs
    return groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("config", nargs="*", default=[str(REPO / "config" / "paper.yaml")],
                        help="configuration files, later ones on top of earlier ones (as snakemake --configfile)")
    parser.add_argument("--cores", type=int, default=None, help="also print the wall-time floor on this many cores")
    parser.add_argument(
        "--after", metavar="CONFIG", default=None,
        help="count the runs that CONFIG's default target builds as done (e.g. config/config.yaml, the default run)",
    )
    parser.add_argument("--measure", action="store_true", help="time the step and evaluation on this machine")
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu",
                        help="gpu: hours on one GPU with the JAX backend, from scripts/gpu_check.sh's tables")
    parser.add_argument("--gpu-check", default=str(REPO / "results" / "gpu_check"),
                        help="the results folder of scripts/gpu_check.sh on a GPU machine (with --device gpu)")
    args = parser.parse_args()

    config = load_config(*args.config)
    dataset = config["dataset"]
    n_test = test_set_size(config)
    if args.device == "gpu":
        print_gpu_estimate(args, config, n_test)
        return
    model = measure_cost_model() if args.measure else CostModel()
    groups = run_groups(config)
    done = [r for runs in run_groups(load_config(args.after)).values() for r in runs] if args.after else []
    table = estimate_cost(groups, model, n_test=n_test, eval_points=config["mlp"]["eval_points"], done=done)

    print(f"configuration: {' + '.join(args.config)} (dataset {dataset}, training pool {train_pool_size(config)}, test set {n_test})")
    print(
        f"cost model ({'measured here' if args.measure else 'development machine'}): "
        f"{model.per_step * 1e3:.3f} ms + {model.per_example * 1e3:.4f} ms x B per step, "
        f"{model.per_image * 1e6:.1f} us per evaluated image, {model.overhead:g} s per run"
    )
    print()
    after = f" or by {args.after}" if args.after else ""
    print(f"| runs of | runs | not run by an earlier row{after} | core-hours | longest run (hours) |")
    print("|---|---:|---:|---:|---:|")
    for row in table.itertuples():
        print(f"| {row.group} | {row.runs} | {row.new_runs} | {row.core_hours:.2f} | {row.longest_run_hours:.2f} |")
    total = table.iloc[-1]
    print()
    print(f"total: {total['core_hours']:.1f} core-hours of MLP training ({int(total['new_runs'])} runs)")
    if args.cores:
        floor = max(total["core_hours"] / args.cores, total["longest_run_hours"])
        print(f"wall-time floor on {args.cores} cores: {floor:.2f} hours (perfect packing, no other work)")


def print_gpu_estimate(args, config: dict, n_test: int) -> None:
    """The one-GPU estimate (``--device gpu``), or "not measured" and nothing else."""
    print(f"configuration: {' + '.join(args.config)} (dataset {config['dataset']}, training pool {train_pool_size(config)}, test set {n_test})")
    model, note = GpuCostModel.from_gpu_check(Path(args.gpu_check))
    if model is None:
        print(f"one GPU (JAX backend, seeds grouped): {note}")
        return
    print(f"one GPU (JAX backend, seeds grouped): {note}")
    print(
        f"GPU model: ms per step at B = {', '.join(f'{b} ({ms:.3g})' for b, ms in model.step_ms)}; "
        f"{model.eval_us_per_image:.3g} us per evaluated image; {model.job_overhead_s:.1f} s per job "
        f"(warm compilation cache); {model.compile_s:.1f} s per compiled program"
    )
    done = [r for runs in run_groups(load_config(args.after)).values() for r in runs] if args.after else []
    table = estimate_gpu_cost(run_groups(config), model, n_test=n_test, eval_points=config["mlp"]["eval_points"], done=done)
    print()
    print("| runs of | runs | not run by an earlier row | jobs (seed groups) | programs compiled | GPU hours |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in table.itertuples():
        print(f"| {row.group} | {row.runs} | {row.new_runs} | {row.jobs} | {row.programs} | {row.gpu_hours:.2f} |")
    total = table.iloc[-1]
    print()
    print(f"total: {total['gpu_hours']:.2f} hours on one GPU ({int(total['jobs'])} jobs one after another; "
          f"the seeds of a group counted one after another, an upper bound)")


if __name__ == "__main__":
    main()
