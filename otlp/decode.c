// SPDX-License-Identifier: Apache-2.0
#include "otlp/otlp.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "profile/profile.h"
#include "profile/wrec.h"
#include "proto/opentelemetry/proto/collector/profiles/v1development/profiles_service.pb-c.h"

typedef Opentelemetry__Proto__Collector__Profiles__V1development__ExportProfilesServiceRequest req_t;
typedef Opentelemetry__Proto__Profiles__V1development__ProfilesDictionary dict_t;
typedef Opentelemetry__Proto__Profiles__V1development__ResourceProfiles rprof_t;
typedef Opentelemetry__Proto__Profiles__V1development__Profile prof_t;
typedef Opentelemetry__Proto__Profiles__V1development__Sample sample_t;
typedef Opentelemetry__Proto__Profiles__V1development__Location loc_t;
typedef Opentelemetry__Proto__Profiles__V1development__Mapping map_t;
typedef Opentelemetry__Proto__Common__V1__KeyValue kv_t;
typedef Opentelemetry__Proto__Common__V1__AnyValue any_t;

/* Deeper stacks are refused: no unwinder produces them, a hostile body might. */
#define OTLP_MAX_FRAMES 4096

int otlp__gunzip(const void *in, size_t len, size_t max, void **out, size_t *outlen)
{
	z_stream z = { 0 };
	size_t cap = len * 4 > 65536 ? len * 4 : 65536, n = 0;
	unsigned char *buf = NULL, *nb;
	int zr, err = 0;

	if (cap > max)
		cap = max + 1;
	/* 16 + MAX_WBITS: gzip framing only, as Content-Encoding: gzip promises. */
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		return -ENOMEM;
	buf = malloc(cap);
	if (!buf) {
		err = -ENOMEM;
		goto cleanup;
	}
	z.next_in = (unsigned char *)in;
	z.avail_in = (uInt)len;
	for (;;) {
		if (n == cap) {
			if (cap > max) {
				err = -EFBIG;
				goto cleanup;
			}
			cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			nb = realloc(buf, cap);
			if (!nb) {
				err = -ENOMEM;
				goto cleanup;
			}
			buf = nb;
		}
		z.next_out = buf + n;
		z.avail_out = (uInt)(cap - n);
		zr = inflate(&z, Z_NO_FLUSH);
		n = cap - z.avail_out;
		if (zr == Z_STREAM_END)
			break;
		if (zr == Z_MEM_ERROR) {
			err = -ENOMEM;
			goto cleanup;
		}
		/* Out of room: grow and go on. Anything else short of the end is corrupt. */
		if ((zr == Z_OK || zr == Z_BUF_ERROR) && !z.avail_out)
			continue;
		err = -EBADMSG;
		goto cleanup;
	}
	if (n > max) {
		err = -EFBIG;
		goto cleanup;
	}
	if (z.avail_in) {
		err = -EBADMSG;
		goto cleanup;
	}
	*out = buf;
	*outlen = n;
	buf = NULL;
cleanup:
	inflateEnd(&z);
	free(buf);
	return err;
}

struct conv {
	const dict_t *d;
	char *err;
	size_t errlen;
	struct sym_frame *frames;
};

