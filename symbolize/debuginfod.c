// SPDX-License-Identifier: Apache-2.0
/*
 * Background fetches of debug files by build id through elfutils' libdebuginfod (the client
 * perf and gdb use: same protocol, same cache layout, same DEBUGINFOD_URLS). Each worker
 * thread owns one library client (they are not thread-safe) and fetches one build id at a
 * time, so `concurrency` bounds the fetches in flight. The requests live in a small table
 * guarded by one mutex; the symbolizer's thread only takes it for a lookup or a drain.
 */
#include <elfutils/debuginfod.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "symbolize/debuginfod.h"
#include "common/log.h"

enum req_state {
	REQ_QUEUED,
	REQ_RUNNING,
	REQ_DONE, /* in the cache, not yet drained */
	REQ_DRAINED,
	REQ_FAILED, /* retry_at_ns says when it may be asked again */
};

struct req {
	char bid[129];
	enum req_state state;
	uint64_t retry_at_ns;
	struct req *next;
};

struct dbgfetch {
	char *cache_dir;
	uint64_t max_bytes, max_age_s, timeout_ns, retry_s;
	unsigned int max_queue, nr_threads;
	pthread_t *threads;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	struct req *reqs; /* every build id asked for, newest first */
	unsigned int queued; /* REQ_QUEUED ones */
	unsigned int running;
	struct dbgfetch_stats st;
};

/* A worker's deadline, read by libdebuginfod's progress callback. */
struct worker_ctx {
	struct dbgfetch *d;
	uint64_t deadline_ns;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int mkdir_p(const char *path)
{
	char buf[4096];
	size_t i, n = strlen(path);

	if (n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0700) && errno != EEXIST)
			return -errno;
		buf[i] = path[i];
	}
	return 0;
}

/* Writes libdebuginfod's own cache settings, so the library's cleaning agrees with ours. */
static void write_setting(const char *dir, const char *name, uint64_t v)
{
	char p[4096];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	if (!f)
		return;
	fprintf(f, "%llu\n", (unsigned long long)v);
	fclose(f);
}

/* Non-zero aborts the transfer: the library calls it about once a second while it waits. */
static int progress(debuginfod_client *c, long a, long b)
{
	struct worker_ctx *w = debuginfod_get_user_data(c);

	(void)a;
	(void)b;
	return now_ns() > w->deadline_ns || __atomic_load_n(&w->d->stop, __ATOMIC_RELAXED);
}

/* What a failed fetch (-errno from the library, or our own check) is counted as. */
static void count_failure(struct dbgfetch *d, int rc, bool timed_out)
{
	if (timed_out || rc == -ETIME || rc == -ETIMEDOUT)
		d->st.timeouts++;
	else if (rc == -ENOENT)
		d->st.not_found++;
	else if (rc == -EBADMSG)
		d->st.invalid++;
	else if (rc == -ECONNREFUSED || rc == -ECONNRESET || rc == -EHOSTUNREACH ||
		 rc == -ENETUNREACH || rc == -ECONNABORTED)
		d->st.conn_errors++;
	else
		d->st.errors++;
}

static void sweep(struct dbgfetch *d)
{
	struct dbgcache_sweep sw;

	if (dbgcache__sweep(d->cache_dir, d->max_bytes, d->max_age_s, d->retry_s, &sw))
		return;
	pthread_mutex_lock(&d->mu);
	d->st.evicted += sw.removed_files;
	d->st.cache_bytes = sw.kept_bytes;
	pthread_mutex_unlock(&d->mu);
}

/* Fetches R's build id (no lock held). Returns 0 or -errno; *BYTES the file's size. */
static int fetch_one(struct dbgfetch *d, debuginfod_client *c, struct worker_ctx *w,
		     const char *bid, uint64_t *bytes, bool *timed_out)
{
	char *path = NULL;
	struct stat st;
	int fd, err;

	w->deadline_ns = now_ns() + d->timeout_ns;
	fd = debuginfod_find_debuginfo(c, (const unsigned char *)bid, 0, &path);
	*timed_out = now_ns() > w->deadline_ns;
	if (fd < 0) {
		err = fd;
		goto cleanup;
	}
	err = fstat(fd, &st) ? -errno : dbgcache__validate(fd, bid);
	if (!err)
		*bytes = (uint64_t)st.st_size;
	else if (path)
		/* Garbage must not be found by the next lookup (or by the library's cache). */
		unlink(path);
	close(fd);
cleanup:
	free(path);
	return err;
}

