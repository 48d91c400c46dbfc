/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A single-producer, multi-consumer ring of variable-length records over caller-provided
 * memory. No I/O, no allocation in the data path, no copies: the producer writes records in
 * place, consumers read them in place.
 *
 * Positions are monotonically increasing 64-bit byte counts; a position's byte lives at
 * data[pos & (size - 1)]. The producer never blocks and never reads consumer state: it
 * overwrites the oldest records. A consumer that falls behind detects that it was lapped
 * (seqlock-style re-check of the producer's overwrite horizon after reading), counts exactly
 * how many records it lost (per-record sequence numbers) and resumes at the oldest intact
 * record. See shm/FORMAT.md for the byte layout.
 */
#ifndef KILN_RINGBUF_RINGBUF_H
#define KILN_RINGBUF_RINGBUF_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Record types. 0 is never valid; 1 is padding before the wrap point. */
#define RING_TYPE_PAD 1
#define RING_TYPE_WINDOW 2 /* aggregator window record, payload defined elsewhere */
#define RING_TYPE_TEST 3 /* used by tests and benches */
#define RING_TYPE_MAX 255 /* consumers reject larger types as corruption */

#define RING_ALIGN 8
#define RING_HDR_SIZE 16
#define RING_MIN_SIZE 4096ull
#define RING_MAX_SIZE (1ull << 31)

/*
 * Record header, at an 8-byte aligned position. The first 64-bit word packs
 * len (bits 0-31, whole record including header, multiple of 8), type (bits 32-47) and
 * flags (bits 48-63). A padding record may be just that word (8 bytes); every other record
 * has a second word, seq: its sequence number, consecutive across the producer's records.
 */
struct ring_rec_hdr {
	_Atomic uint64_t word;
	_Atomic uint64_t seq;
};

/*
 * Producer state shared with consumers (written only by the producer). Lives in shared
 * memory; all fields are zero in a fresh segment and set up by ring_producer__new().
 */
struct ring_ctl {
	uint64_t size; /* data bytes (power of two); consumers use their own */
	_Atomic uint64_t generation; /* bumped by every ring_producer__new() */
	uint64_t reserved0[6];
	/* hot line: read by consumers when they run out of records or resync */
	_Atomic uint64_t head; /* every record below head is committed */
	_Atomic uint64_t horizon; /* bytes below horizon - size may be overwritten */
	_Atomic uint64_t tail; /* oldest record not yet overwritten (a record start) */
	_Atomic uint64_t next_seq; /* seq of the record that will be committed at head */
	_Atomic uint64_t pub; /* odd while head/next_seq change (seqlock for the pair) */
	uint64_t reserved1[3];
	/* statistics, published together with head */
	_Atomic uint64_t records; /* records committed */
	_Atomic uint64_t bytes; /* record bytes committed, headers included */
	_Atomic uint64_t pads; /* padding records written at the wrap point */
	_Atomic uint64_t flushes; /* ring_producer__flush() calls */
	_Atomic uint64_t wakeups; /* flushes that found sleepers and woke them */
	_Atomic uint64_t too_big; /* reservations refused: larger than the maximum */
	_Atomic uint64_t recovered; /* producer starts that resumed an existing ring */
	_Atomic uint64_t reset; /* producer starts that found the state invalid */
};

/*
 * One consumer's cursor and counters (written only by that consumer; read by the producer
 * side for status and by tests for flow control).
 */
struct ring_cursor {
	_Atomic uint64_t pos; /* next byte position this consumer will read */
	_Atomic uint64_t seq; /* seq it expects next */
	_Atomic uint64_t consumed; /* records released after a successful read */
	_Atomic uint64_t bytes; /* their bytes, headers included */
	_Atomic uint64_t lost; /* records it never saw: overwritten or skipped */
	_Atomic uint64_t lapped; /* times the producer overwrote records it had not read */
	_Atomic uint64_t corrupt; /* invalid headers found (each resyncs to head) */
	_Atomic uint64_t generations; /* producer restarts observed */
	_Atomic uint64_t waits; /* times it slept in ring_consumer__wait() */
	uint64_t reserved[7];
};

/*
 * Wake-up word shared by the producer and every consumer. Consumers set their bit in
 * sleepers before sleeping on futex; the producer bumps futex and wakes only when a
 * sleeper bit is set.
 */
struct ring_wake {
	_Atomic uint32_t futex;
	_Atomic uint32_t sleepers; /* bit i: consumer i may be sleeping */
};

/* A record as a consumer sees it: a pointer into the ring, valid until release. */
struct ring_rec {
	const void *data;
	uint32_t len; /* payload bytes (as reserved, rounded up to 8) */
	uint16_t type;
	uint16_t flags;
	uint64_t seq;
};

struct ring_producer_opts {
	/*
	 * Resume an existing ring (a producer restart): continue after the last published
	 * record with the next seq, so attached consumers keep their place. When false, or
	 * when the state found is invalid, the ring starts empty.
	 */
	bool recover;
	/*
	 * Committed records are published to consumers at ring_producer__flush(), or as soon
	 * as this many bytes are committed but unpublished. 0 = size / 16.
	 */
	uint64_t publish_bytes;
};

struct ring_producer;
struct ring_consumer;

/* Largest payload a ring of SIZE bytes accepts: a quarter of the ring minus the header. */
static inline uint64_t ring__max_payload(uint64_t size)
{
	return size / 4 - RING_HDR_SIZE;
}

/* True when SIZE is a power of two in [RING_MIN_SIZE, RING_MAX_SIZE]. */
bool ring__size_valid(uint64_t size);

/*
 * Starts producing into CTL (shared state), DATA (SIZE bytes) and WAKE. Bumps the
 * generation. Returns 0 and sets *out (caller frees with ring_producer__free()), or -EINVAL
 * (bad size or alignment) / -ENOMEM.
 */
int ring_producer__new(struct ring_producer **out, struct ring_ctl *ctl, void *data, uint64_t size,
		       struct ring_wake *wake, const struct ring_producer_opts *opts);

/*
 * Reserves a record of LEN payload bytes, overwriting the oldest records if needed (never
 * blocks). Returns a pointer to the payload (8-byte aligned, owned by the ring) to fill in
 * place, then pass to ring_producer__commit(). Only one reservation may be outstanding.
 * Returns NULL and sets errno to EMSGSIZE (LEN above ring__max_payload()) or EBUSY.
 */
void *ring_producer__reserve(struct ring_producer *p, uint32_t len);

/*
 * Commits the outstanding reservation as a record of TYPE (2..RING_TYPE_MAX) and FLAGS. It
 * becomes visible to consumers at the next flush, or earlier (see publish_bytes). Returns
 * 0, or -EINVAL when nothing is reserved or TYPE is invalid (the reservation is dropped).
 */
int ring_producer__commit(struct ring_producer *p, uint16_t type, uint16_t flags);

/* Drops the outstanding reservation, if any; nothing becomes visible. */
void ring_producer__discard(struct ring_producer *p);

/*
 * Publishes every committed record and, once per call, wakes consumers that sleep in
 * ring_consumer__wait() if any does. Call it after each batch of records.
 */
void ring_producer__flush(struct ring_producer *p);

/* The producer's byte position (next record start, committed or not yet published). */
uint64_t ring_producer__pos(const struct ring_producer *p);

/* Publishes what is committed and frees P (the shared state stays valid). NULL is a no-op. */
void ring_producer__free(struct ring_producer *p);

enum ring_start {
	RING_START_NEWEST = 0, /* first record committed after attaching */
	RING_START_OLDEST = 1, /* oldest record still in the ring */
};

struct ring_consumer_opts {
	enum ring_start start;
	uint32_t wake_bit; /* 0..31: this consumer's bit in ring_wake.sleepers */
	/*
	 * When true, CURSOR already holds a position and seq from an earlier consumer of
	 * the same slot (resume); counters are kept. When false, they are reset.
	 */
	bool resume;
};

/*
 * Starts consuming from CTL/DATA (SIZE bytes: the caller's trusted size, never read from
 * shared memory) with its state in CURSOR. Returns 0 and sets *out (caller frees), or
 * -EINVAL / -ENOMEM.
 */
int ring_consumer__new(struct ring_consumer **out, const struct ring_ctl *ctl, const void *data,
		       uint64_t size, struct ring_cursor *cursor, struct ring_wake *wake,
		       const struct ring_consumer_opts *opts);

/*
 * Fills *REC with the next committed record (pointer into the ring, no copy) after checking
 * its header. Returns 0, or -EAGAIN when nothing new is committed. Lapping and corrupt
 * headers are handled inside (counted, resynchronized) and never returned. Calling peek
 * again without release returns the same record.
 */
int ring_consumer__peek(struct ring_consumer *c, struct ring_rec *rec);

/*
 * Ends the use of the record returned by peek. Returns 0 when the record was intact for the
 * whole time it was used, and advances; or -ESTALE when the producer may have overwritten it
 * meanwhile: the caller must discard whatever it derived from it (the record is counted as
 * lost and the next peek resynchronizes). Returns -EINVAL when no record is held.
 */
int ring_consumer__release(struct ring_consumer *c);

/*
 * Sleeps until the producer flushes new records, TIMEOUT_MS passes (-1: forever) or a signal
 * arrives. Returns 0 at once when records are already there, 0 after a wake-up, -ETIMEDOUT
 * or -EINTR.
 */
int ring_consumer__wait(struct ring_consumer *c, int timeout_ms);

/* Bytes the producer published that this consumer has not read yet (its lag). */
uint64_t ring_consumer__lag(const struct ring_consumer *c);

/* C's cursor and counters (in shared memory, owned by the caller of ring_consumer__new()). */
const struct ring_cursor *ring_consumer__cursor(const struct ring_consumer *c);

/* Frees C (its cursor stays in shared memory). NULL is a no-op. */
void ring_consumer__free(struct ring_consumer *c);

#endif
