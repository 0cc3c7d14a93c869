#!/usr/bin/env bash
# Scaling across cores in memory (issue 16): the graph benchmark (bench/graph.rs) with one worker
# and with two (BENCH_WORKERS=2: cores 0 and 1, each with its own generator and sinks on the same
# ports), interleaved, ROUNDS rounds; prints the raw rows and the medians and ratios.
#   ROUNDS=5 ./bench/scaling.sh | tee bench/results/graph-scaling-$(date -u +%F).txt
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
B=$(cargo bench --bench graph --no-run --message-format=json 2>/dev/null |
    grep -F '"kind":["bench"],"crate_types":["bin"],"name":"graph"' |
    grep -o '"executable":"[^"]*"' | tail -1 | cut -d'"' -f4)
echo "# BENCH_WORKERS=1 and 2 (interleaved, $ROUNDS rounds), BENCH_EPOCH_ONLY=1 BENCH_RUNS=1 BENCH_SECS=2, $(date -u '+%Y-%m-%d %H:%M') UTC, commit $(git rev-parse --short HEAD), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) CPUs; the bench's main thread (sleeping between checks) on core 1"
raw=$(mktemp)
for r in $(seq "$ROUNDS"); do
    for w in 1 2; do
        for t in "ether→ether" "learned unicast"; do
            row=$(BENCH_WORKERS=$w BENCH_ONLY="$t" BENCH_EPOCH_ONLY=1 BENCH_RUNS=1 BENCH_SECS=2 "$B" 2>&1 | grep '^| ether')
            echo "round $r workers $w: $row" | tee -a "$raw"
        done
    done
done
echo
echo "| topology | 1 worker, Mpps (median) | 2 workers, Mpps (median) | ratio of medians | median of per-round ratios |"
echo "|---|---:|---:|---:|---:|"
python3 - "$raw" <<'PY'
import sys, statistics as st, collections
rows = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    head, row = line.split(": ", 1)
    r, w = int(head.split()[1]), int(head.split()[3])
    cells = [c.strip() for c in row.strip().strip("|").split("|")]
    rows[(cells[0], w)][r] = float(cells[2])
for topo in sorted({t for t, _ in rows}):
    one, two = rows[(topo, 1)], rows[(topo, 2)]
    per = [two[r] / one[r] for r in one if r in two]
    m1, m2 = st.median(one.values()), st.median(two.values())
    print(f"| {topo} | {m1:.2f} | {m2:.2f} | {m2 / m1:.2f}x | {st.median(per):.2f}x |")
PY
rm -f "$raw"
