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
//   fp_fdb   - HASH (bridge, MAC) -> struct fp_host: the hosts the bridge has learned on
//              fast-path links. The program refreshes `seen`; it deletes an entry whose host
//              shows up on another link (the bridge in the worker then decides: move or loop).
//   fp_tx    - DEVMAP slot -> ifindex: the redirect targets.
//   fp_count - PERCPU_ARRAY slot -> struct fp_count: what the fast path did per interface.
//   fp_slot  - HASH ifindex -> slot, for the tracepoint programs.

#ifndef XDPGRAPH_FASTPATH_H
#define XDPGRAPH_FASTPATH_H

#define STEER_ON 1
#define STEER_FAST_PATH 2
#define FP_EGRESS 2
#define FP_MAX_PORTS 1024
#define FP_MAX_HOSTS 262144

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

struct fp_key {
	__u32 bridge;
	__u8 mac[6];
	__u16 pad;
};

struct fp_host {
	__u32 link;     /* the link the bridge learned it on */
	__u32 slot;     /* that link's interface's slot */
	__u32 seen;     /* last seen as a source by the fast path (coarse ns >> 30) */
	__u32 pad;
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
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FP_MAX_HOSTS);
	__type(key, struct fp_key);
	__type(value, struct fp_host);
} fp_fdb SEC(".maps");

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
