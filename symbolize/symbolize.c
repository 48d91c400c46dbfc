// SPDX-License-Identifier: Apache-2.0
/*
 * Symbolizer: kallsyms for the kernel; for user space /proc/PID/maps, ELF .symtab/.dynsym,
 * separate debug files, Go's .gopclntab and perf maps.
 *
 * Lifetimes: every string handed out is interned in a pool that lives as long as the
 * symbolizer, so ELF symbol tables and per-process mapping lists can be released (exit,
 * exec, cache pressure) without invalidating frames a caller still holds. The pool only
 * grows by names that were actually returned, module paths and build ids.
 *
 * ELF cache: one entry per distinct binary, found by build id (the same libc in a thousand
 * containers has a thousand inodes but one build id) or, without one, by device, inode and
 * mtime through an alias table that also short-cuts the build-id read for inodes seen
 * before. Entries referenced by cached processes stay; the others are evicted least
 * recently used first when the cache is over its byte budget.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <zlib.h>

#include <linux/types.h>

#include "bpf/profile.h"
#include "bpf/python.h"
#include "python/python.h"
#include "common/log.h"
#include "common/util.h"
#include "symbolize/debuginfod.h"
#include "symbolize/gopclntab.h"
#include "symbolize/htab.h"
#include "symbolize/symbolize.h"

/* No kernel function is anywhere near this long; beyond it an address is in a gap. */
#define KSYM_MAX_SPAN (4ULL << 20)
/*
 * A live process's mappings are re-read on a miss (dlopen) at most this often; after each
 * re-read that still leaves the address unmapped, twice as long apart, up to the maximum.
 * Such misses are mostly broken frame-pointer chains (binaries built without frame
 * pointers: garbage return addresses), not new libraries, and re-reading every second for
 * them was 4-6 % of the agent's CPU host-wide (perf). A re-read that maps it resets the wait.
 */
#define MAPS_REFRESH_NS 1000000000ULL
/*
 * Events report mappings but not their removal (munmap): a live process whose list from
 * events grows past this is read from /proc again, which drops what it unmapped.
 */
#define EVENT_MAPS_MAX 8192
#define MAPS_REFRESH_MAX_NS 8000000000ULL
/* A live process's perf map is checked for growth at most this often. */
#define JIT_REFRESH_NS 100000000ULL
/* Without explicit sweeps, exited processes are kept this long for late samples. */
#define EXIT_LINGER_NS (30 * 1000000000ULL)
#define SWEEP_INTERVAL_NS 1000000000ULL
#define DEFAULT_CACHE_BYTES (64ULL << 20)
/* A perf map larger than this is not read (it would not fit any sane budget). */
#define PERFMAP_MAX_BYTES (256ULL << 20)

struct ksym {
	uint64_t addr;
	const char *name; /* points into symbolizer.kbuf */
	const char *module; /* interned */
	size_t order; /* file order, so sorting is stable among aliases */
};

struct load_seg {
	uint64_t offset, vaddr, filesz;
};

struct elf_sym {
	uint64_t start, size;
	/*
	 * Until the symbol is first returned, NAME is the offset of its name as in the binary
	 * in elf_file.names; from then on (INAME set) the interned strings are kept instead,
	 * so a frame seen again costs no hashing of its name (and no demangling). The pool
	 * outlives every ELF entry, so the pointers stay valid however long the entry lives.
	 */
	union {
		size_t name;
		const char *isys; /* interned name as in the binary, once INAME is set */
	};
	const char *iname; /* interned demangled name (== isys when not mangled), or NULL */
	uint8_t binding_rank;
};

struct elf_file;

/* One (device, inode, mtime) known to hold ELF_FILE. */
struct elf_alias {
	uint64_t dev, ino, mtime_ns;
	struct elf_file *e;
	struct elf_alias *next; /* the file's other aliases */
};

struct elf_file {
	/* In symbolizer.lru while cached and unreferenced, most recently used first. */
	struct elf_file *lru_prev, *lru_next;
	struct elf_alias *aliases;
	unsigned int refs; /* mappings of cached processes that use it */
	int err; /* parse error: the file is cached as unusable */
	bool go; /* has .gopclntab: a Go binary */
	bool cached; /* accounted in symbolizer.elf_bytes */
	bool dbg_wanted; /* stripped, its debug file asked of debuginfod: re-read when it lands */
	const char *build_id; /* interned; the bids key when set */
	size_t bytes; /* what it accounts for in the budget */
	struct load_seg *segs;
	size_t nr_segs;
	struct elf_sym *syms;
	size_t nr_syms;
	char *names;
	size_t names_len, names_cap;
};

struct umap {
	uint64_t start, end, offset, dev, ino;
	const char *path; /* interned; "//anon" for anonymous executable memory */
	struct elf_file *elf; /* NULL when not an ELF file or it could not be opened */
	const char *bid; /* interned hex build id the kernel reported (events only), or NULL */
	bool events; /* reported by an event: the file may be opened by its host path */
	bool elf_tried; /* ELF set (or not) by get_elf(); events' mappings are opened lazily */
};

struct proc {
	uint32_t tgid;
	uint32_t nspid; /* the pid in its own namespace: perf maps are named by it */
	bool nspid_known;
	bool exited;
	bool by_events; /* mappings from symbolizer__add_mapping(), not /proc */
	bool partial; /* only the mappings events added since the agent started: read /proc */
	size_t reread_nr; /* mappings after the last re-read for EVENT_MAPS_MAX */
	uint64_t exit_ns, exit_gen, refresh_ns;
	uint64_t refresh_wait_ns; /* before the next re-read on a miss; 0: MAPS_REFRESH_NS */
	struct umap *maps; /* sorted by start, as /proc/PID/maps lists them */
	size_t nr_maps;
	struct elf_file *jit; /* its perf map's symbols (not in the ELF cache), or NULL */
	int64_t jit_size; /* size of the perf map when read, -1 when none */
	uint64_t jit_check_ns;
	size_t bytes; /* maps and perf map, in symbolizer.proc_bytes */
};

struct symbolizer {
	char *proc_root;
	char *kallsyms_path;
	char *debug_root;
	uint64_t budget;

	const char *kcore; /* "[kernel.kallsyms]" */
	const char *jit_module; /* "[jit]" */
	bool kloaded;
	int kerr;
	char *kbuf;
	size_t kbuf_len;
	struct ksym *ksyms;
	size_t nr_ksyms;

	struct htab strs; /* val: char * */
	struct htab bids; /* build id -> struct elf_file * */
	struct htab inodes; /* (dev, ino, mtime) -> struct elf_alias * */
	struct htab procs; /* val: struct proc * */
	/*
	 * Unreferenced cached ELF files (the only evictable ones), most recently released
	 * first: eviction pops the tail without walking past entries in use.
	 */
	struct elf_file lru;
	uint64_t sweep_gen, last_sweep_ns;

	uint64_t str_bytes, elf_bytes, proc_bytes;
	uint64_t nr_elfs, hits, misses, evictions;
	uint64_t name_hits, name_misses; /* fill_name(): names already interned, or not */
	uint64_t maps_rereads; /* mappings re-read on a lookup miss */
	uint64_t mappings_added; /* by symbolizer__add_mapping() */
	uint64_t (*clock_ns)(void *ctx); /* NULL: mono_ns() */
	void *clock_ctx;
	symbolizer_python_fn py_lookup; /* NULL: Python words become markers */
	void *py_ctx;
	uint64_t py_frames, py_unnamed, py_inexact;
	struct dbgfetch *dbg; /* not owned; NULL: no fetching */
	uint64_t dbg_reloads, dbg_retry_ns;
};

