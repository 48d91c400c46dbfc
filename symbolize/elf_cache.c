// SPDX-License-Identifier: Apache-2.0
/*
 * The ELF cache: one entry per distinct binary, found by build id (the same libc in a thousand
 * containers has a thousand inodes but one build id) or, without one, by device, inode and
 * mtime through an alias table that also short-cuts the build-id read for inodes seen
 * before. Entries referenced by cached processes stay; the others are evicted least
 * recently used first when the cache is over its byte budget. Also: opening a mapped file
 * as its process sees it, and naming an address from a cached entry.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "symbolize/symbolize_internal.h"

void elf_file__free(struct elf_file *e)
{
	struct elf_alias *a, *next;

	if (!e)
		return;
	for (a = e->aliases; a; a = next) {
		next = a->next;
		free(a);
	}
	free(e->segs);
	free(e->syms);
	free(e->names);
	free(e);
}

size_t elf_bytes_of(const struct elf_file *e)
{
	const struct elf_alias *a;
	size_t n = sizeof(*e) + e->nr_segs * sizeof(*e->segs) + e->nr_syms * sizeof(*e->syms) +
		   e->names_cap;

	for (a = e->aliases; a; a = a->next)
		n += sizeof(*a);
	return n;
}

/* Re-counts E's bytes after it grew (an alias, a demangled name). */
static void elf_account(struct symbolizer *s, struct elf_file *e)
{
	size_t n = elf_bytes_of(e);

	if (e->cached)
		s->elf_bytes = s->elf_bytes - e->bytes + n;
	e->bytes = n;
}

static void lru_unlink(struct elf_file *e)
{
	e->lru_prev->lru_next = e->lru_next;
	e->lru_next->lru_prev = e->lru_prev;
	e->lru_next = e->lru_prev = e;
}

static void lru_push(struct symbolizer *s, struct elf_file *e)
{
	e->lru_next = s->lru.lru_next;
	e->lru_prev = &s->lru;
	s->lru.lru_next->lru_prev = e;
	s->lru.lru_next = e;
}

struct alias_key {
	uint64_t dev, ino, mtime_ns;
};

static uint64_t alias_hash(const struct alias_key *k)
{
	return htab_hash_u64(k->ino ^ (k->mtime_ns * 0x9e3779b97f4a7c15ULL), k->dev);
}

static bool alias_eq(uint64_t val, const void *key, void *ctx)
{
	const struct elf_alias *a = (const struct elf_alias *)(uintptr_t)val;
	const struct alias_key *k = key;

	(void)ctx;
	return a->dev == k->dev && a->ino == k->ino && a->mtime_ns == k->mtime_ns;
}

static uint64_t bid_hash(const char *bid)
{
	return htab_hash_bytes(bid, strlen(bid), 11);
}

/* Build ids are interned, so equal ids are the same pointer. */
static bool bid_eq(uint64_t val, const void *key, void *ctx)
{
	(void)ctx;
	return ((const struct elf_file *)(uintptr_t)val)->build_id == key;
}

