// SPDX-License-Identifier: Apache-2.0
#include "aggregator/sampler.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "aggregator/features.h"
#include "aggregator/pyprocs.h"
#include "aggregator/sampler_int.h"
#include "aggregator/unwinder.h"
#include "bpf/profile.skel.h"
#include "common/cgroup.h"
#include "common/log.h"
#include "common/util.h"

/* Bounds on the per-window map sizes derived from CPUs x frequency x window. */
#define MIN_MAP_ENTRIES 1024u
#define MAX_MAP_ENTRIES (1u << 18)
#define DEFAULT_RINGBUF_BYTES (4u << 20)

static const char *const metric_names[KILN_M_NR] = {
#define KILN_COUNTER(src, id, name, type, group, problem, help) KILN_COUNTER_##src(id, name)
#define KILN_COUNTER_BPF(id, name) [KILN_M_##id] = name,
#define KILN_COUNTER_AGENT(id, name)
#include "common/counters.def"
#undef KILN_COUNTER_BPF
#undef KILN_COUNTER_AGENT
};

const char *sampler__metric_name(enum kiln_metric m)
{
	if ((unsigned int)m >= KILN_M_NR || !metric_names[m])
		return "unknown";
	return metric_names[m];
}

int sampler_vec_reserve(void **v, size_t *cap, size_t need, size_t elem)
{
	size_t ncap = *cap ? *cap : 64;
	void *nv;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	nv = realloc(*v, ncap * elem);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = ncap;
	return 0;
}

int sampler_u64_append(struct u64_vec *vec, const uint64_t *src, size_t n, size_t *off)
{
	int err;

	err = sampler_vec_reserve((void **)&vec->v, &vec->cap, vec->n + n, sizeof(uint64_t));
	if (err)
		return err;
	if (n)
		memcpy(vec->v + vec->n, src, n * sizeof(uint64_t));
	*off = vec->n;
	vec->n += n;
	return 0;
}

int sampler__check_freq(unsigned int freq_hz, uint64_t *max)
{
	uint64_t limit = 100000;

	/* The file is absent on kernels without perf events; keep the documented default. */
	read_u64_file("/proc/sys/kernel/perf_event_max_sample_rate", &limit);
	*max = limit;
	if (freq_hz == 0 || freq_hz > limit)
		return -EINVAL;
	return 0;
}

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	enum log_level l = level == LIBBPF_WARN ? LOG_LEVEL_INFO : LOG_LEVEL_DEBUG;

	/* libbpf's warnings are noise unless -v: the caller reports what failed. */
	log_vprint(l, fmt, ap);
	return 0;
}

/*
 * Reads TGID's mappings into the unwinder. A walk asks for that at most once a second per
 * process (uw_sync_sent); a read that found new mappings lets it ask again at once. Without
 * that, a read taken while the dynamic loader was still mapping libraries (the walk asks
 * as soon as a pc has no mapping) left a library dlopen()ed right after it with no mapping
 * for up to a second: unwind_e2e_dlopen saw 13 % of its samples stop there on a loaded
 * machine. A read that finds nothing new (JIT code) keeps the limit.
 */
static void sync_and_rearm(struct sampler *s, uint32_t tgid)
{
	uint64_t before = unwinder__mappings_added(s->uw);

	unwinder__sync_process(s->uw, tgid);
	if (unwinder__mappings_added(s->uw) != before)
		bpf_map_delete_elem(bpf_map__fd(s->skel->maps.uw_sync_sent), &tgid);
}

/*
 * Keeps the unwind tables in step with the processes: loaded at a process's first sample
 * (until then its stacks are walked by frame pointers), reloaded after an exec or when a
 * walk met an unknown address (dlopen), dropped at exit. Loading runs here, before the
 * consumer sees the event, so a process's tables exist as early as possible.
 */
