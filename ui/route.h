/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Request routing for `kiln ui`, kept free of HTTP library types so it can be fuzzed: a
 * method and a raw (still percent-encoded) path in, a route and a decoded workload id out.
 */
#ifndef KILN_UI_ROUTE_H
#define KILN_UI_ROUTE_H

#include <stddef.h>
#include <stdint.h>

/* Longest workload id accepted, decoded, without the NUL. */
#define UI_ID_MAX 1024

enum ui_route_kind {
	UI_R_ASSET = 1, /* GET a web asset (ui_route.asset) */
	UI_R_WORKLOADS, /* GET /api/workloads */
	UI_R_SLOTS, /* GET /api/slots */
	UI_R_SLOT_GET, /* GET /api/slots/{id} */
	UI_R_SLOT_ENABLE, /* POST /api/slots/{id} */
	UI_R_SLOT_DISABLE, /* DELETE /api/slots/{id} */
	UI_R_SLOT_CLEAR, /* POST /api/slots/{id}/clear */
	UI_R_FLAMEGRAPH, /* GET /api/slots/{id}/flamegraph */
	UI_R_SYMBOLS, /* GET /api/slots/{id}/symbols */
	UI_R_METRICS, /* GET /metrics */
	UI_R_HEALTH, /* GET /healthz */
	UI_R_OTLP, /* POST /v1development/profiles */
	UI_R_TIMELINE, /* GET /api/slots/{id}/timeline */
	UI_R_SANDWICH, /* GET /api/slots/{id}/sandwich */
	UI_R_PROFILE, /* GET /api/slots/{id}/profile (download) */
	UI_R_DIFF, /* GET /api/diff */
};

struct ui_asset {
	const char *path; /* "/app.js" */
	const char *type; /* Content-Type */
	const unsigned char *data;
	size_t len;
};

/* The web page, generated from ui/web/ at build time (ui_assets.c). */
extern const struct ui_asset ui_assets[];
extern const size_t ui_nr_assets;

struct ui_route {
	enum ui_route_kind kind;
	const struct ui_asset *asset;
	char id[UI_ID_MAX + 1]; /* decoded workload id for the slot routes */
	const char *error; /* why the request was refused, for the JSON error body */
};

/*
 * Percent-decodes LEN bytes at IN into OUT (OUTLEN bytes, NUL-terminated); '+' is kept
 * (paths, not forms). Returns the decoded length, or -EINVAL (a bad escape or "%00") /
 * -ENAMETOOLONG.
 */
int ui_url_decode(const char *in, size_t len, char *out, size_t outlen);

/*
 * Matches METHOD and PATH (no query string; percent-encoded) to a route. The id may be
 * encoded as one segment ("k8s%2Fshop%2Fdeployment%2Fapi") or contain raw slashes
 * ("k8s/shop/deployment/api"); a trailing "/clear", "/flamegraph" or "/symbols" names the
 * sub-resource. HEAD is served as GET. Returns 0 and fills *R, or the HTTP status to
 * answer: 404 (no such resource), 405 (resource exists, method not allowed) or 400 (bad
 * id), with R->error set.
 */
int ui_route__match(const char *method, const char *path, struct ui_route *r);

/*
 * Parses a diff operand "ID" or "ID@FROM..TO" (FROM, TO: ms since the Unix epoch, either may
 * be empty for "from the first window" / "to the last"; the last '@' followed by such a
 * range splits, so an id may contain '@'). Writes the id into ID (IDLEN bytes) and the
 * bounds into *FROM_MS, *TO_MS (0 and UINT64_MAX when open). Returns 0, or -EINVAL (empty
 * id, FROM > TO) / -ENAMETOOLONG.
 */
int ui_range_spec__parse(const char *s, char *id, size_t idlen, uint64_t *from_ms, uint64_t *to_ms);

#endif
