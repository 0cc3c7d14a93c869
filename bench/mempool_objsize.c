// SPDX-License-Identifier: MIT
// What an mbuf costs DPDK's mempool by object size (docs/DPDK.md, "Why 2368 by default").
//
// For each buffer size, a pktmbuf pool of 16384 mbufs with a 256-object per-lcore cache (as
// testpmd's and xdpgraph's); then, as net_null's RX and TX do for a forwarder, bursts of 64:
// rte_pktmbuf_alloc_bulk, the RX fields written, rte_pktmbuf_free each. The same 64 objects
// come back from the cache every time, so every access hits L1 whatever the size. Prints ns
// per mbuf (TSC), per round, sizes interleaved. One pool of each size is also refilled in a
// shuffled order (its 64 objects then scattered over the pool) to tell the stride from the size.
//
// Build and run: bench/mempool_objsize.sh (root; libdpdk-dev; BURST=32 for bursts of 32).
#include <stdio.h>
#include <stdlib.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#define POOL 16384
#ifndef BURST
#define BURST 64
#endif

static double ns_per_mbuf(struct rte_mempool *mp, long iters) {
	struct rte_mbuf *b[BURST];
	uint64_t t0 = rte_rdtsc();
	for (long it = 0; it < iters; it++) {
		if (rte_pktmbuf_alloc_bulk(mp, b, BURST)) {
			fprintf(stderr, "alloc failed\n");
			exit(1);
		}
		for (int i = 0; i < BURST; i++) {
			b[i]->data_len = 64;
			b[i]->pkt_len = 64;
			b[i]->port = (uint16_t)(it & 1);
		}
		for (int i = 0; i < BURST; i++)
			rte_pktmbuf_free(b[i]);
	}
	uint64_t t1 = rte_rdtsc();
	return (double)(t1 - t0) * 1e9 / (double)rte_get_tsc_hz() / (double)(iters * BURST);
}

static void shuffle(struct rte_mempool *mp) {
	static void *objs[POOL];
	if (rte_mempool_get_bulk(mp, objs, POOL)) {
		fprintf(stderr, "get_bulk failed\n");
		exit(1);
	}
	srand(1);
	for (int j = POOL - 1; j > 0; j--) {
		int k = rand() % (j + 1);
		void *t = objs[j];
		objs[j] = objs[k];
		objs[k] = t;
	}
	rte_mempool_put_bulk(mp, objs, POOL);
}

int main(int argc, char **argv) {
	if (rte_eal_init(argc, argv) < 0)
		return 1;
	// buffer sizes as testpmd's --mbuf-size counts them (headroom included); the last two
	// pools repeat 2176 and 3776, shuffled
	static const int sizes[] = {2176, 2816, 3200, 3584, 3776, 2176, 3776};
	enum { N = sizeof(sizes) / sizeof(sizes[0]) };
	struct rte_mempool *mp[N];
	printf("buffer  object  (bytes; object = mempool header + mbuf + buffer, padded by the mempool)\n");
	for (int i = 0; i < N; i++) {
		char name[32];
		snprintf(name, sizeof(name), "objsize%d", i);
		mp[i] = rte_pktmbuf_pool_create(name, POOL, 256, 0, sizes[i], 0);
		if (!mp[i]) {
			fprintf(stderr, "pool of %d-byte buffers: %s\n", sizes[i], rte_strerror(rte_errno));
			return 1;
		}
		if (i >= N - 2)
			shuffle(mp[i]);
		printf("%6d  %6u%s\n", sizes[i],
		       mp[i]->header_size + mp[i]->elt_size + mp[i]->trailer_size,
		       i >= N - 2 ? "  (shuffled)" : "");
	}
	for (int round = 1; round <= 5; round++) {
		printf("round %d:", round);
		for (int i = 0; i < N; i++) {
			ns_per_mbuf(mp[i], 100000); // warm
			printf("  %d%s %.3f", sizes[i], i >= N - 2 ? "s" : "", ns_per_mbuf(mp[i], 2000000));
		}
		printf("  (ns per mbuf)\n");
	}
	return 0;
}
