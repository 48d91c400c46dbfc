/* SPDX-License-Identifier: Apache-2.0 */
/* A batch: one encoded ExportProfilesServiceRequest and the ring records it came from. */
#ifndef KILN_EXPORTER_BATCH_H
#define KILN_EXPORTER_BATCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

struct batch {
	uint64_t id; /* per destination, increasing in creation order */
	uint64_t ring_id; /* the ring's creation time: seqs are only comparable within it */
	uint64_t first_seq, last_seq; /* ring record seqs covered */
	uint64_t records, samples;
	/* Set: record part_seq is delivered up to sample entry part_entry with this batch. */
	bool has_part;
	uint32_t part_entry;
	uint64_t part_seq;
	uint8_t *body; /* uncompressed protobuf, malloc'd */
	size_t len;
};

static inline void batch__free_body(struct batch *b)
{
	free(b->body);
	b->body = NULL;
	b->len = 0;
}

#endif
