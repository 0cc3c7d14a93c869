#!/usr/bin/env bash
# Runs the cargo-fuzz targets in fuzz/ (needs rustup's nightly toolchain; installs cargo-fuzz
# when missing). Usage:
#   scripts/fuzz.sh [SECONDS] [TARGET...]     each target for SECONDS (default 20), on its corpus
#   FUZZ_RUNS=10000000 scripts/fuzz.sh 0 graph   a fixed number of executions instead
# Targets: ctl_line (ctl grammar + value parser on a live graph), node_msg (every type's
# messages with arbitrary arguments), wire (the header views), graph (frames and edits through
# ether/vlan/bridge/tee/hole, with the frame balance checked). Without sanitizers (-s none):
# the crate's unsafe code is tested under Miri and loom; libFuzzer here hunts panics, hangs and
# broken invariants, several times faster. FUZZ_SANITIZER=address turns ASan on.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${1:-20}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(ctl_line node_msg wire graph)
if ! rustup toolchain list 2>/dev/null | grep -q nightly; then
    echo "fuzz.sh: rustup's nightly toolchain is missing (rustup toolchain install nightly)" >&2
    exit 1
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
san=${FUZZ_SANITIZER:-none}
cargo +nightly fuzz build -O -s "$san" 2>&1 | tail -1
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    # new inputs go to a scratch copy: the committed corpus stays small
    work=$(mktemp -d)
    cp -r "corpus/$t/." "$work/"
    if [ -n "${FUZZ_RUNS:-}" ]; then
        limit=(-runs="$FUZZ_RUNS"); what="$FUZZ_RUNS runs"
    else
        limit=(-max_total_time="$secs"); what="$secs s"
    fi
    echo "== fuzz $t ($what)"
    if ! cargo +nightly fuzz run -O -s "$san" "$t" "$work" -- "${limit[@]}" -rss_limit_mb=4096 \
        -print_final_stats=1 2> "$work.log"; then
        grep -E "ERROR|panicked|SUMMARY|Test unit written" "$work.log" >&2 || tail -20 "$work.log" >&2
        echo "fuzz $t: FAILED (crash input in fuzz/artifacts/$t/)" >&2
        exit 1
    fi
    grep -E "^Done|stat::number_of_executed_units|stat::peak_rss_mb" "$work.log"
    rm -rf "$work" "$work.log"
done
