#!/usr/bin/env bash
# Soak: xdpgraph bridging traffic near the lab's capacity for SECONDS (default 600) while
# ctl scripts edit the graph beside the traffic path and a fourth interface is attached and
# detached over and over. Prints the daemon's RSS after warm-up and at the end, the frames
# sent, delivered and named as dropped; fails when memory grew after warm-up (beyond
# SOAK_RSS_SLACK_KB, default 4096) or when a frame is unaccounted for (sent - delivered >
# named drops).
#
#   scripts/soak.sh [SECONDS]        SOAK_RATE=frames/s (default 200000), SOAK_CORES (default 0)
#
# Everything runs on a veth lab of its own (prefix sk<pid>), removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then exec sudo -E "$0" "$@"; fi
SECS=${1:-600}
RATE=${SOAK_RATE:-200000}
CORES=${SOAK_CORES:-0}
SLACK=${SOAK_RSS_SLACK_KB:-4096}
WARMUP=10
cargo build --release -q
X=./target/release/xdpgraph
P="sk$(( $$ % 1000 ))"
SOCK="/run/xdpgraph/soak-$$.sock"
TMP=$(mktemp -d)
PID=
cleanup() {
    [ -n "$PID" ] && { kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }
    jobs -p | xargs -r kill 2>/dev/null || true
    "$X" lab down --prefix "$P" >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT
ctl() { "$X" ctl --socket "$SOCK" "$@"; }
rss() { awk '/^VmRSS/ {print $2}' "/proc/$PID/status"; }

# four ports: 0 -> 1 carries the traffic through the bridge, 2 is a bridge port that only sees
# floods, 3 is attached and detached in a loop
"$X" lab up --ports 4 --prefix "$P" --queues 1 >/dev/null
MAC1=$(ip netns exec "${P}ns1" cat /sys/class/net/eth0/address)
cat > "$TMP/bridge.ngctl" <<EOF
msg ${P}0: setautosrc 0
msg ${P}1: setautosrc 0
msg ${P}2: setautosrc 0
mkpeer ${P}0: bridge lower link0
name ${P}0:lower br0
connect ${P}1: br0: lower link1
connect ${P}2: br0: lower link2
msg br0: setconfig { maxStaleness=$(( SECS + 600 )) }
msg br0: movehost { addr=$MAC1 hook="link1" }
EOF
"$X" run --iface "${P}0:1" --iface "${P}1:1" --iface "${P}2:1" --cores "$CORES" \
    --socket "$SOCK" --no-tap -f "$TMP/bridge.ngctl" 2> "$TMP/daemon.log" &
PID=$!
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || { cat "$TMP/daemon.log" >&2; echo "soak: the daemon did not start" >&2; exit 1; }

# churn: a second bridge with hubs, tees and vlans hanging off it, built and torn down
cat > "$TMP/churn.ngctl" <<'EOF'
mkpeer . bridge churn link0
name .:churn cb
mkpeer cb: hub link1 a
mkpeer cb: tee link2 left
mkpeer cb:link2 vlan right downstream
msg cb:link2.right addfilter { hook="v5" vid=5 }
msg cb: setconfig { loopTimeout=30 }
msg cb: getstats 1
msg cb: gettable
rmhook cb: link1
shutdown cb:link2
shutdown cb:
EOF
churn() {
    local n=0
    while :; do ctl -f "$TMP/churn.ngctl" >/dev/null 2>&1 || true; n=$((n + 1)); echo "$n" > "$TMP/churns"; done
}
flap() {
    local n=0
    while :; do
        ctl attach "${P}3" >/dev/null 2>&1 && ctl detach "${P}3" >/dev/null 2>&1 || true
        n=$((n + 1)); echo "$n" > "$TMP/flaps"
    done
}

echo "soak: ${SECS}s at ${RATE} frames/s through br0 (${P}0 -> ${P}1), cores $CORES, pid $PID"
"$X" gen --tx eth0 --tx-netns "${P}ns0" --rx eth0 --rx-netns "${P}ns1" --dst-mac "$MAC1" \
    --rate "$RATE" --duration "$SECS" --json --quiet > "$TMP/gen.json" 2> "$TMP/gen.log" &
GEN=$!
sleep "$WARMUP"
RSS0=$(rss)
churn &
flap &
wait "$GEN" || { cat "$TMP/gen.log" >&2; echo "soak: the generator failed" >&2; exit 1; }
kill %churn %flap 2>/dev/null || true
sleep 1
ctl detach "${P}3" >/dev/null 2>&1 || true
RSS1=$(rss)
ctl --json errors > "$TMP/errors.json"
# drops the kernel counted on the path outside xdpgraph: the sending veth's tx_dropped (before
# xdpgraph's XDP program: the ingress port's NAPI ring was full), and after xdpgraph handed a
# frame to the egress port: that veth's tx_dropped (its peer's backlog was full) and the far
# end's rx_dropped. (The ingress port's own rx_dropped is not added: it counts the frames its
# XDP program could not hand to xdpgraph's socket, which ctl errors names as rx_dropped.)
kstat() { ip -s -j link show "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)[0]['stats64']['$2']['dropped'])"; }
K_SEND=$(ip netns exec "${P}ns0" bash -c "$(declare -f kstat); kstat eth0 tx")
K_EGRESS=$(kstat "${P}1" tx)
K_FAR=$(ip netns exec "${P}ns1" bash -c "$(declare -f kstat); kstat eth0 rx")
echo "kernel drops: sender tx $K_SEND, ingress port rx $(kstat "${P}0" rx) (named by ctl errors), egress port tx $K_EGRESS, receiver rx $K_FAR"
KDROP=$(( K_SEND + K_EGRESS + K_FAR ))
python3 - "$TMP/gen.json" "$TMP/errors.json" "$RSS0" "$RSS1" "$SLACK" "$KDROP" \
    "$(cat "$TMP/churns" 2>/dev/null || echo 0)" "$(cat "$TMP/flaps" 2>/dev/null || echo 0)" <<'PY'
import json, sys
gen, errs = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
rss0, rss1, slack, kdrop, churns, flaps = (int(x) for x in sys.argv[3:9])
sent = gen["tx"]["frames"]
lost_gen = (gen.get("rx") or {}).get("lost")
delivered = sent - lost_gen if lost_gen is not None else 0
# `drops`: every named drop once (graph nodes and ports), `total` their sum
named = errs.get("total", sum(r.get("count", 0) for r in errs.get("drops", [])))
lost = max(0, sent - delivered)
print(f"RSS after warm-up {rss0} kB, at the end {rss1} kB ({rss1 - rss0:+d} kB)")
print(f"frames sent {sent}, delivered {delivered}, lost {lost}, named as dropped {named} "
      f"by xdpgraph (ctl errors) + {kdrop} by the kernel's veths outside xdpgraph")
print(f"churn scripts applied {churns}, attach/detach cycles {flaps}")
ok = True
if rss1 - rss0 > slack:
    print(f"FAIL: memory grew by {rss1 - rss0} kB after warm-up (slack {slack} kB)"); ok = False
if lost > named + kdrop:
    print(f"FAIL: {lost - named - kdrop} frames unaccounted for"); ok = False
if sent == 0 or churns == 0 or flaps == 0:
    print("FAIL: the soak did not run (no frames, churn or flaps)"); ok = False
print("soak: PASS" if ok else "soak: FAIL")
sys.exit(0 if ok else 1)
PY
