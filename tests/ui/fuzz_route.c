// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer harness for what an HTTP request controls before any handler runs: the method
 * and raw path through ui_route__match() (id decoding included), and the decoded id echoed
 * back through the JSON string writer. Byte 0 picks the method; the rest is the path.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ui/route.h"
#include "common/strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[] = { "GET", "POST", "DELETE", "HEAD", "PUT", "" };
	struct ui_route r;
	struct strbuf b = { 0 };
	char *path, out[64];
	int st;

	if (!size)
		return 0;
	path = malloc(size);
	if (!path)
		return 0;
	memcpy(path, data + 1, size - 1);
	path[size - 1] = 0;
	st = ui_route__match(methods[data[0] % 6], path, &r);
	if (st != 0 && st != 400 && st != 404 && st != 405)
		abort();
	if (st && !r.error)
		abort();
	if (!st && ((r.kind >= UI_R_SLOT_GET && r.kind <= UI_R_SYMBOLS) ||
		    (r.kind >= UI_R_TIMELINE && r.kind <= UI_R_PROFILE))) {
		if (!r.id[0] || strlen(r.id) > UI_ID_MAX)
			abort();
		strbuf__json_str(&b, r.id);
	}
	ui_url_decode(path, size - 1, out, sizeof(out));
	/* The diff operand parser sees the same bytes: an id and a sane range, or a refusal. */
	{
		uint64_t from, to;

		if (!ui_range_spec__parse(path, out, sizeof(out), &from, &to) &&
		    (!out[0] || from > to))
			abort();
	}
	strbuf__release(&b);
	free(path);
	return 0;
}
