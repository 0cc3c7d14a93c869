#!/usr/bin/env bash
# The end-to-end benchmark suite, one command: builds, runs every configuration on the veth
# lab (bench/lab.rs), writes its table into docs/BENCHMARKS.md and draws the chart
# docs/benchmarks.png. Root required (veth lab, XDP). Env: BENCH_SECS, BENCH_RUNS.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then exec sudo -E "$0" "$@"; fi
./scripts/setup.sh
cargo bench --bench lab
python3 -c 'import matplotlib' 2>/dev/null || pip install -q matplotlib
python3 scripts/plot-bench.py bench/results/e2e.csv docs/benchmarks.png
echo "wrote docs/BENCHMARKS.md and docs/benchmarks.png"
