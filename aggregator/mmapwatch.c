// SPDX-License-Identifier: Apache-2.0
/*
 * Mapping records from perf rings. Why perf and not a BPF program on the mmap path: perf's
 * mmap, comm, fork and exit records are the kernel's own account of exactly these events
 * (the same the kernel gives `perf record`), with the file's device and inode or build id
 * taken under the mmap lock, so there is nothing to re-derive and nothing to keep in step
 * with kernel internals.
 *
 * Each CPU's ring is copied out whole at every read, then the records of all CPUs are
 * ordered by their timestamps: a process that migrated between its exec and its mmaps has
 * them in two rings, and the exec must come first.
 */
#include "aggregator/mmapwatch.h"

#include <errno.h>
#include <linux/perf_event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "symbolize/symbolize.h"

/*
 * Rings share 8 MiB, from 128 KiB to 2 MiB per CPU (a 2 MiB ring holds ~16000 records: the
 * exec and mappings of ~1600 processes between two reads, for an agent held back by a CPU
 * quota while a build runs). Beyond perf_event_mlock_kb (516 KiB per CPU by default) the
 * pages count against RLIMIT_MEMLOCK unless the agent has CAP_IPC_LOCK; when the kernel
 * refuses them, FALLBACK_RING_PAGES (512 KiB) fit within that allowance.
 */
#define RING_BUDGET_BYTES (8u << 20)
#define MIN_RING_PAGES 32u
#define MAX_RING_PAGES 512u
#define FALLBACK_RING_PAGES 128u
/* Every record here carries pid, tid and time at its end (sample_id_all). */
#define TRAILER 16
#define HDR 8

struct cpu_ring {
	int fd;
	void *base; /* the control page, then the data pages */
	size_t map_bytes;
};

/* A record in the read buffer, to be ordered by time. */
struct idx {
	uint64_t time_ns;
	size_t off, size;
	size_t seq; /* read order: equal times keep it */
};

struct mmapwatch {
	struct cpu_ring *rings;
	int nr_rings;
	int epfd;
	size_t page_size, data_bytes;
	bool build_ids;
	uint8_t *buf; /* records copied out of the rings */
	size_t buf_len, buf_cap;
	struct idx *idx;
	size_t nr_idx, idx_cap;
	struct mmapwatch_stats st;
	void (*obs_mapped)(void *ctx, uint32_t tgid, const char *path);
	void (*obs_flush)(void *ctx);
	void *obs_ctx;
	struct symbolizer *apply_sym; /* during mmapwatch__apply() */
};

static int sys_perf_event_open(struct perf_event_attr *attr, int cpu)
{
	long fd = syscall(__NR_perf_event_open, attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);

	return fd < 0 ? -errno : (int)fd;
}

static void attr_init(struct perf_event_attr *attr, size_t data_bytes, bool build_id)
{
	memset(attr, 0, sizeof(*attr));
	attr->type = PERF_TYPE_SOFTWARE;
	attr->size = sizeof(*attr);
	attr->config = PERF_COUNT_SW_DUMMY;
	attr->sample_type = PERF_SAMPLE_TID | PERF_SAMPLE_TIME;
	attr->sample_id_all = 1;
	attr->mmap = 1; /* executable mappings only: mmap_data stays off */
	attr->mmap2 = 1;
	attr->comm = 1;
	attr->comm_exec = 1;
	attr->task = 1;
	attr->build_id = build_id;
	/* The BPF events' clock, so both streams can be compared. */
	attr->use_clockid = 1;
	attr->clockid = CLOCK_MONOTONIC;
	/*
	 * Woken a quarter full: early enough that a burst of process starts between two
	 * windows does not fill the ring, rarely enough that the agent is not woken per mmap.
	 */
	attr->watermark = 1;
	attr->wakeup_watermark = (uint32_t)(data_bytes / 4);
}

static int open_ring(struct mmapwatch *w, struct cpu_ring *r, int cpu)
{
	struct perf_event_attr attr;
	struct epoll_event ev = { .events = EPOLLIN };
	int fd;

	attr_init(&attr, w->data_bytes, w->build_ids);
	fd = sys_perf_event_open(&attr, cpu);
	if (fd == -EINVAL && w->build_ids) {
		/* Before 5.12 there is no build_id bit: device and inode instead. */
		w->build_ids = false;
		attr_init(&attr, w->data_bytes, false);
		fd = sys_perf_event_open(&attr, cpu);
	}
	if (fd < 0)
		return fd;
	r->fd = fd;
	r->map_bytes = w->page_size + w->data_bytes;
	r->base = mmap(NULL, r->map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (r->base == MAP_FAILED) {
		r->base = NULL;
		return -errno;
	}
	ev.data.u32 = (uint32_t)cpu;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev))
		return -errno;
	return 0;
}

