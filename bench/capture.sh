#!/usr/bin/env bash
# The capture's cost (issue 15), and its section of docs/BENCHMARKS.md.
#
#   bench/capture.sh throughput [OUT]   the in-memory learned bridge with and without a capture
#       (`inout`, whole frames) on its busy hook: bench/graph.rs, ROUNDS (default 5) rounds, each
#       running both back to back; raw output to OUT (default
#       bench/results/graph-capture-<date>.txt). Needs a quiet machine: run it through the
#       benchmark queue (/tmp/bq.sh), which also pauses valgrind — hence the separate step:
#   bench/capture.sh instructions [OUT] callgrind's instructions per frame in Worker::poll
#       (scripts/bench-instructions.sh's method, N frames), without and with the capture; with
#       BASE=<commit>, also that commit's count without (built from `git archive` in a temporary
#       directory, with its own target/base/). Raw output to OUT (default
#       bench/results/instructions-capture-<date>.txt).
#   bench/capture.sh section TFILE IFILE   writes the tables from those two raw outputs between
#       the `capture` markers of docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=$(date -u +%F-%H%M)
head_line() {
    echo "$(date -u '+%Y-%m-%d %H:%M') UTC, commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src bench/graph.rs || echo ' + the working tree'), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) CPUs"
}
# the benchmark's executable, built in directory $1 (tests/graph.rs makes a graph-* binary too)
bench_exe() {
    (cd "$1" && cargo bench --bench graph --no-run 2>&1) |
        sed -n 's/.*Executable bench\/graph\.rs (\(.*\))$/\1/p' | tail -1
}
# instructions per frame of topology $2 in executable $1 (epoch design)
count() {
    local out ir
    out=$(mktemp)
    BENCH_COUNT=$N BENCH_ONLY="$2" BENCH_DESIGN=epoch valgrind --tool=callgrind --callgrind-out-file="$out" \
        --collect-atstart=no --toggle-collect='xdpgraph::graph::worker::Worker::poll' "$1" >/dev/null 2>&1
    ir=$(grep '^summary:' "$out" | awk '{print $2}')
    rm -f "$out"
    awk -v i="$ir" -v n="$N" 'BEGIN{printf "%.1f", i/n}'
}

case "${1:-}" in
throughput)
    out=${2:-bench/results/graph-capture-$stamp.txt}
    ROUNDS=${ROUNDS:-5}
    B=$(bench_exe .)
    [ -x "$B" ] || { echo "capture.sh: no benchmark executable" >&2; exit 1; }
    {
        echo "# BENCH_ONLY=ether→bridge→ether BENCH_EPOCH_ONLY=1 BENCH_RUNS=$ROUNDS BENCH_SECS=2 (bench/capture.sh throughput), $(head_line); worker on core 0, the capture's reader (draining as the control server does) on core 1"
        BENCH_ONLY=ether→bridge→ether BENCH_EPOCH_ONLY=1 BENCH_RUNS=$ROUNDS BENCH_SECS=2 "$B"
    } | tee "$out"
    ;;
instructions)
    out=${2:-bench/results/instructions-capture-$stamp.txt}
    N=${N:-200000}
    command -v valgrind >/dev/null || { echo "capture.sh: valgrind is not installed" >&2; exit 1; }
    B=$(bench_exe .)
    [ -x "$B" ] || { echo "capture.sh: no benchmark executable" >&2; exit 1; }
    {
        echo "# bench/capture.sh instructions, N=$N, callgrind in Worker::poll, $(head_line)"
        echo "no capture: $(count "$B" "learned unicast")"
        echo "capture: $(count "$B" "capture on link1")"
        if [ -n "${BASE:-}" ]; then
            d=$(mktemp -d)
            git archive "$BASE" | tar -x -C "$d"
            # unpacked files are dated the commit's time: cargo would take them for unchanged
            # and run the last build's binary; dated now, they are rebuilt. In a target
            # directory of its own, so that this tree's build is never taken for the base's.
            find "$d" -exec touch {} +
            Bb=$(CARGO_TARGET_DIR="$PWD/target/base" bench_exe "$d")
            rm -rf "$d"
            [ -x "$Bb" ] || { echo "capture.sh: no benchmark executable for $BASE" >&2; exit 1; }
            echo "base $(git rev-parse --short "$BASE") no capture: $(count "$Bb" "learned unicast")"
            echo "base $(git rev-parse --short "$BASE") capture: $(count "$Bb" "capture on link1")"
        fi
    } | tee "$out"
    ;;
section)
    [ -f "${2:-}" ] && [ -f "${3:-}" ] || { echo "usage: $0 section TFILE IFILE" >&2; exit 2; }
    python3 - "$2" "$3" <<'PY'
import re, sys
tfile, ifile = sys.argv[1], sys.argv[2]
t, i = open(tfile).read(), open(ifile).read()
th = t.splitlines()[0].lstrip("# ")
m = re.search(r"capture on the bridge's busy hook: ([\d.]+) Mpps/core against ([\d.]+) without \(([\d.]+)x\); copies read (\d+), dropped (\d+)", t)
with_, without, ratio, read, dropped = float(m[1]), float(m[2]), float(m[3]), int(m[4]), int(m[5])
rounds = re.findall(r"capture round \d+: ([\d.]+) Mpps/core against ([\d.]+) without \(([\d.]+)x\)", t)
per = float(re.search(r"capture median of the per-round ratios: ([\d.]+)x", t)[1])
counts = dict(re.findall(r"^(.*?): ([\d.]+)$", i, re.M))
ih = i.splitlines()[0].lstrip("# ")
goal = "met" if ratio >= 0.9 and per >= 0.9 else "not met"
lines = [
    f"`bench/capture.sh throughput` (raw output `{tfile}`: {th}; medians of {len(rounds)} rounds):",
    "",
    "| case | idle Mpps/core | ratio |",
    "|---|---:|---:|",
    f"| learned bridge, no capture | {without:.2f} | 1.00x |",
    f"| learned bridge, one capture (`inout`, whole frames) on the busy hook link1 | {with_:.2f} | **{ratio:.3f}x** (goal 0.9x: {goal}) |",
    "",
    "Each round ran the two back to back; the per-round ratios were "
    + ", ".join(f"{float(r[2]):.3f}" for r in rounds)
    + f" (median {per:.3f}x; {sum(float(r[2]) < 0.9 for r in rounds)} of {len(rounds)} below 0.9x). Over the idle and churn runs the capture's reader copied {read:,}"
    f" frames and missed {dropped:,} (dropped copies, counted; every frame was forwarded).",
    "",
    f"`bench/capture.sh instructions` (raw output `{ifile}`: {ih}):",
    "",
    "| case | instructions/frame |",
    "|---|---:|",
]
what = {"no capture": "no capture on", "capture": "one capture on the busy hook (every frame copied)"}
for k, v in counts.items():
    if k.startswith("base "):
        _, rev, w = k.split(" ", 2)
        label = f"learned bridge at {rev} (without this work), {what.get(w, w)}"
    else:
        label = f"learned bridge, {what.get(k, k)}"
    lines.append(f"| {label} | {float(v):.1f} |")
body = "\n".join(lines) + "\n"
path = "docs/BENCHMARKS.md"
doc = open(path).read()
b, e = "<!-- capture:begin -->", "<!-- capture:end -->"
x, y = doc.find(b), doc.find(e)
if x < 0 or y < 0:
    sys.exit(f"{path} has no capture markers")
open(path, "w").write(doc[:x] + b + "\n" + body + doc[y:])
print(f"wrote the capture section of {path}", file=sys.stderr)
PY
    ;;
*)
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
