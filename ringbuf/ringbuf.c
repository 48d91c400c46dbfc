// SPDX-License-Identifier: Apache-2.0
/*
 * Memory-ordering protocol (see also shm/FORMAT.md):
 *
 * - head: the producer writes records, then stores head with release; a consumer loads head
 *   with acquire before reading any record below it. Records below head are complete.
 * - horizon: before writing over old bytes the producer stores tail, then horizon (release),
 *   then issues a release fence, then writes. A consumer reads a header or payload, issues an
 *   acquire fence, then loads horizon. If the consumer read any byte the producer wrote after
 *   the fence, the fence pair guarantees it sees the new horizon, so "horizon - pos <= size"
 *   after reading proves the bytes it read were those of the record at pos (seqlock).
 * - The producer publishes horizon in chunks of size/16 so consumers see it change rarely.
 * - sleepers/futex: Dekker pattern with a seq_cst fence on each side (see wait and flush).
 */
#include "ringbuf/ringbuf.h"

#if defined(__SANITIZE_THREAD__) && !defined(__clang__)
/*
 * GCC's TSan does not model fences and warns about each. The fences here order plain data
 * against the horizon only for lap detection between processes (which TSan cannot see);
 * in-process happens-before comes from the release/acquire pairs on head and cursors.
 */
#pragma GCC diagnostic ignored "-Wtsan"
#endif

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define WORD(len, type, flags) ((uint64_t)(len) | (uint64_t)(type) << 32 | (uint64_t)(flags) << 48)
#define WORD_LEN(w) ((uint32_t)(w))
#define WORD_TYPE(w) ((uint16_t)((w) >> 32))
#define WORD_FLAGS(w) ((uint16_t)((w) >> 48))

#define RESYNC_ATTEMPTS 64

struct ring_producer {
	struct ring_ctl *ctl;
	uint8_t *data;
	struct ring_wake *wake;
	uint64_t size, mask, chunk, publish_bytes;
	uint64_t pos; /* next record start */
	uint64_t published; /* last head stored */
	uint64_t horizon; /* last horizon stored */
	uint64_t tail;
	uint64_t seq; /* seq of the next committed record */
	uint64_t res_start; /* outstanding reservation: record start and length */
	uint32_t res_len;
	bool reserved;
	uint64_t records, bytes, pads, flushes, wakeups, too_big;
};

struct ring_consumer {
	const struct ring_ctl *ctl;
	const uint8_t *data;
	struct ring_cursor *cur;
	struct ring_wake *wake;
	uint64_t size, mask;
	uint32_t wake_bit;
	uint64_t pos, seq, head, gen;
	bool have_seq; /* seq is exact (false: attached at the oldest record, none read yet) */
	bool resync; /* pos is a record start found by resync: accept any seq >= expected */
	bool held; /* a record returned by peek is not released yet */
	bool dirty; /* counters changed since they were last stored in the cursor */
	uint32_t held_len;
	uint64_t held_seq;
	uint64_t consumed, bytes, lost, lapped, corrupt, generations, waits;
};

bool ring__size_valid(uint64_t size)
{
	return size >= RING_MIN_SIZE && size <= RING_MAX_SIZE && !(size & (size - 1));
}

static inline struct ring_rec_hdr *hdr_at(uint8_t *data, uint64_t mask, uint64_t pos)
{
	return (struct ring_rec_hdr *)(data + (pos & mask));
}

static inline uint64_t align8(uint64_t v)
{
	return (v + RING_ALIGN - 1) & ~(uint64_t)(RING_ALIGN - 1);
}

/*
 * head and next_seq change together inside a seqlock (pub odd while writing), so that an
 * attaching consumer reads a pair that belongs together and knows which seq comes next.
 */
