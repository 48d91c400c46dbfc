// SPDX-License-Identifier: Apache-2.0
/*
 * Checks one request body as a receiver got it: undoes Content-Encoding ENC (none, gzip,
 * zstd), runs kiln's validator and prints the sum of sample values. Exit 1 when invalid.
 * With --profiles, prints instead one line per profile: "PROFILE_ID_HEX ENTRIES SUM", then
 * "body BYTES" (the body's size before compression).
 * usage: exp_check FILE [ENC [--profiles]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "exporter/compress.h"
#include "otlp/otlp.h"
#include "proto/opentelemetry/proto/collector/profiles/v1development/profiles_service.pb-c.h"

typedef Opentelemetry__Proto__Collector__Profiles__V1development__ExportProfilesServiceRequest req_t;

static int print_profiles(const uint8_t *body, size_t len)
{
	req_t *r =
		opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__unpack(
			NULL, len, body);
	size_t i, j, k, s, b;

	if (!r)
		return 1;
	for (i = 0; i < r->n_resource_profiles; i++)
		for (j = 0; j < r->resource_profiles[i]->n_scope_profiles; j++) {
			const typeof(*r->resource_profiles[i]->scope_profiles[j]) *sp =
				r->resource_profiles[i]->scope_profiles[j];

			for (k = 0; k < sp->n_profiles; k++) {
				const typeof(**sp->profiles) *p = sp->profiles[k];
				long long sum = 0;

				for (b = 0; b < p->profile_id.len; b++)
					printf("%02x", p->profile_id.data[b]);
				if (!p->profile_id.len)
					printf("-");
				for (s = 0; s < p->n_samples; s++)
					if (p->samples[s]->n_values)
						sum += p->samples[s]->values[0];
				printf(" %zu %lld\n", p->n_samples, sum);
			}
		}
	printf("body %zu\n", len);
	opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__free_unpacked(
		r, NULL);
	return 0;
}

int main(int argc, char **argv)
{
	struct otlp_stats st;
	uint8_t *body;
	size_t len, blen;
	char *raw, err[256];
	const char *enc = argc > 2 && *argv[2] ? argv[2] : NULL;

	if (argc < 2 || read_file(argv[1], &raw, &len))
		return 2;
	if (compress__undo(enc, raw, len, 256u << 20, &body, &blen)) {
		fprintf(stderr, "exp_check: cannot decode %s\n", argv[1]);
		return 1;
	}
	if (otlp_validate(body, blen, &st, err, sizeof(err))) {
		fprintf(stderr, "exp_check: %s: %s\n", argv[1], err);
		return 1;
	}
	if (argc > 3 && !strcmp(argv[3], "--profiles")) {
		if (print_profiles(body, blen))
			return 1;
	} else {
		printf("%llu\n", (unsigned long long)st.samples);
	}
	free(body);
	free(raw);
	return 0;
}
