/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Synthetic window records for benchmarks and tests (kiln-bench export, tests/export): the
 * profile of one window of one made-up Kubernetes workload, encoded as the agent encodes
 * it. Deterministic: the same options give the same bytes on every run and machine.
 *
 * Stacks look like a server's: five shared outermost frames (start-up and event loop), then
 * a walk through a call graph of 400 functions in the app binary, libc and libssl with a
 * few callees each, so stacks share prefixes as real ones do; 30 % end in 3..6 kernel
 * frames. Not linked into kiln itself: only programs that call it pull it from the library.
 */
#ifndef KILN_PROFILE_SYNTH_H
#define KILN_PROFILE_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#define WREC_SYNTH_MAX_DEPTH 32

struct wrec_synth_opts {
	unsigned int workload; /* W: identity svc-W (pod, container, tgid) and its functions */
	uint64_t seq; /* window sequence number: start time, and which stacks (see universe) */
	unsigned int stacks; /* distinct stacks in the record, >= 1 */
	/*
	 * Stacks the workload has, >= stacks: window SEQ shows `stacks` consecutive ones from
	 * an offset that moves with SEQ. 0 or == stacks: every window shows the same stacks
	 * (so records of one workload share their whole dictionary).
	 */
	unsigned int universe;
	unsigned int min_depth, max_depth; /* frames per stack, 1..WREC_SYNTH_MAX_DEPTH */
	/*
	 * Samples in the record, >= stacks: every stack once, the rest skewed towards a few
	 * hot ones. 0: each stack gets 1..13 samples, a count that changes with SEQ.
	 */
	uint64_t samples;
	uint64_t period_ns; /* sampling period, e.g. 52631578 (19 Hz) */
	uint64_t start_ns; /* start of window 0; window SEQ starts SEQ seconds later */
	unsigned int unnamed_every; /* every Nth stack has a frame no symbol covered; 0: none */
};

/*
 * Builds the record *O describes. Returns 0 with *OUT (malloc'd, 8-byte aligned, the caller
 * frees it), its size in *LEN and its sample count in *TOTAL; -EINVAL when an option is out
 * of range, or -ENOMEM.
 */
int wrec_synth__record(const struct wrec_synth_opts *o, void **out, size_t *len, uint64_t *total);

#endif
