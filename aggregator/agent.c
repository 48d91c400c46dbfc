// SPDX-License-Identifier: Apache-2.0
#include "aggregator/agent.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "aggregator/features.h"
#include "aggregator/identity.h"
#include "aggregator/loop.h"
#include "aggregator/mmapwatch.h"
#include "aggregator/pyprocs.h"
#include "aggregator/sampler.h"
#include "aggregator/unwinder.h"
#include "aggregator/sources.h"
#include "common/log.h"
#include "common/util.h"
#include "profile/profile.h"
#include "profile/wrec.h"
#include "shm/counters.h"
#include "shm/shm.h"
#include "symbolize/debuginfod.h"
#include "symbolize/htab.h"
#include "symbolize/symbolize.h"

/*
 * Counters the agent publishes in the ring header for `kiln status`: every counter of
 * common/counters.def (the BPF program's first, so AC_<ID> == KILN_M_<ID> for those).
 */
enum agent_counter {
#define KILN_COUNTER(src, id, name, type, group, problem, help) AC_##id = KILN_C_##id,
#include "common/counters.def"
	AC_NR = KILN_C_NR,
};

/* A workload seen by the agent; its profile is rebuilt every window. */
struct workload {
	char *field[WREC_ID_NR]; /* owned identity strings, NULL when unknown */
	uint64_t cgroup_id;
	uint64_t hash;
	struct profile *prof; /* this window's samples, NULL when none yet */
};

/* Scheduling priority of the agent (see agent__run). */
#define AGENT_NICE -10

/* Bounds on the identity caches: past them they are dropped and rebuilt. */
#define MAX_WORKLOADS 8192
#define MAX_TGIDS 65536

struct agent {
	struct agent_opts opts;
	const struct kiln_config *cfg; /* the caller's, until a reload replaces it */
	struct kiln_config *owned_cfg; /* a reloaded config, owned */
	struct sampler *sampler;
	struct symbolizer *sym;
	struct dbgfetch *dbg; /* NULL unless debuginfod URLs are configured */
	struct mmapwatch *mw; /* NULL when the kernel refused: /proc only */
	struct shm_producer *shm;
	struct ring_producer *ring;
	uint64_t max_record;
	struct identity_resolver *ids;
	struct sources *src;
	struct sources_filter filt;

	struct workload *wl;
	size_t nr_wl, wl_cap;
	struct htab wl_idx; /* key hash -> workload index */
	struct htab tgid_idx; /* tgid -> workload index */
	size_t nr_tgids;

	struct sym_frame *frames;
	char host[256];
	_Atomic uint64_t *counter[AC_NR];
	uint64_t local[AC_NR]; /* used when the header has no room for a counter */
	uint64_t start_mono;
};

static void counter_set(struct agent *a, enum agent_counter c, uint64_t v)
{
	a->local[c] = v;
	if (a->counter[c])
		atomic_store_explicit(a->counter[c], v, memory_order_relaxed);
}

static void counter_add(struct agent *a, enum agent_counter c, uint64_t v)
{
	counter_set(a, c, a->local[c] + v);
}

static void workload_release(struct workload *w)
{
	int f;

	for (f = 0; f < WREC_ID_NR; f++)
		free(w->field[f]);
	profile__free(w->prof);
	memset(w, 0, sizeof(*w));
}

static void forget_workloads(struct agent *a)
{
	size_t i;

	for (i = 0; i < a->nr_wl; i++)
		workload_release(&a->wl[i]);
	a->nr_wl = 0;
	htab__release(&a->wl_idx);
	htab__release(&a->tgid_idx);
	a->nr_tgids = 0;
}

static bool wl_eq(uint64_t val, const void *key, void *ctx)
{
	const struct agent *a = ctx;

	return !strcmp(a->wl[val].field[WREC_ID_KEY], key);
}

static bool tgid_eq(uint64_t val, const void *key, void *ctx)
{
	(void)val;
	(void)key;
	(void)ctx;
	/* The hash is the tgid itself: equal hashes are equal keys. */
	return true;
}

/*
 * The identity of process TGID from the resolver, copied (the resolver's strings live only
 * until its next sweep). A process already gone and never resolved is named after the cgroup
 * it ran in (*CGID) when that still exists, else after its comm.
 */
