// SPDX-License-Identifier: Apache-2.0
/* The computations behind kiln ui's investigation views: range selection, diff, sandwich. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "tests/lib/kiln_test.h"

#include "profile/profile.h"
#include "profile/wrec.h"
#include "ui/flame.h"
#include "ui/route.h"
#include "common/strbuf.h"

/* A window record starting at START_NS with COUNT samples of main;work;LEAF (LEAF of KIND). */
static void *record(uint64_t start_ns, const char *leaf, enum sym_frame_kind kind, uint64_t count,
		    size_t *len)
{
	const char *names[] = { leaf, "work", "main" }; /* leaf first */
	struct wrec_identity id = { .field = { [WREC_ID_KEY] = "unit/t.service" } };
	struct wrec_window w = { .start_ns = start_ns,
				 .duration_ns = 1000000000ull,
				 .period_ns = 1000000000ull / 19 };
	struct profile *p = profile__new(w.period_ns);
	struct sym_frame f[3];
	void *buf = NULL;
	size_t i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	for (i = 0; i < 3; i++) {
		memset(&f[i], 0, sizeof(f[i]));
		f[i].kind = i ? SYM_FRAME_NATIVE : kind;
		f[i].name = names[i];
		f[i].module = "/usr/bin/t";
		f[i].addr = f[i].elf_vaddr = 0x1000 + i * 16;
	}
	CU_ASSERT_EQUAL_FATAL(profile__add(p, f, 3, "t", 1, 1, count), 0);
	*len = wrec__size(p, &id);
	CU_ASSERT_FATAL(*len > 0);
	CU_ASSERT_EQUAL_FATAL(posix_memalign(&buf, 8, *len), 0);
	CU_ASSERT_FATAL(wrec__encode(p, &id, &w, buf, *len) > 0);
	profile__free(p);
	return buf;
}

static void test_range_spec(void)
{
	char id[32];
	uint64_t from, to;

	CU_ASSERT_EQUAL(ui_range_spec__parse("unit/a.service", id, sizeof(id), &from, &to), 0);
	CU_ASSERT_STRING_EQUAL(id, "unit/a.service");
	CU_ASSERT_EQUAL(from, 0);
	CU_ASSERT_EQUAL(to, UINT64_MAX);
	CU_ASSERT_EQUAL(ui_range_spec__parse("unit/a@100..200", id, sizeof(id), &from, &to), 0);
	CU_ASSERT_STRING_EQUAL(id, "unit/a");
	CU_ASSERT_EQUAL(from, 100);
	CU_ASSERT_EQUAL(to, 200);
	CU_ASSERT_EQUAL(ui_range_spec__parse("a@..200", id, sizeof(id), &from, &to), 0);
	CU_ASSERT_EQUAL(from, 0);
	CU_ASSERT_EQUAL(to, 200);
	CU_ASSERT_EQUAL(ui_range_spec__parse("a@100..", id, sizeof(id), &from, &to), 0);
	CU_ASSERT_EQUAL(from, 100);
	CU_ASSERT_EQUAL(to, UINT64_MAX);
	/* The last '@' followed by a range splits; any other '@' belongs to the id. */
	CU_ASSERT_EQUAL(ui_range_spec__parse("user@host@1..2", id, sizeof(id), &from, &to), 0);
	CU_ASSERT_STRING_EQUAL(id, "user@host");
	CU_ASSERT_EQUAL(ui_range_spec__parse("user@host", id, sizeof(id), &from, &to), 0);
	CU_ASSERT_STRING_EQUAL(id, "user@host");
	CU_ASSERT_EQUAL(to, UINT64_MAX);
	CU_ASSERT_EQUAL(ui_range_spec__parse("a@5..3", id, sizeof(id), &from, &to), -EINVAL);
	CU_ASSERT_EQUAL(ui_range_spec__parse("@1..2", id, sizeof(id), &from, &to), -EINVAL);
	CU_ASSERT_EQUAL(ui_range_spec__parse("", id, sizeof(id), &from, &to), -EINVAL);
	CU_ASSERT_EQUAL(ui_range_spec__parse("a-very-long-workload-id-indeed-yes", id, sizeof(id),
					     &from, &to),
			-ENAMETOOLONG);
	/* Not a range: kept as part of the id rather than half-parsed. */
	CU_ASSERT_EQUAL(ui_range_spec__parse("a@1..x", id, sizeof(id), &from, &to), 0);
	CU_ASSERT_STRING_EQUAL(id, "a@1..x");
}

