// SPDX-License-Identifier: Apache-2.0
/* The slot buffer's semantics (LRU by request, TTL sweep, byte cap, oversize), on a fake clock. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "tests/lib/kiln_test.h"

#include "ui/slots.h"

#define S 1000000000ull

static uint64_t fake_now;

static uint64_t clock_fn(void *ctx)
{
	(void)ctx;
	return fake_now;
}

static struct slots *make(uint64_t max_slots, uint64_t ttl_s, uint64_t max_bytes)
{
	struct slots_opts o = { .max_slots = max_slots,
				.ttl_ns = ttl_s * S,
				.max_bytes = max_bytes,
				.now_ns = clock_fn };
	struct slots *s = NULL;

	fake_now = 1000 * S;
	CU_ASSERT_EQUAL_FATAL(slots__new(&s, &o), 0);
	return s;
}

struct walk {
	size_t n;
	size_t lens[16];
	unsigned char first[16];
};

static int walk_fn(const void *chunk, size_t len, void *ctx)
{
	struct walk *w = ctx;

	CU_ASSERT_EQUAL((uintptr_t)chunk % 8, 0);
	if (w->n < 16) {
		w->lens[w->n] = len;
		w->first[w->n] = len ? *(const unsigned char *)chunk : 0;
	}
	w->n++;
	return 0;
}

static void test_new_invalid(void)
{
	struct slots_opts o = { .max_slots = 0, .ttl_ns = 1, .max_bytes = 1 };
	struct slots *s = NULL;

	CU_ASSERT_EQUAL(slots__new(&s, &o), -EINVAL);
	o.max_slots = 1;
	o.ttl_ns = 0;
	CU_ASSERT_EQUAL(slots__new(&s, &o), -EINVAL);
	o.ttl_ns = 1;
	o.max_bytes = 0;
	CU_ASSERT_EQUAL(slots__new(&s, &o), -EINVAL);
	slots__free(NULL);
}

static void test_enable_disable(void)
{
	struct slots *s = make(4, 120, 1024);
	struct slots_stats st;
	char c = 1;

	CU_ASSERT_EQUAL(slots__add(s, "a", &c, 1), -ENOENT);
	CU_ASSERT_EQUAL(slots__enable(s, "a"), 1);
	CU_ASSERT_EQUAL(slots__enable(s, "a"), 0);
	CU_ASSERT_EQUAL(slots__enable(s, ""), -EINVAL);
	CU_ASSERT(slots__has(s, "a"));
	CU_ASSERT_EQUAL(slots__add(s, "a", &c, 1), 0);
	CU_ASSERT_EQUAL(slots__clear(s, "a"), 0);
	slots__stats(s, &st);
	CU_ASSERT_EQUAL(st.bytes, 0);
	CU_ASSERT_EQUAL(st.nr_slots, 1);
	CU_ASSERT_EQUAL(slots__disable(s, "a"), 0);
	CU_ASSERT_EQUAL(slots__disable(s, "a"), -ENOENT);
	CU_ASSERT_EQUAL(slots__clear(s, "a"), -ENOENT);
	CU_ASSERT(!slots__has(s, "a"));
	slots__stats(s, &st);
	CU_ASSERT_EQUAL(st.nr_slots, 0);
	CU_ASSERT_EQUAL(st.closed, 1);
	slots__free(s);
}

/* The slot evicted is the least recently *requested*, not the least recently fed. */
static void test_lru_by_request(void)
{
	struct slots *s = make(3, 120, 1024);
	struct slots_stats st;
	struct walk w = { 0 };
	char c = 1;

	CU_ASSERT_EQUAL(slots__enable(s, "a"), 1);
	fake_now += S;
	CU_ASSERT_EQUAL(slots__enable(s, "b"), 1);
	fake_now += S;
	CU_ASSERT_EQUAL(slots__enable(s, "c"), 1);
	fake_now += S;
	/* Data for "a" does not refresh it ... */
	CU_ASSERT_EQUAL(slots__add(s, "a", &c, 1), 0);
	/* ... a read of "b" does, and so does re-enabling "c". */
	CU_ASSERT_EQUAL(slots__read(s, "b", walk_fn, &w), 0);
	fake_now += S;
	CU_ASSERT_EQUAL(slots__enable(s, "c"), 0);
	fake_now += S;
	CU_ASSERT_EQUAL(slots__enable(s, "d"), 1);
	CU_ASSERT(!slots__has(s, "a"));
	CU_ASSERT(slots__has(s, "b") && slots__has(s, "c") && slots__has(s, "d"));
	/* has/info/add are not requests: "b" is now the oldest request. */
	fake_now += S;
	CU_ASSERT_EQUAL(slots__add(s, "b", &c, 1), 0);
	CU_ASSERT_EQUAL(slots__enable(s, "e"), 1);
	CU_ASSERT(!slots__has(s, "b"));
	slots__stats(s, &st);
	CU_ASSERT_EQUAL(st.evicted, 2);
	CU_ASSERT_EQUAL(st.nr_slots, 3);
	CU_ASSERT_EQUAL(st.bytes, 0); /* the evicted slots' chunks went with them */
	slots__free(s);
}

