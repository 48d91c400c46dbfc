// SPDX-License-Identifier: Apache-2.0
/*
 * Symbolizer tests: a fake kallsyms, this (PIE) test binary, libc, a fixed-address helper,
 * exited and short-lived processes, corrupt ELF files behind a fake /proc tree, separate
 * debug files (build-id tree, debuglink), demangling, C++, perf maps, Go, and the ELF
 * cache's build-id sharing and byte budget.
 *
 * The cases live in test_symbolize*.c; symtest.c holds the helpers they share.
 */
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

#include "symtest.h"
#include "tests/lib/kiln_test.h"

static void test_kallsyms(void)
{
	struct symbolizer_opts opts = { .sz = sizeof(opts) };
	struct symbolizer *s = NULL;
	struct sym_frame f;
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/kallsyms", tmpdir);
	/* Unsorted on purpose, with a data symbol that must not shadow foo. */
	write_text(path, "ffffffff81003000 T bar\n"
			 "ffffffff81000000 T _text\n"
			 "ffffffff81001000 t foo\n"
			 "ffffffff81002000 D some_data\n"
			 "ffffffff81004000 t baz.isra.0.cold\n"
			 "ffffffffc0001000 t modfn\t[mymod]\n"
			 "ffffffffc0002000 T modfn2\t[othermod]\n");
	opts.kallsyms = path;
	s = symbolizer__new(&opts);
	CU_ASSERT_FATAL(s != NULL);

	CU_ASSERT_EQUAL(symbolizer__kernel(s, 0xffffffff81001010ULL, &f), 0);
	CU_ASSERT_EQUAL(f.kind, SYM_FRAME_KERNEL);
	CU_ASSERT_STRING_EQUAL(f.name, "foo");
	CU_ASSERT_STRING_EQUAL(f.module, "[kernel.kallsyms]");
	CU_ASSERT_EQUAL(f.sym_offset, 0x10);
	CU_ASSERT_EQUAL(f.elf_vaddr, 0xffffffff81001010ULL);

	CU_ASSERT_EQUAL(symbolizer__kernel(s, 0xffffffff81002010ULL, &f), 0);
	CU_ASSERT_STRING_EQUAL(f.name, "foo");

	CU_ASSERT_EQUAL(symbolizer__kernel(s, 0xffffffff81003000ULL, &f), 0);
	CU_ASSERT_STRING_EQUAL(f.name, "bar");
	CU_ASSERT_EQUAL(f.sym_offset, 0);

	/*
	 * A split-off piece is named as its function, on the first lookup of its symbol and on
	 * the later ones (which take the name cached in the symbol).
	 */
	for (int i = 0; i < 2; i++) {
		CU_ASSERT_EQUAL(symbolizer__kernel(s, 0xffffffff81004008ULL + i, &f), 0);
		CU_ASSERT_STRING_EQUAL(f.name, "baz");
		CU_ASSERT_STRING_EQUAL(f.system_name, "baz.isra.0.cold");
		CU_ASSERT_EQUAL(f.sym_offset, 8 + (uint64_t)i);
	}
	CU_ASSERT_EQUAL(symbolizer__kernel(s, 0xffffffff81003000ULL, &f), 0);
	CU_ASSERT_STRING_EQUAL(f.name, "bar");
	CU_ASSERT_STRING_EQUAL(f.system_name, "bar");

	CU_ASSERT_EQUAL(symbolizer__kernel(s, 0xffffffffc0001004ULL, &f), 0);
	CU_ASSERT_STRING_EQUAL(f.name, "modfn");
	CU_ASSERT_STRING_EQUAL(f.module, "[mymod]");
	CU_ASSERT_EQUAL(symbolizer__kernel(s, 0xffffffffc0002fffULL, &f), 0);
	CU_ASSERT_STRING_EQUAL(f.name, "modfn2");
	CU_ASSERT_STRING_EQUAL(f.module, "[othermod]");

	/* Below the first symbol: resolved to nothing, but not an error. */
	CU_ASSERT_EQUAL(symbolizer__kernel(s, 0xffffffff80000000ULL, &f), 0);
	CU_ASSERT_PTR_NULL(f.name);
	CU_ASSERT_STRING_EQUAL(f.module, "[kernel.kallsyms]");
	symbolizer__free(s);
}

