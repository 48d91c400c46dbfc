// SPDX-License-Identifier: Apache-2.0
#include "aggregator/pyprocs.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/types.h>
#include <bpf/bpf.h>

#include "bpf/python.h"
#include "common/log.h"
#include "common/htab.h"

struct pyproc {
	uint32_t tgid;
	struct python_proc *py; /* NULL: looked at, not CPython */
	uint64_t exit_sweep; /* 0 while alive; else the sweep count at its exit */
	LIST_ENTRY(pyproc) exit_link; /* on pyprocs.exited while exit_sweep is set */
};

/*
 * Executables found not to be CPython (and without libpython mapped), by a hash of their
 * identity: the next process of the same program is not looked into again. Detection reads
 * the executable's symbols, which for a big program is milliseconds (cc1 under a build:
 * a fifth of the agent's CPU). A slot overwritten by another program costs a detection.
 */
#define NOT_PY_SLOTS 1024

struct pyprocs {
	int info_fd;
	uint64_t not_py[NOT_PY_SLOTS];
	struct htab idx; /* tgid hash -> struct pyproc * */
	/*
	 * The exited entries not yet dropped, so a sweep visits only them: it walked every
	 * entry (one per process seen, CPython or not: 2000 at density) each window, and
	 * started over after each drop.
	 */
	LIST_HEAD(, pyproc) exited;
	uint64_t sweeps;
	struct pyprocs_stats st;
};

static bool tgid_eq(uint64_t val, const void *key, void *ctx)
{
	(void)ctx;
	return ((const struct pyproc *)(uintptr_t)val)->tgid == *(const uint32_t *)key;
}

static struct pyproc *find(const struct pyprocs *p, uint32_t tgid)
{
	uint64_t v;

	if (htab__find(&p->idx, htab_hash_u64(tgid, 7), tgid_eq, &tgid, NULL, &v))
		return (struct pyproc *)(uintptr_t)v;
	return NULL;
}

static void drop(struct pyprocs *p, struct pyproc *e)
{
	if (e->exit_sweep)
		LIST_REMOVE(e, exit_link);
	htab__remove(&p->idx, htab_hash_u64(e->tgid, 7), (uintptr_t)e);
	if (e->py)
		p->st.processes--;
	python_proc__free(e->py);
	free(e);
}

struct pyprocs *pyprocs__new(int info_fd)
{
	struct pyprocs *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->info_fd = info_fd;
	return p;
}

void pyprocs__free(struct pyprocs *p)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; p->idx.slots && i <= p->idx.mask; i++) {
		if (p->idx.slots[i].hash) {
			struct pyproc *e = (struct pyproc *)(uintptr_t)p->idx.slots[i].val;

			python_proc__free(e->py);
			free(e);
		}
	}
	htab__release(&p->idx);
	free(p);
}

/* The parent of TGID from /proc/TGID/stat, or 0. */
static uint32_t parent_of(uint32_t tgid)
{
	char path[64], buf[512], *close;
	unsigned int ppid = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/stat", tgid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	/* "pid (comm) state ppid": comm may hold spaces and parentheses, the last ')' ends it. */
	if (fgets(buf, sizeof(buf), f) && (close = strrchr(buf, ')')))
		sscanf(close + 1, " %*c %u", &ppid);
	fclose(f);
	return ppid;
}

static bool same_exe(uint32_t a, uint32_t b)
{
	char pa[64], pb[64], ea[PATH_MAX], eb[PATH_MAX];
	ssize_t na, nb;

	snprintf(pa, sizeof(pa), "/proc/%u/exe", a);
	snprintf(pb, sizeof(pb), "/proc/%u/exe", b);
	na = readlink(pa, ea, sizeof(ea));
	nb = readlink(pb, eb, sizeof(eb));
	return na > 0 && na == nb && !memcmp(ea, eb, (size_t)na);
}

/* A hash of TGID's executable file (device, inode, size, mtime), or 0 when gone. */
static uint64_t exe_key(uint32_t tgid)
{
	char path[64];
	struct stat sb;
	uint64_t k;

	snprintf(path, sizeof(path), "/proc/%u/exe", tgid);
	if (stat(path, &sb))
		return 0;
	k = htab_hash_u64((uint64_t)sb.st_dev, (uint64_t)sb.st_ino);
	k = htab_hash_u64(k ^ (uint64_t)sb.st_size, (uint64_t)sb.st_mtim.tv_sec * 1000000000ull +
							    (uint64_t)sb.st_mtim.tv_nsec);
	return k ? k : 1;
}

/* Whether TGID maps a libpython (an embedder); a process that can't be read counts as yes. */
static bool maps_libpython(uint32_t tgid)
{
	char path[64], line[512];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/maps", tgid);
	f = fopen(path, "re");
	if (!f)
		return true;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, "libpython") != NULL;
	fclose(f);
	return found;
}

