// SPDX-License-Identifier: Apache-2.0
/* ringbuf/ over plain memory: framing, wraparound, lapping, corruption, wake-ups, threads. */
#include <CUnit/Basic.h>

#include "tests/lib/kiln_test.h"
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ringbuf/ringbuf.h"
#include "tests/ring/ring_produce.h"
#include "tests/ring/ring_test.h"

struct mem {
	struct ring_ctl ctl;
	struct ring_wake wake;
	struct ring_cursor cur[4];
	uint64_t size;
	uint8_t *data;
};

static struct mem *mem_new(uint64_t size)
{
	struct mem *m = calloc(1, sizeof(*m));

	CU_ASSERT_FATAL(m != NULL);
	m->size = size;
	m->data = aligned_alloc(64, size);
	CU_ASSERT_FATAL(m->data != NULL);
	memset(m->data, 0, size);
	return m;
}

static void mem_free(struct mem *m)
{
	free(m->data);
	free(m);
}

static struct ring_producer *prod(struct mem *m, bool recover, uint64_t publish)
{
	struct ring_producer_opts o = { .recover = recover, .publish_bytes = publish };
	struct ring_producer *p = NULL;

	CU_ASSERT_FATAL(ring_producer__new(&p, &m->ctl, m->data, m->size, &m->wake, &o) == 0);
	return p;
}

static struct ring_consumer *cons(struct mem *m, int i, enum ring_start start)
{
	struct ring_consumer_opts o = { .start = start, .wake_bit = i };
	struct ring_consumer *c = NULL;

	CU_ASSERT_FATAL(
		ring_consumer__new(&c, &m->ctl, m->data, m->size, &m->cur[i], &m->wake, &o) == 0);
	return c;
}

/* Record SEQ of LEN bytes, its flags the low bits of SEQ (drain() checks them). */
static void put(struct ring_producer *p, uint64_t seq, uint32_t len)
{
	rt_put(p, seq, len, (uint16_t)seq);
}

/*
 * Reads everything available; checks order and content against the producer's seq stream.
 * Returns the number of records read; *next is the next seq expected.
 */
static uint64_t drain(struct ring_consumer *c, uint64_t *next, uint32_t max, int *bad)
{
	struct ring_rec r;
	uint64_t n = 0;

	while (ring_consumer__peek(c, &r) == 0) {
		if (r.seq < *next || r.type != RING_TYPE_TEST ||
		    !rt_check(r.data, rt_len(r.seq, max), r.seq) || r.flags != (uint16_t)r.seq)
			(*bad)++;
		if (ring_consumer__release(c) != 0)
			continue;
		*next = r.seq + 1;
		n++;
	}
	return n;
}

static void test_basic(void)
{
	struct mem *m = mem_new(4096);
	struct ring_producer *p = prod(m, false, 1);
	struct ring_consumer *c = cons(m, 0, RING_START_NEWEST), *c2 = NULL;
	struct ring_rec r;
	int i;

	CU_ASSERT_EQUAL(ring_consumer__peek(c, &r), -EAGAIN);
	CU_ASSERT_EQUAL(ring_consumer__release(c), -EINVAL);
	for (i = 0; i < 10; i++) {
		char *d = ring_producer__reserve(p, 5);

		CU_ASSERT_FATAL(d != NULL);
		memcpy(d, "hello", 5);
		d[0] = (char)('0' + i);
		CU_ASSERT_EQUAL(ring_producer__commit(p, RING_TYPE_TEST, 7), 0);
	}
	ring_producer__flush(p);
	for (i = 0; i < 10; i++) {
		CU_ASSERT_FATAL(ring_consumer__peek(c, &r) == 0);
		/* peek again without release: same record */
		CU_ASSERT_FATAL(ring_consumer__peek(c, &r) == 0);
		CU_ASSERT_EQUAL(r.len, 8);
		CU_ASSERT_EQUAL(r.flags, 7);
		CU_ASSERT_EQUAL(((const char *)r.data)[0], '0' + i);
		CU_ASSERT_EQUAL(memcmp((const char *)r.data + 1, "ello", 4), 0);
		CU_ASSERT_EQUAL(ring_consumer__release(c), 0);
	}
	CU_ASSERT_EQUAL(ring_consumer__peek(c, &r), -EAGAIN);
	CU_ASSERT_EQUAL(atomic_load(&m->cur[0].consumed), 10);
	CU_ASSERT_EQUAL(atomic_load(&m->cur[0].lost), 0);

	/* invalid uses */
	CU_ASSERT(ring_producer__reserve(p, (uint32_t)ring__max_payload(4096) + 1) == NULL);
	CU_ASSERT_EQUAL(errno, EMSGSIZE);
	CU_ASSERT_EQUAL(atomic_load(&m->ctl.too_big), 1);
	CU_ASSERT(ring_producer__reserve(p, 8) != NULL);
	CU_ASSERT(ring_producer__reserve(p, 8) == NULL);
	CU_ASSERT_EQUAL(errno, EBUSY);
	CU_ASSERT_EQUAL(ring_producer__commit(p, RING_TYPE_PAD, 0), -EINVAL);
	CU_ASSERT_EQUAL(ring_producer__commit(p, RING_TYPE_TEST, 0), -EINVAL);
	ring_producer__flush(p);
	CU_ASSERT_EQUAL(ring_consumer__peek(c, &r), -EAGAIN);
	CU_ASSERT_EQUAL(ring_consumer__new(&c2, &m->ctl, m->data, 1000, &m->cur[1], &m->wake, NULL),
			-EINVAL);
	CU_ASSERT(c2 == NULL);
	ring_consumer__free(c);
	ring_producer__free(p);
	ring_producer__free(NULL);
	ring_consumer__free(NULL);
	mem_free(m);
}

