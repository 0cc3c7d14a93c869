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
#   xdpgraph gen --engine afxdp  (AF_XDP, copy mode; frames written once: no matcher, one flow)
#   afxdp_tx                     (the bare AF_XDP TX loop, bench/afxdp_tx.rs: the reference)
# then paced replay runs at 10%, 50% and 90% of the replay engine's median unpaced rate, also
# interleaved: the rate at the sink against the rate asked, and how evenly frames came (per
# millisecond at the sink: p1/p50/p99 of frames per ms, and the share of idle milliseconds).
#
# Run it under the bench lock with the machine quiet, after building (it compiles nothing):
#   cargo build --release --bins --example afxdp_tx && /tmp/bq.sh sudo ./bench/gen.sh
# Env: BENCH_ROUNDS, BENCH_SECS (seconds per run, default 3), BENCH_CORE, XDP_TRAFFICGEN.
# Raw output: bench/results/gen-<UTC date and time>.txt; its summary goes between the `gen`
# markers of docs/BENCHMARKS.md (`./bench/gen.sh --section RAW` writes it again from RAW).
set -euo pipefail
cd "$(dirname "$0")/.."
# The summary and the `gen` section of docs/BENCHMARKS.md from a raw output file
# (`./bench/gen.sh --section RAW` rewrites the section from a committed file).
section() {
    python3 - "$1" <<'PY'
import statistics as st, sys
raw = sys.argv[1]
rows, head = [], []
for line in open(raw):
    if line.startswith("# sudo"):
        head.append(line[2:].strip())
    if line.startswith("#") or not line.strip():
        continue
    f = line.rstrip("\n").split("\t")
    if len(f) < 10:
        continue
    num = lambda x: float(x) if x not in ("", "null") else None
    rows.append(dict(label=f[0], pps=float(f[1]), p1=float(f[2]), p50=float(f[3]), p99=float(f[4]),
                     idle=float(f[5]), frames=int(f[6]), sent=num(f[8]), refused=num(f[9])))
by = lambda l: [r for r in rows if r["label"] == l]
tg, rp, ax, bare = by("trafficgen"), by("replay"), by("afxdp"), by("bare-afxdp-tx")
med = lambda rs: st.median(r["pps"] for r in rs) / 1e6
runs = lambda rs: ", ".join(f"{r['pps'] / 1e6:.3f}" for r in rs)
idle = lambda rs: f"{st.median(r['idle'] for r in rs):.1f}%"
refused = lambda rs: "-" if rs[0]["refused"] is None else f"{sum(r['refused'] for r in rs):.0f}"
ratios = [a["pps"] / b["pps"] for a, b in zip(rp, tg)]
out = [f"Measured by {head[0] if head else 'bench/gen.sh'} (raw output `{raw}`): one veth pair, "
       "each sender one thread on core 1 (where the sink's NAPI runs too: veth runs it on the "
       "sending core), 64-byte frames, the runs of each round interleaved. The rates are what the "
       "counting sink (an XDP program that counts and drops, on the peer; `xdpgraph gen --rx-only`) "
       "counted over the window frames came in, sampled every millisecond; \"idle ms\" is the "
       "share of those milliseconds in which nothing arrived. \"Sent\" is what the device accepted "
       "(the veth's `tx_queue_0_xdp_xmit`, `tx_dropped` for the AF_XDP engine); what it refused "
       "is reported apart (`tx_queue_0_xdp_xmit_errors`).", "",
       "| sender | runs (Mpps at the sink) | median | idle ms (median) | refused | goal |",
       "|---|---|---:|---:|---:|---|"]
tgm, rpm, axm = med(tg), med(rp), med(ax)
out.append(f"| xdp-trafficgen `udp -t 1` (xdp-tools 1.4.3, patched for 6.18) | {runs(tg)} | {tgm:.3f} | {idle(tg)} | - | reference |")
out.append(f"| `xdpgraph gen --engine replay` (`BPF_PROG_RUN` live frames) | {runs(rp)} | **{rpm:.3f}** | {idle(rp)} | {refused(rp)} | "
           f"≥ xdp-trafficgen: {rpm / tgm:.2f}x the median, {min(ratios):.2f}x–{max(ratios):.2f}x round by round: "
           f"{'met' if min(ratios) >= 1 else ('met by the median' if rpm >= tgm else 'NOT met')} |")
if bare:
    bm = med(bare)
    br = [a["pps"] / b["pps"] for a, b in zip(ax, bare)]
    out.append(f"| bare AF_XDP TX loop (`bench/afxdp_tx.rs`: one frame written once into every chunk, recycled) | {runs(bare)} | {bm:.3f} | {idle(bare)} | - | reference |")
    goal = (f"≥ the bare AF_XDP TX loop: {axm / bm:.2f}x the median, {min(br):.2f}x–{max(br):.2f}x round by round: "
            f"{'met' if min(br) >= 1 else ('met by the median' if axm >= bm else 'NOT met')}")
else:
    goal = "-"
out.append(f"| `xdpgraph gen --engine afxdp` (copy mode; frames written once: no matcher, one flow, one size) | {runs(ax)} | **{axm:.3f}** | {idle(ax)} | {refused(ax)} | {goal} |")
out += ["", "Paced replay (the program waits for each frame's due time, in groups of at most 16 "
        "frames), at 10%, 50% and 90% of the replay engine's median rate above, interleaved:", "",
        "| asked | at the sink vs asked, per round | worst | per ms p1 / p50 / p99 (median over rounds) | idle ms | goal ±1% |",
        "|---|---|---:|---|---:|---|"]
for pct in (10, 50, 90):
    rs = [r for r in rows if r["label"].startswith(f"replay@{pct}%=")]
    if not rs:
        continue
    asked = float(rs[0]["label"].split("=")[1])
    errs = [(r["pps"] - asked) / asked * 100 for r in rs]
    worst = max(abs(e) for e in errs)
    m = lambda k: st.median(r[k] for r in rs)
    out.append(f"| {pct}%: {asked / 1e6:.3f} Mpps | {', '.join(f'{e:+.3f}%' for e in errs)} | {worst:.3f}% | "
               f"{m('p1'):.0f} / {m('p50'):.0f} / {m('p99'):.0f} (mean {asked / 1e3:.0f}) | {m('idle'):.1f}% | "
               f"{'met' if worst <= 1 else 'NOT met'} |")
md = "\n".join(out) + "\n\n"
print(md)
if True:
    doc = open("docs/BENCHMARKS.md").read()
    b, e = "<!-- gen:begin -->", "<!-- gen:end -->"
    if b in doc and e in doc:
        doc = doc[: doc.index(b)] + b + "\n" + md + doc[doc.index(e):]
        open("docs/BENCHMARKS.md", "w").write(doc)
        print("wrote the gen section of docs/BENCHMARKS.md")
PY
}
if [ "${1:-}" = --section ]; then section "$2"; exit; fi
if [ "$(id -u)" != 0 ]; then exec sudo -E "$0" "$@"; fi
BIN=$PWD/target/release/xdpgraph
BARE=$PWD/target/release/examples/afxdp_tx
[ -x "$BIN" ] && [ -x "$BARE" ] || { echo "build first: cargo build --release --bins --example afxdp_tx" >&2; exit 1; }
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
# no IPv6 (its neighbour discovery and MLD frames after link up would reach the sink, and a
# stray frame before the sender starts would open the sink's window early)
for n in $A $B; do
    ip netns exec $n sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
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
bare() { # one run of the bare AF_XDP TX loop, the sink started first
    sink $((SECS + 2)) /tmp/xgbench$$.json
    local s=$!
    sleep 0.5
    "$BARE" eth0 $A "$MAC_B" "$CORE" "$SECS" >/tmp/xgbench$$.tx.json
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
    bare; record "bare-afxdp-tx" tg
done
med() { awk -v l="$1" -F'\t' '$1 == l {print $2}' "$raw" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
MAX=$(med replay)
for r in $(seq "$ROUNDS"); do
    for pct in 10 50 90; do
        rate=$(awk -v m="$MAX" -v p="$pct" 'BEGIN {printf "%.0f", m * p / 100}')
        ours --engine replay --rate "$rate"; record "replay@$pct%=$rate" ours
    done
done
rm -f /tmp/xgbench$$.json /tmp/xgbench$$.tx.json
section "$raw"
echo "raw output: $raw"
