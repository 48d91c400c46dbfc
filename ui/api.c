// SPDX-License-Identifier: Apache-2.0
/*
 * The investigation endpoints of `kiln ui`: every view is rebuilt from the slot's chunks (one
 * window record each) whose window starts inside the requested range, so a range needs no
 * state beyond the chunks the slot keeps anyway (bounded by PROFILES_SLOT_MAX_BYTES, the
 * oldest dropped first and counted).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile/wrec.h"
#include "ui/api.h"
#include "ui/flame.h"

#define NO_SLOT "no slot for this workload (POST /api/slots/{id} enables one)"
#define MS 1000000ull

/* A time range on the windows' start, in ns since the epoch: [from, to). */
struct range {
	uint64_t from, to;
};

static bool in_range(const void *chunk, const struct range *r)
{
	return flame_window_in_range(chunk, r->from, r->to);
}

/* from/to query arguments (ms since the epoch) into *R. Returns 0 or -EINVAL. */
static int query_range(struct MHD_Connection *conn, struct range *r)
{
	uint64_t from, to;

	if (ui_query_u64(conn, "from", 0, UINT64_MAX / MS, 0, &from) ||
	    ui_query_u64(conn, "to", 0, UINT64_MAX, UINT64_MAX, &to) || from > to)
		return -EINVAL;
	r->from = from * MS;
	r->to = to >= UINT64_MAX / MS ? UINT64_MAX : to * MS;
	return 0;
}

/*
 * Query argument NAME, percent-decoded into BUF (the server leaves the URL encoded so that
 * a workload id keeps its %2F; '+' stays '+'). Returns BUF, or NULL when absent or bad.
 */
static const char *query_str(struct MHD_Connection *conn, const char *name, char *buf, size_t len)
{
	const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);

	if (!v || ui_url_decode(v, strlen(v), buf, len) < 0)
		return NULL;
	return buf;
}

#define RANGE_ERROR "from/to: expected ms since the Unix epoch with from <= to"

struct fill {
	struct flame *f;
	struct range r;
	uint64_t all; /* samples of the chunks in range, whatever the flame keeps */
	uint64_t chunks;
};

static int fill_chunk(const void *chunk, size_t len, void *ctx)
{
	struct fill *fl = ctx;
	int err;

	if (!in_range(chunk, &fl->r))
		return 0;
	fl->chunks++;
	fl->all += ((const struct wrec_header *)chunk)->total;
	err = flame__add_record(fl->f, chunk, len);
	/* Chunks were validated on the way in; only memory can fail here. */
	return err == -ENOMEM ? err : 0;
}

/* Reads ID's chunks in range into FL under the lock. Returns 0, -ENOENT or -ENOMEM. */
static int fill(struct ui *u, const char *id, struct fill *fl, struct slot_info *si)
{
	int err;

	pthread_mutex_lock(&u->lock);
	err = slots__read(u->slots, id, fill_chunk, fl);
	if (!err && si)
		slots__info(u->slots, id, si);
	pthread_mutex_unlock(&u->lock);
	return err;
}

static enum MHD_Result fill_error(struct ui *u, struct MHD_Connection *conn, int err)
{
	if (err == -ENOENT)
		return ui_json_error(u, conn, 404, NO_SLOT);
	return ui_json_error(u, conn, 500, strerror(-err));
}

static int query_max_nodes(struct MHD_Connection *conn, uint64_t *max_nodes)
{
	return ui_query_u64(conn, "max_nodes", 2, FLAME_MAX_NODES_LIMIT, FLAME_DEFAULT_MAX_NODES,
			    max_nodes);
}

#define MAX_NODES_ERROR "max_nodes: expected a number in [2, 100000]"

static void write_range(struct strbuf *b, const struct range *r)
{
	strbuf__printf(b, ",\"from\":%llu,\"to\":", (unsigned long long)(r->from / MS));
	if (r->to == UINT64_MAX)
		strbuf__append(b, "null", 4);
	else
		strbuf__printf(b, "%llu", (unsigned long long)(r->to / MS));
}

/*
 * Sends the JSON body built in B (taken over: sent or released), or a 500 naming ERR when
 * building it failed.
 */
