// SPDX-License-Identifier: Apache-2.0
#include "profile/wrec.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/strbuf.h"
#include "profile/profile_internal.h"

#define ALIGN8(x) (((x) + 7u) & ~(size_t)7u)

/* Sizes of the fixed-size tables' entries, by table. */
static const size_t entry_size[WREC_T_NR] = {
	[WREC_T_STRINGS] = sizeof(uint32_t),
	[WREC_T_MAPPINGS] = sizeof(struct wrec_mapping),
	[WREC_T_FUNCTIONS] = sizeof(struct wrec_function),
	[WREC_T_LOCATIONS] = sizeof(struct wrec_location),
	[WREC_T_STACK_LOCS] = sizeof(uint32_t),
	[WREC_T_STACKS] = sizeof(struct wrec_stack),
	[WREC_T_SAMPLES] = sizeof(struct wrec_sample),
};

/*
 * The identity strings go into the record's string table after the profile's own strings:
 * the profile's indices stay valid, and identity indices follow.
 */
static size_t identity_bytes(const struct wrec_identity *id, uint32_t *nr)
{
	size_t bytes = 0;
	int f;

	*nr = 0;
	for (f = 0; f < WREC_ID_NR; f++) {
		if (id && id->field[f] && id->field[f][0]) {
			bytes += strlen(id->field[f]) + 1;
			(*nr)++;
		}
	}
	return bytes;
}

/* Table layout shared by wrec__size and wrec__encode. Returns the total size or 0. */
static size_t layout(const struct profile *p, const struct wrec_identity *id,
		     struct wrec_table_ref t[WREC_T_NR], size_t *str_bytes_off)
{
	uint32_t nr_id;
	size_t off = ALIGN8(sizeof(struct wrec_header)), str_bytes = 0, i;

	for (i = 0; i < p->nr_strs; i++)
		str_bytes += strlen(p->strs[i]) + 1;
	str_bytes += identity_bytes(id, &nr_id);

	t[WREC_T_STRINGS].count = (uint32_t)p->nr_strs + nr_id;
	t[WREC_T_MAPPINGS].count = (uint32_t)p->nr_maps;
	t[WREC_T_FUNCTIONS].count = (uint32_t)p->nr_funcs;
	t[WREC_T_LOCATIONS].count = (uint32_t)p->nr_locs;
	t[WREC_T_STACK_LOCS].count = (uint32_t)p->nr_stack_locs;
	t[WREC_T_STACKS].count = (uint32_t)p->nr_stacks;
	t[WREC_T_SAMPLES].count = (uint32_t)p->nr_samples;

	for (i = 0; i < WREC_T_NR; i++) {
		t[i].off = (uint32_t)off;
		off = ALIGN8(off + (size_t)t[i].count * entry_size[i]);
		if (i == WREC_T_STRINGS) {
			*str_bytes_off = off;
			off = ALIGN8(off + str_bytes);
		}
		if (off > WREC_MAX_SIZE)
			return 0;
	}
	return off;
}

size_t wrec__size(const struct profile *p, const struct wrec_identity *id)
{
	struct wrec_table_ref t[WREC_T_NR];
	size_t sboff;

	return layout(p, id, t, &sboff);
}

