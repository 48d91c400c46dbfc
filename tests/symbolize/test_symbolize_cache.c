// SPDX-License-Identifier: Apache-2.0
/* Symbolizer tests of its caches: build-id sharing, the byte budget, interned names, maps parsing and re-reads. */
#include <CUnit/Basic.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "symbolize/symbolize.h"
#include "symbolize/symbolize_internal.h"

#include "symtest.h"

/* In SYM_HELPER (PIE) text p_offset == p_vaddr, so offset-0 mappings put vaddr V at base + V. */
void test_buildid_cache_sharing(void)
{
	struct symbolizer_opts opts = { .sz = sizeof(opts) };
	char proc[PATH_MAX], a[PATH_MAX + 8], b[PATH_MAX + 8], cmd[CMD_MAX];
	const char *paths[2] = { a, b };
	uint64_t value = elf_sym_value(SYM_HELPER, "helper_burn", NULL);
	struct symbolizer_stats st;
	struct symbolizer *s = NULL;
	struct sym_frame fa, fb;

	snprintf(proc, sizeof(proc), "%s/shareproc", tmpdir);
	snprintf(a, sizeof(a), "%s/share/a", tmpdir);
	snprintf(b, sizeof(b), "%s/share/b", tmpdir);
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/share' && cp '%s' '%s' && cp '%s' '%s'", tmpdir,
		 SYM_HELPER, a, SYM_HELPER, b);
	CU_ASSERT_FATAL(run(cmd) == 0);
	fake_proc(proc, 500, paths, 2);
	fake_proc(proc, 501, paths, 1);
	opts.proc_root = proc;
	s = symbolizer__new(&opts);
	CU_ASSERT_FATAL(s != NULL);

	CU_ASSERT_EQUAL(symbolizer__capture(s, 500), 0);
	CU_ASSERT_EQUAL_FATAL(symbolizer__user(s, 500, 0x10000000ULL + value + 4, &fa), 0);
	CU_ASSERT_EQUAL_FATAL(symbolizer__user(s, 500, 0x11000000ULL + value + 4, &fb), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(fa.name);
	CU_ASSERT_PTR_NOT_NULL_FATAL(fb.name);
	CU_ASSERT_STRING_EQUAL(fa.name, "helper_burn");
	CU_ASSERT_PTR_EQUAL(fa.name, fb.name);
	CU_ASSERT_STRING_EQUAL(fa.module, a);
	CU_ASSERT_STRING_EQUAL(fb.module, b);
	CU_ASSERT_PTR_EQUAL(fa.build_id, fb.build_id);
	symbolizer__stats(s, &st);
	/* Two inodes, one build id: parsed once. */
	CU_ASSERT_EQUAL(st.elf_entries, 1);
	CU_ASSERT_EQUAL(st.elf_misses, 1);
	CU_ASSERT_EQUAL(st.elf_hits, 1);
	CU_ASSERT_EQUAL(st.processes, 1);
	CU_ASSERT(st.cache_bytes > 0);

	/* Another process with a seen inode: found by inode, without reading the file. */
	CU_ASSERT_EQUAL(symbolizer__capture(s, 501), 0);
	symbolizer__stats(s, &st);
	CU_ASSERT_EQUAL(st.elf_entries, 1);
	CU_ASSERT_EQUAL(st.elf_misses, 1);
	CU_ASSERT_EQUAL(st.elf_hits, 2);
	CU_ASSERT_EQUAL(st.processes, 2);

	/* Unused but within the default budget: kept for the next process. */
	symbolizer__process_exit(s, 500);
	symbolizer__process_exit(s, 501);
	symbolizer__sweep(s);
	symbolizer__sweep(s);
	symbolizer__stats(s, &st);
	CU_ASSERT_EQUAL(st.processes, 0);
	CU_ASSERT_EQUAL(st.elf_entries, 1);
	CU_ASSERT_EQUAL(st.elf_evictions, 0);
	symbolizer__free(s);
}

