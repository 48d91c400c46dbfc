// SPDX-License-Identifier: Apache-2.0
/* JIT code named by perf maps (/tmp/perf-NSPID.map inside the process's mount namespace). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "symbolize/symbolize_internal.h"

/* TGID's pid in its own pid namespace (the last NSpid field), or TGID. */
static uint32_t read_nspid(struct symbolizer *s, uint32_t tgid)
{
	char path[PATH_MAX], *buf = NULL, *line, *end, *last = NULL;
	unsigned long v;
	uint32_t nspid = tgid;

	snprintf(path, sizeof(path), "%s/%u/status", s->proc_root, tgid);
	if (read_file(path, &buf, NULL))
		return tgid;
	line = strstr(buf, "\nNSpid:");
	if (line) {
		line += 7;
		end = line + strcspn(line, "\n");
		*end = '\0';
		for (last = strtok(line, " \t"); last; last = strtok(NULL, " \t")) {
			v = strtoul(last, &end, 10);
			if (!*end && v && v <= UINT32_MAX)
				nspid = (uint32_t)v;
		}
	}
	free(buf);
	return nspid;
}

/* Perf map entries at one address: the later line (recompiled code) wins. */
static int jit_sym_cmp(const void *a, const void *b)
{
	const struct elf_sym *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->name > y->name ? -1 : x->name < y->name;
}

/*
 * (Re)reads P's perf map, /tmp/perf-NSPID.map inside its mount namespace, when it appeared
 * or changed size since the last read (JIT runtimes append to it). Lines are
 * "START SIZE NAME" with hex numbers. Returns 0 (also when there is none) or -ENOMEM.
 */
int load_perfmap(struct symbolizer *s, struct proc *p)
{
	char root[PATH_MAX], path[64], *buf = NULL, *line, *next, *end;
	struct elf_file *e = NULL;
	uint64_t start, size;
	size_t len = 0, cap = 0, i, w;
	struct stat st;
	ssize_t n;
	int fd = -1, err = 0;

	p->jit_check_ns = sym_now(s);
	if (!p->nspid_known) {
		p->nspid = read_nspid(s, p->tgid);
		p->nspid_known = true;
	}
	snprintf(root, sizeof(root), "%s/%u/root", s->proc_root, p->tgid);
	snprintf(path, sizeof(path), "/tmp/perf-%u.map", p->nspid);
	fd = open_in_root(root, path);
	if (fd < 0 || fstat(fd, &st) || st.st_size == p->jit_size)
		goto cleanup;
	if ((uint64_t)st.st_size > PERFMAP_MAX_BYTES) {
		log_debug("pid %u: %s is %lld bytes, not read", p->tgid, path,
			  (long long)st.st_size);
		p->jit_size = st.st_size;
		goto cleanup;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		err = -ENOMEM;
		goto cleanup;
	}
	while (len < (size_t)st.st_size &&
	       (n = pread(fd, buf + len, (size_t)st.st_size - len, (off_t)len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	e = calloc(1, sizeof(*e));
	if (!e) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (next = buf; (line = next_line(&next));) {
		errno = 0;
		start = strtoull(line, &end, 16);
		if (errno || end == line || *end != ' ')
			continue;
		line = end + 1;
		size = strtoull(line, &end, 16);
		if (errno || end == line || *end != ' ' || !size || !end[1])
			continue;
		err = add_sym(e, &cap, start, size, 0, end + 1);
		if (err)
			goto cleanup;
	}
	if (e->nr_syms) {
		qsort(e->syms, e->nr_syms, sizeof(*e->syms), jit_sym_cmp);
		for (i = 1, w = 1; i < e->nr_syms; i++)
			if (e->syms[i].start != e->syms[w - 1].start)
				e->syms[w++] = e->syms[i];
		e->nr_syms = w;
	}
	e->bytes = elf_bytes_of(e);
	elf_file__free(p->jit);
	p->jit = e;
	/* The size read, not the one stat saw: a line appended in between is read next time. */
	p->jit_size = (int64_t)len;
	e = NULL;
	proc_account(s, p);
cleanup:
	elf_file__free(e);
	free(buf);
	if (fd >= 0)
		close(fd);
	return err;
}

/* Names ADDR from P's perf map when it covers it. Returns 0 or -ENOMEM. */
int jit_lookup(struct symbolizer *s, struct proc *p, uint64_t addr, struct sym_frame *out)
{
	struct elf_sym *sym;
	int err;

	if (!p->exited && sym_now(s) - p->jit_check_ns > JIT_REFRESH_NS) {
		err = load_perfmap(s, p);
		if (err)
			return err;
	}
	if (!p->jit)
		return 0;
	sym = elf_lookup(p->jit, addr);
	if (!sym)
		return 0;
	err = fill_name(s, p->jit, sym, addr, out);
	if (err)
		return err;
	out->kind = SYM_FRAME_JIT;
	out->module = s->jit_module;
	out->elf_vaddr = addr;
	return 0;
}
