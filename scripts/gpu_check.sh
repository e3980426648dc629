#!/usr/bin/env bash
# The prepared device run (README, "The paper on one GPU"): on a machine with a GPU and JAX but
# without this project's other dependencies and without network, install the missing packages
# from a folder of wheels, then, within about 8 minutes:
#   1. scripts/benchmark_sgd.py --backend jax: ms per step at B = 1 ... 1,000 (N = 1,000, beside
#      NumPy in the same process) and at B = 10,000 and 50,000 (N = 50,000, JAX alone);
#   2. scripts/benchmark_jax_overhead.py: the per-job overhead (compilation cache off, cold, warm)
#      and a group of 5 seeds against 5 single runs;
#   3. Figure 4 of config/paper.yaml (full MNIST, ten batch sizes, five seeds, 10,000 steps) with
#      mlp.backend jax, seeds grouped, timed;
#   4. one N = 50,000 full-batch run of 10,000 steps, timed;
# and writes a small results folder: timings.csv (each phase's wall time and status), device.txt
# (GPU, driver, JAX and its devices), the benchmarks' tables (.md and .csv), runs.csv (each run
# table's status, final accuracy and the SHA-256 of its numbers) and summary.md.
#
# Usage:
#   scripts/gpu_check.sh --mnist DIR [--wheels DIR] [--out DIR] [--cores N]
#   scripts/gpu_check.sh --smoke [--out DIR]     # on a CPU, in about a minute: the same phases on
#                                                 # tiny settings (mnist5k, config/smoke.yaml)
#
# --mnist DIR: the four MNIST IDX files (.gz), e.g. a copy of ../shared/data/mnist inside the
#   checkout (a folder .git/info/exclude ignores), since the machine has no network.
# --wheels DIR (default .whl): wheels to install where the package is missing (installed with
#   --no-deps into a folder put first on PYTHONPATH; a wheel whose distribution is already
#   installed is skipped). Fill it here, where pip reaches the registry, for the GPU machine's
#   Python (3.12 on this workplace's machines):
#     python3 -m pip download -d .whl --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#       "snakemake[reports]>=9.19,<10" "mlxtend>=0.23"
#   (the whole dependency tree comes down; only what the machine lacks is installed).
# --out DIR (default results/gpu_check): the results folder.
# Each phase runs under a time limit; one that fails or runs out is recorded as such in
# timings.csv and the next phase still runs; the exit status is 1 if any phase did not finish.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
PYTHON=${PYTHON:-python3}
SMOKE=0 MNIST="" WHEELS=.whl OUT=results/gpu_check CORES=16
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) SMOKE=1 ;;
    --mnist) MNIST=$2; shift ;;
    --wheels) WHEELS=$2; shift ;;
    --out) OUT=$2; shift ;;
    --cores) CORES=$2; shift ;;
    *) echo "gpu_check.sh: unknown argument $1 (see the usage at the top of the script)" >&2; exit 2 ;;
  esac
  shift
done
if [ "$SMOKE" = 0 ] && [ -z "$MNIST" ]; then
  echo "gpu_check.sh: --mnist DIR is needed (the MNIST IDX files); or --smoke for the tiny run" >&2; exit 2
fi
if [ -n "$MNIST" ] && [ ! -d "$MNIST" ]; then
  echo "gpu_check.sh: --mnist $MNIST is not a folder" >&2; exit 2
fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
: > "$OUT/timings.csv"
echo "phase,seconds,status" >> "$OUT/timings.csv"
failed=0

# 0. the missing packages, from the wheels folder
SITE=$(mktemp -d)
if [ -d "$WHEELS" ]; then
  "$PYTHON" - "$WHEELS" > "$OUT/wheels.txt" <<'EOF'
import importlib.metadata, pathlib, re, sys
for wheel in sorted(pathlib.Path(sys.argv[1]).glob("*.whl")):
    name = re.sub(r"[-_.]+", "-", wheel.name.split("-")[0]).lower()
    try:
        importlib.metadata.distribution(name)
        print(f"skip {wheel}")
    except importlib.metadata.PackageNotFoundError:
        print(f"install {wheel}")
EOF
  install=$(awk '$1 == "install" {print $2}' "$OUT/wheels.txt")
  if [ -n "$install" ]; then
    # shellcheck disable=SC2086
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --target "$SITE" $install || {
      echo "gpu_check.sh: installing the wheels of $WHEELS failed" >&2; exit 1; }
  fi
  echo "wheels: $(grep -c '^install' "$OUT/wheels.txt") installed into $SITE, $(grep -c '^skip' "$OUT/wheels.txt") already there"
else
  echo "no wheel folder $WHEELS: using the packages installed" | tee "$OUT/wheels.txt"
fi
export PYTHONPATH="$SITE:$REPO/src${PYTHONPATH:+:$PYTHONPATH}"
export XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1

# the device; the full run refuses a machine without a GPU (it would take hours)
{
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  "$PYTHON" -c "import jax; print('JAX', jax.__version__, 'backend', jax.default_backend(), jax.devices())"
} > "$OUT/device.txt" 2>&1 || { cat "$OUT/device.txt"; echo "gpu_check.sh: JAX cannot be imported" >&2; exit 1; }
cat "$OUT/device.txt"
if [ "$SMOKE" = 0 ] && ! grep -q "backend gpu" "$OUT/device.txt"; then
  echo "gpu_check.sh: JAX sees no GPU (see $OUT/device.txt); use --smoke to try the phases on a CPU" >&2; exit 1
fi

