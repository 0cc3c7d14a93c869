#!/bin/bash
# Builds and runs bench/mempool_objsize.c on core 0 with 2 MiB hugepages (reserved for the run,
# given back after), printing ns per mbuf by object size. Root; needs libdpdk-dev.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d)
old=$(cat /proc/sys/vm/nr_hugepages)
trap 'rm -rf "$out"; echo "$old" > /proc/sys/vm/nr_hugepages' EXIT
gcc -O3 -march=native -DBURST="${BURST:-64}" "$here/mempool_objsize.c" -o "$out/objsize" $(pkg-config --cflags --libs libdpdk)
echo $((old + 512)) > /proc/sys/vm/nr_hugepages
echo "# bench/mempool_objsize.sh (BURST=${BURST:-64}), $(date -u '+%Y-%m-%d %H:%M UTC'), DPDK $(pkg-config --modversion libdpdk), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs, Linux $(uname -r)"
taskset -c 0 "$out/objsize" -l 0 --in-memory --no-pci --file-prefix "objsize$$" 2>/dev/null | grep -v '^EAL\|^TELEMETRY'
