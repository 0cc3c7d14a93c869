#!/usr/bin/env bash
# RFC 2889 on the veth lab: address caching capacity (§5.7) and address learning rate (§5.8)
# of the xdpgraph bridge (the daemon with its defaults, worker on core 0) and of the Linux
# bridge, measured by `xdpgraph gen --rfc2889` (sender on core 1), the table cleared before
# every trial (`ctl msg br0: reset`; `ip link set BR type bridge fdb_flush`). Root required.
# The Linux bridge's receive work is steered to core 0 by RPS (the sender has core 1), as
# xdpgraph's worker is pinned there. Env: RFC2889_CACHING (addresses tried, default 16384),
# RFC2889_LEARNING (default 8192: more than the 4096 frames an AF_XDP ring holds, so that a
# burst is not simply buffered).
# Raw output: bench/results/rfc2889-<UTC date and time>.txt; the table goes between the
# `rfc2889` markers of docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then exec sudo -E "$0" "$@"; fi
cargo build --release -q
BIN=$PWD/target/release/xdpgraph
P=r89
SOCK=/tmp/xdpgraph-rfc2889-$$.sock
CACHING=${RFC2889_CACHING:-16384}
LEARNING=${RFC2889_LEARNING:-8192}
cleanup() {
    [ -n "${DAEMON:-}" ] && kill "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null || true
    ip link del ${P}br 2>/dev/null || true
    "$BIN" lab down --prefix $P >/dev/null 2>&1 || true
    rm -f "$SOCK" "$SOCK.ngctl"
}
trap cleanup EXIT
"$BIN" lab up --ports 3 --prefix $P --no-addresses >/dev/null
ports=(--tx eth0 --tx-netns ${P}ns0 --rx eth0 --rx-netns ${P}ns1 --monitor eth0 --monitor-netns ${P}ns2 --core 1 --json --quiet)
raw="bench/results/rfc2889-$(date -u +%Y-%m-%d-%H%M).txt"
mkdir -p bench/results
{
    echo "# sudo ./bench/rfc2889.sh at $(date -u '+%Y-%m-%d %H:%M:%S UTC'), commit $(git rev-parse --short HEAD), Linux $(uname -r), $(nproc) CPUs"
    echo "# caching: up to $CACHING addresses at 10000 frames/s; learning: $LEARNING addresses"
} >"$raw"
run() { # name test addresses between
    echo "## $1 $2" >>"$raw"
    "$BIN" gen "${ports[@]}" --rfc2889 "$2" --addresses "$3" --between "$4" | tee -a "$raw"
}
# xdpgraph
sed "s/xg/$P/g" scripts/bridge3.ngctl >"$SOCK.ngctl"
"$BIN" run --iface ${P}0 --iface ${P}1 --iface ${P}2 --cores 0 --socket "$SOCK" -f "$SOCK.ngctl" >/dev/null 2>&1 &
DAEMON=$!
for _ in $(seq 100); do "$BIN" ctl --socket "$SOCK" list >/dev/null 2>&1 && break; sleep 0.1; done
reset="$BIN ctl --socket $SOCK msg br0: reset"
run xdpgraph caching "$CACHING" "$reset"
run xdpgraph learning "$LEARNING" "$reset"
kill "$DAEMON"; wait "$DAEMON" 2>/dev/null || true; DAEMON=
# Linux bridge
ip link add ${P}br type bridge
for i in 0 1 2; do ip link set ${P}$i master ${P}br; done
ip link set ${P}br up
for i in 0 1 2; do echo 1 >/sys/class/net/${P}$i/queues/rx-0/rps_cpus; done
flush="ip link set ${P}br type bridge fdb_flush"
run linux-bridge caching "$CACHING" "$flush"
run linux-bridge learning "$LEARNING" "$flush"
python3 - "$raw" <<'PY'
import json, re, sys
raw = sys.argv[1]
rows, cur = {}, None
for line in open(raw):
    if line.startswith("## "):
        cur = line[3:].split()
    elif line.startswith("{") and cur:
        r = json.loads(line)["rfc2889"]
        rows.setdefault(cur[0], {})[cur[1]] = r
def cell(r, k):
    return f"{r[k]:.0f}" if r else "-"
md = f"Measured by `sudo ./bench/rfc2889.sh` (raw output `{raw}`): the table cleared before every trial; xdpgraph with the daemon's defaults, worker on core 0; the Linux bridge's receive work steered to core 0 by RPS; the sender on core 1. Caching: addresses learned at 10,000 frames/s; learning: the highest rate at which every address is learned (the first trial unpaced: when it passes, the rate is the sender's, a lower bound).\n\n"
md += "| bridge | address caching capacity (addresses) | address learning rate (addresses/s) | trials (caching / learning) |\n|---|---:|---:|---|\n"
for name, t in rows.items():
    c, l = t.get("caching"), t.get("learning")
    md += f"| {name} | {cell(c, 'caching_capacity')} | {cell(l, 'learning_rate')} | {len(c['trials']) if c else 0} / {len(l['trials']) if l else 0} |\n"
md += "\n"
doc = open("docs/BENCHMARKS.md").read()
b, e = "<!-- rfc2889:begin -->", "<!-- rfc2889:end -->"
if b in doc and e in doc:
    doc = doc[: doc.index(b)] + b + "\n" + md + doc[doc.index(e):]
    open("docs/BENCHMARKS.md", "w").write(doc)
    print("wrote the rfc2889 section of docs/BENCHMARKS.md")
print(md)
PY
echo "raw output: $raw"
