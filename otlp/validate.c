// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otlp/otlp.h"
#include "proto/opentelemetry/proto/collector/profiles/v1development/profiles_service.pb-c.h"

typedef Opentelemetry__Proto__Collector__Profiles__V1development__ExportProfilesServiceRequest req_t;
typedef Opentelemetry__Proto__Profiles__V1development__ProfilesDictionary dict_t;
typedef Opentelemetry__Proto__Profiles__V1development__Profile profile_t;
typedef Opentelemetry__Proto__Profiles__V1development__Sample sample_t;
typedef Opentelemetry__Proto__Profiles__V1development__ValueType vt_t;
typedef Opentelemetry__Proto__Common__V1__AnyValue anyvalue_t;

#define ANY_NOT_SET OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE__NOT_SET
#define ANY_STRING OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE
#define ANY_STRINDEX OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE_STRINDEX

struct vctx {
	const dict_t *d;
	char *err;
	size_t errlen;
};

static int fail(struct vctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct vctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (c->errlen)
		vsnprintf(c->err, c->errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static bool in_range(int32_t i, size_t n)
{
	return i >= 0 && (size_t)i < n;
}

static int check_indices(struct vctx *c, const char *what, const int32_t *v, size_t n, size_t lim,
			 const char *table)
{
	for (size_t i = 0; i < n; i++)
		if (!in_range(v[i], lim))
			return fail(c, "%s: index %d out of range of %s (%zu entries)", what, v[i],
				    table, lim);
	return 0;
}

#define CHECK(cond, ...)                             \
	do {                                         \
		if (!(cond))                         \
			return fail(c, __VA_ARGS__); \
	} while (0)

static int check_dict(struct vctx *c)
{
	const dict_t *d = c->d;
	size_t i, j;
	int err;

	CHECK(d, "no dictionary");
	CHECK(d->n_string_table && !*d->string_table[0], "string_table[0] is not \"\"");
	CHECK(d->n_mapping_table, "mapping_table has no zero entry");
	CHECK(d->n_location_table, "location_table has no zero entry");
	CHECK(d->n_function_table, "function_table has no zero entry");
	CHECK(d->n_link_table, "link_table has no zero entry");
	CHECK(d->n_attribute_table, "attribute_table has no zero entry");
	CHECK(d->n_stack_table, "stack_table has no zero entry");
	{
		const typeof(**d->mapping_table) *m = d->mapping_table[0];
		CHECK(!m->memory_start && !m->memory_limit && !m->file_offset &&
			      !m->filename_strindex && !m->n_attribute_indices,
		      "mapping_table[0] is not the zero mapping");
	}
	{
		const typeof(**d->location_table) *l = d->location_table[0];
		CHECK(!l->mapping_index && !l->address && !l->n_lines && !l->n_attribute_indices,
		      "location_table[0] is not the zero location");
	}
	{
		const typeof(**d->function_table) *f = d->function_table[0];
		CHECK(!f->name_strindex && !f->system_name_strindex && !f->filename_strindex &&
			      !f->start_line,
		      "function_table[0] is not the zero function");
	}
	CHECK(!d->link_table[0]->trace_id.len && !d->link_table[0]->span_id.len, "link_table[0] is "
										 "not the zero "
										 "link");
	{
		const typeof(**d->attribute_table) *a = d->attribute_table[0];
		CHECK(!a->key_strindex && !a->unit_strindex &&
			      (!a->value || a->value->value_case == ANY_NOT_SET),
		      "attribute_table[0] is not the zero attribute");
	}
	CHECK(!d->stack_table[0]->n_location_indices, "stack_table[0] is not the empty stack");

	for (i = 0; i < d->n_mapping_table; i++) {
		const typeof(**d->mapping_table) *m = d->mapping_table[i];

		CHECK(in_range(m->filename_strindex, d->n_string_table),
		      "mapping_table[%zu].filename_strindex out of range", i);
		err = check_indices(c, "mapping attribute_indices", m->attribute_indices,
				    m->n_attribute_indices, d->n_attribute_table,
				    "attribute_table");
		if (err)
			return err;
	}
	for (i = 0; i < d->n_location_table; i++) {
		const typeof(**d->location_table) *l = d->location_table[i];

		CHECK(in_range(l->mapping_index, d->n_mapping_table),
		      "location_table[%zu].mapping_index %d out of range", i, l->mapping_index);
		for (j = 0; j < l->n_lines; j++)
			CHECK(in_range(l->lines[j]->function_index, d->n_function_table),
			      "location_table[%zu].lines[%zu].function_index out of range", i, j);
		err = check_indices(c, "location attribute_indices", l->attribute_indices,
				    l->n_attribute_indices, d->n_attribute_table,
				    "attribute_table");
		if (err)
			return err;
	}
	for (i = 0; i < d->n_function_table; i++) {
		const typeof(**d->function_table) *f = d->function_table[i];

		CHECK(in_range(f->name_strindex, d->n_string_table) &&
			      in_range(f->system_name_strindex, d->n_string_table) &&
			      in_range(f->filename_strindex, d->n_string_table),
		      "function_table[%zu]: a string index is out of range", i);
	}
	for (i = 0; i < d->n_attribute_table; i++) {
		const typeof(**d->attribute_table) *a = d->attribute_table[i];

		CHECK(in_range(a->key_strindex, d->n_string_table) &&
			      in_range(a->unit_strindex, d->n_string_table),
		      "attribute_table[%zu]: key or unit index out of range", i);
		CHECK(i == 0 || a->key_strindex, "attribute_table[%zu] has no key", i);
		CHECK(!a->value || a->value->value_case != ANY_STRINDEX ||
			      in_range(a->value->string_value_strindex, d->n_string_table),
		      "attribute_table[%zu]: string_value_strindex out of range", i);
	}
	for (i = 0; i < d->n_stack_table; i++) {
		const typeof(**d->stack_table) *s = d->stack_table[i];

		err = check_indices(c, "stack location_indices", s->location_indices,
				    s->n_location_indices, d->n_location_table, "location_table");
		if (err)
			return err;
	}
	return 0;
}

static const char *str(const dict_t *d, int32_t i)
{
	return in_range(i, d->n_string_table) ? d->string_table[i] : NULL;
}

static int check_vt(struct vctx *c, const vt_t *vt, const char *what, const char *type,
		    const char *unit, size_t pi)
{
	const char *t, *u;

	CHECK(vt, "profile %zu: no %s", pi, what);
	t = str(c->d, vt->type_strindex);
	u = str(c->d, vt->unit_strindex);
	CHECK(t && u, "profile %zu: %s index out of range", pi, what);
	CHECK(!strcmp(t, type) && !strcmp(u, unit), "profile %zu: %s is %s/%s, not %s/%s", pi, what,
	      t, u, type, unit);
	return 0;
}

static int check_profile(struct vctx *c, const profile_t *p, size_t pi, struct otlp_stats *st)
{
	const dict_t *d = c->d;
	size_t i, nv = 0, nt = 0;
	int err;

	err = check_vt(c, p->sample_type, "sample_type", "samples", "count", pi);
	if (!err)
		err = check_vt(c, p->period_type, "period_type", "cpu", "nanoseconds", pi);
	if (err)
		return err;
	CHECK(p->period > 0, "profile %zu: period %lld is not positive", pi, (long long)p->period);
	CHECK(p->profile_id.len == 0 || p->profile_id.len == 16,
	      "profile %zu: profile_id is %zu bytes", pi, p->profile_id.len);
	err = check_indices(c, "profile attribute_indices", p->attribute_indices,
			    p->n_attribute_indices, d->n_attribute_table, "attribute_table");
	if (err)
		return err;
	for (i = 0; i < p->n_samples; i++) {
		const sample_t *s = p->samples[i];

		CHECK(in_range(s->stack_index, d->n_stack_table),
		      "profile %zu sample %zu: stack_index %d out of range", pi, i, s->stack_index);
		CHECK(in_range(s->link_index, d->n_link_table),
		      "profile %zu sample %zu: link_index out of range", pi, i);
		err = check_indices(c, "sample attribute_indices", s->attribute_indices,
				    s->n_attribute_indices, d->n_attribute_table,
				    "attribute_table");
		if (err)
			return err;
		CHECK(s->n_values || s->n_timestamps_unix_nano,
		      "profile %zu sample %zu: neither values nor timestamps", pi, i);
		CHECK(!s->n_values || !s->n_timestamps_unix_nano ||
			      s->n_values == s->n_timestamps_unix_nano,
		      "profile %zu sample %zu: %zu values but %zu timestamps", pi, i, s->n_values,
		      s->n_timestamps_unix_nano);
		if (i == 0) {
			nv = s->n_values;
			nt = s->n_timestamps_unix_nano;
		}
		CHECK(s->n_values == nv && (s->n_timestamps_unix_nano != 0) == (nt != 0),
		      "profile %zu sample %zu: shape differs from sample 0", pi, i);
		/* Pyroscope: a single aggregated value, or timestamps only. */
		CHECK(s->n_values <= 1, "profile %zu sample %zu: %zu values, expected one", pi, i,
		      s->n_values);
		for (size_t k = 0; k < s->n_timestamps_unix_nano; k++)
			CHECK(s->timestamps_unix_nano[k] >= p->time_unix_nano &&
				      s->timestamps_unix_nano[k] - p->time_unix_nano <
					      p->duration_nano,
			      "profile %zu sample %zu: timestamp outside the profile", pi, i);
		if (s->n_values) {
			CHECK(s->values[0] >= 0, "profile %zu sample %zu: negative value", pi, i);
			st->samples += (uint64_t)s->values[0];
		} else {
			st->samples += s->n_timestamps_unix_nano;
		}
	}
	return 0;
}

int otlp_validate(const void *body, size_t len, struct otlp_stats *stats, char *err, size_t errlen)
{
	struct otlp_stats st = { 0 };
	struct vctx c = { .err = err, .errlen = errlen };
	req_t *r;
	size_t i, j, k;
	int ret;

	if (errlen)
		err[0] = 0;
	r = opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__unpack(
		NULL, len, body);
	if (!r) {
		if (errlen)
			snprintf(err, errlen, "not an ExportProfilesServiceRequest");
		return -EBADMSG;
	}
	c.d = r->dictionary;
	ret = check_dict(&c);
	if (ret)
		goto cleanup;
	for (i = 0; i < r->n_resource_profiles; i++) {
		const typeof(**r->resource_profiles) *rp = r->resource_profiles[i];
		bool service = false;

		st.resources++;
		if (!rp->resource) {
			ret = fail(&c, "resource_profiles[%zu]: no resource", i);
			goto cleanup;
		}
		for (k = 0; k < rp->resource->n_attributes; k++) {
			const typeof(**rp->resource->attributes) *kv = rp->resource->attributes[k];

			if (!*kv->key) {
				ret = fail(&c,
					   "resource_profiles[%zu]: attribute %zu has no plain key",
					   i, k);
				goto cleanup;
			}
			if (!kv->value || kv->value->value_case != ANY_STRING) {
				ret = fail(&c,
					   "resource_profiles[%zu]: attribute %s is not a plain "
					   "string_value",
					   i, kv->key);
				goto cleanup;
			}
			if (!strcmp(kv->key, "service.name") && kv->value &&
			    kv->value->value_case == ANY_STRING && *kv->value->string_value)
				service = true;
		}
		if (rp->resource->n_attributes > OTLP_MAX_RESOURCE_ATTRS) {
			ret = fail(&c, "resource_profiles[%zu]: %zu attributes, more than %u", i,
				   rp->resource->n_attributes, OTLP_MAX_RESOURCE_ATTRS);
			goto cleanup;
		}
		if (!service) {
			ret = fail(&c, "resource_profiles[%zu]: no service.name string attribute",
				   i);
			goto cleanup;
		}
		for (j = 0; j < rp->n_scope_profiles; j++) {
			const typeof(**rp->scope_profiles) *sp = rp->scope_profiles[j];

			for (k = 0; k < sp->n_profiles; k++) {
				ret = check_profile(&c, sp->profiles[k], st.profiles, &st);
				if (ret)
					goto cleanup;
				if (sp->profiles[k]->n_samples > OTLP_MAX_PROFILE_SAMPLES) {
					ret = fail(&c,
						   "profile %" PRIu64 ": %zu samples, more than %u",
						   st.profiles, sp->profiles[k]->n_samples,
						   OTLP_MAX_PROFILE_SAMPLES);
					goto cleanup;
				}
				if (sp->profiles[k]->n_samples > st.max_profile_samples)
					st.max_profile_samples = sp->profiles[k]->n_samples;
				st.profiles++;
			}
		}
	}
	if (stats)
		*stats = st;
	ret = 0;
cleanup:
	opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__free_unpacked(
		r, NULL);
	return ret;
}

/* Reads a varint at *P (below END). Returns false when it runs past END. */
static bool scan_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	unsigned int shift = 0;

	*v = 0;
	while (*p < end && shift < 64) {
		uint8_t b = *(*p)++;

		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return true;
		shift += 7;
	}
	return false;
}

/*
 * Calls FN for each field of the message [P, END) with its number, wire type, payload
 * start and payload length (varints: the value in LEN). Returns 0 or -EBADMSG.
 */
static int scan_fields(const uint8_t *p, const uint8_t *end,
		       int (*fn)(void *arg, uint32_t field, uint32_t wt, const uint8_t *v,
				 uint64_t len),
		       void *arg)
{
	uint64_t tag, n;
	int err;

	while (p < end) {
		if (!scan_varint(&p, end, &tag))
			return -EBADMSG;
		switch (tag & 7) {
		case 0:
			if (!scan_varint(&p, end, &n))
				return -EBADMSG;
			err = fn(arg, (uint32_t)(tag >> 3), 0, p, n);
			break;
		case 1:
			if (end - p < 8)
				return -EBADMSG;
			err = fn(arg, (uint32_t)(tag >> 3), 1, p, 8);
			p += 8;
			break;
		case 2:
			if (!scan_varint(&p, end, &n) || n > (uint64_t)(end - p))
				return -EBADMSG;
			err = fn(arg, (uint32_t)(tag >> 3), 2, p, n);
			p += n;
			break;
		case 5:
			if (end - p < 4)
				return -EBADMSG;
			p += 4;
			err = 0;
			break;
		default:
			return -EBADMSG;
		}
		if (err)
			return err;
	}
	return 0;
}

struct span {
	uint64_t min, max, start, duration;
	uint32_t depth; /* 0 request, 1 resource profiles, 2 scope profiles, 3 profile */
	bool any;
};

static int span_field(void *arg, uint32_t field, uint32_t wt, const uint8_t *v, uint64_t len)
{
	struct span *s = arg;
	struct span inner;
	int err;

	if (s->depth == 3) {
		if (field == 3 && wt == 1)
			memcpy(&s->start, v, 8); /* time_unix_nano, fixed64 little-endian */
		else if (field == 4 && wt == 0)
			s->duration = len;
		return 0;
	}
	/* request.resource_profiles = 1, resource.scope_profiles = 2, scope.profiles = 2 */
	if (wt != 2 || field != (s->depth == 0 ? 1u : 2u))
		return 0;
	inner = *s;
	inner.depth = s->depth + 1;
	inner.start = inner.duration = 0;
	err = scan_fields(v, v + len, span_field, &inner);
	if (err)
		return err;
	if (inner.depth == 3) {
		if (!inner.any || inner.start < inner.min)
			inner.min = inner.start;
		if (!inner.any || inner.start + inner.duration > inner.max)
			inner.max = inner.start + inner.duration;
		inner.any = true;
	}
	s->min = inner.min;
	s->max = inner.max;
	s->any = inner.any;
	return 0;
}

int otlp_time_span(const void *body, size_t len, uint64_t *min_ns, uint64_t *max_ns)
{
	struct span s = { 0 };
	int err = scan_fields(body, (const uint8_t *)body + len, span_field, &s);

	if (err)
		return err;
	if (!s.any)
		return -ENOENT;
	*min_ns = s.min;
	*max_ns = s.max;
	return 0;
}
