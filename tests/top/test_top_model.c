// SPDX-License-Identifier: Apache-2.0
/*
 * The counting model of `kiln top` (profile/top.c) on hand-built window records: Self and
 * Total with recursion, the horizon sliding with the windows, and each scope filter; and
 * the UI's symbols table (ui/flame.c) giving the same rows (profile/symtotal.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "tests/lib/kiln_test.h"

#include "profile/top.h"
#include "profile/wrec.h"
#include "ui/flame.h"

#define SEC 1000000000ull

static struct sym_frame fn(const char *name)
{
	uint64_t h = 5381;
	const char *c;

	/* A distinct address per name: the profile deduplicates locations by address. */
	for (c = name; *c; c++)
		h = h * 33 + (unsigned char)*c;
	h = (h % 0x80000) * 2;
	return (struct sym_frame){ .kind = SYM_FRAME_NATIVE,
				   .name = name,
				   .module = "/opt/app/bin/app",
				   .addr = 0x400000 + h,
				   .elf_vaddr = h,
				   .map_start = 0x400000,
				   .map_limit = 0x800000 };
}

/* NAME in a shared library of its own, far from the app's addresses. */
static struct sym_frame fn_lib(const char *name)
{
	struct sym_frame f = fn(name);

	f.module = "/usr/lib/libother.so";
	f.addr = 0x7f0000000000ull + f.elf_vaddr;
	f.map_start = 0x7f0000000000ull;
	f.map_limit = 0x7f0000400000ull;
	return f;
}

