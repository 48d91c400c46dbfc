// SPDX-License-Identifier: Apache-2.0
/*
 * profile__write_pprof(): the profile's tables map one to one onto pprof's (ids are our
 * table indices, which start at 1), so the writer only points protobuf-c's structs at
 * arrays built here, packs once and gzips.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "profile/profile.h"
#include "profile/profile_internal.h"
#include "proto/profile.pb-c.h"

typedef Perftools__Profiles__Profile PbProfile;
typedef Perftools__Profiles__ValueType PbValueType;
typedef Perftools__Profiles__Sample PbSample;
typedef Perftools__Profiles__Label PbLabel;
typedef Perftools__Profiles__Mapping PbMapping;
typedef Perftools__Profiles__Location PbLocation;
typedef Perftools__Profiles__Line PbLine;
typedef Perftools__Profiles__Function PbFunction;

enum {
	STR_SAMPLES,
	STR_COUNT,
	STR_CPU,
	STR_NANOSECONDS,
	STR_PID,
	STR_TID,
	STR_COMM,
	NR_EXTRA_STRS,
};

static const char *const extra_strs[NR_EXTRA_STRS] = {
	[STR_SAMPLES] = "samples",
	[STR_COUNT] = "count",
	[STR_PID] = "pid",
	[STR_CPU] = "cpu",
	[STR_NANOSECONDS] = "nanoseconds",
	[STR_TID] = "tid",
	[STR_COMM] = "comm",
};

#define NR_LABELS 3

static int write_gz(const char *path, const uint8_t *buf, size_t len)
{
	gzFile gz = NULL;
	int err = 0, zerr;

	gz = gzopen(path, "wb");
	if (!gz) {
		err = errno ? -errno : -ENOMEM;
		goto cleanup;
	}
	while (len) {
		unsigned chunk = len > (1u << 30) ? 1u << 30 : (unsigned)len;
		int n = gzwrite(gz, buf, chunk);

		if (n <= 0) {
			err = -EIO;
			goto cleanup;
		}
		buf += n;
		len -= (size_t)n;
	}
cleanup:
	if (gz) {
		zerr = gzclose(gz);
		if (!err && zerr != Z_OK)
			err = zerr == Z_ERRNO && errno ? -errno : -EIO;
	}
	return err;
}

/* The protobuf-c structs of one profile and the arrays they point into. */
struct pb_tables {
	PbSample *samples, **samplesp;
	PbLabel *labels, **labelsp;
	PbMapping *maps, **mapsp;
	PbLocation *locs, **locsp;
	PbLine *lines, **linesp;
	PbFunction *funcs, **funcsp;
	uint64_t *loc_ids;
	int64_t *values;
	char **strs;
	uint32_t extra[NR_EXTRA_STRS]; /* string ids of extra_strs */
	size_t nr_strs, nr_maps, nr_locs, nr_funcs, nr_samples;
};

static void pb_tables__release(struct pb_tables *t)
{
	free(t->strs);
	free(t->samples);
	free(t->samplesp);
	free(t->labels);
	free(t->labelsp);
	free(t->values);
	free(t->loc_ids);
	free(t->maps);
	free(t->mapsp);
	free(t->locs);
	free(t->locsp);
	free(t->lines);
	free(t->linesp);
	free(t->funcs);
	free(t->funcsp);
}

/*
 * Allocates T's arrays for P and builds the string table: ours, plus the few pprof needs that
 * no frame brought in. Returns 0 or -ENOMEM (T released by the caller either way).
 */