static int bad(struct conv *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad(struct conv *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, c->errlen, fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

/* String IDX of the dictionary, or NULL when out of range. */
static const char *str(const struct conv *c, int32_t idx)
{
	if (idx < 0 || !c->d || (size_t)idx >= c->d->n_string_table)
		return idx == 0 ? "" : NULL;
	return c->d->string_table[idx] ? c->d->string_table[idx] : "";
}

static const char *any_str(const struct conv *c, const any_t *v)
{
	if (!v)
		return NULL;
	if (v->value_case == OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE)
		return v->string_value;
	if (v->value_case ==
	    OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE_STRINDEX)
		return str(c, v->string_value_strindex);
	return NULL;
}

struct ident {
	const char *f[WREC_ID_NR];
	char key[1024];
	const char *wl_kind;
};

static void resource_identity(const struct conv *c, const rprof_t *rp, struct ident *id)
{
	const struct otlp_attr *map;
	const char *k, *v, *kind;
	size_t i, j, nr_map;

	memset(id, 0, sizeof(*id));
	map = otlp_attrs(&nr_map);
	for (i = 0; rp->resource && i < rp->resource->n_attributes; i++) {
		const kv_t *kv = rp->resource->attributes[i];

		k = kv->key && *kv->key ? kv->key : str(c, kv->key_strindex);
		v = any_str(c, kv->value);
		if (!k || !v || !*v)
			continue;
		/* The two keys only a receiver reads; then the map encode writes with. */
		if (!strcmp(k, "kiln.workload.key"))
			id->f[WREC_ID_KEY] = v;
		else if (!strcmp(k, "service.name"))
			id->f[WREC_ID_NAME] = v;
		for (j = 0; j < nr_map; j++)
			if (!strcmp(k, map[j].key))
				id->f[map[j].field] = v;
		kind = otlp_attr__workload_kind(k);
		if (kind) {
			id->f[WREC_ID_K8S_WL_KIND] = kind;
			id->f[WREC_ID_K8S_WL_NAME] = v;
		}
	}
	if (!id->f[WREC_ID_NAME])
		id->f[WREC_ID_NAME] = id->f[WREC_ID_K8S_WL_NAME] ? id->f[WREC_ID_K8S_WL_NAME]
								 : "unknown_service";
	if (id->f[WREC_ID_KEY]) {
		snprintf(id->key, sizeof(id->key), "%s", id->f[WREC_ID_KEY]);
	} else if (id->f[WREC_ID_K8S_WL_NAME] && id->f[WREC_ID_K8S_NAMESPACE]) {
		snprintf(id->key, sizeof(id->key), "k8s/%s/%s/%s", id->f[WREC_ID_K8S_NAMESPACE],
			 id->f[WREC_ID_K8S_WL_KIND], id->f[WREC_ID_K8S_WL_NAME]);
	} else {
		snprintf(id->key, sizeof(id->key), "service/%s", id->f[WREC_ID_NAME]);
	}
	id->f[WREC_ID_KEY] = id->key;
	if (!id->f[WREC_ID_KIND])
		id->f[WREC_ID_KIND] = id->f[WREC_ID_K8S_NAMESPACE]  ? "pod"
				      : id->f[WREC_ID_CONTAINER_ID] ? "container"
								    : "service";
}

/* Whether location L says it is a CPython frame (profile.frame.type = "cpython"). */
static bool python_location(const struct conv *c, const loc_t *l)
{
	size_t i;

	for (i = 0; i < l->n_attribute_indices; i++) {
		int32_t ai = l->attribute_indices[i];
		const char *k, *v;

		if (ai <= 0 || (size_t)ai >= c->d->n_attribute_table || !c->d->attribute_table[ai])
			continue;
		k = str(c, c->d->attribute_table[ai]->key_strindex);
		v = any_str(c, c->d->attribute_table[ai]->value);
		if (k && v && !strcmp(k, "profile.frame.type") && !strcmp(v, "cpython"))
			return true;
	}
	return false;
}

/* Fills c->frames for stack index SI, leaf first. Returns the frame count or -EBADMSG. */
static int stack_frames(struct conv *c, int32_t si)
{
	const dict_t *d = c->d;
	size_t i, j, nr = 0;

	if (si < 0 || (si > 0 && (!d || (size_t)si >= d->n_stack_table)))
		return bad(c, "stack_index %d out of range", si);
	if (!si || !d->stack_table[si])
		return 0;
	for (i = 0; i < d->stack_table[si]->n_location_indices; i++) {
		int32_t li = d->stack_table[si]->location_indices[i];
		const loc_t *l;
		const map_t *m = NULL;
		const char *file = NULL;
		struct sym_frame base = { .kind = SYM_FRAME_NATIVE };

		if (li < 0 || (size_t)li >= d->n_location_table)
			return bad(c, "location index %d out of range", li);
		l = d->location_table[li];
		if (l->mapping_index < 0 ||
		    (l->mapping_index > 0 && (size_t)l->mapping_index >= d->n_mapping_table))
			return bad(c, "mapping_index %d out of range", l->mapping_index);
		if (l->mapping_index > 0) {
			m = d->mapping_table[l->mapping_index];
			file = str(c, m->filename_strindex);
			if (!file)
				return bad(c, "mapping filename_strindex out of range");
		}
		base.addr = base.elf_vaddr = l->address;
		if (file && *file) {
			base.module = file;
			base.map_start = m->memory_start;
			base.map_limit = m->memory_limit;
			base.map_offset = m->file_offset;
			if (file[0] == '[')
				base.kind = SYM_FRAME_KERNEL;
		}
		if (python_location(c, l))
			base.kind = SYM_FRAME_PYTHON;
		/* Inlined frames: every line is a frame, the callee (leaf) first. */
		for (j = 0; j < (l->n_lines ? l->n_lines : 1); j++) {
			struct sym_frame *f;

			if (nr >= OTLP_MAX_FRAMES)
				return bad(c, "stack deeper than %d frames", OTLP_MAX_FRAMES);
			f = &c->frames[nr++];
			*f = base;
			if (l->n_lines) {
				int32_t fi = l->lines[j]->function_index;
				const char *name;

				if (fi < 0 || (fi > 0 && (size_t)fi >= d->n_function_table))
					return bad(c, "function_index %d out of range", fi);
				if (fi) {
					name = str(c, d->function_table[fi]->name_strindex);
					if (!name)
						return bad(c, "function name_strindex out of "
							      "range");
					f->name = *name ? name : NULL;
					if (f->kind == SYM_FRAME_PYTHON) {
						f->file = str(
							c,
							d->function_table[fi]->filename_strindex);
						f->line = l->lines[j]->line > 0
								  ? (uint32_t)l->lines[j]->line
								  : 0;
					}
				}
			}
		}
	}
	return (int)nr;
}

static int convert(struct conv *c, const prof_t *pr, const struct ident *id, otlp_emit_fn emit,
		   void *ctx, struct otlp_result *res)
{
	struct wrec_identity wid = { 0 };
	struct wrec_window win = { 0 };
	struct profile *p = NULL;
	const char *unit = NULL;
	uint64_t period_ns = 0, count;
	void *buf = NULL;
	size_t i, len;
	ssize_t n;
	int err = 0, nr;

	if (pr->period_type && pr->period > 0) {
		unit = str(c, pr->period_type->unit_strindex);
		if (unit && !strcmp(unit, "nanoseconds"))
			period_ns = (uint64_t)pr->period;
	}
	unit = pr->sample_type ? str(c, pr->sample_type->unit_strindex) : "";
	if (!unit)
		return bad(c, "sample_type unit_strindex out of range");
	p = profile__new(period_ns);
	if (!p)
		return -ENOMEM;
	for (i = 0; i < pr->n_samples; i++) {
		const sample_t *s = pr->samples[i];

		if (s->n_values) {
			if (s->values[0] <= 0)
				continue;
			count = (uint64_t)s->values[0];
			/* A CPU-time value is turned back into samples of one period each. */
			if (!strcmp(unit, "nanoseconds") && period_ns)
				count = (count + period_ns / 2) / period_ns;
		} else {
			count = s->n_timestamps_unix_nano;
		}
		if (!count)
			continue;
		nr = stack_frames(c, s->stack_index);
		if (nr < 0) {
			err = nr;
			goto cleanup;
		}
		if (!nr) {
			/*
			 * A sample without frames still counts: it shows as "[unknown]" (and
			 * profile__add() is never handed an empty stack).
			 */
			c->frames[0] = (struct sym_frame){ .kind = SYM_FRAME_NATIVE };
			nr = 1;
		}
		err = profile__add(p, c->frames, (size_t)nr, "", 0, 0, count);
		if (err)
			goto cleanup;
	}
	if (!profile__total(p)) {
		res->skipped++;
		goto cleanup;
	}
	for (i = 0; i < WREC_ID_NR; i++)
		wid.field[i] = id->f[i];
	win.start_ns = pr->time_unix_nano;
	win.duration_ns = pr->duration_nano;
	win.period_ns = period_ns;
	len = wrec__size(p, &wid);
	if (!len) {
		err = bad(c, "profile too large");
		goto cleanup;
	}
	buf = aligned_alloc(8, len);
	if (!buf) {
		err = -ENOMEM;
		goto cleanup;
	}
	n = wrec__encode(p, &wid, &win, buf, len);
	if (n < 0) {
		err = (int)n;
		goto cleanup;
	}
	res->profiles++;
	res->samples += profile__total(p);
	err = emit(buf, (size_t)n, ctx);
cleanup:
	free(buf);
	profile__free(p);
	return err;
}

int otlp__decode(const void *body, size_t len, otlp_emit_fn emit, void *ctx,
		 struct otlp_result *res, char *err, size_t errlen)
{
	struct conv c = { .err = err, .errlen = errlen };
	struct ident id;
	req_t *req;
	size_t i, j, k;
	int ret = 0;

	memset(res, 0, sizeof(*res));
	req = opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__unpack(
		NULL, len, body);
	if (!req)
		return bad(&c, "body is not an ExportProfilesServiceRequest protobuf");
	c.d = req->dictionary;
	c.frames = malloc(OTLP_MAX_FRAMES * sizeof(*c.frames));
	if (!c.frames) {
		ret = -ENOMEM;
		goto cleanup;
	}
	for (i = 0; i < req->n_resource_profiles; i++) {
		const rprof_t *rp = req->resource_profiles[i];

		resource_identity(&c, rp, &id);
		for (j = 0; j < rp->n_scope_profiles; j++) {
			for (k = 0; k < rp->scope_profiles[j]->n_profiles; k++) {
				ret = convert(&c, rp->scope_profiles[j]->profiles[k], &id, emit,
					      ctx, res);
				if (ret)
					goto cleanup;
			}
		}
	}
cleanup:
	free(c.frames);
	opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__free_unpacked(
		req, NULL);
	return ret;
}
