#!/usr/bin/env bash
# The traffic generator against xdp-trafficgen (issue 16): one veth pair, the sender in one
# namespace, the sink in the other (`xdpgraph gen --rx-only`: xdpgraph's XDP program that
# counts and drops, on the peer; the rate is what it counted over the window frames came in,
# sampled every millisecond). Every sender runs one thread on core $BENCH_CORE (default 1),
# where the sink's NAPI runs too (veth runs it on the sending core), 64-byte frames.
#
# Interleaved rounds ($BENCH_ROUNDS, default 5), each:
#   xdp-trafficgen udp -t 1      (xdp-tools 1.4.3 patched for 6.18: ../shared/tools/build-xdp-tools.sh)
#   xdpgraph gen --engine replay (BPF_PROG_RUN live frames, as xdp-trafficgen)
#   xdpgraph gen --engine afxdp  (AF_XDP, every frame stamped and checksummed)
# then paced replay runs at 10%, 50% and 90% of the replay engine's median unpaced rate, also
# interleaved: the rate at the sink against the rate asked, and how evenly frames came (per
# millisecond at the sink: p1/p50/p99 of frames per ms, and the share of idle milliseconds).
#
# Run it under the bench lock with the machine quiet, after building (it compiles nothing):
#   cargo build --release && /tmp/bq.sh sudo ./bench/gen.sh
# Env: BENCH_ROUNDS, BENCH_SECS (seconds per run, default 3), BENCH_CORE, XDP_TRAFFICGEN.
# Raw output: bench/results/gen-<UTC date and time>.txt (the summary table at its end).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then exec sudo -E "$0" "$@"; fi
BIN=$PWD/target/release/xdpgraph
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 1; }
TG=${XDP_TRAFFICGEN:-/opt/xdp-tools-6.18/bin/xdp-trafficgen}
[ -x "$TG" ] || { echo "no xdp-trafficgen at $TG (../shared/tools/build-xdp-tools.sh builds it)" >&2; exit 1; }
ROUNDS=${BENCH_ROUNDS:-5}
SECS=${BENCH_SECS:-3}
CORE=${BENCH_CORE:-1}
A=xgbench$$a
B=xgbench$$b
TGPID=
cleanup() {
    [ -n "$TGPID" ] && kill -INT "$TGPID" 2>/dev/null && wait "$TGPID" 2>/dev/null || true
    ip netns del $A 2>/dev/null || true
    ip netns del $B 2>/dev/null || true
}
trap cleanup EXIT
ip netns add $A
ip netns add $B
ip link add xgb$$0 netns $A type veth peer name xgb$$1 netns $B
ip -n $A link set xgb$$0 name eth0
ip -n $B link set xgb$$1 name eth0
ip -n $A link set eth0 up
ip -n $B link set eth0 up
MAC_A=$(ip -n $A -br link show eth0 | awk '{print $3}')
MAC_B=$(ip -n $B -br link show eth0 | awk '{print $3}')
ends=(--tx eth0 --tx-netns $A --rx eth0 --rx-netns $B)
raw="bench/results/gen-$(date -u +%Y-%m-%d-%H%M).txt"
mkdir -p bench/results
{
    echo "# sudo ./bench/gen.sh at $(date -u '+%Y-%m-%d %H:%M:%S UTC'), commit $(git rev-parse --short HEAD)$(git diff --quiet || echo '+changes'), Linux $(uname -r), $(nproc) CPUs"
    echo "# rounds $ROUNDS, $SECS s per run, senders on core $CORE; xdp-trafficgen: $TG"
} >"$raw"

# the sink alone for $1 seconds, in the background; its JSON goes to $2
sink() { "$BIN" gen "${ends[@]}" --rx-only --duration "$1" --json >"$2" & }
# a sink report's fields: pps p1 p50 p99 idle% frames bytes
fields() { jq -r '[.sink.pps, .sink.per_ms.p1, .sink.per_ms.p50, .sink.per_ms.p99, .sink.per_ms.idle_share * 100, .sink.frames, .rx.bytes] | @tsv' "$1"; }

