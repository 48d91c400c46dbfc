/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OTLP Profiles encoding of window records: one ExportProfilesServiceRequest per batch, with
 * one deduplicated dictionary (every table's entry 0 the zero entry), one ResourceProfiles
 * per workload and one Profile per window record (sample type samples/count, period type
 * cpu/nanoseconds, period from the record, one aggregated value per sample).
 */
#ifndef KILN_EXPORTER_OTLP_H
#define KILN_EXPORTER_OTLP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "profile/wrec.h"

/* OTLP/HTTP clients never send a request above this (before compression). */
#define OTLP_MAX_REQUEST (64u << 20)

struct otlp_opts {
	/* Per-sample process.pid, thread.id and thread.name attributes (series cardinality). */
	bool pid_attributes;
};

struct otlp_enc;

/* Returns 0 and a new empty encoder in *OUT (caller frees), or -ENOMEM. */
int otlp_enc__new(struct otlp_enc **out, const struct otlp_opts *opts);

/*
 * Adds the parsed record V to the current request (V is only read during the call).
 * Returns 0 or -ENOMEM; after an error the encoder must be reset.
 */
int otlp_enc__add(struct otlp_enc *e, const struct wrec_view *v);

/* Bytes the request would have if finished now (a close upper bound). */
size_t otlp_enc__size(const struct otlp_enc *e);

/* Records added, and the sum of their sample counts, since the last reset. */
uint64_t otlp_enc__records(const struct otlp_enc *e);
uint64_t otlp_enc__samples(const struct otlp_enc *e);

/*
 * Writes the request for everything added since the last reset into a malloc'd buffer
 * (*BODY, *LEN; caller frees) and resets the encoder. Returns 0 or -ENOMEM.
 */
int otlp_enc__finish(struct otlp_enc *e, uint8_t **body, size_t *len);

/* Forgets everything added; keeps the memory for the next request. */
void otlp_enc__reset(struct otlp_enc *e);

/* Frees E; NULL is a no-op. */
void otlp_enc__free(struct otlp_enc *e);

#endif
