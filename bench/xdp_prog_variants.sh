#!/usr/bin/env bash
# The XDP fast path program's cost, piece by piece: bench/xdp_prog.rs (BPF_PROG_RUN, repeat N,
# interleaved rounds) on the built program and on variants of bpf/xdpgraph.bpf.c, each with one
# piece taken out (compiled here with clang into a temporary directory; the repository's
# sources are not touched). Variants are for measurement only: each one breaks something the
# fast path needs. Raw output: bench/results/xdp-prog-variants-<UTC date and time>.txt.
# Root required. Env: BENCH_ROUNDS, BENCH_REPEAT (bench/xdp_prog.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then exec sudo -E "$0" "$@"; fi
if [ -e /tmp/BENCH_QUIET ] && [ -z "${BENCH_QUIET_MINE:-}" ]; then
    echo "/tmp/BENCH_QUIET exists: another benchmark runs; try later" >&2; exit 1
fi
cargo bench --bench xdp_prog --no-run 2>/dev/null
bin=$(ls -t target/release/deps/xdp_prog-* | grep -v '\.d$' | head -1)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
# variant NAME PYTHON-EXPR-ON-s: a copy of the program with one piece taken out
variant() {
    python3 - "$1" "$2" "$tmp" <<'PY'
import sys
name, expr, tmp = sys.argv[1:4]
s = open("bpf/xdpgraph.bpf.c").read()
def cut(a, b=""):
    global s
    assert s.count(a) == 1, (name, a)
    s = s.replace(a, b)
exec(expr)
open(f"{tmp}/{name}.bpf.c", "w").write(s)
PY
    cp bpf/fastpath.h "$tmp/"
    clang -target bpf -O2 -g -Wall -I/usr/include/"$multiarch" -c "$tmp/$1.bpf.c" -o "$tmp/$1.bpf.o"
}
variant no-counters 'cut("""	c = bpf_map_lookup_elem(&fp_count, &in->slot);
	if (c) {
		c->rx_frames++;
		c->rx_octets += len;
	}
	c = bpf_map_lookup_elem(&fp_count, &to);
	if (c) {
		c->tx_frames++;
		c->tx_octets += len;
	}
	count(STAT_FAST_PATH);
""")'
variant no-seen 'cut("""	now = bpf_jiffies64();
	if (src->seen != now)
		src->seen = now;
""")'
variant no-seq 'cut("""	if ((s1 & 1) || s1 != seq_of(src))
		return -1;
"""); cut("""	if ((s1 & 1) || s1 != s2 || link == in->link)""", """	if (link == in->link)""")'
variant no-port-check 'cut("""	out = bpf_map_lookup_elem(&fp_port, &to);
	if (!out || !(out->flags & FP_EGRESS) || out->bridge != bridge || out->link != link)
		return -1;
""", """	out = bpf_map_lookup_elem(&fp_port, &to);
	if (!out)
		return -1;
""")'
variant no-buff-len 'cut("""	len = bpf_xdp_get_buff_len(ctx);""", """	len = (__u32)(end - data);""")'
out="bench/results/xdp-prog-variants-$(date -u +%Y-%m-%d-%H%M).txt"
{
    echo "# bench/xdp_prog_variants.sh at $(date -u '+%Y-%m-%d %H:%M:%S UTC'), commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src bpf bench 2>/dev/null || echo ' (with uncommitted changes)'), Linux $(uname -r)"
    echo "# $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
    "$bin"
    for v in no-counters no-seen no-seq no-port-check no-buff-len; do
        echo
        XDP_PROG_OBJ="$tmp/$v.bpf.o" XDP_PROG_LABEL="variant $v (bench/xdp_prog_variants.sh)" "$bin"
    done
    echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
} 2>&1 | tee "$out"
echo "raw output: $out"
