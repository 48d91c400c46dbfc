/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The model behind `kiln top`: per-function Self and Total sample counts over a sliding
 * horizon of windows, fed with validated window records (profile/wrec.h). No I/O: the
 * command (cli/cmd_top.c) reads the ring and draws; this file only counts, so it can be
 * tested on hand-built records.
 *
 * Functions and their Self / Total are counted by profile/symtotal.h, the model the UI's
 * symbols table uses too; this file adds the scope and the sliding horizon of windows.
 */
#ifndef KILN_PROFILE_TOP_H
#define KILN_PROFILE_TOP_H

#include <stddef.h>
#include <stdint.h>

#include "profile/symtotal.h"
#include "profile/wrec.h"

#define TOP_MAX_PIDS 64

enum top_sort {
	TOP_SORT_SELF = SYMTOTAL_SORT_SELF,
	TOP_SORT_TOTAL = SYMTOTAL_SORT_TOTAL,
};

struct top_opts {
	uint64_t horizon_ns; /* keep windows ending within this of the newest; 0: 10 s */
	const char *workload; /* NULL: all; else equal to the record's workload key or name */
	const char *cgroup; /* NULL: all; else a cgroup v2 path ("/a/b"): it or its descendants */
	const uint32_t *pids; /* NR_PIDS process ids (sample tgids) to keep; NULL/0: all */
	size_t nr_pids;
};

struct top_stats {
	uint64_t windows; /* distinct windows seen, ever */
	uint64_t records; /* records added, ever */
	uint64_t records_in_scope; /* of which matched the workload / cgroup scope */
	uint64_t samples_in_scope; /* samples that matched the whole scope, ever */
	uint64_t view_samples; /* samples in scope within the horizon */
	uint32_t view_windows; /* windows within the horizon */
	uint64_t newest_seq; /* window_seq of the newest window */
	uint64_t newest_duration_ns;
	uint64_t period_ns; /* of the newest record: 1e9 / Hz */
	uint64_t functions; /* functions interned now */
	uint64_t compactions; /* times functions outside the horizon were forgotten */
};

struct top;

/* Creates an empty model for OPTS (strings and pids are copied). Returns 0 and *OUT, or -errno. */
int top__new(struct top **out, const struct top_opts *opts);

/*
 * Counts the record V (already validated by wrec__parse) in its window. Records outside the
 * scope still advance the horizon. Returns 1 when the record was in scope, 0 when not, or
 * -ENOMEM (that record may then be counted in part).
 */
int top__add(struct top *t, const struct wrec_view *v);

/*
 * Sums the horizon and returns in *ROWS (owned by T, valid until the next top__add() or
 * top__rows()) every function with a sample, sorted by SORT, then by the other count, then
 * by name. Returns the number of rows or -ENOMEM.
 */
long top__rows(struct top *t, enum top_sort sort, const struct symtotal_row **rows);

/* Counters as of now. */
void top__stats(const struct top *t, struct top_stats *st);

/* Frees T; NULL is a no-op. */
void top__free(struct top *t);

#endif
