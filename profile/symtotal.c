// SPDX-License-Identifier: Apache-2.0
#include "profile/symtotal.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/array.h"
#include "common/htab.h"

struct sfunc {
	char *name; /* "name\0module\0", one allocation */
	const char *module; /* points into name */
	uint64_t stamp; /* the last stack that counted it in Total */
};

struct symtotal {
	struct sfunc *f;
	size_t nr, cap;
	struct htab index; /* hash of name and module -> id */
	uint64_t stamp;
};

struct skey {
	const char *name, *module;
};

static bool skey_eq(uint64_t val, const void *key, void *ctx)
{
	const struct skey *k = key;
	const struct symtotal *t = ctx;

	return !strcmp(t->f[val].name, k->name) && !strcmp(t->f[val].module, k->module);
}

static uint64_t skey_hash(const char *name, const char *module)
{
	return htab_hash_bytes(name, strlen(name), htab_hash_bytes(module, strlen(module), 7));
}

int symtotal__new(struct symtotal **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void symtotal__free(struct symtotal *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->nr; i++)
		free(t->f[i].name);
	free(t->f);
	htab__release(&t->index);
	free(t);
}

size_t symtotal__nr(const struct symtotal *t)
{
	return t->nr;
}

int symtotal__intern(struct symtotal *t, const char *name, const char *module, uint32_t *id)
{
	struct skey k = { name, module };
	uint64_t hash = skey_hash(name, module), val;
	size_t nlen = strlen(name), mlen = strlen(module);
	char *s;

	if (htab__find(&t->index, hash, skey_eq, &k, t, &val)) {
		*id = (uint32_t)val;
		return 0;
	}
	if (array_reserve(&t->f, &t->cap, t->nr + 1, sizeof(*t->f), 256))
		return -ENOMEM;
	s = malloc(nlen + mlen + 2);
	if (!s)
		return -ENOMEM;
	memcpy(s, name, nlen + 1);
	memcpy(s + nlen + 1, module, mlen + 1);
	if (htab__insert(&t->index, hash, t->nr)) {
		free(s);
		return -ENOMEM;
	}
	t->f[t->nr] = (struct sfunc){ .name = s, .module = s + nlen + 1 };
	*id = (uint32_t)t->nr++;
	return 0;
}

int symtotal__intern_loc(struct symtotal *t, const struct wrec_view *v, uint32_t loc, uint32_t *id)
{
	const struct wrec_location *l = &v->locs[loc];
	const char *file = "", *base;
	char name[512];

	wrec_view__frame_name(v, loc, name, sizeof(name));
	if (l->mapping) {
		file = wrec_view__str(v, v->maps[l->mapping].file);
		base = strrchr(file, '/');
		file = base ? base + 1 : file;
	}
	return symtotal__intern(t, name, file, id);
}

void symtotal__count(struct symtotal *t, const uint32_t *ids, size_t nr, uint64_t count,
		     uint64_t *self, uint64_t *total)
{
	size_t i;

	if (!nr)
		return;
	/* A new stamp per stack: a function seen twice in it (recursion) counts once. */
	t->stamp++;
	for (i = 0; i < nr; i++) {
		struct sfunc *f = &t->f[ids[i]];

		if (f->stamp != t->stamp) {
			f->stamp = t->stamp;
			total[ids[i]] += count;
		}
	}
	/* Stacks are leaf first: frame 0 is where the CPU was. */
	self[ids[0]] += count;
}

long symtotal__compact(struct symtotal *t, uint32_t *remap)
{
	size_t i, live = 0;

	htab__release(&t->index);
	for (i = 0; i < t->nr; i++) {
		if (remap[i] == UINT32_MAX) {
			free(t->f[i].name);
			continue;
		}
		t->f[live] = t->f[i];
		t->f[live].stamp = 0;
		remap[i] = (uint32_t)live++;
	}
	t->nr = live;
	t->stamp = 0;
	for (i = 0; i < t->nr; i++)
		if (htab__insert(&t->index, skey_hash(t->f[i].name, t->f[i].module), i))
			return -ENOMEM;
	return (long)live;
}

static int row_cmp(const void *pa, const void *pb, void *ctx)
{
	const struct symtotal_row *a = pa, *b = pb;
	enum symtotal_sort sort = *(const enum symtotal_sort *)ctx;
	uint64_t ka = sort == SYMTOTAL_SORT_SELF ? a->self : a->total;
	uint64_t kb = sort == SYMTOTAL_SORT_SELF ? b->self : b->total;
	uint64_t oa = sort == SYMTOTAL_SORT_SELF ? a->total : a->self;
	uint64_t ob = sort == SYMTOTAL_SORT_SELF ? b->total : b->self;
	int c;

	if (ka != kb)
		return ka > kb ? -1 : 1;
	if (oa != ob)
		return oa > ob ? -1 : 1;
	c = strcmp(a->name, b->name);
	return c ? c : strcmp(a->module, b->module);
}

long symtotal__rows(const struct symtotal *t, const uint64_t *self, const uint64_t *total,
		    enum symtotal_sort sort, struct symtotal_row **rows, size_t *cap)
{
	struct symtotal_row *r;
	size_t i, n = 0;

	if (*cap < t->nr) {
		r = realloc(*rows, t->nr * sizeof(*r));
		if (!r)
			return -ENOMEM;
		*rows = r;
		*cap = t->nr;
	}
	for (i = 0; i < t->nr; i++) {
		if (!total[i])
			continue;
		(*rows)[n++] = (struct symtotal_row){ .name = t->f[i].name,
						      .module = t->f[i].module,
						      .self = self[i],
						      .total = total[i] };
	}
	if (n)
		qsort_r(*rows, n, sizeof(**rows), row_cmp, &sort);
	return (long)n;
}
