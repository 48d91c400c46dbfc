// SPDX-License-Identifier: Apache-2.0
/* Profile tables: deduplication, merging, and the exact folded text of a hand-made profile. */
#include <CUnit/Basic.h>

#include "tests/lib/kiln_test.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile/profile.h"
#include "profile/profile_internal.h"

static struct sym_frame kframe(const char *name, uint64_t addr)
{
	struct sym_frame f = { .kind = SYM_FRAME_KERNEL, .name = name, .addr = addr };

	f.module = "[kernel.kallsyms]";
	f.elf_vaddr = addr;
	return f;
}

static struct sym_frame uframe(const char *name, const char *module, uint64_t vaddr)
{
	struct sym_frame f = { .kind = SYM_FRAME_NATIVE, .name = name, .module = module };

	f.build_id = module ? "0123abcd" : NULL;
	f.map_start = 0x555500000000ULL;
	f.map_limit = 0x555500100000ULL;
	f.map_offset = 0x1000;
	f.elf_vaddr = vaddr;
	f.addr = f.map_start + vaddr;
	return f;
}

/* Returns what profile__write_folded() printed (caller frees). */
static char *folded(const struct profile *p)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT_EQUAL(profile__write_folded(p, f), 0);
	fclose(f);
	return buf;
}

static void test_dedup_merge_folded(void)
{
	struct profile *p = profile__new(10000000);
	struct sym_frame a[5], b[3], c[1];
	char *text;

	CU_ASSERT_FATAL(p != NULL);
	/* Leaf first: kernel frames, then user frames out to the thread's entry. */
	a[0] = kframe("clear_page", 0xffffffff81000010ULL);
	a[1] = kframe("do_syscall_64", 0xffffffff81000200ULL);
	a[2] = uframe("alpha", "/usr/bin/app", 0x1130);
	a[3] = uframe("main", "/usr/bin/app", 0x1200);
	a[4] = uframe(NULL, "/usr/lib/x86_64-linux-gnu/libc.so.6", 0x2724a);

	/* Unknowns: a kernel address without symbol, a user address outside every mapping. */
	b[0] = kframe(NULL, 0xffffffff8dead000ULL);
	b[1] = uframe("odd;name", "/usr/bin/app", 0x1300);
	b[2] = uframe(NULL, NULL, 0);
	b[2].addr = 0xdead;
	c[0] = uframe(NULL, "[vdso]", 0x9ab);

	CU_ASSERT_EQUAL(profile__add(p, a, 5, "app", 100, 101, 3), 0);
	CU_ASSERT_EQUAL(profile__add(p, a, 5, "app", 100, 102, 2), 0); /* other thread */
	CU_ASSERT_EQUAL(profile__add(p, b, 3, "app", 100, 101, 4), 0);
	CU_ASSERT_EQUAL(profile__add(p, a, 5, "other", 200, 200, 1), 0);
	CU_ASSERT_EQUAL(profile__add(p, a, 5, "app", 100, 101, 10), 0); /* merges with first */
	CU_ASSERT_EQUAL(profile__add(p, c, 1, "app", 300, 300, 7), 0);
	/* Another address inside alpha: another stack, but the same folded line. */
	a[2].elf_vaddr += 4;
	a[2].addr += 4;
	CU_ASSERT_EQUAL(profile__add(p, a, 5, "app", 100, 101, 100), 0);
	CU_ASSERT_EQUAL(profile__add(p, NULL, 0, "idle", 0, 0, 1), 0);

	CU_ASSERT_EQUAL(profile__total(p), 3 + 2 + 4 + 1 + 10 + 7 + 100 + 1);
	CU_ASSERT_EQUAL(profile__nr_stacks(p), 5);

	text = folded(p);
	CU_ASSERT_STRING_EQUAL(text, "app;[libc.so.6+0x2724a];main;alpha;do_syscall_64_[k];"
				     "clear_page_[k] 115\n"
				     "app;[unknown];odd_name;[unknown]_[k] 4\n"
				     "other;[libc.so.6+0x2724a];main;alpha;do_syscall_64_[k];"
				     "clear_page_[k] 1\n"
				     "app;[vdso+0x9ab] 7\n"
				     "idle 1\n");
	free(text);
	profile__free(p);
}

static void test_frames_are_copied(void)
{
	struct profile *p = profile__new(1);
	char name[16] = "transient", module[32] = "/tmp/lib.so";
	struct sym_frame f;
	char *text;

	CU_ASSERT_FATAL(p != NULL);
	f = uframe(name, module, 0x10);
	CU_ASSERT_EQUAL(profile__add(p, &f, 1, "c", 1, 1, 1), 0);
	strcpy(name, "overwritten");
	strcpy(module, "/elsewhere");
	text = folded(p);
	CU_ASSERT_STRING_EQUAL(text, "c;transient 1\n");
	free(text);
	profile__free(p);
}

