/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Workloads seen in the input (ring or OTLP), whether or not a slot is open for them: their
 * identity and recent sample rate, for GET /api/workloads. Bounded: past WORKLOADS_MAX the
 * least recently seen one is forgotten. No locking: the caller serializes access.
 */
#ifndef KILN_UI_WORKLOADS_H
#define KILN_UI_WORKLOADS_H

#include <stddef.h>
#include <stdint.h>

#include "profile/wrec.h"
#include "common/strbuf.h"
#include "ui/slots.h"

#define WORKLOADS_MAX 4096
/* Windows remembered per workload for its rate. */
#define WORKLOADS_WINDOWS 16
/* The rate covers windows that ended within this much of now. */
#define WORKLOADS_RATE_NS (30ull * 1000000000ull)

struct workloads;

/* Returns a new empty table, or NULL (ENOMEM). */
struct workloads *workloads__new(void);

/* Frees W; NULL is a no-op. */
void workloads__free(struct workloads *w);

/*
 * Records one window record V received from SOURCE ("ring" or "otlp") at NOW_NS (wall
 * clock): creates or refreshes its workload (key WREC_ID_KEY; records without a key are
 * ignored). Returns 0, -ENOENT (no key) or -ENOMEM.
 */
int workloads__update(struct workloads *w, const struct wrec_view *v, const char *source,
		      uint64_t now_ns);

/* Number of workloads known; forgotten ones are counted in *FORGOTTEN when non-NULL. */
size_t workloads__count(const struct workloads *w, uint64_t *forgotten);

/* True when KEY is known. */
int workloads__has(const struct workloads *w, const char *key);

/*
 * Writes a JSON array, one object per workload, most samples per second first: id, name,
 * kind, identity fields, source, rate (samples/s over the windows that ended in the last
 * WORKLOADS_RATE_NS before NOW_NS), samples, last_seen, and the slot state from S.
 */
void workloads__write_json(const struct workloads *w, const struct slots *s, uint64_t now_ns,
			   struct strbuf *out);

#endif
