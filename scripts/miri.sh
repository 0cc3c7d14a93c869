#!/usr/bin/env bash
# The graph core's tests under Miri: library unit tests (wire, pool, epoch, counters, host
# table, ASCII values, paths), and the graph and node scenario tests.
# Tree Borrows: crossbeam-epoch's intrusive list violates Stacked Borrows (crossbeam-rs/crossbeam
# PR #996 moved crossbeam's own Miri runs to Tree Borrows). Leaks are ignored because, under
# Miri only, the epoch collector is deliberately never dropped (crossbeam-rs/crossbeam#545).
set -euo pipefail
cd "$(dirname "$0")/.."
rustup toolchain list | grep -q nightly || rustup toolchain install nightly --profile minimal
rustup component add --toolchain nightly miri rust-src
export MIRIFLAGS="-Zmiri-tree-borrows -Zmiri-ignore-leaks"
export CARGO_TARGET_DIR=target/miri
cargo +nightly miri test --lib
cargo +nightly miri test --test graph --test nodes --test bridge -- --skip flood_to_a_thousand_links --skip gettable_counts_many_hosts