/* Now, by the symbolizer's clock (symbolizer_opts.clock_ns). */
static uint64_t sym_now(const struct symbolizer *s)
{
	return s->clock_ns ? s->clock_ns(s->clock_ctx) : mono_ns();
}

/* String pool. */

static bool str_eq(uint64_t val, const void *key, void *ctx)
{
	(void)ctx;
	return strcmp((const char *)(uintptr_t)val, key) == 0;
}

static const char *intern(struct symbolizer *s, const char *str)
{
	uint64_t hash = htab_hash_bytes(str, strlen(str), 0), val;
	char *copy;

	if (htab__find(&s->strs, hash, str_eq, str, NULL, &val))
		return (const char *)(uintptr_t)val;
	copy = strdup(str);
	if (!copy)
		return NULL;
	if (htab__insert(&s->strs, hash, (uintptr_t)copy)) {
		free(copy);
		return NULL;
	}
	s->str_bytes += strlen(copy) + 1;
	return copy;
}

/* Construction. */

/* True when OPTS (of opts->sz bytes) is large enough to hold FIELD. */
#define OPT_HAS(opts, field) \
	((opts) && (opts)->sz >= offsetof(struct symbolizer_opts, field) + sizeof((opts)->field))

struct symbolizer *symbolizer__new(const struct symbolizer_opts *opts)
{
	struct symbolizer *s = NULL;
	const char *proc_root = "/proc", *kallsyms = NULL, *debug_root = "/usr/lib/debug";
	uint64_t budget = DEFAULT_CACHE_BYTES;
	int err = 0;

	if (OPT_HAS(opts, proc_root) && opts->proc_root)
		proc_root = opts->proc_root;
	if (OPT_HAS(opts, kallsyms))
		kallsyms = opts->kallsyms;
	if (OPT_HAS(opts, debug_root) && opts->debug_root)
		debug_root = opts->debug_root;
	if (OPT_HAS(opts, cache_bytes) && opts->cache_bytes)
		budget = opts->cache_bytes;
	if (elf_version(EV_CURRENT) == EV_NONE) {
		err = -ENOTSUP;
		goto cleanup;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		err = -ENOMEM;
		goto cleanup;
	}
	s->lru.lru_next = s->lru.lru_prev = &s->lru;
	s->budget = budget;
	if (OPT_HAS(opts, clock_ns) && OPT_HAS(opts, clock_ctx)) {
		s->clock_ns = opts->clock_ns;
		s->clock_ctx = opts->clock_ctx;
	}
	s->proc_root = strdup(proc_root);
	s->debug_root = strdup(debug_root);
	if (kallsyms)
		s->kallsyms_path = strdup(kallsyms);
	else if (asprintf(&s->kallsyms_path, "%s/kallsyms", proc_root) < 0)
		s->kallsyms_path = NULL;
	s->kcore = intern(s, "[kernel.kallsyms]");
	s->jit_module = intern(s, "[jit]");
	if (!s->proc_root || !s->debug_root || !s->kallsyms_path || !s->kcore || !s->jit_module)
		err = -ENOMEM;
cleanup:
	if (err) {
		symbolizer__free(s);
		errno = -err;
		return NULL;
	}
	return s;
}

static void elf_file__free(struct elf_file *e)
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

static void elf_unref(struct symbolizer *s, struct elf_file *e);

static void proc__free(struct symbolizer *s, struct proc *p)
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

void symbolizer__free(struct symbolizer *s)
{
	struct elf_file *e, *next;
	size_t i;

	if (!s)
		return;
	for (i = 0; s->procs.slots && i <= s->procs.mask; i++)
		if (s->procs.slots[i].hash)
			proc__free(s, (struct proc *)(uintptr_t)s->procs.slots[i].val);
	/* With every process gone, every cached ELF file is unreferenced: on the LRU list. */
	for (e = s->lru.lru_next; e && e != &s->lru; e = next) {
		next = e->lru_next;
		elf_file__free(e);
	}
	for (i = 0; s->strs.slots && i <= s->strs.mask; i++)
		if (s->strs.slots[i].hash)
			free((char *)(uintptr_t)s->strs.slots[i].val);
	htab__release(&s->procs);
	htab__release(&s->inodes);
	htab__release(&s->bids);
	htab__release(&s->strs);
	free(s->ksyms);
	free(s->kbuf);
	free(s->proc_root);
	free(s->kallsyms_path);
	free(s->debug_root);
	free(s);
}

static uint64_t htab_bytes(const struct htab *h)
{
	return h->slots ? (h->mask + 1) * sizeof(*h->slots) : 0;
}

static uint64_t total_bytes(const struct symbolizer *s)
{
	return s->str_bytes + s->elf_bytes + s->proc_bytes + htab_bytes(&s->strs) +
	       htab_bytes(&s->bids) + htab_bytes(&s->inodes) + htab_bytes(&s->procs) + s->kbuf_len +
	       s->nr_ksyms * sizeof(struct ksym);
}

void symbolizer__stats(const struct symbolizer *s, struct symbolizer_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->cache_bytes = total_bytes(s);
	out->elf_entries = s->nr_elfs;
	out->elf_hits = s->hits;
	out->elf_misses = s->misses;
	out->elf_evictions = s->evictions;
	out->processes = s->procs.nr;
	out->name_hits = s->name_hits;
	out->name_misses = s->name_misses;
	out->maps_rereads = s->maps_rereads;
	out->mappings_added = s->mappings_added;
	out->py_frames = s->py_frames;
	out->py_unnamed = s->py_unnamed;
	out->py_inexact = s->py_inexact;
	out->debuginfo_reloads = s->dbg_reloads;
	for (size_t i = 0; s->procs.slots && i <= s->procs.mask; i++)
		if (s->procs.slots[i].hash &&
		    ((const struct proc *)(uintptr_t)s->procs.slots[i].val)->by_events)
			out->procs_by_events++;
}

/* Kernel. */

