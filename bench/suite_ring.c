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
#include "common/util.h"
#include "shm/shm.h"

#define END_FLAG 0x8000
#define MAX_CONSUMERS 4

struct ring_row {
	uint32_t payload;
	int consumers;
	double rec_s, gb_s, ratio;
	uint64_t lost;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

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

int bench_ring(const struct bench_opts *o, int argc, char **argv)
{
	static const uint32_t payloads[] = { 64, 1024 };
	static const int consumers[] = { 1, 2, 4 };
	static const struct option lopts[] = {
		{ "window", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t size = 64ull << 20, window = size / 2 - size / 16;
	int runs = o && o->runs > 0 ? o->runs : 3;
	bool short_mode = o && o->short_mode;
	struct ring_row rows[6];
	double mc[64], base, goal_ratio = 0, goal_rate = 0;
	char name[64];
	FILE *json = NULL;
	int i, j, k, nrows = 0, err = 0;

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
		mc[k] = memcpy_bw(size);
	base = median(mc, runs);
	printf("ring: %llu MiB ring, 1 producer, consumer processes, medians of %d run%s%s\n",
	       (unsigned long long)(size >> 20), runs, runs > 1 ? "s" : "",
	       short_mode ? " (short)" : "");
	printf("producer paced to stay within %llu bytes of the slowest consumer (--window)\n",
	       (unsigned long long)window);
	printf("memcpy baseline (%llu MiB buffers): %.2f GB/s\n", (unsigned long long)(size >> 20),
	       base / 1e9);
	printf("%8s %9s %14s %9s %9s %8s\n", "payload", "consumers", "records/s", "GB/s",
	       "x memcpy", "lost");
	for (i = 0; i < 2; i++) {
		uint32_t pl = payloads[i];
		uint64_t n = pl == 64 ? (short_mode ? 2000000 : 20000000)
				      : (short_mode ? 200000 : 2000000);

		for (j = 0; j < 3; j++) {
			struct ring_row *row = &rows[nrows++];
			double rs[64];
			uint64_t lost = 0, l;

			for (k = 0; k < runs; k++) {
				double s = run_once(name, size, window, pl, consumers[j], n, &l);

				if (s <= 0) {
					fprintf(stderr, "kiln-bench ring: run failed\n");
					return 1;
				}
				rs[k] = (double)n / s;
				lost += l;
			}
			row->payload = pl;
			row->consumers = consumers[j];
			row->rec_s = median(rs, runs);
			row->gb_s = row->rec_s * pl / 1e9;
			row->ratio = row->rec_s * pl / base;
			row->lost = lost;
			printf("%6u B %9d %12.2f M %9.2f %9.2f %8llu\n", pl, row->consumers,
			       row->rec_s / 1e6, row->gb_s, row->ratio, (unsigned long long)lost);
			fflush(stdout);
			if (pl == 1024 && consumers[j] == 1)
				goal_ratio = row->ratio;
			if (pl == 64 && consumers[j] == 1)
				goal_rate = row->rec_s;
		}
	}
	printf("goal: 1 KiB records, 1 consumer, >= 0.50 x memcpy: measured %.2f x  %s\n",
	       goal_ratio, goal_ratio >= 0.5 ? "[met]" : "[NOT met]");
	printf("goal: 64 B records, 1 consumer, >= 20 M records/s: measured %.1f M  %s\n",
	       goal_rate / 1e6, goal_rate >= 20e6 ? "[met]" : "[NOT met]");
	if (o && o->json) {
		json = fopen(o->json, "a");
		if (!json) {
			fprintf(stderr, "kiln-bench ring: %s: %s\n", o->json, strerror(errno));
			return 1;
		}
		fprintf(json, "{\"suite\":\"ring\",\"memcpy_bytes_per_s\":%.0f}\n", base);
		for (i = 0; i < nrows; i++)
			fprintf(json,
				"{\"suite\":\"ring\",\"payload\":%u,\"consumers\":%d,"
				"\"records_per_s\":%.0f,\"gb_per_s\":%.3f,\"memcpy_ratio\":%.3f,"
				"\"lost\":%llu}\n",
				rows[i].payload, rows[i].consumers, rows[i].rec_s, rows[i].gb_s,
				rows[i].ratio, (unsigned long long)rows[i].lost);
		if (fclose(json))
			err = 1;
	}
	return err;
}