static void unwind_event(struct sampler *s, const struct kiln_ev_proc *ev)
{
	switch (ev->type) {
	case KILN_EV_SEEN:
	case KILN_EV_UNWIND_SYNC:
		if (s->uw)
			sync_and_rearm(s, ev->tgid);
		/*
		 * CPython is looked for at the first sample, and again when a walk met a new
		 * mapping: a first sample taken before the dynamic loader (or an embedder's
		 * dlopen) mapped libpython cannot tell.
		 */
		if (s->py)
			pyprocs__seen(s->py, ev->tgid, ev->type == KILN_EV_UNWIND_SYNC);
		break;
	case KILN_EV_EXEC:
		if (s->uw)
			unwinder__remove_process(s->uw, ev->tgid);
		if (s->py)
			pyprocs__exec(s->py, ev->tgid);
		/*
		 * A process picked by its tgid (kiln record COMMAND, -p, kiln top -p) gets the
		 * tables of its new image now, not at its first sample: that sample and those
		 * of its start-up are walked with tables too, which matters for short-lived
		 * processes. Host-wide, most processes that exec are never sampled: there the
		 * first sample decides, at no cost for the rest.
		 */
		if (s->uw && sampler__tgid_selected(s, ev->tgid))
			unwinder__sync_process(s->uw, ev->tgid);
		break;
	case KILN_EV_EXIT:
		if (s->uw)
			unwinder__remove_process(s->uw, ev->tgid);
		if (s->py)
			pyprocs__exit(s->py, ev->tgid);
		break;
	default:
		break;
	}
}

static int handle_event(void *ctx, void *data, size_t size)
{
	struct sampler *s = ctx;
	const struct kiln_ev_sample *ev = data;
	struct pending *p;
	struct ovf_sample *o;
	uint32_t nk, nu;
	int err;

	if (size < sizeof(uint32_t))
		return 0;
	if (ev->type == KILN_EV_PY_CODE) {
		const struct kiln_ev_code *c = data;

		if (size >= sizeof(*c) && s->py)
			pyprocs__code(s->py, c->tgid, c->code);
		return 0;
	}
	if (ev->type == KILN_EV_EXEC || ev->type == KILN_EV_EXIT || ev->type == KILN_EV_FORK ||
	    ev->type == KILN_EV_SEEN || ev->type == KILN_EV_UNWIND_SYNC) {
		if (size < sizeof(struct kiln_ev_proc))
			return 0;
		unwind_event(s, data);
		if (s->proc_fn && ev->type != KILN_EV_UNWIND_SYNC)
			s->proc_fn(data, s->proc_ctx);
		return 0;
	}
	if (ev->type != KILN_EV_SAMPLE || size < sizeof(*ev))
		return 0;
	p = &s->pending[ev->window & 1];
	err = sampler_vec_reserve((void **)&p->s, &p->cap, p->n + 1, sizeof(*p->s));
	if (err)
		return err;
	o = &p->s[p->n];
	memset(o, 0, sizeof(*o));
	o->tgid = ev->tgid;
	o->pid = ev->pid;
	o->cgroup_id = ev->cgroup_id;
	memcpy(o->comm, ev->comm, sizeof(o->comm));
	nk = ev->nr_kframes > 0 ? (uint32_t)ev->nr_kframes : 0;
	nu = ev->nr_uframes > 0 ? (uint32_t)ev->nr_uframes : 0;
	if (nk > KILN_MAX_FRAMES)
		nk = KILN_MAX_FRAMES;
	if (nu > KILN_MAX_FRAMES)
		nu = KILN_MAX_FRAMES;
	o->kerr = ev->nr_kframes < 0 ? ev->nr_kframes : 0;
	o->uerr = ev->nr_uframes < 0 ? ev->nr_uframes : 0;
	err = sampler_u64_append(&p->frames, (const uint64_t *)ev->kframes, nk, &o->kframes_off);
	if (!err)
		err = sampler_u64_append(&p->frames, (const uint64_t *)ev->uframes, nu,
					 &o->uframes_off);
	if (err)
		return err;
	o->nr_kframes = nk;
	o->nr_uframes = nu;
	o->nr_pywords = ev->nr_pywords <= nu ? ev->nr_pywords : 0;
	p->n++;
	return 0;
}

/*
 * Entries a window's map needs: at most one key (PER_SAMPLE stacks) per sample the window
 * can hold, plus a quarter for hash collisions, as a power of two. Sized to the node
 * rather than fixed: each stack-map entry is a kilobyte, and a fixed size is either too
 * big for small nodes or too small for big ones. What does not fit overflows, counted.
 */
static uint32_t default_entries(const struct sampler *s, uint32_t per_sample)
{
	uint64_t window_ms = s->opts.window_ms ? s->opts.window_ms : 1000;
	uint64_t need = (uint64_t)libbpf_num_possible_cpus() * s->opts.freq_hz * window_ms / 1000 *
			per_sample * 5 / 4;
	uint32_t n = MIN_MAP_ENTRIES;

	while (n < need && n < MAX_MAP_ENTRIES)
		n <<= 1;
	return n;
}