static int resolve_identity(struct agent *a, uint32_t tgid, const char *comm,
			    char *fields[WREC_ID_NR], uint64_t *cgid)
{
	struct workload_id *id;
	char key[64];
	int err, f;

	err = identity_resolver__of_pid(a->ids, tgid, &id);
	/*
	 * Gone before it was resolved (a process of a build or a job lives milliseconds): the
	 * cgroup BPF recorded with its samples still names its unit, container or pod.
	 */
	if ((err == -ESRCH || err == -ENOENT) && *cgid) {
		err = identity_resolver__of_cgroup(a->ids, *cgid, comm, &id);
		if (!err)
			counter_add(a, AC_IDS_BY_CGROUP, 1);
		else
			err = -ESRCH;
	}
	if (err == -ESRCH || err == -ENOENT) {
		counter_add(a, AC_IDS_BY_COMM, 1);
		snprintf(key, sizeof(key), "exe/%s", comm);
		fields[WREC_ID_KEY] = strdup(key);
		fields[WREC_ID_NAME] = strdup(comm);
		fields[WREC_ID_KIND] = strdup("process");
		fields[WREC_ID_EXE_NAME] = strdup(comm);
		fields[WREC_ID_HOST] = strdup(a->host);
		return fields[WREC_ID_KEY] && fields[WREC_ID_NAME] ? 0 : -ENOMEM;
	}
	if (err)
		return err;
	for (f = 0; f < WREC_ID_NR; f++) {
		if (!id->wrec.field[f] || !id->wrec.field[f][0])
			continue;
		fields[f] = strdup(id->wrec.field[f]);
		if (!fields[f])
			return -ENOMEM;
	}
	*cgid = id->cgroup_id;
	return fields[WREC_ID_KEY] ? 0 : -EINVAL;
}

/* Index of TGID's workload, resolving and caching it on first sight. Returns >= 0 or -errno. */
static ssize_t workload_of(struct agent *a, uint32_t tgid, uint64_t cgid, const char *comm)
{
	char *fields[WREC_ID_NR] = { 0 };
	struct workload *w;
	uint64_t idx, hash;
	void *grown;
	int err, f;

	if (htab__find(&a->tgid_idx, tgid, tgid_eq, NULL, a, &idx))
		return (ssize_t)idx;
	if (a->nr_tgids >= MAX_TGIDS || a->nr_wl >= MAX_WORKLOADS) {
		/* Only between windows would be cleaner; nothing refers to them across calls. */
		log_info("identity caches full (%zu processes, %zu workloads): rebuilding",
			 a->nr_tgids, a->nr_wl);
		return -EAGAIN;
	}
	err = resolve_identity(a, tgid, comm, fields, &cgid);
	if (err)
		goto cleanup;
	hash = htab_hash_bytes(fields[WREC_ID_KEY], strlen(fields[WREC_ID_KEY]), 0);
	if (!htab__find(&a->wl_idx, hash, wl_eq, fields[WREC_ID_KEY], a, &idx)) {
		if (a->nr_wl == a->wl_cap) {
			grown = realloc(a->wl, (a->wl_cap ? a->wl_cap * 2 : 16) * sizeof(*a->wl));
			if (!grown) {
				err = -ENOMEM;
				goto cleanup;
			}
			a->wl = grown;
			a->wl_cap = a->wl_cap ? a->wl_cap * 2 : 16;
		}
		idx = a->nr_wl;
		w = &a->wl[idx];
		memset(w, 0, sizeof(*w));
		memcpy(w->field, fields, sizeof(fields));
		memset(fields, 0, sizeof(fields));
		w->cgroup_id = cgid;
		w->hash = hash;
		err = htab__insert(&a->wl_idx, hash, idx);
		if (err) {
			workload_release(w);
			goto cleanup;
		}
		a->nr_wl++;
		counter_set(a, AC_WORKLOADS, a->nr_wl);
	}
	err = htab__insert(&a->tgid_idx, tgid, idx);
	if (err)
		goto cleanup;
	a->nr_tgids++;
cleanup:
	for (f = 0; f < WREC_ID_NR; f++)
		free(fields[f]);
	return err ? err : (ssize_t)idx;
}