ssize_t wrec__encode(const struct profile *p, const struct wrec_identity *id,
		     const struct wrec_window *w, void *buf, size_t len)
{
	struct wrec_table_ref t[WREC_T_NR];
	struct wrec_header *h = buf;
	uint8_t *base = buf;
	uint32_t *str_end, next;
	size_t size, sboff, pos = 0, i, n;
	char *bytes;
	int f;

	size = layout(p, id, t, &sboff);
	if (!size)
		return -E2BIG;
	if (len < size)
		return -ENOSPC;
	memset(buf, 0, size);
	h->magic = WREC_MAGIC;
	h->version = WREC_VERSION;
	h->header_size = sizeof(*h);
	h->size = (uint32_t)size;
	h->flags = w->flags;
	h->window_seq = w->seq;
	h->start_ns = w->start_ns;
	h->duration_ns = w->duration_ns;
	h->period_ns = w->period_ns;
	h->total = p->total;
	h->cgroup_id = id ? id->cgroup_id : 0;
	memcpy(h->tables, t, sizeof(t));

	str_end = (uint32_t *)(base + t[WREC_T_STRINGS].off);
	bytes = (char *)(base + sboff);
	for (i = 0; i < p->nr_strs; i++) {
		n = strlen(p->strs[i]) + 1;
		memcpy(bytes + pos, p->strs[i], n);
		pos += n;
		str_end[i] = (uint32_t)pos;
	}
	next = (uint32_t)p->nr_strs;
	for (f = 0; f < WREC_ID_NR; f++) {
		if (!id || !id->field[f] || !id->field[f][0])
			continue;
		n = strlen(id->field[f]) + 1;
		memcpy(bytes + pos, id->field[f], n);
		pos += n;
		str_end[next] = (uint32_t)pos;
		h->identity[f] = next++;
	}

	for (i = 0; i < p->nr_maps; i++) {
		struct wrec_mapping *m = (struct wrec_mapping *)(base + t[WREC_T_MAPPINGS].off) + i;

		m->start = p->maps[i].start;
		m->limit = p->maps[i].limit;
		m->offset = p->maps[i].offset;
		m->file = p->maps[i].file;
		m->build_id = p->maps[i].build_id;
		m->flags = p->maps[i].kernel ? WREC_MAP_KERNEL : 0;
	}
	for (i = 0; i < p->nr_funcs; i++) {
		struct wrec_function *fn =
			(struct wrec_function *)(base + t[WREC_T_FUNCTIONS].off) + i;

		fn->name = p->funcs[i].name;
		fn->system_name = p->funcs[i].system_name;
		fn->file = p->funcs[i].file;
	}
	for (i = 0; i < p->nr_locs; i++) {
		struct wrec_location *l =
			(struct wrec_location *)(base + t[WREC_T_LOCATIONS].off) + i;

		l->address = p->locs[i].addr;
		l->mapping = p->locs[i].mapping;
		l->function = p->locs[i].func;
		l->kind = p->locs[i].kind == SYM_FRAME_KERNEL	? WREC_FRAME_KERNEL
			  : p->locs[i].kind == SYM_FRAME_PYTHON ? WREC_FRAME_PYTHON
								: WREC_FRAME_NATIVE;
		l->line = p->locs[i].line;
		if (!i)
			l->kind = 0; /* the zero entry stays all zero */
	}
	if (p->nr_stack_locs)
		memcpy(base + t[WREC_T_STACK_LOCS].off, p->stack_locs,
		       p->nr_stack_locs * sizeof(uint32_t));
	for (i = 0; i < p->nr_stacks; i++) {
		struct wrec_stack *s = (struct wrec_stack *)(base + t[WREC_T_STACKS].off) + i;

		s->first = (uint32_t)p->stacks[i].off;
		s->nr = p->stacks[i].nr;
	}
	for (i = 0; i < p->nr_samples; i++) {
		struct wrec_sample *s = (struct wrec_sample *)(base + t[WREC_T_SAMPLES].off) + i;

		s->stack = p->samples[i].stack;
		s->tgid = p->samples[i].tgid;
		s->pid = p->samples[i].pid;
		s->thread_name = p->samples[i].comm;
		s->count = p->samples[i].count;
	}
	return (ssize_t)size;
}

/* Whether [off, off + count * esize) lies within SIZE bytes past the header. */
static bool table_ok(const struct wrec_table_ref *t, size_t esize, size_t size)
{
	uint64_t end = (uint64_t)t->off + (uint64_t)t->count * esize;

	return t->off >= sizeof(struct wrec_header) && (t->off & 7) == 0 && end <= size;
}

