/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The unwinder's state, shared by its files (not a public interface): unwinder.c builds,
 * loads and evicts tables; uwprocs.c keeps processes' mappings in the LPM trie.
 */
#ifndef KILN_AGGREGATOR_UNWINDER_INT_H
#define KILN_AGGREGATOR_UNWINDER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/types.h>

#include "aggregator/unwinder.h"
#include "bpf/unwind.h"
#include "symbolize/htab.h"

#define MAX_LOADS 8

/* A range of the delta array (free, or a table's). */
struct extent {
	uint32_t start, len;
};

struct load_seg {
	uint64_t offset, vaddr, filesz;
	uint32_t flags; /* p_flags: PF_X marks code */
};

/* A file's table as loaded into the maps. */
struct table {
	uint32_t id; /* never reused: a stale page key can't reach a new table */
	uint32_t refs; /* mappings that use it */
	bool no_table; /* the file has no usable .eh_frame: its mappings walk frame pointers */
	bool file_entered; /* in the files map (m.files_fd) under its dev and inode */
	uint64_t dev, ino, size, mtime_ns; /* the file it was built from */
	char build_id[41]; /* hex, "" when the file has none */
	struct load_seg loads[MAX_LOADS];
	int nr_loads;
	uint64_t entry; /* e_entry: where a process (or ld.so, as its interpreter) starts */
	uint32_t nr_deltas; /* deltas it holds in the delta array */
	struct extent *ext; /* the ranges of the delta array holding them */
	size_t nr_ext;
	uint32_t *pages; /* page numbers entered in the page map */
	size_t nr_pages;
	uint64_t idle_since; /* order of going idle, for eviction */
};

struct pmap {
	uint64_t start, end, pgoff;
	struct table *t; /* NULL for anonymous executable memory (JIT) */
	struct kiln_uw_mapping v; /* its LPM value */
	bool kept; /* during a sync: already entered by an earlier one */
};

struct proc {
	uint32_t tgid;
	struct pmap *maps;
	size_t nr_maps;
};

struct unwinder {
	struct unwinder_maps m;
	char proc_root[256];
	struct table **tables;
	size_t nr_tables, tables_cap;
	struct htab procs; /* tgid hash -> struct proc * */
	struct htab rules; /* rule hash -> rule index */
	struct kiln_uw_rule *rule_vals;
	size_t rules_cap;
	uint32_t nr_rules;
	struct extent *free; /* sorted by start, coalesced */
	size_t nr_free, free_cap;
	uint32_t next_id;
	uint64_t idle_clock;
	struct table *vdso;
	bool vdso_tried;
	bool no_mmap; /* the delta array could not be mapped: written by map updates */
	bool no_query; /* the kernel lacks PROCMAP_QUERY: mappings read from the text */
	size_t sweep_pos; /* next slot of procs unwinder__sweep looks at */
	uint32_t idle_max; /* idle tables kept (maps->idle_max or MAX_IDLE_TABLES) */
	struct unwinder_stats st;
};

/* Grows *V (of *CAP elements of ELEM bytes) to hold NEED. Returns 0 or -ENOMEM. */
int uw_grow(void **v, size_t *cap, size_t need, size_t elem);

/* The table of the file at PATH in TGID's mount namespace, built and loaded, or NULL. */
struct table *uw_file_table(struct unwinder *u, uint32_t tgid, const char *path);

/* The vDSO's table (kiln's own copy stands for every process's), or NULL. */
struct table *uw_vdso_table(struct unwinder *u);

/* The bias of a mapping of T at START, file offset PGOFF (vaddr = pc - bias); false if none. */
bool uw_mapping_bias(const struct table *t, uint64_t start, uint64_t pgoff, __u64 *bias);

/* Takes / drops a mapping's reference on T (NULL is a no-op); unused tables go idle. */
void uw_table_get(struct unwinder *u, struct table *t);
void uw_table_put(struct unwinder *u, struct table *t);

#endif
