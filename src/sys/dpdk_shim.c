// SPDX-License-Identifier: MIT
// The C side of xdpgraph's DPDK backend (built only with the `dpdk` cargo feature).
//
// DPDK's burst and mbuf functions are static inline, so Rust reaches them through these small
// wrappers. Everything here is per call, not per frame, except the loops in xg_rx / xg_tx,
// which convert between mbufs and xdpgraph's frame descriptors (an offset into the worker's
// frame area, a length, a VLAN tag).
//
// The frame area. Each worker owns one area: a memzone cut into chunks of one size, each chunk
// one mempool object laid out as
//
//     [ rte_mempool_objhdr, 64 B ][ rte_mbuf, 128 B ][ buffer (128 B headroom, then data) ]
//
// so an mbuf and its chunk are found from each other by arithmetic, the area is also a valid
// AF_XDP UMEM (unaligned-chunk mode; the kernel writes frames at chunk + 256, inside the
// mbuf's buffer), and a frame moves between DPDK ports, AF_XDP sockets and the graph as a
// descriptor, never copied. Two sizes (`--dpdk-mbuf-size`, the buffer's size as testpmd's
// `--mbuf-size` counts it):
//
//   XG_CHUNK_STD   2368 = 37 x 64: a 2176-byte buffer, DPDK's default mbuf (testpmd's, VPP's
//                  2048-byte data): a frame of up to 2048 bytes per mbuf, longer ones chained.
//                  The default.
//   XG_CHUNK_LARGE 3968 = 31 x 128: a 3776-byte buffer, frames of up to 3648 bytes in one mbuf
//                  (for drivers without RX scatter, and AF_XDP interfaces beside DPDK up to MTU
//                  3694 instead of 2094).
//
// Why these and not 4096: with 4096-byte chunks every mbuf header sits at the same offset of a
// page, so all of them share two L1 sets (12 ways) and 1/32 of the L2 sets. A burst of 64 mbufs
// then misses L1 on every header access, and the mbufs waiting in a driver's RX ring (2048 for
// af_xdp) miss L2 too. With 3968 the header moves 128 bytes down the page from one chunk to the
// next, through all 32 positions; with 2368 (37 lines), through all 64. Measured on net_null
// (xdpgraph's own per-frame cost): 26 -> 40 Mpps with 3968; see docs/BENCHMARKS.md. The AF_XDP
// kernel code limits a chunk to one page, so the stride must stay below 4096. Why the smaller
// default: DPDK's own mbuf alloc and free cost ~10% more per mbuf when consecutive mbufs are
// ~4 KiB apart than ~2.4 KiB (bench/mempool_objsize.c; each new 4 KiB page costs, see
// docs/DPDK.md), and so do net_null's RX and TX: 2368-byte chunks forward 8% more than
// 3968-byte ones over net_null (docs/BENCHMARKS.md).
//
// Chunks straddle pages, so a device that DMAs to physical addresses (IOVA as PA: no IOMMU)
// needs the area IOVA-contiguous. When that cannot be had and such a device is present, the
// area falls back to 4096-byte chunks, which never straddle a page; `chunk` says which layout
// an area has, `dma_ok` whether a physical device may use it.

#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mbuf_pool_ops.h>
#include <rte_mempool.h>
#include <rte_memzone.h>
#include <rte_ring.h>
#include <rte_bus.h>
#include <rte_dev.h>

#define XG_CHUNK_STD 2368u
#define XG_CHUNK_LARGE 3968u
#define XG_PAGE_CHUNK 4096u

struct xg_area {
	const struct rte_memzone *mz;
	struct rte_mempool *mp;
	uint8_t *base;
	uint64_t len;
	uint32_t nchunks;
	uint32_t hdr; // offset of the mbuf in its chunk (the mempool object header's size)
	uint32_t chunk; // XG_CHUNK_STD or XG_CHUNK_LARGE as asked, or XG_PAGE_CHUNK (see above)
	uint32_t dma_ok; // every chunk is IOVA-contiguous
};

// Whether ethdev `port` is a software device (on the vdev bus: af_xdp, af_packet, null,
// ring, tap...), which never DMAs to an IOVA.
int xg_eth_is_virtual(uint16_t port) {
	struct rte_eth_dev_info di;
	if (rte_eth_dev_info_get(port, &di) != 0 || !di.device)
		return 0;
	const struct rte_bus *bus = rte_dev_bus(di.device);
	return bus && strcmp(rte_bus_name(bus), "vdev") == 0;
}

static int all_devices_virtual(void) {
	uint16_t p;
	RTE_ETH_FOREACH_DEV(p) {
		if (!xg_eth_is_virtual(p))
			return 0;
	}
	return 1;
}

// `addr` modulo `chunk`, a constant after inlining: below 4 GiB (every area of fewer than a
// million frames) a 32-bit division by the constant, a shorter multiply than the 64-bit one.
static inline uint64_t off_in(uint64_t addr, uint32_t chunk, uint64_t len) {
	return likely(len <= UINT32_MAX) ? (uint32_t)addr % chunk : addr % chunk;
}

// The offset of `addr` in its chunk (a division by one of three constants).
static inline uint64_t chunk_off(const struct xg_area *a, uint64_t addr) {
	if (likely(a->chunk == XG_CHUNK_STD))
		return off_in(addr, XG_CHUNK_STD, a->len);
	if (a->chunk == XG_CHUNK_LARGE)
		return off_in(addr, XG_CHUNK_LARGE, a->len);
	return addr % XG_PAGE_CHUNK;
}