/* Mixed sizes over many laps, consumer keeping up: every record in order and intact. */
static void test_wrap_mixed(void)
{
	const uint64_t size = 16384, n = 200000;
	uint32_t max = (uint32_t)ring__max_payload(size);
	struct mem *m = mem_new(size);
	struct ring_producer *p = prod(m, false, 1);
	struct ring_consumer *c = cons(m, 0, RING_START_NEWEST);
	uint64_t seq, next = 0, got = 0;
	int bad = 0;

	for (seq = 0; seq < n; seq++) {
		put(p, seq, rt_len(seq, max));
		if (seq % 3 == 0) {
			ring_producer__flush(p);
			got += drain(c, &next, max, &bad);
		}
	}
	ring_producer__flush(p);
	got += drain(c, &next, max, &bad);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(got, n);
	CU_ASSERT_EQUAL(next, n);
	CU_ASSERT_EQUAL(atomic_load(&m->cur[0].lost), 0);
	CU_ASSERT_EQUAL(atomic_load(&m->cur[0].lapped), 0);
	CU_ASSERT_EQUAL(atomic_load(&m->cur[0].corrupt), 0);
	/* the test means nothing unless it wrapped a lot and padded */
	CU_ASSERT(atomic_load(&m->ctl.head) / size > 100);
	CU_ASSERT(atomic_load(&m->ctl.pads) > 50);
	CU_ASSERT_EQUAL(atomic_load(&m->ctl.records), n);
	ring_consumer__free(c);
	ring_producer__free(p);
	mem_free(m);
}

/*
 * One consumer keeps up, one is stalled for the whole run: the first loses nothing, the
 * second gets the newest records still in the ring and counts every other record as lost.
 */
static void test_stalled(void)
{
	const uint64_t size = 65536, n = 100000;
	const uint32_t len = 40; /* 56-byte records */
	struct mem *m = mem_new(size);
	struct ring_producer *p = prod(m, false, 1);
	struct ring_consumer *a = cons(m, 0, RING_START_NEWEST);
	struct ring_consumer *b = cons(m, 1, RING_START_NEWEST);
	uint64_t seq, next_a = 0, next_b = 0, got_a = 0, got_b, first_b;
	struct ring_rec r;
	int bad = 0;

	for (seq = 0; seq < n; seq++) {
		rt_put(p, seq, len, 0);
		if (seq % 16 == 0) {
			ring_producer__flush(p);
			while (ring_consumer__peek(a, &r) == 0) {
				if (r.seq != next_a || !rt_check(r.data, len, r.seq))
					bad++;
				CU_ASSERT(ring_consumer__release(a) == 0);
				next_a = r.seq + 1;
				got_a++;
			}
		}
	}
	ring_producer__flush(p);
	while (ring_consumer__peek(a, &r) == 0) {
		CU_ASSERT(ring_consumer__release(a) == 0);
		got_a++;
	}
	CU_ASSERT_EQUAL(got_a, n);
	CU_ASSERT_EQUAL(atomic_load(&m->cur[0].lost), 0);

	CU_ASSERT_FATAL(ring_consumer__peek(b, &r) == 0);
	first_b = r.seq;
	next_b = first_b;
	got_b = 0;
	do {
		if (r.seq != next_b || !rt_check(r.data, len, r.seq))
			bad++;
		CU_ASSERT(ring_consumer__release(b) == 0);
		next_b = r.seq + 1;
		got_b++;
	} while (ring_consumer__peek(b, &r) == 0);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(next_b, n);
	/* exact accounting: everything before the first record it got is counted lost */
	CU_ASSERT_EQUAL(atomic_load(&m->cur[1].lost), first_b);
	CU_ASSERT_EQUAL(got_b + atomic_load(&m->cur[1].lost), n);
	CU_ASSERT_EQUAL(atomic_load(&m->cur[1].lapped), 1);
	/* documented bound: at least size - size/16 - 2 * max record of history survives */
	CU_ASSERT(got_b * 56 >= size - size / 16 - 2 * (size / 4));
	ring_consumer__free(a);
	ring_consumer__free(b);
	ring_producer__free(p);
	mem_free(m);
}

