// SPDX-License-Identifier: Apache-2.0
/*
 * kiln-bench ring: end-to-end throughput of the shared-memory ring, one producer (this
 * process) and 1, 2 or 4 consumer processes, 64 B and 1 KiB payloads, against a memcpy
 * baseline measured in the same run. The producer is flow-controlled on the slowest
 * consumer so the numbers are delivered records, not overwritten ones (lost is printed).
 */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/stats.h"
#include "common/util.h"
#include "shm/shm.h"

#define END_FLAG 0x8000
#define MAX_CONSUMERS 4

/* memcpy bandwidth in bytes/s over two buffers of LEN bytes (as large as the ring). */
static double memcpy_bw(size_t len)
{
	uint64_t t0, t1;
	char *a, *b;
	int i, reps = 8;

	a = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	b = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a == MAP_FAILED || b == MAP_FAILED)
		return 0;
	memset(a, 1, len);
	memset(b, 2, len);
	t0 = mono_ns();
	for (i = 0; i < reps; i++) {
		memcpy(b, a, len);
		/* keep the copy from being elided */
		__asm__ volatile("" : : "r"(b) : "memory");
		a[i] = b[len - 1 - i];
	}
	t1 = mono_ns();
	munmap(a, len);
	munmap(b, len);
	return (double)len * reps / ((double)(t1 - t0) / 1e9);
}

/* A consumer process: reads (sums every word of) each record until END. Exits 0/1. */
static void consumer_main(const char *name, int ready_fd)
{
	struct shm_consumer_opts o = { .name = name, .start = RING_START_NEWEST };
	struct shm_consumer *c = NULL;
	struct ring_consumer *rc;
	volatile uint64_t sink;
	uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, lost;
	struct ring_rec r;
	int spins = 0;
	char ok = 1;

	if (shm_consumer__new(&c, &o))
		ok = 0;
	if (write(ready_fd, &ok, 1) != 1 || !ok)
		_exit(1);
	rc = shm_consumer__ring(c);
	for (;;) {
		const uint64_t *w;
		uint32_t i;

		if (ring_consumer__peek(rc, &r)) {
			/* a few yields first: a futex sleep per batch costs more than it saves */
			if (++spins < 16) {
				sched_yield();
				continue;
			}
			spins = 0;
			shm_consumer__wait(c, 1000);
			continue;
		}
		spins = 0;
		if (r.flags & END_FLAG)
			break;
		w = r.data;
		/* independent sums: the read, not the adds, should be what is measured */
		for (i = 0; i + 4 <= r.len / 8; i += 4) {
			s0 += w[i];
			s1 += w[i + 1];
			s2 += w[i + 2];
			s3 += w[i + 3];
		}
		for (; i < r.len / 8; i++)
			s0 += w[i];
		ring_consumer__release(rc);
	}
	ring_consumer__release(rc);
	sink = s0 + s1 + s2 + s3;
	(void)sink;
	lost = atomic_load(&ring_consumer__cursor(rc)->lost);
	if (write(ready_fd, &lost, sizeof(lost)) != sizeof(lost))
		_exit(1);
	shm_consumer__free(c);
	_exit(0);
}

/*
 * One measurement: N records of PAYLOAD bytes to NC consumer processes. Returns seconds
 * from the first record to the last consumer done, or a negative value on failure.
 */
static double run_once(const char *name, uint64_t size, uint64_t window, uint32_t payload, int nc,
		       uint64_t n, uint64_t *lost)
{
	struct shm_producer_opts po = { .name = name, .size = size, .gid = -1 };
	struct shm_producer *p = NULL;
	struct ring_producer *rp;
	pid_t pids[MAX_CONSUMERS];
	int fds[MAX_CONSUMERS], i, started = 0, batch = payload >= 1024 ? 32 : 256;
	uint64_t seq, limit = 0, t0, t1, margin;
	double secs = -1;
	char src[4096];

	/* the producer's next reservation ends at most size / 2 + size / 16 past its position */
	margin = size - window;
	*lost = 0;
	memset(src, 0x5a, sizeof(src));
	if (shm_producer__new(&p, &po))
		return -1;
	rp = shm_producer__ring(p);
	for (i = 0; i < nc; i++) {
		int pfd[2];
		char ok = 0;

		if (pipe(pfd))
			goto cleanup;
		pids[i] = fork();
		if (pids[i] < 0) {
			close(pfd[0]);
			close(pfd[1]);
			goto cleanup;
		}
		if (pids[i] == 0) {
			close(pfd[0]);
			consumer_main(name, pfd[1]);
		}
		close(pfd[1]);
		fds[i] = pfd[0];
		started++;
		if (read(fds[i], &ok, 1) != 1 || !ok)
			goto cleanup;
	}
	t0 = mono_ns();
	for (seq = 0; seq < n; seq++) {
		void *d;

		while (ring_producer__pos(rp) + margin > limit) {
			uint64_t min;

			if (shm_producer__min_cursor(p, &min))
				goto cleanup;
			limit = min + size;
			if (ring_producer__pos(rp) + margin <= limit)
				break;
			ring_producer__flush(rp);
			sched_yield();
		}
		d = ring_producer__reserve(rp, payload);
		if (!d)
			goto cleanup;
		memcpy(d, src, payload);
		ring_producer__commit(rp, RING_TYPE_TEST, 0);
		if (seq % batch == 0)
			ring_producer__flush(rp);
	}
	if (!ring_producer__reserve(rp, 8))
		goto cleanup;
	ring_producer__commit(rp, RING_TYPE_TEST, END_FLAG);
	ring_producer__flush(rp);
	for (i = 0; i < started; i++) {
		uint64_t l = 0;
		int st;

		if (read(fds[i], &l, sizeof(l)) == sizeof(l))
			*lost += l;
		waitpid(pids[i], &st, 0);
		close(fds[i]);
	}
	t1 = mono_ns();
	started = 0;
	secs = (double)(t1 - t0) / 1e9;
cleanup:
	for (i = 0; i < started; i++) {
		kill(pids[i], SIGKILL);
		waitpid(pids[i], NULL, 0);
		close(fds[i]);
	}
	shm_producer__free(p);
	shm__unlink(name);
	return secs;
}