static void pair_begin(struct ring_ctl *ctl)
{
	uint64_t v = atomic_load_explicit(&ctl->pub, memory_order_relaxed);

	atomic_store_explicit(&ctl->pub, v + 1, memory_order_relaxed);
	/* Release fence: the odd pub is visible before any of the pair's new values. */
	atomic_thread_fence(memory_order_release);
}

static void pair_end(struct ring_ctl *ctl)
{
	uint64_t v = atomic_load_explicit(&ctl->pub, memory_order_relaxed);

	/* Release: the pair's new values are visible before the even pub. */
	atomic_store_explicit(&ctl->pub, (v + 1) & ~1ull, memory_order_release);
}

/* Reads head and next_seq as a consistent pair. Returns false if it never settled. */
static bool pair_read(const struct ring_ctl *ctl, uint64_t *head, uint64_t *seq)
{
	int i;

	for (i = 0; i < 10000; i++) {
		/* Acquire: pairs with pair_end(); the values below are at least that new. */
		uint64_t v1 = atomic_load_explicit(&ctl->pub, memory_order_acquire), v2;

		if (v1 & 1)
			continue;
		*head = atomic_load_explicit(&ctl->head, memory_order_acquire);
		*seq = atomic_load_explicit(&ctl->next_seq, memory_order_relaxed);
		/* Acquire fence: orders the two loads above before re-reading pub. */
		atomic_thread_fence(memory_order_acquire);
		v2 = atomic_load_explicit(&ctl->pub, memory_order_relaxed);
		if (v1 == v2)
			return true;
	}
	return false;
}

/* Publishes committed records and the statistics that go with them. */
static void producer_publish(struct ring_producer *p)
{
	struct ring_ctl *ctl = p->ctl;

	if (p->published == p->pos)
		return;
	atomic_store_explicit(&ctl->records, p->records, memory_order_relaxed);
	atomic_store_explicit(&ctl->bytes, p->bytes, memory_order_relaxed);
	atomic_store_explicit(&ctl->pads, p->pads, memory_order_relaxed);
	pair_begin(ctl);
	atomic_store_explicit(&ctl->next_seq, p->seq, memory_order_relaxed);
	/* Release: orders every record write (headers and payloads) below pos before head. */
	atomic_store_explicit(&ctl->head, p->pos, memory_order_release);
	pair_end(ctl);
	p->published = p->pos;
}

/*
 * Moves the overwrite horizon so that [pos, end) may be written: first tail past every
 * record that will be overwritten, then horizon, then a fence before any overwrite.
 */
static void producer_advance(struct ring_producer *p, uint64_t end)
{
	uint64_t h = end + p->chunk, floor = h - p->size;
	uint64_t tail = p->tail;

	while (tail < floor) {
		uint64_t w = atomic_load_explicit(&hdr_at(p->data, p->mask, tail)->word,
						  memory_order_relaxed);
		uint32_t len = WORD_LEN(w);

		/*
		 * Only this producer wrote these headers, but a previous producer (restart)
		 * may have left garbage: never walk on a bad length, drop the history instead.
		 */
		if (len < RING_ALIGN || len % RING_ALIGN || len > p->size - (tail & p->mask) ||
		    tail + len > p->pos) {
			tail = p->pos;
			break;
		}
		tail += len;
	}
	p->tail = tail;
	/* Release: a consumer that sees this tail also sees the headers written before it. */
	atomic_store_explicit(&p->ctl->tail, tail, memory_order_release);
	/* Release: a consumer that acquires this horizon sees the tail stored just above. */
	atomic_store_explicit(&p->ctl->horizon, h, memory_order_release);
	/*
	 * Release fence: orders the horizon store before every write that follows (the
	 * overwrites). A consumer that reads an overwritten byte and then fences with acquire
	 * is guaranteed to load this horizon or a later one, and so detects the overwrite.
	 */
	atomic_thread_fence(memory_order_release);
	p->horizon = h;
}

