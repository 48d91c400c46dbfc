// SPDX-License-Identifier: Apache-2.0
/* Delivery: the worker of each destination, retries, the spool, file output. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "exporter/backoff.h"
#include "exporter/compress.h"
#include "exporter/internal.h"

const long exp_counted_status[NR_STATUS] = { 400, 401, 403, 404, 408, 413,
					     415, 429, 500, 502, 503, 504 };

static void write_cursor(struct dest *d)
{
	char line[64];
	int fd, n, dfd;

	if (!d->spool)
		return;
	dfd = spool__dirfd(d->spool);
	/* A record delivered in part: where it continues, so a restart does not resend it all. */
	if (d->durable_has_part)
		n = snprintf(line, sizeof(line), "%" PRIu64 " %" PRIu64 " %" PRIu64 " %u\n",
			     d->ring_id, d->durable, d->durable_part_seq, d->durable_part_entry);
	else
		n = snprintf(line, sizeof(line), "%" PRIu64 " %" PRIu64 "\n", d->ring_id,
			     d->durable);
	fd = openat(dfd, "cursor.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (write(fd, line, n) == n && fsync(fd) == 0)
		renameat(dfd, "cursor.tmp", dfd, "cursor");
	close(fd);
}

/* Lock held. Marks batch ID durable and advances the cursor. */
static void pending_done(struct dest *d, uint64_t id)
{
	uint64_t old = d->durable;
	bool old_part = d->durable_has_part;
	uint32_t old_entry = d->durable_part_entry;
	size_t i;

	for (i = 0; i < d->p_len; i++) {
		struct pending *p = &d->pend[(d->p_head + i) % d->p_cap];

		if (p->id == id && !p->done) {
			p->done = true;
			break;
		}
	}
	while (d->p_len && d->pend[d->p_head].done) {
		/* A batch holding only part of a record completes no record. */
		const struct pending *p = &d->pend[d->p_head];

		if (p->first <= p->last)
			d->durable = p->last;
		if (p->has_part) {
			d->durable_has_part = true;
			d->durable_part_seq = p->part_seq;
			d->durable_part_entry = p->part_entry;
		} else if (d->durable_has_part && d->durable >= d->durable_part_seq) {
			d->durable_has_part = false;
		}
		d->p_head = (d->p_head + 1) % d->p_cap;
		d->p_len--;
	}
	if (d->durable != old || d->durable_has_part != old_part ||
	    d->durable_part_entry != old_entry)
		write_cursor(d);
}

static int pending_add(struct dest *d, const struct batch *b)
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
	d->pend[(d->p_head + d->p_len++) % d->p_cap] = (struct pending){
		.id = b->id,
		.first = b->first_seq,
		.last = b->last_seq,
		.has_part = b->has_part,
		.part_entry = b->part_entry,
		.part_seq = b->part_seq,
	};
	return 0;
}

void exp_count_status(struct dest *d, long status)
{
	size_t i;

	for (i = 0; i < NR_STATUS && exp_counted_status[i] != status; i++)
		;
	if (!status)
		i = NR_STATUS + 1; /* transport */
	atomic_fetch_add_explicit(&d->m_status[i], 1, memory_order_relaxed);
}

/* What each TLS cause means, for the error line. */
const char *const exp_tls_why[HTTP_NR_TLS] = {
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
		  exp_tls_why[r->tls], r->message);
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
	pending_done(d, b->id);
}

static int no_dots(const struct dirent *e)
{
	return e->d_name[0] != '.';
}

/* Removes the oldest of our files past the destination's maxFiles / maxBytes (counted). */
static void rotate(struct dest *d)
{
	struct dirent **names = NULL;
	uint64_t total = 0;
	struct stat st;
	int n, i;

	/* Names sort by time, so the oldest go first. */
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
			}
		} else {
			free(names[i]);
			names[i] = NULL;
		}
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Makes the destination's directory again when it was removed while we ran. */
static int reopen_dir(struct dest *d)
{
	int nfd;

	if (d->out_handed)
		return -ENOENT;
	if (mkdir(d->url, 0755) < 0 && errno != EEXIST)
		return -errno;
	nfd = open(d->url, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (nfd < 0)
		return -errno;
	close(d->out_fd);
	d->out_fd = nfd;
	return 0;
}

/* Writes LEN bytes at BODY to file TMP in the destination's directory, fsynced. */
static int write_tmp(struct dest *d, const char *tmp, const uint8_t *body, size_t len)
{
	int fd, err = 0;

	fd = openat(d->out_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 && errno == ENOENT && !reopen_dir(d))
		fd = openat(d->out_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, body, len) != (ssize_t)len || fsync(fd) < 0)
		err = errno ? -errno : -EIO;
	close(fd);
	return err;
}