/* Writes workload W's window into the ring, in place. */
static void emit(struct agent *a, struct workload *w, const struct kiln_window *win)
{
	struct wrec_identity id = { .cgroup_id = w->cgroup_id };
	struct wrec_window ww = {
		.seq = win->seq,
		.start_ns = win->start_ns,
		.duration_ns = win->duration_ns,
		.period_ns = win->period_ns,
	};
	ssize_t n;
	size_t size;
	void *buf;
	int f;

	for (f = 0; f < WREC_ID_NR; f++)
		id.field[f] = w->field[f];
	profile__set_time(w->prof, win->start_ns, win->duration_ns);
	size = wrec__size(w->prof, &id);
	if (!size || size > a->max_record) {
		/* Counted and logged: a window this large means the maps are oversized too. */
		log_warn("window record for %s too large (%zu bytes); dropped",
			 w->field[WREC_ID_KEY], size);
		counter_add(a, AC_REC_TOO_BIG, 1);
		return;
	}
	buf = ring_producer__reserve(a->ring, (uint32_t)size);
	if (!buf) {
		counter_add(a, AC_REC_FAILED, 1);
		return;
	}
	n = wrec__encode(w->prof, &id, &ww, buf, size);
	if (n < 0) {
		ring_producer__discard(a->ring);
		counter_add(a, AC_REC_FAILED, 1);
		return;
	}
	if (ring_producer__commit(a->ring, RING_TYPE_WINDOW, 0)) {
		counter_add(a, AC_REC_FAILED, 1);
		return;
	}
	counter_add(a, AC_RECORDS, 1);
	counter_add(a, AC_RECORD_BYTES, (uint64_t)n);
	counter_add(a, AC_SAMPLES, profile__total(w->prof));
}

/* The Python walk's, detection's and naming's counters (the PY_ group of counters.def). */
static void publish_python(struct agent *a, const struct symbolizer_stats *ss)
{
	uint64_t m[KILN_PY_C_NR];
	struct pyprocs_stats ps;
	int k;

	counter_set(a, AC_PY_NAMED, ss->py_frames);
	counter_set(a, AC_PY_UNNAMED, ss->py_unnamed);
	counter_set(a, AC_PY_INEXACT, ss->py_inexact);
	if (sampler__pyprocs(a->sampler)) {
		pyprocs__stats(sampler__pyprocs(a->sampler), &ps);
		counter_set(a, AC_PY_PROCS, ps.processes);
		counter_set(a, AC_PY_ANNOUNCED, ps.announced);
		counter_set(a, AC_PY_MAP_ERRORS, ps.map_errors);
		counter_set(a, AC_PY_FORKS, ps.forks);
		counter_set(a, AC_PY_DETECTED, ps.py.detect_ok);
		counter_set(a, AC_PY_NOT_PYTHON, ps.py.detect_not_python);
		counter_set(a, AC_PY_REFUSED_VERSION, ps.py.refused_version);
		counter_set(a, AC_PY_REFUSED_FT, ps.py.refused_freethreaded);
		counter_set(a, AC_PY_DETECT_ERRORS, ps.py.detect_errors);
		counter_set(a, AC_PY_SYM_OK, ps.py.sym_ok);
		counter_set(a, AC_PY_SYM_CACHED, ps.py.sym_cache_hits);
		counter_set(a, AC_PY_SYM_FAULT, ps.py.sym_read_fault);
		counter_set(a, AC_PY_SYM_AFTER_EXIT, ps.py.sym_after_exit);
		counter_set(a, AC_PY_SYM_BAD_TYPE, ps.py.sym_bad_type);
		counter_set(a, AC_PY_SYM_BAD_STRING, ps.py.sym_bad_string);
		counter_set(a, AC_PY_SYM_LINETABLE, ps.py.sym_linetable_err);
		counter_set(a, AC_PY_SYM_NO_LINE, ps.py.sym_no_line);
	}
	if (sampler__py_metrics(a->sampler, m))
		return;
	/* enum kiln_py_counter's order is PY_WALKS .. PY_READS in counters.def */
	for (k = 0; k < KILN_PY_C_NR; k++)
		counter_set(a, (enum agent_counter)(AC_PY_WALKS + k), m[k]);
}

