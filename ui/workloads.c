// SPDX-License-Identifier: Apache-2.0
#include "ui/workloads.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "symbolize/htab.h"

struct win {
	uint64_t start_ns, end_ns, total;
};

struct wl {
	char *id[WREC_ID_NR];
	uint64_t cgroup_id;
	const char *source;
	uint64_t first_seen_ns, last_seen_ns;
	uint64_t samples, records;
	struct win win[WORKLOADS_WINDOWS];
	size_t nr_win, next_win;
};

struct workloads {
	struct wl *v;
	size_t nr, cap;
	struct htab idx; /* hash of the key -> index in v */
	uint64_t forgotten;
};

/* JSON names of the identity fields, in enum wrec_id_field order. */
static const char *const id_names[WREC_ID_NR] = {
	[WREC_ID_KEY] = "id",
	[WREC_ID_NAME] = "name",
	[WREC_ID_KIND] = "kind",
	[WREC_ID_HOST] = "host",
	[WREC_ID_EXE_NAME] = "executable",
	[WREC_ID_EXE_PATH] = "executable_path",
	[WREC_ID_CONTAINER_ID] = "container_id",
	[WREC_ID_UNIT] = "unit",
	[WREC_ID_K8S_NAMESPACE] = "namespace",
	[WREC_ID_K8S_POD] = "pod",
	[WREC_ID_K8S_POD_UID] = "pod_uid",
	[WREC_ID_K8S_CONTAINER] = "container",
	[WREC_ID_K8S_WL_KIND] = "workload_kind",
	[WREC_ID_K8S_WL_NAME] = "workload_name",
	[WREC_ID_CGROUP] = "cgroup",
};

static bool key_eq(uint64_t val, const void *key, void *ctx)
{
	const struct workloads *w = ctx;

	return !strcmp(w->v[val].id[WREC_ID_KEY], key);
}

static uint64_t key_hash(const char *key)
{
	return htab_hash_bytes(key, strlen(key), 7);
}

static struct wl *find(const struct workloads *w, const char *key)
{
	uint64_t val;

	if (!htab__find(&w->idx, key_hash(key), key_eq, key, (void *)w, &val))
		return NULL;
	return &w->v[val];
}

struct workloads *workloads__new(void)
{
	return calloc(1, sizeof(struct workloads));
}

static void wl__release(struct wl *l)
{
	int i;

	for (i = 0; i < WREC_ID_NR; i++)
		free(l->id[i]);
}

void workloads__free(struct workloads *w)
{
	size_t i;

	if (!w)
		return;
	for (i = 0; i < w->nr; i++)
		wl__release(&w->v[i]);
	free(w->v);
	htab__release(&w->idx);
	free(w);
}

/* Forgets the least recently seen workload; the last entry takes its index. */
static void forget_oldest(struct workloads *w)
{
	size_t i, old = 0, last = w->nr - 1;

	for (i = 1; i < w->nr; i++)
		if (w->v[i].last_seen_ns < w->v[old].last_seen_ns)
			old = i;
	htab__remove(&w->idx, key_hash(w->v[old].id[WREC_ID_KEY]), old);
	wl__release(&w->v[old]);
	if (old != last) {
		htab__remove(&w->idx, key_hash(w->v[last].id[WREC_ID_KEY]), last);
		w->v[old] = w->v[last];
		/* Cannot fail: an entry was just removed, so the table has room. */
		htab__insert(&w->idx, key_hash(w->v[old].id[WREC_ID_KEY]), old);
	}
	w->nr--;
	w->forgotten++;
}

/* Sets identity field I of L from V, keeping the old value when V does not know it. */
static int set_id(struct wl *l, const struct wrec_view *v, int i)
{
	const char *s = wrec_view__id(v, i);
	char *c;

	if (!*s || (l->id[i] && !strcmp(l->id[i], s)))
		return 0;
	c = strdup(s);
	if (!c)
		return -ENOMEM;
	free(l->id[i]);
	l->id[i] = c;
	return 0;
}

