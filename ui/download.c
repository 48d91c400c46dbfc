// SPDX-License-Identifier: Apache-2.0
/*
 * GET /api/slots/{id}/profile: what the page shows, as a file. The slot's chunks in range
 * go through the project's own encoders: pprof and folded via profile/ (the records turned
 * back into a profile), OTLP via otlp/ (the records as they are).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "otlp/otlp.h"
#include "profile/profile.h"
#include "profile/wrec.h"
#include "ui/api.h"
#include "ui/flame.h"

#define MS 1000000ull
#define MAX_FRAMES 1024

enum fmt {
	FMT_PPROF,
	FMT_FOLDED,
	FMT_OTLP,
};

struct dl {
	uint64_t from, to; /* ns, [from, to) on the windows' start */
	enum fmt fmt;
	struct profile *p;
	struct otlp_enc *enc;
	uint64_t first, last; /* time span covered */
	struct sym_frame frames[MAX_FRAMES];
};

static const char *str_or_null(const struct wrec_view *v, uint32_t i)
{
	return i ? wrec_view__str(v, i) : NULL;
}

/* The resolved frame of location LOC, strings pointing into the record. */
static void loc_frame(const struct wrec_view *v, uint32_t loc, struct sym_frame *fr)
{
	const struct wrec_location *l = &v->locs[loc];
	const struct wrec_mapping *m = l->mapping ? &v->maps[l->mapping] : NULL;
	const struct wrec_function *fn = l->function ? &v->funcs[l->function] : NULL;

	memset(fr, 0, sizeof(*fr));
	fr->kind = l->kind ? (enum sym_frame_kind)l->kind : SYM_FRAME_NATIVE;
	fr->addr = fr->elf_vaddr = l->address;
	fr->line = l->line;
	if (fn) {
		fr->name = str_or_null(v, fn->name);
		fr->system_name = str_or_null(v, fn->system_name);
		fr->file = str_or_null(v, fn->file);
	}
	if (m) {
		fr->module = str_or_null(v, m->file);
		fr->build_id = str_or_null(v, m->build_id);
		fr->map_start = m->start;
		fr->map_limit = m->limit;
		fr->map_offset = m->offset;
	}
}

static int add_view(struct dl *d, const struct wrec_view *v)
{
	uint32_t i, j, nr;
	int err;

	for (i = 0; i < v->nr_samples; i++) {
		const struct wrec_sample *s = &v->samples[i];
		const struct wrec_stack *st = &v->stacks[s->stack];

		nr = st->nr < MAX_FRAMES ? st->nr : MAX_FRAMES;
		for (j = 0; j < nr; j++)
			loc_frame(v, v->stack_locs[st->first + j], &d->frames[j]);
		if (!nr) {
			d->frames[0] = (struct sym_frame){ .kind = SYM_FRAME_NATIVE };
			nr = 1;
		}
		err = profile__add(d->p, d->frames, nr, wrec_view__str(v, s->thread_name), s->tgid,
				   s->pid, s->count);
		if (err)
			return err;
	}
	return 0;
}

static int dl_chunk(const void *chunk, size_t len, void *ctx)
{
	const struct wrec_header *h = chunk;
	struct dl *d = ctx;
	struct wrec_view v;
	int err;

	if (!flame_window_in_range(chunk, d->from, d->to))
		return 0;
	err = wrec__parse(chunk, len, &v);
	if (err)
		return 0; /* validated on the way in: cannot happen */
	if (!d->first || h->start_ns < d->first)
		d->first = h->start_ns;
	if (h->start_ns + h->duration_ns > d->last)
		d->last = h->start_ns + h->duration_ns;
	if (d->fmt == FMT_OTLP)
		return otlp_enc__add(d->enc, &v);
	if (!d->p) {
		d->p = profile__new(h->period_ns);
		if (!d->p)
			return -ENOMEM;
	}
	return add_view(d, &v);
}