void test_lru_budget(void)
{
	struct symbolizer_opts opts = { .sz = sizeof(opts), .cache_bytes = 1 };
	char proc[PATH_MAX], a[PATH_MAX + 8];
	const char *pa[1] = { a }, *pb[1] = { NOPIE_HELPER };
	uint64_t va = elf_sym_value(SYM_HELPER, "helper_burn", NULL);
	uint64_t vb = elf_sym_value(NOPIE_HELPER, "nopie_marker_function", NULL);
	struct symbolizer_stats st;
	struct symbolizer *s = NULL;
	struct sym_frame f;

	(void)vb;
	snprintf(proc, sizeof(proc), "%s/lruproc", tmpdir);
	snprintf(a, sizeof(a), "%s", SYM_HELPER);
	fake_proc(proc, 600, pa, 1);
	fake_proc(proc, 601, pb, 1);
	opts.proc_root = proc;
	s = symbolizer__new(&opts);
	CU_ASSERT_FATAL(s != NULL);

	/* Over budget at once, but in use: kept. */
	CU_ASSERT_EQUAL(symbolizer__capture(s, 600), 0);
	CU_ASSERT_EQUAL(symbolizer__user(s, 600, 0x10000000ULL + va, &f), 0);
	CU_ASSERT_PTR_NOT_NULL(f.name);
	symbolizer__stats(s, &st);
	CU_ASSERT_EQUAL(st.elf_entries, 1);
	CU_ASSERT(st.cache_bytes > 1);

	/* Released: nothing uses it any more, so the budget evicts it. */
	symbolizer__process_exit(s, 600);
	symbolizer__sweep(s);
	symbolizer__sweep(s);
	symbolizer__stats(s, &st);
	CU_ASSERT_EQUAL(st.elf_entries, 0);
	CU_ASSERT_EQUAL(st.elf_evictions, 1);
	CU_ASSERT_EQUAL(st.processes, 0);

	CU_ASSERT_EQUAL(symbolizer__capture(s, 601), 0);
	symbolizer__stats(s, &st);
	CU_ASSERT_EQUAL(st.elf_entries, 1);
	CU_ASSERT_EQUAL(st.elf_misses, 2);
	/* The string handed out before the eviction is still valid. */
	CU_ASSERT_STRING_EQUAL(f.name, "helper_burn");
	symbolizer__free(s);
}

/* Rewrites fake process PID's maps to list PATH alone, as fake_proc() does. */
static void fake_maps(const char *proc, int pid, const char *path)
{
	char maps[PATH_MAX + 64];
	struct stat st;
	FILE *fp;

	CU_ASSERT_FATAL(stat(path, &st) == 0);
	snprintf(maps, sizeof(maps), "%s/%d/maps", proc, pid);
	fp = fopen(maps, "w");
	CU_ASSERT_FATAL(fp != NULL);
	fprintf(fp, "10000000-10800000 r-xp 00000000 %02x:%02x %llu %s\n", major(st.st_dev),
		minor(st.st_dev), (unsigned long long)st.st_ino, path);
	CU_ASSERT_FATAL(fclose(fp) == 0);
}

/*
 * The per-(ELF, symbol) name cache: a symbol's names are interned once, later frames of it
 * (any process mapping that file) are hits with the same strings; an exec or a reused pid
 * maps another file, whose symbols are its own; an evicted and re-parsed file interns again.
 */