static void publish_debuginfod(struct agent *a, const struct symbolizer_stats *ss)
{
	struct dbgfetch_stats ds;

	if (!a->dbg)
		return;
	dbgfetch__stats(a->dbg, &ds);
	counter_set(a, AC_DI_REQUESTS, ds.requests);
	counter_set(a, AC_DI_FETCHED, ds.fetched);
	counter_set(a, AC_DI_CACHE_HITS, ds.cache_hits);
	counter_set(a, AC_DI_NOT_FOUND, ds.not_found);
	counter_set(a, AC_DI_TIMEOUTS, ds.timeouts);
	counter_set(a, AC_DI_CONN_ERRORS, ds.conn_errors);
	counter_set(a, AC_DI_INVALID, ds.invalid);
	counter_set(a, AC_DI_ERRORS, ds.errors);
	counter_set(a, AC_DI_QUEUE_FULL, ds.queue_full);
	counter_set(a, AC_DI_RETRY_WAITS, ds.retry_waits);
	counter_set(a, AC_DI_BYTES, ds.bytes);
	counter_set(a, AC_DI_EVICTED, ds.evicted);
	counter_set(a, AC_DI_CACHE_BYTES, ds.cache_bytes);
	counter_set(a, AC_DI_PENDING, ds.pending);
	counter_set(a, AC_DI_RELOADS, ss->debuginfo_reloads);
}

/*
 * Debug files by build id, when URLs are configured (or DEBUGINFOD_URLS is set): the
 * fetches run on their own threads; the symbolizer only asks and collects. A failure to
 * start is logged and the agent runs without it.
 */
static void start_debuginfod(struct agent *a, const struct kiln_config *cfg)
{
	struct dbgfetch_opts o = {
		.urls = cfg->debuginfod.urls,
		.cache_dir = cfg->debuginfod.cache_dir,
		.cache_max_bytes = cfg->debuginfod.cache_max_bytes,
		.cache_max_age_s = cfg->debuginfod.cache_max_age_ns / 1000000000ull,
		.timeout_ms = cfg->debuginfod.timeout_ns / 1000000ull,
		.retry_s = cfg->debuginfod.retry_ns / 1000000000ull,
		.concurrency = (unsigned int)cfg->debuginfod.concurrency,
	};
	int err = dbgfetch__new(&o, &a->dbg);

	if (err == -ENODATA)
		return;
	if (err) {
		log_warn("debuginfod: not started (%s, cache %s): stripped binaries stay unnamed",
			 strerror(-err), o.cache_dir ? o.cache_dir : "none");
		return;
	}
	log_info("debuginfod: fetching debug files of stripped binaries by build id (cache %s)",
		 o.cache_dir);
	symbolizer__set_debuginfod(a->sym, a->dbg);
}

static void publish_metrics(struct agent *a)
{
	struct symbolizer_stats ss;
	uint64_t m[KILN_M_NR];
	int k;

	/* Once per window: kiln status tells a stuck agent from an idle one by its age. */
	shm_producer__heartbeat(a->shm);
	symbolizer__stats(a->sym, &ss);
	counter_set(a, AC_SYM_BYTES, ss.cache_bytes);
	counter_set(a, AC_SYM_ELFS, ss.elf_entries);
	counter_set(a, AC_SYM_PROCS, ss.processes);
	counter_set(a, AC_SYM_DENIED, ss.files_denied);
	counter_set(a, AC_MAPPINGS, ss.mappings_added);
	if (a->mw) {
		struct mmapwatch_stats ms;

		mmapwatch__stats(a->mw, &ms);
		counter_set(a, AC_MMAP_RECORDS, ms.records);
		counter_set(a, AC_MMAP_LOST, ms.lost);
		counter_set(a, AC_MMAP_BAD, ms.bad);
	}
	if (sampler__unwinder(a->sampler)) {
		struct unwinder_stats us;

		unwinder__stats(sampler__unwinder(a->sampler), &us);
		counter_set(a, AC_UW_TABLES, us.tables);
		counter_set(a, AC_UW_TABLE_BYTES, us.table_bytes);
		counter_set(a, AC_UW_PROCS, us.processes);
		counter_set(a, AC_UW_BUILDS, us.builds);
		counter_set(a, AC_UW_NO_EH_FRAME, us.no_eh_frame);
		counter_set(a, AC_UW_ERRORS, us.build_errors + us.load_errors);
		counter_set(a, AC_UW_SWEPT, us.swept);
	}
	publish_python(a, &ss);
	publish_debuginfod(a, &ss);

	if (sampler__metrics(a->sampler, m))
		return;
	for (k = 0; k < KILN_M_NR; k++)
		counter_set(a, (enum agent_counter)k, m[k]);
	counter_set(a, AC_MISSED, sampler__missed(a->sampler));
	counter_set(a, AC_STACKS, sampler__stacks_total(a->sampler));
}

