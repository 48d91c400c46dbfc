/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the exporter's files share: a destination (its worker, queue, spool and counters) and
 * the exporter (the ring reader and every destination). exporter.c reads the ring and cuts
 * batches, deliver.c sends them (retries, spool, files), dest.c sets destinations up and
 * tears them down, metrics.c shows their counters.
 */
#ifndef KILN_EXPORTER_INTERNAL_H
#define KILN_EXPORTER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/config.h"
#include "exporter/batch.h"
#include "exporter/exporter.h"
#include "exporter/http.h"
#include "exporter/spool.h"
#include "otlp/otlp.h"
#include "shm/counters.h"
#include "shm/reader.h"

/* Statuses counted one by one; anything else is "other". */
#define NR_STATUS 12
extern const long exp_counted_status[NR_STATUS];
/* What each TLS cause means, for the error line. */
extern const char *const exp_tls_why[HTTP_NR_TLS];

/* Pyroscope's default ingestion window: profiles from an hour ago to ten minutes ahead. */
#define EXP_WINDOW_PAST_NS (3600ull * 1000000000ull)
#define EXP_WINDOW_FUTURE_NS (600ull * 1000000000ull)

/* Queue capacity factor of destinations sending one profile per request. */
#define EXP_SMALL_BATCHES 32

struct pending {
	uint64_t id; /* batch id */
	uint64_t first, last; /* whole records in it; first > last: only part of one */
	bool has_part; /* it ends part way through record part_seq, at entry part_entry */
	uint32_t part_entry;
	uint64_t part_seq;
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
	uint64_t window_past_ns, window_future_ns; /* ingestion window; 0: no bound */
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
	/* And record part_seq (> durable) up to sample entry part_entry, when has_part. */
	bool durable_has_part;
	uint32_t durable_part_entry;
	uint64_t durable_part_seq;
	/* Restart: record resume_seq continues at entry resume_entry (have_resume). */
	bool have_resume;
	uint32_t resume_entry;
	uint64_t resume_seq;
	/* The open batch ends part way through a record (set when a request fills up). */
	bool batch_has_part;
	uint32_t batch_part_entry;
	uint64_t batch_part_seq;
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
	/* Outside the ingestion window, not sent; of those samples, the ones a file keeps. */
	_Atomic uint64_t m_expired_batches, m_expired_samples, m_expired_kept_samples;
	/* The encoder's cuts, copied by the main thread (the encoder is its own). */
	_Atomic uint64_t m_profiles_split, m_attrs_dropped;
	bool file_backup; /* another destination is a file: it keeps what this one cannot */
	bool logged_expired;
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
	_Atomic uint64_t *slot_stats_ext; /* and its further ones (SHM_SLOT_STATS_EXT) */
	/* The agent's counters as last read from the ring header, for /metrics (kiln_agent_*). */
	_Atomic uint64_t agent[KILN_C_NR];
	_Atomic bool agent_have[KILN_C_NR];
};

/* deliver.c */

/* Main thread: finishes D's open batch and queues it for the worker. Returns 0 or -errno. */
int exp_cut_batch(struct dest *d);
/* The worker thread of a destination (ARG: its struct dest). */
void *exp_worker(void *arg);
/* Counts one failed attempt with STATUS (0: transport). */
void exp_count_status(struct dest *d, long status);

/* dest.c */

/* Whether record SEQ was already delivered or spooled before a restart. */
bool exp_skipped(const struct dest *d, uint64_t seq);
/* Sets destination IDX up from C and starts its worker. Returns 0 or -errno (logged). */
int exp_dest_init(struct exporter *x, struct dest *d, const struct kiln_destination *c, size_t idx,
		  uint64_t ring_id);
/* Joins D's worker and frees what D holds. */
void exp_dest_fini(struct dest *d);

/* pprof_file.c */

/*
 * Writes the OTLP request BODY as a gzipped pprof file NAME in directory DIRFD (records of
 * every workload merged, the workload's name as each sample's comm label). Returns 0,
 * -ENODATA when it holds no sample, or -errno.
 */
int exp_write_pprof(int dirfd, const char *name, const uint8_t *body, size_t len);

/* metrics.c */

/* Serves /metrics on LISTEN (host:port). Returns 0 or -errno. */
int exp_metrics_start(struct exporter *x, const char *listen);
/* The exit summary, on stderr. */
void exp_summary(struct exporter *x);

#endif
