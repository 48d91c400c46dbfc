// SPDX-License-Identifier: Apache-2.0
/*
 * The call tree behind kiln record's pictures (profile/calltree.h). Frames are merged on
 * their display name, module and kind, not on addresses: two return addresses inside one
 * function are one box in a flame graph, as in the folded output.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "profile/calltree.h"

const char *calltree_kind_name(uint8_t kind)
{
	static const char *const names[] = {
		[CALLTREE_KIND_PROCESS] = "process",
		[SYM_FRAME_KERNEL] = "kernel",
		[SYM_FRAME_NATIVE] = "native",
		[SYM_FRAME_GO] = "go",
		[SYM_FRAME_JIT] = "jit",
		[SYM_FRAME_PYTHON] = "python",
	};

	return kind < sizeof(names) / sizeof(names[0]) && names[kind] ? names[kind] : "native";
}

/* Length of the valid UTF-8 sequence at S (1 to 4), or 0 when S does not start one. */
static size_t utf8_seq(const unsigned char *s)
{
	size_t n, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	for (i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	/* Overlong forms, surrogates and code points past U+10FFFF. */
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
		return 0;
	return n;
}

char *calltree_clean_name(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	char *out = malloc(strlen(s) * 3 + 1), *o = out;
	size_t n;

	if (!out)
		return NULL;
	while (*p) {
		n = utf8_seq(p);
		if (!n) {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			p++;
		} else if (n == 1 && (*p < 0x20 || *p == 0x7f)) {
			*o++ = '?';
			p++;
		} else {
			memcpy(o, p, n);
			o += n;
			p += n;
		}
	}
	*o = '\0';
	return out;
}

struct frame_key {
	const char *name, *module;
	uint8_t kind;
};

static uint64_t frame_hash(const struct frame_key *k)
{
	uint64_t h = htab_hash_bytes(k->name, strlen(k->name), k->kind);

	return htab_hash_bytes(k->module, strlen(k->module), h);
}

static bool frame_eq(uint64_t val, const void *key, void *ctx)
{
	const struct calltree_frame *f = &((struct calltree *)ctx)->frames[val];
	const struct frame_key *k = key;

	return f->kind == k->kind && !strcmp(f->module, k->module) && !strcmp(f->name, k->name);
}

/* The frame of (NAME, MODULE, KIND), added on first sight. Returns 0 or -ENOMEM. */
static int add_frame(struct calltree *t, const char *name, const char *module, uint8_t kind,
		     uint32_t *id)
{
	struct frame_key k = { name, module, kind };
	uint64_t hash = frame_hash(&k), val;
	char *copy;

	if (htab__find(&t->frames_idx, hash, frame_eq, &k, t, &val)) {
		*id = (uint32_t)val;
		return 0;
	}
	if (profile_grow((void **)&t->frames, &t->frames_cap, t->nr_frames + 1, sizeof(*t->frames)))
		return -ENOMEM;
	copy = calltree_clean_name(name);
	if (!copy || htab__insert(&t->frames_idx, hash, t->nr_frames)) {
		free(copy);
		return -ENOMEM;
	}
	t->frames[t->nr_frames] = (struct calltree_frame){ copy, module, kind };
	*id = (uint32_t)t->nr_frames++;
	return 0;
}

static const char *module_of(const struct profile *p, const struct profile_location *l)
{
	const char *file, *base;

	if (!l->mapping)
		return "";
	file = p->strs[p->maps[l->mapping].file];
	base = strrchr(file, '/');
	return base ? base + 1 : file;
}

/* Frames of every location and of every process name (comm) of P. */
static int add_frames(struct calltree *t, const struct profile *p)
{
	char buf[1024];
	size_t i;
	int err;

	t->loc_frame = calloc(p->nr_locs, sizeof(*t->loc_frame));
	t->comm_frame = malloc(p->nr_strs * sizeof(*t->comm_frame));
	if (!t->loc_frame || !t->comm_frame)
		return -ENOMEM;
	memset(t->comm_frame, 0xff, p->nr_strs * sizeof(*t->comm_frame));
	for (i = 1; i < p->nr_locs; i++) {
		profile__loc_name(p, (uint32_t)i, buf, sizeof(buf));
		err = add_frame(t, buf, module_of(p, &p->locs[i]), p->locs[i].kind,
				&t->loc_frame[i]);
		if (err)
			return err;
	}
	for (i = 0; i < p->nr_samples; i++) {
		uint32_t comm = p->samples[i].comm;

		if (t->comm_frame[comm] != UINT32_MAX)
			continue;
		err = add_frame(t, p->strs[comm][0] ? p->strs[comm] : "[unknown]", "",
				CALLTREE_KIND_PROCESS, &t->comm_frame[comm]);
		if (err)
			return err;
	}
	return 0;
}

static bool node_eq(uint64_t val, const void *key, void *ctx)
{
	const struct calltree_node *n = &((struct calltree *)ctx)->nodes[val];
	const uint32_t *k = key;

	return n->parent == k[0] && n->frame == k[1];
}

/* The child of PARENT for FRAME, added on first sight. Returns 0 or -ENOMEM. */
static int child_of(struct calltree *t, uint32_t parent, uint32_t frame, uint32_t *id)
{
	uint32_t k[2] = { parent, frame };
	uint64_t hash = htab_hash_u64(((uint64_t)parent << 32) | frame, 11), val;
	struct calltree_node *n;

	if (htab__find(&t->nodes_idx, hash, node_eq, k, t, &val)) {
		*id = (uint32_t)val;
		return 0;
	}
	if (profile_grow((void **)&t->nodes, &t->nodes_cap, t->nr_nodes + 1, sizeof(*t->nodes)) ||
	    htab__insert(&t->nodes_idx, hash, t->nr_nodes))
		return -ENOMEM;
	n = &t->nodes[t->nr_nodes];
	*n = (struct calltree_node){ .frame = frame, .parent = parent };
	n->depth = t->nodes[parent].depth + 1;
	if (n->depth > t->max_depth)
		t->max_depth = n->depth;
	/* Children are linked in first-seen order, sorted by name once the tree is built. */
	n->next = t->nodes[parent].child;
	t->nodes[parent].child = (uint32_t)t->nr_nodes;
	*id = (uint32_t)t->nr_nodes++;
	return 0;
}

size_t calltree__sample_frames(const struct calltree *t, const struct profile *p, size_t s,
			       uint32_t *ids)
{
	const struct profile_sample *smp = &p->samples[s];
	const struct profile_stack *st = &p->stacks[smp->stack];
	size_t n = 0;
	uint32_t j;

	ids[n++] = t->comm_frame[smp->comm];
	for (j = st->nr; j > 0; j--)
		ids[n++] = t->loc_frame[p->stack_locs[st->off + j - 1]];
	return n;
}

/* Adds every sample of P to the tree. */
static int add_samples(struct calltree *t, const struct profile *p)
{
	uint32_t *ids = NULL, node;
	size_t s, n, i, cap = 0;
	int err = 0;

	for (s = 0; s < p->nr_samples; s++) {
		err = profile_grow((void **)&ids, &cap, p->stacks[p->samples[s].stack].nr + 1,
				   sizeof(*ids));
		if (err)
			goto cleanup;
		n = calltree__sample_frames(t, p, s, ids);
		node = 0;
		t->nodes[0].total += p->samples[s].count;
		for (i = 0; i < n; i++) {
			err = child_of(t, node, ids[i], &node);
			if (err)
				goto cleanup;
			t->nodes[node].total += p->samples[s].count;
		}
		t->nodes[node].self += p->samples[s].count;
	}
cleanup:
	free(ids);
	return err;
}

static int by_name(const void *a, const void *b, void *ctx)
{
	const struct calltree *t = ctx;
	const struct calltree_node *x = &t->nodes[*(const uint32_t *)a];
	const struct calltree_node *y = &t->nodes[*(const uint32_t *)b];
	int c = strcmp(t->frames[x->frame].name, t->frames[y->frame].name);

	return c ? c : (int)x->frame - (int)y->frame;
}

/*
 * Orders every node's children by name, as flame graphs are drawn: the same profile gives
 * the same picture, and a frame is found where its name says. Returns 0 or -ENOMEM.
 */
static int sort_children(struct calltree *t)
{
	uint32_t *kids = NULL, c;
	size_t i, n, cap = 0;
	int err = 0;

	for (i = 0; i < t->nr_nodes; i++) {
		for (n = 0, c = t->nodes[i].child; c; c = t->nodes[c].next, n++) {
			err = profile_grow((void **)&kids, &cap, n + 1, sizeof(*kids));
			if (err)
				goto cleanup;
			kids[n] = c;
		}
		if (n < 2)
			continue;
		qsort_r(kids, n, sizeof(*kids), by_name, t);
		t->nodes[i].child = kids[0];
		for (c = 0; c + 1 < n; c++)
			t->nodes[kids[c]].next = kids[c + 1];
		t->nodes[kids[n - 1]].next = 0;
	}
cleanup:
	free(kids);
	return err;
}

int calltree__new(const struct profile *p, struct calltree **out)
{
	struct calltree *t;
	int err;

	*out = NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	err = profile_grow((void **)&t->nodes, &t->nodes_cap, 1, sizeof(*t->nodes));
	if (err)
		goto cleanup;
	t->nodes[0] = (struct calltree_node){ .frame = UINT32_MAX };
	t->nr_nodes = 1;
	err = add_frames(t, p);
	if (!err)
		err = add_samples(t, p);
	if (!err)
		err = sort_children(t);
	/* The index is only needed while building. */
	htab__release(&t->nodes_idx);
cleanup:
	if (err)
		calltree__free(t);
	else
		*out = t;
	return err;
}

void calltree__free(struct calltree *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->nr_frames; i++)
		free(t->frames[i].name);
	free(t->frames);
	htab__release(&t->frames_idx);
	free(t->nodes);
	htab__release(&t->nodes_idx);
	free(t->loc_frame);
	free(t->comm_frame);
	free(t);
}