phase() {  # phase NAME LIMIT_SECONDS COMMAND...: run, time, record
  local name=$1 limit=$2; shift 2
  echo "== $name (at most $limit s)"
  local start=$SECONDS
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  local rc=$? status=ok
  if [ $rc = 124 ]; then status="timed out"; elif [ $rc != 0 ]; then status="failed ($rc)"; fi
  [ "$status" = ok ] || failed=1
  echo "$name,$((SECONDS - start)),$status" >> "$OUT/timings.csv"
  echo "   $status in $((SECONDS - start)) s (log: $OUT/$name.log)"
  tail -n 3 "$OUT/$name.log" | sed 's/^/   | /'
}

WORK=$(mktemp -d)
mkdir -p "$WORK/config"
cp config/config.yaml "$WORK/config/config.yaml"
SNAKEMAKE=("$PYTHON" -m snakemake --snakefile "$REPO/Snakefile" --directory "$WORK" --cores "$CORES"
  --workflow-profile "$REPO/profiles/default")
if [ "$SMOKE" = 1 ]; then
  phase benchmark_steps 300 "$PYTHON" scripts/benchmark_sgd.py --backend jax --repeats 1 --batch-sizes 1,10 \
    --csv "$OUT/benchmark_steps.csv"
  phase benchmark_large_batches 300 "$PYTHON" scripts/benchmark_sgd.py --backend jax --no-numpy --repeats 1 \
    --n-train 200 --batch-sizes 200 --csv "$OUT/benchmark_large_batches.csv"
  phase benchmark_overhead 300 "$PYTHON" scripts/benchmark_jax_overhead.py --n-train 200 --batch-size 10 --steps 20 \
    --seeds 2 --csv "$OUT/benchmark_overhead.csv"
  CONFIG=(--configfile "$REPO/config/smoke.yaml" --config "mlp={backend: jax}")
  phase figure_4 300 "${SNAKEMAKE[@]}" results/sgd/mnist5k/figure_4_final.parquet "${CONFIG[@]}"
  phase full_batch_run 300 "${SNAKEMAKE[@]}" results/runs/mnist5k/paper/N1000/eps1_m0.9_B1000_l20_T20_s0.parquet "${CONFIG[@]}"
else
  phase benchmark_steps 90 "$PYTHON" scripts/benchmark_sgd.py --backend jax --repeats 3 \
    --csv "$OUT/benchmark_steps.csv"
  phase benchmark_large_batches 60 "$PYTHON" scripts/benchmark_sgd.py --backend jax --no-numpy --repeats 3 \
    --n-train 50000 --batch-sizes 10000,50000 --csv "$OUT/benchmark_large_batches.csv"
  phase benchmark_overhead 60 "$PYTHON" scripts/benchmark_jax_overhead.py --csv "$OUT/benchmark_overhead.csv"
  CONFIG=(--configfile "$REPO/config/paper.yaml" --config "mlp={backend: jax}" "data={mnist_dir: $(cd "$MNIST" && pwd)}")
  phase figure_4 200 "${SNAKEMAKE[@]}" results/sgd/mnist/figure_4_final.parquet "${CONFIG[@]}"
  phase full_batch_run 120 "${SNAKEMAKE[@]}" results/runs/mnist/paper/N50000/eps1_m0.9_B50000_l20_T10000_s0.parquet "${CONFIG[@]}"
fi
for name in benchmark_steps benchmark_large_batches benchmark_overhead; do
  awk '/^\|/ {print; table = 1; next} table {print ""; table = 0}' "$OUT/$name.log" > "$OUT/$name.md" 2>/dev/null || true
done

"$PYTHON" - "$WORK" "$OUT" <<'EOF' || failed=1
"""runs.csv (each run table: status, final test accuracy, SHA-256 of its numbers) and summary.md."""
import csv, datetime, hashlib, pathlib, subprocess, sys
import pandas as pd
from bayes_sgd.tables import read_table
work, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
rows = []
for path in sorted((work / "results" / "runs").rglob("*.parquet")):
    curve = read_table(path)
    numbers = curve.drop(columns=["seconds"]).to_csv(index=False).encode()
    weights = read_table(str(path).replace("/results/runs/", "/results/weights/"))
    rows.append({"run": str(path.relative_to(work / "results" / "runs")), "status": curve["status"].iloc[-1],
                 "final_test_accuracy": curve["test_accuracy"].iloc[-1],
                 "curve_sha256": hashlib.sha256(numbers).hexdigest(),
                 "weights_sha256": hashlib.sha256(weights["parameter"].to_numpy().tobytes()).hexdigest()})
pd.DataFrame(rows, columns=["run", "status", "final_test_accuracy", "curve_sha256", "weights_sha256"]).to_csv(out / "runs.csv", index=False)
try:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip() or "unknown"
except OSError:
    commit = "unknown"
timings = pd.read_csv(out / "timings.csv")
lines = [f"# GPU check, {datetime.date.today()}, commit {commit}", "", "Device:", ""]
lines += ["    " + line for line in (out / "device.txt").read_text().splitlines()]
lines += ["", timings.to_markdown(index=False), "", f"{len(rows)} run tables (runs.csv)."]
for name in ("benchmark_steps", "benchmark_large_batches", "benchmark_overhead"):
    md = out / f"{name}.md"
    if md.exists() and md.read_text().strip():
        lines += ["", f"## {name}", "", md.read_text().strip()]
(out / "summary.md").write_text("\n".join(lines) + "\n")
print(f"wrote {out / 'runs.csv'} ({len(rows)} runs) and {out / 'summary.md'}")
EOF
cp -r "$WORK/logs" "$OUT/workflow_logs" 2>/dev/null || true
rm -rf "$WORK" "$SITE"
echo "results: $OUT"
exit $failed
