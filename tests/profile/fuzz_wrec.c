// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer harness: wrec__parse over arbitrary bytes, then a walk over everything the view
 * says is valid. Any out-of-bounds read is an ASan report.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "profile/wrec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wrec_view v;
	char name[256];
	uint64_t sum = 0;
	void *buf;
	uint32_t i, j;

	/* Records sit 8-byte aligned in the ring; give the parser the same. */
	buf = aligned_alloc(8, (size + 7) & ~(size_t)7);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	if (wrec__parse(buf, size, &v) == 0) {
		for (i = 0; i < WREC_ID_NR; i++)
			sum += strlen(wrec_view__id(&v, (enum wrec_id_field)i));
		for (i = 0; i < v.nr_samples; i++) {
			const struct wrec_stack *s = &v.stacks[v.samples[i].stack];

			sum += strlen(wrec_view__str(&v, v.samples[i].thread_name));
			for (j = 0; j < s->nr; j++)
				sum += strlen(wrec_view__frame_name(&v, v.stack_locs[s->first + j],
								    name, sizeof(name)));
		}
	}
	free(buf);
	return sum == 1 ? 1 : 0;
}
