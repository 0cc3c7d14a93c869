// SPDX-License-Identifier: (BSD-2-Clause OR GPL-2.0)
//
// The fast path's maps, shared by every interface's copy of xdpgraph.bpf.c and by the
// tracepoint programs of fastpath.bpf.c. The daemon loads fastpath.bpf.o once, and each
// xdpgraph.bpf.o reuses its maps (libbpf reuse_fd). Layouts are mirrored in
// src/dataplane/afxdp/fastpath.rs: change both together.
//
//   fp_port  - ARRAY slot -> struct fp_port: the interfaces in the fast path, by a slot the
//              daemon gives each (0..FP_MAX_PORTS). A frame is redirected to a slot only while
//              its FP_EGRESS flag is set. (What an interface's own frames may do is in its
//              program's `steer` map: struct steer below.)
//   fp_hosts - ARRAY of FP_BUCKETS buckets of FP_WAYS struct fp_host: the hosts the bridges have
//              learned on fast-path links, a host in one of the ways of the bucket a keyed hash
//              of (bridge, MAC) names (fp_bucket_of; the key is each XDP object's read-only
//              fp_hash, the same for all, set by the daemon before loading). Written by
//              the daemon only through the syscall program fp_host_write (fastpath.bpf.c, run
//              with BPF_PROG_RUN), which rewrites one way under its seq (odd while it writes)
//              and leaves the bucket's other ways, and the stamps the XDP programs write there,
//              alone. The XDP program stamps `seen`, and sets `moved` on an entry whose host
//              shows up on another link (the entry then matches nothing; the bridge in the
//              worker decides: move or loop).
//   fp_tx    - DEVMAP slot -> ifindex: the redirect targets.
//   fp_count - PERCPU_ARRAY slot -> struct fp_count: what the fast path did per interface.
//   fp_slot  - HASH ifindex -> slot, for the tracepoint programs.

#ifndef XDPGRAPH_FASTPATH_H
#define XDPGRAPH_FASTPATH_H

#define STEER_ON 1
#define STEER_FAST_PATH 2
#define FP_EGRESS 2
#define FP_MAX_PORTS 1024
#define FP_BUCKETS 65536  /* a power of two */
#define FP_WAYS 4         /* a power of two */

/* The value of each program's own `steer` map (one entry). */
struct steer {
	__u32 bits;     /* STEER_ON | STEER_FAST_PATH */
	__u32 bridge;   /* with STEER_FAST_PATH: the bridge node's ID, */
	__u32 link;     /* the link this interface is (the hook's unique ID, low 32 bits), */
	__u32 slot;     /* and its slot in fp_port/fp_count */
};

struct fp_port {
	__u32 ifindex;
	__u32 bridge;   /* the bridge node's ID */
	__u32 link;     /* the bridge link's ID */
	__u8 mac[6];    /* the interface's MAC (autosrc) */
	__u8 autosrc;   /* rewrite the source MAC of frames sent here */
	__u8 flags;     /* FP_EGRESS */
};

/* One host (32 bytes). `mac`, `used` and `moved` are compared as one little-endian u64:
 * mac (bits 0..47) | used << 48 | moved << 56. */
struct fp_host {
	__u32 seq;      /* even: stable; odd while fp_host_write rewrites this way */
	__u32 bridge;   /* the bridge node's ID */
	__u8 mac[6];
	__u8 used;      /* 1: a host */
	__u8 moved;     /* set by the XDP program: the host showed up on another link */
	__u32 link;     /* the link the bridge learned it on */
	__u32 slot;     /* that link's interface's slot */
	__u64 seen;     /* bpf_jiffies64() when the fast path last forwarded a frame from it */
};

struct fp_bucket {
	struct fp_host h[FP_WAYS];
};

/* fp_host_write's context (BPF_PROG_RUN ctx_in): write `h` (but its seq) into way `way` of
 * bucket `bucket`. */
struct fp_write {
	__u32 bucket;
	__u32 way;
	struct fp_host h;
};

struct fp_count {
	__u64 rx_frames;   /* received here and forwarded by the fast path */
	__u64 rx_octets;
	__u64 tx_frames;   /* redirected to this interface */
	__u64 tx_octets;
	__u64 tx_refused;  /* of those, refused by the target with an error (no NAPI at a veth's
	                    * peer: -ENXIO; down; redirect errors) */
	__u64 tx_ring_full; /* of those, dropped without an error: the target's ring was full */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FP_MAX_PORTS);
	__type(key, __u32);
	__type(value, struct fp_port);
} fp_port SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FP_BUCKETS);
	__type(key, __u32);
	__type(value, struct fp_bucket);
} fp_hosts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, FP_MAX_PORTS);
	__type(key, __u32);
	__type(value, __u32);
} fp_tx SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FP_MAX_PORTS);
	__type(key, __u32);
	__type(value, struct fp_count);
} fp_count SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FP_MAX_PORTS);
	__type(key, __u32);
	__type(value, __u32);
} fp_slot SEC(".maps");

#endif
