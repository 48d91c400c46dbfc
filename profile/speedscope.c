// SPDX-License-Identifier: Apache-2.0
/*
 * speedscope's file format (its JSON schema: https://www.speedscope.app/file-format-schema.json,
 * written down in tests/record/speedscope-schema.json): shared frames and one "sampled"
 * profile whose samples are the profile's distinct stacks, outermost frame first, weighted
 * by their CPU time in nanoseconds (count x sampling period).
 */
#include <errno.h>
#include <stdlib.h>

#include "profile/calltree.h"
#include "common/strbuf.h"

static void put_frames(struct strbuf *b, const struct calltree *t)
{
	size_t i;

	strbuf__printf(b, "\"shared\":{\"frames\":[");
	for (i = 0; i < t->nr_frames; i++) {
		const struct calltree_frame *f = &t->frames[i];

		strbuf__printf(b, "%s{\"name\":", i ? "," : "");
		strbuf__json_str(b, f->name);
		/* The module stands for the file: speedscope tells frames apart by name and file. */
		if (f->module[0]) {
			strbuf__printf(b, ",\"file\":");
			strbuf__json_str(b, f->module);
		}
		strbuf__printf(b, "}");
	}
	strbuf__printf(b, "]}");
}

static int put_samples(struct strbuf *b, const struct calltree *t, const struct profile *p)
{
	uint32_t *ids = NULL;
	size_t s, n, i, cap = 0;
	uint64_t period = p->period_ns ? p->period_ns : 1;

	strbuf__printf(b, "\"samples\":[");
	for (s = 0; s < p->nr_samples; s++) {
		n = p->stacks[p->samples[s].stack].nr + 1;
		if (n > cap) {
			free(ids);
			cap = n * 2;
			ids = malloc(cap * sizeof(*ids));
			if (!ids)
				return -ENOMEM;
		}
		n = calltree__sample_frames(t, p, s, ids);
		strbuf__printf(b, "%s[", s ? "," : "");
		for (i = 0; i < n; i++)
			strbuf__printf(b, "%s%u", i ? "," : "", ids[i]);
		strbuf__printf(b, "]");
	}
	free(ids);
	strbuf__printf(b, "],\"weights\":[");
	for (s = 0; s < p->nr_samples; s++)
		strbuf__printf(b, "%s%llu", s ? "," : "",
			       (unsigned long long)(p->samples[s].count * period));
	strbuf__printf(b, "]");
	return 0;
}

int profile__write_speedscope(const struct profile *p, FILE *f, const char *title)
{
	uint64_t period = p->period_ns ? p->period_ns : 1;
	struct calltree *t = NULL;
	struct strbuf b = { 0 };
	char *out = NULL;
	size_t len;
	int err;

	err = calltree__new(p, &t);
	if (err)
		goto cleanup;
	strbuf__printf(&b, "{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\","
			   "\"exporter\":\"kiln@" KILN_VERSION "\",\"name\":");
	strbuf__json_str(&b, title);
	strbuf__printf(&b, ",\"activeProfileIndex\":0,");
	put_frames(&b, t);
	strbuf__printf(&b, ",\"profiles\":[{\"type\":\"sampled\",\"name\":");
	strbuf__json_str(&b, title);
	strbuf__printf(&b, ",\"unit\":\"nanoseconds\",\"startValue\":0,\"endValue\":%llu,",
		       (unsigned long long)(p->total * period));
	err = put_samples(&b, t, p);
	if (err)
		goto cleanup;
	strbuf__printf(&b, "}]}\n");
	out = strbuf__take(&b, &len);
	if (!out) {
		err = -ENOMEM;
		goto cleanup;
	}
	if (fwrite(out, 1, len, f) != len || fflush(f))
		err = -EIO;
cleanup:
	free(out);
	strbuf__release(&b);
	calltree__free(t);
	return err;
}