static int ksym_cmp(const void *a, const void *b)
{
	const struct ksym *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static int load_kallsyms(struct symbolizer *s)
{
	const char *core = s->kcore;
	struct ksym *ks = NULL, *nks;
	size_t nr = 0, cap = 0, len;
	char *line, *next, *end, *name, *mod, type;
	bool any_addr = false;
	uint64_t addr;
	int err;

	err = read_file(s->kallsyms_path, &s->kbuf, &len);
	if (err) {
		log_warn("cannot read %s: %s", s->kallsyms_path, strerror(-err));
		goto cleanup;
	}
	/* Lines are "ADDR TYPE NAME" with "\t[MODULE]" appended for module symbols. */
	for (line = s->kbuf; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		errno = 0;
		addr = strtoull(line, &end, 16);
		if (errno || end == line || *end != ' ' || !end[1] || end[2] != ' ')
			continue;
		type = end[1];
		/* Text symbols only (weak ones included); data symbols would shadow code. */
		if (type != 't' && type != 'T' && type != 'w' && type != 'W')
			continue;
		name = end + 3;
		mod = NULL;
		end = strpbrk(name, " \t");
		if (end) {
			*end++ = '\0';
			end += strspn(end, " \t");
			if (*end == '[') {
				mod = (char *)intern(s, end);
				if (!mod) {
					err = -ENOMEM;
					goto cleanup;
				}
			}
		}
		if (!*name)
			continue;
		if (addr)
			any_addr = true;
		if (nr == cap) {
			cap = cap ? cap * 2 : 65536;
			nks = realloc(ks, cap * sizeof(*ks));
			if (!nks) {
				err = -ENOMEM;
				goto cleanup;
			}
			ks = nks;
		}
		ks[nr].addr = addr;
		ks[nr].name = name;
		ks[nr].module = mod ? mod : core;
		ks[nr].order = nr;
		nr++;
	}
	if (!nr) {
		log_warn("%s has no text symbols", s->kallsyms_path);
		err = -ENOENT;
		goto cleanup;
	}
	if (!any_addr) {
		/* kptr_restrict hides addresses from readers without CAP_SYSLOG. */
		log_warn("%s shows only zero addresses (kernel.kptr_restrict, or not root): "
			 "kernel frames stay unsymbolized",
			 s->kallsyms_path);
		err = -EPERM;
		goto cleanup;
	}
	qsort(ks, nr, sizeof(*ks), ksym_cmp);
	s->ksyms = ks;
	s->nr_ksyms = nr;
	s->kbuf_len = len;
	ks = NULL;
cleanup:
	free(ks);
	if (err) {
		free(s->kbuf);
		s->kbuf = NULL;
	}
	return err;
}

int symbolizer__kernel(struct symbolizer *s, uint64_t addr, struct sym_frame *out)
{
	size_t lo = 0, hi;
	const struct ksym *k;

	memset(out, 0, sizeof(*out));
	out->kind = SYM_FRAME_KERNEL;
	out->addr = out->elf_vaddr = addr;
	if (!s->kloaded) {
		s->kerr = load_kallsyms(s);
		s->kloaded = true;
	}
	if (s->kerr)
		return s->kerr;
	out->module = s->kcore;
	/* Last symbol at or below ADDR. */
	hi = s->nr_ksyms;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->ksyms[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return 0;
	k = &s->ksyms[lo - 1];
	if (addr - k->addr > KSYM_MAX_SPAN)
		return 0;
	out->name = k->name;
	out->module = k->module;
	out->sym_offset = addr - k->addr;
	return 0;
}

/* ELF files. */

static size_t elf_bytes_of(const struct elf_file *e)
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
static void enforce_budget(struct symbolizer *s)
{
	while (s->lru.lru_prev != &s->lru && total_bytes(s) > s->budget) {
		evict_elf(s, s->lru.lru_prev);
		s->evictions++;
	}
}

static void elf_ref(struct elf_file *e)
{
	if (!e->refs++ && e->cached)
		lru_unlink(e);
}

static void elf_unref(struct symbolizer *s, struct elf_file *e)
{
	if (!--e->refs && e->cached)
		lru_push(s, e);
}

static int add_name(struct elf_file *e, const char *name, size_t *off)
{
	size_t len = strlen(name) + 1, ncap;
	char *nn;

	if (e->names_len + len > e->names_cap) {
		ncap = e->names_cap ? e->names_cap : 4096;
		while (ncap < e->names_len + len)
			ncap *= 2;
		nn = realloc(e->names, ncap);
		if (!nn)
			return -ENOMEM;
		e->names = nn;
		e->names_cap = ncap;
	}
	memcpy(e->names + e->names_len, name, len);
	*off = e->names_len;
	e->names_len += len;
	return 0;
}

/* Appends a symbol to E (growing the table, capacity in *CAP). Returns 0 or -ENOMEM. */
static int add_sym(struct elf_file *e, size_t *cap, uint64_t start, uint64_t size, uint8_t rank,
		   const char *name)
{
	struct elf_sym *ns;

	if (e->nr_syms == *cap) {
		*cap = *cap ? *cap * 2 : 1024;
		ns = realloc(e->syms, *cap * sizeof(*ns));
		if (!ns)
			return -ENOMEM;
		e->syms = ns;
	}
	ns = &e->syms[e->nr_syms];
	ns->start = start;
	ns->size = size;
	ns->binding_rank = rank;
	ns->iname = NULL;
	if (add_name(e, name, &ns->name))
		return -ENOMEM;
	e->nr_syms++;
	return 0;
}

static size_t leading_underscores(const char *n)
{
	size_t i = 0;

	while (n[i] == '_')
		i++;
	return i;
}

/*
 * Among aliases at one address (getpid / __getpid, memcpy / __memcpy_avx_unaligned) prefer
 * what a person would call the function: fewer leading underscores, then global over weak
 * over local, then the shorter name.
 */
static int elf_sym_cmp(const void *a, const void *b, void *ctx)
{
	const struct elf_sym *x = a, *y = b;
	const char *names = ctx, *nx = names + x->name, *ny = names + y->name;
	size_t ux, uy, lx, ly;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	ux = leading_underscores(nx);
	uy = leading_underscores(ny);
	if (ux != uy)
		return ux < uy ? -1 : 1;
	if (x->binding_rank != y->binding_rank)
		return x->binding_rank < y->binding_rank ? -1 : 1;
	lx = strlen(nx);
	ly = strlen(ny);
	if (lx != ly)
		return lx < ly ? -1 : 1;
	return strcmp(nx, ny);
}

/* Sorts E's symbols and keeps the best one per address; gives back the spare capacity. */
static void finish_syms(struct elf_file *e)
{
	struct elf_sym *ns;
	size_t i, w;

	if (!e->nr_syms)
		return;
	qsort_r(e->syms, e->nr_syms, sizeof(*e->syms), elf_sym_cmp, e->names);
	/* .symtab and .dynsym repeat each other: keep the best name per address. */
	for (i = 1, w = 1; i < e->nr_syms; i++)
		if (e->syms[i].start != e->syms[w - 1].start)
			e->syms[w++] = e->syms[i];
	e->nr_syms = w;
	ns = realloc(e->syms, w * sizeof(*ns));
	if (ns)
		e->syms = ns;
}

static int read_symtab(Elf *elf, Elf_Scn *scn, const GElf_Shdr *sh, struct elf_file *e, size_t *cap)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	size_t i, n;
	GElf_Sym sym;
	const char *name;
	int type, bind, err;

	if (!data || !sh->sh_entsize)
		return 0;
	n = sh->sh_size / sh->sh_entsize;
	for (i = 0; i < n; i++) {
		if (!gelf_getsym(data, (int)i, &sym))
			break;
		type = GELF_ST_TYPE(sym.st_info);
		if (type != STT_FUNC && type != STT_GNU_IFUNC)
			continue;
		if (sym.st_shndx == SHN_UNDEF || !sym.st_size || !sym.st_value)
			continue;
		name = elf_strptr(elf, sh->sh_link, sym.st_name);
		if (!name || !*name)
			continue;
		bind = GELF_ST_BIND(sym.st_info);
		err = add_sym(e, cap, sym.st_value, sym.st_size,
			      bind == STB_GLOBAL ? 0
			      : bind == STB_WEAK ? 1
						 : 2,
			      name);
		if (err)
			return err;
	}
	return 0;
}

/* Writes ELF's GNU build id as lowercase hex into HEX (129 bytes); "" when it has none. */
static void read_build_id(Elf *elf, char *hex)
{
	size_t off, next, name_off, desc_off, i;
	Elf_Scn *scn = NULL;
	const uint8_t *desc;
	Elf_Data *data;
	GElf_Shdr sh;
	GElf_Nhdr nh;

	hex[0] = '\0';
	while ((scn = elf_nextscn(elf, scn))) {
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
			continue;
		data = elf_getdata(scn, NULL);
		if (!data || !data->d_buf)
			continue;
		off = 0;
		while (off < data->d_size &&
		       (next = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
			if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
			    !memcmp((const char *)data->d_buf + name_off, "GNU", 4) &&
			    nh.n_descsz && nh.n_descsz <= 64) {
				desc = (const uint8_t *)data->d_buf + desc_off;
				for (i = 0; i < nh.n_descsz; i++)
					snprintf(hex + 2 * i, 3, "%02x", desc[i]);
				return;
			}
			off = next;
		}
	}
}

/* What parse_elf() learns about a binary's separate debug information. */
struct debug_ref {
	char link[NAME_MAX + 1]; /* .gnu_debuglink file name, "" when none */
	uint32_t crc;
};

static uint32_t bswap_if(uint32_t v, bool swap)
{
	return swap ? __builtin_bswap32(v) : v;
}

/* Reads a .gnu_debuglink section: NUL-terminated name, padding to 4, CRC32 in file order. */
static void read_debuglink(Elf_Scn *scn, bool swap, struct debug_ref *ref)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	const char *p;
	size_t len, crc_off;
	uint32_t crc;

	if (!data || !data->d_buf || !data->d_size)
		return;
	p = data->d_buf;
	len = strnlen(p, data->d_size);
	crc_off = (len + 4) & ~(size_t)3;
	if (!len || len > NAME_MAX || crc_off + 4 > data->d_size || memchr(p, '/', len))
		return;
	memcpy(ref->link, p, len);
	ref->link[len] = '\0';
	memcpy(&crc, p + crc_off, 4);
	ref->crc = bswap_if(crc, swap);
}