_Static_assert(AC_PY_READS - AC_PY_WALKS + 1 == KILN_PY_C_NR &&
		       AC_PY_TRUNCATED - AC_PY_WALKS == KILN_PY_C_TRUNCATED,
	       "counters.def: the PY_ walk counters in enum kiln_py_counter's order");

/*
 * At density (thousands of processes, each sampled about once a window) naming a stack
 * mostly waits on memory: the process, its mappings and its user stack are cold, and each
 * load depends on the one before. So the samples ahead are started early, one dependent
 * step each: sample I+3's process slot, I+2's process, I+1's mappings and user stack.
 */
static void prefetch_ahead(struct agent *a, const struct kiln_window *win, size_t i)
{
	const struct kiln_raw_sample *next;
	unsigned int k, line;

	for (k = 3; k >= 1; k--)
		if (i + k < win->nr_samples)
			symbolizer__prefetch(a->sym, win->samples[i + k].tgid, 3 - k);
	if (i + 1 >= win->nr_samples)
		return;
	next = &win->samples[i + 1];
	for (line = 0; line * 8 < next->nr_uframes && line < 4; line++)
		__builtin_prefetch(next->uframes + line * 8);
}

static int on_window(const struct kiln_window *win, void *ctx)
{
	struct agent *a = ctx;
	struct workload *w;
	size_t i, j, n;
	ssize_t wi;
	int err;

	/* Every mapping made before the samples were drained is known before they are named. */
	if (a->mw) {
		err = mmapwatch__apply(a->mw, a->sym);
		if (err < 0)
			return err;
	}
	for (i = 0; i < win->nr_samples; i++) {
		const struct kiln_raw_sample *s = &win->samples[i];

		/*
		 * Symbolizing a busy window takes a while; a process that exec'd meanwhile may
		 * live only milliseconds, so its events are read between samples too. Only the
		 * next window's overflow samples can arrive here, never this window's.
		 */
		if ((i & 127) == 127) {
			sampler__poll_events(a->sampler);
			/* Likewise the mapping events, whose rings must not fill meanwhile. */
			if (a->mw && mmapwatch__apply(a->mw, a->sym) < 0)
				log_debug("reading mapping events failed");
		}
		prefetch_ahead(a, win, i);
		wi = workload_of(a, s->tgid, s->cgroup_id, s->comm);
		if (wi == -EAGAIN) {
			/* Emit what this window has so far, then start the caches over. */
			for (j = 0; j < a->nr_wl; j++)
				if (a->wl[j].prof)
					emit(a, &a->wl[j], win);
			forget_workloads(a);
			wi = workload_of(a, s->tgid, s->cgroup_id, s->comm);
		}
		if (wi < 0)
			return (int)wi;
		w = &a->wl[wi];
		if (!w->prof) {
			w->prof = profile__new(win->period_ns);
			if (!w->prof)
				return -ENOMEM;
			/* The frames' strings are the symbolizer's: immutable until it is freed. */
			profile__trust_frame_strings(w->prof);
		}
		n = symbolizer__stack_py(a->sym, s->tgid, s->kframes, s->nr_kframes, s->uframes,
					 s->nr_uframes, s->nr_pywords, a->frames);
		err = profile__add(w->prof, a->frames, n, s->comm, s->tgid, s->pid, s->count);
		if (err)
			return err;
	}
	for (i = 0; i < a->nr_wl; i++) {
		w = &a->wl[i];
		if (!w->prof)
			continue;
		emit(a, w, win);
		profile__free(w->prof);
		w->prof = NULL;
	}
	/* One wake-up per window for every sleeping consumer, not one per record. */
	ring_producer__flush(a->ring);
	symbolizer__sweep(a->sym);
	/* No identity pointer is held across windows (the agent copies what it keeps). */
	identity_resolver__sweep(a->ids);
	counter_add(a, AC_WINDOWS, 1);
	publish_metrics(a);
	return 0;
}

/* Programs what a->filt collected into the in-kernel filter, then empties it. */
static void apply_filter(struct agent *a)
{
	size_t i;
	int err;

	for (i = 0; i < a->filt.nr_cgroups; i++) {
		err = sampler__select_cgroup(a->sampler, a->filt.cgroups[i]);
		if (err)
			log_warn("selecting cgroup %llu: %s",
				 (unsigned long long)a->filt.cgroups[i], strerror(-err));
	}
	for (i = 0; i < a->filt.nr_tgids; i++) {
		err = sampler__select_tgid(a->sampler, a->filt.tgids[i]);
		if (err)
			log_warn("selecting pid %u: %s", a->filt.tgids[i], strerror(-err));
	}
	sources_filter__reset(&a->filt);
}

