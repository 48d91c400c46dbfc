/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A destination's disk spool: batches that could not be delivered, one file each, named by
 * batch id so that a directory listing is their order. Every file is written to a temporary
 * name, fsynced, renamed and the directory fsynced, and carries a CRC32 of its body, so a
 * crash leaves either a whole, verifiable batch or nothing. Bounded: adding past max_bytes
 * drops the oldest files (counted).
 */
#ifndef KILN_EXPORTER_SPOOL_H
#define KILN_EXPORTER_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "exporter/batch.h"

struct spool;

/*
 * Opens (creating) directory DIR with a bound of MAX_BYTES (0: unlimited) and indexes the
 * files already there. Returns 0 and *OUT (caller frees), or -errno.
 */
int spool__open(struct spool **out, const char *dir, uint64_t max_bytes);

/* The same with DIR relative to directory descriptor ATFD (AT_FDCWD: spool__open). */
int spool__openat(struct spool **out, int atfd, const char *dir, uint64_t max_bytes);

/* The spool directory's descriptor, owned by S (for files kept beside the batches). */
int spool__dirfd(const struct spool *s);

/*
 * Writes B durably. Oldest files are dropped first while the spool would exceed its bound;
 * their batches, samples and records are added to *DROPPED_BATCHES / *DROPPED_SAMPLES /
 * *DROPPED_RECORDS. Returns 0 or -errno (-EFBIG when B alone exceeds the bound).
 */
int spool__put(struct spool *s, const struct batch *b, uint64_t *dropped_batches,
	       uint64_t *dropped_samples, uint64_t *dropped_records);

/*
 * Loads the oldest batch into *B (caller frees with batch__free_body). Files that fail their
 * checksum are removed and counted in *CORRUPT. Returns 0, or -ENOENT when empty, or -errno.
 */
int spool__peek(struct spool *s, struct batch *b, uint64_t *corrupt);

/* Removes the batch with id ID (delivered, or finally refused). Returns 0 or -errno. */
int spool__remove(struct spool *s, uint64_t id);

/* Bytes and files held. */
uint64_t spool__bytes(const struct spool *s);
uint64_t spool__count(const struct spool *s);

/* Highest batch id present, 0 when empty. */
uint64_t spool__max_id(const struct spool *s);

/*
 * Calls FN for every spooled batch's seq range of ring RING_ID, oldest first (on startup, to
 * skip ring records already spooled).
 */
void spool__ranges(const struct spool *s, uint64_t ring_id,
		   void (*fn)(void *arg, uint64_t first, uint64_t last), void *arg);

/* Frees S (the files stay). NULL is a no-op. */
void spool__free(struct spool *s);

#endif
