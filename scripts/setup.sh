#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build and run xdpgraph: clang (compiles the XDP
# program), libelf/zlib/pkg-config (libbpf, built from source by libbpf-sys), iproute2, ping and ethtool
# (the veth lab), util-linux (setpriv, for the permission test), tcpdump (reads the captures'
# pcapng in tests/capture.rs), man-db (renders the generated man pages in tests/ops.rs),
# systemd (systemd-analyze verifies dist/xdpgraph.service in tests/service.rs), and DPDK 22.11 (dpdk,
# libdpdk-dev: the optional DPDK backend and dpdk-testpmd for its benchmark; skipped with
# XDPGRAPH_NO_DPDK=1). Idempotent; needs root for apt.
set -euo pipefail
need=()
command -v clang >/dev/null || need+=(clang)
dpkg -s libelf-dev >/dev/null 2>&1 || need+=(libelf-dev)
dpkg -s zlib1g-dev >/dev/null 2>&1 || need+=(zlib1g-dev)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v ip >/dev/null || need+=(iproute2)
command -v ping >/dev/null || need+=(iputils-ping)
command -v ethtool >/dev/null || need+=(ethtool)
command -v setpriv >/dev/null || need+=(util-linux)
command -v tcpdump >/dev/null || need+=(tcpdump)
command -v make >/dev/null || need+=(make)
command -v python3 >/dev/null || need+=(python3)
command -v man >/dev/null || need+=(man-db)
command -v systemd-analyze >/dev/null || need+=(systemd)
if [ "${XDPGRAPH_NO_DPDK:-0}" != 1 ]; then
    dpkg -s libdpdk-dev >/dev/null 2>&1 || need+=(libdpdk-dev)
    command -v dpdk-testpmd >/dev/null || need+=(dpdk dpdk-dev)
fi
if [ ${#need[@]} -gt 0 ]; then
    echo "setup: installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
fi
if ! command -v cargo >/dev/null; then
    echo "setup: cargo not found: install Rust (https://rustup.rs) and re-run" >&2
    exit 1
fi