/*
 * Writes batch B as a file in the directory destination (OTLP, compressed as configured,
 * or pprof), then enforces the rotation bounds. All in the directory's descriptor: it may
 * have been handed over with no path to it. Sets *BYTES to the file's size.
 */
static int write_file(struct dest *d, const struct batch *b, uint64_t *bytes)
{
	enum kiln_compression c = d->kc->exporter.compression;
	const char *enc = compress__encoding(c);
	bool pprof = d->cfg->format && !strcmp(d->cfg->format, "pprof");
	char name[96], tmp[104];
	uint8_t *body = NULL;
	size_t len = 0;
	struct stat st;
	int err;

	if (d->out_fd < 0)
		return -EBADF;
	snprintf(name, sizeof(name), "kiln-%020" PRIu64 "-%06" PRIu64 "%s%s%s", wall_ns(),
		 d->next_id++, pprof ? ".pprof.gz" : ".pb", !pprof && enc ? "." : "",
		 pprof || !enc		? ""
		 : !strcmp(enc, "gzip") ? "gz"
					: "zst");
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	if (pprof) {
		if (faccessat(d->out_fd, ".", W_OK, AT_EACCESS) < 0 && errno == ENOENT)
			reopen_dir(d);
		err = exp_write_pprof(d->out_fd, tmp, b->body, b->len);
	} else {
		err = compress__run(c, b->body, b->len, &body, &len);
		if (!err)
			err = write_tmp(d, tmp, body, len);
		free(body);
	}
	if (!err && fstatat(d->out_fd, tmp, &st, 0) == 0)
		*bytes = (uint64_t)st.st_size;
	if (err || renameat(d->out_fd, tmp, d->out_fd, name) < 0) {
		err = err ? err : -errno;
		unlinkat(d->out_fd, tmp, 0);
		return err;
	}
	rotate(d);
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
	GAVE_UP,
	EXPIRED, /* outside the destination's ingestion window: not sent, counted */
};

/*
 * Whether B lies outside D's ingestion window now: its oldest profile starts before now -
 * past, or its newest ends after now + future. The receiver would refuse those profiles
 * (Pyroscope, -1 h / +10 min by default), so they are not sent: a file destination has
 * them, else they are counted as expired.
 */
static bool expired(struct dest *d, const struct batch *b)
{
	uint64_t lo, hi, now = wall_ns();

	if (!d->window_past_ns && !d->window_future_ns)
		return false;
	if (otlp_time_span(b->body, b->len, &lo, &hi))
		return false;
	return (d->window_past_ns && lo + d->window_past_ns < now) ||
	       (d->window_future_ns && hi > now + d->window_future_ns);
}

/* Counts B as expired, said once per run and destination. */
static void count_expired(struct dest *d, const struct batch *b)
{
	atomic_fetch_add(&d->m_expired_batches, 1);
	atomic_fetch_add(&d->m_expired_samples, b->samples);
	if (d->file_backup)
		atomic_fetch_add(&d->m_expired_kept_samples, b->samples);
	else
		atomic_fetch_add(&d->m_dropped_records, b->records);
	if (d->logged_expired)
		return;
	d->logged_expired = true;
	log_warn("%s: batch %" PRIu64 " (%" PRIu64 " samples) is outside the ingestion window "
		 "(-%" PRIu64 " s / +%" PRIu64 " s): not sent to %s; %s (counted: "
		 "kiln_export_expired_samples_total)",
		 d->name, b->id, b->samples, d->window_past_ns / 1000000000u,
		 d->window_future_ns / 1000000000u, d->url,
		 d->file_backup ? "the file destination keeps it" : "no file destination keeps it");
}

/* Whether the failed attempt R may be repeated. */
static bool retryable(const struct dest *d, const struct http_result *r)
{
	/* Pyroscope answers 500 for errors a resend repeats: final unless configured. */
	return r->outcome == HTTP_RETRY || (r->status == 500 && d->cfg->retry_500);
}

/* Logs a final refusal once per status: a misconfiguration would otherwise flood. */
static void refused(struct dest *d, const struct http_result *r)
{
	size_t i;

	for (i = 0; i < d->nr_logged && d->logged_status[i] != r->status; i++)
		;
	if (i < d->nr_logged)
		return;
	if (d->nr_logged < 16)
		d->logged_status[d->nr_logged++] = r->status;
	log_error("%s: HTTP %ld, batch refused and not retried: %s", d->name, r->status,
		  r->message);
}

