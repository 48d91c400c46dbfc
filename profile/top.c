// SPDX-License-Identifier: Apache-2.0
/* The counting model of `kiln top`: see top.h. */
#include "profile/top.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define TOP_DEFAULT_HORIZON_NS (10ull * 1000000000ull)
/* Below this many interned functions, forgetting stale ones is not worth a pass. */
#define TOP_COMPACT_MIN 4096

/* One window: dense per-function counts, indexed by function id. */
struct tbucket {
	uint64_t seq, start_ns, end_ns;
	uint64_t samples; /* in scope */
	uint64_t *self, *total;
	size_t cap;
};

struct top {
	struct top_opts o;
	char *workload, *cgroup;
	uint32_t *pids;
	struct symtotal *st; /* the functions and how a stack counts (profile/symtotal.h) */
	struct tbucket **b; /* oldest first */
	size_t nr_b, cap_b;
	uint32_t *loc_fid; /* per-record cache: location -> function id + 1 (0: not yet) */
	size_t cap_loc;
	uint32_t *ids; /* one stack's function ids */
	size_t cap_ids;
	struct symtotal_row *rows;
	size_t cap_rows;
	uint64_t *sum_self, *sum_total; /* the horizon's sums, for top__rows() */
	size_t cap_sum;
	size_t compact_at; /* try to forget stale functions once this many are interned */
	uint64_t newest_end, newest_seq, newest_dur, period_ns;
	uint64_t windows, records, records_in_scope, samples_in_scope, compactions;
};

int top__new(struct top **out, const struct top_opts *opts)
{
	struct top *t = NULL;
	int err = -ENOMEM;

	t = calloc(1, sizeof(*t));
	if (!t)
		goto cleanup;
	t->o = *opts;
	if (!t->o.horizon_ns)
		t->o.horizon_ns = TOP_DEFAULT_HORIZON_NS;
	t->compact_at = TOP_COMPACT_MIN;
	if (symtotal__new(&t->st))
		goto cleanup;
	if (opts->workload && !(t->o.workload = t->workload = strdup(opts->workload)))
		goto cleanup;
	if (opts->cgroup && !(t->o.cgroup = t->cgroup = strdup(opts->cgroup)))
		goto cleanup;
	if (opts->nr_pids) {
		t->pids = malloc(opts->nr_pids * sizeof(*t->pids));
		if (!t->pids)
			goto cleanup;
		memcpy(t->pids, opts->pids, opts->nr_pids * sizeof(*t->pids));
		t->o.pids = t->pids;
	}
	*out = t;
	return 0;
cleanup:
	top__free(t);
	return err;
}

/* A cgroup path is in scope when it is the selected one or below it. */
static bool cgroup_in(const char *sel, const char *path)
{
	size_t n = strlen(sel);

	while (n > 1 && sel[n - 1] == '/')
		n--;
	if (n == 1 && sel[0] == '/')
		return true;
	return !strncmp(path, sel, n) && (path[n] == '\0' || path[n] == '/');
}

static bool record_in_scope(const struct top *t, const struct wrec_view *v)
{
	if (t->o.workload && strcmp(wrec_view__id(v, WREC_ID_KEY), t->o.workload) &&
	    strcmp(wrec_view__id(v, WREC_ID_NAME), t->o.workload))
		return false;
	if (t->o.cgroup && !cgroup_in(t->o.cgroup, wrec_view__id(v, WREC_ID_CGROUP)))
		return false;
	return true;
}

static bool pid_in_scope(const struct top *t, uint32_t tgid)
{
	size_t i;

	if (!t->o.nr_pids)
		return true;
	for (i = 0; i < t->o.nr_pids; i++)
		if (t->o.pids[i] == tgid)
			return true;
	return false;
}

static void bucket_free(struct tbucket *b)
{
	if (!b)
		return;
	free(b->self);
	free(b->total);
	free(b);
}

/* Makes room for function id FID in B. Returns 0 or -ENOMEM. */
static int bucket_reserve(struct tbucket *b, size_t fid)
{
	size_t cap = b->cap ? b->cap : 256;
	uint64_t *s, *tt;

	if (fid < b->cap)
		return 0;
	while (cap <= fid)
		cap *= 2;
	s = realloc(b->self, cap * sizeof(*s));
	if (!s)
		return -ENOMEM;
	b->self = s;
	tt = realloc(b->total, cap * sizeof(*tt));
	if (!tt)
		return -ENOMEM;
	b->total = tt;
	memset(b->self + b->cap, 0, (cap - b->cap) * sizeof(*s));
	memset(b->total + b->cap, 0, (cap - b->cap) * sizeof(*tt));
	b->cap = cap;
	return 0;
}