int xg_errno(void) { return rte_errno; }
const char *xg_strerror(int e) { return rte_strerror(e); }

int xg_eal_init(int argc, char **argv) {
	int r = rte_eal_init(argc, argv);
	return r < 0 ? -rte_errno : r;
}
int xg_eal_cleanup(void) { return rte_eal_cleanup(); }

// ---- the frame area

struct iter_check {
	struct xg_area *a;
	int bad;
};

static void check_obj(struct rte_mempool *mp, void *arg, void *obj, unsigned idx) {
	struct iter_check *c = arg;
	(void)mp;
	(void)idx;
	uint64_t off = (uint64_t)((uint8_t *)obj - c->a->base);
	// xg_tx relies on the buffer starting right after the mbuf
	const struct rte_mbuf *m = obj;
	if (chunk_off(c->a, off) != c->a->hdr || off >= c->a->len ||
	    (const uint8_t *)m->buf_addr != (const uint8_t *)m + sizeof(struct rte_mbuf))
		c->bad++;
}

// Creates an area of `n` chunks of `chunk` bytes (XG_CHUNK_STD or XG_CHUNK_LARGE); 0, or a
// negative errno with `err` filled in.
int xg_area_create(const char *name, uint32_t n, uint32_t chunk, int socket, struct xg_area *a,
		   char *err, size_t errlen) {
	memset(a, 0, sizeof(*a));
	if (chunk != XG_CHUNK_STD && chunk != XG_CHUNK_LARGE) {
		snprintf(err, errlen, "no frame area layout with %u-byte chunks (%u or %u)", chunk,
			 XG_CHUNK_STD, XG_CHUNK_LARGE);
		return -EINVAL;
	}
	// Chunks straddle pages, so a chunk is IOVA-contiguous only if the area is: ask for that,
	// and settle for less where device addresses are virtual ones (IOVA as VA: VFIO with an
	// IOMMU) or no device DMAs (software devices only); else fall back to page-sized chunks.
	a->chunk = chunk;
	a->dma_ok = 1;
	uint64_t len = (uint64_t)n * a->chunk;
	a->mz = rte_memzone_reserve_aligned(name, len, socket, RTE_MEMZONE_IOVA_CONTIG, 4096);
	if (!a->mz) {
		int va = rte_eal_iova_mode() != RTE_IOVA_PA;
		if (va || all_devices_virtual()) {
			a->dma_ok = va;
		} else {
			a->chunk = XG_PAGE_CHUNK;
			len = (uint64_t)n * a->chunk;
		}
		a->mz = rte_memzone_reserve_aligned(name, len, socket, 0, 4096);
	}
	if (!a->mz) {
		snprintf(err, errlen, "cannot reserve %llu bytes of DPDK memory for %u frames (%s); "
				      "give the EAL more memory (-m) or use fewer --frames",
			 (unsigned long long)len, n, rte_strerror(rte_errno));
		return -ENOMEM;
	}
	a->base = a->mz->addr;
	a->len = len;
	a->nchunks = n;
	unsigned elt = a->chunk - 64u;
	// a per-lcore cache: the worker that owns the area registers as an EAL thread, so drivers
	// freeing transmitted mbufs and refilling RX rings do not touch the shared ring each time
	// NO_IOVA_CONTIG lets objects straddle pages (the memzone's contiguity is seen to above);
	// NO_SPREAD keeps them exactly one chunk apart
	a->mp = rte_mempool_create_empty(name, n, elt, n >= 2048 ? 256 : 0,
					 sizeof(struct rte_pktmbuf_pool_private), socket,
					 RTE_MEMPOOL_F_NO_SPREAD | RTE_MEMPOOL_F_NO_IOVA_CONTIG);
	if (!a->mp) {
		snprintf(err, errlen, "rte_mempool_create_empty: %s", rte_strerror(rte_errno));
		goto fail;
	}
	if (a->mp->header_size + a->mp->elt_size + a->mp->trailer_size != a->chunk) {
		snprintf(err, errlen, "mempool objects are %u+%u+%u bytes, not one %u-byte chunk",
			 a->mp->header_size, a->mp->elt_size, a->mp->trailer_size, a->chunk);
		goto fail;
	}
	a->hdr = a->mp->header_size;
	int r = rte_mempool_set_ops_byname(a->mp, rte_mbuf_best_mempool_ops(), NULL);
	if (r) {
		snprintf(err, errlen, "rte_mempool_set_ops_byname: %s", rte_strerror(-r));
		goto fail;
	}
	struct rte_pktmbuf_pool_private priv = {
	    .mbuf_data_room_size = (uint16_t)(a->chunk - 64u - sizeof(struct rte_mbuf)),
	    .mbuf_priv_size = 0,
	};
	rte_pktmbuf_pool_init(a->mp, &priv);
	r = rte_mempool_populate_iova(a->mp, (char *)a->base, a->mz->iova, len, NULL, NULL);
	if (r < 0 || (uint32_t)r != n) {
		snprintf(err, errlen, "rte_mempool_populate_iova placed %d of %u objects (%s)", r, n,
			 r < 0 ? rte_strerror(-r) : "short");
		goto fail;
	}
	rte_mempool_obj_iter(a->mp, rte_pktmbuf_init, NULL);
	struct iter_check c = {a, 0};
	rte_mempool_obj_iter(a->mp, check_obj, &c);
	if (c.bad) {
		snprintf(err, errlen, "%d mempool objects are not at their chunk's start, or their buffer is not right after the mbuf", c.bad);
		goto fail;
	}
	return 0;
fail:
	if (a->mp)
		rte_mempool_free(a->mp);
	rte_memzone_free(a->mz);
	memset(a, 0, sizeof(*a));
	return -EINVAL;
}

