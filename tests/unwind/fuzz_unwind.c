// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer harness for the unwind-table builder: any bytes given to uw_table__from_mem must
 * give either a table or an error, never a crash, a leak or a read out of bounds. A table
 * must keep the contract the walker's loader relies on: rows strictly increasing, no two
 * consecutive rows equal, commands with a zeroed rule, and lookups that agree with it.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "unwind/unwind.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct kiln_uw_rule zero;
	struct uw_table *t = NULL;
	int ret;

	ret = uw_table__from_mem(data, size, &t);
	if ((ret == 0) != (t != NULL) || ret > 0)
		__builtin_trap();
	if (!t)
		return 0;
	for (size_t i = 0; i < t->nr_rows; i++) {
		const struct uw_row *r = &t->rows[i];

		if (i && (r->vaddr <= r[-1].vaddr ||
			  (r->cmd == r[-1].cmd && !memcmp(&r->rule, &r[-1].rule, sizeof(r->rule)))))
			__builtin_trap();
		if (r->cmd && memcmp(&r->rule, &zero, sizeof(zero)))
			__builtin_trap();
		if (uw_table__lookup(t, r->vaddr) != r)
			__builtin_trap();
	}
	/* the last row ends covered code */
	if (t->nr_rows && t->rows[t->nr_rows - 1].cmd != KILN_UW_CMD(KILN_UW_CMD_INVALID, 0))
		__builtin_trap();
	uw_table__free(t);
	return 0;
}