int wrec__parse(const void *buf, size_t len, struct wrec_view *v)
{
	const struct wrec_header *h = buf;
	const uint8_t *base = buf;
	const struct wrec_table_ref *t;
	uint32_t i, bytes_len, bytes_off, prev;
	int f;

	memset(v, 0, sizeof(*v));
	if (((uintptr_t)buf & 7) || len < sizeof(*h))
		return -EBADMSG;
	if (h->magic != WREC_MAGIC)
		return -EBADMSG;
	if (h->version != WREC_VERSION)
		return -EPROTONOSUPPORT;
	if (h->header_size != sizeof(*h) || h->size > len || h->size < sizeof(*h) ||
	    h->size > WREC_MAX_SIZE)
		return -EBADMSG;
	t = h->tables;
	for (i = 0; i < WREC_T_NR; i++)
		if (!table_ok(&t[i], entry_size[i], h->size))
			return -EBADMSG;

	/* Strings: monotonic end offsets, each string NUL-terminated, string 0 is "". */
	v->nr_strs = t[WREC_T_STRINGS].count;
	v->str_end = (const uint32_t *)(base + t[WREC_T_STRINGS].off);
	bytes_off = (uint32_t)ALIGN8((size_t)t[WREC_T_STRINGS].off +
				     (size_t)v->nr_strs * sizeof(uint32_t));
	if (bytes_off > h->size)
		return -EBADMSG;
	bytes_len = h->size - bytes_off;
	v->str_bytes = (const char *)(base + bytes_off);
	/* String 0 is "": at least its NUL must lie inside the record before it is read. */
	if (v->nr_strs < 1 || bytes_len < 1 || v->str_end[0] != 1 || v->str_bytes[0] != '\0')
		return -EINVAL;
	for (i = 0, prev = 0; i < v->nr_strs; i++) {
		if (v->str_end[i] <= prev || v->str_end[i] > bytes_len)
			return -EINVAL;
		if (v->str_bytes[v->str_end[i] - 1] != '\0')
			return -EINVAL;
		prev = v->str_end[i];
	}
	/* The string bytes must not overlap the tables that follow them. */
	for (i = WREC_T_MAPPINGS; i < WREC_T_NR; i++)
		if (t[i].count && t[i].off < bytes_off + prev)
			return -EBADMSG;
	for (f = 0; f < WREC_ID_NR; f++)
		if (h->identity[f] >= v->nr_strs)
			return -EINVAL;

	v->hdr = h;
	v->maps = (const struct wrec_mapping *)(base + t[WREC_T_MAPPINGS].off);
	v->nr_maps = t[WREC_T_MAPPINGS].count;
	v->funcs = (const struct wrec_function *)(base + t[WREC_T_FUNCTIONS].off);
	v->nr_funcs = t[WREC_T_FUNCTIONS].count;
	v->locs = (const struct wrec_location *)(base + t[WREC_T_LOCATIONS].off);
	v->nr_locs = t[WREC_T_LOCATIONS].count;
	v->stack_locs = (const uint32_t *)(base + t[WREC_T_STACK_LOCS].off);
	v->nr_stack_locs = t[WREC_T_STACK_LOCS].count;
	v->stacks = (const struct wrec_stack *)(base + t[WREC_T_STACKS].off);
	v->nr_stacks = t[WREC_T_STACKS].count;
	v->samples = (const struct wrec_sample *)(base + t[WREC_T_SAMPLES].off);
	v->nr_samples = t[WREC_T_SAMPLES].count;

	/* Every table has its zero entry at index 0. */
	if (!v->nr_maps || !v->nr_funcs || !v->nr_locs || !v->nr_stacks)
		return -EINVAL;
	for (i = 0; i < v->nr_maps; i++)
		if (v->maps[i].file >= v->nr_strs || v->maps[i].build_id >= v->nr_strs)
			return -EINVAL;
	for (i = 0; i < v->nr_funcs; i++)
		if (v->funcs[i].name >= v->nr_strs || v->funcs[i].system_name >= v->nr_strs ||
		    v->funcs[i].file >= v->nr_strs)
			return -EINVAL;
	for (i = 0; i < v->nr_locs; i++)
		if (v->locs[i].mapping >= v->nr_maps || v->locs[i].function >= v->nr_funcs)
			return -EINVAL;
	for (i = 0; i < v->nr_stack_locs; i++)
		if (v->stack_locs[i] == 0 || v->stack_locs[i] >= v->nr_locs)
			return -EINVAL;
	for (i = 0; i < v->nr_stacks; i++) {
		const struct wrec_stack *s = &v->stacks[i];

		if ((uint64_t)s->first + s->nr > v->nr_stack_locs)
			return -EINVAL;
	}
	for (i = 0; i < v->nr_samples; i++) {
		const struct wrec_sample *s = &v->samples[i];

		if (s->stack >= v->nr_stacks || s->thread_name >= v->nr_strs)
			return -EINVAL;
	}
	return 0;
}

/* In this file rather than profile.c: the record's parser is built alone for fuzzing. */
const char *profile_python_name(const char *file, const char *name, char *buf, size_t len)
{
	const char *base = file ? strrchr(file, '/') : NULL;

	base = base ? base + 1 : file;
	if (!base || !*base)
		snprintf(buf, len, "%s", name ? name : "[unknown]");
	else
		snprintf(buf, len, "%s:%s", base, name ? name : "[unknown]");
	return buf;
}

