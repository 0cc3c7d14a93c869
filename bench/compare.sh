#!/usr/bin/env bash
# The in-memory graph benchmark of this tree against a reference commit, both built from this
# tree's benchmark source (bench/graph.rs) over each one's library: instructions per frame
# (callgrind inside Worker::poll, exact) and Mpps on one core (interleaved rounds, medians).
#   bench/compare.sh build REF          # exports REF, builds both bench binaries (nice, -j1)
#   /tmp/bq.sh bench/compare.sh run | tee bench/results/compare-$(date -u +%F).txt
# (run on a quiet machine: the Mpps rounds are timing; ROUNDS=5, N=200000 frames for callgrind)
set -euo pipefail
cd "$(dirname "$0")/.."
D=target/compare
TOP=$PWD
ROUNDS=${ROUNDS:-5}
N=${N:-200000}
TOPOS=("ether→ether" "learned unicast" "ether→vlan→bridge→ether" "tee fan-out" "capture on link1" "16 sources")
MPPS_TOPOS=("ether→ether" "learned unicast" "16 sources")

# the bench binary of the package in $1, built in target directory $2 (the reference needs a
# directory of its own: its artifacts would have the same names as this tree's and overwrite
# them, and cargo would then take either for the other as up to date)
bench_bin() {
    (cd "$1" && CARGO_TARGET_DIR="$2" nice -n 10 cargo bench -j1 --bench graph --no-run \
        --message-format=json 2>/dev/null | grep -F '"kind":["bench"],"crate_types":["bin"],"name":"graph"' |
        grep -o '"executable":"[^"]*"' | tail -1 | cut -d'"' -f4)
}

case "${1:-}" in
build)
    ref=$(git rev-parse --short "${2:?REF}")
    rm -rf "$D/src" && mkdir -p "$D/src"
    git archive "$ref" | tar -x -C "$D/src"
    cp bench/graph.rs "$D/src/bench/graph.rs"
    cp "$(bench_bin "$D/src" "$TOP/$D/target")" "$D/ref-bench"
    cp "$(bench_bin . "$TOP/target")" "$D/new-bench"
    echo "$ref" >"$D/ref"
    echo "$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src bench/graph.rs build.rs Cargo.toml Cargo.lock || echo -dirty)" >"$D/new"
    echo "built $D/ref-bench ($ref) and $D/new-bench ($(cat "$D/new"))"
    ;;
run)
    command -v valgrind >/dev/null || apt-get install -y -qq valgrind >/dev/null
    echo "# bench/compare.sh run: reference $(cat "$D/ref"), this tree $(cat "$D/new"); $(date -u '+%Y-%m-%d %H:%M') UTC; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) CPUs"
    raw=$(mktemp)
    for t in "${TOPOS[@]}"; do
        for b in ref new; do
            out=$(mktemp)
            BENCH_COUNT=$N BENCH_ONLY="$t" BENCH_DESIGN=epoch valgrind --tool=callgrind \
                --callgrind-out-file="$out" --collect-atstart=no \
                --toggle-collect='xdpgraph::graph::worker::Worker::poll' "$D/$b-bench" >/dev/null 2>&1
            ir=$(grep '^summary:' "$out" | awk '{print $2}')
            rm -f "$out"
            echo "instructions $b: $t: $(awk -v i="$ir" -v n="$N" 'BEGIN{printf "%.1f", i/n}')" | tee -a "$raw"
        done
    done
    for r in $(seq "$ROUNDS"); do
        for b in ref new; do
            for t in "${MPPS_TOPOS[@]}"; do
                row=$(BENCH_ONLY="$t" BENCH_EPOCH_ONLY=1 BENCH_RUNS=1 BENCH_SECS=2 taskset -c 0,1 \
                    "$D/$b-bench" 2>&1 | grep '^| ether')
                echo "round $r $b: $row" | tee -a "$raw"
            done
        done
    done
    echo
    python3 - "$raw" "$N" "$ROUNDS" <<'PY'
import sys, statistics as st, collections
instr, mpps = {}, collections.defaultdict(dict)
for line in open(sys.argv[1]):
    head, rest = line.split(": ", 1)
    if head.startswith("instructions"):
        topo, v = rest.rsplit(": ", 1)
        instr[(topo, head.split()[1])] = float(v)
    else:
        r, b = int(head.split()[1]), head.split()[2]
        cells = [c.strip() for c in rest.strip().strip("|").split("|")]
        mpps[(cells[0], b)][r] = float(cells[2])
print(f"Instructions per frame in Worker::poll (callgrind, N={sys.argv[2]}, epoch design):\n")
print("| topology | reference | this tree | change |")
print("|---|---:|---:|---:|")
for topo in dict.fromkeys(t for t, _ in instr):
    a, b = instr[(topo, "ref")], instr[(topo, "new")]
    print(f"| {topo} | {a:.1f} | {b:.1f} | {(b / a - 1) * 100:+.1f}% |")
print(f"\nIdle Mpps on one core (medians of {sys.argv[3]} interleaved rounds, 2 s each):\n")
print("| topology | reference | this tree | ratio of medians | per-round ratios |")
print("|---|---:|---:|---:|---|")
for topo in dict.fromkeys(t for t, _ in mpps):
    a, b = mpps[(topo, "ref")], mpps[(topo, "new")]
    per = sorted(b[r] / a[r] for r in a if r in b)
    ma, mb = st.median(a.values()), st.median(b.values())
    print(f"| {topo} | {ma:.2f} | {mb:.2f} | {mb / ma:.2f}x | {per[0]:.2f}–{per[-1]:.2f}x |")
PY
    rm -f "$raw"
    ;;
*)
    echo "usage: $0 build REF | run" >&2
    exit 2
    ;;
esac