void xg_area_free(struct xg_area *a) {
	if (a->mp)
		rte_mempool_free(a->mp);
	if (a->mz)
		rte_memzone_free(a->mz);
	memset(a, 0, sizeof(*a));
}

uint32_t xg_area_avail(const struct xg_area *a) { return rte_mempool_avail_count(a->mp); }

// Makes the calling (worker) thread an EAL thread with an lcore id, so mempool caches work
// for it. 0, or -1 (no lcore id left: it then runs without caches).
int xg_thread_register(void) { return rte_thread_register(); }

// Empties the calling thread's cache of the area's mempool into the mempool, and releases
// the thread's lcore id (before a worker exits).
void xg_thread_unregister(const struct xg_area *a) {
	unsigned id = rte_lcore_id();
	if (a && id != LCORE_ID_ANY) {
		struct rte_mempool_cache *c = rte_mempool_default_cache(a->mp, id);
		if (c)
			rte_mempool_cache_flush(c, a->mp);
	}
	rte_thread_unregister();
}

static inline struct rte_mbuf *chunk_mbuf(const struct xg_area *a, uint64_t addr) {
	return (struct rte_mbuf *)(a->base + addr - chunk_off(a, addr) + a->hdr);
}
static inline uint64_t mbuf_chunk(const struct xg_area *a, const struct rte_mbuf *m) {
	return (uint64_t)((const uint8_t *)m - a->base) - a->hdr;
}

// Takes `n` free chunks from the mempool (all or none); returns n or 0.
uint32_t xg_area_take(const struct xg_area *a, uint64_t *chunks, uint32_t n) {
	void *objs[256];
	if (n > 256)
		n = 256;
	if (rte_mempool_get_bulk(a->mp, objs, n) != 0)
		return 0;
	for (uint32_t i = 0; i < n; i++)
		chunks[i] = mbuf_chunk(a, objs[i]);
	return n;
}

// Returns chunks to the mempool, their mbufs in the free state (refcnt 1, nb_segs 1, next
// NULL: xdpgraph's mbufs are kept lone outside the driver, see xg_tx, and reset here anyway).
void xg_area_give(const struct xg_area *a, const uint64_t *chunks, uint32_t n) {
	void *objs[256];
	while (n) {
		uint32_t k = n > 256 ? 256 : n;
		for (uint32_t i = 0; i < k; i++) {
			struct rte_mbuf *m = chunk_mbuf(a, chunks[i]);
			rte_mbuf_refcnt_set(m, 1);
			m->nb_segs = 1;
			m->next = NULL;
			objs[i] = m;
		}
		rte_mempool_put_bulk(a->mp, objs, k);
		chunks += k;
		n -= k;
	}
}

// Audits an area once nothing may hold its chunks (every device closed, every pool gone):
// takes everything out of the mempool, counting each chunk found (*home) and each found a
// second time (*dups: a double free), then puts every chunk back exactly once. Chunks not
// found were kept by a driver that did not free them at close (*kept); they are reclaimed.
int xg_area_audit(const struct xg_area *a, uint32_t *home, uint32_t *dups, uint32_t *kept) {
	uint8_t *seen = calloc(a->nchunks, 1);
	if (!seen)
		return -ENOMEM;
	void *objs[256];
	*home = *dups = *kept = 0;
	for (;;) {
		unsigned avail = rte_mempool_avail_count(a->mp);
		if (!avail)
			break;
		unsigned k = avail < 256 ? avail : 256;
		if (rte_mempool_get_bulk(a->mp, objs, k) != 0)
			break;
		for (unsigned i = 0; i < k; i++) {
			uint64_t idx = ((uint8_t *)objs[i] - a->base) / a->chunk;
			if (idx >= a->nchunks || seen[idx])
				(*dups)++;
			else {
				seen[idx] = 1;
				(*home)++;
			}
		}
	}
	*kept = a->nchunks - *home;
	uint64_t chunks[256];
	uint32_t n = 0;
	for (uint32_t i = 0; i < a->nchunks; i++) {
		chunks[n++] = (uint64_t)i * a->chunk;
		if (n == 256 || i + 1 == a->nchunks) {
			xg_area_give(a, chunks, n);
			n = 0;
		}
	}
	free(seen);
	return 0;
}

// ---- bursts

// Jumbo frames (crate::buf's chains; these mirror crate::frame, checked on the Rust side): a
// frame over several chunks is a Frame with XG_CHAINED set, naming its first segment and its
// whole length. Each segment's chunk holds its link at the start of its mbuf's buffer (the
// pool's reserved bytes are the object header and the mbuf): the next segment's address in
// the area (XG_NO_NEXT for none, little-endian u64) and this segment's length (u32). In DPDK
// terms a chain is an mbuf chain (next, nb_segs, pkt_len); xg_rx turns one into the other in
// place, xg_tx the other way round.
#define XG_CHAINED (1u << 30)
#define XG_MAX_SEGS 18u
#define XG_MIN_HEAD 256u
#define XG_LINK_LEN 16u
#define XG_NO_NEXT UINT64_MAX
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "segment links are little-endian");

struct xg_link {
	uint64_t next;
	uint32_t len;
	uint32_t pad;
};

static inline struct xg_link *seg_link(const struct xg_area *a, uint64_t addr) {
	return (struct xg_link *)(a->base + addr - chunk_off(a, addr) + a->hdr + sizeof(struct rte_mbuf));
}

