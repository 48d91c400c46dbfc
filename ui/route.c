// SPDX-License-Identifier: Apache-2.0
#include "ui/route.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int ui_url_decode(const char *in, size_t len, char *out, size_t outlen)
{
	size_t i, n = 0;
	int hi, lo;
	char c;

	for (i = 0; i < len; i++) {
		c = in[i];
		if (c == '%') {
			if (i + 2 >= len)
				return -EINVAL;
			hi = hexval(in[i + 1]);
			lo = hexval(in[i + 2]);
			if (hi < 0 || lo < 0)
				return -EINVAL;
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		/* An embedded NUL would make the id differ from what C strings compare. */
		if (!c)
			return -EINVAL;
		if (n + 1 >= outlen)
			return -ENAMETOOLONG;
		out[n++] = c;
	}
	if (n >= outlen)
		return -ENAMETOOLONG;
	out[n] = 0;
	return (int)n;
}

static bool is(const char *m, const char *want)
{
	return !strcmp(m, want);
}

static int refuse(struct ui_route *r, int status, const char *why)
{
	r->error = why;
	return status;
}

static int match_slot(const char *method, const char *rest, struct ui_route *r)
{
	static const struct {
		const char *suffix;
		enum ui_route_kind kind;
		const char *method;
	} subs[] = {
		{ "/clear", UI_R_SLOT_CLEAR, "POST" }, { "/flamegraph", UI_R_FLAMEGRAPH, "GET" },
		{ "/symbols", UI_R_SYMBOLS, "GET" },   { "/timeline", UI_R_TIMELINE, "GET" },
		{ "/sandwich", UI_R_SANDWICH, "GET" }, { "/profile", UI_R_PROFILE, "GET" },
	};
	size_t len = strlen(rest), i, sl;
	bool get = is(method, "GET") || is(method, "HEAD");
	int n;

	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		sl = strlen(subs[i].suffix);
		if (len > sl && !strcmp(rest + len - sl, subs[i].suffix)) {
			len -= sl;
			if (!(is(method, subs[i].method) || (get && is(subs[i].method, "GET"))))
				return refuse(r, 405, "method not allowed on this resource");
			r->kind = subs[i].kind;
			break;
		}
	}
	if (!r->kind) {
		if (get)
			r->kind = UI_R_SLOT_GET;
		else if (is(method, "POST"))
			r->kind = UI_R_SLOT_ENABLE;
		else if (is(method, "DELETE"))
			r->kind = UI_R_SLOT_DISABLE;
		else
			return refuse(r, 405, "method not allowed on a slot (GET, POST, DELETE)");
	}
	/* Strip one trailing slash of the id itself: ".../api/" and ".../api" are one slot. */
	if (len && rest[len - 1] == '/')
		len--;
	n = ui_url_decode(rest, len, r->id, sizeof(r->id));
	if (n == -ENAMETOOLONG)
		return refuse(r, 400, "workload id too long");
	if (n < 0)
		return refuse(r, 400, "bad percent-encoding in the workload id");
	if (!n)
		return refuse(r, 400, "empty workload id");
	return 0;
}

int ui_route__match(const char *method, const char *path, struct ui_route *r)
{
	bool get = is(method, "GET") || is(method, "HEAD");
	size_t i;

	memset(r, 0, sizeof(*r));
	if (!strncmp(path, "/api/slots/", 11))
		return match_slot(method, path + 11, r);
	if (is(path, "/api/workloads")) {
		r->kind = UI_R_WORKLOADS;
	} else if (is(path, "/api/slots") || is(path, "/api/slots/")) {
		r->kind = UI_R_SLOTS;
	} else if (is(path, "/api/diff")) {
		r->kind = UI_R_DIFF;
	} else if (is(path, "/metrics")) {
		r->kind = UI_R_METRICS;
	} else if (is(path, "/healthz")) {
		r->kind = UI_R_HEALTH;
	} else if (is(path, "/v1development/profiles")) {
		if (!is(method, "POST"))
			return refuse(r, 405, "OTLP profiles are POSTed");
		r->kind = UI_R_OTLP;
		return 0;
	} else {
		for (i = 0; i < ui_nr_assets; i++) {
			if (is(path, ui_assets[i].path) ||
			    (is(path, "/") && is(ui_assets[i].path, "/index.html"))) {
				r->kind = UI_R_ASSET;
				r->asset = &ui_assets[i];
				break;
			}
		}
		if (!r->kind)
			return refuse(r, 404, "no such resource");
	}
	if (!get)
		return refuse(r, 405, "method not allowed on this resource (GET only)");
	return 0;
}

/* Parses LEN digits at S (none: DEF) into *OUT. Returns 0 or -EINVAL. */
static int ms_part(const char *s, size_t len, uint64_t def, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	*out = def;
	if (!len)
		return 0;
	if (len > 15) /* ms since the epoch have 13 digits until the year 2286 */
		return -EINVAL;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

int ui_range_spec__parse(const char *s, char *id, size_t idlen, uint64_t *from_ms, uint64_t *to_ms)
{
	const char *at = strrchr(s, '@'), *dots;
	size_t n = strlen(s);

	*from_ms = 0;
	*to_ms = UINT64_MAX;
	if (at) {
		dots = strstr(at + 1, "..");
		if (dots && !ms_part(at + 1, (size_t)(dots - at - 1), 0, from_ms) &&
		    !ms_part(dots + 2, strlen(dots + 2), UINT64_MAX, to_ms))
			n = (size_t)(at - s);
		else
			*from_ms = 0, *to_ms = UINT64_MAX;
	}
	if (!n || *from_ms > *to_ms)
		return -EINVAL;
	if (n >= idlen)
		return -ENAMETOOLONG;
	memcpy(id, s, n);
	id[n] = 0;
	return 0;
}
