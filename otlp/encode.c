// SPDX-License-Identifier: Apache-2.0
/*
 * The dictionary is deduplicated on encoded bytes: each entry (mapping, location, function,
 * stack, attribute, string) is encoded into a scratch buffer, hashed, and appended to its
 * table only when no equal entry exists. Equal bytes are equal entries because every
 * entry is written in one canonical field order with proto3 defaults left out.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "otlp/otlp.h"
#include "otlp/pbw.h"

#define NONE UINT32_MAX

/* Dictionary field numbers (ProfilesDictionary). */
enum {
	F_MAPPING = 1,
	F_LOCATION = 2,
	F_FUNCTION = 3,
	F_LINK = 4,
	F_STRING = 5,
	F_ATTRIBUTE = 6,
	F_STACK = 7,
	F_NR = 8,
};

/* One dictionary table: its entries, encoded as dictionary fields, and a hash index. */
struct dtab {
	struct pbw buf;
	uint32_t field;
	uint32_t *off, *clen; /* content offset and length of entry i in buf */
	uint32_t n, cap;
	uint32_t *slot; /* entry index + 1, 0 = empty */
	uint64_t *shash;
	uint32_t nslots; /* power of two */
};

struct group {
	char *key;
	struct pbw resource; /* encoded Resource content */
	struct pbw profiles; /* ScopeProfiles.profiles fields */
};

struct otlp_enc {
	struct otlp_opts opts;
	struct dtab t[F_NR];
	struct group *groups;
	size_t nr_groups, cap_groups;
	uint64_t records, samples;
	uint32_t profiles; /* Profile messages in the request */
	/* Where a record cut short by a full request continues (otlp_enc__add's -ENOSPC). */
	uint32_t resume_entry, resume_chunk, resume_sample;
	struct otlp_enc_stats stats;
	char *dropped_names[OTLP_MAX_DROPPED_NAMES];
	size_t nr_dropped_names;
	/* Constants interned at reset. */
	uint32_t s_samples, s_count, s_cpu, s_ns, k_buildid, k_frame, k_pid, k_tid, k_tname;
	uint32_t frame_attr[6]; /* by enum wrec_frame_kind */
	/* Per-record maps from record indices to dictionary indices (NONE: not yet). */
	uint32_t *mstr, *mmap, *mfunc, *mloc, *mstack;
	size_t cap_str, cap_map, cap_func, cap_loc, cap_stack;
	uint64_t *stack_count;
	uint32_t *stack_order;
	struct pbw scratch, scratch2, prof;
	uint64_t *u64s;
	size_t cap_u64s;
};

