// SPDX-License-Identifier: Apache-2.0
/*
 * Test producer: writes N deterministic window records (W workloads, STACKS distinct stacks
 * each, default 30) into ring NAME, as the agent would, and prints the sum of their sample
 * counts on stdout. Window i starts i seconds after a start chosen so that the last one
 * ends AGE seconds ago (default 0): receivers with an ingestion window take them, unless
 * AGE puts them outside it.
 * usage: exp_producer NAME N W [GID [STACKS [AGE]]]   (GID -1: the creator's group)
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "exp_common.h"
#include "shm/shm.h"

int main(int argc, char **argv)
{
	struct shm_producer_opts po = { 0 };
	struct shm_producer *p;
	uint64_t sum = 0, total, n, w, i, start_ns, age;
	unsigned int stacks;
	struct timespec now;
	size_t len;
	int err;

	if (argc < 4) {
		fprintf(stderr, "usage: exp_producer NAME N W [GID]\n");
		return 2;
	}
	po.name = argv[1];
	po.size = 16 << 20;
	po.gid = argc > 4 ? atol(argv[4]) : -1;
	n = strtoull(argv[2], NULL, 10);
	w = strtoull(argv[3], NULL, 10);
	stacks = argc > 5 ? (unsigned int)strtoul(argv[5], NULL, 10) : 30;
	age = argc > 6 ? strtoull(argv[6], NULL, 10) : 0;
	if (stacks > 1000)
		po.size = 128 << 20; /* records of a few MiB each */
	clock_gettime(CLOCK_REALTIME, &now);
	start_ns = ((uint64_t)now.tv_sec - age - n - 1) * 1000000000ull;
	err = shm_producer__new(&p, &po);
	if (err) {
		fprintf(stderr, "exp_producer: %d\n", err);
		return 1;
	}
	for (i = 0; i < n; i++) {
		void *rec = exp_make_record_at(i, (unsigned int)(i % w), stacks, start_ns, &len,
					       &total);
		void *dst;

		if (!rec)
			return 1;
		dst = ring_producer__reserve(shm_producer__ring(p), (uint32_t)len);
		if (!dst)
			return 1;
		memcpy(dst, rec, len);
		ring_producer__commit(shm_producer__ring(p), RING_TYPE_WINDOW, 0);
		ring_producer__flush(shm_producer__ring(p));
		free(rec);
		sum += total;
	}
	shm_producer__free(p);
	printf("%llu\n", (unsigned long long)sum);
	return 0;
}
