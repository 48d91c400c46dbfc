/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the ring tests: deterministic payloads and their checks. */
#ifndef KILN_TESTS_RING_TEST_H
#define KILN_TESTS_RING_TEST_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t rt_mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

/* Payload length of record SEQ in the mixed-size tests: 0..MAX bytes. */
static inline uint32_t rt_len(uint64_t seq, uint32_t max)
{
	uint64_t r = rt_mix(seq ^ 0x5bd1e995);

	/* mostly small records, some large ones, so pads happen at every wrap */
	if (r % 8 == 0)
		return (uint32_t)(r >> 8) % (max + 1);
	return (uint32_t)(r >> 8) % 200;
}

/* Fills LEN bytes for record SEQ: the first 8 bytes hold SEQ, the rest a keyed stream. */
static inline void rt_fill(void *buf, uint32_t len, uint64_t seq)
{
	uint8_t *b = buf;
	uint64_t v = rt_mix(seq);
	uint32_t i;

	for (i = 0; i < len; i++) {
		if (i % 8 == 0)
			v = rt_mix(v + seq + i);
		b[i] = (uint8_t)(v >> (8 * (i % 8)));
	}
	if (len >= 8)
		memcpy(b, &seq, 8);
}

/* True when BUF holds exactly what rt_fill() wrote for SEQ. */
static inline bool rt_check(const void *buf, uint32_t len, uint64_t seq)
{
	const uint8_t *b = buf;
	uint64_t v = rt_mix(seq), s;
	uint32_t i;

	if (len >= 8) {
		memcpy(&s, b, 8);
		if (s != seq)
			return false;
	}
	for (i = 0; i < len; i++) {
		if (i % 8 == 0)
			v = rt_mix(v + seq + i);
		if (i >= 8 && b[i] != (uint8_t)(v >> (8 * (i % 8))))
			return false;
	}
	return true;
}

#endif