/*
 * A forked worker (multiprocessing, a pre-fork server) of a CPython process we know, that
 * has not exec'd: the same interpreter at the same addresses, so the parent's state is
 * copied instead of read again. Returns 0 with E's state set, or -ENOENT.
 */
static int from_parent(struct pyprocs *p, uint32_t tgid, struct pyproc *e)
{
	uint32_t ppid = parent_of(tgid);
	struct pyproc *par = ppid ? find(p, ppid) : NULL;

	if (!par || !par->py || par->exit_sweep || !same_exe(tgid, ppid))
		return -ENOENT;
	if (python_proc__fork(par->py, tgid, &e->py))
		return -ENOENT;
	p->st.forks++;
	return 0;
}

int pyprocs__seen(struct pyprocs *p, uint32_t tgid, bool libpython)
{
	struct pyproc *e = find(p, tgid);
	struct kiln_py_info info;
	uint64_t key, slot;
	int err;

	if (e && (e->py || !libpython || e->exit_sweep))
		return 0;
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e)
			return -ENOMEM;
		e->tgid = tgid;
		if (htab__insert(&p->idx, htab_hash_u64(tgid, 7), (uintptr_t)e)) {
			free(e);
			return -ENOMEM;
		}
	}
	err = from_parent(p, tgid, e);
	/*
	 * A program already found not to be CPython is not looked into again, unless this
	 * process maps a libpython (or says so later: LIBPYTHON).
	 */
	key = err && !libpython ? exe_key(tgid) : 0;
	slot = key % NOT_PY_SLOTS;
	if (key && p->not_py[slot] == key && !maps_libpython(tgid)) {
		p->st.py.detect_not_python++;
		p->st.not_python_cached++;
		e->py = NULL;
		return 0;
	}
	if (err)
		err = python_proc__detect(tgid, &p->st.py, &e->py);
	if (err == -ENOENT && key && !maps_libpython(tgid))
		p->not_py[slot] = key;
	if (err) {
		/* Not CPython (or not yet: libpython mapped later says so), or gone. */
		e->py = NULL;
		return err == -ENOENT ? 0 : err;
	}
	p->st.processes++;
	python_proc__info(e->py, &info);
	if (bpf_map_update_elem(p->info_fd, &tgid, &info, BPF_ANY)) {
		err = -errno;
		p->st.map_errors++;
		return err;
	}
	log_debug("python: process %u is CPython %u.%u%s%s", tgid, python_proc__version(e->py) >> 8,
		  python_proc__version(e->py) & 0xff, python_proc__refusal(e->py) ? ": " : "",
		  python_proc__refusal(e->py) ? python_proc__refusal(e->py) : "");
	return 0;
}

void pyprocs__exec(struct pyprocs *p, uint32_t tgid)
{
	struct pyproc *e = find(p, tgid);

	if (!e)
		return;
	bpf_map_delete_elem(p->info_fd, &tgid);
	/*
	 * The new image is looked at afresh at its first sample. Python frames of the old one
	 * still in this window lose their names (a marker says so): exec out of a running
	 * interpreter is rare, and a tgid has one state at a time.
	 */
	drop(p, e);
}

void pyprocs__exit(struct pyprocs *p, uint32_t tgid)
{
	struct pyproc *e = find(p, tgid);

	if (!e)
		return;
	bpf_map_delete_elem(p->info_fd, &tgid);
	if (!e->py) {
		drop(p, e);
		return;
	}
	if (e->exit_sweep)
		return;
	e->exit_sweep = p->sweeps + 1;
	LIST_INSERT_HEAD(&p->exited, e, exit_link);
}

void pyprocs__sweep(struct pyprocs *p)
{
	struct pyproc *e, *next;

	p->sweeps++;
	/* drop() unlinks E, never NEXT. */
	for (e = LIST_FIRST(&p->exited); e; e = next) {
		next = LIST_NEXT(e, exit_link);
		/* Exited before the previous sweep: its last window has been symbolized. */
		if (e->exit_sweep < p->sweeps)
			drop(p, e);
	}
}

void pyprocs__code(struct pyprocs *p, uint32_t tgid, uint64_t code)
{
	struct pyproc *e = find(p, tgid);
	struct python_frame f;

	p->st.announced++;
	if (e && e->py)
		python_proc__symbolize(e->py, code, KILN_PY_INSTR_NONE, &f);
}

struct python_proc *pyprocs__get(struct pyprocs *p, uint32_t tgid)
{
	struct pyproc *e = find(p, tgid);

	return e ? e->py : NULL;
}

void pyprocs__stats(const struct pyprocs *p, struct pyprocs_stats *out)
{
	*out = p->st;
}