static void producer_reset(struct ring_producer *p, uint64_t pos, uint64_t seq)
{
	p->pos = p->published = p->tail = pos;
	p->horizon = pos + p->size;
	p->seq = seq;
	pair_begin(p->ctl);
	atomic_store_explicit(&p->ctl->next_seq, seq, memory_order_relaxed);
	atomic_store_explicit(&p->ctl->tail, pos, memory_order_relaxed);
	atomic_store_explicit(&p->ctl->horizon, p->horizon, memory_order_relaxed);
	/* Release: consumers that see the new head also see tail, horizon and next_seq. */
	atomic_store_explicit(&p->ctl->head, pos, memory_order_release);
	pair_end(p->ctl);
}

/* Resumes the state a previous producer left, or returns false when it is not coherent. */
static bool producer_recover(struct ring_producer *p)
{
	struct ring_ctl *ctl = p->ctl;
	uint64_t head = atomic_load_explicit(&ctl->head, memory_order_acquire);
	uint64_t horizon = atomic_load_explicit(&ctl->horizon, memory_order_relaxed);
	uint64_t tail = atomic_load_explicit(&ctl->tail, memory_order_relaxed);

	if (ctl->size != p->size || head % RING_ALIGN || tail % RING_ALIGN || tail > head ||
	    head > horizon || horizon - head > p->size || head - tail > p->size ||
	    horizon - p->size > tail)
		return false;
	/*
	 * Anything the previous producer wrote at or after head was never published, so it
	 * is simply overwritten; horizon already covers it, so consumers never read it.
	 */
	p->pos = p->published = head;
	p->tail = tail;
	p->horizon = horizon;
	p->seq = atomic_load_explicit(&ctl->next_seq, memory_order_relaxed);
	p->records = atomic_load_explicit(&ctl->records, memory_order_relaxed);
	p->bytes = atomic_load_explicit(&ctl->bytes, memory_order_relaxed);
	p->pads = atomic_load_explicit(&ctl->pads, memory_order_relaxed);
	p->flushes = atomic_load_explicit(&ctl->flushes, memory_order_relaxed);
	p->wakeups = atomic_load_explicit(&ctl->wakeups, memory_order_relaxed);
	p->too_big = atomic_load_explicit(&ctl->too_big, memory_order_relaxed);
	return true;
}

int ring_producer__new(struct ring_producer **out, struct ring_ctl *ctl, void *data, uint64_t size,
		       struct ring_wake *wake, const struct ring_producer_opts *opts)
{
	struct ring_producer *p = NULL;
	int err = 0;

	*out = NULL;
	if (!ctl || !data || !wake || !ring__size_valid(size) || (uintptr_t)data % RING_ALIGN) {
		err = -EINVAL;
		goto cleanup;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		err = -ENOMEM;
		goto cleanup;
	}
	p->ctl = ctl;
	p->data = data;
	p->wake = wake;
	p->size = size;
	p->mask = size - 1;
	p->chunk = size / 16;
	p->publish_bytes = opts && opts->publish_bytes ? opts->publish_bytes : size / 16;

	if (opts && opts->recover && producer_recover(p)) {
		atomic_fetch_add_explicit(&ctl->recovered, 1, memory_order_relaxed);
	} else {
		uint64_t head = atomic_load_explicit(&ctl->head, memory_order_relaxed);
		uint64_t horizon = atomic_load_explicit(&ctl->horizon, memory_order_relaxed);
		uint64_t seq = atomic_load_explicit(&ctl->next_seq, memory_order_relaxed);
		uint64_t start = head > horizon ? head : horizon;

		if (opts && opts->recover)
			atomic_fetch_add_explicit(&ctl->reset, 1, memory_order_relaxed);
		/*
		 * Start a lap beyond anything a consumer may hold so that old cursors are seen
		 * as lapped (and resync) rather than reading stale bytes as new records.
		 */
		start = (start + p->size) & ~p->mask;
		atomic_store_explicit(&ctl->records, 0, memory_order_relaxed);
		atomic_store_explicit(&ctl->bytes, 0, memory_order_relaxed);
		atomic_store_explicit(&ctl->pads, 0, memory_order_relaxed);
		atomic_store_explicit(&ctl->flushes, 0, memory_order_relaxed);
		atomic_store_explicit(&ctl->wakeups, 0, memory_order_relaxed);
		atomic_store_explicit(&ctl->too_big, 0, memory_order_relaxed);
		ctl->size = size;
		producer_reset(p, start, seq);
	}
	/* Relaxed: consumers only compare the generation; the records carry their own order. */
	atomic_fetch_add_explicit(&ctl->generation, 1, memory_order_relaxed);
	*out = p;
	p = NULL;
cleanup:
	free(p);
	return err;
}