static enum MHD_Result respond_built(struct ui *u, struct MHD_Connection *conn, struct strbuf *b,
				     int err)
{
	if (err) {
		strbuf__release(b);
		return ui_json_error(u, conn, 500, strerror(-err));
	}
	return ui_respond_sbuf(u, conn, 200, "application/json", b);
}

enum MHD_Result ui_api__view(struct ui *u, struct MHD_Connection *conn, const struct ui_route *r)
{
	const char *sort_s = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "sort");
	struct fill fl = { .f = flame__new() };
	enum flame_sort sort = FLAME_SORT_SELF;
	struct slot_info si = { 0 };
	struct strbuf b = { 0 };
	uint64_t max_nodes = 0, limit = 0;
	size_t written = 0, nsym = 0;
	bool with_symbols;
	enum MHD_Result ret;
	int err = 0;

	if (!fl.f)
		return ui_json_error(u, conn, 500, "out of memory");
	if (query_range(conn, &fl.r)) {
		ret = ui_json_error(u, conn, 400, RANGE_ERROR);
		goto cleanup;
	}
	if (r->kind == UI_R_FLAMEGRAPH && query_max_nodes(conn, &max_nodes)) {
		ret = ui_json_error(u, conn, 400, MAX_NODES_ERROR);
		goto cleanup;
	}
	/* The flame graph can carry the table too (symbols=N rows): one rebuild, not two. */
	with_symbols = r->kind == UI_R_SYMBOLS ||
		       MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "symbols");
	if (with_symbols) {
		if (ui_query_u64(conn, r->kind == UI_R_SYMBOLS ? "limit" : "symbols", 0, 1000000, 0,
				 &limit)) {
			ret = ui_json_error(u, conn, 400,
					    "limit, symbols: expected a number in [0, 1000000]");
			goto cleanup;
		}
		if (sort_s && !strcmp(sort_s, "total")) {
			sort = FLAME_SORT_TOTAL;
		} else if (sort_s && strcmp(sort_s, "self")) {
			ret = ui_json_error(u, conn, 400, "sort: expected self or total");
			goto cleanup;
		}
	}
	err = fill(u, r->id, &fl, &si);
	if (err) {
		ret = fill_error(u, conn, err);
		goto cleanup;
	}
	strbuf__append(&b, "{\"id\":", 6);
	strbuf__json_str(&b, r->id);
	write_range(&b, &fl.r);
	strbuf__printf(&b, ",\"total\":%llu,\"chunks\":%llu,\"windows\":%llu,\"bytes\":%llu,",
		       (unsigned long long)flame__total(fl.f), (unsigned long long)si.chunks,
		       (unsigned long long)fl.chunks, (unsigned long long)si.bytes);
	if (r->kind == UI_R_FLAMEGRAPH) {
		strbuf__append(&b, "\"tree\":", 7);
		err = flame__write_tree(fl.f, &b, max_nodes, &written);
		strbuf__printf(&b, ",\"nodes\":%zu,\"max_nodes\":%llu,\"truncated\":%s%s", written,
			       (unsigned long long)max_nodes,
			       written < flame__nr_nodes(fl.f) ? "true" : "false",
			       with_symbols ? "," : "");
	}
	if (with_symbols && !err) {
		strbuf__printf(&b, "\"sort\":\"%s\",\"symbols\":",
			       sort == FLAME_SORT_TOTAL ? "total" : "self");
		err = flame__write_symbols(fl.f, &b, sort, limit, &nsym);
		strbuf__printf(&b, ",\"nr_symbols\":%zu", nsym);
	}
	strbuf__append(&b, "}\n", 2);
	ret = respond_built(u, conn, &b, err);
cleanup:
	flame__free(fl.f);
	return ret;
}

struct tl_entry {
	uint64_t start, duration, samples;
};

struct timeline {
	struct tl_entry *v;
	size_t nr, cap;
	int err;
};

