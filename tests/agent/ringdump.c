// SPDX-License-Identifier: Apache-2.0
/*
 * Test tool: reads window records from a ring as a consumer and prints one JSON line per
 * record (identity, totals, stacks outermost-first with counts), until the producer has
 * detached cleanly and everything is read, or the timeout passes.
 *
 *   ringdump RING [TIMEOUT_S]
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "profile/wrec.h"
#include "shm/shm.h"

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static const char *const id_names[WREC_ID_NR] = {
	"key",
	"name",
	"kind",
	"host",
	"exe_name",
	"exe_path",
	"container_id",
	"unit",
	"k8s_namespace",
	"k8s_pod",
	"k8s_pod_uid",
	"k8s_container",
	"k8s_workload_kind",
	"k8s_workload_name",
	"cgroup",
	"reserved",
};

/* Prints record V into a memory stream; the caller keeps it only if the record was intact. */
static void print_record(FILE *f, const struct wrec_view *v)
{
	char name[512];
	uint32_t i, j;
	int k;

	fprintf(f,
		"{\"seq\":%llu,\"start_ns\":%llu,\"duration_ns\":%llu,\"period_ns\":%llu,"
		"\"total\":%llu,\"cgroup_id\":%llu",
		(unsigned long long)v->hdr->window_seq, (unsigned long long)v->hdr->start_ns,
		(unsigned long long)v->hdr->duration_ns, (unsigned long long)v->hdr->period_ns,
		(unsigned long long)v->hdr->total, (unsigned long long)v->hdr->cgroup_id);
	for (k = 0; k < WREC_ID_NR; k++) {
		fprintf(f, ",\"%s\":", id_names[k]);
		json_str(f, wrec_view__id(v, (enum wrec_id_field)k));
	}
	fprintf(f, ",\"samples\":[");
	for (i = 0; i < v->nr_samples; i++) {
		const struct wrec_sample *s = &v->samples[i];
		const struct wrec_stack *st = &v->stacks[s->stack];

		fprintf(f, "%s{\"tgid\":%u,\"pid\":%u,\"count\":%llu,\"comm\":", i ? "," : "",
			s->tgid, s->pid, (unsigned long long)s->count);
		json_str(f, wrec_view__str(v, s->thread_name));
		fprintf(f, ",\"frames\":[");
		/* Outermost first, like folded stacks. */
		for (j = st->nr; j-- > 0;) {
			const struct wrec_location *l = &v->locs[v->stack_locs[st->first + j]];

			fprintf(f, "%s{\"name\":", j + 1 == st->nr ? "" : ",");
			json_str(f, wrec_view__frame_name(v, v->stack_locs[st->first + j], name,
							  sizeof(name)));
			fprintf(f, ",\"kind\":%u,\"module\":", l->kind);
			json_str(f, l->mapping ? wrec_view__str(v, v->maps[l->mapping].file) : "");
			fprintf(f, ",\"build_id\":");
			json_str(f,
				 l->mapping ? wrec_view__str(v, v->maps[l->mapping].build_id) : "");
			fprintf(f, "}");
		}
		fprintf(f, "]}");
	}
	fprintf(f, "]}\n");
}

int main(int argc, char **argv)
{
	struct shm_consumer_opts co = { .start = RING_START_OLDEST };
	struct shm_consumer *c = NULL;
	struct shm_view *view = NULL;
	struct ring_consumer *rc;
	struct wrec_view v;
	struct ring_rec rec;
	uint64_t deadline, timeout = 60;
	char *line = NULL;
	size_t line_len = 0;
	int err, ret = 1;
	FILE *mem;

	if (argc < 2 || argc > 3 || (argc == 3 && parse_u64(argv[2], 1, 3600, &timeout))) {
		fprintf(stderr, "usage: ringdump RING [TIMEOUT_S]\n");
		return 2;
	}
	co.name = argv[1];
	deadline = mono_ns() + timeout * 1000000000ull;
	/* The agent may still be creating the ring: retry until the deadline. */
	while ((err = shm_consumer__new(&c, &co)) == -ENOENT || err == -EAGAIN) {
		if (mono_ns() > deadline)
			break;
		usleep(20000);
	}
	if (err) {
		fprintf(stderr, "ringdump: attaching to %s: %s\n", argv[1], strerror(-err));
		return 1;
	}
	err = shm_view__open(&view, argv[1]);
	if (err)
		goto cleanup;
	rc = shm_consumer__ring(c);
	for (;;) {
		err = ring_consumer__peek(rc, &rec);
		if (err == -EAGAIN) {
			if (atomic_load(&shm_view__hdr(view)->producer_pid) == 0) {
				ret = 0; /* detached cleanly and fully read */
				break;
			}
			if (mono_ns() > deadline) {
				fprintf(stderr, "ringdump: timeout\n");
				break;
			}
			shm_consumer__wait(c, 200);
			continue;
		}
		if (err)
			break;
		mem = open_memstream(&line, &line_len);
		if (!mem)
			break;
		if (rec.type == RING_TYPE_WINDOW && wrec__parse(rec.data, rec.len, &v) == 0)
			print_record(mem, &v);
		else if (rec.type == RING_TYPE_WINDOW)
			fprintf(mem, "{\"invalid\":true}\n");
		fclose(mem);
		if (ring_consumer__release(rc) == 0)
			fputs(line, stdout);
		free(line);
		line = NULL;
	}
	fflush(stdout);
cleanup:
	shm_view__free(view);
	shm_consumer__free(c);
	return ret;
}