// xdpgraph's frame descriptor (crate::frame::Frame, #[repr(C, align(16))]): an offset into the
// worker's frame area, a length, and an out-of-band VLAN tag (`vtag_present | tci`, or 0) with
// XG_CHAINED for a jumbo frame.
struct xg_frame {
	uint64_t addr;
	uint32_t len;
	uint32_t vtag;
};
_Static_assert(sizeof(struct xg_frame) == 16, "xg_frame must match crate::frame::Frame");

// Counters of xg_rx, in the order crate::sys::dpdk::RxCounts has them.
struct xg_rx_counts {
	uint32_t too_many_segs; // more segments than a chain may have: dropped
	uint32_t copied;        // from another mempool (or shared): copied into the area
	uint32_t nobuf;         // to be copied, but the area had no free chunks: dropped
	uint32_t chained;       // received as a chain (jumbo frames)
};

// The rearm word of a lone mbuf with one reference, above its data_off: refcnt 1, nb_segs 1
// (the port, in the top 16 bits, left out).
#define XG_REARM_LONE 0x00010001u
_Static_assert(offsetof(struct rte_mbuf, refcnt) == offsetof(struct rte_mbuf, data_off) + 2 &&
		       offsetof(struct rte_mbuf, nb_segs) == offsetof(struct rte_mbuf, data_off) + 4 &&
		       offsetof(struct rte_mbuf, data_off) == offsetof(struct rte_mbuf, rearm_data),
	       "rte_mbuf's rearm word: data_off, refcnt, nb_segs, port");

static inline uint64_t mbuf_data(const struct xg_area *a, const struct rte_mbuf *m) {
	return (uint64_t)(rte_pktmbuf_mtod(m, const uint8_t *) - a->base);
}

// Whether an mbuf chain is ours to keep as it is: every segment from the area's mempool,
// unshared, with room for its link before its data, the first holding the headers.
static int chain_in_place(const struct xg_area *a, const struct rte_mbuf *m) {
	if (m->data_len < XG_MIN_HEAD)
		return 0;
	for (; m; m = m->next) {
		if (m->pool != a->mp || RTE_MBUF_CLONED(m) || RTE_MBUF_HAS_EXTBUF(m) ||
		    rte_mbuf_refcnt_read(m) != 1 || m->data_off < XG_LINK_LEN)
			return 0;
	}
	return 1;
}

// Writes the links of a chain of area mbufs (and makes each a lone mbuf again: next NULL,
// one segment, as xg_tx expects of our mbufs); returns the frame.
static struct xg_frame link_chain(const struct xg_area *a, struct rte_mbuf *m) {
	struct xg_frame f = {mbuf_data(a, m), m->pkt_len, XG_CHAINED};
	while (m) {
		struct rte_mbuf *next = m->next;
		struct xg_link *l = seg_link(a, mbuf_data(a, m));
		l->next = next ? mbuf_data(a, next) : XG_NO_NEXT;
		l->len = m->data_len;
		m->next = NULL;
		m->nb_segs = 1;
		m->pkt_len = m->data_len;
		m = next;
	}
	return f;
}

// Copies a frame from a foreign (or shared) mbuf, of one segment or several, into fresh
// mbufs of the area: one when it fits, a chain when not. NULL when the area ran dry (*nobuf)
// or the frame needs too many segments (*too_many).
static struct rte_mbuf *copy_in(const struct xg_area *a, const struct rte_mbuf *m,
				struct xg_rx_counts *c) {
	uint32_t len = m->pkt_len;
	uint32_t room = a->mp->elt_size - sizeof(struct rte_mbuf) - RTE_PKTMBUF_HEADROOM;
	uint32_t n = len ? (len + room - 1) / room : 1;
	if (n > XG_MAX_SEGS) {
		c->too_many_segs++;
		return NULL;
	}
	struct rte_mbuf *segs[XG_MAX_SEGS];
	if (rte_pktmbuf_alloc_bulk(a->mp, segs, n) != 0) {
		c->nobuf++;
		return NULL;
	}
	uint32_t off = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t k = len - off < room ? len - off : room;
		uint8_t *d = rte_pktmbuf_mtod(segs[i], uint8_t *);
		const void *s = rte_pktmbuf_read(m, off, k, d);
		if (s != d)
			memcpy(d, s, k);
		segs[i]->data_len = (uint16_t)k;
		segs[i]->pkt_len = k;
		segs[i]->next = i + 1 < n ? segs[i + 1] : NULL;
		off += k;
	}
	segs[0]->pkt_len = len;
	segs[0]->nb_segs = (uint16_t)n;
	segs[0]->ol_flags = m->ol_flags;
	segs[0]->vlan_tci = m->vlan_tci;
	c->copied++;
	return segs[0];
}

// A received mbuf that is not one segment of our own: copied in, or a chain of our own kept
// in place; 1 when *out was written, 0 when the frame was dropped (counted).
static __attribute__((noinline)) int rx_slow(const struct xg_area *a, struct rte_mbuf *m,
					     struct xg_frame *out, struct xg_rx_counts *c) {
	int own = m->nb_segs == 1 ? 0 : chain_in_place(a, m);
	if (m->nb_segs > XG_MAX_SEGS && own) {
		c->too_many_segs++;
		rte_pktmbuf_free(m);
		return 0;
	}
	if (!own) {
		struct rte_mbuf *copy = copy_in(a, m, c);
		rte_pktmbuf_free(m);
		if (!copy)
			return 0;
		m = copy;
	}
	if (m->nb_segs == 1) {
		out->addr = mbuf_data(a, m);
		out->len = m->data_len;
		out->vtag = 0;
	} else {
		*out = link_chain(a, m);
		c->chained++;
	}
	return 1;
}