/* A record overwritten while the consumer holds it: release says so, loss counted once. */
static void test_lapped_during_read(void)
{
	const uint64_t size = 4096;
	struct mem *m = mem_new(size);
	struct ring_producer *p = prod(m, false, 1);
	struct ring_consumer *c = cons(m, 0, RING_START_NEWEST);
	struct ring_rec r;
	uint64_t seq;

	put(p, 0, 100);
	ring_producer__flush(p);
	CU_ASSERT_FATAL(ring_consumer__peek(c, &r) == 0);
	CU_ASSERT_EQUAL(r.seq, 0);
	for (seq = 1; seq < 200; seq++)
		put(p, seq, 100);
	ring_producer__flush(p);
	CU_ASSERT_EQUAL(ring_consumer__release(c), -ESTALE);
	CU_ASSERT_EQUAL(atomic_load(&m->cur[0].consumed), 0);
	CU_ASSERT_FATAL(ring_consumer__peek(c, &r) == 0);
	CU_ASSERT(r.seq > 1);
	CU_ASSERT(rt_check(r.data, 100, r.seq));
	/* records 0 .. r.seq - 1 are lost, including the one that was held */
	CU_ASSERT_EQUAL(atomic_load(&m->cur[0].lost), r.seq);
	CU_ASSERT_EQUAL(ring_consumer__release(c), 0);
	ring_consumer__free(c);
	ring_producer__free(p);
	mem_free(m);
}

static uint8_t *rec_hdr_at(struct mem *m, uint64_t pos)
{
	return m->data + (pos & (m->size - 1));
}

/* Corrupts the header of a committed record in one way; the consumer must resync to head. */
static void corrupt_case(int how)
{
	const uint64_t size = 8192;
	struct mem *m = mem_new(size);
	struct ring_producer *p = prod(m, false, 1);
	struct ring_consumer *c = cons(m, 0, RING_START_NEWEST);
	uint64_t start = atomic_load(&m->ctl.head), seq;
	struct ring_rec r;
	uint64_t w;
	uint8_t *h;

	for (seq = 0; seq < 10; seq++)
		put(p, seq, 24); /* 40-byte records */
	ring_producer__flush(p);
	/* consume 2, corrupt the third one's header */
	CU_ASSERT_FATAL(ring_consumer__peek(c, &r) == 0 && r.seq == 0);
	CU_ASSERT(ring_consumer__release(c) == 0);
	CU_ASSERT_FATAL(ring_consumer__peek(c, &r) == 0 && r.seq == 1);
	CU_ASSERT(ring_consumer__release(c) == 0);
	h = rec_hdr_at(m, start + 2 * 40);
	memcpy(&w, h, 8);
	switch (how) {
	case 0:
		w = (w & ~0xffffffffull) | 41;
		break; /* misaligned length */
	case 1:
		w = (w & ~0xffffffffull) | 0x7ffffff8;
		break; /* huge length */
	case 2:
		w = (w & ~0xffffffffull);
		break; /* zero length */
	case 3:
		w &= 0xffff0000ffffffffull;
		break; /* type 0 */
	case 4:
		w = (w & 0xffff0000ffffffffull) | (999ull << 32);
		break; /* type too big */
	case 5:
		memset(h + 8, 0x55, 8);
		break; /* seq mismatch */
	case 6:
		w = (w & 0xffff0000ffffffffull) | (1ull << 32);
		break; /* pad not at wrap */
	case 7:
		w = (w & ~0xffffffffull) | 8;
		break; /* shorter than a header */
	}
	if (how != 5)
		memcpy(h, &w, 8);
	CU_ASSERT_EQUAL(ring_consumer__peek(c, &r), -EAGAIN);
	CU_ASSERT_EQUAL(atomic_load(&m->cur[0].corrupt), 1);
	/* resynchronized at head: the next records arrive, skipped ones counted as lost */
	for (seq = 10; seq < 15; seq++)
		put(p, seq, 24);
	ring_producer__flush(p);
	CU_ASSERT_FATAL(ring_consumer__peek(c, &r) == 0);
	CU_ASSERT_EQUAL(r.seq, 10);
	CU_ASSERT(rt_check(r.data, 24, 10));
	CU_ASSERT_EQUAL(atomic_load(&m->cur[0].lost), 8);
	ring_consumer__free(c);
	ring_producer__free(p);
	mem_free(m);
}