static void test_kallsyms_restricted(void)
{
	struct symbolizer_opts opts = { .sz = sizeof(opts) };
	struct symbolizer *s = NULL;
	struct sym_frame f;
	char path[PATH_MAX];

	/* What an unprivileged reader sees with kptr_restrict. */
	snprintf(path, sizeof(path), "%s/kallsyms-zero", tmpdir);
	write_text(path, "0000000000000000 T _text\n0000000000000000 t foo\n");
	opts.kallsyms = path;
	s = symbolizer__new(&opts);
	CU_ASSERT_FATAL(s != NULL);
	CU_ASSERT_EQUAL(symbolizer__kernel(s, 0xffffffff81001010ULL, &f), -EPERM);
	CU_ASSERT_PTR_NULL(f.name);
	symbolizer__free(s);

	snprintf(path, sizeof(path), "%s/no-such-kallsyms", tmpdir);
	s = symbolizer__new(&opts);
	CU_ASSERT_FATAL(s != NULL);
	CU_ASSERT_EQUAL(symbolizer__kernel(s, 0xffffffff81001010ULL, &f), -ENOENT);
	symbolizer__free(s);
}

static void test_self_pie(void)
{
	struct symbolizer *s = symbolizer__new(NULL);
	uint64_t addr = (uintptr_t)&known_function + 4, value;
	char exe[PATH_MAX];
	struct sym_frame f;
	int e_type = 0;
	ssize_t n;

	CU_ASSERT_FATAL(s != NULL);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	CU_ASSERT_FATAL(n > 0);
	exe[n] = '\0';
	value = elf_sym_value(exe, "known_function", &e_type);
	CU_ASSERT_FATAL(value != 0);
	/* ET_DYN: this test is only meaningful for a PIE executable. */
	CU_ASSERT_EQUAL(e_type, ET_DYN);
	CU_ASSERT_NOT_EQUAL(addr - 4, value);

	CU_ASSERT_EQUAL_FATAL(symbolizer__user(s, (uint32_t)getpid(), addr, &f), 0);
	CU_ASSERT_EQUAL(f.kind, SYM_FRAME_NATIVE);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f.name);
	CU_ASSERT_STRING_EQUAL(f.name, "known_function");
	CU_ASSERT_STRING_EQUAL(f.module, exe);
	CU_ASSERT_EQUAL(f.elf_vaddr, value + 4);
	CU_ASSERT_EQUAL(f.sym_offset, 4);
	CU_ASSERT_EQUAL(f.addr, addr);
	CU_ASSERT(f.map_start <= addr && addr < f.map_limit);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f.build_id);
	CU_ASSERT_EQUAL(strlen(f.build_id), 40);
	CU_ASSERT_EQUAL(strspn(f.build_id, "0123456789abcdef"), strlen(f.build_id));
	symbolizer__free(s);
}