static void *worker(void *arg)
{
	struct dbgfetch *d = arg;
	struct worker_ctx w = { .d = d };
	debuginfod_client *c = debuginfod_begin();

	if (c) {
		debuginfod_set_user_data(c, &w);
		debuginfod_set_progressfn(c, progress);
	}
	pthread_mutex_lock(&d->mu);
	for (;;) {
		struct req *r, *pick = NULL;
		uint64_t bytes = 0;
		bool timed_out = false;
		int err;

		while (!d->stop && !d->queued)
			pthread_cond_wait(&d->cv, &d->mu);
		if (d->stop)
			break;
		/* Oldest queued first: the table is newest first, so take the last one. */
		for (r = d->reqs; r; r = r->next)
			if (r->state == REQ_QUEUED)
				pick = r;
		pick->state = REQ_RUNNING;
		d->queued--;
		d->running++;
		pthread_mutex_unlock(&d->mu);

		err = c ? fetch_one(d, c, &w, pick->bid, &bytes, &timed_out) : -ENOMEM;
		if (!err)
			sweep(d);

		pthread_mutex_lock(&d->mu);
		d->running--;
		if (!err) {
			pick->state = REQ_DONE;
			d->st.fetched++;
			d->st.bytes += bytes;
		} else {
			pick->state = REQ_FAILED;
			pick->retry_at_ns = now_ns() + d->retry_s * 1000000000ull;
			count_failure(d, err, timed_out);
			log_debug("debuginfod: build id %s: %s", pick->bid,
				  timed_out ? "timed out" : strerror(-err));
		}
	}
	pthread_mutex_unlock(&d->mu);
	if (c)
		debuginfod_end(c);
	return NULL;
}