/* A Go table's functions, appended as symbols. */
struct go_ctx {
	struct elf_file *e;
	size_t *cap;
};

static int go_add(void *ctx, uint64_t start, uint64_t size, const char *name)
{
	struct go_ctx *g = ctx;

	return add_sym(g->e, g->cap, start, size, 0, name);
}

static int read_gopclntab(Elf_Scn *scn, bool big_endian, uint64_t text_start, struct elf_file *e,
			  size_t *cap)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	struct go_ctx g = { e, cap };
	int err;

	if (!data || !data->d_buf)
		return 0;
	err = gopclntab__walk(data->d_buf, data->d_size, big_endian, text_start, go_add, &g);
	if (err == -ENOMEM)
		return err;
	if (err)
		log_debug(".gopclntab unusable: %s", strerror(-err));
	return 0;
}

/*
 * Reads the .symtab of the debug file open on FD into E. WANT_BID: the binary's build id
 * ("" if none), which the debug file must carry too. Returns 0 when symbols were added,
 * -ENOENT when the file is not a matching debug file, or -ENOMEM.
 */
static int read_debug_file(int fd, const char *want_bid, struct elf_file *e, size_t *cap)
{
	char bid[2 * 64 + 1];
	Elf_Scn *scn = NULL;
	size_t before = e->nr_syms;
	GElf_Shdr sh;
	Elf *elf;
	int err = 0;

	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF) {
		err = -ENOENT;
		goto cleanup;
	}
	read_build_id(elf, bid);
	if (*want_bid && strcmp(bid, want_bid)) {
		err = -ENOENT;
		goto cleanup;
	}
	while ((scn = elf_nextscn(elf, scn))) {
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB)
			continue;
		err = read_symtab(elf, scn, &sh, e, cap);
		if (err)
			goto cleanup;
	}
	if (e->nr_syms == before)
		err = -ENOENT;
cleanup:
	elf_end(elf);
	return err;
}

/*
 * Opens regular file PATH for reading as seen from ROOT ("" for the host; else a process's
 * /proc/PID/root). Inside a process root, symlinks are resolved within it (RESOLVE_IN_ROOT):
 * a plain open would follow an absolute link planted in a container's /tmp or debug
 * directory out to the agent's own files. Returns an fd or -errno.
 */
static int open_in_root(const char *root, const char *path)
{
	struct open_how how = { .flags = O_RDONLY | O_CLOEXEC,
				.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	char full[PATH_MAX];
	int rfd = -1, fd, n;
	struct stat st;

	if (!*root) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		fd = fd < 0 ? -errno : fd;
		goto check;
	}
	rfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rfd < 0) {
		fd = -errno;
		goto check;
	}
	fd = (int)syscall(SYS_openat2, rfd, path, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS) {
		/* Before Linux 5.6: the plain path, which is what older profilers do. */
		n = snprintf(full, sizeof(full), "%s%s", root, path);
		fd = n > 0 && (size_t)n < sizeof(full) ? open(full, O_RDONLY | O_CLOEXEC) : -1;
	}
	fd = fd < 0 ? -errno : fd;
	close(rfd);
check:
	if (fd >= 0 && (fstat(fd, &st) || !S_ISREG(st.st_mode))) {
		close(fd);
		fd = -EINVAL;
	}
	return fd;
}

/* CRC32 (the one zlib computes, as .gnu_debuglink specifies) of the file open on FD. */
static int file_crc32(int fd, uint32_t *out)
{
	unsigned char buf[65536];
	uLong crc = crc32(0L, Z_NULL, 0);
	off_t off = 0;
	ssize_t n;

	while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
		crc = crc32(crc, buf, (uInt)n);
		off += n;
	}
	if (n < 0)
		return -errno;
	*out = (uint32_t)crc;
	return 0;
}

/*
 * Finds the separate debug file of a binary seen at PATH under ROOT ("/proc/PID/root", or
 * "" for the host) and reads its symbols into E: DEBUG_ROOT/.build-id/xx/rest.debug by build
 * id, then the debuglink name in the binary's directory, its .debug/ and DEBUG_ROOT/DIR/.
 * Returns 0 when found, -ENOENT, or -ENOMEM.
 */
static int find_debug_in(struct symbolizer *s, const char *root, const char *path, const char *bid,
			 const struct debug_ref *ref, struct elf_file *e, size_t *cap)
{
	char cand[PATH_MAX], dir[PATH_MAX];
	const char *slash;
	uint32_t crc = 0;
	int fd, err, n, i;

	if (strlen(bid) > 2) {
		n = snprintf(cand, sizeof(cand), "%s/.build-id/%.2s/%s.debug", s->debug_root, bid,
			     bid + 2);
		fd = n > 0 && (size_t)n < sizeof(cand) ? open_in_root(root, cand) : -1;
		if (fd >= 0) {
			err = read_debug_file(fd, bid, e, cap);
			close(fd);
			if (err != -ENOENT)
				return err;
		}
	}
	slash = strrchr(path, '/');
	if (!ref->link[0] || !slash || (size_t)(slash - path) >= sizeof(dir))
		return -ENOENT;
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	for (i = 0; i < 3; i++) {
		if (i == 0)
			n = snprintf(cand, sizeof(cand), "%s/%s", dir, ref->link);
		else if (i == 1)
			n = snprintf(cand, sizeof(cand), "%s/.debug/%s", dir, ref->link);
		else
			n = snprintf(cand, sizeof(cand), "%s%s/%s", s->debug_root, dir, ref->link);
		if (n <= 0 || (size_t)n >= sizeof(cand))
			continue;
		fd = open_in_root(root, cand);
		if (fd < 0)
			continue;
		/* The CRC tells the debug file of this build from a stale one of that name. */
		err = file_crc32(fd, &crc);
		if (!err && crc == ref->crc)
			err = read_debug_file(fd, bid, e, cap);
		else
			err = -ENOENT;
		close(fd);
		if (err != -ENOENT)
			return err;
	}
	return -ENOENT;
}