static void test_libc(void)
{
	struct symbolizer *s = symbolizer__new(NULL);
	void *fn = dlsym(RTLD_DEFAULT, "getpid");
	struct sym_frame f, f2;
	uint64_t value;

	CU_ASSERT_FATAL(s != NULL);
	CU_ASSERT_FATAL(fn != NULL);
	CU_ASSERT_EQUAL_FATAL(symbolizer__user(s, (uint32_t)getpid(), (uintptr_t)fn + 2, &f), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f.name);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f.module);
	CU_ASSERT_PTR_NOT_NULL(strstr(f.module, "libc"));
	/* getpid and __getpid are aliases; we prefer the plainer name. */
	CU_ASSERT_STRING_EQUAL(f.name, "getpid");
	value = elf_sym_value(f.module, "getpid", NULL);
	CU_ASSERT_FATAL(value != 0);
	CU_ASSERT_EQUAL(f.elf_vaddr, value + 2);
	CU_ASSERT_EQUAL(f.sym_offset, 2);

	/* Same file, another process view: the ELF cache hands back the same strings. */
	CU_ASSERT_EQUAL(symbolizer__user(s, (uint32_t)getpid(), (uintptr_t)fn, &f2), 0);
	CU_ASSERT_PTR_EQUAL(f2.name, f.name);
	CU_ASSERT_PTR_EQUAL(f2.module, f.module);
	CU_ASSERT_PTR_EQUAL(f2.build_id, f.build_id);
	symbolizer__free(s);
}

static void test_no_mapping(void)
{
	struct symbolizer *s = symbolizer__new(NULL);
	struct sym_frame f;

	CU_ASSERT_FATAL(s != NULL);
	CU_ASSERT_EQUAL(symbolizer__user(s, (uint32_t)getpid(), 0x10, &f), -ENOENT);
	CU_ASSERT_PTR_NULL(f.name);
	/* Twice: the second miss must not re-read maps every time (covered by timing only). */
	CU_ASSERT_EQUAL(symbolizer__user(s, (uint32_t)getpid(), 0x20, &f), -ENOENT);
	/* A pid that cannot exist (above pid_max's hard limit). */
	CU_ASSERT_EQUAL(symbolizer__user(s, 0x7fffffff, 0x1000, &f), -ENOENT);
	CU_ASSERT_EQUAL(symbolizer__capture(s, 0x7fffffff), -ESRCH);
	symbolizer__free(s);
}

static void test_exited(void)
{
	struct symbolizer *s = symbolizer__new(NULL);
	uint64_t addr = (uintptr_t)&known_function + 1;
	struct sym_frame f;
	int fds[2], status;
	pid_t child;
	char c;

	CU_ASSERT_FATAL(s != NULL);
	CU_ASSERT_FATAL(pipe(fds) == 0);
	child = fork();
	CU_ASSERT_FATAL(child >= 0);
	if (!child) {
		close(fds[1]);
		while (read(fds[0], &c, 1) > 0)
			;
		_exit(0);
	}
	close(fds[0]);
	CU_ASSERT_EQUAL(symbolizer__capture(s, (uint32_t)child), 0);
	close(fds[1]);
	CU_ASSERT_EQUAL(waitpid(child, &status, 0), child);
	symbolizer__process_exit(s, (uint32_t)child);

	/* Gone from /proc, still resolvable from what capture() kept. */
	CU_ASSERT_EQUAL(symbolizer__user(s, (uint32_t)child, addr, &f), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f.name);
	CU_ASSERT_STRING_EQUAL(f.name, "known_function");
	CU_ASSERT_EQUAL(f.sym_offset, 1);

	/* Kept through the sweep that closes the window it exited in... */
	symbolizer__sweep(s);
	CU_ASSERT_EQUAL(symbolizer__user(s, (uint32_t)child, addr, &f), 0);
	/* ...released by the next one; returned strings stay valid. */
	symbolizer__sweep(s);
	CU_ASSERT_STRING_EQUAL(f.name, "known_function");
	CU_ASSERT_EQUAL(symbolizer__user(s, (uint32_t)child, addr, &f), -ENOENT);
	symbolizer__free(s);
}

static void test_exec_invalidates(void)
{
	struct symbolizer *s = symbolizer__new(NULL);
	struct sym_frame f;

	CU_ASSERT_FATAL(s != NULL);
	CU_ASSERT_EQUAL(symbolizer__capture(s, (uint32_t)getpid()), 0);
	symbolizer__process_exec(s, (uint32_t)getpid());
	/* Re-read lazily. */
	CU_ASSERT_EQUAL(symbolizer__user(s, (uint32_t)getpid(), (uintptr_t)&known_function, &f), 0);
	CU_ASSERT_STRING_EQUAL(f.name, "known_function");
	symbolizer__free(s);
}

