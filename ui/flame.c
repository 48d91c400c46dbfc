// SPDX-License-Identifier: Apache-2.0
#include "ui/flame.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "profile/symtotal.h"
#include "profile/wrec.h"
#include "symbolize/htab.h"

struct fnode {
	uint32_t name; /* symbol index */
	uint32_t parent;
	uint32_t first_child, next_sibling; /* 0 = none (node 0 is the root, never a child) */
	uint64_t self, total; /* side A (the only side outside a diff) */
	uint64_t self_b, total_b; /* side B of a diff */
};

/* A frame name of the tree (tree nodes merge by name alone). */
struct fsym {
	char *name;
	uint32_t kind; /* enum wrec_frame_kind of its first location, 0 when unknown */
};

struct flame {
	struct fsym *syms;
	size_t nr_syms, syms_cap;
	struct htab syms_idx; /* name -> symbol index */
	/* The symbols table: Self / Total per (name, module), as kiln top counts them. */
	struct symtotal *st;
	uint64_t *st_self[2], *st_total[2]; /* per side */
	uint32_t *fid_sym; /* function id -> tree symbol, for the diff table's names */
	size_t st_cap;
	struct fnode *nodes;
	size_t nr_nodes, nodes_cap;
	struct htab nodes_idx; /* (parent, name) -> node index */
	uint64_t total, total_b;
	int side; /* 0: A, 1: B */
	bool diff; /* a side-B sample was added */
	enum flame_mode mode;
	uint32_t focus; /* tree symbol of the sandwich's function */
};

struct name_key {
	const char *s;
	size_t len;
};

static bool sym_eq(uint64_t val, const void *key, void *ctx)
{
	const struct name_key *k = key;
	const struct flame *f = ctx;

	return !strncmp(f->syms[val].name, k->s, k->len) && !f->syms[val].name[k->len];
}

static bool node_eq(uint64_t val, const void *key, void *ctx)
{
	const struct fnode *k = key;
	const struct flame *f = ctx;

	return f->nodes[val].parent == k->parent && f->nodes[val].name == k->name;
}

