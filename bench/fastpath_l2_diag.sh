#!/bin/bash
# bench/fastpath_l2_diag.sh: what reading the frame costs the forwarding core (issue 13's
# remaining gap with xdp-trafficgen). Two rounds, interleaved, of: the in-kernel redirect as the
# fast-path bench's reference (xdpgraph_redirect: no read of the frame), the same redirect after
# reading both MACs (xdpgraph_redirect_l2, bpf/bench.bpf.c), each beside the fast path; sender
# xdp-trafficgen; with BPF run-time statistics on (which add ~10 ns to every program run).
# Run as root after `cargo build --release --bench lab`; output on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
B=./target/release/deps/$(ls -t target/release/deps | grep '^lab-[0-9a-f]*$' | head -1)
for r in 1 2; do for p in xdpgraph_redirect xdpgraph_redirect_l2; do
  echo "== $p round $r"
  BENCH_REDIRECT_PROG=$p BENCH_ONLY=xdp-redirect,xdpgraph-bridge-fastpath BENCH_SENDER=trafficgen \
    BENCH_RUNS=1 BENCH_NO_WRITE=1 XDPGRAPH_NO_DPDK=1 BENCH_PROG_STATS=1 "$B" --bench 2>&1 |
    grep -E "^  (xdp-redirect|xdpgraph-bridge-fastpath) \(|ns per run" | sed 's/, latency.*CPU/ CPU/'
done; done
