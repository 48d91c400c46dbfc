// SPDX-License-Identifier: Apache-2.0
/* Helpers the symbolizer's test files share: temporary files, ELF reading, child processes, fake /proc trees. */
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

char tmpdir[] = "/tmp/kiln-test-symbolize-XXXXXX";

__attribute__((noinline)) int known_function(int x)
{
	/* Something the compiler cannot fold, so the function has a body of a few bytes. */
	return x * 7 + (int)getpid() % 3;
}

void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	CU_ASSERT_FATAL(f != NULL);
	fputs(text, f);
	CU_ASSERT_FATAL(fclose(f) == 0);
}

uint64_t elf_sym_value(const char *path, const char *name, int *e_type)
{
	return elf_sym_find(path, name, e_type, NULL);
}

uint64_t elf_sym_find(const char *path, const char *name, int *e_type, uint64_t *size)
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
				if (size)
					*size = sym.st_size;
				break;
			}
		}
	}
	elf_end(elf);
	close(fd);
	return value;
}

/*
 * Makes a fake /proc under tmpdir/NAME holding process PID with maps MAPS; PROC gets the
 * fake root (for symbolizer_opts.proc_root) and MAPS_PATH the maps file, to rewrite later.
 */
void fake_proc_maps(const char *name, int pid, const char *maps, char *proc, size_t proc_sz,
		    char *maps_path, size_t maps_sz)
{
	snprintf(proc, proc_sz, "%s/%s", tmpdir, name);
	CU_ASSERT_FATAL(mkdir(proc, 0755) == 0);
	snprintf(maps_path, maps_sz, "%s/%d", proc, pid);
	CU_ASSERT_FATAL(mkdir(maps_path, 0755) == 0);
	snprintf(maps_path, maps_sz, "%s/%d/maps", proc, pid);
	write_text(maps_path, maps);
}

/* Starts PATH with ARG (may be NULL) and reads the address it prints. Returns 0 or -1. */
int child_start(struct child *c, const char *path, const char *arg)
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
int child_finish(struct child *c)
{
	int status;

	if (c->in >= 0)
		close(c->in);
	c->in = -1;
	if (c->pid <= 0 || waitpid(c->pid, &status, 0) != c->pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int run(const char *cmd)
{
	int rc = system(cmd);

	if (rc)
		fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
	return rc;
}

/* Copies SYM_HELPER to DIR/NAME, splits its debug info into DEBUG and strips it. */
int make_stripped(const char *dir, const char *name, const char *debug)
{
	char cmd[CMD_MAX];

	snprintf(cmd, sizeof(cmd),
		 "mkdir -p '%s' && cp '%s' '%s/%s' && '%s' --only-keep-debug '%s/%s' '%s' && "
		 "'%s' --strip-all '%s/%s'",
		 dir, SYM_HELPER, dir, name, OBJCOPY, dir, name, debug, STRIP, dir, name);
	return run(cmd);
}

/*
 * A fake /proc with process PID whose root is the real "/" and whose maps list each of
 * PATHS as one executable mapping from file offset 0, at 0x10000000 + i * 0x1000000.
 */
void fake_proc(const char *proc, int pid, const char *const *paths, int nr)
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
