// SPDX-License-Identifier: (BSD-2-Clause OR GPL-2.0)
//
// The fast path's shared maps (fastpath.h); fp_host_write, the syscall program through which
// the daemon writes a host entry (one way of a bucket, under its seq, nothing else of the
// bucket: the XDP programs' stamps in the other ways stay); and two tracepoint programs that name the frames
// the kernel drops after the XDP program redirected them: a frame dropped there is otherwise
// visible only in these tracepoints (veth's own counters stay 0). Counted per target
// interface, only for interfaces in the fast path (fp_slot): refused with an error
// (tx_refused: e.g. -ENXIO, a veth whose peer has no NAPI) or dropped without one
// (tx_ring_full: the target's ring was full, the receiver did not keep up).

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "fastpath.h"

/* /sys/kernel/tracing/events/xdp/xdp_devmap_xmit/format */
struct devmap_xmit_args {
	__u64 common;
	int from_ifindex;
	__u32 act;
	int to_ifindex;
	int drops;
	int sent;
	int err;
};

/* /sys/kernel/tracing/events/xdp/xdp_redirect_err/format */
struct redirect_err_args {
	__u64 common;
	int prog_id;
	__u32 act;
	int ifindex;
	int err;
	int to_ifindex;
	__u32 map_id;
	int map_index;
};

static __always_inline void refused(int ifindex, int n, int err)
{
	__u32 k = ifindex, *slot;
	struct fp_count *c;

	if (n <= 0 || ifindex <= 0)
		return;
	slot = bpf_map_lookup_elem(&fp_slot, &k);
	if (!slot)
		return;
	c = bpf_map_lookup_elem(&fp_count, slot);
	if (!c)
		return;
	if (err)
		c->tx_refused += n;
	else
		c->tx_ring_full += n;
}

SEC("tracepoint/xdp/xdp_devmap_xmit")
int fp_devmap_xmit(struct devmap_xmit_args *a)
{
	if (a->drops > 0)
		refused(a->to_ifindex, a->drops, a->err);
	return 0;
}

SEC("tracepoint/xdp/xdp_redirect_err")
int fp_redirect_err(struct redirect_err_args *a)
{
	refused(a->to_ifindex, 1, a->err ? a->err : -1);
	return 0;
}

/* Run with BPF_PROG_RUN, ctx_in a struct fp_write. Returns 0, or 1 for a bucket out of range.
 * The seq's atomic adds are full barriers: a reader that saw the same even seq before and after
 * reading a way read one whole entry. */
SEC("syscall")
int fp_host_write(struct fp_write *w)
{
	__u32 b = w->bucket;
	struct fp_bucket *bk = bpf_map_lookup_elem(&fp_hosts, &b);
	struct fp_host *h;

	if (!bk)
		return 1;
	h = &bk->h[w->way & (FP_WAYS - 1)];
	__sync_fetch_and_add(&h->seq, 1);
	h->used = 0;
	h->bridge = w->h.bridge;
	__builtin_memcpy(h->mac, w->h.mac, 6);
	h->moved = w->h.moved;
	h->link = w->h.link;
	h->slot = w->h.slot;
	h->seen = w->h.seen;
	h->used = w->h.used;
	__sync_fetch_and_add(&h->seq, 1);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