/* Three windows at 1 s, 2 s, 3 s: a range selects whole windows by their start. */
static void test_range_select(void)
{
	const char *leaf[] = { "alpha", "beta", "gamma" };
	void *rec[3];
	size_t len[3], i, n = 0;
	struct flame *f = flame__new();
	struct strbuf out = { 0 };

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	for (i = 0; i < 3; i++)
		rec[i] = record((i + 1) * 1000000000ull, leaf[i], SYM_FRAME_NATIVE, 10 * (i + 1),
				&len[i]);
	CU_ASSERT_TRUE(flame_window_in_range(rec[0], 0, UINT64_MAX));
	CU_ASSERT_TRUE(flame_window_in_range(rec[1], 2000000000ull, 2000000001ull));
	CU_ASSERT_FALSE(flame_window_in_range(rec[1], 0, 2000000000ull)); /* [from, to) */
	CU_ASSERT_FALSE(flame_window_in_range(rec[2], 0, 2500000000ull));
	/* [1.5 s, 3 s) holds the second window only. */
	for (i = 0; i < 3; i++)
		if (flame_window_in_range(rec[i], 1500000000ull, 3000000000ull))
			CU_ASSERT_EQUAL(flame__add_record(f, rec[i], len[i]), 0);
	CU_ASSERT_EQUAL(flame__total(f), 20);
	CU_ASSERT_EQUAL(flame__write_tree(f, &out, 100, &n), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out.buf, "\"beta\""));
	CU_ASSERT_PTR_NULL(strstr(out.buf, "\"alpha\""));
	CU_ASSERT_PTR_NULL(strstr(out.buf, "\"gamma\""));
	strbuf__release(&out);
	flame__free(f);
	for (i = 0; i < 3; i++)
		free(rec[i]);
}

/* A: alpha 70, beta 30 (100); B: alpha 60, beta 140 (200): alpha 70 % -> 30 %. */
static void test_diff(void)
{
	const char *a[] = { "alpha", "work", "main" }, *b[] = { "beta", "work", "main" };
	struct flame *f = flame__new();
	struct strbuf out = { 0 };
	size_t n = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_EQUAL(flame__add_stack(f, a, 3, 70), 0);
	CU_ASSERT_EQUAL(flame__add_stack(f, b, 3, 30), 0);
	flame__set_side(f, 1);
	CU_ASSERT_EQUAL(flame__add_stack(f, a, 3, 60), 0);
	CU_ASSERT_EQUAL(flame__add_stack(f, b, 3, 140), 0);
	CU_ASSERT_EQUAL(flame__total(f), 100);
	CU_ASSERT_EQUAL(flame__total_b(f), 200);
	CU_ASSERT_EQUAL(flame__write_tree(f, &out, 100, &n), 0);
	CU_ASSERT_EQUAL(n, 5);
	CU_ASSERT_PTR_NOT_NULL(strstr(out.buf, "{\"name\":\"alpha\",\"self_b\":60,\"total_b\":60,"
					       "\"self\":70,\"total\":70,\"children\":[]}"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out.buf, "{\"name\":\"work\",\"self_b\":0,\"total_b\":200,"
					       "\"self\":0,\"total\":100,"));
	strbuf__release(&out);
	/* Largest change of Self share first; alpha and beta tie at 40 points: by name. */
	CU_ASSERT_EQUAL(flame__write_diff_symbols(f, &out, 2, &n), 0);
	CU_ASSERT_EQUAL(n, 4);
	CU_ASSERT_STRING_EQUAL(
		out.buf, "[{\"name\":\"alpha\",\"self_a\":70,\"total_a\":70,\"self_b\":60,"
			 "\"total_b\":60,\"self_percent_a\":70.000,\"self_percent_b\":30.000,"
			 "\"total_percent_a\":70.000,\"total_percent_b\":30.000,"
			 "\"self_diff\":-40.000,\"total_diff\":-40.000},"
			 "{\"name\":\"beta\",\"self_a\":30,\"total_a\":30,\"self_b\":140,"
			 "\"total_b\":140,\"self_percent_a\":30.000,\"self_percent_b\":70.000,"
			 "\"total_percent_a\":30.000,\"total_percent_b\":70.000,"
			 "\"self_diff\":40.000,\"total_diff\":40.000}]");
	strbuf__release(&out);
	flame__free(f);
}

/* A frame only on one side keeps its zero on the other. */
static void test_diff_one_side(void)
{
	const char *a[] = { "gone", "main" }, *b[] = { "new", "main" };
	struct flame *f = flame__new();
	struct strbuf out = { 0 };

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_EQUAL(flame__add_stack(f, a, 2, 5), 0);
	flame__set_side(f, 1);
	CU_ASSERT_EQUAL(flame__add_stack(f, b, 2, 5), 0);
	CU_ASSERT_EQUAL(flame__write_tree(f, &out, 100, NULL), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out.buf, "{\"name\":\"gone\",\"self_b\":0,\"total_b\":0,"
					       "\"self\":5,\"total\":5,"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out.buf, "{\"name\":\"new\",\"self_b\":5,\"total_b\":5,"
					       "\"self\":0,\"total\":0,"));
	strbuf__release(&out);
	flame__free(f);
}