/*
 * Replaces the selection with CFG's sources: the in-kernel filter is rebuilt from one scan
 * of /proc. Selectors that match nothing are warned about. Returns 0 or -errno (the old
 * selection stays).
 */
static int setup_sources(struct agent *a, const struct kiln_config *cfg)
{
	struct sources *src;
	char msg[512];
	size_t i;
	int err;

	src = a->opts.nr_pids ? sources__new_pids(a->opts.pids, a->opts.nr_pids)
			      : sources__new(cfg->sources, cfg->nr_sources);
	if (!src)
		return -errno;
	sources__free(a->src);
	a->src = src;
	sources_filter__reset(&a->filt);
	err = sampler__reset_selection(a->sampler);
	if (err || sources__empty(src))
		return err;
	/* Nothing matches yet means nothing is sampled, not the whole host. */
	sampler__filter_on(a->sampler);
	err = sources__scan(src, a->ids, &a->filt);
	if (err)
		return err;
	apply_filter(a);
	for (i = 0; i < sources__count(src); i++)
		if (sources__unmatched(src, i, msg, sizeof(msg)))
			log_warn("%s", msg);
	return 0;
}

static void forget_tgid(struct agent *a, uint32_t tgid)
{
	uint64_t idx;

	if (htab__find(&a->tgid_idx, tgid, tgid_eq, NULL, a, &idx) &&
	    htab__remove(&a->tgid_idx, tgid, idx))
		a->nr_tgids--;
}

static void on_proc(const struct kiln_ev_proc *ev, void *ctx)
{
	struct agent *a = ctx;

	log_debug("process event %u: tgid %u comm %s, %.1f ms after it happened", ev->type,
		  ev->tgid, ev->comm, (double)(mono_ns() - ev->time_ns) / 1e6);
	switch (ev->type) {
	case KILN_EV_EXEC:
		/*
		 * Only invalidate here: every exec on the host arrives, sampled or not. The
		 * first sample after it (KILN_EV_SEEN, re-armed by the exec) captures and names
		 * the process while it runs.
		 */
		symbolizer__process_exec(a->sym, ev->tgid);
		/* A new image may be another workload (executable-named) or newly selected. */
		forget_tgid(a, ev->tgid);
		if (!sources__empty(a->src) &&
		    sources__eval_pid(a->src, a->ids, ev->tgid, &a->filt) >= 0)
			apply_filter(a);
		break;
	case KILN_EV_SEEN:
	case KILN_EV_FORK:
		/* Read what is needed to symbolize and name it now: it may be gone by the tick. */
		symbolizer__capture(a->sym, ev->tgid);
		workload_of(a, ev->tgid, ev->cgroup_id, ev->comm);
		break;
	case KILN_EV_EXIT:
		symbolizer__process_exit(a->sym, ev->tgid);
		sources__forget_tgid(a->src, ev->tgid);
		break;
	default:
		break;
	}
}

static int on_watch(void *ctx)
{
	struct agent *a = ctx;
	int n = mmapwatch__apply(a->mw, a->sym);

	return n < 0 ? n : 0;
}

static void on_hup(void *ctx)
{
	struct agent *a = ctx;
	struct kiln_config *next = NULL;
	char err[512];
	int rc;

	if (!a->opts.config_path) {
		log_info("SIGHUP: no config file to reload");
		return;
	}
	rc = kiln_config__load(a->opts.config_path, &next, err, sizeof(err));
	if (rc) {
		/* Keep running on the old config: a typo must not stop profiling. */
		log_error("config reload failed, keeping the running config: %s", err);
		counter_add(a, AC_RELOAD_ERRORS, 1);
		return;
	}
	if (next->sampling_hz != a->cfg->sampling_hz || next->window_ns != a->cfg->window_ns ||
	    next->unwind_fp != a->cfg->unwind_fp)
		log_warn(
			"config reload: samplingFrequency / windowSeconds / unwind changes take effect at "
			"the next restart");
	rc = setup_sources(a, next);
	if (rc) {
		log_error("config reload: applying the sources failed (%s); keeping the running "
			  "config",
			  strerror(-rc));
		kiln_config__free(next);
		counter_add(a, AC_RELOAD_ERRORS, 1);
		return;
	}
	kiln_config__free(a->owned_cfg);
	a->owned_cfg = next;
	a->cfg = next;
	counter_add(a, AC_RELOADS, 1);
	log_info("config reloaded from %s", a->opts.config_path);
}

