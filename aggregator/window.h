/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One drained sampling window, as the drain loop hands it to its consumer: raw addresses,
 * not yet symbolized. Valid only during the callback; the loop owns every pointer.
 */
#ifndef KILN_AGGREGATOR_WINDOW_H
#define KILN_AGGREGATOR_WINDOW_H

#include <stddef.h>
#include <stdint.h>

struct kiln_raw_sample {
	uint32_t tgid;
	uint32_t pid;
	uint64_t cgroup_id;
	char comm[16];
	uint64_t count;
	const uint64_t *kframes; /* leaf first; kernel addresses */
	const uint64_t *uframes; /* leaf first; user addresses */
	uint32_t nr_kframes;
	uint32_t nr_uframes;
	uint32_t nr_pywords; /* the last NR_PYWORDS of UFRAMES are Python words (bpf/python.h) */
	/* Negative errno when a stack could not be read (e.g. -EFAULT: kernel thread). */
	int32_t kstack_err;
	int32_t ustack_err;
	uint8_t overflowed; /* came through the ring buffer, not the count map */
};

struct kiln_window {
	uint64_t seq; /* 0, 1, 2, ... */
	uint64_t start_ns; /* wall clock (CLOCK_REALTIME) at the window's start */
	uint64_t duration_ns; /* wall time the window covered */
	uint64_t period_ns; /* 1e9 / sampling frequency */
	size_t nr_samples;
	const struct kiln_raw_sample *samples;
	size_t nr_stacks; /* distinct stack ids drained (kernel + user) */
};

#endif
