/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one way to read window records from a ring: every consumer (kiln export, kiln ui, kiln
 * top, the tests' ring dump) uses it instead of driving shm_consumer and ring_consumer itself.
 *
 *   shm_reader__new()          no attach yet
 *   shm_reader__attach()       or shm_reader__attach_wait(): claim a slot in ring NAME
 *   shm_reader__next()         the next intact window record, copied and parsed
 *   shm_reader__wait()         sleep until the producer publishes; -ESTALE: the segment was
 *                              replaced, the reader detached, call attach again
 *   shm_reader__stats()        records, loss, lapping and corruption summed over every
 *                              attachment (each counted once)
 *
 * A record is copied out of the ring into one 8-byte aligned buffer before its ring space is
 * released, and handed out only when the release proves the producer did not overwrite it
 * during the copy: what a caller derives from it (an OTLP batch, a slot) never has to be
 * undone. The copy stays valid until the next call on the reader.
 */
#ifndef KILN_SHM_READER_H
#define KILN_SHM_READER_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "profile/wrec.h"
#include "shm/shm.h"

struct shm_reader_opts {
	size_t sz; /* sizeof(struct shm_reader_opts) */
	const char *name; /* ring NAME or absolute path; NULL: SHM_DEFAULT_NAME */
	enum ring_start start; /* where the first attachment starts reading */
	enum ring_start restart; /* where an attachment after -ESTALE starts */
	enum shm_kind kind; /* published in the slot for kiln status; SHM_KIND_OTHER: none */
};

/* A window record handed out by shm_reader__next(); everything valid until the next call. */
struct shm_record {
	uint64_t seq; /* the ring's record sequence number */
	const void *data; /* the record's bytes: a private copy, 8-byte aligned */
	uint32_t len;
	struct wrec_view v; /* parsed (only when next returned 0) */
};

struct shm_reader_stats {
	uint64_t records; /* window records copied intact (parsed or not) */
	uint64_t bad; /* of those, records that did not parse */
	uint64_t stale; /* records overwritten while being copied, never handed out */
	uint64_t lost; /* records lost to lapping, from the ring cursors */
	uint64_t lapped; /* times this reader was lapped */
	uint64_t corrupt; /* corrupt record headers skipped */
	uint64_t attaches; /* successful attachments: 1 + re-attachments */
	uint64_t lag; /* bytes published but not read yet; 0 when detached */
	bool attached;
};

struct shm_reader;

/* Allocates a detached reader. Returns 0 and sets *out (caller frees), -EINVAL or -ENOMEM. */
int shm_reader__new(struct shm_reader **out, const struct shm_reader_opts *opts);

/*
 * Attaches once (a no-op when attached), at opts->start the first time and opts->restart
 * after a -ESTALE. Returns 0, or the errors of shm_consumer__new().
 */
int shm_reader__attach(struct shm_reader *r);

/*
 * Attaches, retrying every 50 ms while the ring is missing or still being created (-ENOENT,
 * -EAGAIN, -EBADMSG) for up to TIMEOUT_MS (-1: no limit) or until *STOP (may be NULL) is
 * set. Returns 0, the last error on timeout or for any other error, or -EINTR on *STOP.
 */
int shm_reader__attach_wait(struct shm_reader *r, int timeout_ms, volatile sig_atomic_t *stop);

/*
 * Hands out the next window record (other record types are skipped). Returns 0 with *REC
 * parsed; -EBADMSG with *REC's bytes set when an intact record does not parse (counted in
 * stats.bad); -EAGAIN when nothing is left now; -ENOTCONN when detached; -ENOMEM.
 */
int shm_reader__next(struct shm_reader *r, struct shm_record *rec);

/*
 * Sleeps up to TIMEOUT_MS for new records (0: check only). Returns 0, -ETIMEDOUT, -EINTR,
 * -ENOTCONN when detached, or -ESTALE when the segment was replaced: the reader has then
 * detached, keeping its totals, and the caller attaches again when it wants to.
 */
int shm_reader__wait(struct shm_reader *r, int timeout_ms);

/* Fills *ST with the totals since shm_reader__new(). */
void shm_reader__stats(const struct shm_reader *r, struct shm_reader_stats *st);

/*
 * The slot's SHM_SLOT_STATS counters for opts->kind (see shm_consumer__stats()), or NULL when
 * detached or opts->kind is SHM_KIND_OTHER. Valid until the reader detaches.
 */
_Atomic uint64_t *shm_reader__slot_stats(struct shm_reader *r);

/* The slot's SHM_SLOT_STATS_EXT further counters, or NULL as shm_reader__slot_stats(). */
_Atomic uint64_t *shm_reader__slot_stats_ext(struct shm_reader *r);

/* The attached segment's header (read-only), or NULL when detached. */
const struct shm_hdr *shm_reader__hdr(const struct shm_reader *r);

/* True when attached and the producer has detached cleanly (producer_pid 0). */
bool shm_reader__producer_gone(const struct shm_reader *r);

/* Detaches, keeping the totals. A no-op when detached. */
void shm_reader__detach(struct shm_reader *r);

/* Detaches and frees. NULL is a no-op. */
void shm_reader__free(struct shm_reader *r);

#endif