int agent__new(struct agent **out, const struct kiln_config *cfg, const struct agent_opts *opts)
{
	struct sampler_opts so = { .sz = sizeof(so) };
	struct symbolizer_opts symo = { .sz = sizeof(symo) };
	struct identity_opts ido = { .sz = sizeof(ido) };
	struct shm_producer_opts po = { 0 };
	struct agent *a;
	char msg[512];
	int err, i;

	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	memcpy(&a->opts, opts, opts->sz < sizeof(a->opts) ? opts->sz : sizeof(a->opts));
	a->cfg = cfg;
	if (gethostname(a->host, sizeof(a->host) - 1))
		snprintf(a->host, sizeof(a->host), "localhost");

	so.freq_hz = cfg->sampling_hz;
	so.no_unwind = cfg->unwind_fp;
	so.count_map_entries = a->opts.count_map_entries;
	so.stack_map_entries = a->opts.stack_map_entries;
	so.window_ms = (uint32_t)(cfg->window_ns / 1000000);
	a->sampler = sampler__new(&so);
	if (!a->sampler) {
		err = -errno;
		if (err == -EACCES && geteuid() == 0)
			log_error("loading the BPF sampler failed: the kernel's verifier refused a "
				  "program (%s; -v shows the verifier log, docs/deployment.md the "
				  "kernels kiln runs on)",
				  strerror(-err));
		else if (err == -EPERM || err == -EACCES)
			log_error("loading the BPF sampler was refused (%s): kiln agent needs "
				  "root, or "
				  "CAP_BPF, CAP_PERFMON and CAP_SYS_PTRACE (to read other "
				  "processes)",
				  strerror(-err));
		else if (!features__refused()) /* else it said what is missing */
			log_error("loading the BPF sampler failed: %s (-v shows the verifier log)",
				  strerror(-err));
		goto cleanup;
	}
	sampler__set_proc_fn(a->sampler, on_proc, a);

	ido.proc_root = a->opts.proc_root;
	ido.cgroup_root = a->opts.cgroup_root;
	ido.pod_log_root = a->opts.pod_log_root;
	ido.host_name = a->host;
	a->ids = identity_resolver__new(&ido);
	if (!a->ids) {
		err = -errno;
		log_error("workload identity: %s", strerror(-err));
		goto cleanup;
	}
	err = setup_sources(a, cfg);
	if (err) {
		log_error("applying the sources: %s", strerror(-err));
		goto cleanup;
	}

	symo.proc_root = a->opts.proc_root;
	symo.cache_bytes = cfg->symbol_cache_bytes;
	a->sym = symbolizer__new(&symo);
	a->frames = calloc(2 * KILN_MAX_FRAMES, sizeof(*a->frames));
	if (!a->sym || !a->frames) {
		err = -ENOMEM;
		goto cleanup;
	}
	symbolizer__set_python(a->sym, sampler__python, a->sampler);
	start_debuginfod(a, cfg);
	err = mmapwatch__new(&a->mw, NULL);
	if (err) {
		/* Still works, as before: mappings read from /proc at a process's first sample. */
		log_warn("mapping events unavailable (%s): short-lived processes may go "
			 "unsymbolized",
			 strerror(-err));
		a->mw = NULL;
	} else {
		/* Libraries mapped after a process's start get their unwind tables at once. */
		mmapwatch__set_observer(a->mw, sampler__mapped, sampler__flush_mapped, a->sampler);
	}

	po.name = cfg->ring_name;
	po.size = cfg->ring_size;
	po.gid = a->opts.ring_gid;
	err = shm_producer__new(&a->shm, &po);
	if (err) {
		log_error("%s", shm__strerror(cfg->ring_name, err, msg, sizeof(msg)));
		goto cleanup;
	}
	a->ring = shm_producer__ring(a->shm);
	a->max_record = ring__max_payload(cfg->ring_size ? cfg->ring_size : SHM_DEFAULT_SIZE);
	for (i = 0; i < AC_NR; i++)
		a->counter[i] = shm_producer__counter(a->shm, kiln_counter__info(i)->name);
	*out = a;
	return 0;
cleanup:
	agent__free(a);
	return err;
}