static uint64_t hash_bytes(const void *data, size_t n)
{
	const uint8_t *p = data;
	uint64_t h = 0x9e3779b97f4a7c15ull ^ n, w;

	while (n >= 8) {
		memcpy(&w, p, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
		p += 8;
		n -= 8;
	}
	w = 0;
	memcpy(&w, p, n);
	h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 29;
	return h;
}

static int dtab__grow_index(struct dtab *t)
{
	uint32_t nslots = t->nslots ? t->nslots * 2 : 1024, i, j;
	uint32_t *slot = calloc(nslots, sizeof(*slot));
	uint64_t *shash = calloc(nslots, sizeof(*shash));

	if (!slot || !shash) {
		free(slot);
		free(shash);
		return -ENOMEM;
	}
	for (i = 0; i < t->nslots; i++) {
		if (!t->slot[i])
			continue;
		for (j = t->shash[i] & (nslots - 1); slot[j]; j = (j + 1) & (nslots - 1))
			;
		slot[j] = t->slot[i];
		shash[j] = t->shash[i];
	}
	free(t->slot);
	free(t->shash);
	t->slot = slot;
	t->shash = shash;
	t->nslots = nslots;
	return 0;
}

/* Returns the index of the entry with content DATA, adding it if new; or NONE on ENOMEM. */
static uint32_t dtab__intern(struct dtab *t, const void *data, size_t n)
{
	uint64_t h = hash_bytes(data, n);
	uint32_t i, e;

	if ((t->n + 1) * 2 > t->nslots && dtab__grow_index(t))
		return NONE;
	for (i = h & (t->nslots - 1); (e = t->slot[i]); i = (i + 1) & (t->nslots - 1)) {
		e--;
		if (t->shash[i] == h && t->clen[e] == n && !memcmp(t->buf.p + t->off[e], data, n))
			return e;
	}
	if (t->n == t->cap) {
		uint32_t cap = t->cap ? t->cap * 2 : 256;
		uint32_t *off = realloc(t->off, cap * sizeof(*off));

		if (!off)
			return NONE;
		t->off = off;
		off = realloc(t->clen, cap * sizeof(*off));
		if (!off)
			return NONE;
		t->clen = off;
		t->cap = cap;
	}
	if (pbw__bytes(&t->buf, t->field, data, n))
		return NONE;
	e = t->n++;
	t->off[e] = (uint32_t)(t->buf.len - n);
	t->clen[e] = (uint32_t)n;
	t->slot[i] = e + 1;
	t->shash[i] = h;
	return e;
}

static void dtab__reset(struct dtab *t)
{
	t->buf.len = 0;
	t->n = 0;
	if (t->slot)
		memset(t->slot, 0, t->nslots * sizeof(*t->slot));
}

static void dtab__free(struct dtab *t)
{
	pbw__free(&t->buf);
	free(t->off);
	free(t->clen);
	free(t->slot);
	free(t->shash);
}

static uint32_t intern_str(struct otlp_enc *e, const char *s)
{
	return dtab__intern(&e->t[F_STRING], s, strlen(s));
}

/* An attribute with a string value (AnyValue.string_value). */
static uint32_t intern_attr_str(struct otlp_enc *e, uint32_t key, const char *val)
{
	struct pbw *b = &e->scratch2;
	size_t n = strlen(val);

	b->len = 0;
	if (pbw__varint(b, 1, key) || pbw__reserve(b, 30 + n))
		return NONE;
	/* value = AnyValue { string_value = 1 } */
	pbw__raw_varint(b, 2 << 3 | PB_LEN);
	pbw__raw_varint(b, 1 + pb_varint_size(n) + n);
	if (pbw__str(b, 1, val))
		return NONE;
	return dtab__intern(&e->t[F_ATTRIBUTE], b->p, b->len);
}

static int intern_constants(struct otlp_enc *e)
{
	/* By enum wrec_frame_kind; "cpython" as the OpenTelemetry eBPF profiler names it. */
	static const char *const frame_type[] = {
		"", "kernel", "native", "go", "native", "cpython"
	};
	uint32_t k;
	int i;

	for (i = 1; i < F_NR; i++)
		if (dtab__intern(&e->t[i], "", 0) != 0)
			return -ENOMEM;
	e->s_samples = intern_str(e, "samples");
	e->s_count = intern_str(e, "count");
	e->s_cpu = intern_str(e, "cpu");
	e->s_ns = intern_str(e, "nanoseconds");
	e->k_buildid = intern_str(e, "process.executable.build_id.gnu");
	e->k_frame = intern_str(e, "profile.frame.type");
	e->k_pid = intern_str(e, "process.pid");
	e->k_tid = intern_str(e, "thread.id");
	e->k_tname = intern_str(e, "thread.name");
	if (e->s_samples == NONE || e->s_count == NONE || e->s_cpu == NONE || e->s_ns == NONE ||
	    e->k_buildid == NONE || e->k_frame == NONE || e->k_pid == NONE || e->k_tid == NONE ||
	    e->k_tname == NONE)
		return -ENOMEM;
	/* JIT frames come from perf maps of unknown runtimes: "native" is the safe claim. */
	for (i = 1; i < 6; i++) {
		k = intern_attr_str(e, e->k_frame, frame_type[i]);
		if (k == NONE)
			return -ENOMEM;
		e->frame_attr[i] = k;
	}
	return 0;
}

int otlp_enc__new(struct otlp_enc **out, const struct otlp_opts *opts)
{
	struct otlp_enc *e;
	int i;

	*out = NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	if (opts)
		e->opts = *opts;
	if (!e->opts.max_profile_samples)
		e->opts.max_profile_samples = OTLP_MAX_PROFILE_SAMPLES;
	if (!e->opts.max_request_bytes)
		e->opts.max_request_bytes = OTLP_MAX_PROFILE_BYTES;
	if (!e->opts.max_resource_attrs)
		e->opts.max_resource_attrs = OTLP_MAX_RESOURCE_ATTRS;
	for (i = 1; i < F_NR; i++)
		e->t[i].field = i;
	if (intern_constants(e)) {
		otlp_enc__free(e);
		return -ENOMEM;
	}
	*out = e;
	return 0;
}

void otlp_enc__reset(struct otlp_enc *e)
{
	size_t i;

	for (i = 1; i < F_NR; i++)
		dtab__reset(&e->t[i]);
	for (i = 0; i < e->nr_groups; i++) {
		free(e->groups[i].key);
		pbw__free(&e->groups[i].resource);
		pbw__free(&e->groups[i].profiles);
	}
	e->nr_groups = 0;
	e->records = e->samples = 0;
	e->profiles = 0;
	/* Cannot fail: the tables already hold the memory these entries need. */
	intern_constants(e);
}

void otlp_enc__free(struct otlp_enc *e)
{
	size_t i;

	if (!e)
		return;
	for (i = 0; i < e->nr_groups; i++) {
		free(e->groups[i].key);
		pbw__free(&e->groups[i].resource);
		pbw__free(&e->groups[i].profiles);
	}
	free(e->groups);
	for (i = 0; i < e->nr_dropped_names; i++)
		free(e->dropped_names[i]);
	for (i = 1; i < F_NR; i++)
		dtab__free(&e->t[i]);
	free(e->mstr);
	free(e->mmap);
	free(e->mfunc);
	free(e->mloc);
	free(e->mstack);
	free(e->stack_count);
	free(e->stack_order);
	free(e->u64s);
	pbw__free(&e->scratch);
	pbw__free(&e->scratch2);
	pbw__free(&e->prof);
	free(e);
}

/* Resizes map *M to N entries, all NONE. Returns 0 or -ENOMEM. */
static int map_prepare(uint32_t **m, size_t *cap, size_t n)
{
	if (n > *cap) {
		uint32_t *p = realloc(*m, n * sizeof(*p));

		if (!p)
			return -ENOMEM;
		*m = p;
		*cap = n;
	}
	memset(*m, 0xff, n * sizeof(**m));
	return 0;
}

static uint32_t rec_str(struct otlp_enc *e, const struct wrec_view *v, uint32_t i)
{
	if (e->mstr[i] == NONE)
		e->mstr[i] = intern_str(e, wrec_view__str(v, i));
	return e->mstr[i];
}

static uint32_t rec_mapping(struct otlp_enc *e, const struct wrec_view *v, uint32_t i)
{
	const struct wrec_mapping *m = &v->maps[i];
	struct pbw *b = &e->scratch;
	uint64_t attr, file;

	if (!i || e->mmap[i] != NONE)
		return i ? e->mmap[i] : 0;
	file = rec_str(e, v, m->file);
	attr = m->build_id ? intern_attr_str(e, e->k_buildid, wrec_view__str(v, m->build_id)) : 0;
	if (file == NONE || attr == NONE)
		return NONE;
	b->len = 0;
	if (pbw__varint_nz(b, 1, m->start) || pbw__varint_nz(b, 2, m->limit) ||
	    pbw__varint_nz(b, 3, m->offset) || pbw__varint_nz(b, 4, file) ||
	    pbw__packed(b, 5, &attr, attr ? 1 : 0))
		return NONE;
	e->mmap[i] = dtab__intern(&e->t[F_MAPPING], b->p, b->len);
	return e->mmap[i];
}

static uint32_t rec_function(struct otlp_enc *e, const struct wrec_view *v, uint32_t i)
{
	const struct wrec_function *f = &v->funcs[i];
	struct pbw *b = &e->scratch;
	uint32_t name, sys, file;

	if (!i || e->mfunc[i] != NONE)
		return i ? e->mfunc[i] : 0;
	name = rec_str(e, v, f->name);
	sys = rec_str(e, v, f->system_name);
	file = rec_str(e, v, f->file);
	if (name == NONE || sys == NONE || file == NONE)
		return NONE;
	b->len = 0;
	if (pbw__varint_nz(b, 1, name) || pbw__varint_nz(b, 2, sys) || pbw__varint_nz(b, 3, file))
		return NONE;
	e->mfunc[i] = dtab__intern(&e->t[F_FUNCTION], b->p, b->len);
	return e->mfunc[i];
}

static uint32_t rec_location(struct otlp_enc *e, const struct wrec_view *v, uint32_t i)
{
	const struct wrec_location *l = &v->locs[i];
	struct pbw *b = &e->scratch;
	uint32_t map, fn;
	uint64_t attr;

	if (!i || e->mloc[i] != NONE)
		return i ? e->mloc[i] : 0;
	map = rec_mapping(e, v, l->mapping);
	fn = rec_function(e, v, l->function);
	if (map == NONE || fn == NONE)
		return NONE;
	attr = l->kind >= 1 && l->kind <= WREC_FRAME_PYTHON ? e->frame_attr[l->kind] : 0;
	b->len = 0;
	if (pbw__varint_nz(b, 1, map) || pbw__varint_nz(b, 2, l->address))
		return NONE;
	if (fn) {
		/* Line { function_index = 1; line = 2 } */
		size_t n = 1 + pb_varint_size(fn) + (l->line ? 1 + pb_varint_size(l->line) : 0);

		if (pbw__reserve(b, 32))
			return NONE;
		pbw__raw_varint(b, 3 << 3 | PB_LEN);
		pbw__raw_varint(b, n);
		pbw__raw_varint(b, 1 << 3 | PB_VARINT);
		pbw__raw_varint(b, fn);
		if (l->line) {
			pbw__raw_varint(b, 2 << 3 | PB_VARINT);
			pbw__raw_varint(b, l->line);
		}
	}
	if (pbw__packed(b, 4, &attr, attr ? 1 : 0))
		return NONE;
	e->mloc[i] = dtab__intern(&e->t[F_LOCATION], b->p, b->len);
	return e->mloc[i];
}

static int u64s_reserve(struct otlp_enc *e, size_t n)
{
	uint64_t *p;

	if (n <= e->cap_u64s)
		return 0;
	p = realloc(e->u64s, n * sizeof(*p));
	if (!p)
		return -ENOMEM;
	e->u64s = p;
	e->cap_u64s = n;
	return 0;
}

static uint32_t rec_stack(struct otlp_enc *e, const struct wrec_view *v, uint32_t i)
{
	const struct wrec_stack *s = &v->stacks[i];
	struct pbw *b = &e->scratch;
	uint32_t k, loc;

	if (!i || e->mstack[i] != NONE)
		return i ? e->mstack[i] : 0;
	if (u64s_reserve(e, s->nr))
		return NONE;
	for (k = 0; k < s->nr; k++) {
		loc = rec_location(e, v, v->stack_locs[s->first + k]);
		if (loc == NONE)
			return NONE;
		e->u64s[k] = loc;
	}
	b->len = 0;
	if (pbw__packed(b, 1, e->u64s, s->nr))
		return NONE;
	e->mstack[i] = dtab__intern(&e->t[F_STACK], b->p, b->len);
	return e->mstack[i];
}

/* Counts attribute KEY dropped for the label limit; says so once per name. */
static void drop_attr(struct otlp_enc *e, const char *key)
{
	size_t i;

	e->stats.attrs_dropped++;
	for (i = 0; i < e->nr_dropped_names; i++)
		if (!strcmp(e->dropped_names[i], key))
			return;
	if (e->nr_dropped_names < OTLP_MAX_DROPPED_NAMES)
		e->dropped_names[e->nr_dropped_names++] = strdup(key);
	log_warn("otlp: resource attribute %s dropped: more than %u resource attributes would "
		 "exceed Pyroscope's 30 labels per series (counted in attrs_dropped)",
		 key, e->opts.max_resource_attrs);
}

/*
 * Resource attributes of the record's workload, as KeyValue fields with plain keys and
 * string_value values (Pyroscope turns only those into labels). At most max_resource_attrs
 * (kiln sends no scope attributes): Pyroscope adds four labels of its own (__name__,
 * service_name, __delta__, __otel__) and refuses a series of more than 30; the most useful
 * attributes come first and the rest are dropped, counted.
 */
static int encode_resource(struct otlp_enc *e, const struct wrec_view *v, struct pbw *out)
{
	char service[512], key[64];
	struct pbw kv = { 0 }, val = { 0 };
	const char *name = wrec_view__id(v, WREC_ID_NAME), *s;
	const struct otlp_attr *ids;
	uint32_t nr_attrs = 0;
	int err = -ENOMEM;
	size_t i, nr;

#define ADD_ATTR(k, value)                                                                  \
	do {                                                                                \
		if (nr_attrs >= e->opts.max_resource_attrs) {                               \
			drop_attr(e, (k));                                                  \
			break;                                                              \
		}                                                                           \
		nr_attrs++;                                                                 \
		kv.len = val.len = 0;                                                       \
		if (pbw__str(&val, 1, (value)) || pbw__str(&kv, 1, (k)) ||                  \
		    pbw__bytes(&kv, 2, val.p, val.len) || pbw__bytes(out, 1, kv.p, kv.len)) \
			goto cleanup;                                                       \
	} while (0)

	/* Pyroscope's own fallback, made explicit so service.name is always present. */
	if (*name)
		snprintf(service, sizeof(service), "%s", name);
	else if (*wrec_view__id(v, WREC_ID_EXE_NAME))
		snprintf(service, sizeof(service), "unknown_service:%s",
			 wrec_view__id(v, WREC_ID_EXE_NAME));
	else
		snprintf(service, sizeof(service), "unknown_service");
	ADD_ATTR("service.name", service);
	/* The ring's workload key: a kiln UI receiving this lands it in the ring's slot. */
	s = wrec_view__id(v, WREC_ID_KEY);
	if (*s)
		ADD_ATTR("kiln.workload.key", s);
	ids = otlp_attrs(&nr);
	for (i = 0; i < nr; i++) {
		s = wrec_view__id(v, ids[i].field);
		if (*s)
			ADD_ATTR(ids[i].key, s);
	}
	s = wrec_view__id(v, WREC_ID_K8S_WL_NAME);
	if (*s && !otlp_attr__workload_key(wrec_view__id(v, WREC_ID_K8S_WL_KIND), key, sizeof(key)))
		ADD_ATTR(key, s);
#undef ADD_ATTR
	err = 0;
cleanup:
	pbw__free(&kv);
	pbw__free(&val);
	return err;
}

static struct group *find_group(struct otlp_enc *e, const struct wrec_view *v)
{
	const char *key = wrec_view__id(v, WREC_ID_KEY);
	struct group *g;
	size_t i;

	if (!*key)
		key = wrec_view__id(v, WREC_ID_NAME);
	for (i = e->nr_groups; i > 0; i--)
		if (!strcmp(e->groups[i - 1].key, key))
			return &e->groups[i - 1];
	if (e->nr_groups == e->cap_groups) {
		size_t cap = e->cap_groups ? e->cap_groups * 2 : 8;

		g = realloc(e->groups, cap * sizeof(*g));
		if (!g)
			return NULL;
		e->groups = g;
		e->cap_groups = cap;
	}
	g = &e->groups[e->nr_groups];
	memset(g, 0, sizeof(*g));
	g->key = strdup(key);
	if (!g->key || encode_resource(e, v, &g->resource)) {
		free(g->key);
		pbw__free(&g->resource);
		return NULL;
	}
	e->nr_groups++;
	return g;
}

/* Appends one Sample field to e->prof. */
static int put_sample(struct otlp_enc *e, uint32_t stack, const uint64_t *attrs, size_t nattrs,
		      uint64_t count)
{
	struct pbw *b = &e->scratch;

	b->len = 0;
	if (pbw__varint_nz(b, 1, stack) || pbw__packed(b, 2, attrs, nattrs) ||
	    pbw__packed(b, 4, &count, 1))
		return -ENOMEM;
	return pbw__bytes(&e->prof, 2, b->p, b->len);
}

static int value_type(struct pbw *b, uint32_t field, uint32_t type, uint32_t unit)
{
	/* ValueType { type_strindex = 1; unit_strindex = 2 }, both non-zero */
	if (pbw__reserve(b, 32))
		return -ENOMEM;
	pbw__raw_varint(b, (uint64_t)field << 3 | PB_LEN);
	pbw__raw_varint(b, 2 + pb_varint_size(type) + pb_varint_size(unit));
	pbw__raw_varint(b, 1 << 3 | PB_VARINT);
	pbw__raw_varint(b, type);
	pbw__raw_varint(b, 2 << 3 | PB_VARINT);
	pbw__raw_varint(b, unit);
	return 0;
}

/*
 * A profile id that is the same every time this part of this record is encoded (a resend,
 * a spool replay, a restarted exporter reading the ring again): the window, the workload
 * and the part's index, hashed. A receiver that deduplicates by profile id can then drop a
 * resend; kiln does not rely on it (see docs/destinations.md).
 */
static void profile_id(const struct wrec_view *v, uint32_t chunk, uint8_t id[16])
{
	const struct wrec_header *h = v->hdr;
	const char *key = wrec_view__id(v, WREC_ID_KEY);
	uint64_t w[4] = { h->window_seq, h->start_ns, h->cgroup_id, chunk }, a, b;

	a = hash_bytes(w, sizeof(w)) ^ hash_bytes(key, strlen(key));
	b = hash_bytes(key, strlen(key)) * 0x9e3779b97f4a7c15ull + hash_bytes(w, sizeof(w) - 8);
	memcpy(id, &a, 8);
	memcpy(id + 8, &b, 8);
}

/* Starts Profile part CHUNK of record V in e->prof (no samples yet). */
static int profile_start(struct otlp_enc *e, const struct wrec_view *v, uint32_t chunk)
{
	const struct wrec_header *h = v->hdr;
	uint8_t id[16];

	profile_id(v, chunk, id);
	e->prof.len = 0;
	if (value_type(&e->prof, 1, e->s_samples, e->s_count) ||
	    pbw__fixed64(&e->prof, 3, h->start_ns) || pbw__varint_nz(&e->prof, 4, h->duration_ns) ||
	    value_type(&e->prof, 5, e->s_cpu, e->s_ns) || pbw__varint(&e->prof, 6, h->period_ns) ||
	    pbw__bytes(&e->prof, 7, id, sizeof(id)))
		return -ENOMEM;
	return 0;
}

/* Appends the profile in e->prof to group G. */
static int profile_end(struct otlp_enc *e, struct group *g)
{
	if (pbw__bytes(&g->profiles, 2, e->prof.p, e->prof.len))
		return -ENOMEM;
	e->profiles++;
	return 0;
}

/*
 * The record's sample entries as they are sent: without per-sample attributes, one per
 * stack (counts summed, in order of first appearance) in e->stack_order / e->stack_count;
 * with them, one per sample of non-zero count. Returns the number of entries, or -ENOMEM.
 */
static long record_entries(struct otlp_enc *e, const struct wrec_view *v)
{
	uint32_t i, st, nr_order = 0;
	uint64_t *cnt;
	uint32_t *order;

	if (e->opts.pid_attributes) {
		long n = 0;

		for (i = 0; i < v->nr_samples; i++)
			n += v->samples[i].count != 0;
		return n;
	}
	cnt = realloc(e->stack_count, v->nr_stacks * sizeof(*cnt));
	if (!cnt)
		return -ENOMEM;
	e->stack_count = cnt;
	order = realloc(e->stack_order, v->nr_stacks * sizeof(*order));
	if (!order)
		return -ENOMEM;
	e->stack_order = order;
	memset(cnt, 0, v->nr_stacks * sizeof(*cnt));
	for (i = 0; i < v->nr_samples; i++) {
		st = v->samples[i].stack;
		if (!v->samples[i].count)
			continue;
		if (!cnt[st])
			order[nr_order++] = st;
		cnt[st] += v->samples[i].count;
	}
	return nr_order;
}

/* Writes entry *POS (advanced past it) into e->prof; adds its count to *ADDED. */
static int put_entry(struct otlp_enc *e, const struct wrec_view *v, uint32_t *pos, uint64_t *added)
{
	const struct wrec_sample *s;
	uint64_t attrs[3];
	char num[24];
	size_t na = 0;
	uint32_t gs, st;

	if (!e->opts.pid_attributes) {
		st = e->stack_order[*pos];
		gs = rec_stack(e, v, st);
		if (gs == NONE || put_sample(e, gs, NULL, 0, e->stack_count[st]))
			return -ENOMEM;
		*added += e->stack_count[st];
		(*pos)++;
		return 0;
	}
	/* Entry *POS is the *POS-th sample of non-zero count: e->resume_sample tracks it. */
	while (!v->samples[e->resume_sample].count)
		e->resume_sample++;
	s = &v->samples[e->resume_sample++];
	gs = rec_stack(e, v, s->stack);
	/* string_value: Pyroscope takes only string attributes as labels. */
	snprintf(num, sizeof(num), "%u", s->tgid);
	attrs[na++] = intern_attr_str(e, e->k_pid, num);
	snprintf(num, sizeof(num), "%u", s->pid);
	attrs[na++] = intern_attr_str(e, e->k_tid, num);
	if (s->thread_name)
		attrs[na++] = intern_attr_str(e, e->k_tname, wrec_view__str(v, s->thread_name));
	if (gs == NONE || attrs[0] == NONE || attrs[1] == NONE || (na == 3 && attrs[2] == NONE))
		return -ENOMEM;
	if (put_sample(e, gs, attrs, na, s->count))
		return -ENOMEM;
	*added += s->count;
	(*pos)++;
	return 0;
}

/* Whether the request has reached a bound: no further sample may go into it. */
static bool request_full(const struct otlp_enc *e)
{
	return otlp_enc__size(e) + e->prof.len >= e->opts.max_request_bytes;
}

int otlp_enc__add(struct otlp_enc *e, const struct wrec_view *v)
{
	uint32_t pos = e->resume_entry, chunk = e->resume_chunk, in_prof = 0;
	uint64_t added = 0;
	struct group *g;
	long nr;
	int err;

	if (!v->nr_samples)
		goto whole;
	/* A new part starts a new profile: refuse it when the request has its share. */
	if (e->opts.max_profiles && e->profiles >= e->opts.max_profiles)
		return -ENOSPC;
	if (e->profiles && request_full(e))
		return -ENOSPC;
	if (map_prepare(&e->mstr, &e->cap_str, v->nr_strs) ||
	    map_prepare(&e->mmap, &e->cap_map, v->nr_maps) ||
	    map_prepare(&e->mfunc, &e->cap_func, v->nr_funcs) ||
	    map_prepare(&e->mloc, &e->cap_loc, v->nr_locs) ||
	    map_prepare(&e->mstack, &e->cap_stack, v->nr_stacks))
		return -ENOMEM;
	nr = record_entries(e, v);
	if (nr < 0)
		return (int)nr;
	if (!pos) {
		e->resume_sample = 0;
	} else if (e->resume_sample == NONE) {
		/* Continued from otlp_enc__skip_entries(): find the pos-th counted sample. */
		uint32_t k = 0;

		for (e->resume_sample = 0; k < pos; e->resume_sample++)
			k += v->samples[e->resume_sample].count != 0;
	}
	if (pos >= nr)
		goto whole;
	g = find_group(e, v);
	if (!g)
		return -ENOMEM;
	err = profile_start(e, v, chunk);
	while (!err && pos < nr) {
		err = put_entry(e, v, &pos, &added);
		if (err || pos == nr)
			break;
		if (++in_prof == e->opts.max_profile_samples) {
			/* Pyroscope refuses a profile of more samples: the rest is a new part. */
			err = profile_end(e, g);
			e->stats.profiles_split++;
			chunk++;
			in_prof = 0;
			if (!err &&
			    ((e->opts.max_profiles && e->profiles >= e->opts.max_profiles) ||
			     request_full(e)))
				goto full;
			if (!err)
				err = profile_start(e, v, chunk);
		} else if (request_full(e)) {
			/* The bytes bound: this part ends here, the next request continues. */
			err = profile_end(e, g);
			e->stats.profiles_split++;
			chunk++;
			if (!err)
				goto full;
		}
	}
	if (!err)
		err = profile_end(e, g);
	e->samples += added;
	if (err)
		return err;
whole:
	e->records++;
	e->resume_entry = e->resume_chunk = 0;
	return 0;
full:
	e->samples += added;
	e->resume_entry = pos;
	e->resume_chunk = chunk;
	return -ENOSPC;
}

static const char scope_name[] = "kiln";

size_t otlp_enc__size(const struct otlp_enc *e)
{
	size_t n = 32, i;

	for (i = 1; i < F_NR; i++)
		n += e->t[i].buf.len;
	for (i = 0; i < e->nr_groups; i++)
		n += e->groups[i].resource.len + e->groups[i].profiles.len + 64;
	return n;
}

uint64_t otlp_enc__records(const struct otlp_enc *e)
{
	return e->records;
}

uint64_t otlp_enc__samples(const struct otlp_enc *e)
{
	return e->samples;
}

bool otlp_enc__pending(const struct otlp_enc *e)
{
	return e->resume_entry != 0;
}

uint32_t otlp_enc__resume_entry(const struct otlp_enc *e)
{
	return e->resume_entry;
}

void otlp_enc__skip_entries(struct otlp_enc *e, uint32_t n)
{
	e->resume_entry = n;
	e->resume_chunk = n / e->opts.max_profile_samples;
	e->resume_sample = NONE;
}

void otlp_enc__stats(const struct otlp_enc *e, struct otlp_enc_stats *st)
{
	*st = e->stats;
}

int otlp_enc__finish(struct otlp_enc *e, uint8_t **body, size_t *len)
{
	struct pbw out = { 0 }, scope = { 0 };
	size_t i, dict = 0, sp, rp;
	int err = -ENOMEM;

	*body = NULL;
	*len = 0;
	if (pbw__str(&scope, 1, scope_name) || pbw__str(&scope, 2, KILN_VERSION))
		goto cleanup;
	if (pbw__reserve(&out, otlp_enc__size(e) + scope.len * e->nr_groups))
		goto cleanup;
	for (i = 0; i < e->nr_groups; i++) {
		struct group *g = &e->groups[i];

		/* ScopeProfiles { scope = 1; profiles = 2... } */
		sp = 1 + pb_varint_size(scope.len) + scope.len + g->profiles.len;
		rp = 1 + pb_varint_size(g->resource.len) + g->resource.len + 1 +
		     pb_varint_size(sp) + sp;
		if (pbw__reserve(&out, 40 + rp))
			goto cleanup;
		pbw__raw_varint(&out, 1 << 3 | PB_LEN);
		pbw__raw_varint(&out, rp);
		pbw__bytes(&out, 1, g->resource.p, g->resource.len);
		pbw__raw_varint(&out, 2 << 3 | PB_LEN);
		pbw__raw_varint(&out, sp);
		pbw__bytes(&out, 1, scope.p, scope.len);
		memcpy(out.p + out.len, g->profiles.p, g->profiles.len);
		out.len += g->profiles.len;
	}
	for (i = 1; i < F_NR; i++)
		dict += e->t[i].buf.len;
	if (pbw__reserve(&out, 20 + dict))
		goto cleanup;
	pbw__raw_varint(&out, 2 << 3 | PB_LEN);
	pbw__raw_varint(&out, dict);
	for (i = 1; i < F_NR; i++) {
		memcpy(out.p + out.len, e->t[i].buf.p, e->t[i].buf.len);
		out.len += e->t[i].buf.len;
	}
	*body = out.p;
	*len = out.len;
	out.p = NULL;
	err = 0;
	otlp_enc__reset(e);
cleanup:
	pbw__free(&out);
	pbw__free(&scope);
	return err;
}
