/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The sampler's state, shared by its files (not a public interface): sampler.c loads,
 * attaches and reads events; drain.c drains a finished window's maps.
 */
#ifndef KILN_AGGREGATOR_SAMPLER_INT_H
#define KILN_AGGREGATOR_SAMPLER_INT_H

#include <stddef.h>
#include <stdint.h>

#include "aggregator/sampler.h"
#include "bpf/profile.skel.h"

/* A ring-buffer sample kept until its window is drained; frames live in the window's pool. */
struct ovf_sample {
	uint32_t tgid, pid;
	uint64_t cgroup_id;
	char comm[KILN_COMM_LEN];
	size_t kframes_off, uframes_off; /* offsets into the pool */
	uint32_t nr_kframes, nr_uframes, nr_pywords;
	int32_t kerr, uerr;
};

struct u64_vec {
	uint64_t *v;
	size_t n, cap;
};

struct pending {
	struct ovf_sample *s;
	size_t n, cap;
	struct u64_vec frames;
};

/* Where a drained stack's frames are in the frame pool; GEN tells this drain's from stale. */
struct stack_slot {
	uint64_t gen;
	size_t off;
	uint32_t n;
};

struct sampler {
	struct profile_bpf *skel;
	struct sampler_opts opts;
	struct bpf_link **links;
	size_t nr_links, links_cap;
	struct ring_buffer *rb;
	sampler_proc_fn proc_fn;
	void *proc_ctx;

	uint32_t gen; /* generation of the window the programs write to (bss `window`) */
	uint64_t seq; /* windows drained */
	uint64_t window_start_ns; /* wall clock at the current window's start */
	struct pending pending[2];

	/* Drain scratch, reused across windows. */
	struct u64_vec frames;
	struct kiln_raw_sample *samples;
	size_t samples_cap;
	struct stack_slot *slots; /* indexed by stack id (< stack map buckets) */
	size_t nr_slots;
	uint64_t *stack_buf;
	uint32_t *sweep; /* stack ids left in a drained map */
	size_t sweep_cap;
	/* The cslots and ustacks arrays, mapped read-only: two windows of slot_half slots. */
	const struct kiln_count_slot *cslots;
	const struct kiln_ustack *ustacks;
	size_t cslots_bytes, ustacks_bytes;
	uint32_t slot_half;
	struct unwinder *uw;
	struct pyprocs *py;
	uint32_t remapped[64]; /* processes that mapped code since the last flush */
	size_t nr_remapped;
	bool no_stack_lad; /* the kernel lacks lookup_and_delete for stack maps */

	uint64_t stacks_total;
	uint64_t ev_lost_seen; /* proc_events_lost at the last sweep decision */
	uint32_t sweep_fast; /* windows left to sweep at the fast budget */
	int possible_cpus;
	uint64_t *percpu; /* scratch for per-CPU metric values */
};

/* Grows *V (of *CAP elements of ELEM bytes) to hold NEED. Returns 0 or -ENOMEM. */
int sampler_vec_reserve(void **v, size_t *cap, size_t need, size_t elem);

/* Appends N words of SRC to VEC; *OFF is where they start. Returns 0 or -ENOMEM. */
int sampler_u64_append(struct u64_vec *vec, const uint64_t *src, size_t n, size_t *off);

#endif
