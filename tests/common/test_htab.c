// SPDX-License-Identifier: Apache-2.0
/* common/htab: find, insert, remove with backward shifts, growth, colliding hashes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

/*
 * Keys of the same length that differ in one byte, and keys that differ only in length
 * (trailing zero bytes: the padding of a short tail), never share a hash: each step of
 * htab_hash_bytes is invertible, so this holds for every length and position, tails included.
 */
static void test_hash_bytes_differ(void)
{
	unsigned char a[48] = { 0 }, b[48];
	size_t len, i;

	for (i = 0; i < sizeof(a); i++)
		a[i] = (unsigned char)('a' + i % 26);
	for (len = 1; len <= 40; len++) {
		for (i = 0; i < len; i++) {
			memcpy(b, a, sizeof(b));
			b[i] ^= 1;
			CU_ASSERT_NOT_EQUAL(htab_hash_bytes(a, len, 0), htab_hash_bytes(b, len, 0));
		}
		CU_ASSERT_NOT_EQUAL(htab_hash_bytes(a, len, 0), htab_hash_bytes(a, len + 1, 0));
		memcpy(b, a, sizeof(b));
		b[len] = 0;
		CU_ASSERT_NOT_EQUAL(htab_hash_bytes(b, len, 0), htab_hash_bytes(b, len + 1, 0));
		CU_ASSERT_NOT_EQUAL(htab_hash_bytes(a, len, 0), htab_hash_bytes(a, len, 1));
	}
	CU_ASSERT_NOT_EQUAL(htab_hash_bytes("main", 4, 0), htab_hash_bytes("maio", 4, 0));
	CU_ASSERT_NOT_EQUAL(htab_hash_bytes("libc.so.6", 9, 0), htab_hash_bytes("libc.so.7", 9, 0));
}

/*
 * Stacks of location ids that count up, as add_stack sees them, fill the low 12 bits a
 * 4096-slot table masks about as a random hash would (1 - 1/e of the slots, ~2589).
 */
static void test_hash_bytes_low_bits(void)
{
	static bool used[4096];
	uint32_t locs[16];
	unsigned int i, j, filled = 0;

	for (i = 0; i < 4096; i++) {
		for (j = 0; j < 16; j++)
			locs[j] = i * 16 + j;
		used[htab_hash_bytes(locs, sizeof(locs), 2) & 4095] = true;
	}
	for (i = 0; i < 4096; i++)
		filled += used[i];
	CU_ASSERT(filled > 2450 && filled < 2730);
}

KILN_TEST_MAIN("htab", { "spread", test_spread }, { "clash", test_clash },
	       { "hash_never_zero", test_hash_never_zero },
	       { "hash_bytes_differ", test_hash_bytes_differ },
	       { "hash_bytes_low_bits", test_hash_bytes_low_bits })