static int pb_tables__alloc(struct pb_tables *t, const struct profile *p)
{
	size_t i, nr_samples;

	t->nr_strs = p->nr_strs;
	t->nr_maps = p->nr_maps - 1;
	t->nr_locs = p->nr_locs - 1;
	t->nr_funcs = p->nr_funcs - 1;
	t->nr_samples = nr_samples = p->nr_samples;
	t->strs = calloc(t->nr_strs + NR_EXTRA_STRS, sizeof(*t->strs));
	if (!t->strs)
		return -ENOMEM;
	memcpy(t->strs, p->strs, t->nr_strs * sizeof(*t->strs));
	for (i = 0; i < NR_EXTRA_STRS; i++) {
		if (profile__find_str(p, extra_strs[i], &t->extra[i])) {
			t->extra[i] = (uint32_t)t->nr_strs;
			t->strs[t->nr_strs++] = (char *)extra_strs[i];
		}
	}
	t->samples = calloc(nr_samples, sizeof(*t->samples));
	t->samplesp = calloc(nr_samples, sizeof(*t->samplesp));
	t->labels = calloc(nr_samples * NR_LABELS, sizeof(*t->labels));
	t->labelsp = calloc(nr_samples * NR_LABELS, sizeof(*t->labelsp));
	t->values = calloc(nr_samples * 2, sizeof(*t->values));
	t->loc_ids = calloc(p->nr_stack_locs, sizeof(*t->loc_ids));
	t->maps = calloc(t->nr_maps, sizeof(*t->maps));
	t->mapsp = calloc(t->nr_maps, sizeof(*t->mapsp));
	t->locs = calloc(t->nr_locs, sizeof(*t->locs));
	t->locsp = calloc(t->nr_locs, sizeof(*t->locsp));
	t->lines = calloc(t->nr_locs, sizeof(*t->lines));
	t->linesp = calloc(t->nr_locs, sizeof(*t->linesp));
	t->funcs = calloc(t->nr_funcs, sizeof(*t->funcs));
	t->funcsp = calloc(t->nr_funcs, sizeof(*t->funcsp));
	if ((nr_samples &&
	     (!t->samples || !t->samplesp || !t->labels || !t->labelsp || !t->values)) ||
	    (p->nr_stack_locs && !t->loc_ids) || (t->nr_maps && (!t->maps || !t->mapsp)) ||
	    (t->nr_locs && (!t->locs || !t->locsp || !t->lines || !t->linesp)) ||
	    (t->nr_funcs && (!t->funcs || !t->funcsp)))
		return -ENOMEM;
	return 0;
}

/* Samples with their values (count, CPU time) and labels pid, tid, comm. */
static void pb_fill_samples(struct pb_tables *t, const struct profile *p)
{
	size_t i, j;

	for (i = 0; i < p->nr_stack_locs; i++)
		t->loc_ids[i] = p->stack_locs[i];
	for (i = 0; i < t->nr_samples; i++) {
		const struct profile_sample *s = &p->samples[i];
		const struct profile_stack *st = &p->stacks[s->stack];
		PbSample *ps = &t->samples[i];
		PbLabel *l = &t->labels[i * NR_LABELS];

		perftools__profiles__sample__init(ps);
		ps->n_location_id = st->nr;
		ps->location_id = st->nr ? &t->loc_ids[st->off] : NULL;
		t->values[2 * i] = (int64_t)s->count;
		t->values[2 * i + 1] = (int64_t)(s->count * p->period_ns);
		ps->n_value = 2;
		ps->value = &t->values[2 * i];
		for (j = 0; j < NR_LABELS; j++) {
			perftools__profiles__label__init(&l[j]);
			t->labelsp[i * NR_LABELS + j] = &l[j];
		}
		l[0].key = t->extra[STR_PID];
		l[0].num = s->tgid;
		l[1].key = t->extra[STR_TID];
		l[1].num = s->pid;
		l[2].key = t->extra[STR_COMM];
		l[2].str = s->comm;
		ps->n_label = NR_LABELS;
		ps->label = &t->labelsp[i * NR_LABELS];
		t->samplesp[i] = ps;
	}
}

