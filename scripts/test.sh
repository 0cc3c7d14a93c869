#!/usr/bin/env bash
# The whole test suite: unit, scenario, stress, control-plane, (as root) veth-lab tests and the
# DPDK backend's tests in release mode, then the loom model of the epoch core. Installs what
# it needs. XDPGRAPH_NO_DPDK=1 leaves DPDK out (no libdpdk-dev needed).
# XDPGRAPH_MIRI=1 also runs the graph core's tests under Miri (needs rustup's nightly + miri).
# The fuzz targets run briefly (XDPGRAPH_FUZZ_SECONDS each, default 10; needs nightly).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null; then exec sudo -E "$0" "$@"; fi
    echo "test.sh: not root: the veth-lab tests will be skipped" >&2
else
    ./scripts/setup.sh
fi
# XDP programs of ours attached before the tests start (another lab or a benchmark running on
# this machine) are not the tests' leftovers: remember them and compare afterwards.
attached() { ip -o link 2>/dev/null | grep 'name xdpgraph_' | sed -E 's/^[0-9]+: ([^:@]+).*prog\/xdp id ([0-9]+).*/\1 \2/' | sort || true; }
BEFORE="$(attached)"
FEATURES=()
if [ "${XDPGRAPH_NO_DPDK:-0}" != 1 ]; then FEATURES=(--features dpdk); fi
# The declared minimum Rust (Cargo.toml's rust-version) still builds everything: checked with that
# toolchain when it is installed (CI installs it with rustup; rustfmt is needed by build.rs).
msrv_check() {
    local v
    v="$(sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' Cargo.toml)"
    [ -n "$v" ] || return 0
    case "$v" in *.*.*) ;; *) v="$v.0" ;; esac
    if ! rustup run "$v" rustc --version >/dev/null 2>&1; then
        if [ "${CI:-}" = true ] && command -v rustup >/dev/null; then
            rustup toolchain install "$v" --profile minimal --component rustfmt
        else
            echo "== minimum Rust $v: toolchain not installed, not checked (rustup toolchain install $v --profile minimal --component rustfmt)"
            return 0
        fi
    fi
    command -v rustup >/dev/null && { rustup component add --toolchain "$v" rustfmt >/dev/null 2>&1 || true; }
    echo "== minimum Rust $v: cargo check --all-targets${FEATURES[*]:+ ${FEATURES[*]}}"
    CARGO_TARGET_DIR=target/msrv cargo "+$v" check --all-targets "${FEATURES[@]}"
}
msrv_check
echo "== build (default features: no DPDK needed)"
cargo build --release --all-targets
cargo test --release --lib -q
echo "== tests (release${FEATURES[*]:+, ${FEATURES[*]}})"
cargo test --release "${FEATURES[@]}" -- --test-threads 2
echo "== loom model of the epoch core"
CARGO_TARGET_DIR=target/loom RUSTFLAGS="--cfg crossbeam_loom" cargo test --release --features loom --test loom_epoch
echo "== fuzz targets, ${XDPGRAPH_FUZZ_SECONDS:-10} s each (scripts/fuzz.sh; long runs: docs/TESTING.md)"
if rustup toolchain list 2>/dev/null | grep -q nightly; then
    ./scripts/fuzz.sh "${XDPGRAPH_FUZZ_SECONDS:-10}"
elif [ "${CI:-}" = true ]; then
    echo "fuzz: rustup's nightly toolchain is missing; CI needs it (rustup toolchain install nightly)" >&2
    exit 1
else
    echo "== SKIPPED: fuzz targets (no nightly toolchain: rustup toolchain install nightly)" >&2
fi
if [ "${XDPGRAPH_MIRI:-0}" = 1 ]; then
    echo "== miri (graph core)"
    ./scripts/miri.sh
fi
echo "== leftovers"
LEFT="$(comm -13 <(echo "$BEFORE") <(attached) | sed '/^$/d')"
if [ -n "$LEFT" ]; then echo "the tests left an xdpgraph XDP program attached (interface, program id):" >&2; echo "$LEFT" >&2; exit 1; fi
echo "all tests passed"