void *ring_producer__reserve(struct ring_producer *p, uint32_t len)
{
	uint64_t rlen, off, gap, start, end;

	if (p->reserved) {
		errno = EBUSY;
		return NULL;
	}
	if (len > ring__max_payload(p->size)) {
		p->too_big++;
		atomic_store_explicit(&p->ctl->too_big, p->too_big, memory_order_relaxed);
		errno = EMSGSIZE;
		return NULL;
	}
	rlen = align8((uint64_t)len + RING_HDR_SIZE);
	off = p->pos & p->mask;
	gap = p->size - off;
	/* Records never straddle the wrap point: pad to it and start the next lap. */
	start = gap < rlen ? p->pos + gap : p->pos;
	end = start + rlen;
	if (end > p->horizon)
		producer_advance(p, end);
	if (start != p->pos) {
		/* Part of the batch: published with the record that follows. */
		atomic_store_explicit(&hdr_at(p->data, p->mask, p->pos)->word,
				      WORD(gap, RING_TYPE_PAD, 0), memory_order_relaxed);
		p->pads++;
		p->pos = start;
	}
	p->res_start = start;
	p->res_len = (uint32_t)rlen;
	p->reserved = true;
	return p->data + (start & p->mask) + RING_HDR_SIZE;
}

int ring_producer__commit(struct ring_producer *p, uint16_t type, uint16_t flags)
{
	struct ring_rec_hdr *h;

	if (!p->reserved)
		return -EINVAL;
	p->reserved = false;
	if (type <= RING_TYPE_PAD || type > RING_TYPE_MAX)
		return -EINVAL;
	h = hdr_at(p->data, p->mask, p->res_start);
	/* Relaxed: the release store of head in producer_publish() orders these. */
	atomic_store_explicit(&h->seq, p->seq, memory_order_relaxed);
	atomic_store_explicit(&h->word, WORD(p->res_len, type, flags), memory_order_relaxed);
	p->seq++;
	p->records++;
	p->bytes += p->res_len;
	p->pos = p->res_start + p->res_len;
	if (p->pos - p->published >= p->publish_bytes)
		producer_publish(p);
	return 0;
}

void ring_producer__discard(struct ring_producer *p)
{
	/* A pad already written before pos stays: it is a valid record and harmless. */
	p->reserved = false;
}

static long futex(_Atomic uint32_t *uaddr, int op, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, (uint32_t *)uaddr, op, val, ts, NULL, 0);
}

void ring_producer__flush(struct ring_producer *p)
{
	struct ring_wake *w = p->wake;

	producer_publish(p);
	p->flushes++;
	atomic_store_explicit(&p->ctl->flushes, p->flushes, memory_order_relaxed);
	/*
	 * Seq_cst fence: orders the head store above before the sleepers load below. Pairs
	 * with the fence in ring_consumer__wait() between setting its sleeper bit and loading
	 * head: either we see its bit, or it sees our head and does not sleep.
	 */
	atomic_thread_fence(memory_order_seq_cst);
	if (!atomic_load_explicit(&w->sleepers, memory_order_relaxed))
		return;
	/* Release: the futex bump tells a consumer about to sleep that it must re-check. */
	atomic_fetch_add_explicit(&w->futex, 1, memory_order_release);
	/* Shared futex (not PRIVATE): sleepers are other processes mapping the same page. */
	futex(&w->futex, FUTEX_WAKE, INT_MAX, NULL);
	p->wakeups++;
	atomic_store_explicit(&p->ctl->wakeups, p->wakeups, memory_order_relaxed);
}

