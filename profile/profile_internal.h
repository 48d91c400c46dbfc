/* SPDX-License-Identifier: Apache-2.0 */
/* The tables behind struct profile, shared by profile.c and the writers. Not a public API. */
#ifndef KILN_PROFILE_INTERNAL_H
#define KILN_PROFILE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/htab.h"

/* All string fields are indices into profile.strs; 0 is "". */
struct profile_mapping {
	uint64_t start, limit, offset;
	uint32_t file, build_id;
	bool kernel;
};

struct profile_function {
	uint32_t name, file;
	uint32_t system_name; /* the symbol as in the binary (mangled); equals name when not */
};

struct profile_location {
	uint64_t addr; /* ELF virtual address (kernel: the kernel address) */
	uint32_t mapping; /* 0: outside every known mapping */
	uint32_t func; /* 0: no symbol */
	uint8_t kind; /* enum sym_frame_kind */
	uint32_t line; /* source line, 0 when unknown */
};

struct profile_stack {
	size_t off; /* into stack_locs; nr location indices, leaf first */
	uint32_t nr;
};

struct profile_sample {
	uint32_t stack, comm, tgid, pid;
	uint64_t count;
};

/* A frame string's address (stable_strs) and its index in profile.strs. */
struct profile_str_ptr {
	const char *s;
	uint32_t idx;
};

/* A frame already added, by the identity of its fields (strings by address). */
struct profile_frame_ent {
	const char *module, *build_id, *name, *system_name, *file;
	uint64_t addr, elf_vaddr, map_start, map_limit, map_offset;
	uint32_t kind, line;
	uint32_t loc; /* its location */
};

struct profile {
	uint64_t period_ns, start_ns, duration_ns, total;

	/* Set by profile__trust_frame_strings(): frames are then cached by string address. */
	bool stable_strs;
	struct profile_frame_ent *fents;
	size_t nr_fents, fents_cap;
	struct htab fents_idx;
	/*
	 * Also with stable_strs: the frame strings met so far by address, so a new location
	 * finds its strings without reading them. strs_idx still holds every string by content
	 * (two addresses with one text share an index; profile__find_str looks there).
	 */
	struct profile_str_ptr *str_ptrs;
	size_t nr_str_ptrs, str_ptrs_cap;
	struct htab str_ptrs_idx;

	char **strs;
	size_t nr_strs, strs_cap;
	struct htab strs_idx;

	struct profile_mapping *maps;
	size_t nr_maps, maps_cap;
	struct htab maps_idx;

	struct profile_function *funcs;
	size_t nr_funcs, funcs_cap;
	struct htab funcs_idx;

	struct profile_location *locs;
	size_t nr_locs, locs_cap;
	struct htab locs_idx;

	struct profile_stack *stacks;
	size_t nr_stacks, stacks_cap;
	struct htab stacks_idx;
	uint32_t *stack_locs;
	size_t nr_stack_locs, stack_locs_cap;

	struct profile_sample *samples;
	size_t nr_samples, samples_cap;
	struct htab samples_idx;

	/* profile__add()'s location list, kept between calls: no allocation per stack. */
	uint32_t *scratch;
	size_t scratch_cap;
};

/* Index of string S (NULL and "" are 0), or -ENOENT when S is not in the table. */
int profile__find_str(const struct profile *p, const char *s, uint32_t *idx);

/*
 * Grows *ARR (ELSZ-byte entries, *CAP of them) to hold at least NEED, doubling. Returns 0 or
 * -ENOMEM (*ARR unchanged).
 */
int profile_grow(void **arr, size_t *cap, size_t need, size_t elsz);

/*
 * The one name of location LOC in single-string outputs (folded, HTML, SVG, speedscope):
 * its function, "file.py:Qualified.name" for Python, "[module+0xADDR]" without a symbol,
 * "[unknown]" outside every mapping. Written into BUF (LEN bytes); returns BUF.
 */
const char *profile__loc_name(const struct profile *p, uint32_t loc, char *buf, size_t len);

#endif
