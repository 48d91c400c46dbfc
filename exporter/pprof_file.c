// SPDX-License-Identifier: Apache-2.0
/*
 * The file destination's pprof format: a batch (an encoded OTLP request) read back through
 * the OTLP decoder into window records, merged into one profile and written as a gzipped
 * profile.proto that Go's pprof opens. Each sample keeps its workload's name as the comm
 * label, so one file still tells the workloads apart.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exporter/internal.h"
#include "profile/profile.h"
#include "profile/wrec.h"

#define MAX_FRAMES 512

struct conv {
	struct profile *p;
	struct sym_frame frames[MAX_FRAMES];
	uint64_t start, end;
	int err;
};

/* Window record frame kinds and the symbolizer's share their numbers. */
static enum sym_frame_kind frame_kind(uint32_t kind)
{
	return kind >= SYM_FRAME_KERNEL && kind <= SYM_FRAME_PYTHON ? (enum sym_frame_kind)kind
								    : SYM_FRAME_NATIVE;
}

/* Fills c->frames with stack SI of V, leaf first. Returns the number of frames. */
static size_t stack_frames(struct conv *c, const struct wrec_view *v, uint32_t si)
{
	const struct wrec_stack *st = &v->stacks[si];
	size_t i, n = st->nr < MAX_FRAMES ? st->nr : MAX_FRAMES;

	for (i = 0; i < n; i++) {
		const struct wrec_location *l = &v->locs[v->stack_locs[st->first + i]];
		const struct wrec_mapping *m = &v->maps[l->mapping];
		const struct wrec_function *f = &v->funcs[l->function];
		struct sym_frame *fr = &c->frames[i];

		memset(fr, 0, sizeof(*fr));
		fr->kind = frame_kind(l->kind);
		fr->addr = fr->elf_vaddr = l->address;
		if (l->mapping) {
			fr->module = wrec_view__str(v, m->file);
			fr->build_id = m->build_id ? wrec_view__str(v, m->build_id) : NULL;
			fr->map_start = m->start;
			fr->map_limit = m->limit;
			fr->map_offset = m->offset;
		}
		if (l->function) {
			fr->name = wrec_view__str(v, f->name);
			fr->system_name = wrec_view__str(v, f->system_name);
			fr->file = f->file ? wrec_view__str(v, f->file) : NULL;
		}
		fr->line = l->line;
	}
	return n;
}

static int add_record(const void *rec, size_t len, void *ctx)
{
	struct conv *c = ctx;
	struct wrec_view v;
	uint32_t i;
	size_t n;
	int err = wrec__parse(rec, len, &v);

	if (err)
		return err;
	if (!c->p) {
		c->p = profile__new(v.hdr->period_ns);
		if (!c->p)
			return -ENOMEM;
		c->start = v.hdr->start_ns;
	}
	if (v.hdr->start_ns < c->start)
		c->start = v.hdr->start_ns;
	if (v.hdr->start_ns + v.hdr->duration_ns > c->end)
		c->end = v.hdr->start_ns + v.hdr->duration_ns;
	for (i = 0; i < v.nr_samples; i++) {
		const struct wrec_sample *s = &v.samples[i];

		if (!s->count || !s->stack)
			continue;
		n = stack_frames(c, &v, s->stack);
		if (!n) {
			c->frames[0] = (struct sym_frame){ .kind = SYM_FRAME_NATIVE };
			n = 1;
		}
		err = profile__add(c->p, c->frames, n, wrec_view__id(&v, WREC_ID_NAME), s->tgid,
				   s->pid, s->count);
		if (err)
			return err;
	}
	return 0;
}

int exp_write_pprof(int dirfd, const char *name, const uint8_t *body, size_t len)
{
	struct conv *c = calloc(1, sizeof(*c));
	struct otlp_result res;
	char path[128], err_msg[256];
	int err;

	if (!c)
		return -ENOMEM;
	err = otlp__decode(body, len, add_record, c, &res, err_msg, sizeof(err_msg));
	if (err)
		goto cleanup;
	if (!c->p) {
		err = -ENODATA;
		goto cleanup;
	}
	profile__set_time(c->p, c->start, c->end - c->start);
	/* The directory may have been handed over with no path to it: name it by descriptor. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dirfd, name);
	err = profile__write_pprof(c->p, path);
cleanup:
	profile__free(c->p);
	free(c);
	return err;
}