uint64_t ring_producer__pos(const struct ring_producer *p)
{
	return p->pos;
}

void ring_producer__free(struct ring_producer *p)
{
	if (!p)
		return;
	p->reserved = false;
	ring_producer__flush(p);
	free(p);
}

static void consumer_store_counters(struct ring_consumer *c)
{
	struct ring_cursor *cur = c->cur;

	c->dirty = false;
	/* Relaxed: counters are statistics; only this consumer writes them. */
	atomic_store_explicit(&cur->consumed, c->consumed, memory_order_relaxed);
	atomic_store_explicit(&cur->bytes, c->bytes, memory_order_relaxed);
	atomic_store_explicit(&cur->lost, c->lost, memory_order_relaxed);
	atomic_store_explicit(&cur->lapped, c->lapped, memory_order_relaxed);
	atomic_store_explicit(&cur->corrupt, c->corrupt, memory_order_relaxed);
	atomic_store_explicit(&cur->generations, c->generations, memory_order_relaxed);
	atomic_store_explicit(&cur->waits, c->waits, memory_order_relaxed);
	atomic_store_explicit(&cur->seq, c->seq, memory_order_relaxed);
	/*
	 * Release: orders this consumer's reads of the records below pos before publishing
	 * that it is done with them (whoever acquires pos may reuse that space).
	 */
	atomic_store_explicit(&cur->pos, c->pos, memory_order_release);
}

int ring_consumer__new(struct ring_consumer **out, const struct ring_ctl *ctl, const void *data,
		       uint64_t size, struct ring_cursor *cursor, struct ring_wake *wake,
		       const struct ring_consumer_opts *opts)
{
	struct ring_consumer *c = NULL;
	int err = 0;

	*out = NULL;
	if (!ctl || !data || !cursor || !wake || !ring__size_valid(size) ||
	    (uintptr_t)data % RING_ALIGN || (opts && opts->wake_bit > 31)) {
		err = -EINVAL;
		goto cleanup;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		err = -ENOMEM;
		goto cleanup;
	}
	c->ctl = ctl;
	c->data = data;
	c->cur = cursor;
	c->wake = wake;
	c->size = size;
	c->mask = size - 1;
	c->wake_bit = opts ? opts->wake_bit : 0;
	c->gen = atomic_load_explicit(&ctl->generation, memory_order_relaxed);
	if (opts && opts->resume) {
		c->pos = atomic_load_explicit(&cursor->pos, memory_order_relaxed) & ~7ull;
		c->seq = atomic_load_explicit(&cursor->seq, memory_order_relaxed);
		c->have_seq = true;
		c->resync = true;
		c->consumed = atomic_load_explicit(&cursor->consumed, memory_order_relaxed);
		c->bytes = atomic_load_explicit(&cursor->bytes, memory_order_relaxed);
		c->lost = atomic_load_explicit(&cursor->lost, memory_order_relaxed);
		c->lapped = atomic_load_explicit(&cursor->lapped, memory_order_relaxed);
		c->corrupt = atomic_load_explicit(&cursor->corrupt, memory_order_relaxed);
		c->generations = atomic_load_explicit(&cursor->generations, memory_order_relaxed);
		c->waits = atomic_load_explicit(&cursor->waits, memory_order_relaxed);
	} else {
		uint64_t head = 0, seq = 0;
		bool ok = pair_read(ctl, &head, &seq);

		/*
		 * Losses are counted from the next record committed after attaching: seq is
		 * the one expected at head. Older history (RING_START_OLDEST) is best effort.
		 */
		c->seq = seq;
		c->have_seq = ok;
		c->resync = false;
		c->pos = head;
		if (opts && opts->start == RING_START_OLDEST) {
			/* Acquire: pairs with the release of tail; the header there is visible. */
			c->pos = atomic_load_explicit(&ctl->tail, memory_order_acquire);
			c->have_seq = false;
			c->resync = false;
		}
	}
	c->head = c->pos;
	consumer_store_counters(c);
	*out = c;
	c = NULL;
cleanup:
	free(c);
	return err;
}

