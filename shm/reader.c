// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "shm/reader.h"

struct shm_reader {
	struct shm_reader_opts o;
	struct shm_consumer *cons;
	bool restarted; /* attach at o.restart from now on */
	/* The copy buffer: one allocation, 8-byte aligned, grown to the largest record seen. */
	void *buf;
	size_t cap;
	/* Cursor totals of earlier attachments: the cursor lives in a mapping detach removes. */
	uint64_t base_lost, base_lapped, base_corrupt;
	uint64_t records, bad, stale, attaches;
};

int shm_reader__new(struct shm_reader **out, const struct shm_reader_opts *opts)
{
	struct shm_reader *r;

	*out = NULL;
	if (!opts || !opts->sz)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	/* A caller built against a shorter struct gets zeroes for the fields it lacks. */
	memcpy(&r->o, opts, opts->sz < sizeof(r->o) ? opts->sz : sizeof(r->o));
	r->o.sz = sizeof(r->o);
	*out = r;
	return 0;
}

int shm_reader__attach(struct shm_reader *r)
{
	struct shm_consumer_opts co = { .name = r->o.name };
	int err;

	if (r->cons)
		return 0;
	co.start = r->restarted ? r->o.restart : r->o.start;
	err = shm_consumer__new(&r->cons, &co);
	if (err) {
		r->cons = NULL;
		return err;
	}
	r->attaches++;
	if (r->o.kind != SHM_KIND_OTHER)
		shm_consumer__stats(r->cons, r->o.kind);
	return 0;
}

int shm_reader__attach_wait(struct shm_reader *r, int timeout_ms, volatile sig_atomic_t *stop)
{
	uint64_t deadline = timeout_ms < 0 ? 0 : mono_ns() + (uint64_t)timeout_ms * 1000000ull;
	struct timespec ts = { 0, 50 * 1000000 };
	int err;

	for (;;) {
		err = shm_reader__attach(r);
		/* Missing, or the producer is between creating the file and stamping its magic. */
		if (err != -ENOENT && err != -EAGAIN && err != -EBADMSG)
			return err;
		if (stop && *stop)
			return -EINTR;
		if (deadline && mono_ns() >= deadline)
			return err;
		nanosleep(&ts, NULL);
	}
}

/* Makes room for LEN bytes in the copy buffer. Returns 0 or -ENOMEM. */
static int reserve(struct shm_reader *r, size_t len)
{
	void *p = NULL;

	if (len <= r->cap)
		return 0;
	/* wrec__parse() reads 64-bit fields in place: the copy must be 8-byte aligned. */
	if (posix_memalign(&p, 8, len))
		return -ENOMEM;
	free(r->buf);
	r->buf = p;
	r->cap = len;
	return 0;
}

int shm_reader__next(struct shm_reader *r, struct shm_record *rec)
{
	struct ring_consumer *rc;
	struct ring_rec rr;
	int err;

	if (!r->cons)
		return -ENOTCONN;
	rc = shm_consumer__ring(r->cons);
	while (ring_consumer__peek(rc, &rr) == 0) {
		if (rr.type != RING_TYPE_WINDOW) {
			ring_consumer__release(rc);
			continue;
		}
		err = reserve(r, rr.len ? rr.len : 8);
		if (err) {
			/* Left in the ring: a later call retries once memory is back. */
			return err;
		}
		memcpy(r->buf, rr.data, rr.len);
		if (ring_consumer__release(rc) == -ESTALE) {
			r->stale++;
			continue;
		}
		r->records++;
		memset(rec, 0, sizeof(*rec));
		rec->seq = rr.seq;
		rec->data = r->buf;
		rec->len = rr.len;
		if (wrec__parse(r->buf, rr.len, &rec->v)) {
			r->bad++;
			return -EBADMSG;
		}
		return 0;
	}
	return -EAGAIN;
}

int shm_reader__wait(struct shm_reader *r, int timeout_ms)
{
	int err;

	if (!r->cons)
		return -ENOTCONN;
	err = shm_consumer__wait(r->cons, timeout_ms);
	if (err == -ESTALE) {
		shm_reader__detach(r);
		r->restarted = true;
	}
	return err;
}

void shm_reader__stats(const struct shm_reader *r, struct shm_reader_stats *st)
{
	const struct ring_cursor *cur = NULL;
	struct ring_consumer *rc;

	memset(st, 0, sizeof(*st));
	if (r->cons) {
		rc = shm_consumer__ring(r->cons);
		cur = ring_consumer__cursor(rc);
		st->lag = ring_consumer__lag(rc);
		st->attached = true;
	}
	st->lost = r->base_lost + (cur ? atomic_load(&cur->lost) : 0);
	st->lapped = r->base_lapped + (cur ? atomic_load(&cur->lapped) : 0);
	st->corrupt = r->base_corrupt + (cur ? atomic_load(&cur->corrupt) : 0);
	st->records = r->records;
	st->bad = r->bad;
	st->stale = r->stale;
	st->attaches = r->attaches;
}

_Atomic uint64_t *shm_reader__slot_stats(struct shm_reader *r)
{
	if (!r->cons || r->o.kind == SHM_KIND_OTHER)
		return NULL;
	return shm_consumer__stats(r->cons, r->o.kind);
}

_Atomic uint64_t *shm_reader__slot_stats_ext(struct shm_reader *r)
{
	if (!r->cons || r->o.kind == SHM_KIND_OTHER)
		return NULL;
	return shm_consumer__stats_ext(r->cons);
}

const struct shm_hdr *shm_reader__hdr(const struct shm_reader *r)
{
	return r->cons ? shm_consumer__hdr(r->cons) : NULL;
}

bool shm_reader__producer_gone(const struct shm_reader *r)
{
	const struct shm_hdr *h = shm_reader__hdr(r);

	return h && atomic_load(&h->producer_pid) == 0;
}

void shm_reader__detach(struct shm_reader *r)
{
	const struct ring_cursor *cur;

	if (!r->cons)
		return;
	/* Folded in exactly once, here, as the mapping that holds the cursor goes away. */
	cur = ring_consumer__cursor(shm_consumer__ring(r->cons));
	r->base_lost += atomic_load(&cur->lost);
	r->base_lapped += atomic_load(&cur->lapped);
	r->base_corrupt += atomic_load(&cur->corrupt);
	shm_consumer__free(r->cons);
	r->cons = NULL;
}

void shm_reader__free(struct shm_reader *r)
{
	if (!r)
		return;
	shm_reader__detach(r);
	free(r->buf);
	free(r);
}