#define MIB_F (1024.0 * 1024.0)

/* Which option sizes map NAME, for the error message. */
static const char *map_option(const char *name)
{
	if (!strncmp(name, "stacks", 6))
		return "--stack-map-entries (or a lower -F / --window-ms, which size it)";
	/* Each new count key takes a slot of both arrays: the count entries size all three. */
	if (!strncmp(name, "counts", 6) || !strncmp(name, "cslots", 6) ||
	    !strncmp(name, "ustacks", 7))
		return "--count-map-entries (or a lower -F / --window-ms, which size it)";
	return NULL;
}

/*
 * The skeleton's load failed with ERR. When the kernel refused memory, says which map it
 * refused and which limit applies: libbpf creates the maps in the object's order and keeps
 * each until all exist, so creating them again the same way (each kept until the end) finds
 * the first one the kernel refuses. The limit is the memory cgroup's (kernels since 5.11
 * charge BPF maps there) or RLIMIT_MEMLOCK (older kernels).
 */
static void report_refused_map(struct bpf_object *obj, int err)
{
	const struct bpf_map *m, *refused = NULL, *largest = NULL;
	uint64_t bytes, largest_bytes = 0, limit;
	const char *pre;
	char file[512], what[160];
	int fds[64], n = 0, i, fd, merr = err;
	struct utsname u;
	struct rlimit rl;
	unsigned int maj = 0, min = 0;

	if (err != -ENOMEM && err != -E2BIG)
		return;
	for (m = bpf_object__next_map(obj, NULL); m; m = bpf_object__next_map(obj, m)) {
		enum bpf_map_type t = bpf_map__type(m);
		LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = bpf_map__map_flags(m));

		if (bpf_map__is_internal(m) || t == BPF_MAP_TYPE_ARRAY_OF_MAPS ||
		    t == BPF_MAP_TYPE_HASH_OF_MAPS)
			continue;
		bytes = (uint64_t)bpf_map__max_entries(m) *
			(bpf_map__key_size(m) + bpf_map__value_size(m));
		if (bytes > largest_bytes) {
			largest_bytes = bytes;
			largest = m;
		}
		if (refused || n == (int)(sizeof(fds) / sizeof(fds[0])))
			continue;
		fd = bpf_map_create(t, NULL, bpf_map__key_size(m), bpf_map__value_size(m),
				    bpf_map__max_entries(m), &o);
		if (fd >= 0) {
			fds[n++] = fd;
		} else if (errno == ENOMEM || errno == E2BIG) {
			refused = m;
			merr = -errno;
		}
	}
	for (i = 0; i < n; i++)
		close(fds[i]);
	/*
	 * Every map made again: E2BIG came from a program the verifier found too complex (it
	 * was reported as the largest map's refusal once, which sent users after memory).
	 */
	if (!refused && err == -E2BIG) {
		log_error("the kernel refused a BPF program as too large or too complex for its "
			  "verifier (E2BIG), not a map: a kiln bug on this kernel (-v shows the "
			  "verifier log)");
		return;
	}
	/* Not refused again (memory came back meanwhile): the largest map is the likely one. */
	m = refused ? refused : largest;
	if (!m)
		return;
	bytes = (uint64_t)bpf_map__max_entries(m) * (bpf_map__key_size(m) + bpf_map__value_size(m));
	snprintf(what, sizeof(what), "BPF map '%s' (%u entries of %u + %u bytes, %.1f MiB)",
		 bpf_map__name(m), bpf_map__max_entries(m), bpf_map__key_size(m),
		 bpf_map__value_size(m), (double)bytes / MIB_F);
	if (uname(&u) || sscanf(u.release, "%u.%u", &maj, &min) != 2)
		maj = 0;
	/* "BPF map 'x' (...)": the one refused, or the largest when none was refused again */
	pre = refused ? "" : "the BPF maps, the largest ";
	if (maj > 5 || (maj == 5 && min >= 11)) {
		if (cgroup_memory_limit(&limit, file, sizeof(file)) || limit == UINT64_MAX)
			log_error("the kernel refused to create %s%s: %s; kernel %s charges BPF "
				  "maps to the memory cgroup, and no cgroup limit applies: the "
				  "machine is short of memory",
				  pre, what, strerror(-merr), u.release);
		else
			log_error("the kernel refused to create %s%s: %s; kernel %s charges BPF "
				  "maps to the memory cgroup, whose limit is %.1f MiB (%s)",
				  pre, what, strerror(-merr), u.release, (double)limit / MIB_F,
				  file);
	} else if (!getrlimit(RLIMIT_MEMLOCK, &rl)) {
		log_error("the kernel refused to create %s%s: %s; kernel %s charges BPF maps to "
			  "RLIMIT_MEMLOCK, which is %.1f MiB (ulimit -l, LimitMEMLOCK=)",
			  pre, what, strerror(-merr), maj ? u.release : "?",
			  rl.rlim_cur == RLIM_INFINITY ? -1.0 : (double)rl.rlim_cur / MIB_F);
	}
	if (map_option(bpf_map__name(m)))
		log_error("lower %s, or raise the limit", map_option(bpf_map__name(m)));
}