static int add_alias(struct symbolizer *s, struct elf_file *e, const struct alias_key *k)
{
	struct elf_alias *a = calloc(1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	a->dev = k->dev;
	a->ino = k->ino;
	a->mtime_ns = k->mtime_ns;
	a->e = e;
	if (htab__insert(&s->inodes, alias_hash(k), (uintptr_t)a)) {
		free(a);
		return -ENOMEM;
	}
	a->next = e->aliases;
	e->aliases = a;
	elf_account(s, e);
	return 0;
}

/* Drops E from every index and frees it. */
static void evict_elf(struct symbolizer *s, struct elf_file *e)
{
	struct elf_alias *a;

	for (a = e->aliases; a; a = a->next) {
		struct alias_key k = { a->dev, a->ino, a->mtime_ns };

		htab__remove(&s->inodes, alias_hash(&k), (uintptr_t)a);
	}
	if (e->build_id && !e->err)
		htab__remove(&s->bids, bid_hash(e->build_id), (uintptr_t)e);
	if (!e->refs)
		lru_unlink(e);
	s->elf_bytes -= e->bytes;
	s->nr_elfs--;
	elf_file__free(e);
}

/* Evicts unused ELF files, least recently used first, until S is within its budget. */
void enforce_budget(struct symbolizer *s)
{
	while (s->lru.lru_prev != &s->lru && total_bytes(s) > s->budget) {
		evict_elf(s, s->lru.lru_prev);
		s->evictions++;
	}
}

void elf_ref(struct elf_file *e)
{
	if (!e->refs++ && e->cached)
		lru_unlink(e);
}

void elf_unref(struct symbolizer *s, struct elf_file *e)
{
	if (!--e->refs && e->cached) {
		e->released_ns = sym_now(s);
		lru_push(s, e);
	}
}

size_t evict_idle(struct symbolizer *s, uint64_t now)
{
	size_t n = 0;

	/*
	 * The tail was released first: stop at the first file released recently. Compared as
	 * released + idle < NOW, not NOW - released: a file released after NOW was read (by the
	 * same sweep) must not wrap around.
	 */
	while (s->lru.lru_prev != &s->lru && s->lru.lru_prev->released_ns + ELF_IDLE_NS < now) {
		evict_elf(s, s->lru.lru_prev);
		s->evictions++;
		n++;
	}
	return n;
}

/*
 * A mapped file of TGID that we may not open: counted, and said once, since every frame of
 * such a process stays "[file+0x...]" and the cause is a missing capability, not the process.
 */
static void note_denied(struct symbolizer *s, uint32_t tgid, const char *path, int err)
{
	s->files_denied++;
	if (s->warned_denied)
		return;
	s->warned_denied = true;
	log_warn("cannot open %s, mapped by process %u (%s): naming other processes' frames needs "
		 "CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH (docs/deployment.md); their frames stay "
		 "[file+0x...] (counter symbol_files_denied)",
		 path, tgid, strerror(err));
}

/* Opens the file of M as process TGID sees it. Returns an fd or -errno. */
static int open_mapped_file(struct symbolizer *s, uint32_t tgid, const struct umap *m)
{
	char path[PATH_MAX];
	const char *deleted;
	struct stat st;
	int fd, n;

	/* Through the process's root first: the path is relative to its mount namespace. */
	deleted = strstr(m->path, " (deleted)");
	if (!deleted || deleted[10]) {
		n = snprintf(path, sizeof(path), "%s/%u/root%s", s->proc_root, tgid, m->path);
		if (n > 0 && (size_t)n < sizeof(path)) {
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd >= 0) {
				/*
				 * The file at that path may have been replaced since it was
				 * mapped; overlayfs reports another device, so compare inodes.
				 */
				if (!fstat(fd, &st) && (!m->ino || st.st_ino == m->ino))
					return fd;
				close(fd);
			} else if (errno == EACCES || errno == EPERM) {
				note_denied(s, tgid, path, errno);
			}
		}
	}
	/* map_files opens exactly the mapped file, even deleted, but needs CAP_SYS_ADMIN. */
	n = snprintf(path, sizeof(path), "%s/%u/map_files/%" PRIx64 "-%" PRIx64, s->proc_root, tgid,
		     m->start, m->end);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 || !m->events || m->path[0] != '/' || deleted)
		return fd < 0 ? -errno : fd;
	/*
	 * The process is gone (a mapping reported by an event outlives it): the same path on
	 * the host, when it is the same inode (the build id is checked by the caller).
	 */
	fd = open(m->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (m->ino && (fstat(fd, &st) || st.st_ino != m->ino)) {
		close(fd);
		return -ESTALE;
	}
	return fd;
}

/*
 * Stats the file mapping M of TGID by its path inside the process's root, as
 * open_mapped_file() would open it. Returns 0 when *ST is the mapped inode, else -errno.
 */
static int stat_mapped_file(struct symbolizer *s, uint32_t tgid, const struct umap *m,
			    struct stat *st)
{
	char path[PATH_MAX];
	int n;

	if (strstr(m->path, " (deleted)"))
		return -ENOENT;
	n = snprintf(path, sizeof(path), "%s/%u/root%s", s->proc_root, tgid, m->path);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	if (stat(path, st))
		return -errno;
	return !m->ino || st->st_ino == m->ino ? 0 : -ESTALE;
}

/*
 * Parses ELF (NULL when the file is not one; open as FD), seen by TGID at PATH with build id
 * BID ("" if none), into a new entry that is not yet cached. Returns the entry (err set when unusable) or NULL
 * when out of memory.
 */
struct elf_file *load_elf(struct symbolizer *s, uint32_t tgid, const char *path, int fd, Elf *elf,
			  const char *bid)
{
	struct elf_file *e = calloc(1, sizeof(*e));
	int err;

	if (!e)
		return NULL;
	e->lru_next = e->lru_prev = e;
	err = elf ? parse_elf(s, fd, elf, tgid, path, bid, e) : -ENOEXEC;
	if (err == -ENOMEM) {
		elf_file__free(e);
		return NULL;
	}
	if (err) {
		/* A corrupt or non-ELF file stays cached as such: no point parsing it again. */
		log_debug("%s: not a usable ELF file", path);
		free(e->segs);
		free(e->syms);
		free(e->names);
		e->segs = NULL;
		e->syms = NULL;
		e->names = NULL;
		e->nr_segs = e->nr_syms = e->names_len = e->names_cap = 0;
		e->err = err;
	}
	if (*bid) {
		e->build_id = intern(s, bid);
		if (!e->build_id) {
			elf_file__free(e);
			return NULL;
		}
	}
	e->bytes = elf_bytes_of(e);
	return e;
}

