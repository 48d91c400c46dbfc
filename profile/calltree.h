/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A profile as its writers of pictures see it (HTML, SVG, speedscope): distinct frames by
 * name, module and kind, and the merged call tree of every sample, rooted at "all" with the
 * process name (comm) as each stack's outermost frame, as in the folded output. Not a public
 * API: the writers in profile/ share it.
 */
#ifndef KILN_PROFILE_CALLTREE_H
#define KILN_PROFILE_CALLTREE_H

#include <stddef.h>
#include <stdint.h>

#include "profile/profile.h"
#include "profile/profile_internal.h"
#include "symbolize/htab.h"

/* A frame's kind: SYM_FRAME_* for frames, and this for the process (comm) frame. */
#define CALLTREE_KIND_PROCESS 0

struct calltree_frame {
	char *name; /* owned; valid UTF-8 without control characters */
	const char *module; /* basename of its mapping's file, "" when unknown (the profile's) */
	uint8_t kind;
};

struct calltree_node {
	uint32_t frame; /* node 0, the root "all", has frame UINT32_MAX */
	uint32_t parent;
	uint32_t child, next; /* first child, next sibling; 0 for none */
	uint32_t depth; /* the root's is 0 */
	uint64_t self, total;
};

struct calltree {
	struct calltree_frame *frames;
	size_t nr_frames, frames_cap;
	struct htab frames_idx;
	struct calltree_node *nodes;
	size_t nr_nodes, nodes_cap;
	struct htab nodes_idx;
	uint32_t *loc_frame; /* per location of the profile: its frame (0 for entry 0) */
	uint32_t *comm_frame; /* per string of the profile: its process frame, or UINT32_MAX */
	uint32_t max_depth;
};

/*
 * Builds the frames and the call tree of P. Returns 0 and the tree in *OUT (free with
 * calltree__free()), or -ENOMEM.
 */
int calltree__new(const struct profile *p, struct calltree **out);

/* Frees T; NULL is a no-op. */
void calltree__free(struct calltree *t);

/*
 * The frames of sample S of P, outermost first (process frame, then user, then kernel
 * frames), into IDS (room for the stack's frames + 1). Returns how many.
 */
size_t calltree__sample_frames(const struct calltree *t, const struct profile *p, size_t s,
			       uint32_t *ids);

/* "process", "kernel", "native", "go", "jit" or "python". */
const char *calltree_kind_name(uint8_t kind);

/*
 * A copy of S that every output can carry as text (JSON, XML, HTML): bytes that are not
 * UTF-8 become U+FFFD and control characters '?' (XML 1.0 cannot hold most of them).
 * Returns it (the caller frees it) or NULL when out of memory.
 */
char *calltree_clean_name(const char *s);

#endif
