// SPDX-License-Identifier: Apache-2.0
#include "ui/slots.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

struct chunk {
	struct chunk *next;
	size_t len;
	/* 8-byte aligned payload: window records are parsed in place */
	uint64_t data[];
};

struct slot {
	char *key;
	struct chunk *head, *tail; /* oldest first */
	uint64_t bytes, nr_chunks;
	uint64_t opened_ns, requested_ns;
	uint64_t dropped, refused;
};

struct slots {
	struct slots_opts o;
	/* Few slots (24 by default): a linear scan beats the bookkeeping of an index. */
	struct slot *v;
	size_t nr;
	struct slots_stats st;
};

static uint64_t default_now(void *ctx)
{
	(void)ctx;
	return mono_ns();
}

static uint64_t now(const struct slots *s)
{
	return s->o.now_ns(s->o.clock_ctx);
}

int slots__new(struct slots **out, const struct slots_opts *opts)
{
	struct slots *s;

	if (!opts->max_slots || !opts->ttl_ns || !opts->max_bytes)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->o = *opts;
	if (!s->o.now_ns)
		s->o.now_ns = default_now;
	*out = s;
	return 0;
}

static void slot__drop_chunks(struct slots *s, struct slot *sl)
{
	struct chunk *c, *next;

	for (c = sl->head; c; c = next) {
		next = c->next;
		s->st.bytes -= c->len;
		s->st.chunks--;
		free(c);
	}
	sl->head = sl->tail = NULL;
	sl->bytes = sl->nr_chunks = 0;
}

/* Removes slot I; the last slot takes its place (order carries no meaning). */
static void slots__remove(struct slots *s, size_t i)
{
	slot__drop_chunks(s, &s->v[i]);
	free(s->v[i].key);
	s->v[i] = s->v[--s->nr];
	s->st.nr_slots = s->nr;
}

void slots__free(struct slots *s)
{
	if (!s)
		return;
	while (s->nr)
		slots__remove(s, s->nr - 1);
	free(s->v);
	free(s);
}

static struct slot *find(const struct slots *s, const char *key, size_t *idx)
{
	size_t i;

	for (i = 0; i < s->nr; i++) {
		if (!strcmp(s->v[i].key, key)) {
			if (idx)
				*idx = i;
			return &s->v[i];
		}
	}
	return NULL;
}

int slots__enable(struct slots *s, const char *key)
{
	struct slot *sl, *nv;
	size_t i, lru = 0;
	char *k;

	if (!key || !*key)
		return -EINVAL;
	sl = find(s, key, NULL);
	if (sl) {
		sl->requested_ns = now(s);
		return 0;
	}
	k = strdup(key);
	if (!k)
		return -ENOMEM;
	if (s->nr >= s->o.max_slots) {
		for (i = 1; i < s->nr; i++)
			if (s->v[i].requested_ns < s->v[lru].requested_ns)
				lru = i;
		slots__remove(s, lru);
		s->st.evicted++;
	} else {
		nv = realloc(s->v, (s->nr + 1) * sizeof(*nv));
		if (!nv) {
			free(k);
			return -ENOMEM;
		}
		s->v = nv;
	}
	sl = &s->v[s->nr++];
	memset(sl, 0, sizeof(*sl));
	sl->key = k;
	sl->opened_ns = sl->requested_ns = now(s);
	s->st.nr_slots = s->nr;
	s->st.opened++;
	return 1;
}

int slots__disable(struct slots *s, const char *key)
{
	size_t i;

	if (!find(s, key, &i))
		return -ENOENT;
	slots__remove(s, i);
	s->st.closed++;
	return 0;
}

int slots__clear(struct slots *s, const char *key)
{
	struct slot *sl = find(s, key, NULL);

	if (!sl)
		return -ENOENT;
	slot__drop_chunks(s, sl);
	sl->requested_ns = now(s);
	return 0;
}

bool slots__has(const struct slots *s, const char *key)
{
	return find(s, key, NULL) != NULL;
}

int slots__add(struct slots *s, const char *key, const void *chunk, size_t len)
{
	struct slot *sl = find(s, key, NULL);
	struct chunk *c, *old;

	if (!sl)
		return -ENOENT;
	if (len > s->o.max_bytes) {
		sl->refused++;
		s->st.refused++;
		return -EFBIG;
	}
	c = malloc(sizeof(*c) + len);
	if (!c)
		return -ENOMEM;
	c->next = NULL;
	c->len = len;
	memcpy(c->data, chunk, len);
	/* Whole chunks only: a chunk is one self-contained record, half of one is garbage. */
	while (sl->head && sl->bytes + len > s->o.max_bytes) {
		old = sl->head;
		sl->head = old->next;
		if (!sl->head)
			sl->tail = NULL;
		sl->bytes -= old->len;
		sl->nr_chunks--;
		sl->dropped++;
		s->st.bytes -= old->len;
		s->st.chunks--;
		s->st.dropped++;
		s->st.dropped_bytes += old->len;
		free(old);
	}
	if (sl->tail)
		sl->tail->next = c;
	else
		sl->head = c;
	sl->tail = c;
	sl->bytes += len;
	sl->nr_chunks++;
	s->st.bytes += len;
	s->st.chunks++;
	s->st.added++;
	return 0;
}

int slots__read(struct slots *s, const char *key, slots_chunk_fn fn, void *ctx)
{
	struct slot *sl = find(s, key, NULL);
	struct chunk *c;
	int err;

	if (!sl)
		return -ENOENT;
	sl->requested_ns = now(s);
	for (c = sl->head; c; c = c->next) {
		err = fn(c->data, c->len, ctx);
		if (err)
			return err;
	}
	return 0;
}

int slots__info(const struct slots *s, const char *key, struct slot_info *info)
{
	const struct slot *sl = find(s, key, NULL);

	if (!sl)
		return -ENOENT;
	info->bytes = sl->bytes;
	info->chunks = sl->nr_chunks;
	info->opened_ns = sl->opened_ns;
	info->requested_ns = sl->requested_ns;
	info->dropped = sl->dropped;
	info->refused = sl->refused;
	return 0;
}

void slots__for_each(const struct slots *s,
		     void (*fn)(const char *key, const struct slot_info *info, void *ctx),
		     void *ctx)
{
	struct slot_info info;
	size_t i;

	for (i = 0; i < s->nr; i++) {
		slots__info(s, s->v[i].key, &info);
		fn(s->v[i].key, &info, ctx);
	}
}

int slots__sweep(struct slots *s)
{
	uint64_t t = now(s);
	size_t i = 0;
	int n = 0;

	while (i < s->nr) {
		/* Unsigned difference: a clock that never goes backwards makes this exact. */
		if (t - s->v[i].requested_ns >= s->o.ttl_ns) {
			slots__remove(s, i);
			s->st.expired++;
			n++;
			continue;
		}
		i++;
	}
	return n;
}

void slots__stats(const struct slots *s, struct slots_stats *st)
{
	*st = s->st;
}