static void test_corrupt(void)
{
	int how;

	for (how = 0; how < 8; how++)
		corrupt_case(how);
}

/* Corrupt producer state (head behind the cursor, garbage tail) never crashes a consumer. */
static void test_corrupt_ctl(void)
{
	const uint64_t size = 4096;
	struct mem *m = mem_new(size);
	struct ring_producer *p = prod(m, false, 1);
	struct ring_consumer *c = cons(m, 0, RING_START_NEWEST);
	struct ring_rec r;
	uint64_t seq;

	for (seq = 0; seq < 5; seq++)
		put(p, seq, 24);
	ring_producer__flush(p);
	atomic_store(&m->ctl.head, 3);
	atomic_store(&m->ctl.tail, 12345);
	atomic_store(&m->ctl.horizon, 0);
	CU_ASSERT_EQUAL(ring_consumer__peek(c, &r), -EAGAIN);
	CU_ASSERT(atomic_load(&m->cur[0].corrupt) + atomic_load(&m->cur[0].lapped) > 0);
	ring_producer__free(p);
	/* a restart that finds this state resets the ring and consumers resync */
	p = prod(m, true, 1);
	CU_ASSERT_EQUAL(atomic_load(&m->ctl.reset), 1);
	put(p, 100, 24);
	ring_producer__flush(p);
	CU_ASSERT_FATAL(ring_consumer__peek(c, &r) == 0);
	CU_ASSERT_EQUAL(r.seq, 5);
	CU_ASSERT(rt_check(r.data, 24, 100));
	ring_consumer__free(c);
	ring_producer__free(p);
	mem_free(m);
}

/* A new producer on the same memory resumes: seqs continue, consumers keep their place. */
static void test_recover(void)
{
	const uint64_t size = 8192;
	struct mem *m = mem_new(size);
	struct ring_producer *p = prod(m, false, 1);
	struct ring_consumer *c = cons(m, 0, RING_START_NEWEST);
	uint64_t seq, next = 0, got;
	uint32_t max = (uint32_t)ring__max_payload(size);
	int bad = 0;
	void *d;

	for (seq = 0; seq < 30; seq++)
		put(p, seq, rt_len(seq, max));
	ring_producer__flush(p);
	got = drain(c, &next, max, &bad);
	for (; seq < 40; seq++)
		put(p, seq, rt_len(seq, max));
	ring_producer__flush(p);
	/* dies with a torn, unpublished reservation */
	d = ring_producer__reserve(p, 100);
	memset(d, 0xee, 100);
	free(p); /* no flush, as in a crash: ring_producer__free() would publish */
	p = prod(m, true, 1);
	CU_ASSERT_EQUAL(atomic_load(&m->ctl.recovered), 1);
	CU_ASSERT_EQUAL(atomic_load(&m->ctl.generation), 2);
	for (; seq < 300; seq++) {
		put(p, seq, rt_len(seq, max));
		ring_producer__flush(p);
		got += drain(c, &next, max, &bad);
	}
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(got, 300);
	CU_ASSERT_EQUAL(atomic_load(&m->cur[0].lost), 0);
	CU_ASSERT_EQUAL(atomic_load(&m->cur[0].generations), 1);
	ring_consumer__free(c);
	ring_producer__free(p);
	mem_free(m);
}

struct thr {
	struct mem *m;
	uint64_t n;
	uint64_t got, bad, lost;
};

