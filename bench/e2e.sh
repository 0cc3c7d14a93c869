#!/usr/bin/env bash
# The end-to-end benchmark suite, one command: builds, runs every configuration on the veth
# lab (bench/lab.rs), writes its table into docs/BENCHMARKS.md and draws the chart
# docs/benchmarks.png. Root required (veth lab, XDP). Env: BENCH_SECS, BENCH_RUNS,
# XDPGRAPH_NO_DPDK=1 (skip the DPDK comparison), BENCH_NO_HUGE=1 (run DPDK without hugepages).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then exec sudo -E "$0" "$@"; fi
./scripts/setup.sh
# with DPDK installed (setup.sh installs it), the suite also compares xdpgraph on DPDK with
# dpdk-testpmd
features=()
if [ "${XDPGRAPH_NO_DPDK:-0}" != 1 ] && pkg-config --exists libdpdk && command -v dpdk-testpmd >/dev/null; then features=(--features dpdk); fi
# DPDK runs on hugepages, as it is deployed: reserve 1024 x 2 MiB for the run if none are (and
# give them back after). Both DPDK forwarders use the same memory either way.
hp=/proc/sys/vm/nr_hugepages
if [ ${#features[@]} -gt 0 ] && [ "${BENCH_NO_HUGE:-0}" != 1 ] && [ "$(cat $hp)" = 0 ]; then
    echo 1024 > $hp
    trap 'echo 0 > '$hp EXIT
fi
if [ "${BENCH_NO_HUGE:-0}" = 1 ] && [ "$(cat $hp)" != 0 ]; then
    echo "BENCH_NO_HUGE=1 but $(cat $hp) hugepages are reserved: xdpgraph would use them" >&2; exit 1
fi
cargo bench --bench lab "${features[@]}"
python3 -c 'import matplotlib' 2>/dev/null || pip install -q matplotlib
python3 scripts/plot-bench.py bench/results/e2e.csv docs/benchmarks.png
echo "wrote docs/BENCHMARKS.md and docs/benchmarks.png"