/* Functions, locations (one line each when named) and mappings: our ids are pprof's. */
static void pb_fill_tables(struct pb_tables *t, const struct profile *p)
{
	size_t i;

	for (i = 0; i < t->nr_funcs; i++) {
		const struct profile_function *f = &p->funcs[i + 1];
		PbFunction *pf = &t->funcs[i];

		perftools__profiles__function__init(pf);
		pf->id = i + 1;
		/* No demangling yet: the shown name is the linker's name. */
		pf->name = pf->system_name = f->name;
		pf->filename = f->file;
		t->funcsp[i] = pf;
	}
	for (i = 0; i < t->nr_locs; i++) {
		const struct profile_location *l = &p->locs[i + 1];
		PbLocation *pl = &t->locs[i];

		perftools__profiles__location__init(pl);
		pl->id = i + 1;
		pl->mapping_id = l->mapping;
		pl->address = l->addr;
		if (l->func) {
			perftools__profiles__line__init(&t->lines[i]);
			t->lines[i].function_id = l->func;
			t->lines[i].line = l->line;
			t->linesp[i] = &t->lines[i];
			pl->n_line = 1;
			pl->line = &t->linesp[i];
		}
		t->locsp[i] = pl;
	}
	for (i = 0; i < t->nr_maps; i++) {
		const struct profile_mapping *m = &p->maps[i + 1];
		PbMapping *pm = &t->maps[i];

		perftools__profiles__mapping__init(pm);
		pm->id = i + 1;
		pm->memory_start = m->start;
		pm->memory_limit = m->limit;
		pm->file_offset = m->offset;
		pm->filename = m->file;
		pm->build_id = m->build_id;
		/*
		 * Location addresses are ELF virtual addresses, not runtime ones, so pprof must
		 * not re-symbolize them against the file with this mapping's runtime range (it
		 * would find wrong names): we are the symbolizer of record, including for the
		 * addresses we could not name.
		 */
		pm->has_functions = true;
		t->mapsp[i] = pm;
	}
}

int profile__write_pprof(const struct profile *p, const char *path)
{
	PbProfile prof = PERFTOOLS__PROFILES__PROFILE__INIT;
	PbValueType vt[3] = { PERFTOOLS__PROFILES__VALUE_TYPE__INIT,
			      PERFTOOLS__PROFILES__VALUE_TYPE__INIT,
			      PERFTOOLS__PROFILES__VALUE_TYPE__INIT };
	PbValueType *vtp[2] = { &vt[0], &vt[1] };
	struct pb_tables t = { 0 };
	uint8_t *buf = NULL;
	size_t len;
	int err;

	err = pb_tables__alloc(&t, p);
	if (err)
		goto cleanup;
	vt[0].type = t.extra[STR_SAMPLES];
	vt[0].unit = t.extra[STR_COUNT];
	vt[1].type = vt[2].type = t.extra[STR_CPU];
	vt[1].unit = vt[2].unit = t.extra[STR_NANOSECONDS];
	pb_fill_samples(&t, p);
	pb_fill_tables(&t, p);

	prof.n_sample_type = 2;
	prof.sample_type = vtp;
	prof.n_sample = t.nr_samples;
	prof.sample = t.samplesp;
	prof.n_mapping = t.nr_maps;
	prof.mapping = t.mapsp;
	prof.n_location = t.nr_locs;
	prof.location = t.locsp;
	prof.n_function = t.nr_funcs;
	prof.function = t.funcsp;
	prof.n_string_table = t.nr_strs;
	prof.string_table = t.strs;
	prof.time_nanos = (int64_t)p->start_ns;
	prof.duration_nanos = (int64_t)p->duration_ns;
	prof.period_type = &vt[2];
	prof.period = (int64_t)p->period_ns;

	len = perftools__profiles__profile__get_packed_size(&prof);
	buf = malloc(len ? len : 1);
	if (!buf) {
		err = -ENOMEM;
		goto cleanup;
	}
	perftools__profiles__profile__pack(&prof, buf);
	err = write_gz(path, buf, len);
cleanup:
	free(buf);
	pb_tables__release(&t);
	return err;
}
