// SPDX-License-Identifier: (BSD-2-Clause OR GPL-2.0)
//
// xdpgraph's XDP program: steers an interface's received frames to its AF_XDP sockets while
// the interface's ether node has `lower` (or `orphans`) connected, and passes them to the
// kernel otherwise, so the host keeps working. One instance is loaded per interface.
//
// Maps:
//   xsks   - XSKMAP, RX queue index -> AF_XDP socket.
//   steer  - ARRAY[1], struct steer (fastpath.h): bit STEER_ON of `bits`: redirect to the
//            queue's socket, else XDP_PASS; flipped by userspace when `lower` connects or
//            disconnects. STEER_FAST_PATH: the fast path may forward this interface's frames
//            (its bridge, link and slot in the same value).
//   fp_*   - the fast path's maps (fastpath.h), shared by every interface's copy.
//   stats  - PERCPU_ARRAY of counters (see enum stat), summed by userspace.
//   owner  - ARRAY[1], struct owner: the process that attached this copy (written by
//            userspace before attaching; another run reads it through the program's map ids
//            to tell a live holder from a dead one). Never read here.

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <linux/if_ether.h>
#include "fastpath.h"


enum stat {
	STAT_PASS = 0,      /* steering off: given to the kernel */
	STAT_REDIRECT = 1,  /* handed to the queue's AF_XDP socket */
	STAT_NO_SOCKET = 2, /* steering on, but no socket on this queue: passed */
	STAT_FAST_PATH = 3, /* forwarded by the fast path (redirected to another interface) */
	STAT_FP_MOVED = 4,  /* fast path: a known source on another link (entry marked moved) */
	STAT_MAX = 5,
};

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct steer);
} steer SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* Who attached the program. Layout shared with src/dataplane/afxdp/program.rs (Owner). */
struct owner {
	__u32 pid;
	__u32 reserved;
	__u64 start_time; /* /proc/<pid>/stat field 22: clock ticks after boot */
	__u64 pidns;      /* inode of /proc/<pid>/ns/pid */
	char socket[108]; /* its control socket, NUL-terminated */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct owner);
} owner SEC(".maps");

static __always_inline void count(__u32 k)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &k);
	if (v)
		*v += 1;
}

/* The fast path's hash key (fastpath.h, fp_bucket_of): set by the daemon before loading, the
 * same in every copy; read-only, so the verifier folds it in. k2 is odd. One struct, so that
 * its layout is fixed: the object's whole .rodata (src/dataplane/afxdp/fastpath.rs, reuse_in). */
struct fp_hash_key {
	__u64 k1;
	__u64 k2;
};
const volatile struct fp_hash_key fp_hash = { 0, 1 };

/* The bucket of (bridge, MAC): multiply-shift over a keyed word; mac48 is the MAC's 6 bytes
 * read little-endian. Mirrored in src/dataplane/afxdp/fastpath.rs (bucket_of). */
static __always_inline __u32 fp_bucket_of(__u32 bridge, __u64 mac48)
{
	__u64 x = (mac48 ^ ((__u64)bridge << 48) ^ fp_hash.k1) * fp_hash.k2;

	return (__u32)(x >> 48) & (FP_BUCKETS - 1);
}

/* The 6 bytes at p, little-endian, in the low 48 bits. */
static __always_inline __u64 mac48(const __u8 *p)
{
	return (__u64)*(const __u32 *)p | ((__u64)*(const __u16 *)(p + 4) << 32);
}

/* The way of `b` that holds a live (used, not moved) entry for (bridge, mac48), or NULL. */
static __always_inline struct fp_host *fp_find(struct fp_bucket *b, __u32 bridge, __u64 m)
{
	__u64 want = m | (1ULL << 48);

#pragma unroll
	for (int i = 0; i < FP_WAYS; i++) {
		struct fp_host *h = &b->h[i];

		if (*(volatile __u64 *)h->mac == want && h->bridge == bridge)
			return h;
	}
	return NULL;
}

static __always_inline __u32 seq_of(struct fp_host *h)
{
	return *(volatile __u32 *)&h->seq;
}

