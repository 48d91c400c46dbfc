// SPDX-License-Identifier: Apache-2.0
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "common/log.h"
#include "common/util.h"
#include "exporter/backoff.h"
#include "exporter/batch.h"
#include "exporter/compress.h"
#include "exporter/exporter.h"
#include "exporter/http.h"
#include "exporter/spool.h"
#include "otlp/otlp.h"
#include "shm/counters.h"
#include "shm/reader.h"

/* Statuses counted one by one; anything else is "other". */
static const long counted_status[] = { 400, 401, 403, 404, 408, 413, 415, 429, 500, 502, 503, 504 };
#define NR_STATUS (sizeof(counted_status) / sizeof(counted_status[0]))

struct pending {
	uint64_t first, last;
	bool done;
};

struct range {
	uint64_t first, last;
};

struct dest {
	const struct kiln_destination *cfg;
	const struct kiln_config *kc;
	char name[64], url[2048], dir[4096];
	struct otlp_enc *enc;
	uint64_t batch_first, batch_last, batch_start_ns, next_id, ring_id;
	bool batch_open;
	/* Restart skip rule. */
	uint64_t skip_le;
	bool have_cursor; /* skip_le is valid (seqs start at 0) */
	struct range *skip;
	size_t nr_skip;
	/* Shared with the worker, under lock. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct batch *queue;
	size_t q_head, q_len, q_cap;
	struct spool *spool;
	struct pending *pend;
	size_t p_head, p_len, p_cap;
	uint64_t durable; /* every seq <= durable is delivered, spooled or refused */
	bool finishing; /* once: deliver what is queued, then exit */
	atomic_bool stopping; /* signal: spool what cannot go out at once, then exit */
	pthread_t thread;
	bool started;
	struct http *http;
	int out_fd; /* a file destination's directory; -1 until opened */
	bool out_handed; /* out_fd came from kiln run: there is no path to reopen */
	char *secret_token, *secret_pass;
	long logged_status[16];
	size_t nr_logged;
	bool logged_tls[HTTP_NR_TLS];
	/* Metrics (relaxed atomics, read by /metrics and the summary). */
	_Atomic uint64_t m_batches, m_samples, m_bytes, m_raw_bytes, m_retries, m_failed_batches,
		m_failed_samples, m_status[NR_STATUS + 2], m_spooled, m_spool_dropped,
		m_spool_dropped_samples, m_queue_dropped, m_partial, m_spool_corrupt, m_spool_bytes,
		m_rotated;
	_Atomic uint64_t m_tls[HTTP_NR_TLS]; /* transport failures in TLS, by cause */
	/* Batches (and their samples) the spool could not take (a full disk), lost. */
	_Atomic uint64_t m_spool_errors, m_spool_error_samples;
	int spool_errno; /* the last write error while it lasts, 0 once writes work again */
	/* For kiln status: batches in the spool, records lost for good (any reason). */
	_Atomic uint64_t m_spool_files, m_dropped_records;
};

struct exporter {
	const struct exporter_opts *o;
	const struct kiln_config *cfg;
	struct dest *d;
	size_t nr;
	struct shm_reader *rd;
	struct MHD_Daemon *mhd;
	_Atomic uint64_t records, lost, lag, bad_records;
	_Atomic uint64_t *slot_stats; /* this consumer's counters in the ring, for kiln status */
	/* The agent's counters as last read from the ring header, for /metrics (kiln_agent_*). */
	_Atomic uint64_t agent[KILN_C_NR];
	_Atomic bool agent_have[KILN_C_NR];
};

static void write_cursor(struct dest *d)
{
	char line[64];
	int fd, n, dfd;

	if (!d->spool)
		return;
	dfd = spool__dirfd(d->spool);
	n = snprintf(line, sizeof(line), "%" PRIu64 " %" PRIu64 "\n", d->ring_id, d->durable);
	fd = openat(dfd, "cursor.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (write(fd, line, n) == n && fsync(fd) == 0)
		renameat(dfd, "cursor.tmp", dfd, "cursor");
	close(fd);
}

/* Reads small file NAME in directory DFD into *BUF (caller frees). Returns 0 or -errno. */
static int read_fileat(int dfd, const char *name, char **buf, size_t *len)
{
	char tmp[256];
	ssize_t n;
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);

	*buf = NULL;
	if (fd < 0)
		return -errno;
	n = read(fd, tmp, sizeof(tmp) - 1);
	close(fd);
	if (n < 0)
		return -errno;
	tmp[n] = 0;
	*len = (size_t)n;
	*buf = strdup(tmp);
	return *buf ? 0 : -ENOMEM;
}

/*
 * Opens directory PATH, creating it with MODE: the descriptor kiln run handed over for it
 * when there is one (a parent closed to this user), else by path. Sets *HANDED accordingly.
 * Returns the descriptor (caller closes) or -errno.
 */