/* Maps BYTES of the mmapable array MAP read-only into *OUT. Returns 0 or -errno (logged). */
static int map_slots(const struct bpf_map *map, size_t bytes, const char *what, void **out,
		     size_t *out_bytes)
{
	void *m = mmap(NULL, bytes, PROT_READ, MAP_SHARED, bpf_map__fd(map), 0);
	int err = -errno;

	if (m == MAP_FAILED) {
		log_error("mapping the %s array (%zu bytes): %s", what, bytes, strerror(-err));
		return err;
	}
	*out = m;
	*out_bytes = bytes;
	return 0;
}

struct sampler *sampler__new(const struct sampler_opts *opts)
{
	struct sampler *s = NULL;
	uint32_t counts, stacks, rbsz;
	bool find_vma = false;
	void *m;
	int err;

	/* An array element takes its value's size rounded up to 8 bytes: the slots' stride. */
	_Static_assert(sizeof(struct kiln_ustack) % 8 == 0, "user stack slots are contiguous");

	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	memcpy(&s->opts, opts, opts->sz < sizeof(s->opts) ? opts->sz : sizeof(s->opts));
	if (!s->opts.freq_hz)
		s->opts.freq_hz = KILN_DEFAULT_HZ;
	counts = s->opts.count_map_entries ? s->opts.count_map_entries : default_entries(s, 1);
	/*
	 * A stack map has roundup_pow_of_two(max_entries) buckets but only max_entries
	 * preallocated elements, and a new stack whose bucket holds another one fails with
	 * -EEXIST and overflows (a second stack walk plus a 2 KiB ring record). One entry past
	 * the power of two doubles the buckets, halving those collisions, for the memory of one
	 * more element. Measured at 999 Hz on 2 CPUs, host-wide: overflows 5 % -> 3 % of
	 * samples, ~6 % less BPF time per sample; 16x the elements was ~20 % slower (cache).
	 */
	stacks = s->opts.stack_map_entries ? s->opts.stack_map_entries : default_entries(s, 1) + 1;
	rbsz = s->opts.ringbuf_bytes ? s->opts.ringbuf_bytes : DEFAULT_RINGBUF_BYTES;
	s->possible_cpus = possible_cpus();
	if (s->possible_cpus <= 0) {
		err = s->possible_cpus ? s->possible_cpus : -EINVAL;
		goto cleanup;
	}
	s->percpu = calloc((size_t)s->possible_cpus, sizeof(struct kiln_metrics));
	if (!s->percpu) {
		err = -ENOMEM;
		goto cleanup;
	}

	libbpf_set_print(libbpf_log);
	s->skel = profile_bpf__open();
	if (!s->skel) {
		err = -errno;
		goto cleanup;
	}
	s->skel->rodata->include_idle = s->opts.include_idle;
	s->skel->rodata->follow_children = s->opts.follow_children;
	s->skel->rodata->unwind_tables = !s->opts.no_unwind;
	/* Room for two windows of new keys: the LRU evicts keys nobody samples (profile.bpf.c). */
	bpf_map__set_max_entries(s->skel->maps.counts, 2 * counts);
	bpf_map__set_max_entries(s->skel->maps.stacks0, stacks);
	bpf_map__set_max_entries(s->skel->maps.stacks1, stacks);
	bpf_map__set_max_entries(s->skel->maps.cslots, 2 * counts);
	bpf_map__set_max_entries(s->skel->maps.ustacks, 2 * counts);
	s->skel->rodata->slot_half = counts;
	s->slot_half = counts;
	bpf_map__set_max_entries(s->skel->maps.events, rbsz);
	/* What this kernel lacks: fall back (no Python walk) or say what. */
	err = features__prepare(s->skel->obj, &s->opts.no_python, &find_vma);
	if (err)
		goto cleanup;
	s->skel->rodata->have_find_vma = find_vma && !s->opts.no_unwind;
	err = profile_bpf__load(s->skel);
	if (err) {
		report_refused_map(s->skel->obj, err);
		goto cleanup;
	}
	err = features__loaded(s->skel->obj);
	if (err)
		goto cleanup;

