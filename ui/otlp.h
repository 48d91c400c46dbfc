/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The UI's OTLP receiver, minus HTTP: a POST /v1development/profiles body (gzip or plain
 * ExportProfilesServiceRequest protobuf) turned into window records, so OTLP input lands in
 * the slots as the same kind of chunk as the ring's.
 *
 * Each (ResourceProfiles, ScopeProfiles, Profile) becomes one record. Its workload key is
 * the resource attribute "kiln.workload.key" when present; else "k8s/NS/KIND/NAME" from the
 * k8s.namespace.name and k8s.<kind>.name attributes; else "service/" + service.name.
 */
#ifndef KILN_UI_OTLP_H
#define KILN_UI_OTLP_H

#include <stddef.h>
#include <stdint.h>

/* Largest body accepted as received (compressed or not), and once inflated. */
#define OTLP_MAX_BODY (16u << 20)
#define OTLP_MAX_INFLATED (64u << 20)

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
 * Decodes BODY as an ExportProfilesServiceRequest and calls EMIT once per profile. Returns
 * 0 and fills *RES, -EBADMSG with a reason in ERR (not protobuf, an index out of range,
 * an unsupported shape), -ENOMEM, or EMIT's non-zero return.
 */
int otlp__decode(const void *body, size_t len, otlp_emit_fn emit, void *ctx,
		 struct otlp_result *res, char *err, size_t errlen);

#endif
