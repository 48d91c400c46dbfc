// SPDX-License-Identifier: Apache-2.0
/*
 * Symbolizer tests: a fake kallsyms, this (PIE) test binary, libc, a fixed-address helper,
 * exited and short-lived processes, corrupt ELF files behind a fake /proc tree, separate
 * debug files (build-id tree, debuglink), demangling, C++, perf maps, Go, and the ELF
 * cache's build-id sharing and byte budget.
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

/* Room for shell commands quoting several paths. */
#define CMD_MAX (16 * PATH_MAX)

static char tmpdir[] = "/tmp/kiln-test-symbolize-XXXXXX";

__attribute__((noinline)) int known_function(int x)
{
	/* Something the compiler cannot fold, so the function has a body of a few bytes. */
	return x * 7 + (int)getpid() % 3;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	CU_ASSERT_FATAL(f != NULL);
	fputs(text, f);
	CU_ASSERT_FATAL(fclose(f) == 0);
}

/* st_value of function NAME in the ELF file at PATH (symtab or dynsym), 0 if absent. */
static uint64_t elf_sym_value(const char *path, const char *name, int *e_type)
{
	Elf *elf = NULL;
	Elf_Scn *scn = NULL;
	uint64_t value = 0;
	GElf_Ehdr eh;
	GElf_Shdr sh;
	GElf_Sym sym;
	int fd;

	elf_version(EV_CURRENT);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (elf && gelf_getehdr(elf, &eh) && e_type)
		*e_type = eh.e_type;
	while (elf && !value && (scn = elf_nextscn(elf, scn))) {
		Elf_Data *d;
		size_t i;

		if (!gelf_getshdr(scn, &sh) ||
		    (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM) || !sh.sh_entsize)
			continue;
		d = elf_getdata(scn, NULL);
		for (i = 0; d && i < sh.sh_size / sh.sh_entsize; i++) {
			const char *n;

			if (!gelf_getsym(d, (int)i, &sym) || sym.st_shndx == SHN_UNDEF)
				continue;
			n = elf_strptr(elf, sh.sh_link, sym.st_name);
			if (n && !strcmp(n, name) && GELF_ST_TYPE(sym.st_info) == STT_FUNC) {
				value = sym.st_value;
				break;
			}
		}
	}
	elf_end(elf);
	close(fd);
	return value;
}

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

/*
 * Makes a fake /proc under tmpdir/NAME holding process PID with maps MAPS; PROC gets the
 * fake root (for symbolizer_opts.proc_root) and MAPS_PATH the maps file, to rewrite later.
 */
