/* SPDX-License-Identifier: Apache-2.0 */
/* What the symbolizer's test files (test_symbolize*.c) share: helpers in symtest.c, the cases. */
#ifndef KILN_SYMTEST_H
#define KILN_SYMTEST_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Room for shell commands quoting several paths. */
#define CMD_MAX (16 * PATH_MAX)

/* The test's temporary directory (mkdtemp in main, removed at exit). */
extern char tmpdir[];

/* Child processes that print an address and wait for their stdin to close. */
struct child {
	pid_t pid;
	int in; /* closing it lets the child go on */
	unsigned long long addr;
};

int known_function(int x);

void write_text(const char *path, const char *text);

/* st_value of function NAME in the ELF file at PATH (symtab or dynsym), 0 if absent. */
uint64_t elf_sym_value(const char *path, const char *name, int *e_type);

/* elf_sym_value(), and the symbol's st_size in *SIZE (may be NULL) when found. */
uint64_t elf_sym_find(const char *path, const char *name, int *e_type, uint64_t *size);

/*
 * Makes a fake /proc under tmpdir/NAME holding process PID with maps MAPS; PROC gets the
 * fake root (for symbolizer_opts.proc_root) and MAPS_PATH the maps file, to rewrite later.
 */
void fake_proc_maps(const char *name, int pid, const char *maps, char *proc, size_t proc_sz,
		    char *maps_path, size_t maps_sz);

/* Starts PATH with ARG (may be NULL) and reads the address it prints. Returns 0 or -1. */
int child_start(struct child *c, const char *path, const char *arg);

/* Lets the child finish and reaps it. Returns its exit status or -1. */
int child_finish(struct child *c);

int run(const char *cmd);

/* Copies SYM_HELPER to DIR/NAME, splits its debug info into DEBUG and strips it. */
int make_stripped(const char *dir, const char *name, const char *debug);

/*
 * A fake /proc with process PID whose root is the real "/" and whose maps list each of
 * PATHS as one executable mapping from file offset 0, at 0x10000000 + i * 0x1000000.
 */
void fake_proc(const char *proc, int pid, const char *const *paths, int nr);

void test_buildid_debug_file(void);
void test_debuglink(void);
void test_demangle(void);
void test_cxx(void);
void test_perfmap_jit(void);
void test_perfmap_in_root(void);
void test_go(void);
void test_buildid_cache_sharing(void);
void test_lru_budget(void);
void test_name_cache(void);
void test_sym_cache(void);
void test_idle_eviction(void);
void test_maps_parse(void);
void test_maps_reread_backoff(void);
void test_exit_list(void);
void test_by_events_count(void);
void test_symbolizer_free_null(void);

#endif