/* Returns the cached or newly parsed ELF file of M (a reference), or NULL. */
struct elf_file *get_elf(struct symbolizer *s, uint32_t tgid, const struct umap *m)
{
	struct alias_key key = { m->dev, m->ino, 0 };
	char bid[2 * 64 + 1] = "";
	struct elf_file *e = NULL;
	Elf *elf = NULL;
	struct stat st;
	uint64_t val;
	int fd = -1;

	/* A build id from the kernel names the file without opening it. */
	if (m->bid && htab__find(&s->bids, bid_hash(m->bid), bid_eq, m->bid, NULL, &val)) {
		e = (struct elf_file *)(uintptr_t)val;
		s->hits++;
		goto cleanup;
	}

	/*
	 * A file seen before is found by its (device, inode, mtime) from a stat of its path,
	 * without opening it: most mappings of a new process are files other processes
	 * already map (libc, the same executable). Otherwise, or when the path does not lead
	 * to the mapped inode, the file is opened as below.
	 */
	if (!stat_mapped_file(s, tgid, m, &st)) {
		if (!m->ino) {
			/* Reported by build id: the file's own identity is the key. */
			key.dev = st.st_dev;
			key.ino = st.st_ino;
		}
		key.mtime_ns =
			(uint64_t)st.st_mtim.tv_sec * 1000000000ULL + (uint64_t)st.st_mtim.tv_nsec;
		if (htab__find(&s->inodes, alias_hash(&key), alias_eq, &key, NULL, &val) &&
		    (!m->bid || m->bid == ((struct elf_alias *)(uintptr_t)val)->e->build_id)) {
			e = ((struct elf_alias *)(uintptr_t)val)->e;
			s->hits++;
			goto cleanup;
		}
	}
	fd = open_mapped_file(s, tgid, m);
	if (fd < 0) {
		/* Not cached: another process may still be able to open it. */
		log_debug("pid %u: cannot open %s: %s", tgid, m->path, strerror(-fd));
		goto cleanup;
	}
	/* mtime tells a file rewritten in place (same inode) from what was cached. */
	if (fstat(fd, &st))
		goto cleanup;
	if (!m->ino) {
		key.dev = st.st_dev;
		key.ino = st.st_ino;
	}
	key.mtime_ns = (uint64_t)st.st_mtim.tv_sec * 1000000000ULL + (uint64_t)st.st_mtim.tv_nsec;
	if (htab__find(&s->inodes, alias_hash(&key), alias_eq, &key, NULL, &val)) {
		e = ((struct elf_alias *)(uintptr_t)val)->e;
		s->hits++;
		goto cleanup;
	}
	/* ELF_C_READ, not mmap: a file truncated under us must not SIGBUS the agent. */
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (elf && elf_kind(elf) == ELF_K_ELF)
		read_build_id(elf, bid);
	if (m->bid && strcmp(m->bid, bid)) {
		/* Not the file that was mapped (replaced since, or another root's). */
		log_debug("pid %u: %s is not the mapped file (build id %s, mapped %s)", tgid,
			  m->path, *bid ? bid : "none", m->bid);
		goto cleanup;
	}
	if (*bid) {
		const char *ibid = intern(s, bid);

		if (ibid && htab__find(&s->bids, bid_hash(ibid), bid_eq, ibid, NULL, &val)) {
			e = (struct elf_file *)(uintptr_t)val;
			s->hits++;
			if (add_alias(s, e, &key))
				e = NULL;
			goto cleanup;
		}
	}
	e = load_elf(s, tgid, m->path, fd, elf, bid);
	if (!e)
		goto cleanup;
	s->misses++;
	if (add_alias(s, e, &key)) {
		elf_file__free(e);
		e = NULL;
		goto cleanup;
	}
	/* An unusable file must not stand in for a good one claiming the same build id. */
	if (e->build_id && !e->err && htab__insert(&s->bids, bid_hash(e->build_id), (uintptr_t)e)) {
		struct elf_alias *a = e->aliases;

		htab__remove(&s->inodes, alias_hash(&key), (uintptr_t)a);
		elf_file__free(e);
		e = NULL;
		goto cleanup;
	}
	e->cached = true;
	s->elf_bytes += e->bytes;
	s->nr_elfs++;
cleanup:
	elf_end(elf);
	if (fd >= 0)
		close(fd);
	if (e) {
		/* Referenced before the budget is enforced, so it cannot evict itself. */
		elf_ref(e);
		enforce_budget(s);
	}
	return e;
}

