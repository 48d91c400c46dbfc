// SPDX-License-Identifier: Apache-2.0
/* common/htab: find, insert, remove with backward shifts, growth, colliding hashes. */
#include <stdint.h>
#include <stdlib.h>

#include "common/htab.h"
#include "tests/lib/kiln_test.h"

static bool val_eq(uint64_t val, const void *key, void *ctx)
{
	(void)ctx;
	return val == *(const uint64_t *)key;
}

/* Values 1..N with hash FN(value): found exactly while present. */
static void check(struct htab *h, uint64_t n, uint64_t (*fn)(uint64_t), uint64_t removed_below)
{
	uint64_t v, got;

	for (v = 1; v <= n; v++) {
		bool found = htab__find(h, fn(v), val_eq, &v, NULL, &got);

		CU_ASSERT_EQUAL(found, v >= removed_below);
		if (found)
			CU_ASSERT_EQUAL(got, v);
	}
}

static uint64_t spread(uint64_t v)
{
	return htab_hash_u64(v, 3);
}

/* Every value in one of four hashes: long probe runs, and deletions inside them. */
static uint64_t clash(uint64_t v)
{
	return htab_hash_u64(v % 4, 3);
}

static void run(uint64_t (*fn)(uint64_t))
{
	struct htab h = { 0 };
	const uint64_t n = 3000;
	uint64_t v;

	CU_ASSERT_FALSE(htab__find(&h, fn(1), val_eq, &(uint64_t){ 1 }, NULL, &v));
	for (v = 1; v <= n; v++)
		CU_ASSERT_EQUAL_FATAL(htab__insert(&h, fn(v), v), 0);
	CU_ASSERT_EQUAL(h.nr, n);
	CU_ASSERT(h.mask + 1 > n);
	check(&h, n, fn, 0);
	for (v = 1; v < n / 2; v++)
		CU_ASSERT_TRUE(htab__remove(&h, fn(v), v));
	CU_ASSERT_FALSE(htab__remove(&h, fn(1), 1));
	CU_ASSERT_EQUAL(h.nr, n - (n / 2 - 1));
	check(&h, n, fn, n / 2);
	htab__release(&h);
	CU_ASSERT_PTR_NULL(h.slots);
	CU_ASSERT_EQUAL(h.nr, 0);
	htab__release(&h);
}

static void test_spread(void)
{
	run(spread);
}

static void test_clash(void)
{
	run(clash);
}

static void test_hash_never_zero(void)
{
	uint64_t i;

	for (i = 0; i < 100000; i++) {
		CU_ASSERT_NOT_EQUAL_FATAL(htab_hash_u64(i, 0), 0);
		CU_ASSERT_NOT_EQUAL_FATAL(htab_hash_bytes(&i, sizeof(i), 7), 0);
	}
	CU_ASSERT_NOT_EQUAL(htab_hash_bytes("", 0, 0), 0);
}

KILN_TEST_MAIN("htab", { "spread", test_spread }, { "clash", test_clash },
	       { "hash_never_zero", test_hash_never_zero })