static int timeline_chunk(const void *chunk, size_t len, void *ctx)
{
	const struct wrec_header *h = chunk;
	struct timeline *t = ctx;
	struct tl_entry *nv;

	(void)len;
	if (t->nr == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 256;
		nv = realloc(t->v, t->cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		t->v = nv;
	}
	t->v[t->nr++] = (struct tl_entry){ h->start_ns, h->duration_ns, h->total };
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct tl_entry *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/*
 * Writes the windows oldest first: chunks arrive in the order their producer published
 * them, which need not be their windows' order (several producers, a late flush); chunks
 * of one window (several OTLP profiles) are summed.
 */
static void timeline_write(struct timeline *t, struct strbuf *b)
{
	size_t i, j, n = 0;

	if (t->nr) /* qsort() with no array is undefined, even for zero entries */
		qsort(t->v, t->nr, sizeof(*t->v), cmp_entry);
	for (i = 0; i < t->nr; i = j) {
		struct tl_entry e = t->v[i];

		for (j = i + 1; j < t->nr && t->v[j].start == e.start; j++) {
			e.samples += t->v[j].samples;
			if (t->v[j].duration > e.duration)
				e.duration = t->v[j].duration;
		}
		strbuf__printf(b, "%s{\"t\":%llu,\"d\":%llu,\"samples\":%llu}", n++ ? "," : "",
			       (unsigned long long)(e.start / MS),
			       (unsigned long long)(e.duration / MS),
			       (unsigned long long)e.samples);
	}
}

enum MHD_Result ui_api__timeline(struct ui *u, struct MHD_Connection *conn,
				 const struct ui_route *r)
{
	struct strbuf b = { 0 };
	struct timeline t = { 0 };
	struct slot_info si = { 0 };
	int err;

	strbuf__append(&b, "{\"id\":", 6);
	strbuf__json_str(&b, r->id);
	strbuf__append(&b, ",\"windows\":[", 12);
	pthread_mutex_lock(&u->lock);
	err = slots__read(u->slots, r->id, timeline_chunk, &t);
	if (!err)
		slots__info(u->slots, r->id, &si);
	pthread_mutex_unlock(&u->lock);
	if (!err)
		timeline_write(&t, &b);
	free(t.v);
	if (err) {
		strbuf__release(&b);
		return fill_error(u, conn, err);
	}
	strbuf__printf(&b,
		       "],\"chunks\":%llu,\"bytes\":%llu,\"max_bytes\":%llu,\"dropped\":%llu,"
		       "\"refused\":%llu}\n",
		       (unsigned long long)si.chunks, (unsigned long long)si.bytes,
		       (unsigned long long)u->o.slots.max_bytes, (unsigned long long)si.dropped,
		       (unsigned long long)si.refused);
	return ui_respond_sbuf(u, conn, 200, "application/json", &b);
}

enum MHD_Result ui_api__sandwich(struct ui *u, struct MHD_Connection *conn,
				 const struct ui_route *r)
{
	char nbuf[1024];
	const char *name = query_str(conn, "name", nbuf, sizeof(nbuf));
	struct fill up = { .f = flame__new() }, down = { .f = flame__new() };
	struct strbuf b = { 0 };
	uint64_t max_nodes = 0;
	enum MHD_Result ret;
	int err;

	if (!up.f || !down.f) {
		ret = ui_json_error(u, conn, 500, "out of memory");
		goto cleanup;
	}
	if (!name || !*name) {
		ret = ui_json_error(u, conn, 400,
				    "name: the function's name is required (percent-encoded, "
				    "at most 1023 bytes)");
		goto cleanup;
	}
	if (query_range(conn, &up.r) || query_max_nodes(conn, &max_nodes)) {
		ret = ui_json_error(u, conn, 400, RANGE_ERROR "; " MAX_NODES_ERROR);
		goto cleanup;
	}
	down.r = up.r;
	err = flame__set_focus(up.f, name, FLAME_MODE_CALLERS);
	if (!err)
		err = flame__set_focus(down.f, name, FLAME_MODE_CALLEES);
	if (!err)
		err = fill(u, r->id, &up, NULL);
	if (!err)
		err = fill(u, r->id, &down, NULL);
	if (err) {
		ret = fill_error(u, conn, err);
		goto cleanup;
	}
	strbuf__append(&b, "{\"id\":", 6);
	strbuf__json_str(&b, r->id);
	strbuf__append(&b, ",\"name\":", 8);
	strbuf__json_str(&b, name);
	write_range(&b, &up.r);
	strbuf__printf(&b, ",\"total\":%llu,\"all\":%llu,\"callers\":",
		       (unsigned long long)flame__total(up.f), (unsigned long long)up.all);
	err = flame__write_tree(up.f, &b, max_nodes, NULL);
	strbuf__append(&b, ",\"callees\":", 11);
	if (!err)
		err = flame__write_tree(down.f, &b, max_nodes, NULL);
	strbuf__append(&b, "}\n", 2);
	ret = respond_built(u, conn, &b, err);
cleanup:
	flame__free(up.f);
	flame__free(down.f);
	return ret;
}

/* One side of a diff: its operand, parsed, and what was read. */
struct side {
	char spec[UI_ID_MAX + 64];
	char id[UI_ID_MAX + 1];
	struct fill fl;
};

static int diff_side(struct MHD_Connection *conn, const char *name, struct side *s)
{
	uint64_t from, to;

	if (!query_str(conn, name, s->spec, sizeof(s->spec)) ||
	    ui_range_spec__parse(s->spec, s->id, sizeof(s->id), &from, &to))
		return -EINVAL;
	s->fl.r.from = from >= UINT64_MAX / MS ? UINT64_MAX : from * MS;
	s->fl.r.to = to >= UINT64_MAX / MS ? UINT64_MAX : to * MS;
	return 0;
}

static void write_side(struct strbuf *b, const char *name, const struct side *s, uint64_t total)
{
	strbuf__printf(b, "\"%s\":{\"id\":", name);
	strbuf__json_str(b, s->id);
	write_range(b, &s->fl.r);
	strbuf__printf(b, ",\"total\":%llu,\"windows\":%llu},", (unsigned long long)total,
		       (unsigned long long)s->fl.chunks);
}

enum MHD_Result ui_api__diff(struct ui *u, struct MHD_Connection *conn)
{
	struct side a = { 0 }, b = { 0 };
	struct flame *f = flame__new();
	struct strbuf out = { 0 };
	uint64_t max_nodes = 0, limit = 0;
	size_t written = 0, nsym = 0;
	enum MHD_Result ret;
	int err;

	if (!f)
		return ui_json_error(u, conn, 500, "out of memory");
	if (diff_side(conn, "a", &a) || diff_side(conn, "b", &b)) {
		ret = ui_json_error(
			u, conn, 400,
			"a, b: expected ID or ID@FROM..TO (ms since the Unix epoch, "
			"either may be empty), e.g. a=unit%2Fapi.service@1700000000000..");
		goto cleanup;
	}
	if (query_max_nodes(conn, &max_nodes) ||
	    ui_query_u64(conn, "limit", 0, 1000000, 0, &limit)) {
		ret = ui_json_error(u, conn, 400, MAX_NODES_ERROR "; limit in [0, 1000000]");
		goto cleanup;
	}
	a.fl.f = b.fl.f = f;
	err = fill(u, a.id, &a.fl, NULL);
	if (err == -ENOENT) {
		ret = ui_json_error(u, conn, 404, "a: " NO_SLOT);
		goto cleanup;
	}
	flame__set_side(f, 1);
	if (!err)
		err = fill(u, b.id, &b.fl, NULL);
	if (err == -ENOENT) {
		ret = ui_json_error(u, conn, 404, "b: " NO_SLOT);
		goto cleanup;
	}
	if (err) {
		ret = fill_error(u, conn, err);
		goto cleanup;
	}
	strbuf__append(&out, "{", 1);
	write_side(&out, "a", &a, flame__total(f));
	write_side(&out, "b", &b, flame__total_b(f));
	strbuf__append(&out, "\"tree\":", 7);
	err = flame__write_tree(f, &out, max_nodes, &written);
	strbuf__printf(&out, ",\"nodes\":%zu,\"truncated\":%s,\"symbols\":", written,
		       written < flame__nr_nodes(f) ? "true" : "false");
	if (!err)
		err = flame__write_diff_symbols(f, &out, limit, &nsym);
	strbuf__printf(&out, ",\"nr_symbols\":%zu}\n", nsym);
	ret = respond_built(u, conn, &out, err);
cleanup:
	flame__free(f);
	return ret;
}
