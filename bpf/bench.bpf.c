// SPDX-License-Identifier: (BSD-2-Clause OR GPL-2.0)
//
// Helper XDP programs for the traffic generator and the end-to-end benchmarks:
//   xdpgraph_gen_tx   - the generator's replay engine: run with BPF_PROG_RUN and
//                       BPF_F_TEST_XDP_LIVE_FRAMES, it transmits each frame out of the
//                       device given as ingress (XDP_TX). Counts in genstate.seq; paces
//                       (waits for each frame's due time) when gencfg.interval_q is set.
//   xdpgraph_sink     - counts frames and octets (per CPU) and drops them: a sink that keeps
//                       up with any rate a veth can carry.
//   xdpgraph_pass     - XDP_PASS; attached to a veth so that it accepts redirected frames.
//   xdpgraph_redirect - the in-kernel forwarding reference: redirects every frame to the
//                       interface in cfg[0].

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <linux/if_ether.h>

enum stat {
	SINK_FRAMES = 0,
	SINK_OCTETS = 1,
	/* 2: unused (the generator counts in genstate) */
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

/* The generator's stamping: where the sequence number and timestamp go, and how flows vary. */
struct gen_cfg {
	__u32 stamp;    /* 0: send the template unchanged */
	__u32 off;      /* payload offset: magic (2), seq (8, LE), tx time ns (8, LE) */
	__u32 flows;    /* vary the flow over this many (>= 1) */
	__u32 ip_off;   /* IPv4 header offset (0: no IP) */
	__u32 sizes;    /* 0: template size; 1: IMIX of size[0..3] (7:4:1); 2: range size[0]..size[1] */
	__u32 size[3];  /* frame lengths without FCS; the template is the largest */
	__u32 pace_mask;  /* paced: wait for the due time of frames whose seq & pace_mask == 0 */
	__u32 _pad;
	__u64 interval_q; /* paced: ns between frames << 16 (0: unpaced) */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gen_cfg);
} gencfg SEC(".maps");

/* The sender's state: one sending thread, so a plain array (it may move between CPUs). */
struct gen_state {
	__u64 seq; /* frames handed over since the last configuration */
	__u64 t0;  /* when frame 0 went (ns, CLOCK_MONOTONIC) */
	__u64 t1;  /* when the last frame went, within 64 frames (unpaced) or a pacing group */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gen_state);
} genstate SEC(".maps");

static __always_inline void add(__u32 k, __u64 v)
{
	__u64 *p = bpf_map_lookup_elem(&stats, &k);
	if (p)
		*p += v;
}

