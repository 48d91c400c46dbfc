/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The UI's slot buffer, with the semantics of the Odigos profiling UI (the seed product):
 *
 * - one slot per workload key, opened on demand when the user enables profiling;
 * - at most max_slots: opening one more evicts the slot least recently *requested* (by the
 *   UI: enable, read), never the one least recently fed;
 * - slots__sweep() removes slots without a request for ttl_ns; incoming data does not keep
 *   a slot alive, so a forgotten browser tab stops costing memory after the TTL;
 * - each slot is a FIFO of raw chunks (self-contained window records) of at most max_bytes;
 *   adding past the cap drops the oldest whole chunks; a single chunk larger than the cap is
 *   refused and counted.
 *
 * Pure logic, no locking: the caller serializes access (ui/ holds one mutex around it).
 */
#ifndef KILN_UI_SLOTS_H
#define KILN_UI_SLOTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SLOTS_DEFAULT_MAX 24
#define SLOTS_DEFAULT_TTL_S 120
#define SLOTS_DEFAULT_MAX_BYTES 8388608ull
#define SLOTS_DEFAULT_CLEANUP_S 15

struct slots_opts {
	uint64_t max_slots; /* >= 1 */
	uint64_t ttl_ns; /* >= 1 */
	uint64_t max_bytes; /* per slot, >= 1 */
	/* Monotonic clock in ns; NULL: CLOCK_MONOTONIC. Tests inject their own. */
	uint64_t (*now_ns)(void *ctx);
	void *clock_ctx;
};

struct slots_stats {
	uint64_t nr_slots; /* open now */
	uint64_t bytes; /* chunk bytes held, all slots */
	uint64_t chunks; /* chunks held, all slots */
	uint64_t opened; /* slots opened, ever */
	uint64_t evicted; /* slots evicted to make room (LRU) */
	uint64_t expired; /* slots removed by the TTL sweep */
	uint64_t closed; /* slots disabled by the user */
	uint64_t added; /* chunks accepted */
	uint64_t dropped; /* chunks dropped (oldest first) to stay under the byte cap */
	uint64_t dropped_bytes;
	uint64_t refused; /* chunks larger than the cap, refused */
};

/* Per-slot facts for the API. */
struct slot_info {
	uint64_t bytes, chunks;
	uint64_t opened_ns, requested_ns; /* on the slots' clock */
	uint64_t dropped, refused;
};

struct slots;

/* Visits one chunk; a non-zero return stops the walk and is returned by slots__read(). */
typedef int (*slots_chunk_fn)(const void *chunk, size_t len, void *ctx);

/* Returns 0 and a new empty buffer in *OUT (caller frees), or -EINVAL (a zero limit) / -ENOMEM. */
int slots__new(struct slots **out, const struct slots_opts *opts);

/* Frees S and every chunk; NULL is a no-op. */
void slots__free(struct slots *s);

/*
 * Opens the slot for KEY, or only marks it requested when it is open already. Evicts the
 * least recently requested slot when max_slots are open. Returns 1 when opened, 0 when it
 * was open, or -ENOMEM / -EINVAL (empty key).
 */
int slots__enable(struct slots *s, const char *key);

/* Closes the slot for KEY and frees its chunks. Returns 0 or -ENOENT. */
int slots__disable(struct slots *s, const char *key);

/* Drops every chunk of KEY's slot and marks it requested. Returns 0 or -ENOENT. */
int slots__clear(struct slots *s, const char *key);

/* True when KEY has an open slot. Not a request: does not refresh the slot. */
bool slots__has(const struct slots *s, const char *key);

/*
 * Appends a copy of the LEN bytes at CHUNK to KEY's slot, dropping its oldest chunks to stay
 * within max_bytes. Not a request. Returns 0, -ENOENT (no slot: the data is not wanted),
 * -EFBIG (LEN above max_bytes: refused and counted) or -ENOMEM.
 */
int slots__add(struct slots *s, const char *key, const void *chunk, size_t len);

/*
 * A UI read of KEY's slot: marks it requested, then calls FN on every chunk, oldest first
 * (chunks are 8-byte aligned, valid during the call). Returns 0, -ENOENT, or FN's non-zero
 * return.
 */
int slots__read(struct slots *s, const char *key, slots_chunk_fn fn, void *ctx);

/* Facts about KEY's slot, not a request. Returns 0 or -ENOENT. */
int slots__info(const struct slots *s, const char *key, struct slot_info *info);

/* Calls FN for every open slot (any order). Not a request. */
void slots__for_each(const struct slots *s,
		     void (*fn)(const char *key, const struct slot_info *info, void *ctx),
		     void *ctx);

/* Removes every slot not requested for ttl_ns. Returns how many were removed. */
int slots__sweep(struct slots *s);

/* Copies the counters into *ST. */
void slots__stats(const struct slots *s, struct slots_stats *st);

#endif