static inline uint16_t rx_convert(const struct xg_area *a, struct rte_mbuf **ms, uint16_t got,
				  struct xg_frame *out, uint32_t vtag_present,
				  struct xg_rx_counts *c);

// Receives up to n (<= 64) frames straight into `out`; returns how many it wrote. A frame in
// an mbuf of the area, one segment, is the common case and costs nothing more. A chain of the
// area's mbufs (a jumbo frame from a driver with RX scatter) becomes a chained frame in place;
// a frame in an mbuf from another mempool (net_ring hands over whatever was enqueued) is
// copied into the area, over several chunks when it needs them. VLAN tags the NIC stripped
// come back in vtag with `vtag_present` set.
uint16_t xg_rx(const struct xg_area *a, uint16_t port, uint16_t q, struct xg_frame *out,
	       uint16_t n, uint32_t vtag_present, struct xg_rx_counts *c) {
	struct rte_mbuf *ms[64];
	if (n > 64)
		n = 64;
	uint16_t got = rte_eth_rx_burst(port, q, ms, n);
	return rx_convert(a, ms, got, out, vtag_present, c);
}

// Turns `got` received mbufs into frames in `out` (xg_rx's conversion); returns how many.
static inline uint16_t rx_convert(const struct xg_area *a, struct rte_mbuf **ms, uint16_t got,
				  struct xg_frame *out, uint32_t vtag_present,
				  struct xg_rx_counts *c) {
	uint16_t k = 0;
	const struct rte_mempool *mp = a->mp;
	const uint8_t *base = a->base;
	for (uint16_t i = 0; i < got; i++) {
		struct rte_mbuf *m = ms[i];
		// data_off, refcnt, nb_segs and port in one load (rearm_data): refcnt 1 and one
		// segment is the common case's test, data_off gives the frame's address
		uint64_t rearm;
		memcpy(&rearm, &m->rearm_data, sizeof(rearm));
		uint64_t ol = m->ol_flags;
		if (unlikely((uint32_t)(rearm >> 16) != XG_REARM_LONE || m->pool != mp ||
			     (ol & (RTE_MBUF_F_INDIRECT | RTE_MBUF_F_EXTERNAL)))) {
			uint16_t tci = m->vlan_tci;
			if (!rx_slow(a, m, &out[k], c))
				continue;
			if (ol & RTE_MBUF_F_RX_VLAN_STRIPPED)
				out[k].vtag |= vtag_present | tci;
			k++;
			continue;
		}
		// our mbufs' buffer starts right after the mbuf (checked at creation; neither
		// attached nor external here): the address by arithmetic, without loading buf_addr
		out[k].addr = (uint64_t)((const uint8_t *)m - base) + sizeof(struct rte_mbuf) +
			      (uint16_t)rearm;
		out[k].len = m->data_len;
		out[k].vtag = (ol & RTE_MBUF_F_RX_VLAN_STRIPPED) ? (vtag_present | m->vlan_tci) : 0;
		k++;
	}
	return k;
}

// What xg_fwd forwarded (the shim's struct xg_fwd; crate::sys::dpdk::Forwarded mirrors it).
struct xg_fwd {
	uint64_t octets; // of the frames received and handed on
	uint32_t rx;     // frames received and handed on (0 when they were converted instead)
	uint32_t sent;   // of those, taken by the driver; the rest were freed (TX ring full)
};

// A direct cross-connect: receives a burst on rport/rq and hands the mbufs, untouched, to
// tport/tq, as testpmd's io forwarding does (no conversion to frames and back). Only for frames
// the graph would pass on unchanged: a frame shorter than an Ethernet header, longer than
// max_len or with a VLAN tag the device stripped makes the whole burst take the graph's way,
// converted into `out` as xg_rx does (the return value: how many; *f then says 0 forwarded).
// Mbufs the driver does not take are freed (f->rx - f->sent, counted by the caller).
uint16_t xg_fwd(const struct xg_area *a, uint16_t rport, uint16_t rq, uint16_t tport,
		uint16_t tq, uint32_t max_len, struct xg_frame *out, uint32_t vtag_present,
		struct xg_rx_counts *c, struct xg_fwd *f) {
	struct rte_mbuf *ms[64];
	f->octets = 0;
	f->rx = f->sent = 0;
	uint16_t got = rte_eth_rx_burst(rport, rq, ms, 64);
	if (!got)
		return 0;
	uint64_t octets = 0;
	for (uint16_t i = 0; i < got; i++) {
		const struct rte_mbuf *m = ms[i];
		uint32_t len = m->pkt_len;
		if (unlikely(len < RTE_ETHER_HDR_LEN || len > max_len ||
			     (m->ol_flags & RTE_MBUF_F_RX_VLAN_STRIPPED)))
			return rx_convert(a, ms, got, out, vtag_present, c);
		octets += len;
	}
	uint16_t sent = rte_eth_tx_burst(tport, tq, ms, got);
	for (uint16_t i = sent; i < got; i++)
		rte_pktmbuf_free(ms[i]);
	f->octets = octets;
	f->rx = got;
	f->sent = sent;
	return 0;
}