int agent__run(struct agent *a)
{
	struct drain_loop_opts lo = {
		.sz = sizeof(lo),
		.window_ms = (unsigned int)(a->cfg->window_ns / 1000000),
		.duration_ns = a->opts.duration_ns,
		.child_pidfd = -1,
		.on_window = on_window,
		.on_hup = on_hup,
		.ctx = a,
		.on_watch = a->mw ? on_watch : NULL,
		.watch_fd = a->mw ? mmapwatch__fd(a->mw) : -1,
	};
	enum drain_loop_stop why;
	int err;

	struct sym_frame warm;

	/*
	 * Load kallsyms now rather than in the first window that has a kernel frame: that
	 * window would otherwise be late, and with it the process events of short-lived
	 * processes.
	 */
	symbolizer__kernel(a->sym, 0, &warm);
	/*
	 * On a saturated node the agent competes with every busy process for a CPU turn and
	 * its windows fall behind until the BPF ring buffer overflows. It needs little CPU,
	 * so it takes precedence when it does (root has CAP_SYS_NICE; otherwise it just runs
	 * at the normal priority).
	 */
	if (setpriority(PRIO_PROCESS, 0, AGENT_NICE))
		log_warn(
			"cannot raise the agent's priority to nice %d (%s): without CAP_SYS_NICE it "
			"runs at the normal priority, and on a saturated node its windows may fall "
			"behind (samples_dropped)",
			AGENT_NICE, strerror(errno));
	err = sampler__attach(a->sampler);
	if (err) {
		log_error("attaching the sampler: %s", strerror(-err));
		return err;
	}
	a->start_mono = mono_ns();
	log_info("sampling at %u Hz, %llu ms windows, writing to ring '%s'", a->cfg->sampling_hz,
		 (unsigned long long)(a->cfg->window_ns / 1000000), a->cfg->ring_name);
	err = drain_loop__run(a->sampler, &lo, &why, NULL);
	publish_metrics(a);
	return err;
}

void agent__print_summary(struct agent *a)
{
	fprintf(stderr,
		"kiln agent: %.1f s, %llu windows, %llu records (%llu bytes) for %llu workloads\n"
		"  samples taken %llu: aggregated %llu, overflowed %llu, dropped %llu; written "
		"%llu\n"
		"  filtered in kernel %llu, idle %llu, missed by kernel %llu\n"
		"  records too big %llu, failed %llu; process events lost %llu; config reloads "
		"%llu "
		"(errors %llu)\n"
		"  mapping events %llu (lost %llu, malformed %llu), mappings added %llu\n",
		(double)(mono_ns() - a->start_mono) / 1e9, (unsigned long long)a->local[AC_WINDOWS],
		(unsigned long long)a->local[AC_RECORDS],
		(unsigned long long)a->local[AC_RECORD_BYTES],
		(unsigned long long)a->local[AC_WORKLOADS], (unsigned long long)a->local[AC_TAKEN],
		(unsigned long long)a->local[AC_AGGREGATED],
		(unsigned long long)a->local[AC_OVERFLOWED],
		(unsigned long long)a->local[AC_DROP_RINGBUF_FULL],
		(unsigned long long)a->local[AC_SAMPLES], (unsigned long long)a->local[AC_FILTERED],
		(unsigned long long)a->local[AC_IDLE], (unsigned long long)a->local[AC_MISSED],
		(unsigned long long)a->local[AC_REC_TOO_BIG],
		(unsigned long long)a->local[AC_REC_FAILED],
		(unsigned long long)a->local[AC_EV_DROPPED],
		(unsigned long long)a->local[AC_RELOADS],
		(unsigned long long)a->local[AC_RELOAD_ERRORS],
		(unsigned long long)a->local[AC_MMAP_RECORDS],
		(unsigned long long)a->local[AC_MMAP_LOST],
		(unsigned long long)a->local[AC_MMAP_BAD],
		(unsigned long long)a->local[AC_MAPPINGS]);
}

void agent__free(struct agent *a)
{
	if (!a)
		return;
	forget_workloads(a);
	free(a->wl);
	free(a->frames);
	sampler__free(a->sampler);
	mmapwatch__free(a->mw);
	symbolizer__free(a->sym);
	dbgfetch__free(a->dbg);
	shm_producer__free(a->shm);
	sources__free(a->src);
	sources_filter__release(&a->filt);
	identity_resolver__free(a->ids);
	kiln_config__free(a->owned_cfg);
	free(a);
}
