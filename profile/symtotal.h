/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Self and Total per function: the one model behind `kiln top` (profile/top.c) and the UI's
 * symbols table (ui/flame.c), so that the two count and key functions the same way.
 *
 * A function is a (name, module) pair: the frame's display name as wrec_view__frame_name()
 * gives it and the basename of its mapping's file ("" when unknown), interned across
 * records (each record carries its own dictionary). Self counts samples whose leaf frame
 * is the function; Total counts samples whose stack contains it, once per stack however
 * often recursion repeats it, so Total never exceeds the samples counted.
 *
 * The table only interns and counts; the caller owns the count arrays (one pair for the UI,
 * one per window for kiln top's sliding horizon), indexed by function id.
 */
#ifndef KILN_PROFILE_SYMTOTAL_H
#define KILN_PROFILE_SYMTOTAL_H

#include <stddef.h>
#include <stdint.h>

#include "profile/wrec.h"

enum symtotal_sort {
	SYMTOTAL_SORT_SELF = 0,
	SYMTOTAL_SORT_TOTAL,
};

struct symtotal_row {
	const char *name; /* owned by the table: valid until it interns, compacts or is freed */
	const char *module;
	uint64_t self, total;
};

struct symtotal;

/* Returns 0 and a new empty table in *OUT (caller frees), or -ENOMEM. */
int symtotal__new(struct symtotal **out);

/* Frees T; NULL is a no-op. */
void symtotal__free(struct symtotal *t);

/* Functions interned now: count arrays must hold at least this many entries. */
size_t symtotal__nr(const struct symtotal *t);

/* The id of (NAME, MODULE), interned on first sight (strings copied). Returns 0 or -ENOMEM. */
int symtotal__intern(struct symtotal *t, const char *name, const char *module, uint32_t *id);

/* The id of the function at location LOC of parsed record V. Returns 0 or -ENOMEM. */
int symtotal__intern_loc(struct symtotal *t, const struct wrec_view *v, uint32_t loc, uint32_t *id);

/*
 * Counts COUNT samples of one stack of NR function ids, leaf first: SELF[ids[0]] += COUNT,
 * and TOTAL[id] += COUNT once for each distinct id of the stack.
 */
void symtotal__count(struct symtotal *t, const uint32_t *ids, size_t nr, uint64_t count,
		     uint64_t *self, uint64_t *total);

/*
 * Forgets every function whose REMAP[id] is UINT32_MAX and renumbers the others in order,
 * writing each one's new id into REMAP[id] (REMAP: symtotal__nr() entries on entry; new
 * ids never exceed old ones, so count arrays compact in place front to back). Returns the
 * number of functions kept, or -ENOMEM (the table is then unusable: free it).
 */
long symtotal__compact(struct symtotal *t, uint32_t *remap);

/*
 * Fills *ROWS (grown with realloc, *CAP entries; the caller frees it) with every function
 * whose TOTAL is non-zero, sorted by SORT's count, then the other count (both descending),
 * then name and module. Returns the number of rows or -ENOMEM.
 */
long symtotal__rows(const struct symtotal *t, const uint64_t *self, const uint64_t *total,
		    enum symtotal_sort sort, struct symtotal_row **rows, size_t *cap);

#endif