/* POSTs the LEN bytes at BODY with retries. Lock not held. */
static enum deliver_result post(struct dest *d, const uint8_t *body, size_t len)
{
	enum kiln_compression c = d->kc->exporter.compression;
	struct http_result r;
	struct backoff bo;
	uint64_t wait;

	backoff__start(&bo, &d->kc->exporter.retry, mono_ns());
	for (;;) {
		if (http__post(d->http, body, len, compress__encoding(c), &r))
			return GAVE_UP;
		if (r.outcome == HTTP_OK) {
			/* The receiver says what it kept: resending would store that twice. */
			if (r.partial)
				log_warn("%s: receiver rejected %" PRId64 " profiles: %s", d->name,
					 r.rejected, r.message);
			atomic_fetch_add(&d->m_partial, r.partial);
			return DELIVERED;
		}
		exp_count_status(d, r.status);
		if (r.tls)
			tls_failed(d, &r);
		if (!retryable(d, &r)) {
			refused(d, &r);
			return REFUSED;
		}
		if (r.status)
			log_info("%s: HTTP %ld, will retry", d->name, r.status);
		else
			log_info("%s: transport: %s, will retry", d->name, r.message);
		if (atomic_load(&d->stopping) ||
		    !backoff__next(&bo, mono_ns(), r.retry_after_ns, &wait))
			return GAVE_UP;
		atomic_fetch_add(&d->m_retries, 1);
		log_debug("%s: retry in %.3f s", d->name, wait / 1e9);
		if (!wait_ns(d, wait))
			return GAVE_UP;
	}
}

/* Sends (or writes) B. Lock not held. */
static enum deliver_result deliver(struct dest *d, struct batch *b)
{
	enum kiln_compression c = d->kc->exporter.compression;
	enum deliver_result res = GAVE_UP;
	uint8_t *body = NULL;
	uint64_t bytes = 0;
	size_t len = 0;
	char err[256];

	if (log_get_level() >= LOG_LEVEL_DEBUG &&
	    otlp_validate(b->body, b->len, NULL, err, sizeof(err))) {
		log_error("%s: batch %" PRIu64 " fails validation: %s", d->name, b->id, err);
	}
	if (d->cfg->type == KILN_DEST_FILE) {
		int e = write_file(d, b, &bytes);

		if (e)
			log_error("%s: cannot write to %s: %s", d->name, d->url, strerror(-e));
		else
			res = DELIVERED;
		goto cleanup;
	}
	if (expired(d, b)) {
		count_expired(d, b);
		return EXPIRED;
	}
	/* Pyroscope accepts gzip only; zstd is for OTLP collectors and files. */
	if (compress__run(c, b->body, b->len, &body, &len))
		return GAVE_UP;
	bytes = len;
	res = post(d, body, len);
cleanup:
	if (res == DELIVERED) {
		atomic_fetch_add(&d->m_batches, 1);
		atomic_fetch_add(&d->m_samples, b->samples);
		atomic_fetch_add(&d->m_bytes, bytes);
		atomic_fetch_add(&d->m_raw_bytes, b->len);
	} else if (res == REFUSED) {
		atomic_fetch_add(&d->m_failed_batches, 1);
		atomic_fetch_add(&d->m_failed_samples, b->samples);
		atomic_fetch_add(&d->m_dropped_records, b->records);
	}
	free(body);
	return res;
}

void *exp_worker(void *arg)
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
				pending_done(d, b.id);
			}
		} else if (res == GAVE_UP) {
			spool_batch(d, &b);
		} else {
			pending_done(d, b.id);
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
			pending_done(d, o->id);
			batch__free_body(o);
			d->q_head = (d->q_head + 1) % d->q_cap;
			d->q_len--;
		}
	}
	d->queue[(d->q_head + d->q_len++) % d->q_cap] = *b;
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

int exp_cut_batch(struct dest *d)
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
	b.has_part = d->batch_has_part;
	b.part_seq = d->batch_part_seq;
	b.part_entry = d->batch_part_entry;
	d->batch_has_part = false;
	d->batch_open = false;
	pthread_mutex_lock(&d->lock);
	err = pending_add(d, &b);
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
		pending_done(d, b.id);
		pthread_mutex_unlock(&d->lock);
		return 0;
	}
	if (!b.samples) {
		/* Only empty windows: nothing to send, but their seqs are done. */
		pthread_mutex_lock(&d->lock);
		pending_done(d, b.id);
		pthread_mutex_unlock(&d->lock);
		batch__free_body(&b);
		return 0;
	}
	enqueue(d, &b);
	return 0;
}
