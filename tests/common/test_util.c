// SPDX-License-Identifier: Apache-2.0
/* common/util: splitting a buffer into lines, the sorted-array search, number parsing. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/util.h"
#include "tests/lib/kiln_test.h"

static void test_next_line(void)
{
	char buf[] = "one\n\nthree", empty[] = "", *cur = buf, *line;

	line = next_line(&cur);
	CU_ASSERT_STRING_EQUAL(line, "one");
	line = next_line(&cur);
	CU_ASSERT_STRING_EQUAL(line, ""); /* an empty line is a line */
	line = next_line(&cur);
	CU_ASSERT_STRING_EQUAL(line, "three"); /* the last one needs no '\n' */
	CU_ASSERT_PTR_NULL(next_line(&cur));
	CU_ASSERT_PTR_NULL(next_line(&cur)); /* and stays at the end */
	cur = empty;
	CU_ASSERT_PTR_NULL(next_line(&cur));
	cur = NULL;
	CU_ASSERT_PTR_NULL(next_line(&cur));
}

struct range {
	uint32_t pad;
	uint64_t start;
};

static void test_upper_bound(void)
{
	const struct range r[] = { { 0, 10 }, { 0, 20 }, { 0, 20 }, { 0, 40 } };
	const size_t off = offsetof(struct range, start), n = sizeof(r) / sizeof(r[0]);

	CU_ASSERT_EQUAL(upper_bound_u64(r, n, sizeof(r[0]), off, 5), 0); /* before all */
	CU_ASSERT_EQUAL(upper_bound_u64(r, n, sizeof(r[0]), off, 10), 1); /* at a key */
	CU_ASSERT_EQUAL(upper_bound_u64(r, n, sizeof(r[0]), off, 20), 3); /* past equal keys */
	CU_ASSERT_EQUAL(upper_bound_u64(r, n, sizeof(r[0]), off, 39), 3);
	CU_ASSERT_EQUAL(upper_bound_u64(r, n, sizeof(r[0]), off, UINT64_MAX), 4);
	CU_ASSERT_EQUAL(upper_bound_u64(r, 0, sizeof(r[0]), off, 10), 0); /* empty */
}

static void test_parse_u64(void)
{
	uint64_t v = 0;

	CU_ASSERT_EQUAL(parse_u64("42", 1, 100, &v), 0);
	CU_ASSERT_EQUAL(v, 42);
	CU_ASSERT_EQUAL(parse_u64("0", 1, 100, &v), -ERANGE);
	CU_ASSERT_EQUAL(parse_u64("101", 1, 100, &v), -ERANGE);
	CU_ASSERT_EQUAL(parse_u64("4x", 1, 100, &v), -EINVAL);
	CU_ASSERT_EQUAL(parse_u64("", 1, 100, &v), -EINVAL);
	CU_ASSERT_EQUAL(v, 42); /* untouched by refusals */
}

KILN_TEST_MAIN("util", { "next_line", test_next_line }, { "upper_bound", test_upper_bound },
	       { "parse_u64", test_parse_u64 })