	/* Stack ids are bucket indices: below the bucket count, a power of two >= entries. */
	s->nr_slots = 1;
	while (s->nr_slots < stacks)
		s->nr_slots <<= 1;
	s->slots = calloc(s->nr_slots, sizeof(*s->slots));
	s->stack_buf = calloc(KILN_MAX_FRAMES, sizeof(uint64_t));
	if (!s->slots || !s->stack_buf) {
		err = -ENOMEM;
		goto cleanup;
	}
	/* Read where the programs wrote them (drain.c). */
	err = map_slots(s->skel->maps.cslots, 2 * (size_t)counts * sizeof(struct kiln_count_slot),
			"count slot", &m, &s->cslots_bytes);
	if (err)
		goto cleanup;
	s->cslots = m;
	err = map_slots(s->skel->maps.ustacks, 2 * (size_t)counts * sizeof(struct kiln_ustack),
			"user stack", &m, &s->ustacks_bytes);
	if (err)
		goto cleanup;
	s->ustacks = m;
	if (!s->opts.no_unwind) {
		struct unwinder_maps um = {
			.mappings_fd = bpf_map__fd(s->skel->maps.uw_mappings),
			.pages_fd = bpf_map__fd(s->skel->maps.uw_pages),
			.deltas_fd = bpf_map__fd(s->skel->maps.uw_deltas),
			.rules_fd = bpf_map__fd(s->skel->maps.uw_rules),
			.files_fd = bpf_map__fd(s->skel->maps.uw_files),
			.vma_cache_fd = bpf_map__fd(s->skel->maps.uw_vma_cache),
			.files_max = bpf_map__max_entries(s->skel->maps.uw_files),
			.pages_max = bpf_map__max_entries(s->skel->maps.uw_pages),
			.deltas_max = bpf_map__max_entries(s->skel->maps.uw_deltas),
			.rules_max = bpf_map__max_entries(s->skel->maps.uw_rules),
		};

		s->uw = unwinder__new(&um, s->opts.proc_root);
		if (!s->uw) {
			err = -errno;
			goto cleanup;
		}
		unwinder__preload(s->uw);
	}
	if (!s->opts.no_python) {
		s->py = pyprocs__new(bpf_map__fd(s->skel->maps.py_procs));
		if (!s->py) {
			err = -errno;
			goto cleanup;
		}
	}
	s->rb = ring_buffer__new(bpf_map__fd(s->skel->maps.events), handle_event, s, NULL);
	if (!s->rb) {
		err = -errno;
		goto cleanup;
	}
	s->window_start_ns = wall_ns();
	return s;
cleanup:
	sampler__free(s);
	errno = -err;
	return NULL;
}

void sampler__free(struct sampler *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->nr_links; i++)
		bpf_link__destroy(s->links[i]);
	free(s->links);
	ring_buffer__free(s->rb);
	profile_bpf__destroy(s->skel);
	for (i = 0; i < 2; i++) {
		free(s->pending[i].s);
		free(s->pending[i].frames.v);
	}
	free(s->frames.v);
	free(s->samples);
	free(s->slots);
	free(s->stack_buf);
	free(s->sweep);
	if (s->cslots)
		munmap((void *)s->cslots, s->cslots_bytes);
	if (s->ustacks)
		munmap((void *)s->ustacks, s->ustacks_bytes);
	unwinder__free(s->uw);
	pyprocs__free(s->py);
	free(s->percpu);
	free(s);
}

void sampler__set_proc_fn(struct sampler *s, sampler_proc_fn fn, void *ctx)
{
	s->proc_fn = fn;
	s->proc_ctx = ctx;
}

