/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A validator of encoded ExportProfilesServiceRequest bodies against the rules kiln's
 * receivers rely on (docs in ../shared/docs/otlp-profiles.md): every dictionary table
 * present with the zero entry at index 0, every index in range, non-zero period and
 * cpu/nanoseconds period type, samples of one shape with exactly one value, timestamps
 * inside the profile's span, service.name as a plain-key resource attribute. Decoding uses
 * the protobuf-c code generated from proto/, independent of the hand-written encoder.
 */
#ifndef KILN_EXPORTER_VALIDATE_H
#define KILN_EXPORTER_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

struct otlp_stats {
	uint64_t resources, profiles, samples; /* samples: sum of sample values */
};

/*
 * Checks the LEN bytes at BODY. Returns 0 (and fills *STATS when not NULL), -EBADMSG when
 * they do not decode, or -EINVAL with the first broken rule written to ERR.
 */
int otlp_validate(const void *body, size_t len, struct otlp_stats *stats, char *err, size_t errlen);

#endif