/*
 * The debug file of build id BID from the debuginfod cache, read into E; or, not there yet,
 * asked for (in the background: E is re-read when it lands, debuginfo_landed()). Returns 0
 * when read, -ENOENT, or -ENOMEM.
 */
static int fetched_debug(struct symbolizer *s, const char *bid, struct elf_file *e, size_t *cap)
{
	char path[PATH_MAX];
	int fd, err;

	err = dbgfetch__request(s->dbg, bid, path, sizeof(path));
	/* Queued, or failed (asked again after the retry interval): see debuginfo_retry(). */
	if (err == -EINPROGRESS || err == -ENOENT || err == -ENOSPC)
		e->dbg_wanted = true;
	if (err)
		return -ENOENT;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -ENOENT;
	err = read_debug_file(fd, bid, e, cap);
	close(fd);
	return err;
}

/*
 * Fills E from ELF, a binary that process TGID (0: none, host paths) maps from PATH, with
 * build id BID ("" if none). Returns 0, -ENOEXEC (not a usable ELF) or -ENOMEM.
 */
static int parse_elf(struct symbolizer *s, Elf *elf, uint32_t tgid, const char *path,
		     const char *bid, struct elf_file *e)
{
	Elf_Scn *scn = NULL, *gopcln = NULL;
	struct debug_ref ref = { .link = "" };
	bool has_symtab = false, big_endian;
	char root[PATH_MAX];
	uint64_t text_start = 0;
	size_t nph = 0, shstrndx, i, cap = 0;
	const char *sname;
	GElf_Ehdr eh;
	GElf_Phdr ph;
	GElf_Shdr sh;
	int err = 0;

	if (elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &eh) || elf_getphdrnum(elf, &nph) ||
	    elf_getshdrstrndx(elf, &shstrndx)) {
		err = -ENOEXEC;
		goto cleanup;
	}
	big_endian = eh.e_ident[EI_DATA] == ELFDATA2MSB;
	if (nph) {
		e->segs = calloc(nph, sizeof(*e->segs));
		if (!e->segs) {
			err = -ENOMEM;
			goto cleanup;
		}
	}
	for (i = 0; i < nph; i++) {
		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		e->segs[e->nr_segs].offset = ph.p_offset;
		e->segs[e->nr_segs].vaddr = ph.p_vaddr;
		e->segs[e->nr_segs].filesz = ph.p_filesz;
		e->nr_segs++;
	}
	while ((scn = elf_nextscn(elf, scn))) {
		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_SYMTAB || sh.sh_type == SHT_DYNSYM) {
			has_symtab |= sh.sh_type == SHT_SYMTAB;
			err = read_symtab(elf, scn, &sh, e, &cap);
			if (err)
				goto cleanup;
			continue;
		}
		sname = elf_strptr(elf, shstrndx, sh.sh_name);
		if (!sname)
			continue;
		if (!strcmp(sname, ".gnu_debuglink"))
			read_debuglink(scn, big_endian != (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__),
				       &ref);
		else if (!strcmp(sname, ".gopclntab"))
			gopcln = scn;
		else if (!strcmp(sname, ".text"))
			text_start = sh.sh_addr;
	}
	e->go = gopcln != NULL;
	if (!has_symtab && (*bid || ref.link[0])) {
		/* Stripped: the full symbol table may be in a separate debug file. */
		err = -ENOENT;
		if (tgid) {
			snprintf(root, sizeof(root), "%s/%u/root", s->proc_root, tgid);
			err = find_debug_in(s, root, path, bid, &ref, e, &cap);
		}
		if (err == -ENOENT)
			err = find_debug_in(s, "", path, bid, &ref, e, &cap);
		if (err == -ENOENT && *bid && s->dbg)
			err = fetched_debug(s, bid, e, &cap);
		if (err == -ENOMEM)
			goto cleanup;
		has_symtab = !err;
		err = 0;
	}
	/* Go binaries built with -ldflags=-s keep only .gopclntab. */
	if (!has_symtab && gopcln) {
		err = read_gopclntab(gopcln, big_endian, text_start, e, &cap);
		if (err)
			goto cleanup;
	}
	finish_syms(e);
cleanup:
	return err;
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
 * Parses ELF (NULL when the file is not one), seen by TGID at PATH with build id BID ("" if
 * none), into a new entry that is not yet cached. Returns the entry (err set when unusable) or NULL
 * when out of memory.
 */