/* Forgets functions that no window in the horizon counts any more, renumbering the rest. */
static int compact(struct top *t)
{
	size_t i, j, live = 0, old_nr = symtotal__nr(t->st);
	uint32_t *remap = NULL;
	long kept;
	bool used;
	int err = 0;

	remap = malloc((old_nr + 1) * sizeof(*remap));
	if (!remap)
		return -ENOMEM;
	for (i = 0; i < old_nr; i++) {
		used = false;
		for (j = 0; j < t->nr_b && !used; j++)
			used = i < t->b[j]->cap && t->b[j]->total[i];
		remap[i] = used ? (uint32_t)live++ : UINT32_MAX;
	}
	/* Only worth it when at least half of the table is stale. */
	if (live * 2 > old_nr)
		goto cleanup;
	kept = symtotal__compact(t->st, remap);
	if (kept < 0) {
		err = (int)kept;
		goto cleanup;
	}
	/* Ids only shrink (remap[i] <= i), so the arrays compact in place, front to back. */
	for (j = 0; j < t->nr_b; j++) {
		struct tbucket *b = t->b[j];

		for (i = 0; i < b->cap && i < old_nr; i++) {
			if (remap[i] == UINT32_MAX)
				continue;
			b->self[remap[i]] = b->self[i];
			b->total[remap[i]] = b->total[i];
		}
		for (i = live; i < b->cap; i++)
			b->self[i] = b->total[i] = 0;
	}
	t->compactions++;
cleanup:
	free(remap);
	return err;
}

/* Drops the windows that ended more than a horizon before the newest one. */
static void expire(struct top *t)
{
	size_t i = 0, n;

	while (i < t->nr_b && t->b[i]->end_ns + t->o.horizon_ns <= t->newest_end)
		bucket_free(t->b[i++]);
	if (!i)
		return;
	n = t->nr_b - i;
	memmove(t->b, t->b + i, n * sizeof(*t->b));
	t->nr_b = n;
}

/* The window of V, created when first seen. Returns it or NULL on ENOMEM. */
static struct tbucket *bucket_for(struct top *t, const struct wrec_view *v)
{
	const struct wrec_header *h = v->hdr;
	struct tbucket *b, **nb;
	size_t i;

