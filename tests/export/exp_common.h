/* SPDX-License-Identifier: Apache-2.0 */
/* Test helpers for the exporter: deterministic window records, as the agent would write. */
#ifndef KILN_TESTS_EXPORT_COMMON_H
#define KILN_TESTS_EXPORT_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "profile/synth.h"
#include "profile/wrec.h"

/*
 * Builds window SEQ of workload W: NSTACKS distinct stacks (the same ones in every window of
 * W, so W's records share one dictionary) of depth 4..10, 1..13 samples each varying with
 * SEQ, every 9th stack with an unsymbolized frame, 19 Hz; window SEQ starts SEQ seconds
 * after START_NS. Returns the record (malloc'd, 8-aligned, the caller frees it) with *LEN
 * and *TOTAL (its sample count); NULL on failure.
 */
static inline void *exp_make_record_at(uint64_t seq, unsigned int w, unsigned int nstacks,
				       uint64_t start_ns, size_t *len, uint64_t *total)
{
	const struct wrec_synth_opts so = {
		.workload = w,
		.seq = seq,
		.stacks = nstacks,
		.min_depth = nstacks > 1000 ? 12 : 4,
		.max_depth = nstacks > 1000 ? 24 : 10, /* deep enough to be that many */
		.period_ns = 52631578, /* 19 Hz */
		.start_ns = start_ns,
		.unnamed_every = 9,
	};
	void *buf = NULL;

	return wrec_synth__record(&so, &buf, len, total) ? NULL : buf;
}

/* The same at a fixed time (November 2023): the same bytes on every run. */
static inline void *exp_make_record(uint64_t seq, unsigned int w, unsigned int nstacks, size_t *len,
				    uint64_t *total)
{
	return exp_make_record_at(seq, w, nstacks, 1700000000000000000ull, len, total);
}

#endif