static struct elf_file *load_elf(struct symbolizer *s, uint32_t tgid, const char *path, Elf *elf,
				 const char *bid)
{
	struct elf_file *e = calloc(1, sizeof(*e));
	int err;

	if (!e)
		return NULL;
	e->lru_next = e->lru_prev = e;
	err = elf ? parse_elf(s, elf, tgid, path, bid, e) : -ENOEXEC;
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
static struct elf_file *get_elf(struct symbolizer *s, uint32_t tgid, const struct umap *m)
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
	e = load_elf(s, tgid, m->path, elf, bid);
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

static uint64_t to_elf_vaddr(const struct elf_file *e, uint64_t file_off)
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

static struct elf_sym *elf_lookup(const struct elf_file *e, uint64_t vaddr)
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

/*
 * The interned name of the function NAME is part of: "foo.cold" and "foo.part.0" (pieces
 * the compiler split off foo) are named foo, so a function's Self and Total add up; the
 * system name keeps the piece's own symbol. NULL when out of memory.
 */
static const char *function_name(struct symbolizer *s, const char *name)
{
	size_t len = symbolizer__function_len(name);
	char buf[512];

	if (name[len] == '\0' || len >= sizeof(buf))
		return intern(s, name);
	memcpy(buf, name, len);
	buf[len] = '\0';
	return intern(s, buf);
}

/*
 * Sets OUT's name, system name and offset from SYM of E (whose symbols use VADDR's address
 * space). Interns (and demangles) on first use only: see struct elf_sym. Returns 0 or
 * -ENOMEM.
 */
static int fill_name(struct symbolizer *s, struct elf_file *e, struct elf_sym *sym, uint64_t vaddr,
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
	e = load_elf(s, 0, path, elf, bid);
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

/* Processes. */

static uint64_t proc_hash(uint32_t tgid)
{
	return htab_hash_u64(tgid, 5);
}

static bool proc_eq(uint64_t val, const void *key, void *ctx)
{
	(void)ctx;
	return ((const struct proc *)(uintptr_t)val)->tgid == *(const uint32_t *)key;
}

static struct proc *find_proc(struct symbolizer *s, uint32_t tgid)
{
	uint64_t val;

	if (!htab__find(&s->procs, proc_hash(tgid), proc_eq, &tgid, NULL, &val))
		return NULL;
	return (struct proc *)(uintptr_t)val;
}

/* Re-counts P's bytes after its maps or perf map changed. */
static void proc_account(struct symbolizer *s, struct proc *p)
{
	size_t n = sizeof(*p) + p->nr_maps * sizeof(*p->maps) + (p->jit ? p->jit->bytes : 0);

	s->proc_bytes = s->proc_bytes - p->bytes + n;
	p->bytes = n;
}

static void release_proc(struct symbolizer *s, struct proc *p)
{
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
static int read_maps(struct symbolizer *s, struct proc *p)
{
	char path[PATH_MAX], *buf = NULL, *line, *next;
	struct umap *maps = NULL, *nm;
	size_t nr = 0, cap = 0, i;
	int err;

	snprintf(path, sizeof(path), "%s/%u/maps", s->proc_root, p->tgid);
	err = read_file(path, &buf, NULL);
	if (err) {
		err = err == -ENOENT ? -ESRCH : err;
		goto cleanup;
	}
	for (line = buf; *line; line = next) {
		/* One line at a time: the parser stops at the line's end. */
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		else
			next = line + strlen(line);
		if (nr == cap) {
			cap = cap ? cap * 2 : 32;
			nm = realloc(maps, cap * sizeof(*maps));
			if (!nm) {
				err = -ENOMEM;
				goto cleanup;
			}
			maps = nm;
		}
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
	p->by_events = false;
	p->partial = false;
	p->refresh_ns = sym_now(s);
	proc_account(s, p);
	maps = NULL;
cleanup:
	free(maps);
	free(buf);
	return err;
}

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
static int load_perfmap(struct symbolizer *s, struct proc *p)
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
	for (line = buf; *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		else
			next = line + strlen(line);
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

/* Releases exited processes that were marked before generation GEN or before DEADLINE_NS. */
static void release_exited(struct symbolizer *s, uint64_t gen, uint64_t deadline_ns)
{
	struct proc **drop = NULL;
	size_t i, nr = 0;

	if (!s->procs.nr)
		goto cleanup;
	drop = calloc(s->procs.nr, sizeof(*drop));
	if (!drop)
		goto cleanup;
	for (i = 0; i <= s->procs.mask; i++) {
		struct proc *p = (struct proc *)(uintptr_t)s->procs.slots[i].val;

		if (s->procs.slots[i].hash && p->exited &&
		    (p->exit_gen < gen || p->exit_ns < deadline_ns))
			drop[nr++] = p;
	}
	for (i = 0; i < nr; i++)
		release_proc(s, drop[i]);
cleanup:
	free(drop);
	enforce_budget(s);
}

/*
 * The debug file of BID landed at PATH: the cached entry that asked for it takes its symbols,
 * in place (the processes mapping it keep their pointer), so the next lookups are named.
 */
static void debuginfo_landed(void *ctx, const char *bid, const char *path)
{
	struct symbolizer *s = ctx;
	struct elf_file *e, tmp = { 0 };
	const char *ibid = intern(s, bid);
	size_t cap = 0;
	uint64_t val;
	int fd;

	if (!ibid || !htab__find(&s->bids, bid_hash(ibid), bid_eq, ibid, NULL, &val))
		return;
	e = (struct elf_file *)(uintptr_t)val;
	if (!e->dbg_wanted || e->err || e->go)
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	/* The debug file's .symtab holds the .dynsym's functions too. */
	if (!read_debug_file(fd, bid, &tmp, &cap)) {
		finish_syms(&tmp);
		free(e->syms);
		free(e->names);
		e->syms = tmp.syms;
		e->nr_syms = tmp.nr_syms;
		e->names = tmp.names;
		e->names_len = tmp.names_len;
		e->names_cap = tmp.names_cap;
		tmp.syms = NULL;
		tmp.names = NULL;
		e->dbg_wanted = false;
		elf_account(s, e);
		s->dbg_reloads++;
	}
	free(tmp.syms);
	free(tmp.names);
	close(fd);
}

/* How often the files still waiting for a debug file ask again (a failure's retry interval
 * is the fetcher's: until it passes, asking costs a stat and a lock). */
#define DBG_RETRY_NS 2000000000ull

/* Asks again for the debug files of the cached files still without one. */
static void debuginfo_retry(struct symbolizer *s, uint64_t now)
{
	char path[PATH_MAX];
	struct elf_file *e;
	size_t i;

	if (!s->dbg || now - s->dbg_retry_ns < DBG_RETRY_NS)
		return;
	s->dbg_retry_ns = now;
	for (i = 0; s->bids.slots && i <= s->bids.mask; i++) {
		if (!s->bids.slots[i].hash)
			continue;
		e = (struct elf_file *)(uintptr_t)s->bids.slots[i].val;
		if (e->dbg_wanted && !dbgfetch__request(s->dbg, e->build_id, path, sizeof(path)))
			debuginfo_landed(s, e->build_id, path);
	}
}

void symbolizer__set_debuginfod(struct symbolizer *s, struct dbgfetch *d)
{
	s->dbg = d;
}

void symbolizer__sweep(struct symbolizer *s)
{
	uint64_t now = sym_now(s);

	/* Once a window, after it was symbolized: the next one sees what landed. */
	dbgfetch__drain(s->dbg, debuginfo_landed, s);
	debuginfo_retry(s, now);
	release_exited(s, s->sweep_gen, now > EXIT_LINGER_NS ? now - EXIT_LINGER_NS : 0);
	s->sweep_gen++;
	s->last_sweep_ns = now;
}

/*
 * True for the kernel's own executable mappings ([vdso], [vsyscall], [uprobes]): never ELF
 * files on disk and never JIT code, so no perf map can name them. Every process has a
 * [vdso]; without this, each capture looked for a perf map (a /proc read and an open).
 */
static bool kernel_special(const char *path)
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
			p->exited = false;
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
	p->exited = true;
	p->exit_ns = sym_now(s);
	p->exit_gen = s->sweep_gen;
	p->jit_size = -1;
	if (htab__insert(&s->procs, proc_hash(tgid), (uintptr_t)p))
		free(p);
	else
		proc_account(s, p);
}

static const struct umap *find_map(const struct proc *p, uint64_t addr)
{
	size_t lo = 0, hi = p->nr_maps;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->maps[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo && addr < p->maps[lo - 1].end)
		return &p->maps[lo - 1];
	return NULL;
}

/* Names ADDR from P's perf map when it covers it. Returns 0 or -ENOMEM. */
static int jit_lookup(struct symbolizer *s, struct proc *p, uint64_t addr, struct sym_frame *out)
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

/*
 * TGID's cached process, captured on first sight. Returns it, or NULL with *ERR set
 * (-ENOENT when it is gone and was never seen: remembered as such, so the other frames of
 * its samples do not each go back to /proc).
 */
static struct proc *proc_of(struct symbolizer *s, uint32_t tgid, int *err)
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
static int user_lookup(struct symbolizer *s, struct proc *p, uint64_t addr, struct sym_frame *out)
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
	sym = elf_lookup(m->elf, out->elf_vaddr);
	if (!sym)
		return 0;
	return fill_name(s, m->elf, sym, out->elf_vaddr, out);
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

void symbolizer__process_exec(struct symbolizer *s, uint32_t tgid)
{
	struct proc *p = find_proc(s, tgid);

	/* The next capture or lookup reads the new image's mappings. */
	if (p && !p->by_events)
		release_proc(s, p);
}

/* A new, empty process entry for TGID (none exists). Returns it or NULL. */
static struct proc *new_proc(struct symbolizer *s, uint32_t tgid)
{
	struct proc *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->tgid = tgid;
	p->nspid = tgid;
	p->jit_size = -1;
	if (htab__insert(&s->procs, proc_hash(tgid), (uintptr_t)p)) {
		free(p);
		return NULL;
	}
	proc_account(s, p);
	return p;
}

int symbolizer__process_born(struct symbolizer *s, uint32_t tgid, uint32_t parent)
{
	struct proc *p = find_proc(s, tgid), *pp = parent ? find_proc(s, parent) : NULL;
	struct umap *maps = NULL;
	size_t i;

	/* Whatever was cached under this number (a previous image or process) is stale. */
	if (p)
		release_proc(s, p);
	if (parent && !pp)
		return 0;
	if (pp && pp->nr_maps) {
		maps = malloc(pp->nr_maps * sizeof(*maps));
		if (!maps)
			return -ENOMEM;
		memcpy(maps, pp->maps, pp->nr_maps * sizeof(*maps));
		for (i = 0; i < pp->nr_maps; i++)
			if (maps[i].elf)
				elf_ref(maps[i].elf);
	}
	p = new_proc(s, tgid);
	if (!p) {
		for (i = 0; maps && i < pp->nr_maps; i++)
			if (maps[i].elf)
				elf_unref(s, maps[i].elf);
		free(maps);
		return -ENOMEM;
	}
	p->maps = maps;
	p->nr_maps = maps ? pp->nr_maps : 0;
	/* A child of a process read from /proc may lack what /proc would show: re-read on misses. */
	p->by_events = pp ? pp->by_events : true;
	proc_account(s, p);
	return 0;
}

/*
 * Puts NM into P's sorted mappings; what it overlaps is cut away (a mapping over existing
 * ones replaces them there, as MAP_FIXED does). Returns 0 or -ENOMEM.
 */
static int insert_map(struct symbolizer *s, struct proc *p, const struct umap *nm)
{
	struct umap *maps, o;
	size_t i, n = 0;
	bool placed = false;

	/* Each old mapping gives at most two pieces, and only one can surround NM. */
	maps = malloc((p->nr_maps + 2) * sizeof(*maps));
	if (!maps)
		return -ENOMEM;
	for (i = 0; i < p->nr_maps; i++) {
		o = p->maps[i];
		if (!placed && o.start >= nm->start) {
			maps[n++] = *nm;
			placed = true;
		}
		if (o.end <= nm->start || o.start >= nm->end) {
			maps[n++] = o;
			continue;
		}
		if (o.start < nm->start) {
			maps[n] = o;
			maps[n++].end = nm->start;
		}
		if (!placed) {
			maps[n++] = *nm;
			placed = true;
		}
		if (o.end > nm->end) {
			maps[n] = o;
			maps[n].offset += nm->end - o.start;
			maps[n++].start = nm->end;
		}
		/* Refs follow the pieces: one kept piece keeps the ref, two take another. */
		if (o.elf) {
			int kept = (o.start < nm->start) + (o.end > nm->end);

			if (kept == 2)
				elf_ref(o.elf);
			else if (!kept)
				elf_unref(s, o.elf);
		}
	}
	if (!placed)
		maps[n++] = *nm;
	free(p->maps);
	p->maps = maps;
	p->nr_maps = n;
	proc_account(s, p);
	return 0;
}

int symbolizer__add_mapping(struct symbolizer *s, uint32_t tgid, const struct sym_mapping *m)
{
	char hex[2 * 64 + 1];
	struct umap nm = { 0 };
	const struct umap *old;
	struct proc *p;
	size_t i;
	int err;

	if (m->end <= m->start || !m->path)
		return -EINVAL;
	p = find_proc(s, tgid);
	if (!p) {
		/*
		 * Not seen born: it predates the events, so /proc has the rest of its
		 * mappings. They are read at its first sample (capture, or a lookup's miss),
		 * not now: most such processes are never sampled, and reading them all (ELF
		 * files included) for every mmap of JIT code on the host cost more than it
		 * saved.
		 */
		p = new_proc(s, tgid);
		if (!p)
			return -ENOMEM;
		p->partial = true;
	}
	nm.start = m->start;
	nm.end = m->end;
	nm.offset = m->pgoff;
	nm.dev = m->dev;
	nm.ino = m->ino;
	nm.events = true;
	nm.path = intern(s, m->path[0] ? m->path : "//anon");
	if (!nm.path)
		return -ENOMEM;
	if (m->build_id && m->build_id_size && m->build_id_size <= 64) {
		for (i = 0; i < m->build_id_size; i++)
			snprintf(hex + 2 * i, 3, "%02x", m->build_id[i]);
		nm.bid = intern(s, hex);
		if (!nm.bid)
			return -ENOMEM;
	}
	/*
	 * Already known as such: JIT runtimes flip their code between writable and executable
	 * (mprotect), and each flip to executable is reported again. Copying a large process's
	 * mapping list for each of those kept the agent from reading its rings.
	 */
	old = find_map(p, nm.start);
	if (old && nm.end <= old->end && old->path == nm.path && old->ino == nm.ino &&
	    old->bid == nm.bid && old->offset + (nm.start - old->start) == nm.offset)
		return 0;
	err = insert_map(s, p, &nm);
	if (err)
		return err;
	s->mappings_added++;
	/* Twice what the last re-read found, so a process that truly maps that much is not read per record. */
	if (p->nr_maps > EVENT_MAPS_MAX && p->nr_maps > 2 * p->reread_nr && !p->exited) {
		err = read_maps(s, p);
		if (err == -ESRCH)
			err = 0;
		p->reread_nr = p->nr_maps;
	}
	return err;
}

void symbolizer__events_lost(struct symbolizer *s)
{
	size_t i;

	for (i = 0; s->procs.slots && i <= s->procs.mask; i++)
		if (s->procs.slots[i].hash)
			((struct proc *)(uintptr_t)s->procs.slots[i].val)->by_events = false;
}

void symbolizer__process_exit(struct symbolizer *s, uint32_t tgid)
{
	struct proc *p = find_proc(s, tgid);

	if (!p || p->exited)
		return;
	p->exited = true;
	p->exit_ns = sym_now(s);
	p->exit_gen = s->sweep_gen;
}

/* Fills OUT for an address that could not be resolved: its kind and address only. */
static void unresolved(bool kernel, uint64_t pc, struct sym_frame *out)
{
	memset(out, 0, sizeof(*out));
	out->kind = kernel ? SYM_FRAME_KERNEL : SYM_FRAME_NATIVE;
	out->addr = pc;
	out->elf_vaddr = pc;
}

/*
 * The frame that ends a user stack the walker cut short (bpf/profile.h), named after the
 * reason so that partial stacks stay visible and say why they are partial.
 */
static void marker_frame(uint64_t frame, struct sym_frame *out)
{
	static const char *const names[KILN_UW_STOP_NR] = {
		[KILN_UW_STOP_TRUNCATED] = "[truncated]",
		[KILN_UW_STOP_NO_MAPPING] = "[unwind: no mapping]",
		[KILN_UW_STOP_NOT_COVERED] = "[unwind: pc not covered]",
		[KILN_UW_STOP_UNSUPPORTED] = "[unwind: unsupported rule]",
		[KILN_UW_STOP_READ_FAULT] = "[unwind: read fault]",
		[KILN_UW_STOP_BAD_FRAME] = "[unwind: bad frame]",
		[KILN_UW_STOP_TABLE] = "[unwind: table error]",
	};
	uint64_t reason = frame & ~KILN_UFRAME_MARKER;

	memset(out, 0, sizeof(*out));
	out->kind = SYM_FRAME_NATIVE;
	out->addr = frame;
	out->elf_vaddr = frame;
	out->name = reason < KILN_UW_STOP_NR && names[reason] ? names[reason] : "[unwind: error]";
	out->system_name = out->name;
}

void symbolizer__set_python(struct symbolizer *s, symbolizer_python_fn fn, void *ctx)
{
	s->py_lookup = fn;
	s->py_ctx = ctx;
}

/* One native user frame: UFRAMES[I] of NU, leaf first (I == 0 is the sampled pc). */
static void native_frame(struct symbolizer *s, struct proc *p, const uint64_t *uframes, uint32_t nu,
			 uint32_t i, bool leaf, struct sym_frame *out)
{
	bool sigframe;
	uint64_t pc;

	if (KILN_UFRAME_IS_MARKER(uframes[i])) {
		marker_frame(uframes[i], out);
		return;
	}
	/*
	 * A pc a signal interrupted is exact, not a return address; so is the one before it,
	 * the signal trampoline the handler returns to (its code starts right at that address).
	 */
	sigframe = i + 1 < nu && (uframes[i + 1] & KILN_UFRAME_INTERRUPTED) &&
		   !KILN_UFRAME_IS_MARKER(uframes[i + 1]);
	if (uframes[i] & KILN_UFRAME_INTERRUPTED)
		pc = uframes[i] & ~KILN_UFRAME_INTERRUPTED;
	else
		pc = leaf || sigframe ? uframes[i] : uframes[i] - 1;
	memset(out, 0, sizeof(*out));
	out->kind = SYM_FRAME_NATIVE;
	out->addr = pc;
	if (!p || user_lookup(s, p, pc, out))
		unresolved(false, pc, out);
	/* libc's trampoline (__restore_rt) is a local symbol, absent from .dynsym. */
	if (sigframe && !out->name)
		out->name = out->system_name = "[signal frame]";
}

/*
 * One Python word of the walk (bpf/python.h) as a frame of PY's process: function, file
 * and line, or a marker frame saying why there are none. Strings are interned, so they
 * live as long as the symbolizer.
 */
static void python_frame(struct symbolizer *s, struct python_proc *py, uint64_t w,
			 struct sym_frame *out)
{
	struct python_frame f;
	char buf[96];

	memset(out, 0, sizeof(*out));
	out->kind = SYM_FRAME_PYTHON;
	out->addr = w;
	out->elf_vaddr = w;
	if (KILN_PY_IS_MARKER(w)) {
		python_marker_text(w, buf, sizeof(buf));
		out->kind = SYM_FRAME_NATIVE;
		out->name = out->system_name = intern(s, buf);
		return;
	}
	if (!py || python_proc__symbolize(py, KILN_PY_FRAME_CODE(w),
					  (uint32_t)KILN_PY_FRAME_INSTR(w), &f)) {
		s->py_unnamed++;
		out->kind = SYM_FRAME_NATIVE;
		out->name = out->system_name = py ? "[python: code object unreadable]"
						  : "[python: process unknown]";
		return;
	}
	s->py_frames++;
	out->name = out->system_name = intern(s, f.function);
	out->file = intern(s, f.file);
	out->line = f.line > 0 ? (uint32_t)f.line : 0;
}

static bool in_eval(void *ctx, uint64_t addr)
{
	return ctx && python_proc__in_eval(ctx, addr & ~KILN_UFRAME_INTERRUPTED);
}

/*
 * User frames with Python words: Python frames stand where the interpreter's eval-loop
 * frames were (python_merge()), native frames of C extensions and libc at the leaf and
 * between Python frames stay in place. Returns the frames written to OUT.
 */
static size_t merged_frames(struct symbolizer *s, struct proc *p, uint32_t tgid,
			    const uint64_t *uframes, uint32_t nu, uint32_t npy, bool leaf_exact,
			    struct sym_frame *out)
{
	uint64_t nat[KILN_MAX_FRAMES], py[KILN_MAX_FRAMES];
	struct python_merge_slot slots[2 * KILN_MAX_FRAMES];
	struct python_proc *pp = s->py_lookup ? s->py_lookup(s->py_ctx, tgid) : NULL;
	uint32_t nn = 0, np = 0, i;
	size_t ns, n = 0;
	bool exact = true;

	for (i = 0; i < nu && i < KILN_MAX_FRAMES; i++) {
		if (i >= nu - npy && KILN_PY_IS_WORD(uframes[i]))
			py[np++] = uframes[i];
		else
			nat[nn++] = uframes[i];
	}
	ns = python_merge(nat, nn, py, np, in_eval, pp, slots, ARRAY_SIZE(slots), &exact);
	if (!exact)
		s->py_inexact++;
	for (i = 0; i < ns && n < nu; i++, n++) {
		if (slots[i].python)
			python_frame(s, pp, py[slots[i].index], &out[n]);
		else
			native_frame(s, p, nat, nn, slots[i].index,
				     leaf_exact && slots[i].index == 0, &out[n]);
	}
	return n;
}

size_t symbolizer__stack(struct symbolizer *s, uint32_t tgid, const uint64_t *kframes, uint32_t nk,
			 const uint64_t *uframes, uint32_t nu, struct sym_frame *out)
{
	return symbolizer__stack_py(s, tgid, kframes, nk, uframes, nu, 0, out);
}

size_t symbolizer__stack_py(struct symbolizer *s, uint32_t tgid, const uint64_t *kframes,
			    uint32_t nk, const uint64_t *uframes, uint32_t nu, uint32_t npy,
			    struct sym_frame *out)
{
	struct proc *p = NULL;
	size_t n = 0;
	uint64_t pc;
	uint32_t i;
	int err = 0;

	/* Below the leaf, addresses are return addresses: the call site is the one before. */
	for (i = 0; i < nk; i++, n++) {
		pc = n == 0 ? kframes[i] : kframes[i] - 1;
		if (symbolizer__kernel(s, pc, &out[n]))
			unresolved(true, pc, &out[n]);
	}
	/* One process lookup per stack, not per frame: lookups never release a process. */
	if (nu)
		p = proc_of(s, tgid, &err);
	if (npy && npy <= nu)
		return n + merged_frames(s, p, tgid, uframes, nu, npy, n == 0, out + n);
	for (i = 0; i < nu; i++, n++)
		native_frame(s, p, uframes, nu, i, n == 0, &out[n]);
	return n;
}