int sampler__select_tgid(struct sampler *s, uint32_t tgid)
{
	uint8_t one = 1;

	if (bpf_map_update_elem(bpf_map__fd(s->skel->maps.sel_tgids), &tgid, &one, BPF_ANY))
		return -errno;
	/* Entry first, switch second: no sample of TGID is filtered out in between. */
	__atomic_store_n(&s->skel->bss->filter_tgids, 1, __ATOMIC_RELEASE);
	/* A running process picked by its id (-p) is prepared now. */
	sampler__prepare_process(s, tgid);
	return 0;
}

void sampler__prepare_process(struct sampler *s, uint32_t tgid)
{
	if (s->uw)
		unwinder__sync_process(s->uw, tgid);
	if (s->py)
		pyprocs__seen(s->py, tgid, false);
}

int sampler__unselect_tgid(struct sampler *s, uint32_t tgid)
{
	if (bpf_map_delete_elem(bpf_map__fd(s->skel->maps.sel_tgids), &tgid) && errno != ENOENT)
		return -errno;
	return 0;
}

/* Deletes every key of map FD (collected first: deleting while walking restarts the walk). */
static int clear_map(int fd, size_t key_size)
{
	uint8_t key[16], next[16];
	int err = 0;

	if (key_size > sizeof(key))
		return -EINVAL;
	while (bpf_map_get_next_key(fd, NULL, next) == 0) {
		memcpy(key, next, key_size);
		if (bpf_map_delete_elem(fd, key)) {
			err = -errno;
			break;
		}
	}
	return err;
}

int sampler__filter_on(struct sampler *s)
{
	/* With an empty tgid map this switch alone makes every sample miss the selection. */
	__atomic_store_n(&s->skel->bss->filter_tgids, 1, __ATOMIC_RELEASE);
	return 0;
}

int sampler__reset_selection(struct sampler *s)
{
	int err;

	/* Switches first: while the maps empty, everything is sampled rather than nothing. */
	__atomic_store_n(&s->skel->bss->filter_tgids, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&s->skel->bss->filter_cgroups, 0, __ATOMIC_RELEASE);
	err = clear_map(bpf_map__fd(s->skel->maps.sel_tgids), sizeof(uint32_t));
	if (!err)
		err = clear_map(bpf_map__fd(s->skel->maps.sel_cgroups), sizeof(uint64_t));
	return err;
}

bool sampler__tgid_selected(struct sampler *s, uint32_t tgid)
{
	uint8_t v;

	return bpf_map_lookup_elem(bpf_map__fd(s->skel->maps.sel_tgids), &tgid, &v) == 0;
}

int sampler__select_cgroup(struct sampler *s, uint64_t cgroup_id)
{
	uint8_t one = 1;

	if (bpf_map_update_elem(bpf_map__fd(s->skel->maps.sel_cgroups), &cgroup_id, &one, BPF_ANY))
		return -errno;
	__atomic_store_n(&s->skel->bss->filter_cgroups, 1, __ATOMIC_RELEASE);
	return 0;
}

static int add_link(struct sampler *s, struct bpf_link *link)
{
	int err;

	err = sampler_vec_reserve((void **)&s->links, &s->links_cap, s->nr_links + 1,
				  sizeof(*s->links));
	if (err) {
		bpf_link__destroy(link);
		return err;
	}
	s->links[s->nr_links++] = link;
	return 0;
}

int sampler__attach(struct sampler *s)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_SOFTWARE,
		.size = sizeof(attr),
		.config = PERF_COUNT_SW_CPU_CLOCK,
		.sample_freq = s->opts.freq_hz,
		.freq = 1,
	};
	struct bpf_program *tps[] = { s->skel->progs.kiln_fork, s->skel->progs.kiln_exec,
				      s->skel->progs.kiln_exit };
	struct bpf_link *link;
	bool *online = NULL;
	int nr_online = 0, i, fd, err;

	/* Process tracepoints first, so no child forked after sampling starts is missed. */
	for (i = 0; i < (int)ARRAY_SIZE(tps); i++) {
		link = bpf_program__attach(tps[i]);
		if (!link)
			return -errno;
		err = add_link(s, link);
		if (err)
			return err;
	}
	/* Offline CPUs are skipped; CPU hotplug while running is not followed. */
	err = online_cpus(&online, &nr_online);
	if (err)
		return err;
	for (i = 0; i < nr_online; i++) {
		if (!online[i])
			continue;
		fd = syscall(__NR_perf_event_open, &attr, -1, i, -1, PERF_FLAG_FD_CLOEXEC);
		if (fd < 0) {
			err = -errno;
			log_error("perf_event_open(cpu-clock, cpu %d, %u Hz): %s", i,
				  s->opts.freq_hz, strerror(errno));
			goto cleanup;
		}
		link = bpf_program__attach_perf_event(s->skel->progs.kiln_sample, fd);
		if (!link) {
			err = -errno;
			close(fd);
			goto cleanup;
		}
		/* The link now owns FD and closes it when destroyed. */
		err = add_link(s, link);
		if (err)
			goto cleanup;
	}
	s->window_start_ns = wall_ns();
