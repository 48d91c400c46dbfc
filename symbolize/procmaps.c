// SPDX-License-Identifier: Apache-2.0
/*
 * The process table: each process's executable mappings from /proc/PID/maps (read at
 * capture, re-read on misses), their ELF files, exits and sweeps, and user address lookup.
 */
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "common/array.h"
#include "common/util.h"
#include "symbolize/symbolize_internal.h"

uint64_t proc_hash(uint32_t tgid)
{
	return htab_hash_u64(tgid, 5);
}

static bool proc_eq(uint64_t val, const void *key, void *ctx)
{
	(void)ctx;
	return ((const struct proc *)(uintptr_t)val)->tgid == *(const uint32_t *)key;
}

struct proc *find_proc(struct symbolizer *s, uint32_t tgid)
{
	uint64_t val;

	if (!htab__find(&s->procs, proc_hash(tgid), proc_eq, &tgid, NULL, &val))
		return NULL;
	return (struct proc *)(uintptr_t)val;
}

void proc__free(struct symbolizer *s, struct proc *p)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; i < p->nr_maps; i++)
		if (p->maps[i].elf)
			elf_unref(s, p->maps[i].elf);
	free(p->maps);
	elf_file__free(p->jit);
	free(p);
}

/* Re-counts P's bytes after its maps or perf map changed. */
void proc_account(struct symbolizer *s, struct proc *p)
{
	size_t n = sizeof(*p) + p->nr_maps * sizeof(*p->maps) + (p->jit ? p->jit->bytes : 0);

	s->proc_bytes = s->proc_bytes - p->bytes + n;
	p->bytes = n;
}

void proc_set_by_events(struct symbolizer *s, struct proc *p, bool on)
{
	if (p->by_events == on)
		return;
	p->by_events = on;
	if (on)
		s->nr_by_events++;
	else
		s->nr_by_events--;
}

void proc_mark_exited(struct symbolizer *s, struct proc *p)
{
	if (p->exited)
		return;
	p->exited = true;
	p->exit_ns = sym_now(s);
	p->exit_gen = s->sweep_gen;
	LIST_INSERT_HEAD(&s->exited, p, exit_link);
}

/* Takes P off the exited list: released, or its number taken by a live process again. */
static void proc_unmark_exited(struct proc *p)
{
	if (!p->exited)
		return;
	LIST_REMOVE(p, exit_link);
	p->exited = false;
}

void release_proc(struct symbolizer *s, struct proc *p)
{
	proc_unmark_exited(p);
	proc_set_by_events(s, p, false);
	htab__remove(&s->procs, proc_hash(p->tgid), (uintptr_t)p);
	s->proc_bytes -= p->bytes;
	proc__free(s, p);
}

/* Parses hex digits at *P up to a byte in STOP; advances *P past that byte. */
static bool hex_field(char **p, char stop, unsigned long long *out)
{
	unsigned long long v = 0;
	char *c = *p;
	int d;

	for (; *c != stop; c++) {
		if (*c >= '0' && *c <= '9')
			d = *c - '0';
		else if (*c >= 'a' && *c <= 'f')
			d = *c - 'a' + 10;
		else if (*c >= 'A' && *c <= 'F')
			d = *c - 'A' + 10;
		else
			return false;
		if (v >> 60)
			return false;
		v = v << 4 | (unsigned long long)d;
	}
	if (c == *p)
		return false;
	*out = v;
	*p = c + 1;
	return true;
}

/*
 * Parses one /proc/PID/maps line ("start-end perms offset maj:min inode   path") into *M
 * when it is an executable mapping. By hand rather than sscanf: capture reads every line
 * of every new process, and sscanf was 3 % of the agent's CPU host-wide (perf).
 * Returns 1 when kept, 0 when skipped (malformed or not executable), -errno on failure.
 */