/* Writes D's profile as gzipped pprof into a malloc'd buffer. Returns 0 or -errno. */
static int pprof_bytes(struct dl *d, char **out, size_t *len)
{
	char path[64];
	struct stat st;
	ssize_t n;
	int fd, err;

	/* profile__write_pprof() writes a path: an anonymous file keeps it off the disk. */
	fd = memfd_create("kiln-ui-pprof", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	err = profile__write_pprof(d->p, path);
	if (!err && fstat(fd, &st))
		err = -errno;
	if (err)
		goto cleanup;
	*out = malloc((size_t)st.st_size + 1);
	if (!*out) {
		err = -ENOMEM;
		goto cleanup;
	}
	n = pread(fd, *out, (size_t)st.st_size, 0);
	if (n != st.st_size) {
		free(*out);
		*out = NULL;
		err = n < 0 ? -errno : -EIO;
		goto cleanup;
	}
	*len = (size_t)n;
cleanup:
	close(fd);
	return err;
}

static int folded_bytes(struct dl *d, char **out, size_t *len)
{
	FILE *f = open_memstream(out, len);
	int err;

	if (!f)
		return -errno;
	err = profile__write_folded(d->p, f);
	if (fclose(f) && !err)
		err = -EIO;
	if (err) {
		free(*out);
		*out = NULL;
	}
	return err;
}

static int parse_format(const char *s, enum fmt *fmt)
{
	if (!s || !strcmp(s, "pprof"))
		*fmt = FMT_PPROF;
	else if (!strcmp(s, "folded"))
		*fmt = FMT_FOLDED;
	else if (!strcmp(s, "otlp"))
		*fmt = FMT_OTLP;
	else
		return -EINVAL;
	return 0;
}

static int encode(struct dl *d, char **body, size_t *len)
{
	if (d->fmt == FMT_OTLP)
		return otlp_enc__finish(d->enc, (uint8_t **)body, len);
	if (!d->p) {
		/* Nothing in range: an empty profile is still a valid file. */
		d->p = profile__new(1000000000ull / 19);
		if (!d->p)
			return -ENOMEM;
	}
	profile__set_time(d->p, d->first, d->last - d->first);
	if (d->fmt == FMT_FOLDED)
		return folded_bytes(d, body, len);
	return pprof_bytes(d, body, len);
}

enum MHD_Result ui_api__profile(struct ui *u, struct MHD_Connection *conn, const struct ui_route *r)
{
	static const char *const types[] = { "application/octet-stream",
					     "text/plain; charset=utf-8",
					     "application/x-protobuf" };
	static const char *const exts[] = { "pb.gz", "folded.txt", "otlp.pb" };
	const char *fs = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "format");
	struct otlp_opts oo = { 0 };
	struct dl *d = calloc(1, sizeof(*d));
	char *body = NULL, disp[96];
	uint64_t from, to;
	enum MHD_Result ret;
	size_t len = 0;
	int err;

	if (!d)
		return ui_json_error(u, conn, 500, "out of memory");
	if (parse_format(fs, &d->fmt)) {
		ret = ui_json_error(u, conn, 400, "format: expected pprof, folded or otlp");
		goto cleanup;
	}
	if (ui_query_u64(conn, "from", 0, UINT64_MAX / MS, 0, &from) ||
	    ui_query_u64(conn, "to", 0, UINT64_MAX, UINT64_MAX, &to) || from > to) {
		ret = ui_json_error(u, conn, 400,
				    "from/to: expected ms since the Unix epoch with from <= to");
		goto cleanup;
	}
	d->from = from * MS;
	d->to = to >= UINT64_MAX / MS ? UINT64_MAX : to * MS;
	if (d->fmt == FMT_OTLP && otlp_enc__new(&d->enc, &oo)) {
		ret = ui_json_error(u, conn, 500, "out of memory");
		goto cleanup;
	}
	pthread_mutex_lock(&u->lock);
	err = slots__read(u->slots, r->id, dl_chunk, d);
	pthread_mutex_unlock(&u->lock);
	if (!err)
		err = encode(d, &body, &len);
	if (err == -ENOENT) {
		ret = ui_json_error(u, conn, 404,
				    "no slot for this workload (POST /api/slots/{id} enables one)");
		goto cleanup;
	}
	if (err) {
		ret = ui_json_error(u, conn, 500, strerror(-err));
		goto cleanup;
	}
	snprintf(disp, sizeof(disp), "attachment; filename=\"kiln-profile.%s\"", exts[d->fmt]);
	ret = ui_respond_h(u, conn, 200, types[d->fmt], body, len, "Content-Disposition", disp);
	body = NULL;
cleanup:
	free(body);
	profile__free(d->p);
	otlp_enc__free(d->enc);
	free(d);
	return ret;
}
