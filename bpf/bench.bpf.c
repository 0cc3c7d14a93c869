// SPDX-License-Identifier: (BSD-2-Clause OR GPL-2.0)
//
// Helper XDP programs for the traffic generator and the end-to-end benchmarks:
//   xdpgraph_gen_tx   - the generator's replay engine: run with BPF_PROG_RUN and
//                       BPF_F_TEST_XDP_LIVE_FRAMES, it transmits each frame out of the
//                       device given as ingress (XDP_TX). Counts in stats[GEN_TX].
//   xdpgraph_sink     - counts frames and octets (per CPU) and drops them: a sink that keeps
//                       up with any rate a veth can carry.
//   xdpgraph_pass     - XDP_PASS; attached to a veth so that it accepts redirected frames.
//   xdpgraph_redirect - the in-kernel forwarding reference: redirects every frame to the
//                       interface in cfg[0].

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

enum stat {
	SINK_FRAMES = 0,
	SINK_OCTETS = 1,
	GEN_TX = 2,
	REDIRECTS = 3,
	STAT_MAX = 4,
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} cfg SEC(".maps");

static __always_inline void add(__u32 k, __u64 v)
{
	__u64 *p = bpf_map_lookup_elem(&stats, &k);
	if (p)
		*p += v;
}

SEC("xdp")
int xdpgraph_gen_tx(struct xdp_md *ctx)
{
	add(GEN_TX, 1);
	return XDP_TX;
}

SEC("xdp")
int xdpgraph_sink(struct xdp_md *ctx)
{
	add(SINK_FRAMES, 1);
	add(SINK_OCTETS, (__u64)(ctx->data_end - ctx->data));
	return XDP_DROP;
}

SEC("xdp")
int xdpgraph_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("xdp")
int xdpgraph_redirect(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u32 *to = bpf_map_lookup_elem(&cfg, &zero);

	if (!to || !*to)
		return XDP_PASS;
	add(REDIRECTS, 1);
	return bpf_redirect(*to, 0);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
