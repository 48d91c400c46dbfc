// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/htab.h"

void htab__release(struct htab *h)
{
	free(h->slots);
	h->slots = NULL;
	h->mask = 0;
	h->nr = 0;
}

bool htab__find(const struct htab *h, uint64_t hash, htab_eq_fn eq, const void *key, void *ctx,
		uint64_t *val)
{
	size_t i;

	if (!h->slots)
		return false;
	for (i = hash & h->mask;; i = (i + 1) & h->mask) {
		const struct htab_slot *sl = &h->slots[i];

		if (!sl->hash)
			return false;
		if (sl->hash == hash && eq(sl->val, key, ctx)) {
			*val = sl->val;
			return true;
		}
	}
}

const struct htab_slot *htab__home(const struct htab *h, uint64_t hash)
{
	return h->slots ? &h->slots[hash & h->mask] : NULL;
}

bool htab__peek(const struct htab *h, uint64_t hash, uint64_t *val)
{
	size_t i;

	if (!h->slots)
		return false;
	for (i = hash & h->mask; h->slots[i].hash; i = (i + 1) & h->mask) {
		if (h->slots[i].hash == hash) {
			*val = h->slots[i].val;
			return true;
		}
	}
	return false;
}

static void place(struct htab_slot *slots, size_t mask, uint64_t hash, uint64_t val)
{
	size_t i;

	for (i = hash & mask; slots[i].hash; i = (i + 1) & mask)
		;
	slots[i].hash = hash;
	slots[i].val = val;
}

int htab__insert(struct htab *h, uint64_t hash, uint64_t val)
{
	struct htab_slot *ns;
	size_t cap = h->slots ? h->mask + 1 : 0, ncap, i;

	/* Grow at a load factor of 1/2: linear probing degrades quickly above that. */
	if ((h->nr + 1) * 2 > cap) {
		ncap = cap ? cap * 2 : 16;
		ns = calloc(ncap, sizeof(*ns));
		if (!ns)
			return -ENOMEM;
		for (i = 0; i < cap; i++)
			if (h->slots[i].hash)
				place(ns, ncap - 1, h->slots[i].hash, h->slots[i].val);
		free(h->slots);
		h->slots = ns;
		h->mask = ncap - 1;
	}
	place(h->slots, h->mask, hash, val);
	h->nr++;
	return 0;
}

bool htab__remove(struct htab *h, uint64_t hash, uint64_t val)
{
	size_t i, j, home;

	if (!h->slots)
		return false;
	for (i = hash & h->mask;; i = (i + 1) & h->mask) {
		if (!h->slots[i].hash)
			return false;
		if (h->slots[i].hash == hash && h->slots[i].val == val)
			break;
	}
	/*
	 * Backward-shift deletion: pull later members of the probe run into the hole when
	 * their home slot is not cyclically inside (hole, j], so no tombstones are needed and
	 * lookups still stop at the first empty slot.
	 */
	j = i;
	for (;;) {
		h->slots[i].hash = 0;
		for (;;) {
			j = (j + 1) & h->mask;
			if (!h->slots[j].hash) {
				h->nr--;
				return true;
			}
			home = h->slots[j].hash & h->mask;
			if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
				continue;
			break;
		}
		h->slots[i] = h->slots[j];
		i = j;
	}
}

uint64_t htab_hash_u64(uint64_t x, uint64_t seed)
{
	/* splitmix64's finalizer: cheap and mixes every input bit into the low bits we mask. */
	x += seed + 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x ? x : 1;
}

/*
 * One step over a word of input: multiply and xor-shift are each invertible, so two states
 * that differ only in the word just taken in still differ after it.
 */
static inline uint64_t mix_word(uint64_t h, uint64_t w)
{
	h ^= w;
	h *= 0xbf58476d1ce4e5b9ULL;
	return h ^ (h >> 31);
}

uint64_t htab_hash_bytes(const void *p, size_t len, uint64_t seed)
{
	const unsigned char *b = p;
	uint64_t h = seed ^ 0x9e3779b97f4a7c15ULL, w = 0;
	uint32_t w4;
	uint16_t w2;
	size_t n = len;
	unsigned int shift = 0;

	/*
	 * Eight bytes a step (memcpy: the input need not be aligned). FNV-1a took a byte a
	 * step, a dependent multiply each: 68 ns for add_stack's 16 location ids, 20 now.
	 */
	for (; n >= 8; b += 8, n -= 8) {
		memcpy(&w, b, sizeof(w));
		h = mix_word(h, w);
	}
	/* The tail as one zero-padded word; LEN below tells "a" from "a\0". */
	if (n) {
		w = 0;
		if (n & 4) {
			memcpy(&w4, b, sizeof(w4));
			w = w4;
			b += 4;
			shift = 32;
		}
		if (n & 2) {
			memcpy(&w2, b, sizeof(w2));
			w |= (uint64_t)w2 << shift;
			b += 2;
			shift += 16;
		}
		if (n & 1)
			w |= (uint64_t)*b << shift;
		h = mix_word(h, w);
	}
	/* A full final mix so short keys spread over the low bits the table masks. */
	return htab_hash_u64(h, len);
}
