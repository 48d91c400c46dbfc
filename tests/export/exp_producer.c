// SPDX-License-Identifier: Apache-2.0
/*
 * Test producer: writes N deterministic window records (W workloads) into ring NAME, as the
 * agent would, and prints the sum of their sample counts on stdout.
 * usage: exp_producer NAME N W [GID]
 */
#include <stdio.h>
#include <stdlib.h>

#include "exp_common.h"
#include "shm/shm.h"

int main(int argc, char **argv)
{
	struct shm_producer_opts po = { 0 };
	struct shm_producer *p;
	uint64_t sum = 0, total, n, w, i;
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
	err = shm_producer__new(&p, &po);
	if (err) {
		fprintf(stderr, "exp_producer: %d\n", err);
		return 1;
	}
	for (i = 0; i < n; i++) {
		void *rec = exp_make_record(i, (unsigned int)(i % w), 30, &len, &total);
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