/* The fast path (see fastpath.h): a unicast frame between two hosts the bridge has learned on
 * two different fast-path links, the source on this interface's link, goes straight to the
 * destination's interface. Returns -1 for every other frame (the workers take it), and for a
 * frame whose redirect the kernel refused at once (its target gone). An entry being rewritten
 * (odd seq, or a seq that changed while it was read) is a miss. */
static __always_inline int fast_path(struct xdp_md *ctx, struct steer *in)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct fp_bucket *b;
	struct fp_host *src, *dst;
	struct fp_port *out;
	struct fp_count *c;
	__u32 bridge = in->bridge, k, s1, s2, to, link, len;
	__u64 sm, dm, now;
	int r;

	if ((void *)(eth + 1) > end)
		return -1;
	/* multicast/broadcast destinations are flooded, multicast sources refused: the bridge */
	if ((eth->h_dest[0] & 1) || (eth->h_source[0] & 1))
		return -1;
	dm = mac48(eth->h_dest);
	sm = mac48(eth->h_source);
	k = fp_bucket_of(bridge, sm);
	b = bpf_map_lookup_elem(&fp_hosts, &k);
	if (!b)
		return -1;
	src = fp_find(b, bridge, sm);
	if (!src)
		return -1;
	s1 = seq_of(src);
	if (src->link != in->link) {
		/* the host shows up on another link: a move or a loop, for the bridge to decide;
		 * until it has, frames to it go through the worker too (the entry matches nothing) */
		if (!(s1 & 1) && s1 == seq_of(src)) {
			src->moved = 1;
			count(STAT_FP_MOVED);
		}
		return -1;
	}
	if ((s1 & 1) || s1 != seq_of(src))
		return -1;
	k = fp_bucket_of(bridge, dm);
	b = bpf_map_lookup_elem(&fp_hosts, &k);
	if (!b)
		return -1;
	dst = fp_find(b, bridge, dm);
	if (!dst)
		return -1;
	s1 = seq_of(dst);
	to = dst->slot;
	link = dst->link;
	s2 = seq_of(dst);
	if ((s1 & 1) || s1 != s2 || link == in->link)
		return -1;
	out = bpf_map_lookup_elem(&fp_port, &to);
	if (!out || !(out->flags & FP_EGRESS) || out->bridge != bridge || out->link != link)
		return -1;
	r = bpf_redirect_map(&fp_tx, to, 0);
	if (r != XDP_REDIRECT)
		return -1; /* no such target (any more): the worker */
	now = bpf_jiffies64();
	if (src->seen != now)
		src->seen = now;
	if (out->autosrc)
		__builtin_memcpy(eth->h_source, out->mac, ETH_ALEN);
	len = bpf_xdp_get_buff_len(ctx); /* all of it: a jumbo frame has several buffers */
	c = bpf_map_lookup_elem(&fp_count, &in->slot);
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
	return r;
}

/* "xdp.frags": the program takes frames of several buffers (jumbo frames; the kernel refuses
 * to attach a program without it to a veth whose peer's MTU is above 3506). Such frames go to
 * the socket as several descriptors (XDP_USE_SG), or are redirected whole by the fast path
 * (the headers it reads are in the first buffer). */
SEC("xdp.frags")
int xdpgraph_steer(struct xdp_md *ctx)
{
	__u32 zero = 0;
	struct steer *on = bpf_map_lookup_elem(&steer, &zero);

	if (!on || !(on->bits & STEER_ON)) {
		count(STAT_PASS);
		return XDP_PASS;
	}
	__u32 q = ctx->rx_queue_index;
	/* Never true (no such queue): a reference that binds the owner map to the program, so
	 * that its map ids list it. */
	if (q == 0xffffffff)
		return bpf_map_lookup_elem(&owner, &zero) ? XDP_PASS : XDP_DROP;
	if (on->bits & STEER_FAST_PATH) {
		int r = fast_path(ctx, on);
		if (r >= 0)
			return r;
	}
	if (bpf_map_lookup_elem(&xsks, &q)) {
		count(STAT_REDIRECT);
		return bpf_redirect_map(&xsks, q, XDP_PASS);
	}
	count(STAT_NO_SOCKET);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