static int grow(void **v, size_t *cap, size_t nr, size_t size)
{
	size_t ncap;
	void *nv;

	if (nr < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 64;
	nv = realloc(*v, ncap * size);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = ncap;
	return 0;
}

static int intern(struct flame *f, const char *s, uint32_t *out)
{
	struct name_key k = { s, strlen(s) };
	uint64_t h = htab_hash_bytes(s, k.len, 0), val;
	char *copy;

	if (htab__find(&f->syms_idx, h, sym_eq, &k, f, &val)) {
		*out = (uint32_t)val;
		return 0;
	}
	if (grow((void **)&f->syms, &f->syms_cap, f->nr_syms, sizeof(*f->syms)))
		return -ENOMEM;
	copy = strdup(s);
	if (!copy)
		return -ENOMEM;
	if (htab__insert(&f->syms_idx, h, f->nr_syms)) {
		free(copy);
		return -ENOMEM;
	}
	f->syms[f->nr_syms] = (struct fsym){ .name = copy };
	*out = (uint32_t)f->nr_syms++;
	return 0;
}

static uint64_t node_hash(uint32_t parent, uint32_t name)
{
	return htab_hash_u64((uint64_t)parent << 32 | name, 1);
}

static int child(struct flame *f, uint32_t parent, uint32_t name, uint32_t *out)
{
	struct fnode k = { .name = name, .parent = parent };
	uint64_t h = node_hash(parent, name), val;

	if (htab__find(&f->nodes_idx, h, node_eq, &k, f, &val)) {
		*out = (uint32_t)val;
		return 0;
	}
	if (f->nr_nodes >= UINT32_MAX ||
	    grow((void **)&f->nodes, &f->nodes_cap, f->nr_nodes, sizeof(*f->nodes)))
		return -ENOMEM;
	if (htab__insert(&f->nodes_idx, h, f->nr_nodes))
		return -ENOMEM;
	k.next_sibling = f->nodes[parent].first_child;
	f->nodes[parent].first_child = (uint32_t)f->nr_nodes;
	f->nodes[f->nr_nodes] = k;
	*out = (uint32_t)f->nr_nodes++;
	return 0;
}

struct flame *flame__new(void)
{
	struct flame *f = calloc(1, sizeof(*f));
	uint32_t root;

	if (!f)
		return NULL;
	if (symtotal__new(&f->st) || intern(f, FLAME_ROOT, &root) ||
	    grow((void **)&f->nodes, &f->nodes_cap, 0, sizeof(*f->nodes))) {
		flame__free(f);
		return NULL;
	}
	f->nodes[0] = (struct fnode){ .name = root };
	f->nr_nodes = 1;
	return f;
}

void flame__free(struct flame *f)
{
	size_t i;

	if (!f)
		return;
	for (i = 0; i < f->nr_syms; i++)
		free(f->syms[i].name);
	free(f->syms);
	symtotal__free(f->st);
	for (i = 0; i < 2; i++) {
		free(f->st_self[i]);
		free(f->st_total[i]);
	}
	free(f->fid_sym);
	free(f->nodes);
	htab__release(&f->syms_idx);
	htab__release(&f->nodes_idx);
	free(f);
}

/* Grows *V (uint64_t or uint32_t entries of SIZE bytes) from OLD to CAP entries, zeroed. */
static int grow_zero(void **v, size_t size, size_t old, size_t cap)
{
	void *nv = realloc(*v, cap * size);

	if (!nv)
		return -ENOMEM;
	memset((char *)nv + old * size, 0, (cap - old) * size);
	*v = nv;
	return 0;
}

/* Makes the symbols table's count arrays cover every function interned. Returns 0/-ENOMEM. */
static int st_reserve(struct flame *f)
{
	size_t nr = symtotal__nr(f->st), cap = f->st_cap ? f->st_cap : 256;
	int i;

	if (nr <= f->st_cap)
		return 0;
	while (cap < nr)
		cap *= 2;
	for (i = 0; i < 2; i++) {
		if (grow_zero((void **)&f->st_self[i], sizeof(uint64_t), f->st_cap, cap) ||
		    grow_zero((void **)&f->st_total[i], sizeof(uint64_t), f->st_cap, cap))
			return -ENOMEM;
	}
	if (grow_zero((void **)&f->fid_sym, sizeof(uint32_t), f->st_cap, cap))
		return -ENOMEM;
	f->st_cap = cap;
	return 0;
}

/* Counts COUNT samples on node N, on the side being added. */
static void count_node(struct flame *f, uint32_t n, uint64_t count, bool leaf)
{
	if (f->side) {
		f->nodes[n].total_b += count;
		if (leaf)
			f->nodes[n].self_b += count;
	} else {
		f->nodes[n].total += count;
		if (leaf)
			f->nodes[n].self += count;
	}
}

/*
 * A sandwich keeps only stacks holding the focus function, cut at its outermost occurrence
 * so that recursion counts once: callees keep the focus and what it calls (leaf first, the
 * focus last, as the root's child); callers keep the focus and its callers, reversed so the
 * focus is again the root's child and the outermost caller the deepest frame. Writes the
 * cut stack into OUT (NR entries) and returns its length, or 0 when the focus is absent.
 */
static size_t sandwich_cut(const struct flame *f, const uint32_t *ids, size_t nr, uint32_t *out)
{
	size_t k = nr, i;

	while (k && ids[k - 1] != f->focus)
		k--;
	if (!k)
		return 0;
	k--; /* the outermost occurrence (ids are leaf first) */
	if (f->mode == FLAME_MODE_CALLEES) {
		memcpy(out, ids, (k + 1) * sizeof(*out));
		return k + 1;
	}
	for (i = 0; i < nr - k; i++)
		out[i] = ids[nr - 1 - i];
	return nr - k;
}

/*
 * Adds one stack, leaf first: IDS are tree names, FIDS the same frames' functions in the
 * symbols table.
 */
static int add_ids(struct flame *f, const uint32_t *ids, const uint32_t *fids, size_t nr,
		   uint64_t count)
{
	uint32_t n = 0, *cut = NULL;
	size_t i, keep;
	int err;

	err = st_reserve(f);
	if (err)
		return err;
	if (f->mode != FLAME_MODE_ALL) {
		cut = malloc((nr + 1) * sizeof(*cut));
		if (!cut)
			return -ENOMEM;
		nr = sandwich_cut(f, ids, nr, cut);
		ids = cut;
		if (!nr)
			goto cleanup;
	} else {
		for (i = 0; i < nr; i++)
			f->fid_sym[fids[i]] = ids[i];
		symtotal__count(f->st, fids, nr, count, f->st_self[f->side], f->st_total[f->side]);
	}
	keep = nr > FLAME_MAX_DEPTH ? FLAME_MAX_DEPTH : nr;
	if (f->side)
		f->total_b += count;
	else
		f->total += count;
	count_node(f, 0, count, !nr);
	/* Outermost frame first: the tree grows from the root. */
	for (i = nr; i > nr - keep; i--) {
		err = child(f, n, ids[i - 1], &n);
		if (err)
			goto cleanup;
		count_node(f, n, count, i == nr - keep + 1);
	}
cleanup:
	free(cut);
	return err;
}

int flame__add_stack(struct flame *f, const char *const *names, size_t nr, uint64_t count)
{
	uint32_t *ids = nr ? malloc(2 * nr * sizeof(*ids)) : NULL;
	size_t i;
	int err = 0;

	if (nr && !ids)
		return -ENOMEM;
	for (i = 0; i < nr; i++) {
		err = intern(f, names[i], &ids[i]);
		if (!err)
			err = symtotal__intern(f->st, names[i], "", &ids[nr + i]);
		if (err)
			goto cleanup;
	}
	err = add_ids(f, ids, ids ? ids + nr : NULL, nr, count);
cleanup:
	free(ids);
	return err;
}

int flame__add_record(struct flame *f, const void *buf, size_t len)
{
	struct wrec_view v;
	uint32_t *loc_sym = NULL, *loc_fid = NULL, *ids = NULL;
	size_t max_nr = 0;
	char name[512];
	uint32_t i, j;
	int err;

	err = wrec__parse(buf, len, &v);
	if (err)
		return err;
	/* Each location's name is resolved once per record: stacks share most frames. */
	loc_sym = malloc((v.nr_locs + 1) * sizeof(*loc_sym));
	loc_fid = malloc((v.nr_locs + 1) * sizeof(*loc_fid));
	if (!loc_sym || !loc_fid) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (i = 0; i < v.nr_locs; i++)
		loc_sym[i] = UINT32_MAX;
	for (i = 0; i < v.nr_stacks; i++)
		if (v.stacks[i].nr > max_nr)
			max_nr = v.stacks[i].nr;
	ids = malloc(2 * (max_nr + 1) * sizeof(*ids));
	if (!ids) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (i = 0; i < v.nr_samples; i++) {
		const struct wrec_sample *s = &v.samples[i];
		const struct wrec_stack *st = &v.stacks[s->stack];

		for (j = 0; j < st->nr; j++) {
			uint32_t loc = v.stack_locs[st->first + j];

			if (loc_sym[loc] == UINT32_MAX) {
				wrec_view__frame_name(&v, loc, name, sizeof(name));
				err = intern(f, name, &loc_sym[loc]);
				if (!err && !f->syms[loc_sym[loc]].kind)
					f->syms[loc_sym[loc]].kind = v.locs[loc].kind;
				if (!err)
					err = symtotal__intern_loc(f->st, &v, loc, &loc_fid[loc]);
				if (err)
					goto cleanup;
			}
			ids[j] = loc_sym[loc];
			ids[max_nr + 1 + j] = loc_fid[loc];
		}
		err = add_ids(f, ids, ids + max_nr + 1, st->nr, s->count);
		if (err)
			goto cleanup;
	}
cleanup:
	free(loc_sym);
	free(loc_fid);
	free(ids);
	return err;
}

uint64_t flame__total(const struct flame *f)
{
	return f->total;
}

bool flame_window_in_range(const void *rec, uint64_t from_ns, uint64_t to_ns)
{
	const struct wrec_header *h = rec;

	return h->start_ns >= from_ns && h->start_ns < to_ns;
}

uint64_t flame__total_b(const struct flame *f)
{
	return f->total_b;
}

void flame__set_side(struct flame *f, int side)
{
	f->side = side ? 1 : 0;
	if (side)
		f->diff = true;
}

int flame__set_focus(struct flame *f, const char *name, enum flame_mode mode)
{
	if (mode == FLAME_MODE_ALL)
		return -EINVAL;
	f->mode = mode;
	return intern(f, name, &f->focus);
}

size_t flame__nr_nodes(const struct flame *f)
{
	return f->nr_nodes;
}

/* Max-heap of node indices by total: the best-first frontier of the capped tree. */
struct heap {
	uint32_t *v;
	size_t nr;
	const struct fnode *nodes;
};

static bool heap_less(const struct heap *h, size_t a, size_t b)
{
	const struct fnode *x = &h->nodes[h->v[a]], *y = &h->nodes[h->v[b]];

	/* A diff keeps what weighs most on either side (counts of both sides summed). */
	return x->total + x->total_b < y->total + y->total_b;
}

static void heap_swap(struct heap *h, size_t a, size_t b)
{
	uint32_t t = h->v[a];

	h->v[a] = h->v[b];
	h->v[b] = t;
}

static void heap_push(struct heap *h, uint32_t n)
{
	size_t i = h->nr++;

	h->v[i] = n;
	while (i && heap_less(h, (i - 1) / 2, i)) {
		heap_swap(h, (i - 1) / 2, i);
		i = (i - 1) / 2;
	}
}

static uint32_t heap_pop(struct heap *h)
{
	uint32_t top = h->v[0];
	size_t i = 0, c;

	h->v[0] = h->v[--h->nr];
	for (;;) {
		c = 2 * i + 1;
		if (c >= h->nr)
			break;
		if (c + 1 < h->nr && heap_less(h, c, c + 1))
			c++;
		if (!heap_less(h, i, c))
			break;
		heap_swap(h, i, c);
		i = c;
	}
	return top;
}

struct writer {
	const struct flame *f;
	const bool *kept;
	struct strbuf *out;
	uint32_t *scratch; /* children being sorted, per depth, carved from one array */
	size_t written;
};

static int cmp_ctx_name(const void *a, const void *b, void *ctx)
{
	const struct flame *f = ctx;
	const struct fnode *x = &f->nodes[*(const uint32_t *)a],
			   *y = &f->nodes[*(const uint32_t *)b];

	return strcmp(f->syms[x->name].name, f->syms[y->name].name);
}

static const char *const kind_names[] = {
	[WREC_FRAME_KERNEL] = "kernel", [WREC_FRAME_NATIVE] = "native", [WREC_FRAME_GO] = "go",
	[WREC_FRAME_JIT] = "jit",	[WREC_FRAME_PYTHON] = "python",
};

const char *flame_kind_name(uint32_t kind)
{
	if (kind >= sizeof(kind_names) / sizeof(kind_names[0]) || !kind_names[kind])
		return "native";
	return kind_names[kind];
}

static void write_node(struct writer *w, uint32_t n, uint32_t *kids)
{
	const struct fnode *nd = &w->f->nodes[n];
	uint32_t kind = w->f->syms[nd->name].kind;
	uint64_t cut = 0, cut_b = 0;
	size_t nr = 0, i;
	bool any_cut = false;
	uint32_t c;

	w->written++;
	strbuf__append(w->out, "{\"name\":", 8);
	strbuf__json_str(w->out, w->f->syms[nd->name].name);
	/* Native is the default kind: most frames are, and the tree stays lean. */
	if (kind && kind != WREC_FRAME_NATIVE)
		strbuf__printf(w->out, ",\"kind\":\"%s\"", flame_kind_name(kind));
	if (w->f->diff)
		strbuf__printf(w->out, ",\"self_b\":%llu,\"total_b\":%llu",
			       (unsigned long long)nd->self_b, (unsigned long long)nd->total_b);
	strbuf__printf(w->out, ",\"self\":%llu,\"total\":%llu,\"children\":[",
		       (unsigned long long)nd->self, (unsigned long long)nd->total);
	for (c = nd->first_child; c; c = w->f->nodes[c].next_sibling) {
		if (w->kept[c]) {
			kids[nr++] = c;
		} else {
			cut += w->f->nodes[c].total;
			cut_b += w->f->nodes[c].total_b;
			any_cut = true;
		}
	}
	qsort_r(kids, nr, sizeof(*kids), cmp_ctx_name, (void *)w->f);
	for (i = 0; i < nr; i++) {
		if (i)
			strbuf__append(w->out, ",", 1);
		/* Each level's children live after this level's in KIDS. */
		write_node(w, kids[i], kids + nr);
	}
	if (any_cut) {
		w->written++;
		strbuf__printf(w->out, "%s{\"name\":\"" FLAME_OTHER "\"", nr ? "," : "");
		if (w->f->diff)
			strbuf__printf(w->out, ",\"self_b\":%llu,\"total_b\":%llu",
				       (unsigned long long)cut_b, (unsigned long long)cut_b);
		strbuf__printf(w->out, ",\"self\":%llu,\"total\":%llu,\"children\":[]}",
			       (unsigned long long)cut, (unsigned long long)cut);
	}
	strbuf__append(w->out, "]}", 2);
}

int flame__write_tree(const struct flame *f, struct strbuf *out, size_t max_nodes, size_t *written)
{
	struct heap h = { .nodes = f->nodes };
	uint32_t *unkept = NULL, *kids = NULL;
	struct writer w = { .f = f, .out = out };
	size_t kept = 1, others = 0, need;
	bool *keep = NULL;
	uint32_t n, c;
	int err = 0;

	if (max_nodes < 2)
		return -EINVAL;
	keep = calloc(f->nr_nodes, sizeof(*keep));
	unkept = calloc(f->nr_nodes, sizeof(*unkept)); /* children not kept, per node */
	h.v = malloc(f->nr_nodes * sizeof(*h.v));
	/* The children of every node on one path together never exceed the node count. */
	kids = malloc(f->nr_nodes * sizeof(*kids));
	if (!keep || !unkept || !h.v || !kids) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (n = 0; n < f->nr_nodes; n++)
		for (c = f->nodes[n].first_child; c; c = f->nodes[c].next_sibling)
			unkept[n]++;
	keep[0] = true;
	others = unkept[0] ? 1 : 0;
	for (c = f->nodes[0].first_child; c; c = f->nodes[c].next_sibling)
		heap_push(&h, c);
	while (h.nr) {
		n = h.v[0];
		/*
		 * Keeping N removes the need for its parent's "other" when N was the last
		 * child cut, and adds one for N's own children until they are kept too.
		 */
		need = kept + 1 + others + (f->nodes[n].first_child ? 1 : 0) -
		       (unkept[f->nodes[n].parent] == 1 ? 1 : 0);
		if (need > max_nodes)
			break;
		heap_pop(&h);
		keep[n] = true;
		kept++;
		if (--unkept[f->nodes[n].parent] == 0)
			others--;
		if (f->nodes[n].first_child)
			others++;
		for (c = f->nodes[n].first_child; c; c = f->nodes[c].next_sibling)
			heap_push(&h, c);
	}
	w.kept = keep;
	write_node(&w, 0, kids);
	if (written)
		*written = w.written;
	err = out->err;
cleanup:
	free(keep);
	free(unkept);
	free(h.v);
	free(kids);
	return err;
}

int flame__write_symbols(const struct flame *f, struct strbuf *out, enum flame_sort sort,
			 size_t limit, size_t *nr_symbols)
{
	double total = f->total ? (double)f->total : 1.0;
	struct symtotal_row *rows = NULL;
	size_t i, cap = 0;
	long nr = 0;

	/* The count arrays cover every function once a stack was added, and only then. */
	if (f->st_cap)
		nr = symtotal__rows(f->st, f->st_self[0], f->st_total[0], (enum symtotal_sort)sort,
				    &rows, &cap);
	if (nr < 0)
		return (int)nr;
	if (nr_symbols)
		*nr_symbols = (size_t)nr;
	if (limit && (size_t)nr > limit)
		nr = (long)limit;
	strbuf__append(out, "[", 1);
	for (i = 0; i < (size_t)nr; i++) {
		strbuf__append(out, i ? ",{\"name\":" : "{\"name\":", i ? 9 : 8);
		strbuf__json_str(out, rows[i].name);
		strbuf__append(out, ",\"module\":", 10);
		strbuf__json_str(out, rows[i].module);
		strbuf__printf(out,
			       ",\"self\":%llu,\"total\":%llu,\"self_percent\":%.3f,"
			       "\"total_percent\":%.3f}",
			       (unsigned long long)rows[i].self, (unsigned long long)rows[i].total,
			       100.0 * (double)rows[i].self / total,
			       100.0 * (double)rows[i].total / total);
	}
	strbuf__append(out, "]", 1);
	free(rows);
	return out->err;
}

struct drow {
	uint32_t fid;
	double diff; /* Self share B - A, in points */
};

static int cmp_drow(const void *a, const void *b, void *ctx)
{
	const struct drow *x = a, *y = b;
	const struct flame *f = ctx;
	double dx = x->diff < 0 ? -x->diff : x->diff, dy = y->diff < 0 ? -y->diff : y->diff;

	if (dx != dy)
		return dx < dy ? 1 : -1;
	return strcmp(f->syms[f->fid_sym[x->fid]].name, f->syms[f->fid_sym[y->fid]].name);
}

int flame__write_diff_symbols(const struct flame *f, struct strbuf *out, size_t limit,
			      size_t *nr_symbols)
{
	double ta = f->total ? (double)f->total : 1.0, tb = f->total_b ? (double)f->total_b : 1.0;
	size_t nr = 0, i, cap = f->st_cap ? symtotal__nr(f->st) : 0;
	struct drow *rows = malloc((cap + 1) * sizeof(*rows));
	const uint64_t *sa = f->st_self[0], *sb = f->st_self[1];
	const uint64_t *ua = f->st_total[0], *ub = f->st_total[1];

	if (!rows)
		return -ENOMEM;
	for (i = 0; i < cap; i++) {
		if (!ua[i] && !ub[i])
			continue;
		rows[nr].fid = (uint32_t)i;
		rows[nr++].diff = 100.0 * ((double)sb[i] / tb - (double)sa[i] / ta);
	}
	qsort_r(rows, nr, sizeof(*rows), cmp_drow, (void *)f);
	if (nr_symbols)
		*nr_symbols = nr;
	if (limit && nr > limit)
		nr = limit;
	strbuf__append(out, "[", 1);
	for (i = 0; i < nr; i++) {
		uint32_t id = rows[i].fid;

		strbuf__append(out, i ? ",{\"name\":" : "{\"name\":", i ? 9 : 8);
		strbuf__json_str(out, f->syms[f->fid_sym[id]].name);
		strbuf__printf(out,
			       ",\"self_a\":%llu,\"total_a\":%llu,\"self_b\":%llu,\"total_b\":%llu,"
			       "\"self_percent_a\":%.3f,\"self_percent_b\":%.3f,"
			       "\"total_percent_a\":%.3f,\"total_percent_b\":%.3f,"
			       "\"self_diff\":%.3f,\"total_diff\":%.3f}",
			       (unsigned long long)sa[id], (unsigned long long)ua[id],
			       (unsigned long long)sb[id], (unsigned long long)ub[id],
			       100.0 * (double)sa[id] / ta, 100.0 * (double)sb[id] / tb,
			       100.0 * (double)ua[id] / ta, 100.0 * (double)ub[id] / tb,
			       rows[i].diff, 100.0 * ((double)ub[id] / tb - (double)ua[id] / ta));
	}
	strbuf__append(out, "]", 1);
	free(rows);
	return out->err;
}
