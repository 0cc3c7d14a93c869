#!/usr/bin/env bash
# The main job, on the built-in veth lab (no NIC needed): builds xdpgraph, brings up a lab of
# three veth ports whose far ends sit in their own namespaces, runs xdpgraph with a bridge
# across the three, shows ping working through it, takes a port off the bridge live (its ping
# stops), puts it back (it resumes), and tears everything down.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then exec sudo -E "$0" "$@"; fi
./scripts/setup.sh
cargo build --release
X=./target/release/xdpgraph
SOCK=/run/xdpgraph/demo.sock
ncpu=$(nproc)
if [ "$ncpu" -ge 2 ]; then CORES=0,1; Q=2; else CORES=0; Q=1; fi

PID=
cleanup() {
    if [ -n "$PID" ]; then kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
    "$X" lab down >/dev/null 2>&1 || true
}
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
ctl() { echo "+ xdpgraph ctl $*"; "$X" ctl --socket "$SOCK" "$@"; }
ping_from() { # ns-index target-ip
    if ip netns exec "xgns$1" ping -n -c 3 -i 0.2 -W 1 "$2" >/tmp/xdpgraph-demo-ping 2>&1; then
        echo "  ping xgns$1 -> $2: $(grep -o '[0-9]* received' /tmp/xdpgraph-demo-ping)"; return 0
    else
        echo "  ping xgns$1 -> $2: no reply"; return 1
    fi
}

step "lab: three veth ports (xg0..xg2), far ends in namespaces xgns0..xgns2"
"$X" lab up --ports 3 --queues "$Q"

step "xdpgraph run on cores $CORES, bridge br0 across xg0 xg1 xg2 (scripts/bridge3.ngctl)"
"$X" run --iface xg0 --iface xg1 --iface xg2 --cores "$CORES" --socket "$SOCK" -f scripts/bridge3.ngctl &
PID=$!
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
ctl list
ctl show br0:

step "ping through the bridge"
ping_from 0 10.77.0.2
ping_from 0 10.77.0.3

step "live edit: take xg2 off the bridge (its ping stops)"
ctl rmhook br0: link2
if ping_from 0 10.77.0.3; then echo "unexpected: xg2 still reachable"; exit 1; fi
ping_from 0 10.77.0.2

step "live edit: put xg2 back (its ping resumes)"
ctl connect xg2: br0: lower link2
ping_from 0 10.77.0.3

step "what the bridge learned, its counters, and every drop reason"
ctl msg br0: gettable
ctl msg br0: getstats 0
ctl errors

step "stop (SIGTERM): XDP programs detached, lab removed"
kill -TERM "$PID"; wait "$PID" || true; PID=
"$X" lab down
if ip -o link | grep -q 'xdp'; then echo "an XDP program was left behind"; exit 1; fi
echo "done"
