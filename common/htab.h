/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small open-addressing hash index (linear probing, backward-shift deletion) mapping a
 * 64-bit hash to a 64-bit value, usually an index into the caller's own array or a pointer.
 * Hand-written rather than taken from a library: the tables here only ever need "find by
 * hash + caller equality, insert, remove", with entries owned by the caller; Debian's
 * candidates (glib's GHashTable, uthash) either pull in a large runtime or intrude into the
 * entries' structs, and both hash keys we do not own.
 * Used by symbolize/, profile/, ui/ and the agent.
 */
#ifndef KILN_COMMON_HTAB_H
#define KILN_COMMON_HTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct htab_slot {
	uint64_t hash; /* 0 marks an empty slot; htab_hash_*() never return 0 */
	uint64_t val;
};

struct htab {
	struct htab_slot *slots;
	size_t mask; /* capacity - 1; capacity is a power of two, 0 until the first insert */
	size_t nr;
};

/* Returns true when VAL (a stored value) is the entry KEY describes. */
typedef bool (*htab_eq_fn)(uint64_t val, const void *key, void *ctx);

/* Frees H's slots (not what the values refer to); H is left empty and reusable. */
void htab__release(struct htab *h);

/*
 * Looks up the entry with HASH for which EQ(val, KEY, CTX) holds. Returns true and sets
 * *VAL when found.
 */
bool htab__find(const struct htab *h, uint64_t hash, htab_eq_fn eq, const void *key, void *ctx,
		uint64_t *val);

/*
 * The slot where a lookup of HASH starts, for prefetching: what it points to is not read.
 * NULL when H is empty.
 */
const struct htab_slot *htab__home(const struct htab *h, uint64_t hash);

/*
 * The value of the first entry stored under HASH, without the caller's equality check (for
 * prefetching what it points to: with a good hash it is almost always the entry wanted).
 * Returns false when no entry has HASH.
 */
bool htab__peek(const struct htab *h, uint64_t hash, uint64_t *val);

/* Adds (HASH, VAL) without checking for duplicates. Returns 0 or -ENOMEM. */
int htab__insert(struct htab *h, uint64_t hash, uint64_t val);

/* Removes the entry (HASH, VAL). Returns true when it was present. */
bool htab__remove(struct htab *h, uint64_t hash, uint64_t val);

/*
 * Hash helpers; the results are never 0. They may change between versions and differ
 * between architectures (htab_hash_bytes reads words in native byte order): nothing may
 * store them outside the process.
 */
uint64_t htab_hash_bytes(const void *p, size_t len, uint64_t seed);
uint64_t htab_hash_u64(uint64_t x, uint64_t seed);

#endif
