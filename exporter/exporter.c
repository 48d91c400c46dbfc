// SPDX-License-Identifier: Apache-2.0
/* The exporter's main thread: reads the ring, cuts batches per destination, publishes totals. */
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

#include <microhttpd.h>

#include "common/log.h"
#include "common/util.h"
#include "exporter/internal.h"

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
	uint64_t v[SHM_SLOT_STATS_ALL] = { 0 };
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
		v[SHM_EXP_EXPIRED] += atomic_load(&d->m_expired_samples);
		v[SHM_EXP_EXPIRED_KEPT] += atomic_load(&d->m_expired_kept_samples);
	}
	/* Relaxed: display values, each consistent on its own. */
	for (k = 0; k < SHM_SLOT_STATS; k++)
		atomic_store_explicit(&x->slot_stats[k], v[k], memory_order_relaxed);
	if (x->slot_stats_ext)
		for (k = 0; k < SHM_SLOT_STATS_EXT; k++)
			atomic_store_explicit(&x->slot_stats_ext[k], v[SHM_SLOT_STATS + k],
					      memory_order_relaxed);
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

/*
 * Adds REC to D's open batch. A request that fills up before all of REC is in it (bytes,
 * profiles per request) is cut and the rest of REC goes into the next: the cut batch then
 * claims only the records wholly in it, so the restart cursor never passes a record
 * whose tail is still on its way. Returns 0 or -errno.
 */
static int add_record(struct dest *d, const struct shm_record *rec)
{
	int err;

	if (!d->batch_open) {
		d->batch_open = true;
		d->batch_first = rec->seq;
		d->batch_start_ns = mono_ns();
	}
	if (d->have_resume && rec->seq == d->resume_seq) {
		/* A previous run delivered this record's first entries. */
		otlp_enc__skip_entries(d->enc, d->resume_entry);
		d->have_resume = false;
	}
	while ((err = otlp_enc__add(d->enc, &rec->v)) == -ENOSPC) {
		if (otlp_enc__pending(d->enc)) {
			d->batch_has_part = true;
			d->batch_part_seq = rec->seq;
			d->batch_part_entry = otlp_enc__resume_entry(d->enc);
		}
		if (d->batch_first == rec->seq) {
			/* Only part of REC: an empty range (first > last). */
			d->batch_first = rec->seq + 1;
			d->batch_last = rec->seq;
		} else {
			d->batch_last = rec->seq - 1;
		}
		err = exp_cut_batch(d);
		if (err)
			return err;
		d->batch_open = true;
		d->batch_first = rec->seq;
		d->batch_start_ns = mono_ns();
	}
	d->batch_last = rec->seq;
	return err;
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

			if (exp_skipped(d, rec.seq))
				continue;
			err = add_record(d, &rec);
			if (err)
				return err;
			if (otlp_enc__size(d->enc) >= x->cfg->exporter.batch_max_bytes) {
				err = exp_cut_batch(d);
				if (err)
					return err;
			}
		}
	}
	for (i = 0; i < x->nr; i++) {
		struct otlp_enc_stats es;

		otlp_enc__stats(x->d[i].enc, &es);
		atomic_store(&x->d[i].m_profiles_split, es.profiles_split);
		atomic_store(&x->d[i].m_attrs_dropped, es.attrs_dropped);
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
			x->slot_stats_ext = shm_reader__slot_stats_ext(x->rd);
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
		err = exp_dest_init(&x, &x.d[i], &o->cfg->dests[i], i, ring_id);
		if (err)
			goto cleanup;
		log_info("destination %s: %s", x.d[i].name, x.d[i].url);
	}
	if (o->cfg->exporter.metrics_listen && *o->cfg->exporter.metrics_listen) {
		err = exp_metrics_start(&x, o->cfg->exporter.metrics_listen);
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
				exp_cut_batch(&x.d[i]);
		publish_stats(&x);
		if (o->once && n == 0)
			break;
		err = shm_reader__wait(x.rd, o->once ? 0 : 200);
		if (err == -ESTALE) {
			/* The producer replaced the segment: attach to the new one. */
			log_warn("ring %s was replaced, reattaching", o->cfg->ring_name);
			x.slot_stats = NULL; /* unmapped with the old segment */
			x.slot_stats_ext = NULL;
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
		exp_cut_batch(&x.d[i]);
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
		exp_dest_fini(&x.d[i]);
	/* The workers are done: the slot shows the final totals until it is freed. */
	publish_stats(&x);
	if (x.mhd)
		MHD_stop_daemon(x.mhd);
	if (x.d)
		exp_summary(&x);
	free(x.d);
	shm_reader__free(x.rd);
	return err;
}
