// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer harness for the consumer side of the ring. The input is a program: producer
 * writes, flushes and restarts interleaved with consumer reads, and arbitrary mutations of
 * the shared segment (ring bytes and producer state) as a buggy or hostile writer could
 * make. Whatever the segment holds, a consumer must never read outside the ring, never
 * return a record that extends past it, and, as long as nothing was mutated, return exactly
 * what was written, in order.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringbuf/ringbuf.h"
#include "tests/ring/ring_test.h"

#define SIZE 4096u

struct input {
	const uint8_t *p;
	size_t n;
};

static int next_byte(struct input *in)
{
	if (!in->n)
		return -1;
	in->n--;
	return *in->p++;
}

static uint64_t next_u64(struct input *in)
{
	uint64_t v = 0;
	int i, b;

	for (i = 0; i < 8 && (b = next_byte(in)) >= 0; i++)
		v |= (uint64_t)b << (8 * i);
	return v;
}

static void check_rec(const uint8_t *data, const struct ring_rec *r, bool pristine,
		      uint64_t *expect, const struct ring_cursor *cur, uint64_t *lost_seen)
{
	uint64_t lost = atomic_load(&cur->lost);

	const uint8_t *d = r->data;

	if (d < data || d + r->len > data + SIZE || (uintptr_t)d % 8 || r->len > SIZE)
		abort();
	if (r->type <= RING_TYPE_PAD || r->type > RING_TYPE_MAX)
		abort();
	if (!pristine)
		return;
	/* untouched segment: in order, every gap counted as lost exactly, content intact */
	if (r->seq < *expect || r->seq - *expect != lost - *lost_seen ||
	    r->len != (uint32_t)r->flags * 8 || !rt_check(d, r->len, r->seq))
		abort();
	*expect = r->seq + 1;
	*lost_seen = lost;
}

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
	struct input in = { buf, len };
	struct ring_producer_opts po = { .recover = false, .publish_bytes = 1 };
	struct ring_consumer_opts co = { 0 };
	struct ring_producer *p = NULL;
	struct ring_consumer *c = NULL;
	struct ring_ctl *ctl = NULL;
	struct ring_cursor *cur = NULL;
	struct ring_wake *wake = NULL;
	uint8_t *data = NULL;
	uint64_t seq = 0, expect = 0, lost_seen = 0;
	bool pristine = true;
	struct ring_rec r;
	int op, steps = 0;

	/* separate allocations: ASan flags any byte read outside each of them */
	ctl = calloc(1, sizeof(*ctl));
	cur = calloc(1, sizeof(*cur));
	wake = calloc(1, sizeof(*wake));
	data = aligned_alloc(64, SIZE);
	if (!ctl || !cur || !wake || !data)
		goto cleanup;
	memset(data, 0, SIZE);
	if (ring_producer__new(&p, ctl, data, SIZE, wake, &po))
		goto cleanup;
	co.start = next_byte(&in) & 1 ? RING_START_OLDEST : RING_START_NEWEST;
	if (ring_consumer__new(&c, ctl, data, SIZE, cur, wake, &co))
		goto cleanup;
	if (co.start == RING_START_OLDEST)
		pristine = false; /* no expectation about where history starts */
	while ((op = next_byte(&in)) >= 0 && steps++ < 4096) {
		uint32_t l;
		void *d;
		int k;

		switch (op % 8) {
		case 0: /* write a record: payload length in 8-byte units kept in flags */
			l = (uint32_t)(next_byte(&in) & 0x7f) * 8;
			d = ring_producer__reserve(p, l);
			if (!d)
				break;
			rt_fill(d, l, seq);
			if (!ring_producer__commit(p, RING_TYPE_TEST, (uint16_t)(l / 8)))
				seq++;
			break;
		case 1:
			ring_producer__flush(p);
			break;
		case 2: /* read one */
			if (ring_consumer__peek(c, &r) == 0) {
				check_rec(data, &r, pristine, &expect, cur, &lost_seen);
				if (ring_consumer__release(c) && pristine)
					abort(); /* nothing can overwrite it while pristine... */
			}
			break;
		case 3: /* corrupt one ring byte */
			l = (uint32_t)next_byte(&in) | (uint32_t)(next_byte(&in) & 0xff) << 8;
			data[l % SIZE] = (uint8_t)next_byte(&in);
			pristine = false;
			break;
		case 4: { /* corrupt one word of the producer state */
			_Atomic uint64_t *f[] = { &ctl->head,	  &ctl->horizon,    &ctl->tail,
						  &ctl->next_seq, &ctl->generation, &ctl->pub };

			k = next_byte(&in);
			atomic_store(f[(k < 0 ? 0 : k) % 6], next_u64(&in));
			pristine = false;
			break;
		}
		case 5: /* hold a record while the producer laps it */
			if (ring_consumer__peek(c, &r) == 0) {
				check_rec(data, &r, pristine, &expect, cur, &lost_seen);
				for (k = 0; k < 40; k++) {
					d = ring_producer__reserve(p, 120);
					if (!d)
						continue;
					rt_fill(d, 120, seq);
					if (!ring_producer__commit(p, RING_TYPE_TEST, 15))
						seq++;
				}
				ring_producer__flush(p);
				/* lapped: losses are expected from here on */
				if (ring_consumer__release(c) == -ESTALE)
					pristine = false;
			}
			break;
		case 6: /* producer restart, resuming whatever the state is */
			ring_producer__free(p);
			p = NULL;
			po.recover = true;
			if (ring_producer__new(&p, ctl, data, SIZE, wake, &po))
				goto cleanup;
			seq = atomic_load(&ctl->next_seq);
			break;
		case 7: /* drain */
			while (ring_consumer__peek(c, &r) == 0) {
				check_rec(data, &r, pristine, &expect, cur, &lost_seen);
				ring_consumer__release(c);
			}
			break;
		}
	}
	/* with an untouched segment every record was delivered or counted lost */
	if (pristine) {
		ring_producer__flush(p);
		while (ring_consumer__peek(c, &r) == 0) {
			check_rec(data, &r, pristine, &expect, cur, &lost_seen);
			ring_consumer__release(c);
		}
		if (expect != seq && (seq != 0 || expect != 0))
			abort();
	}
cleanup:
	ring_consumer__free(c);
	ring_producer__free(p);
	free(ctl);
	free(cur);
	free(wake);
	free(data);
	return 0;
}
