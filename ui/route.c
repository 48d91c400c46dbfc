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
		{ "/clear", UI_R_SLOT_CLEAR, "POST" },
		{ "/flamegraph", UI_R_FLAMEGRAPH, "GET" },
		{ "/symbols", UI_R_SYMBOLS, "GET" },
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
