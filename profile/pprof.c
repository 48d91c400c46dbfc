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

int profile__write_pprof(const struct profile *p, const char *path)
{
	PbProfile prof = PERFTOOLS__PROFILES__PROFILE__INIT;
	PbValueType vt[3] = { PERFTOOLS__PROFILES__VALUE_TYPE__INIT,
			      PERFTOOLS__PROFILES__VALUE_TYPE__INIT,
			      PERFTOOLS__PROFILES__VALUE_TYPE__INIT };
	PbValueType *vtp[2] = { &vt[0], &vt[1] };
	PbSample *samples = NULL, **samplesp = NULL;
	PbLabel *labels = NULL, **labelsp = NULL;
	PbMapping *maps = NULL, **mapsp = NULL;
	PbLocation *locs = NULL, **locsp = NULL;
	PbLine *lines = NULL, **linesp = NULL;
	PbFunction *funcs = NULL, **funcsp = NULL;
	uint64_t *loc_ids = NULL;
	int64_t *values = NULL;
	char **strs = NULL;
	uint8_t *buf = NULL;
	uint32_t extra[NR_EXTRA_STRS];
	size_t nr_strs = p->nr_strs, i, j, len;
	size_t nr_maps = p->nr_maps - 1, nr_locs = p->nr_locs - 1, nr_funcs = p->nr_funcs - 1;
	size_t nr_samples = p->nr_samples;
	int err = 0;

	/* String table: ours, plus the few pprof needs that no frame brought in. */
	strs = calloc(nr_strs + NR_EXTRA_STRS, sizeof(*strs));
	if (!strs) {
		err = -ENOMEM;
		goto cleanup;
	}
	memcpy(strs, p->strs, nr_strs * sizeof(*strs));
	for (i = 0; i < NR_EXTRA_STRS; i++) {
		if (profile__find_str(p, extra_strs[i], &extra[i])) {
			extra[i] = (uint32_t)nr_strs;
			strs[nr_strs++] = (char *)extra_strs[i];
		}
	}

	vt[0].type = extra[STR_SAMPLES];
	vt[0].unit = extra[STR_COUNT];
	vt[1].type = vt[2].type = extra[STR_CPU];
	vt[1].unit = vt[2].unit = extra[STR_NANOSECONDS];

	samples = calloc(nr_samples, sizeof(*samples));
	samplesp = calloc(nr_samples, sizeof(*samplesp));
	labels = calloc(nr_samples * NR_LABELS, sizeof(*labels));
	labelsp = calloc(nr_samples * NR_LABELS, sizeof(*labelsp));
	values = calloc(nr_samples * 2, sizeof(*values));
	loc_ids = calloc(p->nr_stack_locs, sizeof(*loc_ids));
	maps = calloc(nr_maps, sizeof(*maps));
	mapsp = calloc(nr_maps, sizeof(*mapsp));
	locs = calloc(nr_locs, sizeof(*locs));
	locsp = calloc(nr_locs, sizeof(*locsp));
	lines = calloc(nr_locs, sizeof(*lines));
	linesp = calloc(nr_locs, sizeof(*linesp));
	funcs = calloc(nr_funcs, sizeof(*funcs));
	funcsp = calloc(nr_funcs, sizeof(*funcsp));
	if ((nr_samples && (!samples || !samplesp || !labels || !labelsp || !values)) ||
	    (p->nr_stack_locs && !loc_ids) || (nr_maps && (!maps || !mapsp)) ||
	    (nr_locs && (!locs || !locsp || !lines || !linesp)) ||
	    (nr_funcs && (!funcs || !funcsp))) {
		err = -ENOMEM;
		goto cleanup;
	}

	for (i = 0; i < p->nr_stack_locs; i++)
		loc_ids[i] = p->stack_locs[i];

	for (i = 0; i < nr_samples; i++) {
		const struct profile_sample *s = &p->samples[i];
		const struct profile_stack *st = &p->stacks[s->stack];
		PbSample *ps = &samples[i];
		PbLabel *l = &labels[i * NR_LABELS];

		perftools__profiles__sample__init(ps);
		ps->n_location_id = st->nr;
		ps->location_id = st->nr ? &loc_ids[st->off] : NULL;
		values[2 * i] = (int64_t)s->count;
		values[2 * i + 1] = (int64_t)(s->count * p->period_ns);
		ps->n_value = 2;
		ps->value = &values[2 * i];
		for (j = 0; j < NR_LABELS; j++) {
			perftools__profiles__label__init(&l[j]);
			labelsp[i * NR_LABELS + j] = &l[j];
		}
		l[0].key = extra[STR_PID];
		l[0].num = s->tgid;
		l[1].key = extra[STR_TID];
		l[1].num = s->pid;
		l[2].key = extra[STR_COMM];
		l[2].str = s->comm;
		ps->n_label = NR_LABELS;
		ps->label = &labelsp[i * NR_LABELS];
		samplesp[i] = ps;
	}

	for (i = 0; i < nr_funcs; i++) {
		const struct profile_function *f = &p->funcs[i + 1];
		PbFunction *pf = &funcs[i];

		perftools__profiles__function__init(pf);
		pf->id = i + 1;
		/* No demangling yet: the shown name is the linker's name. */
		pf->name = pf->system_name = f->name;
		pf->filename = f->file;
		funcsp[i] = pf;
	}

	for (i = 0; i < nr_locs; i++) {
		const struct profile_location *l = &p->locs[i + 1];
		PbLocation *pl = &locs[i];

		perftools__profiles__location__init(pl);
		pl->id = i + 1;
		pl->mapping_id = l->mapping;
		pl->address = l->addr;
		if (l->func) {
			perftools__profiles__line__init(&lines[i]);
			lines[i].function_id = l->func;
			lines[i].line = l->line;
			linesp[i] = &lines[i];
			pl->n_line = 1;
			pl->line = &linesp[i];
		}
		locsp[i] = pl;
	}

	for (i = 0; i < nr_maps; i++) {
		const struct profile_mapping *m = &p->maps[i + 1];
		PbMapping *pm = &maps[i];

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
		mapsp[i] = pm;
	}

	prof.n_sample_type = 2;
	prof.sample_type = vtp;
	prof.n_sample = nr_samples;
	prof.sample = samplesp;
	prof.n_mapping = nr_maps;
	prof.mapping = mapsp;
	prof.n_location = nr_locs;
	prof.location = locsp;
	prof.n_function = nr_funcs;
	prof.function = funcsp;
	prof.n_string_table = nr_strs;
	prof.string_table = strs;
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
	free(strs);
	free(samples);
	free(samplesp);
	free(labels);
	free(labelsp);
	free(values);
	free(loc_ids);
	free(maps);
	free(mapsp);
	free(locs);
	free(locsp);
	free(lines);
	free(linesp);
	free(funcs);
	free(funcsp);
	return err;
}