static void test_ttl_sweep(void)
{
	struct slots *s = make(8, 120, 1024);
	struct slots_stats st;
	struct walk w = { 0 };
	char c = 1;
	int i;

	CU_ASSERT_EQUAL(slots__enable(s, "old"), 1);
	CU_ASSERT_EQUAL(slots__enable(s, "read"), 1);
	fake_now += 100 * S;
	/* Incoming data does not keep a slot alive; a read does. */
	for (i = 0; i < 10; i++)
		CU_ASSERT_EQUAL(slots__add(s, "old", &c, 1), 0);
	CU_ASSERT_EQUAL(slots__read(s, "read", walk_fn, &w), 0);
	fake_now += 19 * S;
	CU_ASSERT_EQUAL(slots__sweep(s), 0); /* 119 s: not yet */
	fake_now += S;
	CU_ASSERT_EQUAL(slots__sweep(s), 1); /* 120 s without a request */
	CU_ASSERT(!slots__has(s, "old"));
	CU_ASSERT(slots__has(s, "read"));
	fake_now += 100 * S;
	CU_ASSERT_EQUAL(slots__sweep(s), 1);
	slots__stats(s, &st);
	CU_ASSERT_EQUAL(st.expired, 2);
	CU_ASSERT_EQUAL(st.nr_slots, 0);
	CU_ASSERT_EQUAL(st.bytes, 0);
	slots__free(s);
}

static void test_byte_cap(void)
{
	struct slots *s = make(2, 120, 100);
	struct slots_stats st;
	struct slot_info si;
	unsigned char buf[100];
	struct walk w = { 0 };
	int i;

	CU_ASSERT_EQUAL(slots__enable(s, "a"), 1);
	/* 40 + 40 fit; the third 40 drops the oldest whole chunk, never part of one. */
	for (i = 0; i < 3; i++) {
		memset(buf, i + 1, sizeof(buf));
		CU_ASSERT_EQUAL(slots__add(s, "a", buf, 40), 0);
	}
	CU_ASSERT_EQUAL(slots__read(s, "a", walk_fn, &w), 0);
	CU_ASSERT_EQUAL(w.n, 2);
	CU_ASSERT_EQUAL(w.first[0], 2); /* oldest first */
	CU_ASSERT_EQUAL(w.first[1], 3);
	CU_ASSERT_EQUAL(slots__info(s, "a", &si), 0);
	CU_ASSERT_EQUAL(si.bytes, 80);
	CU_ASSERT_EQUAL(si.dropped, 1);
	/* Exactly the cap fits, alone. */
	memset(buf, 9, sizeof(buf));
	CU_ASSERT_EQUAL(slots__add(s, "a", buf, 100), 0);
	memset(&w, 0, sizeof(w));
	CU_ASSERT_EQUAL(slots__read(s, "a", walk_fn, &w), 0);
	CU_ASSERT_EQUAL(w.n, 1);
	CU_ASSERT_EQUAL(w.lens[0], 100);
	slots__stats(s, &st);
	CU_ASSERT_EQUAL(st.bytes, 100);
	CU_ASSERT_EQUAL(st.dropped, 3);
	CU_ASSERT_EQUAL(st.dropped_bytes, 120);
	slots__free(s);
}

static void test_oversize_refused(void)
{
	struct slots *s = make(2, 120, 100);
	struct slots_stats st;
	struct slot_info si;
	unsigned char buf[101] = { 0 };

	CU_ASSERT_EQUAL(slots__enable(s, "a"), 1);
	CU_ASSERT_EQUAL(slots__add(s, "a", buf, 50), 0);
	CU_ASSERT_EQUAL(slots__add(s, "a", buf, 101), -EFBIG);
	/* Refusing it did not cost the slot what it held. */
	CU_ASSERT_EQUAL(slots__info(s, "a", &si), 0);
	CU_ASSERT_EQUAL(si.bytes, 50);
	CU_ASSERT_EQUAL(si.refused, 1);
	slots__stats(s, &st);
	CU_ASSERT_EQUAL(st.refused, 1);
	CU_ASSERT_EQUAL(st.added, 1);
	slots__free(s);
}

static int stop_fn(const void *chunk, size_t len, void *ctx)
{
	(void)chunk;
	(void)len;
	++*(int *)ctx;
	return 42;
}

static void test_read_stops(void)
{
	struct slots *s = make(2, 120, 100);
	char c = 0;
	int n = 0;

	CU_ASSERT_EQUAL(slots__enable(s, "a"), 1);
	CU_ASSERT_EQUAL(slots__add(s, "a", &c, 1), 0);
	CU_ASSERT_EQUAL(slots__add(s, "a", &c, 1), 0);
	CU_ASSERT_EQUAL(slots__read(s, "a", stop_fn, &n), 42);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL(slots__read(s, "zz", stop_fn, &n), -ENOENT);
	slots__free(s);
}

KILN_TEST_MAIN("slots", { "invalid limits", test_new_invalid },
	       { "enable, clear, disable", test_enable_disable },
	       { "LRU evicts the least recently requested", test_lru_by_request },
	       { "TTL sweep ignores incoming data", test_ttl_sweep },
	       { "byte cap drops oldest whole chunks", test_byte_cap },
	       { "oversize chunk refused and counted", test_oversize_refused },
	       { "read stops on non-zero", test_read_stops })
