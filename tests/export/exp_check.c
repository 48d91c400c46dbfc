// SPDX-License-Identifier: Apache-2.0
/*
 * Checks one request body as a receiver got it: undoes Content-Encoding ENC (none, gzip,
 * zstd), runs kiln's validator and prints the sum of sample values. Exit 1 when invalid.
 * usage: exp_check FILE [ENC]
 */
#include <stdio.h>
#include <stdlib.h>

#include "common/util.h"
#include "exporter/compress.h"
#include "otlp/otlp.h"

int main(int argc, char **argv)
{
	struct otlp_stats st;
	uint8_t *body;
	size_t len, blen;
	char *raw, err[256];

	if (argc < 2 || read_file(argv[1], &raw, &len))
		return 2;
	if (compress__undo(argc > 2 ? argv[2] : NULL, raw, len, 256u << 20, &body, &blen)) {
		fprintf(stderr, "exp_check: cannot decode %s\n", argv[1]);
		return 1;
	}
	if (otlp_validate(body, blen, &st, err, sizeof(err))) {
		fprintf(stderr, "exp_check: %s: %s\n", argv[1], err);
		return 1;
	}
	printf("%llu\n", (unsigned long long)st.samples);
	free(body);
	free(raw);
	return 0;
}