void test_name_cache(void)
{
	struct symbolizer_opts opts = { .sz = sizeof(opts), .cache_bytes = 1 };
	uint64_t vh = elf_sym_value(SYM_HELPER, "helper_burn", NULL);
	uint64_t vm = elf_sym_value(SYM_HELPER, "main", NULL);
	uint64_t vk = elf_sym_value("/proc/self/exe", "known_function", NULL);
	const char *paths[1] = { SYM_HELPER };
	struct sym_frame f, f2, fs[2];
	struct symbolizer_stats st;
	struct symbolizer *s = NULL;
	char proc[PATH_MAX], exe[PATH_MAX];
	const char *first;
	uint64_t u[2];
	ssize_t n;

	CU_ASSERT_FATAL(vh && vm && vk);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	CU_ASSERT_FATAL(n > 0);
	exe[n] = '\0';
	snprintf(proc, sizeof(proc), "%s/nameproc", tmpdir);
	fake_proc(proc, 700, paths, 1);
	opts.proc_root = proc;
	s = symbolizer__new(&opts);
	CU_ASSERT_FATAL(s != NULL);

	/* Miss, then hit with the very same strings. */
	CU_ASSERT_EQUAL_FATAL(symbolizer__user(s, 700, 0x10000000ULL + vh + 4, &f), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f.name);
	CU_ASSERT_STRING_EQUAL(f.name, "helper_burn");
	CU_ASSERT_PTR_EQUAL(f.system_name, f.name);
	symbolizer__stats(s, &st);
	CU_ASSERT_EQUAL(st.name_misses, 1);
	CU_ASSERT_EQUAL(st.name_hits, 0);
	CU_ASSERT_EQUAL_FATAL(symbolizer__user(s, 700, 0x10000000ULL + vh + 2, &f2), 0);
	CU_ASSERT_PTR_EQUAL(f2.name, f.name);
	CU_ASSERT_PTR_EQUAL(f2.system_name, f.system_name);
	CU_ASSERT_EQUAL(f2.sym_offset, 2);
	symbolizer__stats(s, &st);
	CU_ASSERT_EQUAL(st.name_misses, 1);
	CU_ASSERT_EQUAL(st.name_hits, 1);
	first = f.name;

	/* A stack: the leaf is a hit, its caller (another symbol) a miss; call site = ret - 1. */
	u[0] = 0x10000000ULL + vh + 4;
	u[1] = 0x10000000ULL + vm + 5;
	CU_ASSERT_EQUAL_FATAL(symbolizer__stack(s, 700, NULL, 0, u, 2, fs), 2);
	CU_ASSERT_PTR_EQUAL(fs[0].name, first);
	CU_ASSERT_PTR_NOT_NULL_FATAL(fs[1].name);
	CU_ASSERT_STRING_EQUAL(fs[1].name, "main");
	CU_ASSERT_EQUAL(fs[1].sym_offset, 4);
	CU_ASSERT_EQUAL(fs[1].addr, u[1] - 1);
	symbolizer__stats(s, &st);
	CU_ASSERT_EQUAL(st.name_misses, 2);
	CU_ASSERT_EQUAL(st.name_hits, 2);

	/* Exec: same pid and address, another file: its own symbol, not the cached one. */
	symbolizer__process_exec(s, 700);
	fake_maps(proc, 700, exe);
	CU_ASSERT_EQUAL_FATAL(symbolizer__user(s, 700, 0x10000000ULL + vh + 4, &f), 0);
	CU_ASSERT_STRING_EQUAL(f.module, exe);
	CU_ASSERT(f.name == NULL || strcmp(f.name, "helper_burn") != 0);
	CU_ASSERT_EQUAL_FATAL(symbolizer__user(s, 700, 0x10000000ULL + vk + 1, &f), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f.name);
	CU_ASSERT_STRING_EQUAL(f.name, "known_function");

	/*
	 * The pid reused by a process of the first file: its mappings are read afresh. Nothing
	 * used SYM_HELPER meanwhile, so with a 1-byte budget it was evicted: parsed again, its
	 * names interned again (a miss) into the very same pooled string.
	 */
	symbolizer__process_exit(s, 700);
	fake_maps(proc, 700, SYM_HELPER);
	CU_ASSERT_EQUAL(symbolizer__capture(s, 700), 0);
	symbolizer__stats(s, &st);
	CU_ASSERT(st.elf_evictions >= 1);
	n = (ssize_t)st.name_misses;
	CU_ASSERT_EQUAL_FATAL(symbolizer__user(s, 700, 0x10000000ULL + vh + 4, &f), 0);
	CU_ASSERT_PTR_EQUAL(f.name, first);
	CU_ASSERT_STRING_EQUAL(f.module, SYM_HELPER);
	symbolizer__stats(s, &st);
	CU_ASSERT_EQUAL(st.name_misses, (uint64_t)n + 1);
	CU_ASSERT_EQUAL_FATAL(symbolizer__user(s, 700, 0x10000000ULL + vh + 4, &f), 0);
	symbolizer__stats(s, &st);
	CU_ASSERT_EQUAL(st.name_misses, (uint64_t)n + 1);
	CU_ASSERT_PTR_EQUAL(f.name, first);
	symbolizer__free(s);
}

