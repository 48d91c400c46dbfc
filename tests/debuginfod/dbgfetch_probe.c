// SPDX-License-Identifier: Apache-2.0
/*
 * Drives the debuginfod client alone, for tests/debuginfod/test_client.py:
 *   dbgfetch_probe URLS CACHE_DIR TIMEOUT_MS DEADLINE_MS BID...
 * Asks for every BID, then collects what lands (polling the drain every 10 ms, as the agent
 * does once per window) until each one landed or failed, or DEADLINE_MS passed. Prints one
 * line per build id ("BID landed PATH" / "BID cached PATH" / "BID failed" / "BID pending"),
 * the longest dbgfetch__request() call ("request_max_us N": it must not wait for a server)
 * and the counters as "name value" lines.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "symbolize/debuginfod.h"

#define MAX_BIDS 16

struct probe {
	int nr;
	char *bid[MAX_BIDS];
	char state[MAX_BIDS][8];
};

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void landed(void *ctx, const char *bid, const char *path)
{
	struct probe *p = ctx;
	int i;

	for (i = 0; i < p->nr; i++)
		if (!strcmp(p->bid[i], bid)) {
			printf("%s landed %s\n", bid, path);
			strcpy(p->state[i], "done");
		}
}

int main(int argc, char **argv)
{
	struct dbgfetch_opts o = { 0 };
	struct dbgfetch_stats st;
	struct dbgfetch *d;
	struct probe p = { 0 };
	uint64_t deadline, t0, dt, req_max = 0;
	char path[4096];
	int i, err, open_left;

	if (argc < 6 || argc - 5 > MAX_BIDS) {
		fprintf(stderr, "usage: %s URLS CACHE_DIR TIMEOUT_MS DEADLINE_MS BID...\n",
			argv[0]);
		return 2;
	}
	o.urls = argv[1];
	o.cache_dir = argv[2];
	o.timeout_ms = strtoull(argv[3], NULL, 10);
	o.retry_s = 600;
	deadline = now_us() + strtoull(argv[4], NULL, 10) * 1000;
	err = dbgfetch__new(&o, &d);
	if (err) {
		fprintf(stderr, "dbgfetch__new: %s\n", strerror(-err));
		return 1;
	}
	p.nr = argc - 5;
	for (i = 0; i < p.nr; i++) {
		p.bid[i] = argv[5 + i];
		t0 = now_us();
		err = dbgfetch__request(d, p.bid[i], path, sizeof(path));
		dt = now_us() - t0;
		req_max = dt > req_max ? dt : req_max;
		if (!err) {
			printf("%s cached %s\n", p.bid[i], path);
			strcpy(p.state[i], "done");
		} else if (err != -EINPROGRESS) {
			printf("%s refused %s\n", p.bid[i], strerror(-err));
			strcpy(p.state[i], "done");
		}
	}
	do {
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		dbgfetch__drain(d, landed, &p);
		open_left = 0;
		/* A failed one answers -ENOENT (retry interval) from now on. */
		for (i = 0; i < p.nr; i++) {
			if (!strcmp(p.state[i], "done"))
				continue;
			t0 = now_us();
			err = dbgfetch__request(d, p.bid[i], path, sizeof(path));
			dt = now_us() - t0;
			req_max = dt > req_max ? dt : req_max;
			if (err == -ENOENT) {
				printf("%s failed\n", p.bid[i]);
				strcpy(p.state[i], "done");
			} else if (!err) {
				/* Landed between the drain and now: the lookup took it. */
				printf("%s landed %s\n", p.bid[i], path);
				strcpy(p.state[i], "done");
			} else {
				open_left++;
			}
		}
		if (!open_left)
			dbgfetch__drain(d, landed, &p);
		for (i = 0; i < p.nr; i++)
			open_left += strcmp(p.state[i], "done") != 0;
		if (open_left)
			nanosleep(&ts, NULL);
	} while (open_left && now_us() < deadline);
	for (i = 0; i < p.nr; i++)
		if (strcmp(p.state[i], "done"))
			printf("%s pending\n", p.bid[i]);
	dbgfetch__stats(d, &st);
	printf("request_max_us %llu\n", (unsigned long long)req_max);
#define P(f) printf(#f " %llu\n", (unsigned long long)st.f)
	P(requests);
	P(fetched);
	P(cache_hits);
	P(not_found);
	P(timeouts);
	P(conn_errors);
	P(invalid);
	P(errors);
	P(retry_waits);
	P(bytes);
	P(evicted);
	P(cache_bytes);
#undef P
	t0 = now_us();
	dbgfetch__free(d);
	printf("free_us %llu\n", (unsigned long long)(now_us() - t0));
	return 0;
}
