// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer harness for the OTLP receiver's decode path: an untrusted POST body, gunzipped
 * when byte 0 is odd (as Content-Encoding: gzip), decoded as ExportProfilesServiceRequest,
 * converted into window records, and every record folded into a flame tree and written out
 * as the API would.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "ui/flame.h"
#include "otlp/otlp.h"

static int emit(const void *rec, size_t len, void *ctx)
{
	/* Records the converter writes must always validate. */
	if (flame__add_record(ctx, rec, len) == -EBADMSG)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct flame *f = flame__new();
	struct otlp_result res;
	struct strbuf out = { 0 };
	void *inflated = NULL;
	const void *body;
	size_t len, n;
	char err[256];

	if (!size || !f) {
		flame__free(f);
		return 0;
	}
	body = data + 1;
	len = size - 1;
	if (data[0] & 1) {
		/* A small inflate cap keeps the fuzzer fast; the limit logic is the same. */
		if (otlp__gunzip(body, len, 1 << 20, &inflated, &len))
			goto cleanup;
		body = inflated;
	}
	if (otlp__decode(body, len, emit, f, &res, err, sizeof(err)) == 0) {
		flame__write_tree(f, &out, 64, &n);
		flame__write_symbols(f, &out, FLAME_SORT_TOTAL, 10, &n);
	}
cleanup:
	strbuf__release(&out);
	free(inflated);
	flame__free(f);
	return 0;
}