/*
 * /proc/PID/maps lines as the kernel writes them, and malformed ones: only well-formed
 * executable lines are kept; paths keep their spaces; no path is "//anon"; [vdso] is a
 * mapping without an ELF file or a name.
 */
/*
 * The cache of recent symbol lookups answers as elf_lookup() does, and never with a symbol
 * that no longer covers the address: a file re-read (or another file at the same address)
 * with other symbols gets a fresh lookup.
 */
void test_sym_cache(void)
{
	struct symbolizer *s = symbolizer__new(NULL);
	struct elf_sym syms[3] = {
		{ .start = 0x1000, .size = 0x100 },
		{ .start = 0x1100, .size = 0x100 },
		{ .start = 0x2000, .size = 0x10 },
	};
	struct elf_file e = { .syms = syms, .nr_syms = 3 };
	struct elf_file other = { .syms = syms, .nr_syms = 1 };

	CU_ASSERT_FATAL(s != NULL);
	CU_ASSERT_PTR_EQUAL(sym_cache_lookup(s, &e, 0x1110), &syms[1]);
	CU_ASSERT_PTR_EQUAL(sym_cache_lookup(s, &e, 0x1110), &syms[1]); /* from the cache */
	CU_ASSERT_PTR_NULL(sym_cache_lookup(s, &e, 0x1800)); /* between symbols */
	CU_ASSERT_PTR_NULL(sym_cache_lookup(s, &other, 0x1110)); /* same address, other file */
	/* Re-read in place: the cached symbol moved away from the address. */
	syms[1].start = 0x1200;
	syms[1].size = 0x10;
	CU_ASSERT_PTR_NULL(sym_cache_lookup(s, &e, 0x1110));
	CU_ASSERT_PTR_EQUAL(sym_cache_lookup(s, &e, 0x2005), &syms[2]);
	/* Fewer symbols than the cached index. */
	e.nr_syms = 2;
	CU_ASSERT_PTR_NULL(sym_cache_lookup(s, &e, 0x2005));
	symbolizer__free(s);
}

