/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The merged view of a slot: every chunk (window record) folded into one call tree, and the
 * symbols table derived from the same stacks. Rebuilt on every read, as the seed product
 * does, so no per-slot derived state has to be kept consistent with evictions.
 *
 * Symbols: Self = samples whose leaf frame is the function; Total = samples whose stack
 * contains the function, counted once per stack, so a recursive function never exceeds
 * 100 % (the seed product sums Total per node and can).
 */
#ifndef KILN_UI_FLAME_H
#define KILN_UI_FLAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/strbuf.h"

#define FLAME_DEFAULT_MAX_NODES 2048
#define FLAME_MAX_NODES_LIMIT 100000
/* Frames beyond this depth (counted from the root) are folded into the deepest kept one. */
#define FLAME_MAX_DEPTH 512
#define FLAME_ROOT "all"
#define FLAME_OTHER "other"

enum flame_sort {
	FLAME_SORT_SELF = 0,
	FLAME_SORT_TOTAL,
};

enum flame_mode {
	FLAME_MODE_ALL = 0, /* every stack as it is */
	FLAME_MODE_CALLERS, /* sandwich: the focus function's callers */
	FLAME_MODE_CALLEES, /* sandwich: what the focus function calls */
};

struct flame;

/* Returns a new empty tree, or NULL (ENOMEM). */
struct flame *flame__new(void);

/* Frees F; NULL is a no-op. */
void flame__free(struct flame *f);

/*
 * Adds COUNT samples of one stack of NR frame names, leaf first (names are copied).
 * Returns 0 or -ENOMEM.
 */
int flame__add_stack(struct flame *f, const char *const *names, size_t nr, uint64_t count);

/*
 * Parses the LEN bytes at BUF as a window record (8-byte aligned) and adds every sample.
 * Returns 0, the errors of wrec__parse(), or -ENOMEM.
 */
int flame__add_record(struct flame *f, const void *buf, size_t len);

/* Samples added so far (side A: all of them outside a diff). */
uint64_t flame__total(const struct flame *f);

/* Samples added on side B of a diff. */
uint64_t flame__total_b(const struct flame *f);

/*
 * A diff: samples added after flame__set_side(F, 1) count on side B, after (F, 0) on side A
 * again. Once a side-B sample was set up, the tree is written with "self_b"/"total_b" on
 * every node and flame__write_diff_symbols() gives both sides per function.
 */
void flame__set_side(struct flame *f, int side);

/*
 * A sandwich: call before adding anything. Only stacks holding the function NAME count,
 * cut at its outermost occurrence (recursion counts once): MODE callees keeps NAME and
 * what it calls, MODE callers keeps NAME and its callers reversed (NAME is the root's only
 * child, the outermost caller deepest). The symbols table is not kept. Returns 0, -EINVAL
 * (FLAME_MODE_ALL) or -ENOMEM.
 */
int flame__set_focus(struct flame *f, const char *name, enum flame_mode mode);

/*
 * Whether the window record at REC (validated, 8-byte aligned) belongs to the time range
 * [FROM_NS, TO_NS): its window starts inside it. A range selects whole windows, so a
 * window's samples are never split between two ranges.
 */
bool flame_window_in_range(const void *rec, uint64_t from_ns, uint64_t to_ns);

/* "kernel", "native", "go", "jit", "python" for an enum wrec_frame_kind ("native": unknown). */
const char *flame_kind_name(uint32_t kind);

/* Distinct nodes in the full tree, the root included. */
size_t flame__nr_nodes(const struct flame *f);

/*
 * Writes the tree as JSON: {"name","self","total","children":[...]} from the root "all",
 * with "kind" (flame_kind_name()) on frames that are not native, and "self_b"/"total_b" in a
 * diff (a diff's cap weighs both sides' counts together),
 * children ordered by name. When the tree has more than MAX_NODES (>= 2) nodes, keeps the
 * heaviest (by total, best first from the root) and gives each kept node whose children were
 * cut one "other" child holding their samples, so every node's total is still its self plus
 * its children's totals and no more than MAX_NODES nodes are written. Sets *WRITTEN to the
 * nodes written. Returns 0 or -ENOMEM / -EINVAL.
 */
int flame__write_tree(const struct flame *f, struct strbuf *out, size_t max_nodes, size_t *written);

/*
 * Writes the symbols table as a JSON array of {"name","self","total","self_percent",
 * "total_percent"}, sorted by SORT (descending, then by name), at most LIMIT rows (0: all).
 * Returns 0 or -ENOMEM. Sets *NR_SYMBOLS to the number of distinct functions.
 */
int flame__write_symbols(const struct flame *f, struct strbuf *out, enum flame_sort sort,
			 size_t limit, size_t *nr_symbols);

/*
 * Writes the diff's symbols table as a JSON array of {"name","self_a","total_a","self_b",
 * "total_b","self_percent_a","self_percent_b","total_percent_a","total_percent_b",
 * "self_diff","total_diff"} (percent of each side's samples; diffs B - A in points), largest
 * |self_diff| first, then by name; at most LIMIT rows (0: all). Sets *NR_SYMBOLS to the
 * functions seen on either side. Returns 0 or -ENOMEM.
 */
int flame__write_diff_symbols(const struct flame *f, struct strbuf *out, size_t limit,
			      size_t *nr_symbols);

#endif