/* Opens every online CPU's ring at w->data_bytes. Returns 0 or -errno. */
static int open_rings(struct mmapwatch *w, const bool *online, int nr)
{
	int cpu, err;

	for (cpu = 0; cpu < nr; cpu++) {
		if (!online[cpu])
			continue;
		w->rings[w->nr_rings].fd = -1;
		err = open_ring(w, &w->rings[w->nr_rings], cpu);
		w->nr_rings++;
		if (err)
			return err;
	}
	return 0;
}

static void close_rings(struct mmapwatch *w)
{
	int i;

	for (i = 0; i < w->nr_rings; i++) {
		if (w->rings[i].base)
			munmap(w->rings[i].base, w->rings[i].map_bytes);
		if (w->rings[i].fd >= 0) {
			epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->rings[i].fd, NULL);
			close(w->rings[i].fd);
		}
	}
	w->nr_rings = 0;
}

int mmapwatch__new(struct mmapwatch **out, const struct mmapwatch_opts *opts)
{
	unsigned int pages = 0;
	struct mmapwatch *w;
	bool *online = NULL;
	int err = 0, nr = 0;

	if (opts &&
	    opts->sz >= offsetof(struct mmapwatch_opts, ring_pages) + sizeof(unsigned int) &&
	    opts->ring_pages)
		pages = opts->ring_pages;
	if (pages & (pages - 1))
		return -EINVAL;
	if (!pages) {
		int ncpu = possible_cpus();
		size_t per = RING_BUDGET_BYTES / (size_t)(ncpu > 0 ? ncpu : 1);

		for (pages = MAX_RING_PAGES; pages > MIN_RING_PAGES; pages /= 2)
			if ((size_t)pages * (size_t)sysconf(_SC_PAGESIZE) <= per)
				break;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->epfd = -1;
	w->page_size = (size_t)sysconf(_SC_PAGESIZE);
	w->data_bytes = pages * w->page_size;
	w->build_ids = true;
	if (opts && opts->sz >= offsetof(struct mmapwatch_opts, offline) + sizeof(bool) &&
	    opts->offline)
		goto cleanup;
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epfd < 0) {
		err = -errno;
		goto cleanup;
	}
	/* CPUs brought online later are not watched (their processes fall back to /proc). */
	err = online_cpus(&online, &nr);
	if (err)
		goto cleanup;
	w->rings = calloc((size_t)nr, sizeof(*w->rings));
	if (!w->rings) {
		err = -ENOMEM;
		goto cleanup;
	}
	err = open_rings(w, online, nr);
	if (err == -EPERM && w->data_bytes > FALLBACK_RING_PAGES * w->page_size) {
		/* Over the locked-memory allowance: rings that fit within it. */
		close_rings(w);
		w->data_bytes = FALLBACK_RING_PAGES * w->page_size;
		err = open_rings(w, online, nr);
	}
cleanup:
	free(online);
	if (err) {
		mmapwatch__free(w);
		return err;
	}
	*out = w;
	return 0;
}

int mmapwatch__fd(const struct mmapwatch *w)
{
	return w->epfd;
}

bool mmapwatch__build_ids(const struct mmapwatch *w)
{
	return w->nr_rings && w->build_ids;
}

void mmapwatch__stats(const struct mmapwatch *w, struct mmapwatch_stats *out)
{
	*out = w->st;
}

void mmapwatch__free(struct mmapwatch *w)
{
	if (!w)
		return;
	close_rings(w);
	if (w->epfd >= 0)
		close(w->epfd);
	free(w->rings);
	free(w->buf);
	free(w->idx);
	free(w);
}

static uint32_t get_u32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static int buf_reserve(struct mmapwatch *w, size_t more)
{
	size_t cap = w->buf_cap ? w->buf_cap : 65536;
	uint8_t *nb;

	while (cap - w->buf_len < more)
		cap *= 2;
	if (cap == w->buf_cap)
		return 0;
	nb = realloc(w->buf, cap);
	if (!nb)
		return -ENOMEM;
	w->buf = nb;
	w->buf_cap = cap;
	return 0;
}

/*
 * Indexes the records of one stream, w->buf[off, off + len). A size that cannot be right
 * (shorter than a header and trailer, not 8-byte aligned, past the end) ends the stream:
 * nothing after it can be framed.
 */
static int index_stream(struct mmapwatch *w, size_t off, size_t len)
{
	size_t end = off + len, size;
	struct idx *ni;

	while (off < end) {
		if (end - off < HDR) {
			w->st.bad++;
			break;
		}
		size = (size_t)(w->buf[off + 6] | (w->buf[off + 7] << 8));
		if (size < HDR + TRAILER || size % 8 || size > end - off) {
			w->st.bad++;
			break;
		}
		if (w->nr_idx == w->idx_cap) {
			size_t cap = w->idx_cap ? w->idx_cap * 2 : 1024;

			ni = realloc(w->idx, cap * sizeof(*ni));
			if (!ni)
				return -ENOMEM;
			w->idx = ni;
			w->idx_cap = cap;
		}
		w->idx[w->nr_idx] = (struct idx){
			.time_ns = get_u64(w->buf + off + size - 8),
			.off = off,
			.size = size,
			.seq = w->nr_idx,
		};
		w->nr_idx++;
		w->st.records++;
		off += size;
	}
	return 0;
}

