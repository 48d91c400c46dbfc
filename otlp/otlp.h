/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OTLP Profiles (v1development) both ways, in one place:
 *
 *   encode    window records -> one ExportProfilesServiceRequest per batch (kiln export)
 *   decode    an ExportProfilesServiceRequest -> window records (kiln ui's OTLP receiver)
 *   validate  an encoded request against the rules kiln's receivers rely on (tests, checks)
 *   attrs     the one map between a record's identity fields and resource attributes, used
 *             by encode and decode alike
 *
 * Encoding writes protobuf by hand (otlp/pbw.h) with one deduplicated dictionary (every
 * table's entry 0 the zero entry), one ResourceProfiles per workload and one Profile per
 * window record (sample type samples/count, period type cpu/nanoseconds, period from the
 * record, one aggregated value per sample). Decoding and validation use the protobuf-c code
 * generated from proto/, independent of the hand-written encoder, so each checks the other.
 */
#ifndef KILN_OTLP_OTLP_H
#define KILN_OTLP_OTLP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "profile/wrec.h"

/* OTLP/HTTP clients never send a request above this (before compression). */
#define OTLP_MAX_REQUEST (64u << 20)
/*
 * Grafana Pyroscope's default per-profile limits (validation of each converted profile):
 * at most 16,000 samples (sample entries, not their sum) and 4 MiB, measured on the
 * converted profile's encoded bytes before compression. kiln bounds the whole request
 * body (the profile and every dictionary entry it needs) before compression, with 512 KiB
 * left for what the conversion adds (values multiplied by the period grow their varints).
 */
#define OTLP_MAX_PROFILE_SAMPLES 16000u
#define OTLP_PYROSCOPE_MAX_PROFILE_BYTES (4u << 20)
#define OTLP_MAX_PROFILE_BYTES (OTLP_PYROSCOPE_MAX_PROFILE_BYTES - (512u << 10))
/*
 * Resource attributes per ResourceProfiles: Pyroscope refuses a series of more than 30
 * labels and adds four of its own (__name__, service_name, __delta__, __otel__); one more is
 * kept free because service.name is also a label of its own.
 */
#define OTLP_MAX_RESOURCE_ATTRS 25u
/* Names of dropped attributes remembered to log each once. */
#define OTLP_MAX_DROPPED_NAMES 32

/* Largest body a receiver accepts as received (compressed or not), and once inflated. */
#define OTLP_MAX_BODY (16u << 20)
#define OTLP_MAX_INFLATED (64u << 20)

/* ---- Identity <-> resource attributes ---- */

struct otlp_attr {
	enum wrec_id_field field;
	const char *key; /* semantic-convention attribute key, e.g. "k8s.pod.name" */
};

/*
 * The identity fields carried one to one as resource attributes (host.name,
 * process.executable.*, container.id, k8s.namespace/pod/container). Sets *NR. Static.
 * service.name (from the workload name), kiln.workload.key and k8s.<kind>.name are the
 * special cases encode and decode treat on their own.
 */
const struct otlp_attr *otlp_attrs(size_t *nr);

/* The workload kind ("deployment", ...) whose name attribute is KEY ("k8s.<kind>.name"), or NULL. */
const char *otlp_attr__workload_kind(const char *key);

/* Writes "k8s.<KIND>.name" into BUF when KIND is a workload kind OTLP names. Returns 0 or -EINVAL. */
int otlp_attr__workload_key(const char *kind, char *buf, size_t len);

/* ---- Encode ---- */

struct otlp_opts {
	/* Per-sample process.pid, thread.id and thread.name attributes (series cardinality). */
	bool pid_attributes;
	uint32_t max_profile_samples; /* sample entries per Profile; 0: OTLP_MAX_PROFILE_SAMPLES */
	size_t max_request_bytes; /* encoded request, before compression; 0: OTLP_MAX_PROFILE_BYTES */
	uint32_t max_profiles; /* Profile messages per request; 0: no limit */
	uint32_t max_resource_attrs; /* 0: OTLP_MAX_RESOURCE_ATTRS */
};

/* What the encoder cut or left out, since it was created. */
struct otlp_enc_stats {
	uint64_t profiles_split; /* profile parts ended early by a bound (samples or bytes) */
	uint64_t attrs_dropped; /* resource attributes left out for the label limit */
};

struct otlp_enc;

/* Returns 0 and a new empty encoder in *OUT (caller frees), or -ENOMEM. */
int otlp_enc__new(struct otlp_enc **out, const struct otlp_opts *opts);

/*
 * Adds the parsed record V to the current request (V is only read during the call), as one
 * Profile, or several when it has more than max_profile_samples entries. Every Profile has
 * a profile_id that is stable for that part of that record. Returns 0 when all of V is in
 * the request; -ENOSPC when the request reached a bound (bytes, profiles) first: part of V
 * (maybe none) is in it, and the caller finishes the request and calls again with the same
 * V, which continues where it stopped; or -ENOMEM (the encoder must then be reset).
 */
int otlp_enc__add(struct otlp_enc *e, const struct wrec_view *v);

/* Whether a record is half added (otlp_enc__add returned -ENOSPC and wants it again). */
bool otlp_enc__pending(const struct otlp_enc *e);

/*
 * The sample entry at which the half-added record continues (0: none). With
 * otlp_enc__skip_entries(), a restarted exporter leaves out the entries of a record that a
 * previous run already delivered.
 */
uint32_t otlp_enc__resume_entry(const struct otlp_enc *e);

/* Makes the next otlp_enc__add() start at sample entry N of its record. */
void otlp_enc__skip_entries(struct otlp_enc *e, uint32_t n);

/* Copies E's counters into *ST. */
void otlp_enc__stats(const struct otlp_enc *e, struct otlp_enc_stats *st);

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

/* ---- Decode ---- */

/* Receives one record (8-byte aligned, valid during the call). Non-zero stops decoding. */
typedef int (*otlp_emit_fn)(const void *rec, size_t len, void *ctx);

struct otlp_result {
	uint64_t profiles; /* profiles converted and emitted */
	uint64_t samples; /* their sample counts, summed */
	uint64_t skipped; /* profiles without samples, not emitted */
};

/*
 * Inflates the gzip stream IN (LEN bytes) into a malloc'd buffer *OUT (caller frees) of
 * *OUTLEN bytes. Returns 0, -EBADMSG (not gzip, corrupt, trailing garbage), -EFBIG (more
 * than MAX bytes once inflated) or -ENOMEM.
 */
int otlp__gunzip(const void *in, size_t len, size_t max, void **out, size_t *outlen);

/*
 * Decodes BODY as an ExportProfilesServiceRequest and calls EMIT once per profile: each
 * (ResourceProfiles, ScopeProfiles, Profile) becomes one window record. Its workload key is
 * the resource attribute "kiln.workload.key" when present; else "k8s/NS/KIND/NAME" from the
 * k8s.namespace.name and k8s.<kind>.name attributes; else "service/" + service.name.
 * Returns 0 and fills *RES, -EBADMSG with a reason in ERR (not protobuf, an index out of
 * range, an unsupported shape), -ENOMEM, or EMIT's non-zero return.
 */
int otlp__decode(const void *body, size_t len, otlp_emit_fn emit, void *ctx,
		 struct otlp_result *res, char *err, size_t errlen);

/* ---- Validate ---- */

struct otlp_stats {
	uint64_t resources, profiles, samples; /* samples: sum of sample values */
	uint64_t max_profile_samples; /* most sample entries in one profile */
};

/*
 * Checks the LEN bytes at BODY against the rules kiln's receivers rely on: every dictionary
 * table present with the zero entry at index 0, every index in range, non-zero period and
 * cpu/nanoseconds period type, samples of one shape with exactly one value, timestamps
 * inside the profile's span, service.name as a plain-key resource attribute. Returns 0 (and
 * fills *STATS when not NULL), -EBADMSG when they do not decode, or -EINVAL with the first
 * broken rule written to ERR.
 */
int otlp_validate(const void *body, size_t len, struct otlp_stats *stats, char *err, size_t errlen);

/*
 * The time span of the profiles in the encoded request BODY: the earliest time_unix_nano
 * and the latest time_unix_nano + duration_nano, by a scan of the wire format (no copy).
 * Returns 0, -ENOENT when it holds no profile, or -EBADMSG when it does not parse.
 */
int otlp_time_span(const void *body, size_t len, uint64_t *min_ns, uint64_t *max_ns);

#endif
