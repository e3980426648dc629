"""What a training run costs: single-core time and peak memory, for cluster requests and the
paper-cost estimate; and the cluster requests of an evidence job.

:class:`CostModel` estimates the single-core seconds of one ``train_mlp`` run of the
``n_inputs -> hidden_units -> n_classes`` network (float32)::

    seconds = overhead + scale * (steps * (per_step + per_example * B)
                                  + evaluations * per_image * (N + n_test))

``evaluations = len(evaluation_steps(steps, eval_points))`` (each evaluates the training and
the test set) and ``scale`` is the ratio of the network's weights to those of the paper's
784-800-10 network on which the constants were measured (the matrix products, which dominate
a step and an evaluation, cost in proportion to the weights). The constants come from the
2-core development machine with one BLAS thread per job: ``scripts/benchmark_sgd.py`` gives
the step, about 0.35 ms plus 0.028 ms per example (B = 1000: 28 ms); the per-image
evaluation and the fixed overhead (start-up, reading the dataset) from the workflow's job
benchmarks.

:func:`train_mlp_megabytes` estimates the peak memory: about 1 GB for Python, NumPy and the
dataset table of full MNIST, ``n_inputs`` float32 per training or test image, and the batch
workspace (inputs, three hidden-layer arrays, three output arrays) per example of a batch
(measured peaks on full MNIST with 800 hidden units: 1.0 GB at N = 1,000, B = 1,000; 1.2 GB at
N = 50,000, B = 5,000).

:func:`train_mlp_runtime_minutes` and :func:`train_mlp_mem_mb` turn the estimates into the
``runtime`` and ``mem_mb`` requests of a cluster job: the estimate times a safety factor, with
a floor, doubled with every attempt (``profiles/slurm`` resubmits a failed job once, e.g.
after TIMEOUT or OUT_OF_MEMORY). The runtime adds a start-up allowance for a cluster node
(Python, imports, reading the dataset table from a shared file system).

:func:`compute_mlp_evidence_mem_mb` and :func:`compute_mlp_evidence_runtime_minutes` are the
``mem_mb`` and ``runtime`` requests of one ``compute_mlp_evidence`` job (the evidence of one
trained run): an estimate from measurements (their docstrings) times a safety factor, times the
attempt.

:func:`benchmark_cost_ratios` compares the CPU time of finished ``train_mlp`` jobs (their
``benchmarks/train_mlp/`` files) with the model, so a run can be checked against it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_sgd.curvature.slq import MAX_DENSE_ROWS
from bayes_sgd.data.datasets import N_PIXELS
from bayes_sgd.mlp import Architecture
from bayes_sgd.training.sgd import evaluation_steps
from bayes_sgd.sweeps import Run, run_stem

#: The largest test set of any dataset (MNIST and Fashion-MNIST: 10,000 images).
MAX_TEST_IMAGES = 10_000
#: The network the cost constants were measured on (paper Section 4).
PAPER_ARCHITECTURE = Architecture(n_inputs=784, n_hidden=800, n_classes=10)

RUNTIME_SAFETY = 3.0
RUNTIME_FLOOR_MIN = 10
STARTUP_S = 60.0
MEM_SAFETY = 1.5
MEM_FLOOR_MB = 1000
MEM_BASE_MB = 1000.0


@dataclass(frozen=True)
class CostModel:
    """Single-core seconds of one run of ``train_mlp`` (module docstring for the formula)."""

    per_step: float = 0.35e-3
    per_example: float = 0.028e-3
    per_image: float = 0.02e-3
    overhead: float = 3.0

    def run_seconds(
        self, run: Run, *, n_test: int, eval_points: int, architecture: Architecture = PAPER_ARCHITECTURE
    ) -> float:
        """Estimated seconds of ``run`` on ``architecture``."""
        scale = architecture.n_params / PAPER_ARCHITECTURE.n_params
        evaluations = len(evaluation_steps(run.steps, eval_points))
        return self.overhead + scale * (
            run.steps * (self.per_step + self.per_example * run.batch_size)
            + evaluations * self.per_image * (run.n_train + n_test)
        )


def estimate_cost(
    groups: Mapping[str, Iterable[Run]], model: CostModel, *, n_test: int, eval_points: int, done: Iterable[Run] = ()
) -> pd.DataFrame:
    """Estimated core-hours per group of runs, each distinct run counted once.

    ``groups``: name (e.g. ``"Figure 5"``) -> its runs. A run already listed in an earlier
    group is counted there only (runs shared between figures are one job), and a run in
    ``done`` (e.g. another configuration's runs, already built) nowhere. Returns one row
    per group (``group``, ``runs``, ``new_runs``, ``core_hours``, ``longest_run_hours``) and a
    ``total`` row.
    """
    seen: set[Run] = set(done)
    rows = []
    for name, runs in groups.items():
        runs = list(dict.fromkeys(runs))
        new = [r for r in runs if r not in seen]
        seen.update(new)
        seconds = [model.run_seconds(r, n_test=n_test, eval_points=eval_points) for r in new]
        rows.append(
            dict(
                group=name,
                runs=len(runs),
                new_runs=len(new),
                core_hours=sum(seconds) / 3600,
                longest_run_hours=max(seconds, default=0.0) / 3600,
            )
        )
    table = pd.DataFrame(rows)
    total = dict(
        group="total",
        runs=int(table["new_runs"].sum()),
        new_runs=int(table["new_runs"].sum()),
        core_hours=float(table["core_hours"].sum()),
        longest_run_hours=float(table["longest_run_hours"].max()),
    )
    return pd.concat([table, pd.DataFrame([total])], ignore_index=True)


def architecture(hidden_units: int, n_inputs: int = N_PIXELS, n_classes: int = 10) -> Architecture:
    """The configured network (``mlp.hidden_units``; MNIST-sized inputs unless told otherwise)."""
    return Architecture(n_inputs=int(n_inputs), n_hidden=int(hidden_units), n_classes=int(n_classes))


def train_mlp_seconds(n_train: int, batch_size: int, steps: int, eval_points: int, arch: Architecture) -> float:
    """Estimated wall time of one train_mlp job on one core: start-up plus :class:`CostModel`."""
    run = Run(int(n_train), 1.0, 0.0, int(batch_size), 0.0, int(steps), 0)
    return STARTUP_S + CostModel().run_seconds(
        run, n_test=MAX_TEST_IMAGES, eval_points=eval_points, architecture=arch
    )


def train_mlp_megabytes(n_train: int, batch_size: int, arch: Architecture) -> float:
    """Estimated peak memory in MB of one train_mlp job (module docstring)."""
    d, h, c = arch.n_inputs, arch.n_hidden, arch.n_classes
    images = (int(n_train) + MAX_TEST_IMAGES) * d * 4 / 1e6
    workspace = int(batch_size) * (d + 3 * h + 3 * c) * 4 / 1e6
    return MEM_BASE_MB + images + workspace


def train_mlp_runtime_minutes(
    n_train: int, batch_size: int, steps: int, eval_points: int, arch: Architecture, attempt: int = 1
) -> int:
    """``runtime`` request (minutes): estimate x safety, rounded up, at least the floor, x attempt."""
    seconds = train_mlp_seconds(n_train, batch_size, steps, eval_points, arch)
    minutes = max(RUNTIME_FLOOR_MIN, -(-RUNTIME_SAFETY * seconds // 60))
    return int(minutes) * int(attempt)


def train_mlp_mem_mb(n_train: int, batch_size: int, arch: Architecture, attempt: int = 1) -> int:
    """``mem_mb`` request: estimate x safety, rounded up to 100 MB, at least the floor, x attempt."""
    megabytes = MEM_SAFETY * train_mlp_megabytes(n_train, batch_size, arch)
    return max(MEM_FLOOR_MB, int(-(-megabytes // 100) * 100)) * int(attempt)


def exact_network_megabytes(n_train: int, n_classes: int = 10) -> float:
    """Memory of the exact whole-network evidence (bayes_sgd.curvature.gram_spectrum): about three
    ``(N (C - 1))^2`` float64 matrices (the Gram matrix, its eigenvectors, LAPACK's workspace);
    measured 0.73 GB peak at N = 500, where the formula gives 0.49 GB plus the 0.25 GB of Python."""
    side = int(n_train) * (int(n_classes) - 1)
    return 3 * side * side * 8 / 1e6


def exact_network_minutes(n_train: int) -> float:
    """CPU time of the exact whole-network evidence on one core: the eigenproblem grows as N^3;
    measured 17 s at N = 500 (2 s at N = 250) on the shared 2-core machine, so about 2.3 minutes
    at N = 1,000."""
    return 2.3 * (int(n_train) / 1000) ** 3


def slq_megabytes(n_train: int, n_classes: int = 10) -> float:
    """Memory of method slq (bayes_sgd.curvature.gram_side_spectrum): the pruned Gram matrix it
    stores, at most ``MAX_DENSE_ROWS`` square, and a third as much again for the row blocks of its
    construction and the deflation's block Krylov basis."""
    rows = min(int(n_train) * (int(n_classes) - 1), MAX_DENSE_ROWS)
    return 1.33 * rows * rows * 8 / 1e6


def slq_minutes(n_train: int) -> float:
    """CPU time of method slq on one core, generous: measured 2-3 s on trained networks and about
    10 s on less confident ones at N = 1,000 (README, "Validating the evidence estimators"); the
    pruned Gram matrix's construction and products grow as the kept rows squared, so as N^2."""
    return 0.5 * (int(n_train) / 1000) ** 2


def compute_mlp_evidence_mem_mb(n_train: int, exact_softmax_layer: bool, attempt: int = 1, exact_network: bool = False,
                                slq: bool = False) -> int:
    """``mem_mb`` request of one compute_mlp_evidence job: the estimate x 2, x attempt.

    Measured on one core at H = 800, N = 1,000: about 1 GB for Python and the dataset table,
    about 40 kB per training example (float64 inputs, hidden activations and the
    Hessian-vector-product temporaries), and 1.1 GB more for the exact softmax-layer
    eigenvalue problem (8,010 x 8,010, independent of N).
    """
    exact = 1200 if exact_softmax_layer else 0
    network = exact_network_megabytes(n_train) if exact_network else 0
    network = max(network, slq_megabytes(n_train) if slq else 0)  # one after the other, never both at once
    return int(1000 + 0.04 * int(n_train) + exact + network) * 2 * int(attempt)


def compute_mlp_evidence_runtime_minutes(
    n_train: int, exact_softmax_layer: bool, attempt: int = 1, exact_network: bool = False, slq: bool = False
) -> int:
    """``runtime`` request (minutes) of one compute_mlp_evidence job: a generous estimate x 3,
    rounded up, x attempt.

    Measured on one core at H = 800, N = 1,000: KFAC, Lanczos sharpness and B_simple take a few
    seconds (linear in N); the exact softmax-layer eigenvalue problem (8,010 x 8,010,
    independent of N) about 35 CPU-seconds.
    """
    minutes = 5 + 0.2 * int(n_train) / 1000 + (5 if exact_softmax_layer else 0)
    minutes += exact_network_minutes(n_train) if exact_network else 0
    minutes += slq_minutes(n_train) if slq else 0
    return int(-(-3 * minutes // 1)) * int(attempt)


#: A ``train_mlp`` job benchmark's path below ``benchmarks/train_mlp/`` (the rule's wildcards,
#: bayes_sgd.sweeps.run_path).
BENCHMARK_PATH = re.compile(
    r"(?P<dataset>[^/]+)/(?P<protocol>[^/]+)/N(?P<n_train>\d+)/eps(?P<learning_rate>[^_]+)_m(?P<momentum>[^_]+)"
    r"_B(?P<batch_size>\d+)_l2(?P<l2>[^_]+)_T(?P<steps>\d+)_s(?P<seed>\d+)\.tsv$"
)


def benchmark_cost_ratios(
    benchmark_dir: Path, model: CostModel, *, n_test: int, eval_points: int, architecture: Architecture = PAPER_ARCHITECTURE
) -> pd.DataFrame:
    """Measured against estimated cost of every ``train_mlp`` job benchmark under ``benchmark_dir``
    (``benchmarks/train_mlp``, Snakemake's ``benchmark:`` files): one row per job with its run's
    wildcards, ``cpu_s`` and ``wall_s`` (the benchmark's ``cpu_time`` and ``s``), ``model_s``
    (:meth:`CostModel.run_seconds`) and ``cpu_ratio = cpu_s / model_s``. A ratio well above 1 means
    the job paid for something the model does not (time-slicing with other jobs, threads the
    machine does not have); ``scripts/cost_model_ratio.py`` prints the summary."""
    rows = []
    for path in sorted(Path(benchmark_dir).rglob("*.tsv")):
        match = BENCHMARK_PATH.search(path.relative_to(benchmark_dir).as_posix())
        if match is None:
            continue
        fields = match.groupdict()
        run = Run(
            n_train=int(fields["n_train"]), learning_rate=float(fields["learning_rate"]),
            momentum=float(fields["momentum"]), batch_size=int(fields["batch_size"]), l2=float(fields["l2"]),
            steps=int(fields["steps"]), seed=int(fields["seed"]), protocol=fields["protocol"],
        )
        measured = pd.read_csv(path, sep="\t").iloc[-1]  # the last repeat
        model_s = model.run_seconds(run, n_test=n_test, eval_points=eval_points, architecture=architecture)
        rows.append(dict(
            dataset=fields["dataset"], **asdict(run), cpu_s=float(measured["cpu_time"]),
            wall_s=float(measured["s"]), model_s=model_s, cpu_ratio=float(measured["cpu_time"]) / model_s,
        ))
    return pd.DataFrame(rows)


# --- one GPU (the JAX backend, seeds grouped) ----------------------------------------------------


@dataclass(frozen=True)
class GpuCostModel:
    """Seconds of the JAX backend's jobs on one GPU, built only from ``scripts/gpu_check.sh``'s
    measurements on that GPU (:meth:`from_gpu_check`); nothing in it is a default.

    One job trains the seeds of one configuration (rule ``train_mlp_seeds``) and costs::

        seconds = job_overhead + sum over its seeds of (steps * step(B) + evaluations * eval_per_image * (N + n_test))

    ``step(B)``: the measured ms per step of one run at batch size B (``step_ms``, pairs of B and
    ms), interpolated linearly in log B and log ms between measured batch sizes, constant below
    the smallest and proportional to B above the largest. The seeds' steps are summed, an upper
    bound: the group's vmap may run them at once (on a GPU a small batch leaves it mostly idle),
    which the measurement of one run cannot show. ``job_overhead``: a job with a warm compilation
    cache, process start to its first step (``benchmark_jax_overhead.py``, row ``warm``);
    ``compile_s``: what a cold cache adds (row ``cold`` minus row ``warm``), paid once per
    distinct program: per N, B and protocol, as the step sizes are arguments of the program.
    """

    device: str
    step_ms: tuple[tuple[int, float], ...]
    eval_us_per_image: float
    job_overhead_s: float
    compile_s: float

    def step_seconds(self, batch_size: int) -> float:
        b = np.array([p[0] for p in self.step_ms], dtype=float)
        ms = np.array([p[1] for p in self.step_ms], dtype=float)
        if batch_size >= b[-1]:
            return float(ms[-1] * batch_size / b[-1]) / 1e3
        return float(np.exp(np.interp(np.log(batch_size), np.log(b), np.log(ms)))) / 1e3

    def run_seconds(self, run: Run, *, n_test: int, eval_points: int) -> float:
        """The training of one seed: its steps and its evaluations (no job overhead)."""
        evaluations = len(evaluation_steps(run.steps, eval_points))
        return run.steps * self.step_seconds(run.batch_size) + evaluations * self.eval_us_per_image * 1e-6 * (
            run.n_train + n_test)

    @classmethod
    def from_gpu_check(cls, folder: Path) -> tuple[GpuCostModel | None, str]:
        """The model from a ``scripts/gpu_check.sh`` results folder, or ``(None, why not)``: a missing
        table, or measurements taken on no GPU (the smoke run on a CPU)."""
        folder = Path(folder)
        files = {name: folder / f"{name}.csv" for name in ("benchmark_steps", "benchmark_large_batches", "benchmark_overhead")}
        missing = [str(path) for path in files.values() if not path.is_file()]
        if missing:
            return None, f"not measured: {', '.join(missing)} missing (run scripts/gpu_check.sh on a GPU machine)"
        steps = pd.concat([pd.read_csv(files["benchmark_steps"]), pd.read_csv(files["benchmark_large_batches"])])
        steps = steps.dropna(subset=["jax_ms"]).sort_values("batch_size").drop_duplicates("batch_size", keep="last")
        overhead = pd.read_csv(files["benchmark_overhead"]).set_index("cache")
        devices = set(steps["device"].astype(str)) | set(overhead["device"].astype(str))
        if steps.empty or not {"warm", "cold"} <= set(overhead.index):
            return None, f"not measured: {folder} holds no JAX step times or no warm and cold job rows"
        if any(d.lower().startswith("cpu") for d in devices):
            return None, f"not measured: the measurements in {folder} were taken on {', '.join(sorted(devices))}, not a GPU"
        warm, cold = overhead.loc["warm"], overhead.loc["cold"]
        model = cls(
            device=", ".join(sorted(devices)),
            step_ms=tuple((int(b), float(ms)) for b, ms in zip(steps["batch_size"], steps["jax_ms"])),
            eval_us_per_image=float(steps["jax_eval_us_per_image"].dropna().median()),
            job_overhead_s=float(warm["wall_s"]),
            compile_s=max(0.0, float(cold["run_s"]) - float(warm["run_s"])),
        )
        return model, f"measured on {model.device} ({folder})"


def estimate_gpu_cost(
    groups: Mapping[str, Iterable[Run]], model: GpuCostModel, *, n_test: int, eval_points: int, done: Iterable[Run] = ()
) -> pd.DataFrame:
    """Estimated hours on one GPU per group of runs (as :func:`estimate_cost`), each distinct run
    counted once, its seeds grouped into jobs as the workflow groups them (a job per run stem, see
    :func:`bayes_sgd.sweeps.seed_groups`), a compilation per distinct program (N, B, protocol).
    One row per group (``group``, ``runs``, ``new_runs``, ``jobs``, ``programs``, ``gpu_hours``)
    and a ``total`` row. The jobs run one after another: the hours are a sum, not a packing."""
    seen: set[Run] = set(done)
    stems: set[str] = set()
    programs: set[tuple] = set()
    rows = []
    for name, runs in groups.items():
        runs = list(dict.fromkeys(runs))
        new = [r for r in runs if r not in seen]
        seen.update(new)
        new_stems = {run_stem("groups", r) for r in new} - stems  # one dataset: only the stem matters
        stems |= new_stems
        new_programs = {(r.n_train, r.batch_size, r.protocol) for r in new} - programs
        programs |= new_programs
        seconds = (len(new_stems) * model.job_overhead_s + len(new_programs) * model.compile_s
                   + sum(model.run_seconds(r, n_test=n_test, eval_points=eval_points) for r in new))
        rows.append(dict(group=name, runs=len(runs), new_runs=len(new), jobs=len(new_stems),
                         programs=len(new_programs), gpu_hours=seconds / 3600))
    table = pd.DataFrame(rows)
    total = {"group": "total", **{k: int(table[k].sum()) for k in ("new_runs", "jobs", "programs")},
             "gpu_hours": float(table["gpu_hours"].sum())}
    total["runs"] = total["new_runs"]
    return pd.concat([table, pd.DataFrame([total])], ignore_index=True)