static int idx_cmp(const void *a, const void *b)
{
	const struct idx *x = a, *y = b;

	if (x->time_ns != y->time_ns)
		return x->time_ns < y->time_ns ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* A NUL-terminated string at P within [P, END), or NULL. */
static const char *str_in(const uint8_t *p, const uint8_t *end)
{
	return p < end && memchr(p, '\0', (size_t)(end - p)) ? (const char *)p : NULL;
}

/*
 * Parses the record at P (SIZE bytes, framed by index_stream) into *R. Returns 1 when it is
 * one to deliver, 0 when not (other types; LOST is counted), -EBADMSG when its body does not
 * fit its type.
 */
static int parse_rec(struct mmapwatch *w, const uint8_t *p, size_t size, struct mmapwatch_rec *r)
{
	uint32_t type = get_u32(p);
	uint16_t misc = (uint16_t)(p[4] | p[5] << 8);
	const uint8_t *body_end = p + size - TRAILER;
	size_t body = size - TRAILER;

	memset(r, 0, sizeof(*r));
	r->time_ns = get_u64(p + size - 8);
	switch (type) {
	case PERF_RECORD_MMAP2:
		if (body < 72 + 1)
			return -EBADMSG;
		r->type = MMAPWATCH_MMAP;
		r->pid = get_u32(p + 8);
		r->tid = get_u32(p + 12);
		r->addr = get_u64(p + 16);
		r->len = get_u64(p + 24);
		r->pgoff = get_u64(p + 32);
		if (misc & PERF_RECORD_MISC_MMAP_BUILD_ID) {
			r->build_id_size = p[40];
			if (r->build_id_size > sizeof(r->build_id))
				return -EBADMSG;
			memcpy(r->build_id, p + 44, r->build_id_size);
		} else {
			r->maj = get_u32(p + 40);
			r->min = get_u32(p + 44);
			r->ino = get_u64(p + 48);
		}
		r->prot = get_u32(p + 64);
		r->flags = get_u32(p + 68);
		r->filename = str_in(p + 72, body_end);
		if (!r->filename || !r->len || r->addr + r->len < r->addr)
			return -EBADMSG;
		w->st.mmaps++;
		return 1;
	case PERF_RECORD_COMM:
		if (!(misc & PERF_RECORD_MISC_COMM_EXEC))
			return 0; /* prctl(PR_SET_NAME): the mappings stay */
		if (body < 16 + 1)
			return -EBADMSG;
		r->type = MMAPWATCH_EXEC;
		r->pid = get_u32(p + 8);
		r->tid = get_u32(p + 12);
		r->comm = str_in(p + 16, body_end);
		if (!r->comm)
			return -EBADMSG;
		w->st.execs++;
		return 1;
	case PERF_RECORD_FORK:
	case PERF_RECORD_EXIT:
		if (body < 32)
			return -EBADMSG;
		r->type = type == PERF_RECORD_FORK ? MMAPWATCH_FORK : MMAPWATCH_EXIT;
		r->pid = get_u32(p + 8);
		r->ppid = get_u32(p + 12);
		r->tid = get_u32(p + 16);
		r->ptid = get_u32(p + 20);
		if (type == PERF_RECORD_FORK)
			w->st.forks++;
		else
			w->st.exits++;
		return 1;
	case PERF_RECORD_LOST:
		if (body < 24)
			return -EBADMSG;
		w->st.lost += get_u64(p + 16);
		return 0;
	default:
		return 0;
	}
}

/* Orders what w->buf holds by time and delivers it. Returns the number delivered. */
static int dispatch(struct mmapwatch *w, mmapwatch_fn fn, void *ctx)
{
	struct mmapwatch_rec r;
	int n = 0, rc;
	size_t i;

	if (w->nr_idx)
		qsort(w->idx, w->nr_idx, sizeof(*w->idx), idx_cmp);
	for (i = 0; i < w->nr_idx; i++) {
		rc = parse_rec(w, w->buf + w->idx[i].off, w->idx[i].size, &r);
		if (rc < 0)
			w->st.bad++;
		if (rc <= 0)
			continue;
		fn(&r, ctx);
		n++;
	}
	w->nr_idx = 0;
	w->buf_len = 0;
	return n;
}

int mmapwatch__feed(struct mmapwatch *w, const void *buf, size_t len, mmapwatch_fn fn, void *ctx)
{
	int err;

	w->buf_len = 0;
	w->nr_idx = 0;
	err = buf_reserve(w, len);
	if (err)
		return err;
	if (len)
		memcpy(w->buf, buf, len);
	w->buf_len = len;
	err = index_stream(w, 0, len);
	if (err) {
		w->nr_idx = 0;
		return err;
	}
	return dispatch(w, fn, ctx);
}

/* Copies ring R's unread records to the end of w->buf and frees them in the ring. */
static int copy_ring(struct mmapwatch *w, struct cpu_ring *r, size_t *len)
{
	struct perf_event_mmap_page *mp = r->base;
	const uint8_t *data = (const uint8_t *)r->base + w->page_size;
	uint64_t head, tail, n, at, first;
	int err;

	*len = 0;
	head = __atomic_load_n(&mp->data_head, __ATOMIC_ACQUIRE);
	tail = mp->data_tail;
	n = head - tail;
	if (n > w->data_bytes) {
		/* Cannot happen with a sane kernel; start over rather than read garbage. */
		w->st.bad++;
		goto done;
	}
	err = buf_reserve(w, n);
	if (err)
		return err;
	at = tail % w->data_bytes;
	first = n < w->data_bytes - at ? n : w->data_bytes - at;
	memcpy(w->buf + w->buf_len, data + at, first);
	memcpy(w->buf + w->buf_len + first, data, n - first);
	w->buf_len += n;
	*len = n;
done:
	__atomic_store_n(&mp->data_tail, head, __ATOMIC_RELEASE);
	return 0;
}

int mmapwatch__read(struct mmapwatch *w, mmapwatch_fn fn, void *ctx)
{
	struct epoll_event evs[16];
	size_t off, len;
	int i, err;

	w->buf_len = 0;
	w->nr_idx = 0;
	for (i = 0; i < w->nr_rings; i++) {
		off = w->buf_len;
		err = copy_ring(w, &w->rings[i], &len);
		if (!err)
			err = index_stream(w, off, len);
		if (err) {
			w->buf_len = 0;
			w->nr_idx = 0;
			return err;
		}
	}
	/* Consume the readiness, so a level-triggered poll does not fire again at once. */
	if (w->epfd >= 0)
		while (epoll_wait(w->epfd, evs, 16, 0) == 16)
			;
	return dispatch(w, fn, ctx);
}

void mmapwatch__to_symbolizer(const struct mmapwatch_rec *r, void *ctx)
{
	struct symbolizer *sym = ctx;
	struct sym_mapping m;

	switch (r->type) {
	case MMAPWATCH_MMAP:
		if (!(r->prot & PROT_EXEC))
			return;
		m = (struct sym_mapping){
			.start = r->addr,
			.end = r->addr + r->len,
			.pgoff = r->pgoff,
			.dev = r->build_id_size ? 0 : makedev(r->maj, r->min),
			.ino = r->build_id_size ? 0 : r->ino,
			.build_id = r->build_id_size ? r->build_id : NULL,
			.build_id_size = r->build_id_size,
			.path = r->filename,
		};
		symbolizer__add_mapping(sym, r->pid, &m);
		break;
	case MMAPWATCH_EXEC:
		symbolizer__process_born(sym, r->pid, 0);
		break;
	case MMAPWATCH_FORK:
		/* A new process, not a new thread (those share their process's mappings). */
		if (r->pid != r->ppid && r->pid == r->tid)
			symbolizer__process_born(sym, r->pid, r->ppid);
		break;
	case MMAPWATCH_EXIT:
		if (r->pid == r->tid)
			symbolizer__process_exit(sym, r->pid);
		break;
	}
}

static void apply_one(const struct mmapwatch_rec *r, void *ctx)
{
	struct mmapwatch *w = ctx;

	mmapwatch__to_symbolizer(r, w->apply_sym);
	if (w->obs_mapped && r->type == MMAPWATCH_MMAP && (r->prot & PROT_EXEC) && r->filename &&
	    r->filename[0] == '/')
		w->obs_mapped(w->obs_ctx, r->pid, r->filename);
}

int mmapwatch__apply(struct mmapwatch *w, struct symbolizer *sym)
{
	uint64_t lost = w->st.lost;
	int n;

	w->apply_sym = sym;
	n = mmapwatch__read(w, apply_one, w);
	if (w->st.lost != lost)
		symbolizer__events_lost(sym);
	if (w->obs_flush)
		w->obs_flush(w->obs_ctx);
	return n;
}

void mmapwatch__set_observer(struct mmapwatch *w,
			     void (*mapped)(void *ctx, uint32_t tgid, const char *path),
			     void (*flush)(void *ctx), void *ctx)
{
	w->obs_mapped = mapped;
	w->obs_flush = flush;
	w->obs_ctx = ctx;
}
