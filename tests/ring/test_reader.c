// SPDX-License-Identifier: Apache-2.0
/*
 * shm/reader.h on a real shared-memory segment with the producer in the test: records handed
 * out in order as aligned parsed copies, other record types skipped, unparseable ones
 * counted; loss from lapping counted exactly, and summed once across a replaced segment.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "profile/synth.h"
#include "shm/reader.h"
#include "tests/lib/kiln_test.h"

static char name[64];

/* Window record SEQ of a small synthetic workload into P's ring. Returns its sample total. */
static uint64_t put_window(struct shm_producer *p, uint64_t seq)
{
	struct wrec_synth_opts so = { .workload = 1,
				      .seq = seq,
				      .stacks = 4,
				      .min_depth = 4,
				      .max_depth = 8,
				      .period_ns = 52631578 };
	struct ring_producer *rp = shm_producer__ring(p);
	uint64_t total = 0;
	size_t len = 0;
	void *rec = NULL, *d;

	CU_ASSERT_FATAL(wrec_synth__record(&so, &rec, &len, &total) == 0);
	d = ring_producer__reserve(rp, (uint32_t)len);
	CU_ASSERT_FATAL(d != NULL);
	memcpy(d, rec, len);
	CU_ASSERT_FATAL(ring_producer__commit(rp, RING_TYPE_WINDOW, 0) == 0);
	ring_producer__flush(rp);
	free(rec);
	return total;
}

static void put_raw(struct shm_producer *p, uint16_t type, const char *bytes, uint32_t len)
{
	struct ring_producer *rp = shm_producer__ring(p);
	void *d = ring_producer__reserve(rp, len);

	CU_ASSERT_FATAL(d != NULL);
	memcpy(d, bytes, len);
	CU_ASSERT_FATAL(ring_producer__commit(rp, type, 0) == 0);
	ring_producer__flush(rp);
}

static struct shm_producer *producer(uint64_t size)
{
	struct shm_producer_opts o = { .name = name, .size = size, .gid = -1 };
	struct shm_producer *p = NULL;

	CU_ASSERT_FATAL(shm_producer__new(&p, &o) == 0);
	return p;
}

static struct shm_reader *reader(void)
{
	struct shm_reader_opts o = { .sz = sizeof(o),
				     .name = name,
				     .start = RING_START_OLDEST,
				     .restart = RING_START_OLDEST };
	struct shm_reader *r = NULL;

	CU_ASSERT_FATAL(shm_reader__new(&r, &o) == 0);
	return r;
}

/* Reads everything there is now. Returns how many records parsed. */
static uint64_t read_all(struct shm_reader *r, uint64_t *last_seq)
{
	struct shm_record rec;
	uint64_t n = 0;
	int err;

	while ((err = shm_reader__next(r, &rec)) != -EAGAIN) {
		CU_ASSERT_EQUAL_FATAL(err, 0);
		CU_ASSERT_EQUAL((uintptr_t)rec.data % 8, 0);
		CU_ASSERT(rec.v.hdr->window_seq > *last_seq);
		*last_seq = rec.v.hdr->window_seq;
		n++;
	}
	return n;
}

static void test_records(void)
{
	struct shm_producer *p = producer(1 << 16);
	struct shm_reader *r = reader();
	struct shm_reader_stats st;
	struct shm_record rec;
	uint64_t t1, t2;
	char junk[64];

	CU_ASSERT_EQUAL(shm_reader__next(r, &rec), -ENOTCONN);
	CU_ASSERT_EQUAL(shm_reader__wait(r, 0), -ENOTCONN);
	CU_ASSERT_EQUAL_FATAL(shm_reader__attach_wait(r, 1000, NULL), 0);
	CU_ASSERT_EQUAL(shm_reader__wait(r, 0), -ETIMEDOUT);
	t1 = put_window(p, 1);
	put_raw(p, RING_TYPE_TEST, "not a window....", 16);
	memset(junk, 0x5a, sizeof(junk));
	put_raw(p, RING_TYPE_WINDOW, junk, sizeof(junk));
	t2 = put_window(p, 2);
	CU_ASSERT_EQUAL(shm_reader__wait(r, 1000), 0);

	CU_ASSERT_EQUAL_FATAL(shm_reader__next(r, &rec), 0);
	CU_ASSERT_EQUAL(rec.v.hdr->window_seq, 1);
	CU_ASSERT_EQUAL(rec.v.hdr->total, t1);
	CU_ASSERT_EQUAL((uintptr_t)rec.data % 8, 0);
	CU_ASSERT_EQUAL(shm_reader__next(r, &rec), -EBADMSG);
	CU_ASSERT_EQUAL(rec.len, sizeof(junk));
	CU_ASSERT_EQUAL_FATAL(shm_reader__next(r, &rec), 0);
	CU_ASSERT_EQUAL(rec.v.hdr->window_seq, 2);
	CU_ASSERT_EQUAL(rec.v.hdr->total, t2);
	CU_ASSERT_EQUAL(shm_reader__next(r, &rec), -EAGAIN);

	shm_reader__stats(r, &st);
	CU_ASSERT_EQUAL(st.records, 3);
	CU_ASSERT_EQUAL(st.bad, 1);
	CU_ASSERT_EQUAL(st.lost + st.lapped + st.corrupt + st.stale, 0);
	CU_ASSERT_EQUAL(st.attaches, 1);
	CU_ASSERT(st.attached);
	CU_ASSERT_FALSE(shm_reader__producer_gone(r));
	shm_producer__free(p);
	/* A clean detach of the producer is what ends a reader that drains to the end. */
	CU_ASSERT(shm_reader__producer_gone(r));
	shm_reader__free(r);
	CU_ASSERT_EQUAL(shm__unlink(name), 0);
}