static void test_nopie(void)
{
	struct symbolizer *s = symbolizer__new(NULL);
	unsigned long long addr = 0;
	int in[2], out[2], status, e_type = 0;
	struct sym_frame f;
	uint64_t value;
	FILE *fp;
	pid_t child;

	CU_ASSERT_FATAL(s != NULL);
	value = elf_sym_value(NOPIE_HELPER, "nopie_marker_function", &e_type);
	CU_ASSERT_FATAL(value != 0);
	CU_ASSERT_EQUAL(e_type, ET_EXEC);
	CU_ASSERT_FATAL(pipe(in) == 0 && pipe(out) == 0);
	child = fork();
	CU_ASSERT_FATAL(child >= 0);
	if (!child) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		execl(NOPIE_HELPER, NOPIE_HELPER, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	fp = fdopen(out[0], "r");
	CU_ASSERT_FATAL(fp != NULL);
	CU_ASSERT_EQUAL(fscanf(fp, "%llx", &addr), 1);
	/* Fixed address: the runtime address is the ELF vaddr, p_vaddr != p_offset. */
	CU_ASSERT_EQUAL(addr, value);
	CU_ASSERT_EQUAL(symbolizer__user(s, (uint32_t)child, addr + 3, &f), 0);
	CU_ASSERT_PTR_NOT_NULL(f.name);
	if (f.name)
		CU_ASSERT_STRING_EQUAL(f.name, "nopie_marker_function");
	CU_ASSERT_EQUAL(f.elf_vaddr, value + 3);
	CU_ASSERT_EQUAL(f.sym_offset, 3);
	CU_ASSERT_STRING_EQUAL(f.module, NOPIE_HELPER);
	close(in[1]);
	fclose(fp);
	waitpid(child, &status, 0);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	symbolizer__free(s);
}

/*
 * Corrupt copies of this test binary, mapped by a fake process in a fake /proc. More
 * variants for a longer local run: -DNR_CORRUPT=1500.
 */
#ifndef NR_CORRUPT
#define NR_CORRUPT 64
#endif

static void test_corrupt_elf(void)
{
	struct symbolizer_opts opts = { .sz = sizeof(opts) };
	char path[PATH_MAX + 64], root[PATH_MAX / 2], proc[PATH_MAX / 2];
	struct symbolizer *s = NULL;
	unsigned char *img = NULL, *bad = NULL;
	size_t len = 0, blen;
	struct sym_frame f;
	FILE *maps, *fp;
	struct stat st;
	unsigned int seed = 12345;
	int i, j, err;

	fp = fopen("/proc/self/exe", "rb");
	CU_ASSERT_FATAL(fp != NULL);
	img = malloc(4 << 20);
	CU_ASSERT_FATAL(img != NULL);
	len = fread(img, 1, 4 << 20, fp);
	fclose(fp);
	CU_ASSERT_FATAL(len > 4096);
	bad = malloc(len);
	CU_ASSERT_FATAL(bad != NULL);

	snprintf(root, sizeof(root), "%s/rootfs", tmpdir);
	snprintf(proc, sizeof(proc), "%s/proc/4242", tmpdir);
	CU_ASSERT_FATAL(mkdir(root, 0755) == 0);
	snprintf(path, sizeof(path), "%s/proc", tmpdir);
	CU_ASSERT_FATAL(mkdir(path, 0755) == 0);
	CU_ASSERT_FATAL(mkdir(proc, 0755) == 0);
	snprintf(path, sizeof(path), "%s/root", proc);
	CU_ASSERT_FATAL(symlink(root, path) == 0);
	snprintf(path, sizeof(path), "%s/maps", proc);
	maps = fopen(path, "w");
	CU_ASSERT_FATAL(maps != NULL);

	for (i = 0; i < NR_CORRUPT; i++) {
		memcpy(bad, img, len);
		blen = len;
		switch (i % 4) {
		case 0: /* truncated anywhere */
			blen = (size_t)rand_r(&seed) % len;
			break;
		case 1: /* bytes flipped in the ELF and program headers */
			for (j = 0; j < 16; j++)
				bad[(size_t)rand_r(&seed) % 1024] ^= (unsigned char)rand_r(&seed);
			break;
		case 2: /* bytes flipped in the section headers at the end of the file */
			for (j = 0; j < 32; j++)
				bad[len - 1 - (size_t)rand_r(&seed) % 4096] ^=
					(unsigned char)rand_r(&seed);
			break;
		default: /* random garbage behind a valid ELF header */
			for (j = 64; j < (int)(blen < 65536 ? blen : 65536); j++)
				bad[j] = (unsigned char)rand_r(&seed);
			break;
		}
		snprintf(path, sizeof(path), "%s/bad%d.elf", root, i);
		fp = fopen(path, "wb");
		CU_ASSERT_FATAL(fp != NULL);
		CU_ASSERT_FATAL(fwrite(bad, 1, blen, fp) == blen || !blen);
		CU_ASSERT_FATAL(fclose(fp) == 0);
		CU_ASSERT_FATAL(stat(path, &st) == 0);
		fprintf(maps, "%llx-%llx r-xp 00001000 08:01 %llu /bad%d.elf\n",
			0x10000000ULL + (unsigned long long)i * 0x100000,
			0x10000000ULL + (unsigned long long)i * 0x100000 + 0x80000,
			(unsigned long long)st.st_ino, i);
	}
	CU_ASSERT_FATAL(fclose(maps) == 0);

	snprintf(path, sizeof(path), "%s/proc", tmpdir);
	opts.proc_root = path;
	s = symbolizer__new(&opts);
	CU_ASSERT_FATAL(s != NULL);
	for (i = 0; i < NR_CORRUPT; i++) {
		uint64_t a = 0x10000000ULL + (uint64_t)i * 0x100000;

		for (j = 0; j < 8; j++) {
			err = symbolizer__user(s, 4242, a + (uint64_t)j * 0x777, &f);
			/* In a mapping: 0 (name may be anything or NULL), never a crash. */
			CU_ASSERT(err == 0 || err < 0);
			if (!err)
				CU_ASSERT_PTR_NOT_NULL(f.module);
		}
	}
	/* Outside every fake mapping. */
	CU_ASSERT_EQUAL(symbolizer__user(s, 4242, 0x1000, &f), -ENOENT);
	symbolizer__free(s);
	free(img);
	free(bad);
}

/* A tgid seen exiting and then captured again is a new process: its new mappings count. */
static void test_pid_reuse(void)
{
	struct symbolizer_opts opts = { .sz = sizeof(opts) };
	char path[PATH_MAX + 64], proc[PATH_MAX / 2];
	struct symbolizer *s = NULL;
	struct sym_frame f;

	fake_proc_maps("reuse", 77, "00400000-00500000 r-xp 00000000 00:00 0 [first]\n", proc,
		       sizeof(proc), path, sizeof(path));
	opts.proc_root = proc;
	s = symbolizer__new(&opts);
	CU_ASSERT_FATAL(s != NULL);
	CU_ASSERT_EQUAL(symbolizer__capture(s, 77), 0);
	CU_ASSERT_EQUAL(symbolizer__user(s, 77, 0x400010, &f), 0);
	CU_ASSERT_STRING_EQUAL(f.module, "[first]");
	CU_ASSERT_PTR_NULL(f.name);
	CU_ASSERT_EQUAL(f.map_start, 0x400000);
	CU_ASSERT_EQUAL(f.map_limit, 0x500000);

	symbolizer__process_exit(s, 77);
	write_text(path, "00600000-00700000 r-xp 00000000 00:00 0 [second]\n");
	/* Still the old process: nothing re-read. */
	CU_ASSERT_EQUAL(symbolizer__user(s, 77, 0x600010, &f), -ENOENT);
	CU_ASSERT_EQUAL(symbolizer__capture(s, 77), 0);
	CU_ASSERT_EQUAL(symbolizer__user(s, 77, 0x600010, &f), 0);
	CU_ASSERT_STRING_EQUAL(f.module, "[second]");
	CU_ASSERT_EQUAL(symbolizer__user(s, 77, 0x400010, &f), -ENOENT);
	symbolizer__free(s);
}

/* A process that lives about 50 ms, captured at its start, symbolized after it was reaped. */
static void test_short_lived(void)
{
	struct symbolizer *s = symbolizer__new(NULL);
	uint64_t value = elf_sym_value(SYM_HELPER, "helper_burn", NULL);
	struct child c;
	struct sym_frame f;

	CU_ASSERT_FATAL(s != NULL);
	CU_ASSERT_FATAL(value != 0);
	CU_ASSERT_FATAL(child_start(&c, SYM_HELPER, "burn") == 0);
	CU_ASSERT_EQUAL(symbolizer__capture(s, (uint32_t)c.pid), 0);
	CU_ASSERT_EQUAL(child_finish(&c), 0);
	symbolizer__process_exit(s, (uint32_t)c.pid);
	/* Reaped: nothing of it is left in /proc. */
	CU_ASSERT(kill(c.pid, 0) == -1 && errno == ESRCH);

	CU_ASSERT_EQUAL_FATAL(symbolizer__user(s, (uint32_t)c.pid, c.addr + 2, &f), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f.name);
	CU_ASSERT_STRING_EQUAL(f.name, "helper_burn");
	CU_ASSERT_STRING_EQUAL(f.system_name, "helper_burn");
	CU_ASSERT_EQUAL(f.kind, SYM_FRAME_NATIVE);
	CU_ASSERT_STRING_EQUAL(f.module, SYM_HELPER);
	CU_ASSERT_EQUAL(f.elf_vaddr, value + 2);
	CU_ASSERT_PTR_NOT_NULL(f.build_id);
	symbolizer__free(s);
}

int main(int argc, char **argv)
{
	static const struct kiln_test_case cases[] = {
		{ "kallsyms", test_kallsyms },
		{ "kallsyms_restricted", test_kallsyms_restricted },
		{ "self_pie", test_self_pie },
		{ "libc", test_libc },
		{ "no_mapping", test_no_mapping },
		{ "exited", test_exited },
		{ "exec_invalidates", test_exec_invalidates },
		{ "nopie", test_nopie },
		{ "corrupt_elf", test_corrupt_elf },
		{ "pid_reuse", test_pid_reuse },
		{ "short_lived", test_short_lived },
		{ "buildid_debug_file", test_buildid_debug_file },
		{ "debuglink", test_debuglink },
		{ "demangle", test_demangle },
		{ "cxx", test_cxx },
		{ "perfmap_jit", test_perfmap_jit },
		{ "perfmap_in_root", test_perfmap_in_root },
		{ "go", test_go },
		{ "buildid_cache_sharing", test_buildid_cache_sharing },
		{ "lru_budget", test_lru_budget },
		{ "name_cache", test_name_cache },
		{ "sym_cache", test_sym_cache },
		{ "idle_eviction", test_idle_eviction },
		{ "maps_parse", test_maps_parse },
		{ "maps_reread_backoff", test_maps_reread_backoff },
		{ "exit_list", test_exit_list },
		{ "by_events_count", test_by_events_count },
		{ "free_null", test_symbolizer_free_null },
	};
	char cmd[PATH_MAX + 16];
	int rc;

	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	rc = kiln_test_main(argc, argv, "symbolize", cases, sizeof(cases) / sizeof(cases[0]));
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd))
		fprintf(stderr, "could not remove %s\n", tmpdir);
	return rc;
}