/* The producer may have overwritten bytes at or after POS: true when they are still intact. */
static inline bool consumer_intact(const struct ring_consumer *c, uint64_t pos)
{
	/*
	 * Acquire fence: orders the reads of the record (done before this call) before the
	 * horizon load. Pairs with the producer's release fence after storing horizon.
	 */
	atomic_thread_fence(memory_order_acquire);
	/* Acquire: makes the tail stored before this horizon visible for a resync. */
	return atomic_load_explicit(&c->ctl->horizon, memory_order_acquire) - pos <= c->size;
}

static void consumer_resync_tail(struct ring_consumer *c)
{
	c->lapped++;
	c->dirty = true;
	/* Acquire: the header at tail was written before tail was released. */
	c->pos = atomic_load_explicit(&c->ctl->tail, memory_order_acquire);
	c->resync = true;
	c->head = c->pos;
}

static void consumer_resync_head(struct ring_consumer *c)
{
	c->corrupt++;
	c->dirty = true;
	/* Acquire: pairs with the release of head. */
	c->pos = atomic_load_explicit(&c->ctl->head, memory_order_acquire);
	c->resync = true;
	c->head = c->pos;
}

int ring_consumer__peek(struct ring_consumer *c, struct ring_rec *rec)
{
	int attempt;

	for (attempt = 0; attempt < RESYNC_ATTEMPTS; attempt++) {
		const struct ring_rec_hdr *h;
		uint64_t w, seq = 0, off, gen;
		uint32_t len;
		uint16_t type;

		if (c->pos == c->head) {
			/* Acquire: pairs with the producer's release of head (records below). */
			c->head = atomic_load_explicit(&c->ctl->head, memory_order_acquire);
			gen = atomic_load_explicit(&c->ctl->generation, memory_order_relaxed);
			if (gen != c->gen) {
				c->gen = gen;
				c->generations++;
				c->dirty = true;
			}
			if (c->pos == c->head) {
				if (c->dirty)
					consumer_store_counters(c);
				return -EAGAIN;
			}
		}
		if (c->head < c->pos) {
			/* head never moves backwards: the shared state is corrupt */
			consumer_resync_head(c);
			continue;
		}
		if (c->head - c->pos > c->size) {
			consumer_resync_tail(c);
			continue;
		}
		if (c->pos % RING_ALIGN) {
			consumer_resync_head(c);
			continue;
		}
		off = c->pos & c->mask;
		h = (const struct ring_rec_hdr *)(c->data + off);
		/* Relaxed: validated below by the horizon check after the acquire fence. */
		w = atomic_load_explicit(&h->word, memory_order_relaxed);
		len = WORD_LEN(w);
		type = WORD_TYPE(w);
		if (type != RING_TYPE_PAD && len >= RING_HDR_SIZE && len <= c->size - off)
			seq = atomic_load_explicit(&h->seq, memory_order_relaxed);
		if (!consumer_intact(c, c->pos)) {
			consumer_resync_tail(c);
			continue;
		}
		/* The header is the producer's (or corrupt): check it before any use. */
		if (len < RING_ALIGN || len % RING_ALIGN || len > c->size - off ||
		    len > c->head - c->pos || type == 0 || type > RING_TYPE_MAX) {
			consumer_resync_head(c);
			continue;
		}
		if (type == RING_TYPE_PAD) {
			if (off + len != c->size) {
				/* padding only ever runs up to the wrap point */
				consumer_resync_head(c);
				continue;
			}
			c->pos += len;
			continue;
		}
		if (len < RING_HDR_SIZE || len - RING_HDR_SIZE > ring__max_payload(c->size)) {
			consumer_resync_head(c);
			continue;
		}
		if (!c->have_seq) {
			/* before the first record: only what was committed after attaching counts */
			if (c->resync && seq > c->seq) {
				c->lost += seq - c->seq;
				c->dirty = true;
			}
		} else if (seq != c->seq) {
			if (!c->resync) {
				/* consecutive records always have consecutive seqs */
				consumer_resync_head(c);
				continue;
			}
			if (seq < c->seq) {
				/* already delivered (resync landed behind): skip, never redeliver */
				c->pos += len;
				continue;
			}
			c->lost += seq - c->seq;
			c->dirty = true;
		}
		c->seq = seq;
		c->have_seq = true;
		c->resync = false;
		c->held = true;
		c->held_len = len;
		c->held_seq = seq;
		rec->data = h + 1;
		rec->len = len - RING_HDR_SIZE;
		rec->type = type;
		rec->flags = WORD_FLAGS(w);
		rec->seq = seq;
		if (c->dirty)
			consumer_store_counters(c);
		return 0;
	}
	consumer_store_counters(c);
	return -EAGAIN;
}