/* One record: window SEQ starting at SEQ seconds, workload KEY, the samples added by ADD. */
static void *record(uint64_t seq, const char *key, const char *cgroup,
		    void (*add)(struct profile *p), struct wrec_view *v)
{
	struct wrec_identity id = { .field = { [WREC_ID_KEY] = key,
					       [WREC_ID_NAME] = "name-of-" /* never matched */,
					       [WREC_ID_CGROUP] = cgroup } };
	struct wrec_window w = {
		.seq = seq, .start_ns = seq * SEC, .duration_ns = SEC, .period_ns = SEC / 100
	};
	struct profile *p = profile__new(SEC / 100);
	size_t len;
	void *buf;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	add(p);
	len = wrec__size(p, &id);
	buf = aligned_alloc(8, len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
	CU_ASSERT_EQUAL_FATAL(wrec__encode(p, &id, &w, buf, len), (ssize_t)len);
	CU_ASSERT_EQUAL_FATAL(wrec__parse(buf, len, v), 0);
	profile__free(p);
	return buf;
}

/* Adds one record (made as record() makes it) to T. Returns what top__add returned. */
static int add_record(struct top *t, uint64_t seq, const char *key, const char *cgroup,
		      void (*add)(struct profile *p))
{
	struct wrec_view v;
	void *buf = record(seq, key, cgroup, add, &v);
	int ret = top__add(t, &v);

	free(buf);
	return ret;
}

/* main -> rec -> rec -> leaf (60, pid 10) and main -> rec (40, pid 20): recursion. */
static void add_recursive(struct profile *p)
{
	struct sym_frame a[4] = { fn("leaf"), fn("rec"), fn("rec"), fn("main") };
	struct sym_frame b[2] = { fn("rec"), fn("main") };

	CU_ASSERT_EQUAL(profile__add(p, a, 4, "app", 10, 10, 60), 0);
	CU_ASSERT_EQUAL(profile__add(p, b, 2, "app", 20, 20, 40), 0);
}

static void add_other(struct profile *p)
{
	struct sym_frame a[2] = { fn("other"), fn("main") };

	CU_ASSERT_EQUAL(profile__add(p, a, 2, "app", 30, 30, 100), 0);
}

static const struct symtotal_row *find(const struct symtotal_row *rows, long n, const char *name)
{
	long i;

	for (i = 0; i < n; i++)
		if (!strcmp(rows[i].name, name))
			return &rows[i];
	return NULL;
}

static void test_self_total_recursion(void)
{
	struct top_opts o = { 0 };
	const struct symtotal_row *rows, *r;
	struct top_stats st;
	struct top *t = NULL;
	long n;

	CU_ASSERT_EQUAL_FATAL(top__new(&t, &o), 0);
	CU_ASSERT_EQUAL(add_record(t, 1, "k8s/a", "/a", add_recursive), 1);
	n = top__rows(t, TOP_SORT_SELF, &rows);
	CU_ASSERT_EQUAL_FATAL(n, 3);
	/* Self order: leaf 60, rec 40, main 0; rec counted once per stack despite recursion. */
	CU_ASSERT_STRING_EQUAL(rows[0].name, "leaf");
	CU_ASSERT_EQUAL(rows[0].self, 60);
	CU_ASSERT_EQUAL(rows[0].total, 60);
	CU_ASSERT_STRING_EQUAL(rows[0].module, "app");
	CU_ASSERT_STRING_EQUAL(rows[1].name, "rec");
	CU_ASSERT_EQUAL(rows[1].self, 40);
	CU_ASSERT_EQUAL(rows[1].total, 100);
	CU_ASSERT_STRING_EQUAL(rows[2].name, "main");
	CU_ASSERT_EQUAL(rows[2].self, 0);
	CU_ASSERT_EQUAL(rows[2].total, 100);
	n = top__rows(t, TOP_SORT_TOTAL, &rows);
	CU_ASSERT_EQUAL_FATAL(n, 3);
	/* Total order: rec and main tie at 100; rec has more Self, so it comes first. */
	CU_ASSERT_STRING_EQUAL(rows[0].name, "rec");
	CU_ASSERT_STRING_EQUAL(rows[1].name, "main");
	CU_ASSERT_STRING_EQUAL(rows[2].name, "leaf");
	r = find(rows, n, "main");
	CU_ASSERT(r && r->total == 100);
	top__stats(t, &st);
	CU_ASSERT_EQUAL(st.view_samples, 100);
	CU_ASSERT_EQUAL(st.view_windows, 1);
	CU_ASSERT_EQUAL(st.newest_seq, 1);
	top__free(t);
}

/*
 * Recursion (rec twice in one stack) and one name in two modules (main of the app, main of
 * libother.so): kiln top's rows and the UI's symbols table must be the same functions with
 * the same Self and Total.
 */
static void add_agree(struct profile *p)
{
	struct sym_frame a[5] = { fn("leaf"), fn("rec"), fn("rec"), fn("rec"), fn("main") };
	struct sym_frame b[3] = { fn_lib("main"), fn("rec"), fn("main") };
	struct sym_frame c[1] = { fn("main") };

	CU_ASSERT_EQUAL(profile__add(p, a, 5, "app", 10, 10, 60), 0);
	CU_ASSERT_EQUAL(profile__add(p, b, 3, "app", 10, 11, 30), 0);
	CU_ASSERT_EQUAL(profile__add(p, c, 1, "app", 20, 20, 10), 0);
}

static void test_top_and_ui_agree(void)
{
	const struct symtotal_row *rows;
	struct top_opts o = { 0 };
	struct wrec_view v;
	struct strbuf json = { 0 };
	struct flame *f = flame__new();
	struct top *t = NULL;
	size_t nr_syms = 0;
	char want[512];
	void *buf;
	long n, i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_EQUAL_FATAL(top__new(&t, &o), 0);
	buf = record(1, "k8s/ns/deployment/app", "/kubepods/x", add_agree, &v);
	CU_ASSERT_EQUAL(top__add(t, &v), 1);
	CU_ASSERT_EQUAL(flame__add_record(f, buf, v.hdr->size), 0);
	n = top__rows(t, TOP_SORT_TOTAL, &rows);
	CU_ASSERT_EQUAL(flame__write_symbols(f, &json, FLAME_SORT_TOTAL, 0, &nr_syms), 0);
	CU_ASSERT_EQUAL_FATAL(n, 4); /* leaf, rec, main (app), main (libother.so) */
	CU_ASSERT_EQUAL(nr_syms, (size_t)n);
	/* rec: 60 + 30 samples, once per stack although the first holds it three times. */
	CU_ASSERT_STRING_EQUAL(rows[1].name, "rec");
	CU_ASSERT_EQUAL(rows[1].total, 90);
	CU_ASSERT_EQUAL(rows[1].self, 0);
	CU_ASSERT_STRING_EQUAL(rows[0].name, "main");
	CU_ASSERT_STRING_EQUAL(rows[0].module, "app");
	CU_ASSERT_EQUAL(rows[0].total, 100);
	CU_ASSERT_EQUAL(rows[0].self, 10);
	/* The same rows, in the same order, in the UI's JSON. */
	for (i = 0; i < n; i++) {
		snprintf(want, sizeof(want),
			 "%s{\"name\":\"%s\",\"module\":\"%s\",\"self\":%llu,\"total\":%llu,",
			 i ? "," : "[", rows[i].name, rows[i].module,
			 (unsigned long long)rows[i].self, (unsigned long long)rows[i].total);
		CU_ASSERT_PTR_NOT_NULL(strstr(json.buf, want));
	}
	printf("\n  ui: %s\n", json.buf);
	strbuf__release(&json);
	flame__free(f);
	top__free(t);
	free(buf);
}

static void test_horizon(void)
{
	struct top_opts o = { .horizon_ns = 3 * SEC };
	const struct symtotal_row *rows;
	struct top_stats st;
	struct top *t = NULL;
	uint64_t seq;
	long n;

	CU_ASSERT_EQUAL_FATAL(top__new(&t, &o), 0);
	/* Windows 1..3 hold the recursive profile, 4..6 "other": after 6 only "other" is left. */
	for (seq = 1; seq <= 6; seq++) {
		CU_ASSERT_EQUAL(
			add_record(t, seq, "k8s/a", "/a", seq <= 3 ? add_recursive : add_other), 1);
		top__stats(t, &st);
		CU_ASSERT_EQUAL(st.view_windows, seq < 3 ? seq : 3);
		CU_ASSERT_EQUAL(st.view_samples, 100 * (seq < 3 ? seq : 3));
		n = top__rows(t, TOP_SORT_SELF, &rows);
		if (seq == 4) {
			/* Windows 2, 3 and 4 in view: leaf 120, other 100. */
			CU_ASSERT_PTR_NOT_NULL(find(rows, n, "leaf"));
			CU_ASSERT_EQUAL(find(rows, n, "leaf")->self, 120);
			CU_ASSERT_EQUAL(find(rows, n, "other")->self, 100);
		}
	}
	n = top__rows(t, TOP_SORT_SELF, &rows);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_PTR_NULL(find(rows, n, "leaf"));
	CU_ASSERT_EQUAL(find(rows, n, "other")->self, 300);
	CU_ASSERT_EQUAL(find(rows, n, "main")->total, 300);
	top__stats(t, &st);
	CU_ASSERT_EQUAL(st.windows, 6);
	CU_ASSERT_EQUAL(st.samples_in_scope, 600);
	top__free(t);
}

/* Two workloads in one window; each filter keeps exactly its part. */
static void check_scope(const struct top_opts *o, uint64_t want_samples, const char *want_leaf)
{
	const struct symtotal_row *rows;
	struct top_stats st;
	struct top *t = NULL;
	long n;

	CU_ASSERT_EQUAL_FATAL(top__new(&t, o), 0);
	add_record(t, 7, "unit/a.service", "/system.slice/a.service", add_recursive);
	add_record(t, 7, "unit/b.service", "/system.slice/b.service/sub", add_other);
	top__stats(t, &st);
	CU_ASSERT_EQUAL(st.windows, 1);
	CU_ASSERT_EQUAL(st.records, 2);
	CU_ASSERT_EQUAL(st.view_samples, want_samples);
	n = top__rows(t, TOP_SORT_SELF, &rows);
	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_STRING_EQUAL(rows[0].name, want_leaf);
	top__free(t);
}

static void test_scope(void)
{
	uint32_t pid20 = 20, pid30 = 30;
	struct top_opts o;

	memset(&o, 0, sizeof(o));
	check_scope(&o, 200, "other");
	o.workload = "unit/a.service";
	check_scope(&o, 100, "leaf");
	memset(&o, 0, sizeof(o));
	o.cgroup = "/system.slice/b.service";
	check_scope(&o, 100, "other");
	o.cgroup = "/system.slice";
	check_scope(&o, 200, "other");
	/* A prefix that is not a path component does not match. */
	o.cgroup = "/system.slice/a.serv";
	{
		struct top *t = NULL;
		struct top_stats st;

		CU_ASSERT_EQUAL_FATAL(top__new(&t, &o), 0);
		CU_ASSERT_EQUAL(add_record(t, 7, "unit/a.service", "/system.slice/a.service",
					   add_recursive),
				0);
		top__stats(t, &st);
		CU_ASSERT_EQUAL(st.view_samples, 0);
		CU_ASSERT_EQUAL(st.view_windows, 1);
		top__free(t);
	}
	memset(&o, 0, sizeof(o));
	o.pids = &pid20;
	o.nr_pids = 1;
	check_scope(&o, 40, "rec");
	o.pids = &pid30;
	check_scope(&o, 100, "other");
}

/* Enough distinct functions over time that the stale ones are forgotten and ids renumbered. */
static void add_many(struct profile *p, uint64_t seq)
{
	char names[64][32];
	struct sym_frame f[2];
	int i;

	for (i = 0; i < 64; i++) {
		snprintf(names[i], sizeof(names[i]), "fn_%llu_%d", (unsigned long long)seq, i);
		f[0] = fn(names[i]);
		/* Unique within the record, above every address fn() picks. */
		f[0].addr = 0x600000 + (uint64_t)i * 16;
		f[0].elf_vaddr = 0x200000 + (uint64_t)i * 16;
		f[1] = fn("main");
		CU_ASSERT_EQUAL(profile__add(p, f, 2, "app", 1, 1, 1), 0);
	}
}

static uint64_t many_seq;

static void add_many_cb(struct profile *p)
{
	add_many(p, many_seq);
}

static void test_compaction(void)
{
	struct top_opts o = { .horizon_ns = 2 * SEC };
	const struct symtotal_row *rows;
	struct top_stats st;
	struct top *t = NULL;
	long n;

	CU_ASSERT_EQUAL_FATAL(top__new(&t, &o), 0);
	for (many_seq = 1; many_seq <= 200; many_seq++) {
		CU_ASSERT_EQUAL(add_record(t, many_seq, "k", "/", add_many_cb), 1);
	}
	top__stats(t, &st);
	CU_ASSERT(st.compactions >= 1);
	/* 200 windows x 64 functions were seen; far fewer are kept. */
	CU_ASSERT(st.functions < 200 * 64 / 2);
	n = top__rows(t, TOP_SORT_SELF, &rows);
	/* Two windows in view: 128 leaves plus main, each leaf 1 sample, main all 128. */
	CU_ASSERT_EQUAL(n, 129);
	CU_ASSERT_EQUAL(find(rows, n, "main")->total, 128);
	CU_ASSERT_PTR_NOT_NULL(find(rows, n, "fn_200_63"));
	CU_ASSERT_PTR_NOT_NULL(find(rows, n, "fn_199_0"));
	CU_ASSERT_PTR_NULL(find(rows, n, "fn_198_0"));
	top__free(t);
}

KILN_TEST_MAIN("top_model", { "self and total with recursion", test_self_total_recursion },
	       { "horizon slides with windows", test_horizon },
	       { "kiln top and the UI's symbols table agree", test_top_and_ui_agree },
	       { "workload, cgroup and pid scope", test_scope },
	       { "stale functions are forgotten", test_compaction })
