#!/usr/bin/env bash
# The whole test suite: unit, scenario, stress, control-plane and (as root) veth-lab tests in
# release mode, then the loom model of the epoch core. Installs what it needs.
# XDPGRAPH_MIRI=1 also runs the graph core's tests under Miri (needs rustup's nightly + miri).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null; then exec sudo -E "$0" "$@"; fi
    echo "test.sh: not root: the veth-lab tests will be skipped" >&2
else
    ./scripts/setup.sh
fi
echo "== build"
cargo build --release --all-targets
echo "== tests (release)"
cargo test --release -- --test-threads 2
echo "== loom model of the epoch core"
CARGO_TARGET_DIR=target/loom RUSTFLAGS="--cfg crossbeam_loom" cargo test --release --features loom --test loom_epoch
if [ "${XDPGRAPH_MIRI:-0}" = 1 ]; then
    echo "== miri (graph core)"
    ./scripts/miri.sh
fi
echo "== leftovers"
if ip -o link 2>/dev/null | grep -q 'name xdpgraph_'; then echo "an xdpgraph XDP program was left attached" >&2; ip -o link | grep 'name xdpgraph_' >&2; exit 1; fi
echo "all tests passed"
