// SPDX-License-Identifier: Apache-2.0
/* python_merge() on synthetic samples: interleaving, markers, mismatches, no eval frames. */
#include <stdio.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "python/python.h"
#include "tests/lib/kiln_test.h"

#define EVAL 0x500000 /* native addresses >= EVAL are "in the eval loop" */

static bool in_eval(void *ctx, uint64_t addr)
{
	(void)ctx;
	return addr >= EVAL && addr < EVAL + 0x1000;
}

/*
 * Merges NAT and PY and checks the result, written as "n0 p0 p1 n2 ..." for compact
 * expectations, against WANT, and whether the merge was exact against WANT_EXACT.
 */
static void check_merge(const uint64_t *nat, size_t nn, const uint64_t *py, size_t np,
			const char *want, bool want_exact)
{
	struct python_merge_slot out[64];
	bool exact;
	size_t n = python_merge(nat, nn, py, np, in_eval, NULL, out, 64, &exact), i, len = 0;
	char buf[256];

	buf[0] = 0;
	for (i = 0; i < n && len < sizeof(buf); i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%c%u", i ? " " : "",
					out[i].python ? 'p' : 'n', out[i].index);
	CU_ASSERT_STRING_EQUAL(buf, want);
	CU_ASSERT_EQUAL(exact, want_exact);
}

#define F(code) KILN_PY_FRAME((code) << 4, 1)
#define E(code) (F(code) | KILN_PY_ENTRY_BIT)
#define TRUNC KILN_PY_MARKER(KILN_PY_MK_TRUNCATED, 0)

static void test_interleave(void)
{
	/* leaf C (n0), eval (n1) <- run p0 p1(E), C callback (n2), eval (n3) <- p2 p3(E), main */
	uint64_t nat[] = { 0x1000, EVAL + 1, 0x2000, EVAL + 2, 0x3000 };
	uint64_t py[] = { F(1), E(2), F(3), E(4) };

	check_merge(nat, 5, py, 4, "n0 p0 p1 n2 p2 p3 n4", true);
}

static void test_trailing_marker(void)
{
	uint64_t nat[] = { 0x1000, EVAL + 1, 0x3000 };
	uint64_t py[] = { F(1), E(2), TRUNC };

	check_merge(nat, 3, py, 3, "n0 p0 p1 p2 n2", true);
}

static void test_mismatch(void)
{
	/* three eval frames, two runs: native leaf, then every Python word, nothing else */
	uint64_t nat[] = { 0x1000, EVAL + 1, EVAL + 2, EVAL + 3, 0x3000 };
	uint64_t py[] = { F(1), E(2), F(3), E(4) };

	check_merge(nat, 5, py, 4, "n0 p0 p1 p2 p3", false);
}

static void test_no_eval(void)
{
	/* native unwinding stopped at the leaf: leaf frames, then Python */
	uint64_t nat[] = { 0x1000, 0x1100 };
	uint64_t py[] = { F(1), E(2) };

	check_merge(nat, 2, py, 2, "n0 n1 p0 p1", true);
	/* no Python words, no eval frames: the native stack unchanged */
	check_merge(nat, 2, py, 0, "n0 n1", true);
}

static void test_partial_run(void)
{
	/* a last run without its entry frame (walk truncated) still counts as a run */
	uint64_t nat[] = { EVAL + 1, EVAL + 2, 0x3000 };
	uint64_t py[] = { E(1), F(2), TRUNC };

	check_merge(nat, 3, py, 3, "p0 p1 p2 n2", true);
}

static void test_frame_name(void)
{
	struct python_frame f = { .function = "Runner.method", .file = "/srv/app/kat.py" };
	char buf[64], small[8];

	CU_ASSERT_STRING_EQUAL(python_frame_name(&f, buf, sizeof(buf)), "kat.py:Runner.method");
	f.file = "<frozen runpy>";
	CU_ASSERT_STRING_EQUAL(python_frame_name(&f, buf, sizeof(buf)), "<frozen "
									"runpy>:Runner.method");
	CU_ASSERT_EQUAL(strlen(python_frame_name(&f, small, sizeof(small))), sizeof(small) - 1);
	python_marker_text(KILN_PY_MARKER(KILN_PY_MK_REFUSED, 0x030a), buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "[python: unsupported 3.10]");
}

int main(int argc, char **argv)
{
	static const struct kiln_test_case cases[] = {
		{ "interleave", test_interleave },   { "trailing_marker", test_trailing_marker },
		{ "mismatch", test_mismatch },	     { "no_eval", test_no_eval },
		{ "partial_run", test_partial_run }, { "frame_name", test_frame_name },
	};
	int rc;

	rc = kiln_test_main(argc, argv, "python_merge", cases, sizeof(cases) / sizeof(cases[0]));
	return rc;
}
