/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The producer's counters in the ring header, looked up one way: by id or by name, or
 * iterated with each counter's group and whether a non-zero value is a problem. The table
 * behind it is common/counters.def, the one definition of every counter.
 */
#ifndef KILN_SHM_COUNTERS_H
#define KILN_SHM_COUNTERS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "shm/shm.h"

enum kiln_counter {
#define KILN_COUNTER(src, id, name, type, group, problem, help) KILN_C_##id,
#include "common/counters.def"
	KILN_C_NR,
};

/* Where kiln status shows a counter, in display order. */
enum kiln_counter_group {
	KILN_CG_SAMPLES,
	KILN_CG_KERNEL,
	KILN_CG_RECORDS,
	KILN_CG_SYMBOLS,
	KILN_CG_UNWIND,
	KILN_CG_PYTHON,
	KILN_CG_CONFIG,
	KILN_CG_OTHER, /* a name this build does not know (a newer agent's) */
	KILN_CG_NR,
};

struct kiln_counter_info {
	enum kiln_counter id;
	const char *name;
	enum kiln_counter_group group;
	bool problem; /* non-zero means data was lost or something failed */
	bool bpf; /* counted by the BPF program (id is also its enum kiln_metric) */
	bool gauge; /* a current amount, not a running total */
	const char *help;
};

/* The table entry of ID, or NULL when ID is out of range. Static storage. */
const struct kiln_counter_info *kiln_counter__info(enum kiln_counter id);

/* The table entry named NAME, or NULL when this build does not know the name. */
const struct kiln_counter_info *kiln_counter__by_name(const char *name);

/* Title ("drops and errors" aside: "samples", "kernel", ...) and JSON key of GROUP. */
const char *kiln_counter_group__title(enum kiln_counter_group g);
const char *kiln_counter_group__key(enum kiln_counter_group g);

/*
 * The value of counter ID in header H. Returns 0 and sets *V, or -ENOENT when the producer
 * did not publish it (an older agent, or H NULL).
 */
int shm_counters__get(const struct shm_hdr *h, enum kiln_counter id, uint64_t *v);

/* The same by published NAME, for any counter in the header, known to this build or not. */
int shm_counters__get_name(const struct shm_hdr *h, const char *name, uint64_t *v);

/* The value of ID in H, 0 when absent: for displays that show absent as zero. */
uint64_t shm_counters__value(const struct shm_hdr *h, enum kiln_counter id);

/*
 * Writes the Prometheus text (HELP, TYPE, value) of every counter with HAVE[id] set, named
 * PREFIX + name (+ "_total" for counters), values from V. Returns 0 or -EIO.
 */
int kiln_counters__write_prometheus(FILE *f, const char *prefix, const uint64_t v[KILN_C_NR],
				    const bool have[KILN_C_NR]);

/* One published counter, as shm_counters__next() hands it out. */
struct shm_counter_entry {
	char name[SHM_COUNTER_NAME]; /* NUL-terminated copy */
	uint64_t value;
	const struct kiln_counter_info *info; /* NULL: unknown to this build */
	enum kiln_counter_group group; /* info's, or KILN_CG_OTHER */
	bool problem; /* info's, or false */
};

/*
 * Iterates over the counters published in H, in header order: start with *POS = 0; each
 * call fills *E and returns 1, then 0 at the end.
 */
int shm_counters__next(const struct shm_hdr *h, int *pos, struct shm_counter_entry *e);

#endif