static int open_dir(const struct exporter *x, const char *path, mode_t mode, bool *handed)
{
	int i, fd;

	*handed = false;
	for (i = 0; i < x->o->nr_dirfds; i++) {
		if (strcmp(x->o->dirfds[i].path, path))
			continue;
		*handed = true;
		fd = fcntl(x->o->dirfds[i].fd, F_DUPFD_CLOEXEC, 3);
		return fd < 0 ? -errno : fd;
	}
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return -errno;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* Lock held. Marks the batch starting at FIRST durable and advances the cursor. */
static void pending_done(struct dest *d, uint64_t first)
{
	uint64_t old = d->durable;
	size_t i;

	for (i = 0; i < d->p_len; i++) {
		struct pending *p = &d->pend[(d->p_head + i) % d->p_cap];

		if (p->first == first && !p->done) {
			p->done = true;
			break;
		}
	}
	while (d->p_len && d->pend[d->p_head].done) {
		d->durable = d->pend[d->p_head].last;
		d->p_head = (d->p_head + 1) % d->p_cap;
		d->p_len--;
	}
	if (d->durable != old)
		write_cursor(d);
}

static int pending_add(struct dest *d, uint64_t first, uint64_t last)
{
	if (d->p_len == d->p_cap) {
		size_t cap = d->p_cap ? d->p_cap * 2 : 64, i;
		struct pending *p = malloc(cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		for (i = 0; i < d->p_len; i++)
			p[i] = d->pend[(d->p_head + i) % d->p_cap];
		free(d->pend);
		d->pend = p;
		d->p_head = 0;
		d->p_cap = cap;
	}
	d->pend[(d->p_head + d->p_len++) % d->p_cap] = (struct pending){ first, last, false };
	return 0;
}

static void count_status(struct dest *d, long status)
{
	size_t i;

	for (i = 0; i < NR_STATUS && counted_status[i] != status; i++)
		;
	if (!status)
		i = NR_STATUS + 1; /* transport */
	atomic_fetch_add_explicit(&d->m_status[i], 1, memory_order_relaxed);
}

/* What each TLS cause means, for the error line. */
static const char *const tls_why[HTTP_NR_TLS] = {
	[HTTP_TLS_UNTRUSTED] = "its certificate is not signed by a trusted CA (tls.caFile, else "
			       "the system store)",
	[HTTP_TLS_HOSTNAME] = "its certificate does not name the URL's host",
	[HTTP_TLS_EXPIRED] = "its certificate has expired or is not yet valid",
	[HTTP_TLS_CA_FILE] = "tls.caFile cannot be read or holds no certificate",
	[HTTP_TLS_HANDSHAKE] = "no TLS session could be set up",
	[HTTP_TLS_OTHER] = "its certificate was refused",
};

/*
 * Counts a TLS refusal by cause and says it once per cause at error level: unlike a network
 * blip it needs a person (a CA file, a certificate renewal). The batch is retried like any
 * transport failure, so a fixed certificate delivers what was kept.
 */
static void tls_failed(struct dest *d, const struct http_result *r)
{
	atomic_fetch_add(&d->m_tls[r->tls], 1);
	if (d->logged_tls[r->tls])
		return;
	d->logged_tls[r->tls] = true;
	log_error("%s: TLS refused for %s: %s (%s); batches are kept and retried", d->name, d->url,
		  tls_why[r->tls], r->message);
}

/* Lock held. Spools B (or counts it lost without a spool) and marks it durable. */
static void spool_batch(struct dest *d, struct batch *b)
{
	uint64_t db = 0, ds = 0, dr = 0;
	int err = -ENOSPC;

	if (d->spool) {
		err = spool__put(d->spool, b, &db, &ds, &dr);
		atomic_fetch_add(&d->m_spool_dropped, db);
		atomic_fetch_add(&d->m_spool_dropped_samples, ds);
		atomic_fetch_add(&d->m_dropped_records, dr);
		atomic_store(&d->m_spool_bytes, spool__bytes(d->spool));
		atomic_store(&d->m_spool_files, spool__count(d->spool));
	}
	if (err) {
		if (d->spool) {
			/* Said once per cause while it lasts: a full disk fails every batch. */
			if (err != d->spool_errno)
				log_error("%s: cannot spool batch %" PRIu64 " in %s: %s; its "
					  "%" PRIu64 " samples "
					  "are lost "
					  "(counted), "
					  "and so are "
					  "later ones "
					  "until the spool can be written again",
					  d->name, b->id, d->dir, strerror(-err), b->samples);
			d->spool_errno = err;
			atomic_fetch_add(&d->m_spool_errors, 1);
			atomic_fetch_add(&d->m_spool_error_samples, b->samples);
		} else {
			atomic_fetch_add(&d->m_queue_dropped, 1);
		}
		atomic_fetch_add(&d->m_failed_samples, b->samples);
		atomic_fetch_add(&d->m_dropped_records, b->records);
	} else {
		if (d->spool_errno)
			log_warn("%s: the spool %s can be written again", d->name, d->dir);
		d->spool_errno = 0;
		atomic_fetch_add(&d->m_spooled, 1);
	}
	pending_done(d, b->first_seq);
}

static int no_dots(const struct dirent *e)
{
	return e->d_name[0] != '.';
}

/*
 * Writes B as a file in the directory destination, then enforces the rotation bounds. All
 * in the directory's descriptor: it may have been handed over with no path to it.
 */
static int write_file(struct dest *d, const uint8_t *body, size_t len)
{
	const char *enc = compress__encoding(d->kc->exporter.compression);
	char name[96], tmp[104];
	struct dirent **names = NULL;
	uint64_t total = 0;
	int fd, n, i, err = 0;
	struct stat st;

	if (d->out_fd < 0)
		return -EBADF;
	snprintf(name, sizeof(name), "kiln-%020" PRIu64 "-%06" PRIu64 ".pb%s%s", wall_ns(),
		 d->next_id++, enc ? "." : "",
		 !enc			? ""
		 : !strcmp(enc, "gzip") ? "gz"
					: "zst");
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	fd = openat(d->out_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 && errno == ENOENT && !d->out_handed) {
		/* The directory was removed while we ran: make it again, as at start. */
		int nfd;

		if (mkdir(d->url, 0755) < 0 && errno != EEXIST)
			return -errno;
		nfd = open(d->url, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (nfd < 0)
			return -errno;
		close(d->out_fd);
		d->out_fd = nfd;
		fd = openat(d->out_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	}
	if (fd < 0)
		return -errno;
	if (write(fd, body, len) != (ssize_t)len || fsync(fd) < 0)
		err = errno ? -errno : -EIO;
	close(fd);
	if (err || renameat(d->out_fd, tmp, d->out_fd, name) < 0) {
		err = err ? err : -errno;
		unlinkat(d->out_fd, tmp, 0);
		return err;
	}
	/* Rotation: names sort by time, so the oldest go first. */
	n = scandirat(d->out_fd, ".", &names, no_dots, alphasort);
	for (i = n - 1; i >= 0; i--) {
		bool ours = !strncmp(names[i]->d_name, "kiln-", 5) &&
			    !strstr(names[i]->d_name, ".tmp");
		int kept = 0;

		if (ours && fstatat(d->out_fd, names[i]->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			total += st.st_size;
			for (int k = i; k < n; k++)
				kept += names[k] != NULL;
			if ((d->cfg->max_files && (uint64_t)kept > d->cfg->max_files) ||
			    (d->cfg->max_bytes && total > d->cfg->max_bytes && kept > 1)) {
				/* Deliberate, but older profiles are gone: counted, never silent. */
				if (unlinkat(d->out_fd, names[i]->d_name, 0) == 0)
					atomic_fetch_add(&d->m_rotated, 1);
				free(names[i]);
				names[i] = NULL;
				continue;
			}
		} else {
			free(names[i]);
			names[i] = NULL;
			continue;
		}
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return 0;
}

/* Waits up to NS unless the exporter is stopping. Lock not held. Returns false if stopping. */
static bool wait_ns(struct dest *d, uint64_t ns)
{
	struct timespec ts;
	bool stop;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ns / 1000000000ull;
	ts.tv_nsec += ns % 1000000000ull;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&d->lock);
	while (!(stop = atomic_load(&d->stopping)))
		if (pthread_cond_timedwait(&d->cond, &d->lock, &ts) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&d->lock);
	return !atomic_load(&d->stopping);
}

enum deliver_result {
	DELIVERED,
	REFUSED,
	GAVE_UP
};

/* Sends B with retries. Lock not held. */
static enum deliver_result deliver(struct dest *d, struct batch *b)
{
	enum kiln_compression c = d->kc->exporter.compression;
	struct http_result r;
	struct backoff bo;
	uint8_t *body = NULL;
	size_t len = 0;
	uint64_t wait;
	char err[256];
	size_t i;
	enum deliver_result res = GAVE_UP;

	if (log_get_level() >= LOG_LEVEL_DEBUG &&
	    otlp_validate(b->body, b->len, NULL, err, sizeof(err))) {
		log_error("%s: batch %" PRIu64 " fails validation: %s", d->name, b->id, err);
	}
	/* Pyroscope accepts gzip only; zstd is for OTLP collectors and files. */
	if (compress__run(c, b->body, b->len, &body, &len))
		return GAVE_UP;
	if (d->cfg->type == KILN_DEST_FILE) {
		int e = write_file(d, body, len);

		if (e)
			log_error("%s: cannot write to %s: %s", d->name, d->url, strerror(-e));
		else
			res = DELIVERED;
		goto cleanup;
	}
	backoff__start(&bo, &d->kc->exporter.retry, mono_ns());
	for (;;) {
		if (http__post(d->http, body, len, compress__encoding(c), &r))
			goto cleanup;
		if (r.outcome == HTTP_OK) {
			if (r.partial)
				log_warn("%s: receiver rejected %" PRId64 " profiles: %s", d->name,
					 r.rejected, r.message);
			atomic_fetch_add(&d->m_partial, r.partial);
			res = DELIVERED;
			break;
		}
		count_status(d, r.status);
		if (r.tls)
			tls_failed(d, &r);
		if (r.outcome == HTTP_FINAL) {
			/* Logged once per status: a misconfiguration would otherwise flood. */
			for (i = 0; i < d->nr_logged && d->logged_status[i] != r.status; i++)
				;
			if (i == d->nr_logged) {
				if (d->nr_logged < 16)
					d->logged_status[d->nr_logged++] = r.status;
				log_error("%s: HTTP %ld, batch refused and not retried: %s",
					  d->name, r.status, r.message);
			}
			res = REFUSED;
			break;
		}
		if (r.status)
			log_info("%s: HTTP %ld, will retry", d->name, r.status);
		else
			log_info("%s: transport: %s, will retry", d->name, r.message);
		if (atomic_load(&d->stopping) ||
		    !backoff__next(&bo, mono_ns(), r.retry_after_ns, &wait))
			break;
		atomic_fetch_add(&d->m_retries, 1);
		log_debug("%s: retry in %.3f s", d->name, wait / 1e9);
		if (!wait_ns(d, wait))
			break;
	}
cleanup:
	if (res == DELIVERED) {
		atomic_fetch_add(&d->m_batches, 1);
		atomic_fetch_add(&d->m_samples, b->samples);
		atomic_fetch_add(&d->m_bytes, len);
		atomic_fetch_add(&d->m_raw_bytes, b->len);
	} else if (res == REFUSED) {
		atomic_fetch_add(&d->m_failed_batches, 1);
		atomic_fetch_add(&d->m_failed_samples, b->samples);
		atomic_fetch_add(&d->m_dropped_records, b->records);
	}
	free(body);
	return res;
}

static void *worker(void *arg)
{
	struct dest *d = arg;
	struct batch b;
	bool from_spool;
	uint64_t corrupt = 0;
	enum deliver_result res;

	for (;;) {
		pthread_mutex_lock(&d->lock);
		while (!d->q_len && !(d->spool && spool__count(d->spool)) && !d->finishing &&
		       !atomic_load(&d->stopping))
			pthread_cond_wait(&d->cond, &d->lock);
		if (atomic_load(&d->stopping)) {
			pthread_mutex_unlock(&d->lock);
			break;
		}
		from_spool = false;
		if (d->spool && spool__count(d->spool) &&
		    spool__peek(d->spool, &b, &corrupt) == 0) {
			from_spool = true;
			atomic_store(&d->m_spool_corrupt, corrupt);
		} else if (d->q_len) {
			b = d->queue[d->q_head];
			d->q_head = (d->q_head + 1) % d->q_cap;
			d->q_len--;
		} else {
			pthread_mutex_unlock(&d->lock);
			if (d->finishing)
				break;
			continue;
		}
		pthread_mutex_unlock(&d->lock);
		res = deliver(d, &b);
		pthread_mutex_lock(&d->lock);
		if (from_spool) {
			if (res != GAVE_UP) {
				spool__remove(d->spool, b.id);
				atomic_store(&d->m_spool_bytes, spool__bytes(d->spool));
				atomic_store(&d->m_spool_files, spool__count(d->spool));
				pending_done(d, b.first_seq);
			}
		} else if (res == GAVE_UP) {
			spool_batch(d, &b);
		} else {
			pending_done(d, b.first_seq);
		}
		pthread_mutex_unlock(&d->lock);
		batch__free_body(&b);
		if (res == GAVE_UP && from_spool) {
			/* Still down: the next attempt after one maximum interval. */
			if (d->finishing || !wait_ns(d, d->kc->exporter.retry.max_interval_ns))
				break;
		} else if (res == GAVE_UP && d->finishing && !d->spool) {
			break;
		}
		if (res == GAVE_UP && d->finishing)
			break;
	}
	/*
	 * Stopping (a signal): whatever is still queued goes to the spool, nothing waits on
	 * the network. Also when the loop ended in a spool replay the signal cut short: the
	 * queue behind it would otherwise be freed unsent.
	 */
	pthread_mutex_lock(&d->lock);
	while (atomic_load(&d->stopping) && d->q_len) {
		spool_batch(d, &d->queue[d->q_head]);
		batch__free_body(&d->queue[d->q_head]);
		d->q_head = (d->q_head + 1) % d->q_cap;
		d->q_len--;
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

/* Main thread: hands a finished batch to the worker. */
static void enqueue(struct dest *d, struct batch *b)
{
	pthread_mutex_lock(&d->lock);
	if (d->q_len == d->q_cap) {
		/*
		 * Full: the destination is slow or down. With a spool, everything queued moves
		 * there in order (the spool is replayed before the queue); without, the oldest
		 * batch is dropped.
		 */
		if (d->spool) {
			while (d->q_len) {
				spool_batch(d, &d->queue[d->q_head]);
				batch__free_body(&d->queue[d->q_head]);
				d->q_head = (d->q_head + 1) % d->q_cap;
				d->q_len--;
			}
		} else {
			struct batch *o = &d->queue[d->q_head];

			log_warn("%s: queue full, dropping the oldest batch (%" PRIu64 " samples)",
				 d->name, o->samples);
			atomic_fetch_add(&d->m_queue_dropped, 1);
			atomic_fetch_add(&d->m_failed_samples, o->samples);
			atomic_fetch_add(&d->m_dropped_records, o->records);
			pending_done(d, o->first_seq);
			batch__free_body(o);
			d->q_head = (d->q_head + 1) % d->q_cap;
			d->q_len--;
		}
	}
	d->queue[(d->q_head + d->q_len++) % d->q_cap] = *b;
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

static int cut_batch(struct dest *d)
{
	struct batch b = { 0 };
	int err;

	if (!d->batch_open)
		return 0;
	b.id = d->next_id++;
	b.ring_id = d->ring_id;
	b.first_seq = d->batch_first;
	b.last_seq = d->batch_last;
	b.records = otlp_enc__records(d->enc);
	b.samples = otlp_enc__samples(d->enc);
	d->batch_open = false;
	pthread_mutex_lock(&d->lock);
	err = pending_add(d, b.first_seq, b.last_seq);
	pthread_mutex_unlock(&d->lock);
	if (err)
		return err;
	err = otlp_enc__finish(d->enc, &b.body, &b.len);
	if (!err && b.len > OTLP_MAX_REQUEST) {
		/* Only one huge record can get here: batches are cut at batchMaxBytes. */
		log_error("%s: request of %zu bytes exceeds 64 MiB, dropped", d->name, b.len);
		batch__free_body(&b);
		err = -EFBIG;
	}
	if (err) {
		otlp_enc__reset(d->enc);
		pthread_mutex_lock(&d->lock);
		atomic_fetch_add(&d->m_failed_samples, b.samples);
		atomic_fetch_add(&d->m_dropped_records, b.records);
		pending_done(d, b.first_seq);
		pthread_mutex_unlock(&d->lock);
		return 0;
	}
	if (!b.samples) {
		/* Only empty windows: nothing to send, but their seqs are done. */
		pthread_mutex_lock(&d->lock);
		pending_done(d, b.first_seq);
		pthread_mutex_unlock(&d->lock);
		batch__free_body(&b);
		return 0;
	}
	enqueue(d, &b);
	return 0;
}

static bool skipped(const struct dest *d, uint64_t seq)
{
	if (d->have_cursor && seq <= d->skip_le)
		return true;
	for (size_t i = 0; i < d->nr_skip; i++)
		if (seq >= d->skip[i].first && seq <= d->skip[i].last)
			return true;
	return false;
}

static void add_skip(void *arg, uint64_t first, uint64_t last)
{
	struct dest *d = arg;
	struct range *r = realloc(d->skip, (d->nr_skip + 1) * sizeof(*r));

	if (!r)
		return;
	d->skip = r;
	d->skip[d->nr_skip++] = (struct range){ first, last };
}

/* Reads a secret from the variable ENV or the file FILE (trailing newline stripped). */
static int read_secret(const char *env, const char *file, char **out)
{
	size_t len;
	int err;

	*out = NULL;
	if (env) {
		const char *v = getenv(env);

		if (!v)
			return -ENOENT;
		*out = strdup(v);
		return *out ? 0 : -ENOMEM;
	}
	if (!file)
		return 0;
	err = read_file(file, out, &len);
	if (err)
		return err;
	while (len && ((*out)[len - 1] == '\n' || (*out)[len - 1] == '\r'))
		(*out)[--len] = 0;
	return 0;
}

static int dest_init(struct exporter *x, struct dest *d, const struct kiln_destination *c,
		     size_t idx, uint64_t ring_id)
{
	const struct kiln_config *kc = x->cfg;
	struct otlp_opts oo = { .pid_attributes = c->pid_attributes };
	struct http_opts ho = { 0 };
	char *basic_user = c->basic_user;
	int err;

	d->out_fd = -1;
	d->cfg = c;
	d->kc = kc;
	d->ring_id = ring_id;
	snprintf(d->name, sizeof(d->name), "%s", c->name ? c->name : "");
	if (!d->name[0])
		snprintf(d->name, sizeof(d->name), "%s-%zu",
			 c->type == KILN_DEST_FILE   ? "file"
			 : c->type == KILN_DEST_OTLP ? "otlp"
						     : "pyroscope",
			 idx);
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
	d->q_cap = kc->exporter.queue_max_batches ? kc->exporter.queue_max_batches : 64;
	d->queue = calloc(d->q_cap, sizeof(*d->queue));
	if (!d->queue)
		return -ENOMEM;
	err = otlp_enc__new(&d->enc, &oo);
	if (err)
		return err;
	switch (c->type) {
	case KILN_DEST_PYROSCOPE:
		/* host:port; Pyroscope serves OTLP at the root, no /otlp prefix. */
		snprintf(d->url, sizeof(d->url), "%s%s/v1development/profiles",
			 strstr(c->url, "://") ? "" : "http://", c->url);
		break;
	case KILN_DEST_OTLP: {
		size_t n = strlen(c->url);

		if (strstr(c->url, "/v1development/profiles"))
			snprintf(d->url, sizeof(d->url), "%s", c->url);
		else
			snprintf(d->url, sizeof(d->url), "%s%.*s/v1development/profiles",
				 strstr(c->url, "://") ? "" : "http://",
				 (int)(n && c->url[n - 1] == '/' ? n - 1 : n), c->url);
		break;
	}
	case KILN_DEST_FILE:
		snprintf(d->url, sizeof(d->url), "%s", c->url);
		if (c->format && strcmp(c->format, "otlp")) {
			log_error("%s: file format '%s' is not supported by kiln export (otlp "
				  "only)",
				  d->name, c->format);
			return -EINVAL;
		}
		d->out_fd = open_dir(x, d->url, 0755, &d->out_handed);
		if (d->out_fd < 0) {
			err = d->out_fd;
			log_error("%s: cannot open directory %s: %s", d->name, d->url,
				  strerror(-err));
			return err;
		}
		break;
	default:
		return -EINVAL;
	}
	if (c->type != KILN_DEST_FILE) {
		err = read_secret(c->bearer_token_env, c->bearer_token_file, &d->secret_token);
		if (!err)
			err = read_secret(c->basic_password_env, c->basic_password_file,
					  &d->secret_pass);
		if (err) {
			/* Names the source, never the value. */
			log_error("%s: cannot read a credential (%s): %s", d->name,
				  c->bearer_token_env	  ? c->bearer_token_env
				  : c->bearer_token_file  ? c->bearer_token_file
				  : c->basic_password_env ? c->basic_password_env
							  : c->basic_password_file,
				  strerror(-err));
			return err;
		}
		ho.url = d->url;
		ho.timeout_ns = kc->exporter.timeout_ns;
		ho.ca_file = c->ca_file;
		ho.headers = c->headers;
		ho.nr_headers = c->nr_headers;
		ho.bearer_token = d->secret_token;
		ho.basic_user = basic_user;
		ho.basic_password = d->secret_pass;
		ho.abort = &d->stopping;
		err = http__new(&d->http, &ho);
		if (err)
			return err;
	}
	if (kc->exporter.spool_enabled && kc->exporter.spool_dir) {
		unsigned long long rid, seq;
		char *buf = NULL;
		size_t len;
		bool handed;
		int root = open_dir(x, kc->exporter.spool_dir, 0700, &handed);

		if (root < 0) {
			log_error("spool directory %s: %s", kc->exporter.spool_dir,
				  strerror(-root));
			return root;
		}
		snprintf(d->dir, sizeof(d->dir), "%s/%s", kc->exporter.spool_dir, d->name);
		err = spool__openat(&d->spool, root, d->name, kc->exporter.spool_max_bytes);
		close(root);
		if (err) {
			log_error("%s: spool %s: %s", d->name, d->dir, strerror(-err));
			return err;
		}
		d->next_id = spool__max_id(d->spool) + 1;
		if (read_fileat(spool__dirfd(d->spool), "cursor", &buf, &len) == 0 &&
		    sscanf(buf, "%llu %llu", &rid, &seq) == 2 && rid == ring_id) {
			d->skip_le = seq;
			d->have_cursor = true;
			d->durable = seq;
		}
		free(buf);
		spool__ranges(d->spool, ring_id, add_skip, d);
		atomic_store(&d->m_spool_bytes, spool__bytes(d->spool));
		atomic_store(&d->m_spool_files, spool__count(d->spool));
		if (spool__count(d->spool))
			log_info("%s: %" PRIu64 " spooled batches to replay", d->name,
				 spool__count(d->spool));
	}
	if (!d->next_id)
		d->next_id = 1;
	err = pthread_create(&d->thread, NULL, worker, d);
	if (err)
		return -err;
	d->started = true;
	return 0;
}

static void dest_fini(struct dest *d)
{
	if (d->started)
		pthread_join(d->thread, NULL);
	/* After the join: the worker writes files in it until it ends. */
	if (d->out_fd >= 0)
		close(d->out_fd);
	if (d->queue)
		for (size_t i = 0; i < d->q_len; i++)
			batch__free_body(&d->queue[(d->q_head + i) % d->q_cap]);
	free(d->queue);
	free(d->pend);
	free(d->skip);
	otlp_enc__free(d->enc);
	http__free(d->http);
	spool__free(d->spool);
	if (d->secret_token)
		explicit_bzero(d->secret_token, strlen(d->secret_token));
	if (d->secret_pass)
		explicit_bzero(d->secret_pass, strlen(d->secret_pass));
	free(d->secret_token);
	free(d->secret_pass);
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->cond);
}

/* Prometheus text exposition of every counter. Returns a malloc'd string. */
static char *metrics_text(struct exporter *x)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	size_t i, k;

	if (!f)
		return NULL;
	fprintf(f,
		"# TYPE kiln_export_records_total counter\nkiln_export_records_total %" PRIu64
		"\n# TYPE kiln_export_records_lost_total counter\n"
		"kiln_export_records_lost_total %" PRIu64 "\n# TYPE kiln_export_ring_lag_bytes "
		"gauge\nkiln_export_ring_lag_bytes "
		"%" PRIu64 "\n",
		atomic_load(&x->records), atomic_load(&x->lost), atomic_load(&x->lag));
#define M(mname, type, field)                                                                 \
	do {                                                                                  \
		fprintf(f, "# TYPE kiln_export_" mname " " type "\n");                        \
		for (i = 0; i < x->nr; i++)                                                   \
			fprintf(f, "kiln_export_" mname "{destination=\"%s\"} %" PRIu64 "\n", \
				x->d[i].name, atomic_load(&x->d[i].field));                   \
	} while (0)
	M("batches_sent_total", "counter", m_batches);
	M("samples_sent_total", "counter", m_samples);
	M("bytes_sent_total", "counter", m_bytes);
	M("retries_total", "counter", m_retries);
	M("batches_failed_total", "counter", m_failed_batches);
	M("samples_failed_total", "counter", m_failed_samples);
	M("batches_spooled_total", "counter", m_spooled);
	M("spool_dropped_batches_total", "counter", m_spool_dropped);
	M("spool_dropped_samples_total", "counter", m_spool_dropped_samples);
	M("spool_corrupt_total", "counter", m_spool_corrupt);
	M("queue_dropped_batches_total", "counter", m_queue_dropped);
	M("partial_success_total", "counter", m_partial);
	M("spool_bytes", "gauge", m_spool_bytes);
	M("files_rotated_total", "counter", m_rotated);
	M("spool_write_errors_total", "counter", m_spool_errors);
	M("spool_write_error_samples_total", "counter", m_spool_error_samples);
#undef M
	fprintf(f, "# TYPE kiln_export_failures_total counter\n");
	for (i = 0; i < x->nr; i++)
		for (k = 0; k < NR_STATUS + 2; k++) {
			uint64_t v = atomic_load(&x->d[i].m_status[k]);
			char st[16];

			if (!v)
				continue;
			if (k < NR_STATUS)
				snprintf(st, sizeof(st), "%ld", counted_status[k]);
			else
				snprintf(st, sizeof(st), "%s",
					 k == NR_STATUS ? "other" : "transport");
			fprintf(f,
				"kiln_export_failures_total{destination=\"%s\",status=\"%s\"} "
				"%" PRIu64 "\n",
				x->d[i].name, st, v);
		}
	fprintf(f, "# TYPE kiln_export_tls_failures_total counter\n");
	for (i = 0; i < x->nr; i++)
		for (k = 1; k < HTTP_NR_TLS; k++)
			fprintf(f,
				"kiln_export_tls_failures_total{destination=\"%s\",cause=\"%s\"} "
				"%" PRIu64 "\n",
				x->d[i].name, http_tls_names[k], atomic_load(&x->d[i].m_tls[k]));
	{
		uint64_t v[KILN_C_NR];
		bool have[KILN_C_NR];

		for (k = 0; k < KILN_C_NR; k++) {
			v[k] = atomic_load(&x->agent[k]);
			have[k] = atomic_load(&x->agent_have[k]);
		}
		kiln_counters__write_prometheus(f, "kiln_agent_", v, have);
	}
	fclose(f);
	return buf;
}

static enum MHD_Result on_metrics(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *data,
				  size_t *size, void **state)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	char *text;

	(void)version, (void)data, (void)size, (void)state;
	if (strcmp(method, "GET"))
		return MHD_NO;
	if (strcmp(url, "/metrics")) {
		r = MHD_create_response_from_buffer(10, (void *)"not found\n",
						    MHD_RESPMEM_PERSISTENT);
		ret = MHD_queue_response(conn, MHD_HTTP_NOT_FOUND, r);
		MHD_destroy_response(r);
		return ret;
	}
	text = metrics_text(cls);
	if (!text)
		return MHD_NO;
	r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4");
	ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

static int metrics_start(struct exporter *x, const char *listen)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	char host[64];
	const char *colon = strrchr(listen, ':');
	unsigned long port;

	if (!colon || colon - listen >= (long)sizeof(host))
		return -EINVAL;
	memcpy(host, listen, colon - listen);
	host[colon - listen] = 0;
	port = strtoul(colon + 1, NULL, 10);
	if (!port || port > 65535 ||
	    inet_pton(AF_INET, *host ? host : "0.0.0.0", &sa.sin_addr) != 1)
		return -EINVAL;
	sa.sin_port = htons(port);
	x->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, port, NULL, NULL, on_metrics, x,
				  MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_END);
	return x->mhd ? 0 : -EADDRINUSE;
}

static void summary(struct exporter *x)
{
	for (size_t i = 0; i < x->nr; i++) {
		struct dest *d = &x->d[i];

		fprintf(stderr,
			"kiln export: %s: %" PRIu64 " batches, %" PRIu64 " samples, %" PRIu64
			" bytes sent; %" PRIu64 " retries; %" PRIu64 " batches refused; %" PRIu64
			" spooled (%" PRIu64 " bytes in spool); %" PRIu64 " dropped; %" PRIu64
			" old files rotated out\n",
			d->name, atomic_load(&d->m_batches), atomic_load(&d->m_samples),
			atomic_load(&d->m_bytes), atomic_load(&d->m_retries),
			atomic_load(&d->m_failed_batches), atomic_load(&d->m_spooled),
			atomic_load(&d->m_spool_bytes),
			atomic_load(&d->m_queue_dropped) + atomic_load(&d->m_spool_dropped),
			atomic_load(&d->m_rotated));
		{
			char line[512];
			size_t k, n = 0;

			/* Failed attempts by status: what the retries were about. */
			for (k = 0; k < NR_STATUS + 2 && n < sizeof(line) - 32; k++) {
				uint64_t v = atomic_load(&d->m_status[k]);

				if (!v)
					continue;
				if (k < NR_STATUS)
					n += (size_t)snprintf(line + n, sizeof(line) - n,
							      "%s%ld %" PRIu64, n ? ", " : "",
							      counted_status[k], v);
				else
					n += (size_t)snprintf(
						line + n, sizeof(line) - n, "%s%s %" PRIu64,
						n ? ", " : "",
						k == NR_STATUS ? "other" : "transport", v);
			}
			if (n)
				fprintf(stderr, "kiln export: %s: failed attempts: %s\n", d->name,
					line);
		}
		if (atomic_load(&d->m_spool_errors))
			fprintf(stderr,
				"kiln export: %s: %" PRIu64 " batches (%" PRIu64 " samples) not "
				"spooled: the spool could not be written; dropped unless a restart "
				"finds them still in the ring "
				"(kiln_export_spool_write_errors_total)\n",
				d->name, atomic_load(&d->m_spool_errors),
				atomic_load(&d->m_spool_error_samples));
		for (size_t k = 1; k < HTTP_NR_TLS; k++)
			if (atomic_load(&d->m_tls[k]))
				fprintf(stderr,
					"kiln export: %s: TLS refused %" PRIu64 " times: %s "
					"(kiln_export_tls_failures_total{cause=\"%s\"})\n",
					d->name, atomic_load(&d->m_tls[k]), tls_why[k],
					http_tls_names[k]);
	}
	fprintf(stderr, "kiln export: %" PRIu64 " records read, %" PRIu64 " lost in the ring\n",
		atomic_load(&x->records), atomic_load(&x->lost));
}

static uint64_t ring_identity(const char *name)
{
	struct shm_view *v;
	uint64_t id;

	if (shm_view__open(&v, name))
		return 0;
	id = shm_view__hdr(v)->created_ns;
	shm_view__free(v);
	return id;
}

/*
 * Stores the totals over every destination in this consumer's slot of the ring, where
 * `kiln status` reads them. Main thread only (the slot changes on a reattach).
 */
static void publish_stats(struct exporter *x)
{
	uint64_t v[SHM_SLOT_STATS] = { 0 };
	size_t i, k;

	if (!x->slot_stats)
		return;
	for (i = 0; i < x->nr; i++) {
		struct dest *d = &x->d[i];

		v[SHM_EXP_SENT] += atomic_load(&d->m_batches);
		for (k = 0; k < NR_STATUS + 2; k++)
			v[SHM_EXP_FAILURES] += atomic_load(&d->m_status[k]);
		v[SHM_EXP_RETRIES] += atomic_load(&d->m_retries);
		v[SHM_EXP_BYTES_SENT] += atomic_load(&d->m_bytes);
		v[SHM_EXP_SAMPLES_SENT] += atomic_load(&d->m_samples);
		v[SHM_EXP_SPOOL_BYTES] += atomic_load(&d->m_spool_bytes);
		v[SHM_EXP_SPOOL_FILES] += atomic_load(&d->m_spool_files);
		v[SHM_EXP_DROPPED] += atomic_load(&d->m_dropped_records);
	}
	/* Relaxed: display values, each consistent on its own. */
	for (k = 0; k < SHM_SLOT_STATS; k++)
		atomic_store_explicit(&x->slot_stats[k], v[k], memory_order_relaxed);
}

/*
 * Copies the agent's counters out of the ring header: /metrics runs on another thread and
 * must not read a mapping that a reattach removes.
 */
static void agent_counters(struct exporter *x)
{
	struct shm_counter_entry e;
	int pos = 0;

	while (shm_counters__next(shm_reader__hdr(x->rd), &pos, &e)) {
		if (!e.info)
			continue;
		atomic_store(&x->agent[e.info->id], e.value);
		atomic_store(&x->agent_have[e.info->id], true);
	}
}

/* Reads every record available now. Returns records read, or -errno. */
static int drain(struct exporter *x)
{
	struct shm_reader_stats st;
	struct shm_record rec;
	int n = 0, err = 0;
	size_t i;

	while (!*x->o->stop) {
		err = shm_reader__next(x->rd, &rec);
		if (err == -EBADMSG) {
			n++;
			continue;
		}
		if (err)
			break;
		n++;
		for (i = 0; i < x->nr; i++) {
			struct dest *d = &x->d[i];

			if (skipped(d, rec.seq))
				continue;
			if (!d->batch_open) {
				d->batch_open = true;
				d->batch_first = rec.seq;
				d->batch_start_ns = mono_ns();
			}
			d->batch_last = rec.seq;
			err = otlp_enc__add(d->enc, &rec.v);
			if (err)
				return err;
			if (otlp_enc__size(d->enc) >= x->cfg->exporter.batch_max_bytes) {
				err = cut_batch(d);
				if (err)
					return err;
			}
		}
	}
	/* The reader sums loss over every attachment: a replaced segment does not reset it. */
	shm_reader__stats(x->rd, &st);
	agent_counters(x);
	atomic_store(&x->records, st.records);
	atomic_store(&x->bad_records, st.bad);
	atomic_store(&x->lost, st.lost);
	atomic_store(&x->lag, st.lag);
	return err && err != -EAGAIN ? err : n;
}

static int attach(struct exporter *x)
{
	char msg[256];
	int err;

	for (;;) {
		err = shm_reader__attach(x->rd);
		if (!err) {
			x->slot_stats = shm_reader__slot_stats(x->rd);
			publish_stats(x);
			return 0;
		}
		if (x->o->once || (err != -ENOENT && err != -EAGAIN && err != -EBADMSG)) {
			log_error("%s", shm__strerror(x->cfg->ring_name, err, msg, sizeof(msg)));
			return err;
		}
		log_debug("waiting for ring %s: %s", x->cfg->ring_name, strerror(-err));
		err = shm_reader__attach_wait(x->rd, 1000, x->o->stop);
		if (err == -EINTR)
			return -EINTR;
	}
}

int exporter__run(const struct exporter_opts *o)
{
	struct exporter x = { .o = o, .cfg = o->cfg };
	struct shm_reader_opts ro = { .sz = sizeof(ro),
				      .name = o->cfg->ring_name,
				      .start = RING_START_OLDEST,
				      .restart = RING_START_OLDEST,
				      .kind = SHM_KIND_EXPORT };
	size_t i;
	uint64_t ring_id, now;
	int err, n;

	if (!o->cfg->nr_dests) {
		log_error("no destination configured");
		return -EINVAL;
	}
	err = http__global_init();
	if (err)
		return err;
	err = shm_reader__new(&x.rd, &ro);
	if (err)
		return err;
	err = attach(&x);
	if (err)
		goto cleanup;
	ring_id = ring_identity(o->cfg->ring_name);
	x.d = calloc(o->cfg->nr_dests, sizeof(*x.d));
	if (!x.d) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (i = 0; i < o->cfg->nr_dests; i++) {
		x.nr = i + 1;
		err = dest_init(&x, &x.d[i], &o->cfg->dests[i], i, ring_id);
		if (err)
			goto cleanup;
		log_info("destination %s: %s", x.d[i].name, x.d[i].url);
	}
	if (o->cfg->exporter.metrics_listen && *o->cfg->exporter.metrics_listen) {
		err = metrics_start(&x, o->cfg->exporter.metrics_listen);
		if (err) {
			log_error("metrics listen %s: %s", o->cfg->exporter.metrics_listen,
				  strerror(-err));
			goto cleanup;
		}
	}
	while (!*o->stop) {
		n = drain(&x);
		if (n < 0) {
			err = n;
			log_error("reading the ring: %s", strerror(-err));
			break;
		}
		now = mono_ns();
		for (i = 0; i < x.nr; i++)
			if (x.d[i].batch_open &&
			    (o->once ||
			     now - x.d[i].batch_start_ns >= o->cfg->exporter.batch_timeout_ns))
				cut_batch(&x.d[i]);
		publish_stats(&x);
		if (o->once && n == 0)
			break;
		err = shm_reader__wait(x.rd, o->once ? 0 : 200);
		if (err == -ESTALE) {
			/* The producer replaced the segment: attach to the new one. */
			log_warn("ring %s was replaced, reattaching", o->cfg->ring_name);
			x.slot_stats = NULL; /* unmapped with the old segment */
			err = attach(&x);
			if (err)
				break;
			ring_id = ring_identity(o->cfg->ring_name);
			for (i = 0; i < x.nr; i++)
				x.d[i].ring_id = ring_id;
		}
		err = 0;
	}
	for (i = 0; i < x.nr; i++)
		cut_batch(&x.d[i]);
cleanup:
	for (i = 0; i < x.nr; i++) {
		pthread_mutex_lock(&x.d[i].lock);
		if (*o->stop)
			atomic_store(&x.d[i].stopping, true);
		x.d[i].finishing = true;
		pthread_cond_broadcast(&x.d[i].cond);
		pthread_mutex_unlock(&x.d[i].lock);
	}
	for (i = 0; i < x.nr; i++)
		dest_fini(&x.d[i]);
	/* The workers are done: the slot shows the final totals until it is freed. */
	publish_stats(&x);
	if (x.mhd)
		MHD_stop_daemon(x.mhd);
	if (x.d)
		summary(&x);
	free(x.d);
	shm_reader__free(x.rd);
	return err;
}