static int parse_maps_line(struct symbolizer *s, char *line, struct umap *m)
{
	unsigned long long start, end, off, maj, min, ino = 0;
	char *c = line, *path;

	if (!hex_field(&c, '-', &start) || !hex_field(&c, ' ', &end))
		return 0;
	/* perms: four characters ("r-xp") and a space. */
	if (strnlen(c, 5) < 5 || c[4] != ' ' || c[2] != 'x' || end <= start)
		return 0;
	c += 5;
	if (!hex_field(&c, ' ', &off) || !hex_field(&c, ':', &maj) || !hex_field(&c, ' ', &min))
		return 0;
	if (*c < '0' || *c > '9')
		return 0;
	for (; *c >= '0' && *c <= '9'; c++)
		ino = ino * 10 + (unsigned long long)(*c - '0');
	if (*c && *c != ' ')
		return 0;
	while (*c == ' ')
		c++;
	path = c;
	path[strcspn(path, "\n")] = '\0';
	memset(m, 0, sizeof(*m));
	m->start = start;
	m->end = end;
	m->offset = off;
	m->dev = makedev((unsigned int)maj, (unsigned int)min);
	m->ino = ino;
	/* perf's name for anonymous executable memory (JIT code without a perf map). */
	m->path = intern(s, *path ? path : "//anon");
	return m->path ? 1 : -ENOMEM;
}

/* Reads TGID's executable mappings into *P (its old ones are released). Returns 0 or -errno. */
int read_maps(struct symbolizer *s, struct proc *p)
{
	char path[PATH_MAX], *buf = NULL, *line, *next;
	struct umap *maps = NULL;
	size_t nr = 0, cap = 0, i;
	int err;

	snprintf(path, sizeof(path), "%s/%u/maps", s->proc_root, p->tgid);
	err = read_file(path, &buf, NULL);
	if (err) {
		err = err == -ENOENT ? -ESRCH : err;
		goto cleanup;
	}
	/* One line at a time: the parser stops at the line's end. */
	for (next = buf; (line = next_line(&next));) {
		err = array_reserve(&maps, &cap, nr + 1, sizeof(*maps), 32);
		if (err)
			goto cleanup;
		err = parse_maps_line(s, line, &maps[nr]);
		if (err < 0)
			goto cleanup;
		if (err)
			nr++;
		err = 0;
	}
	/*
	 * ELF files are opened and parsed now, while /proc/PID/root and map_files still exist:
	 * a process that lives 50 ms is gone before its samples are drained.
	 */
	for (i = 0; i < nr; i++) {
		if (maps[i].path[0] == '/' && maps[i].ino)
			maps[i].elf = get_elf(s, p->tgid, &maps[i]);
		maps[i].elf_tried = true;
	}
	for (i = 0; i < p->nr_maps; i++)
		if (p->maps[i].elf)
			elf_unref(s, p->maps[i].elf);
	free(p->maps);
	p->maps = maps;
	p->nr_maps = nr;
	proc_set_by_events(s, p, false);
	p->partial = false;
	p->refresh_ns = sym_now(s);
	proc_account(s, p);
	maps = NULL;
cleanup:
	free(maps);
	free(buf);
	return err;
}

/* Releases exited processes that were marked before generation GEN or before DEADLINE_NS. */
static void release_exited(struct symbolizer *s, uint64_t gen, uint64_t deadline_ns)
{
	struct proc *p, *next;

	/* Only the exited list: release_proc() unlinks P, never NEXT. */
	for (p = LIST_FIRST(&s->exited); p; p = next) {
		next = LIST_NEXT(p, exit_link);
		if (p->exit_gen < gen || p->exit_ns < deadline_ns)
			release_proc(s, p);
	}
	enforce_budget(s);
}

void symbolizer__sweep(struct symbolizer *s)
{
	uint64_t now = sym_now(s);

	release_exited(s, s->sweep_gen, now > EXIT_LINGER_NS ? now - EXIT_LINGER_NS : 0);
	/* Freed symbol tables go back to the system, not only to malloc's free lists. */
	if (evict_idle(s, now))
		malloc_trim(0);
	s->sweep_gen++;
	s->last_sweep_ns = now;
	/* After the window was symbolized: the next one sees what landed. */
	debuginfo_poll(s, now);
}