void test_maps_parse(void)
{
	struct symbolizer_opts opts = { .sz = sizeof(opts) };
	char proc[PATH_MAX], path[PATH_MAX + 64];
	struct symbolizer *s = NULL;
	struct sym_frame f;

	snprintf(proc, sizeof(proc), "%s/parseproc", tmpdir);
	CU_ASSERT_FATAL(mkdir(proc, 0755) == 0);
	snprintf(path, sizeof(path), "%s/88", proc);
	CU_ASSERT_FATAL(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/88/maps", proc);
	write_text(path, "00400000-00500000 r--p 00000000 00:00 0 /not/exec\n"
			 "00500000-00600000 r-xp 00001000 00:00 0    /a dir/with spaces\n"
			 "00600000-00700000 r-xp 00000000 00:00 0\n"
			 "00700000-00800000 r-xp 00000000 00:00 0 [vdso]\n"
			 "0080000g-00900000 r-xp 00000000 00:00 0 /bad/hex\n"
			 "00900000-00a00000 r-x 00000000 00:00 0 /short/perms\n"
			 "00a00000-00b00000 r-xp 00000000 00:00 1x /bad/inode\n"
			 "00c00000-00b00000 r-xp 00000000 00:00 0 /backwards\n"
			 "00D00000-00E00000 r-xp 0000A000 FD:0a 12 /upper/hex\n");
	opts.proc_root = proc;
	s = symbolizer__new(&opts);
	CU_ASSERT_FATAL(s != NULL);
	CU_ASSERT_EQUAL(symbolizer__capture(s, 88), 0);
	CU_ASSERT_EQUAL(symbolizer__user(s, 88, 0x400010, &f), -ENOENT);
	CU_ASSERT_EQUAL_FATAL(symbolizer__user(s, 88, 0x500010, &f), 0);
	CU_ASSERT_STRING_EQUAL(f.module, "/a dir/with spaces");
	CU_ASSERT_EQUAL(f.map_offset, 0x1000);
	CU_ASSERT_EQUAL_FATAL(symbolizer__user(s, 88, 0x600010, &f), 0);
	CU_ASSERT_STRING_EQUAL(f.module, "//anon");
	CU_ASSERT_EQUAL_FATAL(symbolizer__user(s, 88, 0x700010, &f), 0);
	CU_ASSERT_STRING_EQUAL(f.module, "[vdso]");
	CU_ASSERT_PTR_NULL(f.name);
	CU_ASSERT_EQUAL(f.kind, SYM_FRAME_NATIVE);
	CU_ASSERT_EQUAL(symbolizer__user(s, 88, 0x800010, &f), -ENOENT);
	CU_ASSERT_EQUAL(symbolizer__user(s, 88, 0x900010, &f), -ENOENT);
	CU_ASSERT_EQUAL(symbolizer__user(s, 88, 0xa00010, &f), -ENOENT);
	CU_ASSERT_EQUAL(symbolizer__user(s, 88, 0xb00010, &f), -ENOENT);
	CU_ASSERT_EQUAL_FATAL(symbolizer__user(s, 88, 0xd00010, &f), 0);
	CU_ASSERT_STRING_EQUAL(f.module, "/upper/hex");
	CU_ASSERT_EQUAL(f.map_start, 0xd00000);
	CU_ASSERT_EQUAL(f.map_limit, 0xe00000);
	CU_ASSERT_EQUAL(f.map_offset, 0xa000);
	symbolizer__free(s);
}

/* The symbolizer's clock in test_maps_reread_backoff: stepped, never slept. */
static uint64_t fake_now_ns = 1000000000ull;

static uint64_t fake_clock(void *ctx)
{
	(void)ctx;
	return fake_now_ns;
}

/* Moves the fake clock MS milliseconds on (the re-read limits are in time). */
static void pass_ms(long ms)
{
	fake_now_ns += (uint64_t)ms * 1000000ull;
}

/*
 * Moves the clock MS on, misses (pid 99, an address nothing maps) and returns the maps
 * re-reads counted so far.
 */
static uint64_t miss_after(struct symbolizer *s, long ms)
{
	struct symbolizer_stats st;
	struct sym_frame f;

	pass_ms(ms);
	CU_ASSERT_EQUAL(symbolizer__user(s, 99, 0x900010, &f), -ENOENT);
	symbolizer__stats(s, &st);
	return st.maps_rereads;
}

/*
 * A cached file nobody uses is dropped after ELF_IDLE_NS even within the budget (a program
 * that ran once does not hold its symbols for good), and not before.
 */
void test_idle_eviction(void)
{
	struct symbolizer_opts opts = { .sz = sizeof(opts) };
	char proc[PATH_MAX], a[PATH_MAX + 8];
	const char *pa[1] = { a };
	struct symbolizer_stats st;
	struct symbolizer *s = NULL;

	snprintf(proc, sizeof(proc), "%s/idleproc", tmpdir);
	snprintf(a, sizeof(a), "%s", SYM_HELPER);
	fake_proc(proc, 700, pa, 1);
	opts.proc_root = proc;
	opts.clock_ns = fake_clock;
	s = symbolizer__new(&opts);
	CU_ASSERT_FATAL(s != NULL);
	CU_ASSERT_EQUAL(symbolizer__capture(s, 700), 0);
	symbolizer__process_exit(s, 700);
	/* The process goes after its linger; its file stays cached, unused. */
	pass_ms(EXIT_LINGER_NS / 1000000 + 1000);
	symbolizer__sweep(s);
	symbolizer__sweep(s);
	symbolizer__stats(s, &st);
	CU_ASSERT_EQUAL(st.processes, 0);
	CU_ASSERT_EQUAL(st.elf_entries, 1);
	CU_ASSERT_EQUAL(st.elf_evictions, 0);
	pass_ms(ELF_IDLE_NS / 1000000 - 5000);
	symbolizer__sweep(s);
	symbolizer__stats(s, &st);
	CU_ASSERT_EQUAL(st.elf_entries, 1);
	pass_ms(10000);
	symbolizer__sweep(s);
	symbolizer__stats(s, &st);
	CU_ASSERT_EQUAL(st.elf_entries, 0);
	CU_ASSERT_EQUAL(st.elf_evictions, 1);
	symbolizer__free(s);
}

/*
 * Lookup misses re-read a live process's mappings (dlopen) at most once a second, and back
 * off while the re-reads do not map the address (broken frame-pointer chains): 1 s, 2 s...
 */
void test_maps_reread_backoff(void)
{
	struct symbolizer_opts opts = { .sz = sizeof(opts) };
	char proc[PATH_MAX], path[PATH_MAX + 64];
	struct symbolizer_stats st;
	struct symbolizer *s = NULL;
	struct sym_frame f;

	fake_proc_maps("rereadproc", 99, "00400000-00500000 r-xp 00000000 00:00 0 [first]\n", proc,
		       sizeof(proc), path, sizeof(path));
	opts.proc_root = proc;
	opts.clock_ns = fake_clock;
	s = symbolizer__new(&opts);
	CU_ASSERT_FATAL(s != NULL);
	CU_ASSERT_EQUAL(symbolizer__capture(s, 99), 0);

	/* A library mapped since: not seen within the first second, then found. */
	write_text(path, "00400000-00500000 r-xp 00000000 00:00 0 [first]\n"
			 "00600000-00700000 r-xp 00000000 00:00 0 [dlopened]\n");
	CU_ASSERT_EQUAL(symbolizer__user(s, 99, 0x600010, &f), -ENOENT);
	symbolizer__stats(s, &st);
	CU_ASSERT_EQUAL(st.maps_rereads, 0);
	pass_ms(1100);
	CU_ASSERT_EQUAL_FATAL(symbolizer__user(s, 99, 0x600010, &f), 0);
	CU_ASSERT_STRING_EQUAL(f.module, "[dlopened]");
	symbolizer__stats(s, &st);
	CU_ASSERT_EQUAL(st.maps_rereads, 1);

	/* An address nothing maps: re-read after 1 s, then not again within the next 2 s. */
	CU_ASSERT_EQUAL(miss_after(s, 1100), 2);
	CU_ASSERT_EQUAL(miss_after(s, 1100), 2);
	CU_ASSERT_EQUAL(miss_after(s, 1000), 3);

	/* A reused pid starts over at one second. */
	symbolizer__process_exit(s, 99);
	CU_ASSERT_EQUAL(symbolizer__capture(s, 99), 0);
	CU_ASSERT_EQUAL(miss_after(s, 1100), 4);
	symbolizer__free(s);
}

/* The length of S's exited list, its links and flags checked on the way. */
static size_t nr_exited(const struct symbolizer *s)
{
	const struct proc *p;
	size_t n = 0;

	for (p = LIST_FIRST(&s->exited); p; p = LIST_NEXT(p, exit_link)) {
		CU_ASSERT_PTR_EQUAL(*p->exit_link.le_prev, p);
		CU_ASSERT_TRUE(p->exited);
		CU_ASSERT_PTR_EQUAL(find_proc((struct symbolizer *)s, p->tgid), p);
		n++;
	}
	return n;
}

/*
 * The sweeps walk a list of the exited processes, not the whole process table: every way
 * onto it (an exit, a pid gone before its capture) and off it (released by a sweep, captured
 * again as a reused pid, replaced by a fork or an exec) keeps it exact.
 */
void test_exit_list(void)
{
	struct symbolizer_opts opts = { .sz = sizeof(opts) };
	const char *pa[1] = { SYM_HELPER };
	struct symbolizer_stats st;
	struct symbolizer *s = NULL;
	char proc[PATH_MAX];
	struct sym_frame f;
	uint32_t pid;

	snprintf(proc, sizeof(proc), "%s/exitproc", tmpdir);
	for (pid = 810; pid <= 814; pid++)
		fake_proc(proc, (int)pid, pa, 1);
	opts.proc_root = proc;
	s = symbolizer__new(&opts);
	CU_ASSERT_FATAL(s != NULL);
	for (pid = 810; pid <= 814; pid++)
		CU_ASSERT_EQUAL(symbolizer__capture(s, pid), 0);
	CU_ASSERT_EQUAL(nr_exited(s), 0);
	for (pid = 810; pid <= 813; pid++)
		symbolizer__process_exit(s, pid);
	symbolizer__process_exit(s, 810);
	CU_ASSERT_EQUAL(nr_exited(s), 4);
	/* 811 reused, 812 forked again from 814, 813 exec()ed: none of them exited any more. */
	CU_ASSERT_EQUAL(symbolizer__capture(s, 811), 0);
	CU_ASSERT_EQUAL(symbolizer__process_born(s, 812, 814), 0);
	symbolizer__process_exec(s, 813);
	CU_ASSERT_EQUAL(nr_exited(s), 1);
	/* Gone before its capture: remembered as exited. */
	CU_ASSERT_EQUAL(symbolizer__user(s, 899, 0x10000000, &f), -ENOENT);
	CU_ASSERT_EQUAL(nr_exited(s), 2);
	symbolizer__stats(s, &st);
	CU_ASSERT_EQUAL(st.processes, 5);
	/* Kept through the sweep of their window, released by the next one. */
	symbolizer__sweep(s);
	CU_ASSERT_EQUAL(nr_exited(s), 2);
	symbolizer__sweep(s);
	CU_ASSERT_EQUAL(nr_exited(s), 0);
	symbolizer__stats(s, &st);
	CU_ASSERT_EQUAL(st.processes, 3);
	CU_ASSERT_PTR_NULL(find_proc(s, 810));
	CU_ASSERT_PTR_NULL(find_proc(s, 899));
	/* Freed while exited: symbolizer__free() takes them with the rest. */
	symbolizer__process_exit(s, 811);
	symbolizer__process_exit(s, 812);
	CU_ASSERT_EQUAL(nr_exited(s), 2);
	symbolizer__free(s);
}

/* symbolizer__stats()'s procs_by_events (a running count) against a walk of the table. */
static uint64_t by_events(const struct symbolizer *s)
{
	struct symbolizer_stats st;
	uint64_t n = 0;
	size_t i;

	for (i = 0; s->procs.slots && i <= s->procs.mask; i++)
		if (s->procs.slots[i].hash &&
		    ((const struct proc *)(uintptr_t)s->procs.slots[i].val)->by_events)
			n++;
	symbolizer__stats(s, &st);
	CU_ASSERT_EQUAL(st.procs_by_events, n);
	return st.procs_by_events;
}

/*
 * Processes whose mappings came from events are counted as they change, not by a walk of
 * the process table at each symbolizer__stats(): born from events or from a parent read
 * from /proc, replaced, events lost, released.
 */
void test_by_events_count(void)
{
	struct symbolizer_opts opts = { .sz = sizeof(opts) };
	const char *pa[1] = { SYM_HELPER };
	struct symbolizer *s = NULL;
	char proc[PATH_MAX];

	snprintf(proc, sizeof(proc), "%s/eventsproc", tmpdir);
	fake_proc(proc, 830, pa, 1);
	opts.proc_root = proc;
	s = symbolizer__new(&opts);
	CU_ASSERT_FATAL(s != NULL);
	CU_ASSERT_EQUAL(symbolizer__process_born(s, 840, 0), 0);
	CU_ASSERT_EQUAL(symbolizer__process_born(s, 841, 840), 0);
	CU_ASSERT_EQUAL(by_events(s), 2);
	/* A child of a process read from /proc is not. */
	CU_ASSERT_EQUAL(symbolizer__capture(s, 830), 0);
	CU_ASSERT_EQUAL(symbolizer__process_born(s, 842, 830), 0);
	CU_ASSERT_EQUAL(by_events(s), 2);
	/* Born again under a number it had: replaced, counted once. */
	CU_ASSERT_EQUAL(symbolizer__process_born(s, 841, 0), 0);
	CU_ASSERT_EQUAL(by_events(s), 2);
	/* Events lost: none is trusted to have all its mappings any more. */
	CU_ASSERT_EQUAL(symbolizer__process_born(s, 831, 0), 0);
	CU_ASSERT_EQUAL(by_events(s), 3);
	symbolizer__events_lost(s);
	CU_ASSERT_EQUAL(by_events(s), 0);
	CU_ASSERT_EQUAL(symbolizer__process_born(s, 843, 0), 0);
	CU_ASSERT_EQUAL(by_events(s), 1);
	/* Released by the sweeps after its exit. */
	symbolizer__process_exit(s, 843);
	symbolizer__sweep(s);
	symbolizer__sweep(s);
	CU_ASSERT_EQUAL(by_events(s), 0);
	symbolizer__free(s);
}

void test_symbolizer_free_null(void)
{
	symbolizer__free(NULL);
}
