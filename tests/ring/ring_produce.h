/* SPDX-License-Identifier: Apache-2.0 */
/* The producer side of the ring tests (test_ringbuf, test_shm): writing and pacing records. */
#ifndef KILN_TESTS_RING_PRODUCE_H
#define KILN_TESTS_RING_PRODUCE_H

#include <sched.h>
#include <stdint.h>

#include <CUnit/CUnit.h>

#include "ringbuf/ringbuf.h"
#include "tests/ring/ring_test.h"

/* Writes record SEQ (LEN bytes of rt_fill, type RING_TYPE_TEST, FLAGS) to P, unflushed. */
static inline void rt_put(struct ring_producer *p, uint64_t seq, uint32_t len, uint16_t flags)
{
	void *d = ring_producer__reserve(p, len);

	CU_ASSERT_FATAL(d != NULL);
	CU_ASSERT_EQUAL((uintptr_t)d % 8, 0);
	rt_fill(d, len, seq);
	CU_ASSERT_FATAL(ring_producer__commit(p, RING_TYPE_TEST, flags) == 0);
}

/*
 * The tests' flow control, for "consumers keep up": waits (flushing P, yielding) until P's
 * horizon (position + SIZE/2 + SIZE/16) lies within one ring of the cursor CURSOR(CTX)
 * returns. *LIMIT caches that bound between calls (start it at 0), so the cursor is read
 * only when the producer reaches it.
 */
static inline void rt_pace(struct ring_producer *p, uint64_t size, uint64_t *limit,
			   uint64_t (*cursor)(void *ctx), void *ctx)
{
	while (ring_producer__pos(p) + size / 2 + size / 16 > *limit) {
		*limit = cursor(ctx) + size;
		if (ring_producer__pos(p) + size / 2 + size / 16 <= *limit)
			break;
		ring_producer__flush(p);
		sched_yield();
	}
}

#endif