/*
 * The row "PL B, NC consumer(s): WHAT" of the RUNS values V, in UNIT; with GOAL (">= MIN",
 * or NULL for none) it passes when the median is at least MIN.
 */
static void ring_row(uint32_t pl, int nc, const char *what, const double *v, int runs,
		     const char *unit, const char *goal, double min)
{
	struct bench_summary sm;
	char row[96];

	snprintf(row, sizeof(row), "%u B, %d consumer%s: %s", pl, nc, nc > 1 ? "s" : "", what);
	bench_summarize(v, runs, &sm);
	bench_row("ring", row, &sm, unit, 2, goal,
		  !goal		     ? BENCH_NO_GOAL
		  : sm.median >= min ? BENCH_PASS
				     : BENCH_MISS);
}

int bench_ring(const struct bench_opts *o, int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "window", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const uint32_t payloads[] = { 64, 1024 };
	static const int consumers[] = { 1, 2, 4 };
	uint64_t size = 64ull << 20, window = size / 2 - size / 16, lost_total = 0;
	bool short_mode = o && o->short_mode;
	/* --short: one run each, a smoke test of every row rather than a measurement */
	int runs = o && o->runs > 0 ? o->runs : short_mode ? 1 : 3;
	struct bench_summary sm;
	double mc[64], base;
	char name[64];
	int i, j, k;

	optind = 1;
	while ((i = getopt_long(argc, argv, "w:h", lopts, NULL)) != -1) {
		switch (i) {
		case 'w':
			if (parse_u64(optarg, 4096, size / 2 - size / 16, &window)) {
				fprintf(stderr, "kiln-bench ring: --window: 4096..%llu bytes\n",
					(unsigned long long)(size / 2 - size / 16));
				return 2;
			}
			break;
		default:
			printf("usage: kiln-bench ring [--window BYTES]\n"
			       "  --window: how far (bytes) the producer may run ahead of the "
			       "slowest\n"
			       "            consumer; default and maximum %llu (the most the ring\n"
			       "            holds without overwriting unread records)\n",
			       (unsigned long long)(size / 2 - size / 16));
			return i == 'h' ? 0 : 2;
		}
	}
	if (runs > 64)
		runs = 64;
	snprintf(name, sizeof(name), "bench-%d", (int)getpid());
	for (k = 0; k < runs; k++)
		mc[k] = memcpy_bw(size) / 1e9;
	if (bench_summarize(mc, runs, &sm))
		return 1;
	base = sm.median;
	bench_header("ring", "64 MiB shm ring, 1 producer, consumer processes (fork)");
	printf("producer paced within %llu bytes of the slowest consumer (--window)%s\n",
	       (unsigned long long)window, short_mode ? "; short run" : "");
	bench_row("ring", "memcpy 64 MiB baseline", &sm, "GB/s", 2, NULL, BENCH_NO_GOAL);
	for (i = 0; i < 2; i++) {
		uint32_t pl = payloads[i];
		uint64_t n = pl == 64 ? (short_mode ? 2000000 : 20000000)
				      : (short_mode ? 200000 : 2000000);

		for (j = 0; j < 3; j++) {
			double rs[64], gb[64], ratio[64];
			bool goal_rate = pl == 64 && consumers[j] == 1;
			bool goal_ratio = pl == 1024 && consumers[j] == 1;

			for (k = 0; k < runs; k++) {
				uint64_t l = 0;
				double secs = run_once(name, size, window, pl, consumers[j], n, &l);

				if (secs <= 0) {
					bench_row_na("ring", "run", "could not run (see errors)");
					return 1;
				}
				rs[k] = (double)n / secs / 1e6;
				gb[k] = (double)n * pl / secs / 1e9;
				ratio[k] = gb[k] / base;
				lost_total += l;
			}
			ring_row(pl, consumers[j], "records/s", rs, runs, "M/s",
				 goal_rate ? ">= 20" : NULL, 20);
			ring_row(pl, consumers[j], "payload", gb, runs, "GB/s", NULL, 0);
			ring_row(pl, consumers[j], "vs memcpy", ratio, runs, "x",
				 goal_ratio ? ">= 0.5" : NULL, 0.5);
		}
	}
	/* pacing means nothing should be lost; a loss here is a ring bug */
	mc[0] = (double)lost_total;
	bench_summarize(mc, 1, &sm);
	bench_row("ring", "records lost, all runs", &sm, "records", 0, "== 0",
		  lost_total ? BENCH_MISS : BENCH_PASS);
	return 0;
}
