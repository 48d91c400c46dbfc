/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loads native unwind tables into the sampler's BPF maps (bpf/unwind.h) and keeps them in
 * step with the processes being sampled: for each executable mapping of a process, the
 * table of the mapped file (built once per file by unwind/, shared by every process that
 * maps it, refcounted, kept a while when unused so short-lived processes don't rebuild
 * libc's), and the LPM entries that lead the walker from (tgid, pc) to it.
 */
#ifndef KILN_AGGREGATOR_UNWINDER_H
#define KILN_AGGREGATOR_UNWINDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct unwinder;

/* The sampler's maps the unwinder fills, and their sizes. */
struct unwinder_maps {
	int mappings_fd; /* LPM trie: struct kiln_uw_map_key -> struct kiln_uw_mapping */
	int pages_fd; /* hash: struct kiln_uw_page_key -> struct kiln_uw_page */
	int deltas_fd; /* array of struct kiln_uw_delta */
	int rules_fd; /* array of struct kiln_uw_rule */
	/*
	 * Hash: struct kiln_uw_file_key -> struct kiln_uw_file, the files whose table is
	 * loaded, for the walk's bpf_find_vma path, and the LRU hash tgid -> the mappings
	 * that path learned, dropped once the process's own are read. Used only when
	 * files_max is not 0.
	 */
	int files_fd, vma_cache_fd;
	uint32_t pages_max, deltas_max, rules_max, files_max;
	uint32_t idle_max; /* loaded tables no process maps kept for reuse; 0: the default */
};

struct unwinder_stats {
	uint64_t processes; /* processes with tables loaded */
	uint64_t mappings; /* executable mappings entered in the LPM trie */
	uint64_t mappings_added; /* mappings ever entered (mappings is what is there now) */
	uint64_t prefixes; /* LPM entries (a mapping takes a few aligned prefixes) */
	uint64_t tables; /* tables loaded (in use or idle) */
	uint64_t tables_idle; /* loaded tables no process maps now, kept for reuse */
	uint64_t table_bytes; /* kernel memory of deltas, pages and rules in use */
	uint64_t deltas; /* deltas in use of the array's capacity */
	uint64_t rules; /* distinct rules */
	uint64_t builds; /* tables built from a file (each file once while it stays cached) */
	uint64_t build_ns; /* total time spent building tables */
	uint64_t no_eh_frame; /* files without .eh_frame: walked by frame pointers */
	uint64_t build_errors; /* files that could not be opened or parsed */
	uint64_t load_errors; /* tables or mappings the maps had no room for */
	uint64_t syncs; /* times a process's mappings were read */
	uint64_t swept; /* processes found gone by unwinder__sweep (their exit was lost) */
	uint64_t deltas_mapped; /* deltas written through a mapping of the array, not syscalls */
	uint64_t queried; /* executable mappings found by PROCMAP_QUERY, not the text */
	uint64_t files; /* files entered in the files map (tables the walk finds by inode) */
};

/*
 * Returns an unwinder over MAPS (the fds stay the caller's), reading process mappings
 * under PROC_ROOT ("/proc" when NULL), or NULL with errno set. Free with unwinder__free.
 */
struct unwinder *unwinder__new(const struct unwinder_maps *maps, const char *proc_root);

/*
 * Frees U; NULL is a no-op. What it loaded stays in the maps (the caller's, destroyed with
 * the sampler right after): a new unwinder needs new maps.
 */
void unwinder__free(struct unwinder *u);

/*
 * Reads TGID's executable mappings and brings its entries up to date: tables of new
 * mappings loaded (built first when no process maps the file yet), entries of mappings
 * that are gone removed, then the process marker that tells the walker its tables are
 * there. Returns 0 or -errno (-ESRCH when the process is gone); failures of single files
 * are counted and leave those mappings to the frame-pointer walk.
 */
int unwinder__sync_process(struct unwinder *u, uint32_t tgid);

/*
 * Builds and loads, ahead of any sample, the tables nearly every process maps: the vDSO
 * and the C runtime (libc, ld.so, libm, libstdc++) as kiln itself maps them. A process's
 * first samples are walked by frame pointers until its tables are in; with these already
 * there, that is the time to load its own executable only.
 */
void unwinder__preload(struct unwinder *u);

/* Removes TGID's entries (exit, or exec before the new image's sync). */
void unwinder__remove_process(struct unwinder *u, uint32_t tgid);

/*
 * Removes the entries of processes that are gone although no exit event said so (the
 * event ring was full): looks at up to BUDGET slots of the process table per call, round
 * robin, so a caller calling it once per window goes through every process in a bounded
 * number of windows. Returns the number of processes removed.
 */
int unwinder__sweep(struct unwinder *u, size_t budget);

/* Whether TGID's tables are loaded (it had a sync and did not exit or exec since). */
bool unwinder__knows(const struct unwinder *u, uint32_t tgid);

/* Fills *OUT with U's counters. */
void unwinder__stats(const struct unwinder *u, struct unwinder_stats *out);

/* Mappings U ever entered in the trie (unwinder_stats.mappings_added), without the rest. */
uint64_t unwinder__mappings_added(const struct unwinder *u);

#endif