int workloads__update(struct workloads *w, const struct wrec_view *v, const char *source,
		      uint64_t now_ns)
{
	const char *key = wrec_view__id(v, WREC_ID_KEY);
	const struct wrec_header *h = v->hdr;
	struct wl *l, *nv;
	size_t i;
	int err;

	if (!*key)
		return -ENOENT;
	l = find(w, key);
	if (!l) {
		if (w->nr >= WORKLOADS_MAX)
			forget_oldest(w);
		if (w->nr == w->cap) {
			nv = realloc(w->v, (w->cap ? w->cap * 2 : 16) * sizeof(*nv));
			if (!nv)
				return -ENOMEM;
			w->v = nv;
			w->cap = w->cap ? w->cap * 2 : 16;
		}
		l = &w->v[w->nr];
		memset(l, 0, sizeof(*l));
		l->id[WREC_ID_KEY] = strdup(key);
		if (!l->id[WREC_ID_KEY])
			return -ENOMEM;
		if (htab__insert(&w->idx, key_hash(key), w->nr)) {
			free(l->id[WREC_ID_KEY]);
			return -ENOMEM;
		}
		w->nr++;
		l->first_seen_ns = now_ns;
	}
	for (i = 1; i < WREC_ID_NR; i++) {
		err = set_id(l, v, (int)i);
		if (err)
			return err;
	}
	if (h->cgroup_id)
		l->cgroup_id = h->cgroup_id;
	l->source = source;
	l->last_seen_ns = now_ns;
	l->samples += h->total;
	l->records++;
	/* A window split into partial records shares one start: count it as one window. */
	for (i = 0; i < l->nr_win; i++) {
		if (l->win[i].start_ns == h->start_ns) {
			l->win[i].total += h->total;
			return 0;
		}
	}
	l->win[l->next_win] = (struct win){ h->start_ns, h->start_ns + h->duration_ns, h->total };
	l->next_win = (l->next_win + 1) % WORKLOADS_WINDOWS;
	if (l->nr_win < WORKLOADS_WINDOWS)
		l->nr_win++;
	return 0;
}

size_t workloads__count(const struct workloads *w, uint64_t *forgotten)
{
	if (forgotten)
		*forgotten = w->forgotten;
	return w->nr;
}

int workloads__has(const struct workloads *w, const char *key)
{
	return find(w, key) != NULL;
}

/* Samples per second over the windows that ended recently; 0 when none did. */
static double rate(const struct wl *l, uint64_t now_ns)
{
	uint64_t lo = UINT64_MAX, hi = 0, total = 0;
	size_t i;

	for (i = 0; i < l->nr_win; i++) {
		const struct win *x = &l->win[i];

		if (x->end_ns + WORKLOADS_RATE_NS < now_ns)
			continue;
		total += x->total;
		lo = x->start_ns < lo ? x->start_ns : lo;
		hi = x->end_ns > hi ? x->end_ns : hi;
	}
	if (!total || hi <= lo)
		return 0;
	return (double)total * 1e9 / (double)(hi - lo);
}

struct row {
	const struct wl *l;
	double rate;
};

static int cmp_row(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	if (x->rate != y->rate)
		return x->rate > y->rate ? -1 : 1;
	return strcmp(x->l->id[WREC_ID_KEY], y->l->id[WREC_ID_KEY]);
}

void workloads__write_json(const struct workloads *w, const struct slots *s, uint64_t now_ns,
			   struct strbuf *out)
{
	struct row *rows = calloc(w->nr + 1, sizeof(*rows));
	struct slot_info si;
	size_t i, j;
	bool on;

	if (!rows) {
		out->err = -ENOMEM;
		return;
	}
	for (i = 0; i < w->nr; i++)
		rows[i] = (struct row){ &w->v[i], rate(&w->v[i], now_ns) };
	qsort(rows, w->nr, sizeof(*rows), cmp_row);
	strbuf__append(out, "[", 1);
	for (i = 0; i < w->nr; i++) {
		const struct wl *l = rows[i].l;

		strbuf__append(out, i ? ",{" : "{", i ? 2 : 1);
		for (j = 0; j < WREC_ID_NR; j++) {
			if (!id_names[j] || (!l->id[j] && j > WREC_ID_KIND))
				continue;
			strbuf__printf(out, "%s\"%s\":", j ? "," : "", id_names[j]);
			strbuf__json_str(out, l->id[j] ? l->id[j] : "");
		}
		on = s && slots__info(s, l->id[WREC_ID_KEY], &si) == 0;
		strbuf__printf(out,
			       ",\"cgroup_id\":%llu,\"source\":\"%s\",\"rate\":%.3f,"
			       "\"samples\":%llu,\"records\":%llu,\"last_seen_ms\":%llu,"
			       "\"slot\":%s",
			       (unsigned long long)l->cgroup_id, l->source, rows[i].rate,
			       (unsigned long long)l->samples, (unsigned long long)l->records,
			       (unsigned long long)(l->last_seen_ns / 1000000),
			       on ? "true" : "false");
		if (on)
			strbuf__printf(out, ",\"slot_bytes\":%llu,\"slot_chunks\":%llu",
				       (unsigned long long)si.bytes, (unsigned long long)si.chunks);
		strbuf__append(out, "}", 1);
	}
	strbuf__append(out, "]", 1);
	free(rows);
}
