// SPDX-License-Identifier: Apache-2.0
/* common/array: growth by doubling from the minimum, contents kept, overflow refused. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/array.h"
#include "tests/lib/kiln_test.h"

struct pair {
	uint64_t a, b;
};

static void test_grow(void)
{
	struct pair *v = NULL;
	size_t nr = 0, cap = 0, i;

	for (i = 0; i < 1000; i++) {
		CU_ASSERT_EQUAL_FATAL(array_reserve(&v, &cap, nr + 1, sizeof(*v), 16), 0);
		v[nr].a = i;
		v[nr++].b = ~i;
		/* 16, 32, 64, ...: never more than twice what is used, never less. */
		CU_ASSERT(cap >= nr && (cap == 16 || cap < 2 * nr));
	}
	CU_ASSERT_EQUAL(cap, 1024);
	for (i = 0; i < nr; i++)
		CU_ASSERT(v[i].a == i && v[i].b == ~i);
	/* Enough room: nothing moves. */
	CU_ASSERT_EQUAL(array_reserve(&v, &cap, 10, sizeof(*v), 16), 0);
	CU_ASSERT_EQUAL(cap, 1024);
	/* A jump past the next doubling. */
	CU_ASSERT_EQUAL(array_reserve(&v, &cap, 5000, sizeof(*v), 16), 0);
	CU_ASSERT_EQUAL(cap, 8192);
	CU_ASSERT(v[999].a == 999);
	free(v);
}

static void test_min_and_overflow(void)
{
	char *p = NULL;
	size_t cap = 0;

	CU_ASSERT_EQUAL(array_reserve(&p, &cap, 1, 1, 0), 0);
	CU_ASSERT_EQUAL(cap, 1);
	CU_ASSERT_EQUAL(array_reserve(&p, &cap, 3, 1, 0), 0);
	CU_ASSERT_EQUAL(cap, 4);
	/* Sizes that cannot be allocated are refused, with the array untouched. */
	CU_ASSERT_EQUAL(array_reserve(&p, &cap, SIZE_MAX / 2 + 2, 1, 0), -ENOMEM);
	CU_ASSERT_EQUAL(array_reserve(&p, &cap, SIZE_MAX / 8, 16, 0), -ENOMEM);
	CU_ASSERT_EQUAL(cap, 4);
	p[3] = 'x';
	free(p);
}

KILN_TEST_MAIN("array", { "grow", test_grow }, { "min_and_overflow", test_min_and_overflow })