/*
 * Lapped in the first segment, which is then replaced (another size: a new file, as an
 * incompatible producer makes it), lapped again in the second: every record written is
 * either read or counted lost, and the first segment's loss is counted once.
 */
static void test_loss_across_segments(void)
{
	struct shm_producer *p = producer(1 << 14);
	struct shm_reader *r = reader();
	struct shm_reader_stats st;
	struct shm_record rec;
	uint64_t seq, got1, got2, last = 0, n1 = 64, n2 = 96;

	CU_ASSERT_EQUAL_FATAL(shm_reader__attach(r), 0);
	for (seq = 1; seq <= n1; seq++)
		put_window(p, seq);
	got1 = read_all(r, &last);
	shm_reader__stats(r, &st);
	printf("\n  first segment: %llu written, %llu read, %llu lost\n", (unsigned long long)n1,
	       (unsigned long long)got1, (unsigned long long)st.lost);
	CU_ASSERT(st.lost > 0);
	CU_ASSERT(st.lapped > 0);
	CU_ASSERT_EQUAL(got1 + st.lost, n1);
	CU_ASSERT_EQUAL(st.records, got1);

	shm_producer__free(p);
	CU_ASSERT_EQUAL(shm__unlink(name), 0);
	p = producer(1 << 15);
	CU_ASSERT_EQUAL(shm_reader__wait(r, 0), -ESTALE);
	shm_reader__stats(r, &st);
	CU_ASSERT_FALSE(st.attached);
	CU_ASSERT_EQUAL(got1 + st.lost, n1); /* kept, not doubled, by the detach */
	CU_ASSERT_EQUAL(shm_reader__next(r, &rec), -ENOTCONN);
	CU_ASSERT_EQUAL_FATAL(shm_reader__attach(r), 0);
	for (seq = n1 + 1; seq <= n1 + n2; seq++)
		put_window(p, seq);
	got2 = read_all(r, &last);
	shm_reader__stats(r, &st);
	printf("  both segments: %llu written, %llu read, %llu lost\n",
	       (unsigned long long)(n1 + n2), (unsigned long long)(got1 + got2),
	       (unsigned long long)st.lost);
	CU_ASSERT(got2 < n2);
	CU_ASSERT_EQUAL(got1 + got2 + st.lost, n1 + n2);
	CU_ASSERT_EQUAL(st.records, got1 + got2);
	CU_ASSERT_EQUAL(st.attaches, 2);
	CU_ASSERT_EQUAL(st.stale + st.bad + st.corrupt, 0);
	shm_reader__free(r);
	shm_producer__free(p);
	CU_ASSERT_EQUAL(shm__unlink(name), 0);
}

static void test_attach_wait(void)
{
	struct shm_reader *r = reader(), *r2 = NULL;
	struct shm_reader_opts bad = { 0 };
	volatile sig_atomic_t stop = 1;

	CU_ASSERT_EQUAL(shm_reader__attach_wait(r, 100, NULL), -ENOENT);
	CU_ASSERT_EQUAL(shm_reader__attach_wait(r, -1, &stop), -EINTR);
	CU_ASSERT_EQUAL(shm_reader__new(&r2, &bad), -EINVAL);
	CU_ASSERT_PTR_NULL(r2);
	shm_reader__free(r);
	shm_reader__free(NULL);
}

int main(int argc, char **argv)
{
	static const struct kiln_test_case cases[] = {
		{ "records, other types, bad records", test_records },
		{ "loss summed once across a replaced segment", test_loss_across_segments },
		{ "attach_wait: missing ring, stop flag, bad options", test_attach_wait },
	};

	snprintf(name, sizeof(name), "kiln-test-reader-%d", (int)getpid());
	return kiln_test_main(argc, argv, "reader", cases, sizeof(cases) / sizeof(cases[0]));
}
