#!/usr/bin/env bash
# The whole test suite: unit, scenario, stress, control-plane, (as root) veth-lab tests and the
# DPDK backend's tests in release mode, then the loom model of the epoch core. Installs what
# it needs. XDPGRAPH_NO_DPDK=1 leaves DPDK out (no libdpdk-dev needed).
# XDPGRAPH_MIRI=1 also runs the graph core's tests under Miri (needs rustup's nightly + miri).
# The fuzz targets run briefly (XDPGRAPH_FUZZ_SECONDS each, default 10; needs nightly).
# Nothing is skipped quietly: a test that cannot run here (not root) says SKIPPED, and the list
# is printed at the end; with CI set (CI runs as root, with DPDK) a skip is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
ci() { case "${CI:-}" in "" | 0 | false) return 1 ;; *) return 0 ;; esac; }
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null; then exec sudo -E "$0" "$@"; fi
    if ci; then echo "test.sh: CI is set but this is not root: the lab tests cannot run" >&2; exit 1; fi
    echo "test.sh: not root: the tests that need root (veth lab, XDP) will be SKIPPED (listed at the end)" >&2
else
    ./scripts/setup.sh
fi
SKIPPED="$(mktemp /tmp/xdpgraph-skipped.XXXXXX)"
export XDPGRAPH_SKIPPED="$SKIPPED"
skipped() {
    if [ -s "$SKIPPED" ]; then
        echo "== SKIPPED: $(wc -l <"$SKIPPED") test(s) did not run here:" >&2
        sort "$SKIPPED" | sed 's/^/   /' >&2
    fi
    rm -f "$SKIPPED"
}
trap skipped EXIT
# XDP programs of ours attached before the tests start (another lab or a benchmark running on
# this machine) are not the tests' leftovers: remember them and compare afterwards.
attached() { ip -o link 2>/dev/null | grep 'name xdpgraph_' | sed -E 's/^[0-9]+: ([^:@]+).*prog\/xdp id ([0-9]+).*/\1 \2/' | sort || true; }
BEFORE="$(attached)"
FEATURES=()
if [ "${XDPGRAPH_NO_DPDK:-0}" != 1 ]; then
    FEATURES=(--features dpdk)
elif ci; then
    echo "test.sh: CI is set: XDPGRAPH_NO_DPDK=1 would skip tests/dpdk.rs" >&2
    exit 1
else
    echo "SKIPPED tests/dpdk.rs (all of it): XDPGRAPH_NO_DPDK=1" >>"$SKIPPED"
fi
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