const char *wrec_view__frame_name(const struct wrec_view *v, uint32_t loc, char *buf, size_t len)
{
	const struct wrec_location *l = &v->locs[loc];
	const char *file, *base;

	if (l->function && v->funcs[l->function].name && l->kind == WREC_FRAME_PYTHON)
		return profile_python_name(wrec_view__str(v, v->funcs[l->function].file),
					   wrec_view__str(v, v->funcs[l->function].name), buf, len);
	if (l->function && v->funcs[l->function].name) {
		snprintf(buf, len, "%s", wrec_view__str(v, v->funcs[l->function].name));
		return buf;
	}
	if (l->mapping) {
		file = wrec_view__str(v, v->maps[l->mapping].file);
		base = strrchr(file, '/');
		snprintf(buf, len, "[%s+0x%llx]", base ? base + 1 : file,
			 (unsigned long long)l->address);
		return buf;
	}
	snprintf(buf, len, "[unknown]");
	return buf;
}

const char *wrec_id__name(enum wrec_id_field f)
{
	static const char *const names[WREC_ID_NR] = {
		[WREC_ID_KEY] = "key",
		[WREC_ID_NAME] = "name",
		[WREC_ID_KIND] = "kind",
		[WREC_ID_HOST] = "host",
		[WREC_ID_EXE_NAME] = "exe_name",
		[WREC_ID_EXE_PATH] = "exe_path",
		[WREC_ID_CONTAINER_ID] = "container_id",
		[WREC_ID_UNIT] = "unit",
		[WREC_ID_K8S_NAMESPACE] = "k8s_namespace",
		[WREC_ID_K8S_POD] = "k8s_pod",
		[WREC_ID_K8S_POD_UID] = "k8s_pod_uid",
		[WREC_ID_K8S_CONTAINER] = "k8s_container",
		[WREC_ID_K8S_WL_KIND] = "k8s_workload_kind",
		[WREC_ID_K8S_WL_NAME] = "k8s_workload_name",
		[WREC_ID_CGROUP] = "cgroup",
	};

	return (unsigned int)f < WREC_ID_NR ? names[f] : NULL;
}

static void json_str(FILE *f, const char *key, const char *s)
{
	fprintf(f, ",\"%s\":", key);
	json_fputs(f, s);
}

int wrec_view__write_json(const struct wrec_view *v, FILE *f)
{
	const struct wrec_header *h = v->hdr;
	char name[512];
	uint32_t i, j, loc;
	int k;

	fprintf(f,
		"{\"seq\":%llu,\"start_ns\":%llu,\"duration_ns\":%llu,\"period_ns\":%llu,\"total\":%llu,\"cgroup_id\":%llu",
		(unsigned long long)h->window_seq, (unsigned long long)h->start_ns,
		(unsigned long long)h->duration_ns, (unsigned long long)h->period_ns,
		(unsigned long long)h->total, (unsigned long long)h->cgroup_id);
	for (k = 0; k < WREC_ID_NR; k++)
		json_str(f, wrec_id__name(k) ? wrec_id__name(k) : "reserved", wrec_view__id(v, k));
	fprintf(f, ",\"samples\":[");
	for (i = 0; i < v->nr_samples; i++) {
		const struct wrec_sample *s = &v->samples[i];
		const struct wrec_stack *st = &v->stacks[s->stack];

		fprintf(f, "%s{\"tgid\":%u,\"pid\":%u,\"count\":%llu", i ? "," : "", s->tgid,
			s->pid, (unsigned long long)s->count);
		json_str(f, "comm", wrec_view__str(v, s->thread_name));
		fprintf(f, ",\"frames\":[");
		/* Outermost first, like folded stacks. */
		for (j = st->nr; j-- > 0;) {
			const struct wrec_location *l;
			const struct wrec_mapping *m;

			loc = v->stack_locs[st->first + j];
			l = &v->locs[loc];
			m = &v->maps[l->mapping]; /* index 0: the zero entry, empty strings */
			fprintf(f, "%s{\"kind\":%u", j + 1 == st->nr ? "" : ",", l->kind);
			json_str(f, "name", wrec_view__frame_name(v, loc, name, sizeof(name)));
			json_str(f, "module", wrec_view__str(v, m->file));
			json_str(f, "build_id", wrec_view__str(v, m->build_id));
			fputc('}', f);
		}
		fprintf(f, "]}");
	}
	fprintf(f, "]}\n");
	return ferror(f) ? -EIO : 0;
}