static __always_inline __u16 csum_fold(__u32 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

static long past_due(__u32 i, void *due)
{
	return bpf_ktime_get_ns() >= *(__u64 *)due;
}

/* Even pacing: frame seq is due at t0 + seq * interval; every (pace_mask + 1)-th frame waits
 * (spins) for its due time, so frames leave in groups of at most pace_mask + 1 and the
 * schedule, being absolute, keeps the mean rate exact. */
static __always_inline void pace(struct gen_cfg *c, struct gen_state *st, __u64 seq)
{
	if (seq & c->pace_mask)
		return;
	__u64 now = bpf_ktime_get_ns();
	if (seq == 0 || !st->t0) {
		st->t0 = now;
		st->t1 = now;
		return;
	}
	__u64 due = st->t0 + ((seq * c->interval_q) >> 16);
	/* one bpf_loop spins at most 2^20 clock reads (tens of ms): rates under ~10 pps fall short */
	for (int i = 0; i < 8 && now < due; i++) {
		bpf_loop(1 << 20, past_due, &due, 0);
		now = bpf_ktime_get_ns();
	}
	st->t1 = now;
}

SEC("xdp")
int xdpgraph_gen_tx(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	struct gen_cfg *c = bpf_map_lookup_elem(&gencfg, &zero);
	struct gen_state *st = bpf_map_lookup_elem(&genstate, &zero);

	if (!c || !st)
		return XDP_TX;
	__u64 seq = st->seq++;
	if (c->interval_q)
		pace(c, st, seq);
	else if ((seq & 63) == 0) {
		st->t1 = bpf_ktime_get_ns();
		if (seq == 0)
			st->t0 = st->t1;
	}
	if (!c->stamp)
		return XDP_TX;
	__u32 ipo = c->ip_off & 0x3ff;
	if (c->sizes && ipo) {
		/* Trim the (largest) template to this frame's size, then fix the lengths. */
		__u32 want;
		if (c->sizes == 1) {
			__u32 k = (__u32)(seq % 12);
			want = k < 7 ? c->size[0] : (k < 11 ? c->size[1] : c->size[2]);
		} else {
			__u32 span = c->size[1] >= c->size[0] ? c->size[1] - c->size[0] + 1 : 1;
			want = c->size[0] + (__u32)(((seq * 0x9e3779b97f4a7c15ULL) >> 33) % span);
		}
		__u32 len = (__u32)(data_end - data);
		if (want < len) {
			if (bpf_xdp_adjust_tail(ctx, (int)want - (int)len))
				return XDP_TX;
			data = (void *)(long)ctx->data;
			data_end = (void *)(long)ctx->data_end;
		}
		__u8 *iph = data + ipo;
		if ((void *)(iph + 28) > data_end)
			return XDP_TX;
		__u16 tot = __builtin_bswap16((__u16)((__u32)(data_end - data) - ipo));
		__u16 ulen = __builtin_bswap16((__u16)((__u32)(data_end - data) - ipo - 20));
		__builtin_memcpy(iph + 2, &tot, 2);
		__builtin_memcpy(iph + 24, &ulen, 2);
		iph[26] = 0;
		iph[27] = 0;
		iph[10] = 0;
		iph[11] = 0;
		__u32 cs = 0;
		__u16 *w = (__u16 *)iph;
#pragma unroll
		for (int i = 0; i < 10; i++)
			cs += w[i];
		__u16 folded = csum_fold(cs);
		__builtin_memcpy(iph + 10, &folded, 2);
	}
	__u32 off = c->off & 0x3ff;
	__u8 *p = data + off;
	if ((void *)(p + 18) > data_end)
		return XDP_TX;
	__u64 now = bpf_ktime_get_ns();
	__builtin_memcpy(p + 2, &seq, 8);
	__builtin_memcpy(p + 10, &now, 8);
	__u32 flows = c->flows ? c->flows : 1;
	__u32 flow = (__u32)(seq % flows);
	__u8 *ip = data + ipo;
	if (flows > 1 && ipo && (void *)(ip + 28) <= data_end) {
		/* Source MAC low bytes, source IPv4 low bytes, UDP source port: the flow. */
		__u8 *mac = data;
		if ((void *)(mac + 12) > data_end)
			return XDP_TX;
		mac[10] = flow >> 8;
		mac[11] = flow;
		ip[14] = flow >> 8;
		ip[15] = flow;
		__u16 sport = __builtin_bswap16((__u16)(1024 + flow));
		__builtin_memcpy(ip + 20, &sport, 2);
		ip[26] = 0; /* UDP checksum: none (valid for IPv4) */
		ip[27] = 0;
		ip[10] = 0;
		ip[11] = 0;
		__u32 s = 0;
		__u16 *w = (__u16 *)ip;
#pragma unroll
		for (int i = 0; i < 10; i++)
			s += w[i];
		__u16 cs = csum_fold(s);
		__builtin_memcpy(ip + 10, &cs, 2);
	}
	return XDP_TX;
}

/* The sink, the pass-through and the redirect take jumbo frames (several buffers): "xdp.frags"
 * (a veth whose peer's MTU is above 3506 refuses programs without it). */
SEC("xdp.frags")
int xdpgraph_sink(struct xdp_md *ctx)
{
	add(SINK_FRAMES, 1);
	add(SINK_OCTETS, bpf_xdp_get_buff_len(ctx));
	return XDP_DROP;
}

SEC("xdp.frags")
int xdpgraph_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("xdp.frags")
int xdpgraph_redirect(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u32 *to = bpf_map_lookup_elem(&cfg, &zero);

	if (!to || !*to)
		return XDP_PASS;
	add(REDIRECTS, 1);
	return bpf_redirect(*to, 0);
}

/* The redirect, after reading the frame's MACs as any L2 forwarder must (multicast and
 * broadcast left to the stack): a diagnostic reference (BENCH_REDIRECT_PROG in bench/lab.rs)
 * for what reading the frame's first cache line costs the forwarding core. */
SEC("xdp.frags")
int xdpgraph_redirect_l2(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 zero = 0;
	__u32 *to = bpf_map_lookup_elem(&cfg, &zero);

	if (!to || !*to || (void *)(eth + 1) > end)
		return XDP_PASS;
	if ((eth->h_dest[0] | eth->h_source[0]) & 1)
		return XDP_PASS;
	add(REDIRECTS, 1);
	return bpf_redirect(*to, 0);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