static void fake_proc_maps(const char *name, int pid, const char *maps, char *proc, size_t proc_sz,
			   char *maps_path, size_t maps_sz)
{
	snprintf(proc, proc_sz, "%s/%s", tmpdir, name);
	CU_ASSERT_FATAL(mkdir(proc, 0755) == 0);
	snprintf(maps_path, maps_sz, "%s/%d", proc, pid);
	CU_ASSERT_FATAL(mkdir(maps_path, 0755) == 0);
	snprintf(maps_path, maps_sz, "%s/%d/maps", proc, pid);
	write_text(maps_path, maps);
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

/* Child processes that print an address and wait for their stdin to close. */
struct child {
	pid_t pid;
	int in; /* closing it lets the child go on */
	unsigned long long addr;
};

/* Starts PATH with ARG (may be NULL) and reads the address it prints. Returns 0 or -1. */
static int child_start(struct child *c, const char *path, const char *arg)
{
	int in[2], out[2];
	FILE *fp;
	int ok;

	memset(c, 0, sizeof(*c));
	c->in = -1;
	if (pipe(in) || pipe(out))
		return -1;
	c->pid = fork();
	if (c->pid < 0)
		return -1;
	if (!c->pid) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		execl(path, path, arg, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	c->in = in[1];
	fp = fdopen(out[0], "r");
	if (!fp)
		return -1;
	ok = fscanf(fp, "%llx", &c->addr) == 1;
	fclose(fp);
	return ok ? 0 : -1;
}

/* Lets the child finish and reaps it. Returns its exit status or -1. */
static int child_finish(struct child *c)
{
	int status;

	if (c->in >= 0)
		close(c->in);
	c->in = -1;
	if (c->pid <= 0 || waitpid(c->pid, &status, 0) != c->pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int run(const char *cmd)
{
	int rc = system(cmd);

	if (rc)
		fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
	return rc;
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

/* Copies SYM_HELPER to DIR/NAME, splits its debug info into DEBUG and strips it. */
static int make_stripped(const char *dir, const char *name, const char *debug)
{
	char cmd[CMD_MAX];

	snprintf(cmd, sizeof(cmd),
		 "mkdir -p '%s' && cp '%s' '%s/%s' && '%s' --only-keep-debug '%s/%s' '%s' && "
		 "'%s' --strip-all '%s/%s'",
		 dir, SYM_HELPER, dir, name, OBJCOPY, dir, name, debug, STRIP, dir, name);
	return run(cmd);
}

/* Build id of the ELF file at PATH through the symbolizer ("" when none). */
static void probe_build_id(const char *path, char *out, size_t len)
{
	struct symbolizer *s = symbolizer__new(NULL);
	struct sym_frame f;

	out[0] = '\0';
	if (s && !symbolizer__elf_probe(s, path, 0, &f) && f.build_id)
		snprintf(out, len, "%s", f.build_id);
	symbolizer__free(s);
}

static void test_buildid_debug_file(void)
{
	struct symbolizer_opts opts = { .sz = sizeof(opts) };
	char dir[PATH_MAX], bin[PATH_MAX + 16], dbg[PATH_MAX + 16], root[PATH_MAX], bid[130];
	char cmd[CMD_MAX];
	uint64_t value = elf_sym_value(SYM_HELPER, "helper_burn", NULL);
	struct symbolizer *s = NULL;
	struct sym_frame f;
	struct child c;

	if (!*OBJCOPY || !*STRIP) {
		fprintf(stderr, "skipped: objcopy or strip (binutils) not found\n");
		return;
	}
	CU_ASSERT_FATAL(value != 0);
	snprintf(dir, sizeof(dir), "%s/bid", tmpdir);
	snprintf(bin, sizeof(bin), "%s/helper", dir);
	snprintf(dbg, sizeof(dbg), "%s/helper.debug", dir);
	snprintf(root, sizeof(root), "%s/debugroot", tmpdir);
	CU_ASSERT_FATAL(make_stripped(dir, "helper", dbg) == 0);
	/* Stripped for real: no .symtab entry left for it. */
	CU_ASSERT_EQUAL(elf_sym_value(bin, "helper_burn", NULL), 0);
	probe_build_id(bin, bid, sizeof(bid));
	CU_ASSERT_FATAL(strlen(bid) > 2);

	opts.debug_root = root;
	s = symbolizer__new(&opts);
	CU_ASSERT_FATAL(s != NULL);
	/* No debug file yet: the address stays unnamed. */
	CU_ASSERT_EQUAL(symbolizer__elf_probe(s, bin, value + 1, &f), 0);
	CU_ASSERT_PTR_NULL(f.name);

	snprintf(cmd, sizeof(cmd),
		 "mkdir -p '%s/.build-id/%.2s' && mv '%s' '%s/.build-id/%.2s/%s.debug'", root, bid,
		 dbg, root, bid, bid + 2);
	CU_ASSERT_FATAL(run(cmd) == 0);
	CU_ASSERT_EQUAL(symbolizer__elf_probe(s, bin, value + 1, &f), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f.name);
	CU_ASSERT_STRING_EQUAL(f.name, "helper_burn");
	CU_ASSERT_STRING_EQUAL(f.build_id, bid);

	/* The same through a live process of the stripped binary. */
	CU_ASSERT_FATAL(child_start(&c, bin, "burn") == 0);
	CU_ASSERT_EQUAL(symbolizer__capture(s, (uint32_t)c.pid), 0);
	CU_ASSERT_EQUAL(child_finish(&c), 0);
	CU_ASSERT_EQUAL_FATAL(symbolizer__user(s, (uint32_t)c.pid, c.addr + 3, &f), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f.name);
	CU_ASSERT_STRING_EQUAL(f.name, "helper_burn");
	CU_ASSERT_EQUAL(f.elf_vaddr, value + 3);
	CU_ASSERT_STRING_EQUAL(f.module, bin);
	symbolizer__free(s);
}

static void test_debuglink(void)
{
	struct symbolizer_opts opts = { .sz = sizeof(opts) };
	char dir[PATH_MAX], bin[PATH_MAX + 16], dbg[PATH_MAX + 32], root[PATH_MAX];
	char cmd[CMD_MAX];
	uint64_t value = elf_sym_value(SYM_HELPER, "helper_burn", NULL);
	struct symbolizer *s = NULL;
	struct sym_frame f;

	if (!*OBJCOPY || !*STRIP) {
		fprintf(stderr, "skipped: objcopy or strip (binutils) not found\n");
		return;
	}
	snprintf(dir, sizeof(dir), "%s/dl", tmpdir);
	snprintf(bin, sizeof(bin), "%s/helper2", dir);
	snprintf(dbg, sizeof(dbg), "%s/.debug/helper2.debug", dir);
	/* An empty debug root: only the debuglink can find it. */
	snprintf(root, sizeof(root), "%s/emptyroot", tmpdir);
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/.debug' '%s'", dir, root);
	CU_ASSERT_FATAL(run(cmd) == 0);
	CU_ASSERT_FATAL(make_stripped(dir, "helper2", dbg) == 0);
	snprintf(cmd, sizeof(cmd), "cd '%s' && '%s' --add-gnu-debuglink='%s' helper2", dir, OBJCOPY,
		 dbg);
	CU_ASSERT_FATAL(run(cmd) == 0);

	opts.debug_root = root;
	s = symbolizer__new(&opts);
	CU_ASSERT_FATAL(s != NULL);
	CU_ASSERT_EQUAL(symbolizer__elf_probe(s, bin, value, &f), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f.name);
	CU_ASSERT_STRING_EQUAL(f.name, "helper_burn");
	CU_ASSERT_EQUAL(f.sym_offset, 0);

	/* DEBUG_ROOT/DIR/NAME is the third place looked at. */
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s%s' && mv '%s' '%s%s/'", root, dir, dbg, root, dir);
	CU_ASSERT_FATAL(run(cmd) == 0);
	CU_ASSERT_EQUAL(symbolizer__elf_probe(s, bin, value, &f), 0);
	CU_ASSERT_PTR_NOT_NULL(f.name);

	/* A debug file of that name whose CRC does not match is not used. */
	snprintf(cmd, sizeof(cmd), "echo x >> '%s%s/helper2.debug'", root, dir);
	CU_ASSERT_FATAL(run(cmd) == 0);
	CU_ASSERT_EQUAL(symbolizer__elf_probe(s, bin, value, &f), 0);
	CU_ASSERT_PTR_NULL(f.name);
	symbolizer__free(s);
}

static void test_demangle(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "_ZN9kiln_test6Burner4spinEi", "kiln_test::Burner::spin(int)" },
		{ "_Z3fooPKc", "foo(char const*)" },
		{ "_ZNSt6vectorIiSaIiEE9push_backERKi", "std::vector<int, std::allocator<int> "
							">::push_back(int const&)" },
		/* Rust legacy: the trailing hash goes. */
		{ "_ZN4core3fmt5write17h0123456789abcdefE", "core::fmt::write" },
		{ "_ZN3std2rt10lang_start28_$u7b$$u7b$closure$u7d$$u7d$17h1e4f3b7c8a9d0e2fE",
		  "std::rt::lang_start::{{closure}}" },
		/* Rust v0. */
		{ "_RNvCs15kBYyAo9fc_7mycrate4main", "mycrate::main" },
		{ "_RINvNtCs1234_7mycrate3foo3barmE", "mycrate::foo::bar::<u32>" },
		/* Not mangled, or not validly. */
		{ "main", NULL },
		{ "_start", NULL },
		{ "_Zgarbage", NULL },
		{ "_R", NULL },
		{ "", NULL },
	};
	size_t i;
	char *d;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		d = symbolizer__demangle(cases[i].in);
		if (cases[i].out) {
			CU_ASSERT_PTR_NOT_NULL(d);
			if (d && strcmp(d, cases[i].out))
				fprintf(stderr, "%s -> %s, want %s\n", cases[i].in, d,
					cases[i].out);
			if (d)
				CU_ASSERT_STRING_EQUAL(d, cases[i].out);
		} else {
			CU_ASSERT_PTR_NULL(d);
		}
		free(d);
	}
	CU_ASSERT_PTR_NULL(symbolizer__demangle(NULL));
}

static void test_cxx(void)
{
#ifdef CXX_HELPER
	struct symbolizer *s = symbolizer__new(NULL);
	struct sym_frame f;
	struct child c;

	CU_ASSERT_FATAL(s != NULL);
	CU_ASSERT_FATAL(child_start(&c, CXX_HELPER, NULL) == 0);
	CU_ASSERT_EQUAL(symbolizer__user(s, (uint32_t)c.pid, c.addr + 1, &f), 0);
	CU_ASSERT_PTR_NOT_NULL(f.name);
	if (f.name) {
		CU_ASSERT_STRING_EQUAL(f.name, "kiln_test::Burner::spin(int)");
		CU_ASSERT_STRING_EQUAL(f.system_name, "_ZN9kiln_test6Burner4spinEi");
		CU_ASSERT_EQUAL(f.sym_offset, 1);
	}
	CU_ASSERT_EQUAL(child_finish(&c), 0);
	symbolizer__free(s);
#else
	fprintf(stderr, "skipped: no C++ compiler at configure time\n");
#endif
}

static void test_perfmap_jit(void)
{
	struct symbolizer *s = symbolizer__new(NULL);
	char path[64];
	struct sym_frame f;
	struct child c;
	FILE *fp;

	CU_ASSERT_FATAL(s != NULL);
	CU_ASSERT_FATAL(child_start(&c, SYM_HELPER, "jit") == 0);
	/* Same pid namespace: the file is named by the pid we see. */
	snprintf(path, sizeof(path), "/tmp/perf-%d.map", (int)c.pid);
	fp = fopen(path, "w");
	CU_ASSERT_FATAL(fp != NULL);
	fprintf(fp, "%llx 40 LazyCompile:*jitFnOne app.js:1\n", c.addr);
	fprintf(fp, "%llx 10 stub\n", c.addr + 0x200);
	/* Recompiled at the same address: the later line wins. */
	fprintf(fp, "%llx 10 stub_v2\n", c.addr + 0x200);
	CU_ASSERT_FATAL(fclose(fp) == 0);

	CU_ASSERT_EQUAL(symbolizer__capture(s, (uint32_t)c.pid), 0);
	CU_ASSERT_EQUAL_FATAL(symbolizer__user(s, (uint32_t)c.pid, c.addr + 0x10, &f), 0);
	CU_ASSERT_EQUAL(f.kind, SYM_FRAME_JIT);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f.name);
	CU_ASSERT_STRING_EQUAL(f.name, "LazyCompile:*jitFnOne app.js:1");
	CU_ASSERT_STRING_EQUAL(f.module, "[jit]");
	CU_ASSERT_EQUAL(f.sym_offset, 0x10);
	CU_ASSERT_EQUAL(f.elf_vaddr, c.addr + 0x10);
	CU_ASSERT_EQUAL(f.map_start, c.addr);
	CU_ASSERT_EQUAL(symbolizer__user(s, (uint32_t)c.pid, c.addr + 0x205, &f), 0);
	CU_ASSERT_PTR_NOT_NULL(f.name);
	if (f.name)
		CU_ASSERT_STRING_EQUAL(f.name, "stub_v2");

	/* Not in the map (yet): the mapping without a name. */
	CU_ASSERT_EQUAL(symbolizer__user(s, (uint32_t)c.pid, c.addr + 0x1005, &f), 0);
	CU_ASSERT_PTR_NULL(f.name);
	CU_ASSERT_STRING_EQUAL(f.module, "//anon");
	CU_ASSERT_EQUAL(f.kind, SYM_FRAME_NATIVE);

	/* The runtime appends; the grown file is re-read. */
	fp = fopen(path, "a");
	CU_ASSERT_FATAL(fp != NULL);
	fprintf(fp, "%llx 100 _ZN9kiln_test6Burner4spinEi\n", c.addr + 0x1000);
	CU_ASSERT_FATAL(fclose(fp) == 0);
	usleep(150 * 1000);
	CU_ASSERT_EQUAL(symbolizer__user(s, (uint32_t)c.pid, c.addr + 0x1005, &f), 0);
	CU_ASSERT_EQUAL(f.kind, SYM_FRAME_JIT);
	CU_ASSERT_PTR_NOT_NULL(f.name);
	if (f.name) {
		CU_ASSERT_STRING_EQUAL(f.name, "kiln_test::Burner::spin(int)");
		CU_ASSERT_STRING_EQUAL(f.system_name, "_ZN9kiln_test6Burner4spinEi");
	}
	CU_ASSERT_EQUAL(child_finish(&c), 0);
	unlink(path);
	symbolizer__free(s);
}

/*
 * A container's perf map is read inside its root: an absolute symlink planted there must
 * not lead to a file of the agent's own (here: a map outside the fake root).
 */
static void test_perfmap_in_root(void)
{
	struct symbolizer_opts opts = { .sz = sizeof(opts) };
	char proc[PATH_MAX], path[PATH_MAX + 64], jail[PATH_MAX], outside[PATH_MAX + 16];
	struct symbolizer *s = NULL;
	struct sym_frame f;

	snprintf(proc, sizeof(proc), "%s/jailproc", tmpdir);
	snprintf(jail, sizeof(jail), "%s/jail", tmpdir);
	snprintf(outside, sizeof(outside), "%s/outside.map", tmpdir);
	CU_ASSERT_FATAL(mkdir(proc, 0755) == 0 && mkdir(jail, 0755) == 0);
	snprintf(path, sizeof(path), "%s/tmp", jail);
	CU_ASSERT_FATAL(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/700", proc);
	CU_ASSERT_FATAL(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/700/root", proc);
	CU_ASSERT_FATAL(symlink(jail, path) == 0);
	snprintf(path, sizeof(path), "%s/700/maps", proc);
	write_text(path, "10000000-10100000 rwxp 00000000 00:00 0 \n");
	write_text(outside, "10000000 100 leaked\n");
	snprintf(path, sizeof(path), "%s/tmp/perf-700.map", jail);
	CU_ASSERT_FATAL(symlink(outside, path) == 0);

	opts.proc_root = proc;
	s = symbolizer__new(&opts);
	CU_ASSERT_FATAL(s != NULL);
	CU_ASSERT_EQUAL(symbolizer__user(s, 700, 0x10000010, &f), 0);
	CU_ASSERT_PTR_NULL(f.name);
	CU_ASSERT_STRING_EQUAL(f.module, "//anon");
	symbolizer__free(s);

	/* The same map as a regular file inside the root is read. */
	CU_ASSERT_FATAL(unlink(path) == 0);
	write_text(path, "10000000 100 inside\n");
	s = symbolizer__new(&opts);
	CU_ASSERT_FATAL(s != NULL);
	CU_ASSERT_EQUAL(symbolizer__user(s, 700, 0x10000010, &f), 0);
	CU_ASSERT_PTR_NOT_NULL(f.name);
	if (f.name)
		CU_ASSERT_STRING_EQUAL(f.name, "inside");
	symbolizer__free(s);
}

static void test_go(void)
{
	static const char prog[] = "package main\n\n"
				   "import (\n\t\"fmt\"\n\t\"os\"\n\t\"reflect\"\n)\n\n"
				   "//go:noinline\n"
				   "func burn(n int) int {\n\ts := 0\n\tfor i := 0; i < n; i++ "
				   "{\n\t\ts += i * i\n"
				   "\t}\n\treturn s\n}\n\n"
				   "func main() {\n\tfmt.Printf(\"%x\\n\", "
				   "reflect.ValueOf(burn).Pointer())\n"
				   "\tbuf := make([]byte, 1)\n\tfor {\n"
				   "\t\tif _, err := os.Stdin.Read(buf); err != nil "
				   "{\n\t\t\tbreak\n\t\t}\n\t}\n"
				   "\tos.Exit(burn(3) - 5)\n}\n";
	char dir[PATH_MAX], src[PATH_MAX + 16], bin[PATH_MAX + 16], cmd[CMD_MAX];
	struct symbolizer *s = NULL;
	struct sym_frame f;
	struct child c;

	if (!*GO_BIN || access(GO_BIN, X_OK)) {
		fprintf(stderr, "skipped: go not found (Debian golang-go builds the Go test "
				"binary)\n");
		return;
	}
	snprintf(dir, sizeof(dir), "%s/go", tmpdir);
	snprintf(src, sizeof(src), "%s/main.go", dir);
	snprintf(bin, sizeof(bin), "%s/goprog", dir);
	CU_ASSERT_FATAL(mkdir(dir, 0755) == 0);
	write_text(src, prog);
	/* Offline and hermetic: GOPATH mode, caches in the temp dir, no GOFLAGS from outside. */
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && env -u GOFLAGS GO111MODULE=off GOCACHE='%s/cache' GOPATH='%s/gopath' "
		 "HOME='%s' GOTOOLCHAIN=local '%s' build -ldflags=-s -o '%s' main.go",
		 dir, dir, dir, dir, GO_BIN, bin);
	CU_ASSERT_FATAL(run(cmd) == 0);
	/* -s: no symbol table; only .gopclntab can name its functions. */
	CU_ASSERT_EQUAL(elf_sym_value(bin, "main.burn", NULL), 0);

	s = symbolizer__new(NULL);
	CU_ASSERT_FATAL(s != NULL);
	CU_ASSERT_FATAL(child_start(&c, bin, NULL) == 0);
	CU_ASSERT_EQUAL(symbolizer__user(s, (uint32_t)c.pid, c.addr + 1, &f), 0);
	CU_ASSERT_EQUAL(f.kind, SYM_FRAME_GO);
	CU_ASSERT_PTR_NOT_NULL(f.name);
	if (f.name) {
		CU_ASSERT_STRING_EQUAL(f.name, "main.burn");
		CU_ASSERT_EQUAL(f.sym_offset, 1);
	}
	CU_ASSERT_EQUAL(child_finish(&c), 0);
	/* The same file without a process. */
	CU_ASSERT_EQUAL(symbolizer__elf_probe(s, bin, c.addr, &f), 0);
	CU_ASSERT_PTR_NOT_NULL(f.name);
	if (f.name)
		CU_ASSERT_STRING_EQUAL(f.name, "main.burn");
	symbolizer__free(s);
}

/*
 * A fake /proc with process PID whose root is the real "/" and whose maps list each of
 * PATHS as one executable mapping from file offset 0, at 0x10000000 + i * 0x1000000.
 */
static void fake_proc(const char *proc, int pid, const char *const *paths, int nr)
{
	char path[PATH_MAX + 64];
	struct stat st;
	FILE *fp;
	int i;

	snprintf(path, sizeof(path), "%s/%d", proc, pid);
	CU_ASSERT_FATAL(mkdir(proc, 0755) == 0 || errno == EEXIST);
	CU_ASSERT_FATAL(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/%d/root", proc, pid);
	CU_ASSERT_FATAL(symlink("/", path) == 0);
	snprintf(path, sizeof(path), "%s/%d/maps", proc, pid);
	fp = fopen(path, "w");
	CU_ASSERT_FATAL(fp != NULL);
	for (i = 0; i < nr; i++) {
		CU_ASSERT_FATAL(stat(paths[i], &st) == 0);
		fprintf(fp, "%llx-%llx r-xp 00000000 %02x:%02x %llu %s\n",
			0x10000000ULL + (unsigned long long)i * 0x1000000,
			0x10000000ULL + (unsigned long long)i * 0x1000000 + 0x800000,
			major(st.st_dev), minor(st.st_dev), (unsigned long long)st.st_ino,
			paths[i]);
	}
	CU_ASSERT_FATAL(fclose(fp) == 0);
}

/* In SYM_HELPER (PIE) text p_offset == p_vaddr, so offset-0 mappings put vaddr V at base + V. */
static void test_buildid_cache_sharing(void)
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

static void test_lru_budget(void)
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
static void test_name_cache(void)
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
static void test_maps_parse(void)
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
 * Lookup misses re-read a live process's mappings (dlopen) at most once a second, and back
 * off while the re-reads do not map the address (broken frame-pointer chains): 1 s, 2 s...
 */
static void test_maps_reread_backoff(void)
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
	pass_ms(1100);
	CU_ASSERT_EQUAL(symbolizer__user(s, 99, 0x900010, &f), -ENOENT);
	symbolizer__stats(s, &st);
	CU_ASSERT_EQUAL(st.maps_rereads, 2);
	pass_ms(1100);
	CU_ASSERT_EQUAL(symbolizer__user(s, 99, 0x900010, &f), -ENOENT);
	symbolizer__stats(s, &st);
	CU_ASSERT_EQUAL(st.maps_rereads, 2);
	pass_ms(1000);
	CU_ASSERT_EQUAL(symbolizer__user(s, 99, 0x900010, &f), -ENOENT);
	symbolizer__stats(s, &st);
	CU_ASSERT_EQUAL(st.maps_rereads, 3);

	/* A reused pid starts over at one second. */
	symbolizer__process_exit(s, 99);
	CU_ASSERT_EQUAL(symbolizer__capture(s, 99), 0);
	pass_ms(1100);
	CU_ASSERT_EQUAL(symbolizer__user(s, 99, 0x900010, &f), -ENOENT);
	symbolizer__stats(s, &st);
	CU_ASSERT_EQUAL(st.maps_rereads, 4);
	symbolizer__free(s);
}

static void test_symbolizer_free_null(void)
{
	symbolizer__free(NULL);
}

int main(void)
{
	CU_pSuite suite;
	char cmd[PATH_MAX + 16];
	unsigned int failed;

	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	suite = CU_add_suite("symbolize", NULL, NULL);
	CU_add_test(suite, "kallsyms", test_kallsyms);
	CU_add_test(suite, "kallsyms_restricted", test_kallsyms_restricted);
	CU_add_test(suite, "self_pie", test_self_pie);
	CU_add_test(suite, "libc", test_libc);
	CU_add_test(suite, "no_mapping", test_no_mapping);
	CU_add_test(suite, "exited", test_exited);
	CU_add_test(suite, "exec_invalidates", test_exec_invalidates);
	CU_add_test(suite, "nopie", test_nopie);
	CU_add_test(suite, "corrupt_elf", test_corrupt_elf);
	CU_add_test(suite, "pid_reuse", test_pid_reuse);
	CU_add_test(suite, "short_lived", test_short_lived);
	CU_add_test(suite, "buildid_debug_file", test_buildid_debug_file);
	CU_add_test(suite, "debuglink", test_debuglink);
	CU_add_test(suite, "demangle", test_demangle);
	CU_add_test(suite, "cxx", test_cxx);
	CU_add_test(suite, "perfmap_jit", test_perfmap_jit);
	CU_add_test(suite, "perfmap_in_root", test_perfmap_in_root);
	CU_add_test(suite, "go", test_go);
	CU_add_test(suite, "buildid_cache_sharing", test_buildid_cache_sharing);
	CU_add_test(suite, "lru_budget", test_lru_budget);
	CU_add_test(suite, "name_cache", test_name_cache);
	CU_add_test(suite, "maps_parse", test_maps_parse);
	CU_add_test(suite, "maps_reread_backoff", test_maps_reread_backoff);
	CU_add_test(suite, "free_null", test_symbolizer_free_null);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failed = CU_get_number_of_failures();
	CU_cleanup_registry();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd))
		fprintf(stderr, "could not remove %s\n", tmpdir);
	return failed ? 1 : 0;
}