// Makes the mbuf chain of a chained frame from its links; returns its first mbuf.
static __attribute__((noinline)) struct rte_mbuf *tx_chain(const struct xg_area *a,
							    const struct xg_frame *f, uint16_t port) {
	struct rte_mbuf *head = NULL, *prev = NULL;
	uint64_t addr = f->addr;
	uint16_t nseg = 0;
	while (addr < a->len && nseg < XG_MAX_SEGS) {
		const struct xg_link *l = seg_link(a, addr);
		struct rte_mbuf *m = chunk_mbuf(a, addr);
		m->data_off = (uint16_t)(chunk_off(a, addr) - a->hdr - sizeof(struct rte_mbuf));
		m->data_len = (uint16_t)l->len;
		m->pkt_len = l->len;
		m->ol_flags = 0;
		m->packet_type = 0;
		m->port = port;
		m->nb_segs = 1;
		m->next = NULL;
		if (prev)
			prev->next = m;
		else
			head = m;
		prev = m;
		nseg++;
		addr = l->next;
	}
	head->nb_segs = nseg;
	head->pkt_len = f->len;
	return head;
}

// Makes the mbufs of a chain the driver did not take lone mbufs again (the frame stays the
// caller's, its links intact).
static __attribute__((noinline)) void tx_unchain(struct rte_mbuf *m) {
	while (m) {
		struct rte_mbuf *next = m->next;
		m->next = NULL;
		m->nb_segs = 1;
		m = next;
	}
}

// Transmits n frames of the area; returns how many the driver took (the rest stay ours), or
// XG_TX_TOO_BIG, having sent nothing, when a frame is longer than max_len (the caller drops
// those and sends again: the check rides on the conversion loop, which reads every length).
// Only the mbuf's first cache line is written for a frame of one chunk: the rest holds
// invariants of xdpgraph's mbufs (next NULL, one segment, refcnt 1, our pool), kept by xg_rx
// (which unchains what it receives and copies foreign frames), by xg_area_give, by DPDK's own
// free (which unchains) and by tx_unchain. A chained frame leaves as an mbuf chain.
#define XG_TX_TOO_BIG 0xffffu
uint16_t xg_tx(const struct xg_area *a, uint16_t port, uint16_t q, const struct xg_frame *f,
	       uint16_t n, uint32_t max_len) {
	struct rte_mbuf *ms[64];
	int chains = 0;
	uint32_t longest = 0;
	if (n > 64)
		n = 64;
	for (uint16_t i = 0; i < n; i++) {
		uint32_t len = f[i].len;
		longest = len > longest ? len : longest;
		if (unlikely(f[i].vtag & XG_CHAINED)) {
			ms[i] = tx_chain(a, &f[i], port);
			chains = 1;
			continue;
		}
		uint64_t off = chunk_off(a, f[i].addr);
		struct rte_mbuf *m = (struct rte_mbuf *)(a->base + f[i].addr - off + a->hdr);
		// Our mbufs have no private area, so the buffer starts right after the mbuf
		// (rte_pktmbuf_init): data_off by arithmetic, without loading buf_addr.
		m->data_off = (uint16_t)(off - a->hdr - sizeof(struct rte_mbuf));
		m->data_len = (uint16_t)len;
		m->pkt_len = len;
		m->ol_flags = 0;
		m->packet_type = 0;
		m->port = port;
		ms[i] = m;
	}
	uint16_t sent = 0;
	if (likely(longest <= max_len))
		sent = rte_eth_tx_burst(port, q, ms, n);
	if (unlikely(chains))
		for (uint16_t i = sent; i < n; i++)
			if (f[i].vtag & XG_CHAINED)
				tx_unchain(ms[i]);
	return longest <= max_len ? sent : XG_TX_TOO_BIG;
}

// ---- devices

int xg_eth_next(int after) {
	uint64_t p = rte_eth_find_next_owned_by((uint16_t)(after + 1), RTE_ETH_DEV_NO_OWNER);
	return p >= RTE_MAX_ETHPORTS ? -1 : (int)p;
}

int xg_eth_name(uint16_t port, char *buf, size_t len) {
	char n[RTE_ETH_NAME_MAX_LEN];
	int r = rte_eth_dev_get_name_by_port(port, n);
	if (r)
		return r;
	snprintf(buf, len, "%s", n);
	return 0;
}

struct xg_info {
	uint16_t max_rxq, max_txq;
	uint16_t min_mtu, max_mtu;
	uint32_t if_index;
	uint32_t max_rx_pktlen;
	uint64_t rss_offloads;
	uint64_t rx_offloads; // rx_offload_capa
	uint64_t tx_offloads; // tx_offload_capa
	char driver[64];
};

// The capability bits xdpgraph asks about (crate::sys::dpdk mirrors them).
_Static_assert(RTE_ETH_RX_OFFLOAD_SCATTER == (1ull << 13), "RX scatter bit");
_Static_assert(RTE_ETH_TX_OFFLOAD_MULTI_SEGS == (1ull << 15), "TX multi-segs bit");

int xg_eth_info(uint16_t port, struct xg_info *out) {
	struct rte_eth_dev_info di;
	int r = rte_eth_dev_info_get(port, &di);
	if (r)
		return r;
	out->max_rxq = di.max_rx_queues;
	out->max_txq = di.max_tx_queues;
	out->min_mtu = di.min_mtu;
	out->max_mtu = di.max_mtu;
	out->if_index = di.if_index;
	out->max_rx_pktlen = di.max_rx_pktlen;
	out->rx_offloads = di.rx_offload_capa;
	out->tx_offloads = di.tx_offload_capa;
	out->rss_offloads = di.flow_type_rss_offloads;
	snprintf(out->driver, sizeof(out->driver), "%s", di.driver_name ? di.driver_name : "?");
	return 0;
}

