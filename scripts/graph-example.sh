#!/usr/bin/env bash
# Regenerates docs/graph-example.{dot,png}: brings up a three-port lab (prefix xgd), runs
# xdpgraph with docs/examples/mirror.ngctl, pings across it, and renders `ctl dot -c`.
# Needs root and graphviz (apt-get install graphviz).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then exec sudo -E "$0" "$@"; fi
command -v dot >/dev/null || apt-get install -y -q graphviz >/dev/null
cargo build --release -q
X=./target/release/xdpgraph
SOCK=/run/xdpgraph/graph-example.sock
PID=
cleanup() {
    if [ -n "$PID" ]; then kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
    "$X" lab down --prefix xgd >/dev/null 2>&1 || true
}
trap cleanup EXIT
"$X" lab up --ports 3 --prefix xgd --queues 1
"$X" run --iface xgd0 --iface xgd1 --iface xgd2 --cores 0 --socket "$SOCK" -f docs/examples/mirror.ngctl &
PID=$!
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
ip netns exec xgdns0 ping -q -c 5 -i 0.2 -W 1 10.77.0.2
ip netns exec xgdns0 ping -q -c 5 -i 0.2 -W 1 10.77.0.3
"$X" ctl --socket "$SOCK" dot -c docs/graph-example.dot
dot -Tpng -Gdpi=96 docs/graph-example.dot -o docs/graph-example.png
echo "wrote docs/graph-example.dot and docs/graph-example.png"
