// SPDX-License-Identifier: Apache-2.0
/*
 * Symbolizer: kallsyms for the kernel; for user space /proc/PID/maps, ELF .symtab/.dynsym,
 * separate debug files, Go's .gopclntab and perf maps. This file holds the object itself
 * (construction, the string pool, statistics); each concern has its own file in this folder
 * (symbolize_internal.h lists them).
 *
 * Lifetimes: every string handed out is interned in a pool that lives as long as the
 * symbolizer, so ELF symbol tables and per-process mapping lists can be released (exit,
 * exec, cache pressure) without invalidating frames a caller still holds. The pool only
 * grows by names that were actually returned, module paths and build ids.
 */
#include <errno.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "symbolize/symbolize_internal.h"

/* String pool. */

static bool str_eq(uint64_t val, const void *key, void *ctx)
{
	(void)ctx;
	return strcmp((const char *)(uintptr_t)val, key) == 0;
}

const char *intern(struct symbolizer *s, const char *str)
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

uint64_t total_bytes(const struct symbolizer *s)
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
	out->files_denied = s->files_denied;
	out->procs_by_events = s->nr_by_events;
}