int dbgfetch__new(const struct dbgfetch_opts *opts, struct dbgfetch **out)
{
	const char *urls = opts->urls && *opts->urls ? opts->urls : getenv("DEBUGINFOD_URLS");
	sigset_t all, old;
	uint64_t tmo_s;
	struct dbgfetch *d;
	char buf[32];
	unsigned int i;
	int err;

	*out = NULL;
	if (!urls || !*urls || strspn(urls, " \t") == strlen(urls))
		return -ENODATA;
	if (!opts->cache_dir || opts->cache_dir[0] != '/')
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->cv, NULL);
	d->cache_dir = strdup(opts->cache_dir);
	d->max_bytes = opts->cache_max_bytes ? opts->cache_max_bytes : 2ull << 30;
	d->max_age_s = opts->cache_max_age_s ? opts->cache_max_age_s : 7 * 86400;
	d->timeout_ns = (opts->timeout_ms ? opts->timeout_ms : 30000) * 1000000ull;
	d->retry_s = opts->retry_s ? opts->retry_s : 600;
	d->nr_threads = opts->concurrency ? opts->concurrency : 2;
	d->max_queue = opts->max_queue ? opts->max_queue : 4096;
	d->threads = calloc(d->nr_threads, sizeof(*d->threads));
	if (!d->cache_dir || !d->threads) {
		err = -ENOMEM;
		goto cleanup;
	}
	err = mkdir_p(d->cache_dir);
	if (err)
		goto cleanup;
	/*
	 * The library takes these from the environment at each query (it has no per-client
	 * setting for them in Debian 12's 0.188). Its own timeout is the connection's and a
	 * stall's; the whole fetch's is ours (progress()).
	 */
	tmo_s = (d->timeout_ns + 999999999ull) / 1000000000ull;
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)tmo_s);
	if (setenv("DEBUGINFOD_URLS", urls, 1) ||
	    setenv("DEBUGINFOD_CACHE_PATH", d->cache_dir, 1) ||
	    setenv("DEBUGINFOD_TIMEOUT", buf, 1) || setenv("DEBUGINFOD_MAXTIME", buf, 1)) {
		err = -errno;
		goto cleanup;
	}
	unsetenv("DEBUGINFOD_PROGRESS"); /* it would print to stderr */
	/* Misses: the library remembers them as long as we do; its cleaning uses our age. */
	write_setting(d->cache_dir, "cache_miss_s", d->retry_s);
	write_setting(d->cache_dir, "max_unused_age_s", d->max_age_s);
	write_setting(d->cache_dir, "cache_clean_interval_s", 86400);
	sweep(d);
	/*
	 * Workers block every signal (they inherit the mask at creation): the agent takes
	 * SIGTERM, SIGHUP ... through a signalfd with them blocked in its own thread, and a
	 * process-directed signal must not be delivered to, and kill through, a worker.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < d->nr_threads; i++) {
		err = -pthread_create(&d->threads[i], NULL, worker, d);
		if (err) {
			d->nr_threads = i;
			break;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		goto cleanup;
	*out = d;
	return 0;
cleanup:
	dbgfetch__free(d);
	return err;
}

void dbgfetch__free(struct dbgfetch *d)
{
	struct req *r, *next;
	unsigned int i;

	if (!d)
		return;
	pthread_mutex_lock(&d->mu);
	__atomic_store_n(&d->stop, true, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
	for (i = 0; i < d->nr_threads; i++)
		pthread_join(d->threads[i], NULL);
	for (r = d->reqs; r; r = next) {
		next = r->next;
		free(r);
	}
	pthread_cond_destroy(&d->cv);
	pthread_mutex_destroy(&d->mu);
	free(d->threads);
	free(d->cache_dir);
	free(d);
}

int dbgfetch__request(struct dbgfetch *d, const char *bid, char *path, size_t len)
{
	struct req *r;
	int err;

	err = dbgcache__lookup(d->cache_dir, bid, path, len);
	if (err == -EINVAL || err == -ENAMETOOLONG)
		return err;
	pthread_mutex_lock(&d->mu);
	for (r = d->reqs; r; r = r->next)
		if (!strcmp(r->bid, bid))
			break;
	if (!err) {
		d->st.cache_hits++;
		/* It landed and the caller found it by itself: nothing left to drain. */
		if (r && r->state == REQ_DONE)
			r->state = REQ_DRAINED;
		goto cleanup;
	}
	if (r && (r->state == REQ_QUEUED || r->state == REQ_RUNNING)) {
		err = -EINPROGRESS;
		goto cleanup;
	}
	if (r && r->state == REQ_FAILED && now_ns() < r->retry_at_ns) {
		d->st.retry_waits++;
		err = -ENOENT;
		goto cleanup;
	}
	if (d->queued >= d->max_queue) {
		d->st.queue_full++;
		err = -ENOSPC;
		goto cleanup;
	}
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r) {
			err = -ENOMEM;
			goto cleanup;
		}
		snprintf(r->bid, sizeof(r->bid), "%s", bid);
		r->next = d->reqs;
		d->reqs = r;
	}
	/* A file evicted after it landed, or a retry after a failure: fetch (again). */
	r->state = REQ_QUEUED;
	d->queued++;
	d->st.requests++;
	pthread_cond_signal(&d->cv);
	err = -EINPROGRESS;
cleanup:
	pthread_mutex_unlock(&d->mu);
	return err;
}

size_t dbgfetch__drain(struct dbgfetch *d, void (*fn)(void *ctx, const char *bid, const char *path),
		       void *ctx)
{
	char bids[16][129];
	size_t n, total = 0, i;
	struct req *r;

	if (!d)
		return 0;
	/* In batches, so FN runs without the lock (it may parse ELF files for a while). */
	do {
		n = 0;
		pthread_mutex_lock(&d->mu);
		for (r = d->reqs; r && n < 16; r = r->next)
			if (r->state == REQ_DONE) {
				r->state = REQ_DRAINED;
				memcpy(bids[n++], r->bid, sizeof(r->bid));
			}
		pthread_mutex_unlock(&d->mu);
		for (i = 0; i < n; i++) {
			char path[4096];

			if (!dbgcache__lookup(d->cache_dir, bids[i], path, sizeof(path)))
				fn(ctx, bids[i], path);
		}
		total += n;
	} while (n == 16);
	return total;
}

void dbgfetch__stats(struct dbgfetch *d, struct dbgfetch_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!d)
		return;
	pthread_mutex_lock(&d->mu);
	*out = d->st;
	out->pending = d->queued + d->running;
	pthread_mutex_unlock(&d->mu);
}
