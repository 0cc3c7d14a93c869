// SPDX-License-Identifier: (BSD-2-Clause OR GPL-2.0)
//
// The fast path's shared maps (fastpath.h); fp_host_write, the syscall program through which
// the daemon writes a host entry (one way of a bucket, under its seq, nothing else of the
// bucket: the XDP programs' stamps in the other ways stay); and two tracepoint programs (tp_btf: no tracefs needed) that name the frames
// the kernel drops after the XDP program redirected them: a frame dropped there is otherwise
// visible only in these tracepoints (veth's own counters stay 0). Counted per target
// interface, only for interfaces in the fast path (fp_slot): refused with an error
// (tx_refused: e.g. -ENXIO, a veth whose peer has no NAPI) or dropped without one
// (tx_ring_full: the target's ring was full, the receiver did not keep up).

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "fastpath.h"

/* The kernel's types, as far as the tracepoint programs read them: CO-RE relocates each field
 * against the running kernel's BTF. The programs are "tp_btf" (BTF-typed raw tracepoints): no
 * tracefs and no perf buffer, their arguments as the kernel passes them. */
struct net_device {
	int ifindex;
} __attribute__((preserve_access_index));

/* kernel/bpf/devmap.c: a device map entry, the `tgt` of a devmap redirect */
struct bpf_dtab_netdev {
	struct net_device *dev;
} __attribute__((preserve_access_index));

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

/* trace_xdp_devmap_xmit(from_dev, to_dev, sent, drops, err): once per bulk a device map or a
 * bpf_redirect flushed */
SEC("tp_btf/xdp_devmap_xmit")
int fp_devmap_xmit(__u64 *ctx)
{
	const struct net_device *to = (const void *)ctx[1];
	int drops = (int)ctx[3], err = (int)ctx[4];

	if (drops > 0)
		refused(to->ifindex, drops, err);
	return 0;
}

/* trace_xdp_redirect_err(dev, xdp, tgt, err, map_type, map_id, index): the target as the
 * tracepoint's own format computes to_ifindex (include/trace/events/xdp.h) */
SEC("tp_btf/xdp_redirect_err")
int fp_redirect_err(__u64 *ctx)
{
	const struct bpf_dtab_netdev *tgt = (const void *)ctx[2];
	int err = (int)ctx[3];
	__u32 type = (__u32)ctx[4], map_id = (__u32)ctx[5], index = (__u32)ctx[6];
	struct net_device *dev = 0;
	int ifindex = 0;

	if (type == BPF_MAP_TYPE_DEVMAP || type == BPF_MAP_TYPE_DEVMAP_HASH) {
		if (!tgt || bpf_probe_read_kernel(&dev, sizeof(dev),
						  __builtin_preserve_access_index(&tgt->dev)))
			return 0;
		if (!dev || bpf_probe_read_kernel(&ifindex, sizeof(ifindex),
						  __builtin_preserve_access_index(&dev->ifindex)))
			return 0;
	} else if (type == BPF_MAP_TYPE_UNSPEC && map_id == 0x7fffffff) {
		ifindex = (int)index; /* bpf_redirect(ifindex): INT_MAX marks it */
	}
	refused(ifindex, 1, err ? err : -1);
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