// Configures nrx RX queues (RSS over them when more than one) and ntx TX queues, each RX
// queue q filled from areas[q], with nb_rxd / nb_txd descriptors (0: the driver's preference),
// and an MTU of `mtu` (0: DPDK's default, 1500). Frames longer than one mbuf's room are
// received over several mbufs (RX scatter) and sent as mbuf chains (TX multi-segs) where the
// driver offers those offloads (the caller checked the rest). The ring sizes used are written
// back into *nb_rxd / *nb_txd.
int xg_eth_setup(uint16_t port, uint16_t nrx, uint16_t ntx, const struct xg_area *const *areas,
		 uint32_t mtu, uint16_t *nb_rxd_io, uint16_t *nb_txd_io, char *err, size_t errlen) {
	uint16_t nb_rxd = *nb_rxd_io, nb_txd = *nb_txd_io;
	struct rte_eth_dev_info di;
	int r = rte_eth_dev_info_get(port, &di);
	if (r) {
		snprintf(err, errlen, "rte_eth_dev_info_get: %s", rte_strerror(-r));
		return r;
	}
	struct rte_eth_conf conf;
	memset(&conf, 0, sizeof(conf));
	uint64_t rss = di.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP | RTE_ETH_RSS_TCP);
	if (nrx > 1 && rss) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf = rss;
	}
	conf.rxmode.mtu = mtu;
	uint32_t room = areas[0]->mp->elt_size - sizeof(struct rte_mbuf) - RTE_PKTMBUF_HEADROOM;
	if (mtu + 18 > room) {
		conf.rxmode.offloads |= di.rx_offload_capa & RTE_ETH_RX_OFFLOAD_SCATTER;
		conf.txmode.offloads |= di.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
	}
	r = rte_eth_dev_configure(port, nrx, ntx, &conf);
	if (r) {
		snprintf(err, errlen, "rte_eth_dev_configure(%u rx, %u tx queues, MTU %u): %s", nrx,
			 ntx, mtu ? mtu : RTE_ETHER_MTU, rte_strerror(-r));
		return r;
	}
	// 0: the ring size the driver prefers (what testpmd uses by default), else 1024
	if (!nb_rxd)
		nb_rxd = di.default_rxportconf.ring_size ? di.default_rxportconf.ring_size : 1024;
	if (!nb_txd)
		nb_txd = di.default_txportconf.ring_size ? di.default_txportconf.ring_size : 1024;
	r = rte_eth_dev_adjust_nb_rx_tx_desc(port, &nb_rxd, &nb_txd);
	if (r) {
		snprintf(err, errlen, "rte_eth_dev_adjust_nb_rx_tx_desc: %s", rte_strerror(-r));
		return r;
	}
	int socket = rte_eth_dev_socket_id(port);
	for (uint16_t q = 0; q < nrx; q++) {
		r = rte_eth_rx_queue_setup(port, q, nb_rxd, socket, NULL, areas[q]->mp);
		if (r) {
			snprintf(err, errlen, "rte_eth_rx_queue_setup(queue %u): %s", q, rte_strerror(-r));
			return r;
		}
	}
	for (uint16_t q = 0; q < ntx; q++) {
		r = rte_eth_tx_queue_setup(port, q, nb_txd, socket, NULL);
		if (r) {
			snprintf(err, errlen, "rte_eth_tx_queue_setup(queue %u): %s", q, rte_strerror(-r));
			return r;
		}
	}
	r = rte_eth_dev_start(port);
	if (r) {
		snprintf(err, errlen, "rte_eth_dev_start: %s", rte_strerror(-r));
		return r;
	}
	*nb_rxd_io = nb_rxd;
	*nb_txd_io = nb_txd;
	return 0;
}

int xg_eth_stop_close(uint16_t port) {
	int r = rte_eth_dev_stop(port);
	int c = rte_eth_dev_close(port);
	return r ? r : c;
}

int xg_eth_mac(uint16_t port, uint8_t *out) {
	struct rte_ether_addr m;
	int r = rte_eth_macaddr_get(port, &m);
	if (!r)
		memcpy(out, m.addr_bytes, 6);
	return r;
}
int xg_eth_set_mac(uint16_t port, const uint8_t *mac) {
	struct rte_ether_addr m;
	memcpy(m.addr_bytes, mac, 6);
	return rte_eth_dev_default_mac_addr_set(port, &m);
}
int xg_eth_promisc(uint16_t port) { return rte_eth_promiscuous_get(port); }
int xg_eth_set_promisc(uint16_t port, int on) {
	return on ? rte_eth_promiscuous_enable(port) : rte_eth_promiscuous_disable(port);
}
int xg_eth_set_mc(uint16_t port, const uint8_t *macs, uint32_t n) {
	struct rte_ether_addr list[64];
	if (n > 64)
		return -ENOSPC;
	for (uint32_t i = 0; i < n; i++)
		memcpy(list[i].addr_bytes, macs + 6 * i, 6);
	return rte_eth_dev_set_mc_addr_list(port, list, n);
}
// 1 up, 0 down, negative errno.
int xg_eth_link(uint16_t port) {
	struct rte_eth_link l;
	int r = rte_eth_link_get_nowait(port, &l);
	return r ? r : l.link_status == RTE_ETH_LINK_UP;
}
// ipackets opackets ibytes obytes imissed ierrors oerrors rx_nombuf
int xg_eth_stats(uint16_t port, uint64_t *out) {
	struct rte_eth_stats s;
	int r = rte_eth_stats_get(port, &s);
	if (r)
		return r;
	out[0] = s.ipackets;
	out[1] = s.opackets;
	out[2] = s.ibytes;
	out[3] = s.obytes;
	out[4] = s.imissed;
	out[5] = s.ierrors;
	out[6] = s.oerrors;
	out[7] = s.rx_nombuf;
	return 0;
}