int ring_consumer__release(struct ring_consumer *c)
{
	if (!c->held)
		return -EINVAL;
	c->held = false;
	if (!consumer_intact(c, c->pos)) {
		/*
		 * Overwritten while in use. Do not advance: the next peek finds the lap and
		 * counts this record among the lost ones (its seq is still expected).
		 */
		consumer_store_counters(c);
		return -ESTALE;
	}
	c->pos += c->held_len;
	c->seq = c->held_seq + 1;
	c->consumed++;
	c->bytes += c->held_len;
	consumer_store_counters(c);
	return 0;
}

int ring_consumer__wait(struct ring_consumer *c, int timeout_ms)
{
	struct ring_wake *w = c->wake;
	uint32_t bit = 1u << c->wake_bit, v;
	struct timespec ts, *tsp = NULL;
	long r;
	int err = 0;

	if (c->pos != c->head)
		return 0;
	/* Acquire: a wake-up that bumped futex before this load is not missed (value check). */
	v = atomic_load_explicit(&w->futex, memory_order_acquire);
	atomic_fetch_or_explicit(&w->sleepers, bit, memory_order_relaxed);
	/*
	 * Seq_cst fence: orders the sleeper bit before the head load. Pairs with the fence in
	 * ring_producer__flush() between its head store and sleepers load.
	 */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&c->ctl->head, memory_order_relaxed) != c->pos ||
	    atomic_load_explicit(&c->ctl->generation, memory_order_relaxed) != c->gen)
		goto cleanup;
	if (timeout_ms >= 0) {
		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000;
		tsp = &ts;
	}
	c->waits++;
	r = futex(&w->futex, FUTEX_WAIT, v, tsp);
	if (r < 0 && errno == ETIMEDOUT)
		err = -ETIMEDOUT;
	else if (r < 0 && errno == EINTR)
		err = -EINTR;
cleanup:
	atomic_fetch_and_explicit(&w->sleepers, ~bit, memory_order_relaxed);
	consumer_store_counters(c);
	return err;
}

uint64_t ring_consumer__lag(const struct ring_consumer *c)
{
	/* Relaxed: an estimate for display. */
	uint64_t head = atomic_load_explicit(&c->ctl->head, memory_order_relaxed);

	return head > c->pos ? head - c->pos : 0;
}

const struct ring_cursor *ring_consumer__cursor(const struct ring_consumer *c)
{
	return c->cur;
}

void ring_consumer__free(struct ring_consumer *c)
{
	if (!c)
		return;
	consumer_store_counters(c);
	free(c);
}
