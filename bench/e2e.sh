#!/usr/bin/env bash
# The end-to-end benchmark suite, one command: builds, runs every configuration on the veth
# lab (bench/lab.rs), writes its table into docs/BENCHMARKS.md and draws the chart
# docs/benchmarks.png. Root required (veth lab, XDP). Env: BENCH_SECS, BENCH_RUNS,
# XDPGRAPH_NO_DPDK=1 (skip the DPDK comparison), BENCH_NO_HUGE=1 (run DPDK without hugepages),
# BENCH_ONLY (`fastpath`: the XDP fast path's comparison alone, written to its own section;
# `jumbo`: 9018-byte frames at MTU 9000, Gbit/s, its own section; `dpdknull`: xdpgraph against
# dpdk-testpmd over net_null devices alone, cross-connect vs io and bridge vs mac forwarding, its
# own section; the full and `dpdk` runs include it; `latency`: one-way latency alone with the
# generator's kernel-stamped probe, more and longer runs, BENCH_LATENCY_SECS, its own section),
# BENCH_SENDER (afxdp,replay,trafficgen).
# The whole output (with the machine, the commit and the load) is kept as raw output in
# bench/results/e2e-<BENCH_ONLY or full>-<UTC date and time>.txt.
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
# xdp-trafficgen, the independent sender (xdp-tools patched for 6.18), when the shared tools
# are beside the repository; without it the suite runs with its own two senders
if [ -z "${XDP_TRAFFICGEN:-}" ] && [ ! -x /opt/xdp-tools-6.18/bin/xdp-trafficgen ] && [ -x ../shared/tools/build-xdp-tools.sh ]; then
    ../shared/tools/build-xdp-tools.sh >/dev/null || echo "xdp-trafficgen not built: the suite runs without it" >&2
fi
mkdir -p bench/results
raw="bench/results/e2e-${BENCH_ONLY:-full}-$(date -u +%Y-%m-%d-%H%M).txt"
{
    echo "# sudo ./bench/e2e.sh at $(date -u '+%Y-%m-%d %H:%M:%S UTC'), commit $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD -- src bpf bench 2>/dev/null || echo ' (with uncommitted changes)'), Linux $(uname -r)"
    echo "# $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs, $(lscpu | sed -n 's/^Hypervisor vendor: *//p') guest; autogroup scheduling $(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null)"
    echo "# env: $(env | grep -E '^(BENCH_|XDPGRAPH_NO_DPDK|XDP_TRAFFICGEN)' | tr '\n' ' ')"
} > "$raw"
cargo bench --bench lab "${features[@]}" 2>&1 | tee -a "$raw"
echo "raw output: $raw"
# the chart shows the full run's medians (and DPDK's): redrawn after those only
case "${BENCH_ONLY:-}" in
    ""|dpdk)
        python3 -c 'import matplotlib' 2>/dev/null || pip install -q matplotlib
        python3 scripts/plot-bench.py bench/results/e2e.csv docs/benchmarks.png
        echo "wrote docs/BENCHMARKS.md and docs/benchmarks.png" ;;
    dpdknull|fastpath|jumbo|latency) echo "wrote the $BENCH_ONLY section of docs/BENCHMARKS.md" ;;
    *) echo "docs/BENCHMARKS.md: written for BENCH_ONLY=fastpath, jumbo, dpdk and dpdknull only" ;;
esac