static void test_many(void)
{
	struct profile *p = profile__new(1);
	struct sym_frame f[3];
	char name[32];
	int i;

	/* Enough distinct entries to grow every table and hash several times. */
	CU_ASSERT_FATAL(p != NULL);
	for (i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "fn%d", i % 5000);
		f[0] = uframe(name, "/bin/x", 0x1000 + (uint64_t)(i % 5000));
		f[1] = uframe("mid", "/bin/x", 0x100);
		f[2] = uframe("main", "/bin/x", 0x10);
		CU_ASSERT_EQUAL_FATAL(profile__add(p, f, 3, "x", 1, (uint32_t)(i % 3), 1), 0);
	}
	CU_ASSERT_EQUAL(profile__total(p), 20000);
	CU_ASSERT_EQUAL(profile__nr_stacks(p), 5000);
	profile__free(p);
	profile__free(NULL);
}

/*
 * With profile__trust_frame_strings() frames are cached by field and string address: the
 * tables must come out exactly as without it, for frames that differ in one field only
 * (another function at the same address, another mapping offset, another build id, kernel
 * vs user) and for repeats of the same string pointers.
 */
static void test_trusted_frames_same_tables(void)
{
	static const char *const names[] = { "alpha", "beta", "gamma", NULL };
	static const char *const modules[] = { "/bin/a", "/lib/b.so", NULL };
	struct profile *plain = profile__new(1), *trusted = profile__new(1);
	struct sym_frame f[4];
	char *t1, *t2;
	int i, j;

	CU_ASSERT_FATAL(plain && trusted);
	profile__trust_frame_strings(trusted);
	for (i = 0; i < 3000; i++) {
		for (j = 0; j < 4; j++) {
			f[j] = uframe(names[(i + j) % 4], modules[(i / 4 + j) % 3],
				      0x100 * (uint64_t)((i * 7 + j) % 11));
			if ((i + j) % 5 == 0)
				f[j].map_offset += 0x1000;
			if ((i + j) % 7 == 0)
				f[j].build_id = "feed";
			if ((i + j) % 13 == 0)
				f[j] = kframe(names[j % 3],
					      0xffffffff81000000ULL + (uint64_t)(i % 9));
		}
		CU_ASSERT_EQUAL_FATAL(profile__add(plain, f, 4, "x", 1, 2, 1), 0);
		CU_ASSERT_EQUAL_FATAL(profile__add(trusted, f, 4, "x", 1, 2, 1), 0);
	}
	CU_ASSERT_EQUAL(trusted->nr_locs, plain->nr_locs);
	CU_ASSERT_EQUAL(trusted->nr_funcs, plain->nr_funcs);
	CU_ASSERT_EQUAL(trusted->nr_maps, plain->nr_maps);
	CU_ASSERT_EQUAL(trusted->nr_strs, plain->nr_strs);
	CU_ASSERT_EQUAL(profile__nr_stacks(trusted), profile__nr_stacks(plain));
	/* Fewer cache entries than frames added: repeats were found, not re-added. */
	CU_ASSERT(trusted->nr_fents > 0 && trusted->nr_fents < 3000);
	t1 = folded(plain);
	t2 = folded(trusted);
	CU_ASSERT_STRING_EQUAL(t1, t2);
	free(t1);
	free(t2);
	profile__free(plain);
	profile__free(trusted);
}

/*
 * Trusted frame strings are found by address, then by content: two copies of one text (at
 * two addresses) get one string index, a comm equal to a frame string shares it too, and
 * profile__find_str (by content) finds every one of them.
 */
static void test_trusted_strings_by_content(void)
{
	char mod1[] = "/lib/libx.so", mod2[] = "/lib/libx.so", name1[] = "run", name2[] = "run";
	struct profile *p = profile__new(1);
	struct sym_frame f[2];
	uint32_t idx;

	CU_ASSERT_FATAL(p != NULL);
	profile__trust_frame_strings(p);
	f[0] = uframe(name1, mod1, 0x10);
	f[1] = uframe(name2, mod2, 0x20);
	CU_ASSERT_EQUAL_FATAL(profile__add(p, f, 2, "run", 1, 1, 1), 0);
	f[0] = uframe(name2, mod1, 0x30);
	CU_ASSERT_EQUAL_FATAL(profile__add(p, f, 1, "/lib/libx.so", 1, 1, 1), 0);
	/* Five addresses (two names, two modules, the build id), four strings: "" and three. */
	CU_ASSERT_EQUAL(p->nr_str_ptrs, 5);
	CU_ASSERT_EQUAL(p->nr_strs, 4);
	CU_ASSERT_EQUAL(p->nr_funcs, 2);
	CU_ASSERT_EQUAL(p->nr_maps, 2);
	CU_ASSERT_EQUAL(p->nr_locs, 4);
	CU_ASSERT_EQUAL(profile__find_str(p, "run", &idx), 0);
	CU_ASSERT_EQUAL(profile__find_str(p, "/lib/libx.so", &idx), 0);
	CU_ASSERT_EQUAL(profile__find_str(p, "0123abcd", &idx), 0);
	CU_ASSERT_EQUAL(profile__find_str(p, "runs", &idx), -ENOENT);
	profile__free(p);
}

KILN_TEST_MAIN("profile", { "dedup_merge_folded", test_dedup_merge_folded },
	       { "frames_are_copied", test_frames_are_copied }, { "many", test_many },
	       { "trusted_frames_same_tables", test_trusted_frames_same_tables },
	       { "trusted_strings_by_content", test_trusted_strings_by_content })