cleanup:
	free(online);
	return err;
}

int sampler__detach(struct sampler *s)
{
	size_t i;

	for (i = 0; i < s->nr_links; i++)
		bpf_link__destroy(s->links[i]);
	s->nr_links = 0;
	return 0;
}

int sampler__events_fd(struct sampler *s)
{
	return ring_buffer__epoll_fd(s->rb);
}

int sampler__poll_events(struct sampler *s)
{
	return ring_buffer__consume(s->rb);
}

int sampler__metrics(struct sampler *s, uint64_t out[KILN_M_NR])
{
	const struct kiln_metrics *per = (const struct kiln_metrics *)s->percpu;
	uint32_t zero = 0, k;
	int c;

	/* One lookup returns every CPU's copy of the counter array, back to back. */
	if (bpf_map_lookup_elem(bpf_map__fd(s->skel->maps.metrics), &zero, s->percpu))
		return -errno;
	for (k = 0; k < KILN_M_NR; k++) {
		out[k] = 0;
		for (c = 0; c < s->possible_cpus; c++)
			out[k] += per[c].c[k];
	}
	return 0;
}

uint64_t sampler__missed(struct sampler *s)
{
	struct bpf_prog_info info;
	uint32_t len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(bpf_program__fd(s->skel->progs.kiln_sample), &info, &len))
		return 0;
	return info.recursion_misses;
}

uint64_t sampler__stacks_total(struct sampler *s)
{
	return s->stacks_total;
}

struct unwinder *sampler__unwinder(struct sampler *s)
{
	return s->uw;
}

void sampler__mapped(void *ctx, uint32_t tgid, const char *path)
{
	struct sampler *s = ctx;
	size_t i;

	/* A libpython mapped after the first sample (an embedder): look for CPython again. */
	if (s->py && strstr(path, "libpython"))
		pyprocs__seen(s->py, tgid, true);
	/* A process not synced yet gets all its mappings at its first sample anyway. */
	if (!s->uw || !unwinder__knows(s->uw, tgid))
		return;
	for (i = 0; i < s->nr_remapped; i++)
		if (s->remapped[i] == tgid)
			return;
	if (s->nr_remapped < ARRAY_SIZE(s->remapped))
		s->remapped[s->nr_remapped++] = tgid;
	else
		sampler__flush_mapped(s);
}

void sampler__flush_mapped(void *ctx)
{
	struct sampler *s = ctx;
	size_t i;

	for (i = 0; i < s->nr_remapped; i++)
		unwinder__sync_process(s->uw, s->remapped[i]);
	s->nr_remapped = 0;
}

struct pyprocs *sampler__pyprocs(struct sampler *s)
{
	return s->py;
}

struct python_proc *sampler__python(void *s, uint32_t tgid)
{
	struct sampler *sm = s;

	return sm->py ? pyprocs__get(sm->py, tgid) : NULL;
}

int sampler__py_metrics(struct sampler *s, uint64_t out[KILN_PY_C_NR])
{
	struct kiln_py_counters *per;
	uint32_t zero = 0, k;
	int c, err = 0;

	per = calloc((size_t)s->possible_cpus, sizeof(*per));
	if (!per)
		return -ENOMEM;
	if (bpf_map_lookup_elem(bpf_map__fd(s->skel->maps.py_counters), &zero, per)) {
		err = -errno;
		goto cleanup;
	}
	for (k = 0; k < KILN_PY_C_NR; k++) {
		out[k] = 0;
		for (c = 0; c < s->possible_cpus; c++)
			out[k] += per[c].v[k];
	}
cleanup:
	free(per);
	return err;
}

uint64_t sampler__period_ns(struct sampler *s)
{
	return 1000000000ull / s->opts.freq_hz;
}
