"""Method slq, plain SLQ and KFAC against the exact evidence of trained networks: the Occam factor
1/2 ln det(I + GGN / lambda) of each run, exact (the N (C - 1) Gram matrix), by the workflow's
method slq (``config``: the pruned Gram side with the configuration's evidence.slq), by plain SLQ
at several (probes, Lanczos steps) with its standard error, and by KFAC, across the
prior-precision grid.

    python scripts/validate_slq.py --workdir . \
        results/weights/mnist5k/paper/N1000/eps1_m0.9_B100_l20_T10000_s0.parquet ... \
        --settings config 10x30 --out results/validation/slq.parquet --readme README.md

Reads the weights a run kept (results/weights/...), the dataset table and the run's training
subset from the workflow's results in ``--workdir`` (a default run made them), with the
configuration's pixel scale and input range. Writes one row per run, lambda and estimate to
``--out`` (Parquet, with the command, commit, date and seconds of each estimate) and prints the
Markdown table that ``--readme`` puts between the ``<!-- slq validation -->`` markers. Every
number is computed here, from the run's weights; nothing is typed.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import linalg

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from bayes_sgd import curvature as curv  # noqa: E402
from bayes_sgd.claims.report import rewrite_readme_section  # noqa: E402
from bayes_sgd.config import load_config_file, validate_config  # noqa: E402
from bayes_sgd.data.inputs import training_data  # noqa: E402
from bayes_sgd.logistic import lambda_grid  # noqa: E402
from bayes_sgd.mlp import Architecture  # noqa: E402
from bayes_sgd.tables import read_provenance, read_table, write_table  # noqa: E402

RUN = re.compile(r"results/weights/(?P<dataset>[^/]+)/(?P<protocol>[^/]+)/N(?P<n>\d+)/eps(?P<eps>[^_]+)_m(?P<m>[^_]+)"
                 r"_B(?P<b>\d+)_l2(?P<l2>[^_]+)_T(?P<t>\d+)_s(?P<seed>\d+)\.parquet$")


def occam(eigenvalues: np.ndarray, lam: float, weights: np.ndarray | None = None) -> float:
    terms = np.log1p(np.asarray(eigenvalues) / lam)
    return 0.5 * float(terms.sum() if weights is None else weights @ terms)


def validate_run(workdir: Path, weights_path: str, config: dict, settings: list[tuple[int, int]], lams, seed: int):
    match = RUN.search(weights_path)
    if not match:
        raise SystemExit(f"{weights_path}: not a path results/weights/<dataset>/<protocol>/N<n>/<run>.parquet")
    g = match.groupdict()
    w = read_table(workdir / weights_path)["parameter"].to_numpy()
    shape = read_provenance(workdir / weights_path)["provenance"].get("architecture") or {}
    arch = Architecture(int(shape.get("n_inputs", 784)), int(shape.get("n_hidden", config["mlp"]["hidden_units"])),
                        int(shape.get("n_classes", 10)))
    subset = read_table(workdir / f"results/subsets/{g['dataset']}/N{g['n']}_seed{config['mlp']['subset_seed']}.parquet")
    X, y, _, _ = training_data(read_table(workdir / f"results/data/{g['dataset']}.parquet"), subset["index"].to_numpy(),
                               config["mlp"]["pixel_scale"], dtype=np.float64,
                               input_range=config["mlp"]["input_range"])
    n = len(y)
    stem = Path(weights_path).stem
    run = dict(run=stem if g["protocol"] == "paper" else f"{g['protocol']}/{stem}", protocol=g["protocol"], n_train=n,
               batch_size=int(g["b"]), seed=int(g["seed"]))
    rows = []
    t0 = time.perf_counter()
    # the eigenvalues of the whole Gram matrix (no eigenvectors: the Occam factor needs none)
    w64, X64 = curv.as_float64(arch, w), np.ascontiguousarray(X, dtype=np.float64)
    cache = curv.forward_cache(arch, w64, X64)
    S = curv.gram.softmax_curvature_factor(cache.probs)
    exact = np.clip(linalg.eigvalsh(curv.gram.gram_matrix(arch, w64, X64, cache, S), overwrite_a=True,
                                    check_finite=False), 0.0, None)
    seconds = time.perf_counter() - t0
    for lam in lams:
        rows.append(dict(**run, prior_precision=lam, estimate="exact", probes=0, steps=0,
                         occam=occam(exact, lam), standard_error=0.0, bound=0.0, seconds=seconds))
    t0 = time.perf_counter()
    factors = curv.kfac_factors(arch, w, X)
    kfac = np.concatenate([f.ggn_eigenvalues() for f in factors])
    seconds = time.perf_counter() - t0
    for lam in lams:
        rows.append(dict(**run, prior_precision=lam, estimate="kfac", probes=0, steps=0,
                         occam=occam(kfac, lam), standard_error=0.0, bound=0.0, seconds=seconds))
    for setting in settings:
        t0 = time.perf_counter()
        if setting == "config":  # method slq as the workflow runs it (evidence.slq)
            s = config["evidence"]["slq"]
            spectrum = curv.gram_side_spectrum(
                arch, w, X, max_dropped_trace=curv.slq.pruning_budget(lams, s["pruning_tolerance"]), dense_rows=s["dense_rows"],
                probes=s["probes"], steps=s["steps"], block=s["block"], block_steps=s["block_steps"],
                rng=np.random.default_rng(seed))
            nodes, mass = spectrum.nodes_and_weights()
            probes, steps, error, bound = s["probes"], s["steps"], spectrum.occam_standard_error, spectrum.occam_bound
            estimate = f"method slq ({spectrum.solver}, {spectrum.rows_kept} of {spectrum.rows} rows)"
        else:
            probes, steps = setting
            gram = curv.GramProduct(arch, w, X)
            quad = curv.slq_spectrum(gram, gram.dimension, probes, steps, np.random.default_rng(seed))
            nodes, mass = quad.pooled()
            error, bound, estimate = quad.occam_standard_error, (lambda lam: 0.0), "slq"
        seconds = time.perf_counter() - t0
        for lam in lams:
            rows.append(dict(**run, prior_precision=lam, estimate=estimate, probes=probes, steps=steps,
                             occam=occam(nodes, lam, mass), standard_error=error(lam), bound=bound(lam),
                             seconds=seconds))
        print(f"{run['run']}: {estimate} {probes} probes x {steps} steps in {seconds:.0f} s", file=sys.stderr, flush=True)
    out = pd.DataFrame(rows)
    ref = out[out["estimate"] == "exact"].set_index("prior_precision")["occam"]
    out["error"] = out["occam"] - out["prior_precision"].map(ref)
    out["error_per_1000_examples"] = 1000 * out["error"] / n
    return out


def markdown(table: pd.DataFrame, header: str) -> str:
    def label(r):
        if r.estimate.startswith("method slq"):
            return "method slq"
        return "exact" if r.estimate == "exact" else ("KFAC" if r.estimate == "kfac" else f"SLQ {r.probes}x{r.steps}")

    def cell(r):
        text = f"{r.error_per_1000_examples:+.2f}" if r.estimate.startswith("method slq") else f"{r.error_per_1000_examples:+.1f}"
        if r.estimate.startswith("method slq") or r.estimate == "slq":
            se = 1000 * r.standard_error / r.n_train
            text += f" (SE {se:.1f})" if se > 0 else f" (bound {1000 * r.bound / r.n_train:.2g})"
        return text

    t = table.assign(Estimate=[label(r) for r in table.itertuples()])
    t["cell"] = [cell(r) for r in t.itertuples()]
    exact = t[t["estimate"] == "exact"].assign(cell=lambda f: f["occam"].map(lambda x: f"{x:.1f}"))
    t = pd.concat([exact, t[t["estimate"] != "exact"]])
    wide = t.pivot_table(index=["run", "prior_precision"], columns="Estimate", values="cell", aggfunc="first", sort=False)
    order = ["exact", "KFAC", "method slq", *[c for c in wide.columns if c.startswith("SLQ")]]
    wide = wide[[c for c in order if c in wide.columns]].reset_index()
    wide = wide.rename(columns={"run": "Run", "prior_precision": "lambda", "exact": "exact Occam (nats)"})
    wide["lambda"] = wide["lambda"].map("{:g}".format)
    families = table.assign(family=[label(r) for r in table.itertuples()])
    cost = families.drop_duplicates(["run", "estimate", "probes", "steps"]).groupby("family", sort=False)["seconds"].median()
    costs = "; ".join(f"{name}: {v:.0f} s" for name, v in cost.items())
    solvers = "; ".join(f"{r}: {e[len('method slq ('):-1]}" for r, e in
                        table.loc[table["estimate"].str.startswith("method slq"), ["run", "estimate"]].drop_duplicates().itertuples(index=False))
    return (f"{header}\n\nOther columns: the estimate minus the exact Occam factor, in nats per 1,000 examples "
            f"(SLQ with its standard error from the probes; method slq, the workflow's, with its standard error where it "
            f"ran SLQ and the bound of its pruning where it computed eigenvalues). Median seconds per run on one core: "
            f"{costs}." + (f" Method slq's solver and kept Gram rows: {solvers}." if solvers else "") + "\n\n"
            f"{wide.to_markdown(index=False, tablefmt='pipe')}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("weights", nargs="+", help="results/weights/... paths of trained runs, relative to --workdir")
    parser.add_argument("--workdir", type=Path, default=Path("."))
    parser.add_argument("--config", type=Path, default=Path(__file__).resolve().parents[1] / "config" / "config.yaml",
                        help="the configuration the runs were made with (default: this checkout's config/config.yaml)")
    parser.add_argument("--settings", nargs="+", default=["config", "10x30", "30x30"],
                        help="'config' (method slq with the configuration's evidence.slq) and plain SLQ as probes x Lanczos steps")
    parser.add_argument("--seed", type=int, default=0, help="seed of the SLQ probes")
    parser.add_argument("--out", type=Path, default=Path("results/validation/slq.parquet"))
    parser.add_argument("--readme", type=Path, help="rewrite the table between the <!-- slq validation --> markers")
    args = parser.parse_args()
    config = validate_config(load_config_file(args.config))
    grid = config["evidence"]["prior_precision_grid"]
    lams = [float(x) for x in lambda_grid(grid["min"], grid["max"], grid["per_decade"])]
    settings = [s if s == "config" else tuple(int(v) for v in s.split("x")) for s in args.settings]
    tables = [validate_run(args.workdir, w, config, settings, lams, args.seed) for w in args.weights]
    table = pd.concat(tables, ignore_index=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parents[1]).stdout.strip() or "unknown"
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    command = "python scripts/validate_slq.py " + " ".join(sys.argv[1:])
    write_table(table, args.out, {"command": command, "commit": commit, "date": date, "seed": args.seed,
                                  "settings": args.settings, "status": "ok"})
    header = (f"Measured {date}, commit {commit}, on the runs' own N training examples (`{command}`; "
              f"table `{args.out}`).")
    text = markdown(table, header)
    print(text, end="")
    if args.readme:
        rewrite_readme_section(args.readme, "slq validation", text)


if __name__ == "__main__":
    main()