uint64_t to_elf_vaddr(const struct elf_file *e, uint64_t file_off)
{
	size_t i;

	/*
	 * Mapped file offset -> ELF virtual address through the PT_LOAD segment holding it:
	 * vaddr = off - p_offset + p_vaddr. For PIE and shared objects p_vaddr is relative to
	 * the load base; for fixed executables it is absolute, and both are what the symbol
	 * tables use.
	 */
	for (i = 0; e && i < e->nr_segs; i++)
		if (file_off >= e->segs[i].offset &&
		    file_off < e->segs[i].offset + e->segs[i].filesz)
			return file_off - e->segs[i].offset + e->segs[i].vaddr;
	return file_off;
}

struct elf_sym *elf_lookup(const struct elf_file *e, uint64_t vaddr)
{
	size_t lo = 0, hi = e->nr_syms, i;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (e->syms[mid].start <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* A few steps back covers a small function nested in a larger one's range. */
	for (i = lo; i > 0 && lo - i < 4; i--)
		if (vaddr - e->syms[i - 1].start < e->syms[i - 1].size)
			return &e->syms[i - 1];
	return NULL;
}

struct elf_sym *sym_cache_lookup(struct symbolizer *s, struct elf_file *e, uint64_t vaddr)
{
	struct sym_cache_slot *c =
		&s->sym_cache[htab_hash_u64(vaddr, (uintptr_t)e) & (SYM_CACHE_SLOTS - 1)];
	struct elf_sym *sym;

	if (c->e == e && c->vaddr == vaddr && c->idx < e->nr_syms) {
		sym = &e->syms[c->idx];
		if (vaddr - sym->start < sym->size)
			return sym;
	}
	sym = elf_lookup(e, vaddr);
	/* Misses are not kept: a miss has no symbol to check a later hit against. */
	if (sym) {
		c->e = e;
		c->vaddr = vaddr;
		c->idx = (size_t)(sym - e->syms);
	}
	return sym;
}

/*
 * Sets OUT's name, system name and offset from SYM of E (whose symbols use VADDR's address
 * space). Interns (and demangles) on first use only: see struct elf_sym. Returns 0 or
 * -ENOMEM.
 */
int fill_name(struct symbolizer *s, struct elf_file *e, struct elf_sym *sym, uint64_t vaddr,
	      struct sym_frame *out)
{
	const char *sys, *name;
	char *d;

	if (!sym->iname) {
		sys = intern(s, e->names + sym->name);
		if (!sys)
			return -ENOMEM;
		/* Lazily: most symbols of a binary are never sampled. */
		d = symbolizer__demangle(sys);
		name = function_name(s, d ? d : sys);
		free(d);
		if (!name)
			return -ENOMEM;
		s->name_misses++;
		sym->isys = sys;
		sym->iname = name;
	} else {
		s->name_hits++;
	}
	out->system_name = sym->isys;
	out->name = sym->iname;
	out->sym_offset = vaddr - sym->start;
	return 0;
}

int symbolizer__elf_probe(struct symbolizer *s, const char *path, uint64_t vaddr,
			  struct sym_frame *out)
{
	char bid[2 * 64 + 1] = "";
	struct elf_file *e = NULL;
	struct elf_sym *sym;
	Elf *elf = NULL;
	int fd, err = 0;

	memset(out, 0, sizeof(*out));
	out->kind = SYM_FRAME_NATIVE;
	out->addr = out->elf_vaddr = vaddr;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (elf && elf_kind(elf) == ELF_K_ELF)
		read_build_id(elf, bid);
	e = load_elf(s, 0, path, fd, elf, bid);
	if (!e) {
		err = -ENOMEM;
		goto cleanup;
	}
	if (e->err) {
		err = e->err;
		goto cleanup;
	}
	out->module = intern(s, path);
	out->build_id = e->build_id;
	if (e->go)
		out->kind = SYM_FRAME_GO;
	sym = elf_lookup(e, vaddr);
	if (sym)
		err = fill_name(s, e, sym, vaddr, out);
	if (!err && !out->module)
		err = -ENOMEM;
cleanup:
	elf_file__free(e);
	elf_end(elf);
	close(fd);
	return err;
}