static void add_sandwich_stacks(struct flame *f)
{
	/* Leaf first. shared is called from left and right, and recursively via x. */
	const char *s1[] = { "leaf", "shared", "left", "main" };
	const char *s2[] = { "leaf", "shared", "right", "main" };
	const char *s3[] = { "other", "main" };
	const char *s4[] = { "y", "shared", "x", "shared", "main" };

	CU_ASSERT_EQUAL(flame__add_stack(f, s1, 4, 20), 0);
	CU_ASSERT_EQUAL(flame__add_stack(f, s2, 4, 10), 0);
	CU_ASSERT_EQUAL(flame__add_stack(f, s3, 2, 70), 0);
	CU_ASSERT_EQUAL(flame__add_stack(f, s4, 5, 5), 0);
}

static void test_sandwich(void)
{
	struct flame *up = flame__new(), *down = flame__new();
	struct strbuf out = { 0 };

	CU_ASSERT_PTR_NOT_NULL_FATAL(up);
	CU_ASSERT_PTR_NOT_NULL_FATAL(down);
	CU_ASSERT_EQUAL(flame__set_focus(up, "shared", FLAME_MODE_ALL), -EINVAL);
	CU_ASSERT_EQUAL(flame__set_focus(up, "shared", FLAME_MODE_CALLERS), 0);
	CU_ASSERT_EQUAL(flame__set_focus(down, "shared", FLAME_MODE_CALLEES), 0);
	add_sandwich_stacks(up);
	add_sandwich_stacks(down);
	/* Stacks holding shared, each once however often it recurses: 20 + 10 + 5. */
	CU_ASSERT_EQUAL(flame__total(up), 35);
	CU_ASSERT_EQUAL(flame__total(down), 35);
	/* Callers of the outermost shared: left, right and (for the recursive stack) main. */
	CU_ASSERT_EQUAL(flame__write_tree(up, &out, 100, NULL), 0);
	CU_ASSERT_STRING_EQUAL(
		out.buf, "{\"name\":\"all\",\"self\":0,\"total\":35,\"children\":["
			 "{\"name\":\"shared\",\"self\":0,\"total\":35,\"children\":["
			 "{\"name\":\"left\",\"self\":0,\"total\":20,\"children\":["
			 "{\"name\":\"main\",\"self\":20,\"total\":20,\"children\":[]}]},"
			 "{\"name\":\"main\",\"self\":5,\"total\":5,\"children\":[]},"
			 "{\"name\":\"right\",\"self\":0,\"total\":10,\"children\":["
			 "{\"name\":\"main\",\"self\":10,\"total\":10,\"children\":[]}]}]}]}");
	strbuf__release(&out);
	/* Callees: everything under the outermost shared, the recursion included once. */
	CU_ASSERT_EQUAL(flame__write_tree(down, &out, 100, NULL), 0);
	CU_ASSERT_STRING_EQUAL(out.buf,
			       "{\"name\":\"all\",\"self\":0,\"total\":35,\"children\":["
			       "{\"name\":\"shared\",\"self\":0,\"total\":35,\"children\":["
			       "{\"name\":\"leaf\",\"self\":30,\"total\":30,\"children\":[]},"
			       "{\"name\":\"x\",\"self\":0,\"total\":5,\"children\":["
			       "{\"name\":\"shared\",\"self\":0,\"total\":5,\"children\":["
			       "{\"name\":\"y\",\"self\":5,\"total\":5,\"children\":[]}]}]}]}]}");
	strbuf__release(&out);
	flame__free(up);
	flame__free(down);
}

/* A function no stack holds: an empty sandwich, not an error. */
static void test_sandwich_absent(void)
{
	struct flame *f = flame__new();

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_EQUAL(flame__set_focus(f, "nowhere", FLAME_MODE_CALLEES), 0);
	add_sandwich_stacks(f);
	CU_ASSERT_EQUAL(flame__total(f), 0);
	flame__free(f);
}

/* Frame kinds reach the tree; native, the default, is left out. */
static void test_kinds(void)
{
	struct flame *f = flame__new();
	struct strbuf out = { 0 };
	size_t len;
	void *rec = record(1, "__x64_sys_read", SYM_FRAME_KERNEL, 3, &len);

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_EQUAL(flame__add_record(f, rec, len), 0);
	CU_ASSERT_EQUAL(flame__write_tree(f, &out, 100, NULL), 0);
	CU_ASSERT_PTR_NOT_NULL(
		strstr(out.buf, "{\"name\":\"__x64_sys_read\",\"kind\":\"kernel\","));
	CU_ASSERT_PTR_NOT_NULL(strstr(out.buf, "{\"name\":\"work\",\"self\""));
	CU_ASSERT_STRING_EQUAL(flame_kind_name(WREC_FRAME_PYTHON), "python");
	CU_ASSERT_STRING_EQUAL(flame_kind_name(99), "native");
	strbuf__release(&out);
	flame__free(f);
	free(rec);
}

KILN_TEST_MAIN("investigate", { "diff operand syntax", test_range_spec },
	       { "a range selects whole windows", test_range_select },
	       { "diff of two sides", test_diff },
	       { "diff, frames on one side", test_diff_one_side },
	       { "sandwich callers and callees", test_sandwich },
	       { "sandwich of an absent function", test_sandwich_absent },
	       { "frame kinds", test_kinds })