/*
 * True for the kernel's own executable mappings ([vdso], [vsyscall], [uprobes]): never ELF
 * files on disk and never JIT code, so no perf map can name them. Every process has a
 * [vdso]; without this, each capture looked for a perf map (a /proc read and an open).
 */
bool kernel_special(const char *path)
{
	return !strcmp(path, "[vdso]") || !strcmp(path, "[vsyscall]") || !strcmp(path, "[uprobes]");
}

/* Reads P's mappings, their ELF files and its perf map. Returns 0 or -errno. */
static int capture_proc(struct symbolizer *s, struct proc *p)
{
	bool anon = false;
	size_t i;
	int err;

	err = read_maps(s, p);
	if (err)
		return err;
	for (i = 0; i < p->nr_maps && !anon; i++)
		anon = !p->maps[i].elf && !kernel_special(p->maps[i].path);
	/* Possibly a new process reusing the pid: its perf map (or none) is read afresh. */
	p->refresh_wait_ns = 0;
	p->nspid_known = false;
	p->jit_size = -1;
	elf_file__free(p->jit);
	p->jit = NULL;
	proc_account(s, p);
	/* JIT code lives in mappings without an ELF file; its perf map names it. */
	if (anon)
		err = load_perfmap(s, p);
	return err;
}

int symbolizer__capture(struct symbolizer *s, uint32_t tgid)
{
	struct proc *p = NULL;
	uint64_t now = sym_now(s);
	int err;

	/* Without explicit sweeps, still bound what exited processes keep. */
	if (now - s->last_sweep_ns > SWEEP_INTERVAL_NS) {
		release_exited(s, 0, now > EXIT_LINGER_NS ? now - EXIT_LINGER_NS : 0);
		s->last_sweep_ns = now;
	}
	p = find_proc(s, tgid);
	if (p && p->by_events) {
		/* Its ELF files are opened now, while /proc/TGID/root leads to them. */
		for (size_t i = 0; i < p->nr_maps; i++) {
			struct umap *m = &p->maps[i];

			if (m->elf_tried)
				continue;
			m->elf_tried = true;
			if (m->path[0] == '/')
				m->elf = get_elf(s, tgid, m);
		}
		return 0;
	}
	if (p && !p->exited && !p->partial)
		return 0;
	if (p) {
		/*
		 * Asked to capture a tgid we saw exit: a new process reuses the number. Until
		 * its mappings can be read, the old ones are better than none.
		 */
		err = capture_proc(s, p);
		if (!err)
			proc_unmark_exited(p);
		return err;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->tgid = tgid;
	p->nspid = tgid;
	p->jit_size = -1;
	err = htab__insert(&s->procs, proc_hash(tgid), (uintptr_t)p);
	if (err) {
		free(p);
		return err;
	}
	err = capture_proc(s, p);
	if (err)
		release_proc(s, p);
	return err;
}

/*
 * Remembers that TGID is gone without ever having been captured, so that the other frames
 * of its samples do not each go back to /proc. Released by the sweeps like any exited one.
 */
static void remember_gone(struct symbolizer *s, uint32_t tgid)
{
	struct proc *p = calloc(1, sizeof(*p));

	if (!p)
		return;
	p->tgid = tgid;
	p->jit_size = -1;
	if (htab__insert(&s->procs, proc_hash(tgid), (uintptr_t)p)) {
		free(p);
		return;
	}
	proc_account(s, p);
	proc_mark_exited(s, p);
}

const struct umap *find_map(const struct proc *p, uint64_t addr)
{
	size_t lo = upper_bound_u64(p->maps, p->nr_maps, sizeof(*p->maps),
				    offsetof(struct umap, start), addr);

	if (lo && addr < p->maps[lo - 1].end)
		return &p->maps[lo - 1];
	return NULL;
}

/*
 * TGID's cached process, captured on first sight. Returns it, or NULL with *ERR set
 * (-ENOENT when it is gone and was never seen: remembered as such, so the other frames of
 * its samples do not each go back to /proc).
 */
struct proc *proc_of(struct symbolizer *s, uint32_t tgid, int *err)
{
	struct proc *p = find_proc(s, tgid);

	if (p)
		return p;
	*err = symbolizer__capture(s, tgid);
	if (*err == -ESRCH) {
		remember_gone(s, tgid);
		*err = -ENOENT;
		return NULL;
	}
	if (*err)
		return NULL;
	p = find_proc(s, tgid);
	if (!p)
		*err = -ENOENT;
	return p;
}

/* symbolizer__user() for a process already looked up; OUT is initialised by the caller. */
int user_lookup(struct symbolizer *s, struct proc *p, uint64_t addr, struct sym_frame *out)
{
	struct elf_sym *sym;
	const struct umap *m;
	uint64_t now, wait;
	int err;

	m = find_map(p, addr);
	if (m && !m->elf_tried) {
		/* Reported by an event: its file is opened at its first lookup. */
		struct umap *um = (struct umap *)m;

		um->elf_tried = true;
		if (um->path[0] == '/')
			um->elf = get_elf(s, p->tgid, um);
	}
	/* Events report every mapping: a miss is not a mapping made since. */
	if (!m && !p->exited && !p->by_events) {
		/* Maybe mapped since we read the list (dlopen); re-read, but not on every miss. */
		now = sym_now(s);
		wait = p->refresh_wait_ns ? p->refresh_wait_ns : MAPS_REFRESH_NS;
		if (now - p->refresh_ns > wait) {
			s->maps_rereads++;
			err = read_maps(s, p);
			if (err == -ESRCH) {
				p->refresh_ns = now;
			} else if (err) {
				return err;
			}
			m = find_map(p, addr);
			p->refresh_wait_ns = m ? MAPS_REFRESH_NS
					       : (wait * 2 < MAPS_REFRESH_MAX_NS
							  ? wait * 2
							  : MAPS_REFRESH_MAX_NS);
		}
	}
	if (!m)
		return -ENOENT;
	out->module = m->path;
	out->map_start = m->start;
	out->map_limit = m->end;
	out->map_offset = m->offset;
	out->elf_vaddr = to_elf_vaddr(m->elf, addr - m->start + m->offset);
	if (!m->elf || m->elf->err)
		return kernel_special(m->path) ? 0 : jit_lookup(s, p, addr, out);
	out->build_id = m->elf->build_id;
	if (m->elf->go)
		out->kind = SYM_FRAME_GO;
	sym = sym_cache_lookup(s, m->elf, out->elf_vaddr);
	if (!sym)
		return 0;
	return fill_name(s, m->elf, sym, out->elf_vaddr, out);
}

void symbolizer__prefetch(const struct symbolizer *s, uint32_t tgid, unsigned int step)
{
	const struct htab_slot *home;
	const struct proc *p;
	uint64_t val;
	size_t i, n;

	if (step == 0) {
		home = htab__home(&s->procs, proc_hash(tgid));
		if (home)
			__builtin_prefetch(home);
		return;
	}
	if (!htab__peek(&s->procs, proc_hash(tgid), &val))
		return;
	p = (const struct proc *)(uintptr_t)val;
	if (step == 1) {
		/* Its table key and flags, and its mapping array's address and length. */
		__builtin_prefetch(p);
		__builtin_prefetch((const char *)p + offsetof(struct proc, maps));
		return;
	}
	/* The binary search's first probes; a process's code mappings fit a few lines. */
	n = p->nr_maps * sizeof(*p->maps);
	for (i = 0; p->maps && i < n && i < 4 * 64; i += 64)
		__builtin_prefetch((const char *)p->maps + i);
}

int symbolizer__user(struct symbolizer *s, uint32_t tgid, uint64_t addr, struct sym_frame *out)
{
	struct proc *p;
	int err = 0;

	memset(out, 0, sizeof(*out));
	out->kind = SYM_FRAME_NATIVE;
	out->addr = addr;
	p = proc_of(s, tgid, &err);
	return p ? user_lookup(s, p, addr, out) : err;
}