int xg_dev_probe(const char *devargs) { return rte_dev_probe(devargs); }

// Unplugs the device behind ethdev `port` (one this process hot-plugged and then refused).
int xg_dev_remove(uint16_t port) {
	struct rte_eth_dev_info di;
	int r = rte_eth_dev_info_get(port, &di);
	if (r || !di.device)
		return r ? r : -ENODEV;
	return rte_dev_remove(di.device);
}

// ---- ring ports (tests): an ethdev over rings we own, from the net_ring driver's
// rte_eth_from_rings, found in the loaded driver rather than linked (EAL loads the drivers as
// plugins; linking the same driver again would register it twice).

typedef int (*from_rings_fn)(const char *, struct rte_ring *const[], const unsigned,
			     struct rte_ring *const[], const unsigned, const unsigned);

int xg_ring_port(const char *name, uint16_t nq, void **rx, void **tx, char *err, size_t errlen) {
	void *h = dlopen(RTE_EAL_PMD_PATH "/librte_net_ring.so", RTLD_NOW | RTLD_NOLOAD);
	if (!h)
		h = dlopen(RTE_EAL_PMD_PATH "/librte_net_ring.so", RTLD_NOW);
	from_rings_fn f = h ? (from_rings_fn)dlsym(h, "rte_eth_from_rings") : NULL;
	if (!f) {
		snprintf(err, errlen, "the net_ring driver is not available (%s)", dlerror());
		return -ENOENT;
	}
	char rn[RTE_RING_NAMESIZE];
	for (uint16_t q = 0; q < nq; q++) {
		snprintf(rn, sizeof(rn), "%.20s_r%u", name, q);
		rx[q] = rte_ring_create(rn, 4096, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
		snprintf(rn, sizeof(rn), "%.20s_t%u", name, q);
		tx[q] = rte_ring_create(rn, 4096, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (!rx[q] || !tx[q]) {
			snprintf(err, errlen, "rte_ring_create %s: %s", rn, rte_strerror(rte_errno));
			return -ENOMEM;
		}
	}
	int p = f(name, (struct rte_ring *const *)rx, nq, (struct rte_ring *const *)tx, nq,
		  SOCKET_ID_ANY);
	if (p < 0) {
		snprintf(err, errlen, "rte_eth_from_rings: %s", rte_strerror(rte_errno));
		return -EINVAL;
	}
	return p;
}

void xg_ring_free(void *r) { rte_ring_free(r); }

// A pool for frames injected into ring ports (as a wire would deliver them).
void *xg_test_pool(const char *name, uint32_t n) {
	return rte_pktmbuf_pool_create(name, n, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
}
uint32_t xg_pool_avail(void *mp) { return rte_mempool_avail_count(mp); }
uint32_t xg_pool_size(void *mp) { return ((struct rte_mempool *)mp)->size; }
void xg_pool_free(void *mp) { rte_mempool_free(mp); }

// Enqueues a copy of `data` on a ring as a received frame, over as many mbufs as it needs
// (a chain, as a driver with RX scatter delivers a jumbo frame); 0, or -1 when the pool or the
// ring is full.
int xg_ring_inject(void *ring, void *mp, const uint8_t *data, uint32_t len) {
	struct rte_mbuf *head = rte_pktmbuf_alloc(mp);
	if (!head)
		return -1;
	uint32_t off = 0;
	for (;;) {
		uint32_t k = len - off, room = rte_pktmbuf_tailroom(rte_pktmbuf_lastseg(head));
		if (k > room)
			k = room;
		char *d = rte_pktmbuf_append(head, (uint16_t)k); // to the last segment
		if (!d)
			goto fail;
		memcpy(d, data + off, k);
		off += k;
		if (off == len)
			break;
		struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
		if (!m)
			goto fail;
		if (rte_pktmbuf_chain(head, m) != 0) {
			rte_pktmbuf_free(m);
			goto fail;
		}
	}
	if (rte_ring_enqueue(ring, head) != 0)
		goto fail;
	return 0;
fail:
	rte_pktmbuf_free(head);
	return -1;
}

// Moves up to `max` frames from one ring to another as they are (the mbufs too, chains and
// all): a wire from a ring port's TX ring to another's RX ring. Returns how many moved.
int xg_ring_wire(void *from, void *to, uint32_t max) {
	void *objs[64];
	int moved = 0;
	while (max) {
		unsigned n = rte_ring_dequeue_burst(from, objs, max < 64 ? max : 64, NULL);
		if (!n)
			break;
		unsigned k = rte_ring_enqueue_burst(to, objs, n, NULL);
		for (unsigned i = k; i < n; i++)
			rte_pktmbuf_free(objs[i]);
		moved += k;
		max -= n;
	}
	return moved;
}

// Dequeues one transmitted frame into buf (cap bytes); its length, or -1 when the ring is
// empty. The mbuf goes back to its pool.
int xg_ring_take(void *ring, uint8_t *buf, uint32_t cap) {
	struct rte_mbuf *m;
	if (rte_ring_dequeue(ring, (void **)&m) != 0)
		return -1;
	uint32_t n = rte_pktmbuf_pkt_len(m);
	const void *d = rte_pktmbuf_read(m, 0, n < cap ? n : cap, buf);
	if (d && d != buf)
		memcpy(buf, d, n < cap ? n : cap);
	rte_pktmbuf_free(m);
	return (int)n;
}
