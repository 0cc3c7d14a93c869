#!/usr/bin/env bash
# Instructions per frame for each in-process benchmark topology and both designs, counted by
# callgrind inside Worker::poll (deterministic: immune to the machine's timing noise).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { apt-get install -y -qq valgrind >/dev/null; }
# the benchmark's own binary (tests/graph.rs builds a graph-* binary too: not the newest file)
B=$(cargo bench --bench graph --no-run --message-format=json 2>/dev/null |
    grep -F '"kind":["bench"],"crate_types":["bin"],"name":"graph"' |
    grep -o '"executable":"[^"]*"' | tail -1 | cut -d'"' -f4)
[ -x "$B" ] || { echo "no benchmark binary" >&2; exit 1; }
N=${N:-200000}
echo "| topology | epoch: instructions/frame | RwLock baseline: instructions/frame |"
echo "|---|---:|---:|"
for topo in "ether→ether" "learned unicast" "ether→vlan→bridge→ether" "tee fan-out"; do
    row="| $topo |"
    for design in epoch rwlock; do
        out=$(mktemp)
        BENCH_COUNT=$N BENCH_ONLY="$topo" BENCH_DESIGN=$design valgrind --tool=callgrind --callgrind-out-file="$out" \
            --collect-atstart=no --toggle-collect='xdpgraph::graph::worker::Worker::poll' "$B" >/dev/null 2>&1
        ir=$(grep '^summary:' "$out" | awk '{print $2}')
        rm -f "$out"
        row="$row $(awk -v i="$ir" -v n="$N" 'BEGIN{printf "%.1f", i/n}') |"
    done
    echo "$row"
done
# The learned bridge with a capture on its busy hook (epoch design only; the bench drains the
# capture between polls, outside the counted function, so every frame is copied).
out=$(mktemp)
BENCH_COUNT=$N BENCH_ONLY="capture on link1" BENCH_DESIGN=epoch valgrind --tool=callgrind --callgrind-out-file="$out" \
    --collect-atstart=no --toggle-collect='xdpgraph::graph::worker::Worker::poll' "$B" >/dev/null 2>&1
ir=$(grep '^summary:' "$out" | awk '{print $2}')
rm -f "$out"
echo "| learned unicast, capture (inout) on the busy hook | $(awk -v i="$ir" -v n="$N" 'BEGIN{printf "%.1f", i/n}') | — |"
# The learned bridge with every frame from another source than the one before (16 sources in
# turn, one destination): each frame is decided on its own (epoch design only).
out=$(mktemp)
BENCH_COUNT=$N BENCH_ONLY="16 sources" BENCH_DESIGN=epoch valgrind --tool=callgrind --callgrind-out-file="$out" \
    --collect-atstart=no --toggle-collect='xdpgraph::graph::worker::Worker::poll' "$B" >/dev/null 2>&1
ir=$(grep '^summary:' "$out" | awk '{print $2}')
rm -f "$out"
echo "| learned unicast, 16 sources in turn | $(awk -v i="$ir" -v n="$N" 'BEGIN{printf "%.1f", i/n}') | — |"
