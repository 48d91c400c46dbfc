// SPDX-License-Identifier: Apache-2.0
/* Window records: encode a known profile in place, parse it back, and reject corruption. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "tests/lib/kiln_test.h"

#include "profile/wrec.h"

static struct profile *make_profile(void)
{
	struct sym_frame f[3];
	struct profile *p = profile__new(10000000);

	memset(f, 0, sizeof(f));
	f[0] = (struct sym_frame){ .kind = SYM_FRAME_KERNEL,
				   .name = "do_syscall_64",
				   .module = "[kernel.kallsyms]",
				   .addr = 0xffffffff81000010,
				   .elf_vaddr = 0xffffffff81000010 };
	f[1] = (struct sym_frame){ .kind = SYM_FRAME_NATIVE,
				   .name = "alpha",
				   .module = "/bin/w",
				   .build_id = "abcd",
				   .addr = 0x401000,
				   .elf_vaddr = 0x1000,
				   .map_start = 0x400000,
				   .map_limit = 0x402000 };
	f[2] = (struct sym_frame){ .kind = SYM_FRAME_NATIVE,
				   .name = NULL,
				   .module = "/bin/w",
				   .build_id = "abcd",
				   .addr = 0x401800,
				   .elf_vaddr = 0x1800,
				   .map_start = 0x400000,
				   .map_limit = 0x402000 };
	CU_ASSERT_EQUAL(profile__add(p, f, 3, "w", 10, 11, 7), 0);
	CU_ASSERT_EQUAL(profile__add(p, f + 1, 2, "w", 10, 12, 3), 0);
	return p;
}

static const struct wrec_identity ident = {
	.field = { [WREC_ID_KEY] = "unit/nginx.service",
		   [WREC_ID_NAME] = "nginx.service",
		   [WREC_ID_KIND] = "unit",
		   [WREC_ID_UNIT] = "nginx.service" },
	.cgroup_id = 42,
};

static const struct wrec_window win = {
	.seq = 5, .start_ns = 1000, .duration_ns = 2000, .period_ns = 10000000
};

static void *encode(struct profile *p, size_t *len)
{
	void *buf;
	ssize_t n;

	*len = wrec__size(p, &ident);
	CU_ASSERT_FATAL(*len > 0 && *len % 8 == 0);
	buf = aligned_alloc(8, *len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
	CU_ASSERT_EQUAL(wrec__encode(p, &ident, &win, buf, *len - 8), -ENOSPC);
	n = wrec__encode(p, &ident, &win, buf, *len);
	CU_ASSERT_EQUAL_FATAL(n, (ssize_t)*len);
	return buf;
}

static void test_roundtrip(void)
{
	struct profile *p = make_profile();
	struct wrec_view v;
	uint64_t total = 0;
	char name[128];
	size_t len;
	void *buf = encode(p, &len);
	uint32_t i, j;
	bool saw_alpha = false, saw_unknown = false;

	CU_ASSERT_EQUAL_FATAL(wrec__parse(buf, len, &v), 0);
	CU_ASSERT_EQUAL(v.hdr->window_seq, 5);
	CU_ASSERT_EQUAL(v.hdr->period_ns, 10000000);
	CU_ASSERT_EQUAL(v.hdr->total, 10);
	CU_ASSERT_EQUAL(v.hdr->cgroup_id, 42);
	CU_ASSERT_STRING_EQUAL(wrec_view__id(&v, WREC_ID_NAME), "nginx.service");
	CU_ASSERT_STRING_EQUAL(wrec_view__id(&v, WREC_ID_K8S_POD), "");
	/* Samples are not a dictionary table: no zero entry. */
	CU_ASSERT_EQUAL(v.nr_samples, 2);
	for (i = 0; i < v.nr_samples; i++) {
		const struct wrec_stack *s = &v.stacks[v.samples[i].stack];

		total += v.samples[i].count;
		CU_ASSERT_STRING_EQUAL(wrec_view__str(&v, v.samples[i].thread_name), "w");
		for (j = 0; j < s->nr; j++) {
			wrec_view__frame_name(&v, v.stack_locs[s->first + j], name, sizeof(name));
			saw_alpha |= !strcmp(name, "alpha");
			saw_unknown |= !strcmp(name, "[w+0x1800]");
		}
	}
	CU_ASSERT_EQUAL(total, 10);
	CU_ASSERT(saw_alpha);
	CU_ASSERT(saw_unknown);
	free(buf);
	profile__free(p);
}

static void test_corrupt(void)
{
	struct profile *p = make_profile();
	struct wrec_view v;
	struct wrec_header *h;
	size_t len, i;
	uint8_t *buf = encode(p, &len), *copy;

	copy = aligned_alloc(8, len);
	/* Truncated anywhere: always refused. */
	for (i = 0; i < len; i += 8)
		CU_ASSERT_NOT_EQUAL(wrec__parse(buf, i, &v), 0);
	memcpy(copy, buf, len);
	h = (struct wrec_header *)copy;
	h->magic ^= 1;
	CU_ASSERT_EQUAL(wrec__parse(copy, len, &v), -EBADMSG);
	memcpy(copy, buf, len);
	h->version = 99;
	CU_ASSERT_EQUAL(wrec__parse(copy, len, &v), -EPROTONOSUPPORT);
	memcpy(copy, buf, len);
	h->identity[WREC_ID_NAME] = 100000;
	CU_ASSERT_EQUAL(wrec__parse(copy, len, &v), -EINVAL);
	memcpy(copy, buf, len);
	h->tables[WREC_T_SAMPLES].count = 1u << 30;
	CU_ASSERT_EQUAL(wrec__parse(copy, len, &v), -EBADMSG);
	memcpy(copy, buf, len);
	((struct wrec_sample *)(copy + h->tables[WREC_T_SAMPLES].off))[1].stack = 999;
	CU_ASSERT_EQUAL(wrec__parse(copy, len, &v), -EINVAL);
	/* Every single-byte change either parses to a consistent view or is refused. */
	for (i = 0; i < len; i++) {
		memcpy(copy, buf, len);
		copy[i] ^= 0x5a;
		if (wrec__parse(copy, len, &v) == 0)
			CU_ASSERT(v.hdr->size <= len);
	}
	free(copy);
	free(buf);
	profile__free(p);
}

KILN_TEST_MAIN("wrec", { "encode in place and parse back", test_roundtrip },
	       { "truncated and corrupt records are refused", test_corrupt })