trafficgen() { # one run: xdp-trafficgen sending, the sink counting for $SECS once it is pinned
    ip netns exec $A "$TG" udp eth0 -m "$MAC_B" -M "$MAC_A" -t 1 -I 60 >/dev/null 2>&1 &
    TGPID=$!
    # it loads its programs, then starts its sending thread, which pins itself to core 0
    for _ in $(seq 100); do [ "$(ls /proc/$TGPID/task 2>/dev/null | wc -l)" -ge 2 ] && break; sleep 0.05; done
    sleep 0.2
    taskset -a -p -c "$CORE" "$TGPID" >/dev/null
    sleep 0.3
    sink "$SECS" /tmp/xgbench$$.json
    wait $!
    kill -INT "$TGPID"; wait "$TGPID" 2>/dev/null || true
    TGPID=
}
ours() { # one run of xdpgraph gen with the arguments given, the sink started first
    sink $((SECS + 2)) /tmp/xgbench$$.json
    local s=$!
    sleep 0.5
    "$BIN" gen --tx eth0 --tx-netns $A --dst-mac "$MAC_B" --core "$CORE" --duration "$SECS" --json "$@" >/tmp/xgbench$$.tx.json
    wait $s
}
record() { # label: the sink's figures (and the sender's own count, for ours)
    local f
    f=$(fields /tmp/xgbench$$.json)
    local sent="" refused=""
    if [ "$2" = ours ]; then
        sent=$(jq -r .tx.frames /tmp/xgbench$$.tx.json)
        refused=$(jq -r .tx.refused /tmp/xgbench$$.tx.json)
    fi
    printf '%s\t%s\t%s\t%s\n' "$1" "$f" "$sent" "$refused" | tee -a "$raw"
}

echo "# label	sink_pps	per_ms_p1	per_ms_p50	per_ms_p99	idle_ms_pct	sink_frames	sink_bytes	sent	refused" | tee -a "$raw"
for r in $(seq "$ROUNDS"); do
    trafficgen; record "trafficgen" tg
    ours --engine replay; record "replay" ours
    ours --engine afxdp; record "afxdp" ours
done
med() { awk -v l="$1" -F'\t' '$1 == l {print $2}' "$raw" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
MAX=$(med replay)
for r in $(seq "$ROUNDS"); do
    for pct in 10 50 90; do
        rate=$(awk -v m="$MAX" -v p="$pct" 'BEGIN {printf "%.0f", m * p / 100}')
        ours --engine replay --rate "$rate"; record "replay@$pct%=$rate" ours
    done
done
{
    echo
    echo "## medians ($ROUNDS rounds)"
    tg=$(med trafficgen); rp=$(med replay); ax=$(med afxdp)
    awk -v tg="$tg" -v rp="$rp" -v ax="$ax" 'BEGIN {
        printf "xdp-trafficgen %.3f Mpps, replay %.3f Mpps (%.3fx), afxdp %.3f Mpps\n", tg/1e6, rp/1e6, rp/tg, ax/1e6 }'
    for pct in 10 50 90; do
        l=$(awk -F'\t' -v p="replay@$pct%=" 'index($1, p) == 1 {print $1; exit}' "$raw")
        asked=${l##*=}
        awk -F'\t' -v l="$l" -v a="$asked" '$1 == l {n++; e = ($2 - a) / a * 100; s = s sprintf(" %+.3f%%", e);
            if (e < 0) e = -e; if (e > w) w = e; p1 = p1 " " $3; p99 = p99 " " $5; idle = idle " " $6}
            END {printf "paced %s: at the sink vs asked:%s (worst %.3f%%); per-ms p1:%s p99:%s idle%%:%s\n", l, s, w, p1, p99, idle}' "$raw"
    done
} | tee -a "$raw"
rm -f /tmp/xgbench$$.json /tmp/xgbench$$.tx.json
echo "raw output: $raw"
