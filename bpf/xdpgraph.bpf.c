// SPDX-License-Identifier: (BSD-2-Clause OR GPL-2.0)
//
// xdpgraph's XDP program: steers an interface's received frames to its AF_XDP sockets while
// the interface's ether node has `lower` (or `orphans`) connected, and passes them to the
// kernel otherwise, so the host keeps working. One instance is loaded per interface.
//
// Maps:
//   xsks   - XSKMAP, RX queue index -> AF_XDP socket.
//   steer  - ARRAY[1], 1: redirect to the queue's socket, 0: XDP_PASS. Flipped by userspace
//            when `lower` connects or disconnects.
//   stats  - PERCPU_ARRAY of counters (see enum stat), summed by userspace.
//   owner  - ARRAY[1], struct owner: the process that attached this copy (written by
//            userspace before attaching; another run reads it through the program's map ids
//            to tell a live holder from a dead one). Never read here.

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

enum stat {
	STAT_PASS = 0,      /* steering off: given to the kernel */
	STAT_REDIRECT = 1,  /* handed to the queue's AF_XDP socket */
	STAT_NO_SOCKET = 2, /* steering on, but no socket on this queue: passed */
	STAT_MAX = 3,
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
	__type(value, __u32);
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

SEC("xdp")
int xdpgraph_steer(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u32 *on = bpf_map_lookup_elem(&steer, &zero);

	if (!on || !*on) {
		count(STAT_PASS);
		return XDP_PASS;
	}
	__u32 q = ctx->rx_queue_index;
	/* Never true (no such queue): a reference that binds the owner map to the program, so
	 * that its map ids list it. */
	if (q == 0xffffffff)
		return bpf_map_lookup_elem(&owner, &zero) ? XDP_PASS : XDP_DROP;
	if (bpf_map_lookup_elem(&xsks, &q)) {
		count(STAT_REDIRECT);
		return bpf_redirect_map(&xsks, q, XDP_PASS);
	}
	count(STAT_NO_SOCKET);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