static void *consumer_thread(void *arg)
{
	struct thr *t = arg;
	struct ring_consumer *c = NULL;
	struct ring_consumer_opts o = { .start = RING_START_OLDEST, .wake_bit = 0 };
	struct ring_rec r;
	uint64_t next = 0;

	if (ring_consumer__new(&c, &t->m->ctl, t->m->data, t->m->size, &t->m->cur[0], &t->m->wake,
			       &o))
		return NULL;
	while (next < t->n) {
		if (ring_consumer__peek(c, &r) != 0) {
			ring_consumer__wait(c, 1000);
			continue;
		}
		if (r.seq != next || !rt_check(r.data, rt_len(r.seq, 1000), r.seq))
			t->bad++;
		if (ring_consumer__release(c) == 0) {
			t->got++;
			next = r.seq + 1;
		}
	}
	t->lost = atomic_load(&t->m->cur[0].lost);
	ring_consumer__free(c);
	return NULL;
}

/* The consumer thread's cursor (M's first), for rt_pace. */
static uint64_t cursor0(void *m)
{
	return atomic_load_explicit(&((struct mem *)m)->cur[0].pos, memory_order_acquire);
}

/*
 * Producer and consumer threads with flow control (the test's, not the ring's): checks the
 * acquire/release protocol under TSan and the futex wake-ups.
 */
static void test_threads(void)
{
	const uint64_t size = 65536;
	struct mem *m = mem_new(size);
	struct ring_producer *p = prod(m, false, 0);
	struct thr t = { .m = m, .n = 300000 };
	pthread_t th;
	uint64_t seq, limit = 0;

	atomic_store(&m->cur[0].pos, ring_producer__pos(p));
	CU_ASSERT_FATAL(pthread_create(&th, NULL, consumer_thread, &t) == 0);
	for (seq = 0; seq < t.n; seq++) {
		/* never lap the consumer: keep the horizon within one ring of its cursor */
		rt_pace(p, size, &limit, cursor0, m);
		rt_put(p, seq, rt_len(seq, 1000), 0);
		if (seq % 64 == 0)
			ring_producer__flush(p);
	}
	ring_producer__flush(p);
	pthread_join(th, NULL);
	CU_ASSERT_EQUAL(t.bad, 0);
	CU_ASSERT_EQUAL(t.got, t.n);
	CU_ASSERT_EQUAL(t.lost, 0);
	CU_ASSERT(atomic_load(&m->ctl.flushes) > atomic_load(&m->ctl.wakeups));
	ring_producer__free(p);
	mem_free(m);
}

/* No sleeper: flush does not wake. A sleeper: exactly one wake per flush. */
static void test_wake_accounting(void)
{
	struct mem *m = mem_new(4096);
	struct ring_producer *p = prod(m, false, 1);
	struct ring_consumer *c = cons(m, 3, RING_START_NEWEST);
	struct ring_rec r;

	put(p, 0, 8);
	ring_producer__flush(p);
	ring_producer__flush(p);
	CU_ASSERT_EQUAL(atomic_load(&m->ctl.wakeups), 0);
	/* data is there: wait returns at once without sleeping */
	CU_ASSERT_EQUAL(ring_consumer__wait(c, 5000), 0);
	CU_ASSERT_EQUAL(atomic_load(&m->cur[3].waits), 0);
	CU_ASSERT_FATAL(ring_consumer__peek(c, &r) == 0);
	CU_ASSERT(ring_consumer__release(c) == 0);
	CU_ASSERT_EQUAL(ring_consumer__peek(c, &r), -EAGAIN);
	/* nothing there: a short wait times out, and the sleeper bit is cleared after */
	CU_ASSERT_EQUAL(ring_consumer__wait(c, 1), -ETIMEDOUT);
	CU_ASSERT_EQUAL(atomic_load(&m->wake.sleepers), 0);
	CU_ASSERT_EQUAL(atomic_load(&m->cur[3].waits), 1);
	/* a stale sleeper bit makes flush wake, once per flush */
	atomic_store(&m->wake.sleepers, 1u << 3);
	put(p, 1, 8);
	put(p, 2, 8);
	ring_producer__flush(p);
	CU_ASSERT_EQUAL(atomic_load(&m->ctl.wakeups), 1);
	CU_ASSERT_EQUAL(atomic_load(&m->wake.futex), 1);
	ring_consumer__free(c);
	ring_producer__free(p);
	mem_free(m);
}

KILN_TEST_MAIN("ringbuf", { "basic", test_basic },
	       { "wraparound with mixed sizes", test_wrap_mixed },
	       { "stalled consumer, exact losses", test_stalled },
	       { "lapped during read", test_lapped_during_read },
	       { "corrupt headers resync", test_corrupt },
	       { "corrupt producer state", test_corrupt_ctl },
	       { "producer recovery", test_recover }, { "threads with wake-ups", test_threads },
	       { "wake accounting", test_wake_accounting })