	/* A window's records arrive together: search from the newest. */
	for (i = t->nr_b; i-- > 0;)
		if (t->b[i]->seq == h->window_seq && t->b[i]->start_ns == h->start_ns)
			return t->b[i];
	if (t->nr_b == t->cap_b) {
		nb = realloc(t->b, (t->cap_b ? t->cap_b * 2 : 16) * sizeof(*nb));
		if (!nb)
			return NULL;
		t->b = nb;
		t->cap_b = t->cap_b ? t->cap_b * 2 : 16;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->seq = h->window_seq;
	b->start_ns = h->start_ns;
	b->end_ns = h->start_ns + h->duration_ns;
	/* Kept in order of end time, so expiry only ever looks at the front. */
	for (i = t->nr_b; i > 0 && t->b[i - 1]->end_ns > b->end_ns; i--)
		;
	memmove(t->b + i + 1, t->b + i, (t->nr_b - i) * sizeof(*t->b));
	t->b[i] = b;
	t->nr_b++;
	t->windows++;
	if (b->end_ns >= t->newest_end) {
		t->newest_end = b->end_ns;
		t->newest_seq = b->seq;
		t->newest_dur = h->duration_ns;
	}
	return b;
}

int top__add(struct top *t, const struct wrec_view *v)
{
	uint32_t i, j, fid, loc, max_fid;
	struct tbucket *b;
	int err = 0;

	t->records++;
	b = bucket_for(t, v);
	if (!b)
		return -ENOMEM;
	t->period_ns = v->hdr->period_ns;
	if (!record_in_scope(t, v)) {
		expire(t);
		return 0;
	}
	t->records_in_scope++;
	if (v->nr_locs > t->cap_loc) {
		uint32_t *nl = realloc(t->loc_fid, v->nr_locs * sizeof(*nl));

		if (!nl)
			return -ENOMEM;
		t->loc_fid = nl;
		t->cap_loc = v->nr_locs;
	}
	memset(t->loc_fid, 0, v->nr_locs * sizeof(*t->loc_fid));
	if (v->nr_stack_locs > t->cap_ids) {
		uint32_t *ni = realloc(t->ids, v->nr_stack_locs * sizeof(*ni));

		if (!ni)
			return -ENOMEM;
		t->ids = ni;
		t->cap_ids = v->nr_stack_locs;
	}
	for (i = 0; i < v->nr_samples; i++) {
		const struct wrec_sample *s = &v->samples[i];
		const struct wrec_stack *st = &v->stacks[s->stack];

		if (!pid_in_scope(t, s->tgid))
			continue;
		max_fid = 0;
		for (j = 0; j < st->nr; j++) {
			loc = v->stack_locs[st->first + j];
			if (!t->loc_fid[loc]) {
				err = symtotal__intern_loc(t->st, v, loc, &fid);
				if (err)
					return err;
				t->loc_fid[loc] = fid + 1;
			}
			t->ids[j] = t->loc_fid[loc] - 1;
			if (t->ids[j] > max_fid)
				max_fid = t->ids[j];
		}
		if (st->nr) {
			err = bucket_reserve(b, max_fid);
			if (err)
				return err;
			symtotal__count(t->st, t->ids, st->nr, s->count, b->self, b->total);
		}
		b->samples += s->count;
		t->samples_in_scope += s->count;
	}
	expire(t);
	/*
	 * A pass over the table each time it doubles since the last one: amortized O(1) per
	 * function, and the table stays within twice what the horizon holds.
	 */
	if (symtotal__nr(t->st) >= t->compact_at) {
		err = compact(t);
		if (err)
			return err;
		t->compact_at = symtotal__nr(t->st) * 2 > TOP_COMPACT_MIN ? symtotal__nr(t->st) * 2
									  : TOP_COMPACT_MIN;
	}
	return 1;
}

long top__rows(struct top *t, enum top_sort sort, const struct symtotal_row **rows)
{
	size_t i, j, nr = symtotal__nr(t->st);
	uint64_t *ns, *nt;
	long n;

	if (t->cap_sum < nr) {
		ns = realloc(t->sum_self, nr * sizeof(*ns));
		if (!ns)
			return -ENOMEM;
		t->sum_self = ns;
		nt = realloc(t->sum_total, nr * sizeof(*nt));
		if (!nt)
			return -ENOMEM;
		t->sum_total = nt;
		t->cap_sum = nr;
	}
	for (i = 0; i < nr; i++) {
		t->sum_self[i] = t->sum_total[i] = 0;
		for (j = 0; j < t->nr_b; j++) {
			if (i >= t->b[j]->cap)
				continue;
			t->sum_self[i] += t->b[j]->self[i];
			t->sum_total[i] += t->b[j]->total[i];
		}
	}
	n = symtotal__rows(t->st, t->sum_self, t->sum_total, (enum symtotal_sort)sort, &t->rows,
			   &t->cap_rows);
	*rows = t->rows;
	return n;
}

void top__stats(const struct top *t, struct top_stats *st)
{
	size_t i;

	memset(st, 0, sizeof(*st));
	st->windows = t->windows;
	st->records = t->records;
	st->records_in_scope = t->records_in_scope;
	st->samples_in_scope = t->samples_in_scope;
	for (i = 0; i < t->nr_b; i++)
		st->view_samples += t->b[i]->samples;
	st->view_windows = (uint32_t)t->nr_b;
	st->newest_seq = t->newest_seq;
	st->newest_duration_ns = t->newest_dur;
	st->period_ns = t->period_ns;
	st->functions = symtotal__nr(t->st);
	st->compactions = t->compactions;
}

void top__free(struct top *t)
{
	size_t i;

	if (!t)
		return;
	symtotal__free(t->st);
	for (i = 0; i < t->nr_b; i++)
		bucket_free(t->b[i]);
	free(t->b);
	free(t->loc_fid);
	free(t->ids);
	free(t->rows);
	free(t->sum_self);
	free(t->sum_total);
	free(t->workload);
	free(t->cgroup);
	free(t->pids);
	free(t);
}
