// SPDX-License-Identifier: Apache-2.0
#include "shm/shm.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stddef.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"

#define CONS_SIZE ((sizeof(struct shm_cons) + 4095) & ~(size_t)4095)
#define SEG_MODE 0640
#define CONS_MODE 0660

_Static_assert(sizeof(struct shm_hdr) <= SHM_HDR_SIZE, "header fits before the data");
_Static_assert(sizeof(struct shm_slot) == 256, "slot size is part of the format");
_Static_assert(sizeof(struct ring_cursor) == 128, "cursor size is part of the format");
_Static_assert(sizeof(struct ring_ctl) == 192, "ctl size is part of the format");
_Static_assert(offsetof(struct shm_hdr, heartbeat_ns) == 64, "heartbeat is part of the format");
_Static_assert(offsetof(struct shm_slot, kind) == 40, "slot kind is part of the format");
_Static_assert(offsetof(struct shm_slot, stats) == 192, "slot stats are part of the format");
_Static_assert(offsetof(struct shm_slot, stats_ext) == 48, "slot stats are part of the format");

static const char *const export_stat_names[SHM_SLOT_STATS_ALL] = {
	[SHM_EXP_SENT] = "sent",
	[SHM_EXP_FAILURES] = "failures",
	[SHM_EXP_RETRIES] = "retries",
	[SHM_EXP_BYTES_SENT] = "bytes_sent",
	[SHM_EXP_SAMPLES_SENT] = "samples_sent",
	[SHM_EXP_SPOOL_BYTES] = "spool_bytes",
	[SHM_EXP_SPOOL_FILES] = "spool_files",
	[SHM_EXP_DROPPED] = "records_dropped",
	[SHM_EXP_EXPIRED] = "samples_expired",
	[SHM_EXP_EXPIRED_KEPT] = "samples_expired_kept",
};

static const char *const ui_stat_names[SHM_SLOT_STATS_ALL] = {
	[SHM_UI_RECORDS] = "records",	     [SHM_UI_KEPT] = "records_kept",
	[SHM_UI_BAD] = "records_bad",	     [SHM_UI_SLOTS] = "slots",
	[SHM_UI_BYTES] = "bytes_held",	     [SHM_UI_DROPPED] = "chunks_dropped",
	[SHM_UI_REFUSED] = "chunks_refused", [SHM_UI_EVICTED] = "slots_evicted",
};

struct seg {
	char path[PATH_MAX];
	char cons_path[PATH_MAX + 8];
	int fd, cons_fd;
	void *mem;
	size_t mem_len;
	struct shm_hdr *hdr;
	struct shm_cons *cons;
};

struct shm_producer {
	struct seg s;
	struct ring_producer *ring;
	uint64_t generation;
};

struct shm_consumer {
	struct seg s;
	struct ring_consumer *ring;
	int slot;
	uint64_t owner;
};

struct shm_view {
	struct seg s;
};

static void seg_init(struct seg *s)
{
	memset(s, 0, sizeof(*s));
	s->fd = -1;
	s->cons_fd = -1;
}

static void seg_close(struct seg *s)
{
	if (s->mem && s->mem != MAP_FAILED)
		munmap(s->mem, s->mem_len);
	if (s->cons && (void *)s->cons != MAP_FAILED)
		munmap(s->cons, CONS_SIZE);
	if (s->fd >= 0)
		close(s->fd);
	if (s->cons_fd >= 0)
		close(s->cons_fd);
	seg_init(s);
}

static uint64_t load_magic(const uint64_t *m)
{
	/* Acquire: pairs with the release store of the magic, made after everything else. */
	return atomic_load_explicit((_Atomic uint64_t *)m, memory_order_acquire);
}

static void store_magic(uint64_t *m, uint64_t v)
{
	/* Release: a reader that sees the magic sees the initialized header behind it. */
	atomic_store_explicit((_Atomic uint64_t *)m, v, memory_order_release);
}

int shm__path(const char *name, char *buf, size_t len)
{
	const char *c;
	int n;

	if (!name || !*name)
		name = SHM_DEFAULT_NAME;
	if (strchr(name, '/')) {
		if (name[0] != '/')
			return -EINVAL;
		n = snprintf(buf, len, "%s", name);
	} else {
		if (strlen(name) > SHM_NAME_MAX)
			return -ENAMETOOLONG;
		for (c = name; *c; c++) {
			if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			      (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' || *c == '.'))
				return -EINVAL;
		}
		if (name[0] == '.')
			return -EINVAL;
		n = snprintf(buf, len, "/dev/shm/kiln-%s", name);
	}
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}

static int seg_paths(struct seg *s, const char *name)
{
	int err = shm__path(name, s->path, sizeof(s->path));

	if (err)
		return err;
	snprintf(s->cons_path, sizeof(s->cons_path), "%s.cons", s->path);
	return 0;
}

const char *shm__strerror(const char *name, int err, char *buf, size_t len)
{
	char path[PATH_MAX];
	struct stat st;
	struct group *g;

	if (shm__path(name, path, sizeof(path))) {
		snprintf(buf, len,
			 "invalid ring name '%s' (letters, digits, '-', '_', '.'; or an "
			 "absolute path)",
			 name ? name : "");
		return buf;
	}
	switch (err) {
	case -ENOENT:
		snprintf(buf, len, "no ring at %s: is the kiln agent running (or --ring wrong)?",
			 path);
		break;
	case -EACCES:
	case -EPERM:
		if (stat(path, &st) == 0) {
			char grp[96];

			g = getgrgid(st.st_gid);
			if (g)
				snprintf(grp, sizeof(grp), "'%s' (gid %u)", g->gr_name,
					 (unsigned)st.st_gid);
			else
				snprintf(grp, sizeof(grp), "gid %u", (unsigned)st.st_gid);
			snprintf(buf, len,
				 "permission denied on %s (mode %04o, group %s): run as a member "
				 "of group %s",
				 path, (unsigned)(st.st_mode & 07777), grp, grp);
		} else {
			snprintf(buf, len, "permission denied on %s", path);
		}
		break;
	case -EBADMSG:
		snprintf(buf, len, "%s is not a kiln ring (bad magic or sizes)", path);
		break;
	case -EPROTO:
		snprintf(buf, len, "%s has another ring format version (this kiln reads %d)", path,
			 SHM_VERSION);
		break;
	case -EUSERS:
		snprintf(buf, len, "%s: all %d consumer slots are taken", path, SHM_MAX_CONSUMERS);
		break;
	case -EBUSY:
		snprintf(buf, len, "%s: another producer is running", path);
		break;
	case -EAGAIN:
		snprintf(buf, len, "%s: the producer is still initializing it, retry", path);
		break;
	default:
		snprintf(buf, len, "%s: %s", path, strerror(-err));
		break;
	}
	return buf;
}

int shm__unlink(const char *name)
{
	struct seg s;
	int err;

	seg_init(&s);
	err = seg_paths(&s, name);
	if (err)
		return err;
	if (unlink(s.path) < 0)
		err = -errno;
	if (unlink(s.cons_path) < 0 && !err && errno != ENOENT)
		err = -errno;
	return err;
}

/* Checks a mapped header against the file size. Returns 0 or -EBADMSG/-EPROTO/-EAGAIN. */
static int check_hdr(const struct shm_hdr *h, uint64_t file_size)
{
	uint64_t magic = load_magic(&h->magic);

	if (magic == 0)
		return -EAGAIN;
	if (magic != SHM_MAGIC)
		return -EBADMSG;
	if (h->version != SHM_VERSION)
		return -EPROTO;
	if (h->hdr_size != SHM_HDR_SIZE || h->data_offset != SHM_HDR_SIZE ||
	    !ring__size_valid(h->data_size) || file_size != SHM_HDR_SIZE + h->data_size ||
	    h->max_consumers != SHM_MAX_CONSUMERS)
		return -EBADMSG;
	return 0;
}

static int check_cons(const struct shm_cons *c)
{
	uint64_t magic = load_magic(&c->magic);

	if (magic == 0)
		return -EAGAIN;
	if (magic != SHM_CONS_MAGIC)
		return -EBADMSG;
	if (c->version != SHM_VERSION)
		return -EPROTO;
	if (c->max_consumers != SHM_MAX_CONSUMERS)
		return -EBADMSG;
	return 0;
}

/* Maps an existing ring for a consumer (CONS_RW) or a viewer. */
static int seg_attach(struct seg *s, const char *name, bool cons_rw)
{
	struct stat st;
	int err;

	err = seg_paths(s, name);
	if (err)
		return err;
	s->fd = open(s->path, O_RDONLY | O_CLOEXEC);
	if (s->fd < 0)
		return -errno;
	if (fstat(s->fd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size < SHM_HDR_SIZE + RING_MIN_SIZE ||
	    st.st_size > (off_t)(SHM_HDR_SIZE + RING_MAX_SIZE))
		return st.st_size == 0 ? -EAGAIN : -EBADMSG;
	s->mem_len = st.st_size;
	/*
	 * Populate: a consumer that faults its way through the first lap of a large ring is
	 * several times slower than one that reads mapped pages.
	 */
	s->mem = mmap(NULL, s->mem_len, PROT_READ, MAP_SHARED | (cons_rw ? MAP_POPULATE : 0), s->fd,
		      0);
	if (s->mem == MAP_FAILED) {
		s->mem = NULL;
		return -errno;
	}
	s->hdr = s->mem;
	err = check_hdr(s->hdr, st.st_size);
	if (err)
		return err;
	s->cons_fd = open(s->cons_path, (cons_rw ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (s->cons_fd < 0)
		return -errno;
	if (fstat(s->cons_fd, &st) < 0)
		return -errno;
	if ((size_t)st.st_size != CONS_SIZE)
		return st.st_size == 0 ? -EAGAIN : -EBADMSG;
	s->cons = mmap(NULL, CONS_SIZE, cons_rw ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED,
		       s->cons_fd, 0);
	if (s->cons == MAP_FAILED) {
		s->cons = NULL;
		return -errno;
	}
	return check_cons(s->cons);
}

static int reap(struct shm_cons *cons)
{
	int i, n = 0;

	for (i = 0; i < SHM_MAX_CONSUMERS; i++) {
		struct shm_slot *sl = &cons->slots[i];
		uint64_t o = atomic_load_explicit(&sl->owner, memory_order_acquire);
		int32_t pid = shm_slot__pid(o);

		if (!o)
			continue;
		/* EPERM means it exists under another user: alive. */
		if (pid > 0 && (kill(pid, 0) == 0 || errno != ESRCH))
			continue;
		/* Only if still owned by that claim: a new owner of the slot is never evicted. */
		if (!atomic_compare_exchange_strong_explicit(
			    &sl->owner, &o, 0, memory_order_acq_rel, memory_order_relaxed))
			continue;
		/* A dead sleeper would make every flush issue a useless wake-up. */
		atomic_fetch_and_explicit(&cons->wake.sleepers, ~(1u << i), memory_order_relaxed);
		atomic_fetch_add_explicit(&cons->reclaimed, 1, memory_order_relaxed);
		n++;
	}
	return n;
}

/* Opens (creating if needed) one of the two files with its mode and group. */
static int open_file(const char *path, mode_t mode, long gid, int extra_flags)
{
	int fd, err;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | extra_flags, mode);
	if (fd < 0)
		return -errno;
	/* Explicitly: the umask must not decide who may read profiles. */
	if (fchmod(fd, mode) < 0 || (gid >= 0 && fchown(fd, (uid_t)-1, (gid_t)gid) < 0)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static int producer_create_cons(struct seg *s, long gid, bool fresh)
{
	struct shm_cons *c;
	struct stat st;

	if (fresh)
		unlink(s->cons_path);
	s->cons_fd = open_file(s->cons_path, CONS_MODE, gid, 0);
	if (s->cons_fd < 0)
		return s->cons_fd;
	if (fstat(s->cons_fd, &st) < 0)
		return -errno;
	if (st.st_size && (size_t)st.st_size != CONS_SIZE) {
		/* Never shrink a file others may map (SIGBUS): replace it. */
		close(s->cons_fd);
		unlink(s->cons_path);
		s->cons_fd = open_file(s->cons_path, CONS_MODE, gid, O_EXCL);
		if (s->cons_fd < 0)
			return s->cons_fd;
		st.st_size = 0;
	}
	if (!st.st_size && ftruncate(s->cons_fd, CONS_SIZE) < 0)
		return -errno;
	c = mmap(NULL, CONS_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, s->cons_fd, 0);
	if (c == MAP_FAILED)
		return -errno;
	s->cons = c;
	if (st.st_size && !check_cons(c)) {
		reap(c);
		return 0;
	}
	memset(c, 0, CONS_SIZE);
	c->version = SHM_VERSION;
	c->max_consumers = SHM_MAX_CONSUMERS;
	store_magic(&c->magic, SHM_CONS_MAGIC);
	return 0;
}

/*
 * Opens the data file into S->fd (EXTRA_FLAGS added) and takes the producer's lock on it.
 * Returns 0, -EBUSY when another producer holds it, or -errno.
 */
static int producer_open_locked(struct seg *s, long gid, int extra_flags)
{
	s->fd = open_file(s->path, SEG_MODE, gid, extra_flags);
	if (s->fd < 0)
		return s->fd;
	/* The lock dies with the producer, so a crashed producer never blocks a restart. */
	if (flock(s->fd, LOCK_EX | LOCK_NB) < 0)
		return errno == EWOULDBLOCK ? -EBUSY : -errno;
	return 0;
}

/* Maps S->mem_len bytes of the data file read-write into S->mem. Returns 0 or -errno. */
static int producer_map(struct seg *s)
{
	s->mem =
		mmap(NULL, s->mem_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, s->fd, 0);
	if (s->mem == MAP_FAILED) {
		s->mem = NULL;
		return -errno;
	}
	return 0;
}

int shm_producer__new(struct shm_producer **out, const struct shm_producer_opts *opts)
{
	struct ring_producer_opts ro = { 0 };
	struct shm_producer *p = NULL;
	uint64_t size = opts && opts->size ? opts->size : SHM_DEFAULT_SIZE;
	long gid = opts ? opts->gid : -1;
	struct shm_hdr *h;
	struct stat st;
	bool fresh = false;
	int err = 0;

	*out = NULL;
	if (!ring__size_valid(size))
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	seg_init(&p->s);
	err = seg_paths(&p->s, opts ? opts->name : NULL);
	if (err)
		goto cleanup;
	err = producer_open_locked(&p->s, gid, 0);
	if (err)
		goto cleanup;
	if (fstat(p->s.fd, &st) < 0) {
		err = -errno;
		goto cleanup;
	}
	p->s.mem_len = SHM_HDR_SIZE + size;
	if (st.st_size == (off_t)p->s.mem_len) {
		err = producer_map(&p->s);
		if (err)
			goto cleanup;
		if (check_hdr(p->s.mem, st.st_size)) {
			munmap(p->s.mem, p->s.mem_len);
			p->s.mem = NULL;
		}
	}
	if (!p->s.mem) {
		fresh = true;
		if (st.st_size) {
			/*
			 * Consumers may map the old file: shrinking it under them would SIGBUS
			 * them. Give them a new inode instead; they notice and reattach.
			 */
			close(p->s.fd);
			unlink(p->s.path);
			err = producer_open_locked(&p->s, gid, O_EXCL);
			if (err)
				goto cleanup;
		}
		if (ftruncate(p->s.fd, p->s.mem_len) < 0) {
			err = -errno;
			goto cleanup;
		}
		err = producer_map(&p->s);
		if (err)
			goto cleanup;
	}
	h = p->s.hdr = p->s.mem;
	/* A taken-over segment still shows the dead producer's last heartbeat. */
	atomic_store_explicit(&h->heartbeat_ns, wall_ns(), memory_order_relaxed);
	err = producer_create_cons(&p->s, gid, fresh);
	if (err)
		goto cleanup;
	if (fresh) {
		h->version = SHM_VERSION;
		h->hdr_size = SHM_HDR_SIZE;
		h->data_offset = SHM_HDR_SIZE;
		h->data_size = size;
		h->max_consumers = SHM_MAX_CONSUMERS;
		h->gid = gid >= 0 ? (uint32_t)gid : (uint32_t)-1;
		h->created_ns = wall_ns();
	}
	ro.recover = !fresh;
	ro.publish_bytes = opts ? opts->publish_bytes : 0;
	err = ring_producer__new(&p->ring, &h->ctl, (uint8_t *)p->s.mem + SHM_HDR_SIZE, size,
				 &p->s.cons->wake, &ro);
	if (err)
		goto cleanup;
	p->generation = atomic_load_explicit(&h->ctl.generation, memory_order_relaxed);
	atomic_store_explicit(&h->producer_start_ns, wall_ns(), memory_order_relaxed);
	atomic_store_explicit(&h->producer_pid, getpid(), memory_order_relaxed);
	if (fresh)
		store_magic(&h->magic, SHM_MAGIC);
	/* Consumers asleep across the restart re-check the generation. */
	ring_producer__flush(p->ring);
	*out = p;
	p = NULL;
cleanup:
	if (p) {
		ring_producer__free(p->ring);
		seg_close(&p->s);
		free(p);
	}
	return err;
}

struct ring_producer *shm_producer__ring(struct shm_producer *p)
{
	return p->ring;
}

uint64_t shm_producer__generation(const struct shm_producer *p)
{
	return p->generation;
}

_Atomic uint64_t *shm_producer__counter(struct shm_producer *p, const char *name)
{
	struct shm_counter *c = p->s.hdr->counters;
	int i, free_i = -1;

	for (i = 0; i < SHM_NUM_COUNTERS; i++) {
		if (!c[i].name[0]) {
			if (free_i < 0)
				free_i = i;
			continue;
		}
		if (!strncmp(c[i].name, name, SHM_COUNTER_NAME - 1))
			return &c[i].value;
	}
	if (free_i < 0)
		return NULL;
	atomic_store_explicit(&c[free_i].value, 0, memory_order_relaxed);
	snprintf(c[free_i].name, SHM_COUNTER_NAME, "%s", name);
	return &c[free_i].value;
}

void shm_producer__heartbeat(struct shm_producer *p)
{
	/* Relaxed: a display value; nothing is ordered against it. */
	atomic_store_explicit(&p->s.hdr->heartbeat_ns, wall_ns(), memory_order_relaxed);
}

int shm_producer__reap(struct shm_producer *p)
{
	return reap(p->s.cons);
}

int shm_producer__min_cursor(struct shm_producer *p, uint64_t *pos)
{
	bool any = false;
	uint64_t min = 0;
	int i;

	for (i = 0; i < SHM_MAX_CONSUMERS; i++) {
		struct shm_slot *sl = &p->s.cons->slots[i];
		uint64_t c;

		if (!atomic_load_explicit(&sl->owner, memory_order_acquire))
			continue;
		/* Acquire: pairs with the consumer's release of pos after reading the records. */
		c = atomic_load_explicit(&sl->cursor.pos, memory_order_acquire);
		if (!any || c < min)
			min = c;
		any = true;
	}
	if (!any)
		return -ENOENT;
	*pos = min;
	return 0;
}

void shm_producer__free(struct shm_producer *p)
{
	if (!p)
		return;
	ring_producer__free(p->ring);
	if (p->s.hdr)
		atomic_store_explicit(&p->s.hdr->producer_pid, 0, memory_order_relaxed);
	seg_close(&p->s);
	free(p);
}

int shm_consumer__new(struct shm_consumer **out, const struct shm_consumer_opts *opts)
{
	struct ring_consumer_opts ro = { 0 };
	struct shm_consumer *c = NULL;
	struct shm_slot *sl;
	uint64_t claim, owner = 0;
	int err = 0, i;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	seg_init(&c->s);
	c->slot = -1;
	err = seg_attach(&c->s, opts ? opts->name : NULL, true);
	if (err)
		goto cleanup;
	reap(c->s.cons);
	claim = atomic_fetch_add_explicit(&c->s.cons->claims, 1, memory_order_relaxed) + 1;
	for (i = 0; i < SHM_MAX_CONSUMERS; i++) {
		uint64_t expected = 0;

		owner = claim << 32 | (uint32_t)getpid();
		/* Acq_rel: the slot's previous owner is done with it before we reuse it. */
		if (atomic_compare_exchange_strong_explicit(&c->s.cons->slots[i].owner, &expected,
							    owner, memory_order_acq_rel,
							    memory_order_relaxed))
			break;
	}
	if (i == SHM_MAX_CONSUMERS) {
		err = -EUSERS;
		goto cleanup;
	}
	c->slot = i;
	c->owner = owner;
	sl = &c->s.cons->slots[i];
	atomic_store_explicit(&sl->attach_ns, wall_ns(), memory_order_relaxed);
	atomic_store_explicit(&sl->active_ns, wall_ns(), memory_order_relaxed);
	memset(sl->comm, 0, sizeof(sl->comm));
	prctl(PR_GET_NAME, sl->comm);
	/* The previous owner's counters must not be read as ours. */
	atomic_store_explicit(&sl->kind, SHM_KIND_OTHER, memory_order_relaxed);
	for (int k = 0; k < SHM_SLOT_STATS_ALL; k++)
		atomic_store_explicit(shm_slot__stat(sl, k), 0, memory_order_relaxed);
	ro.start = opts ? opts->start : RING_START_NEWEST;
	ro.wake_bit = i;
	err = ring_consumer__new(&c->ring, &c->s.hdr->ctl, (const uint8_t *)c->s.mem + SHM_HDR_SIZE,
				 c->s.hdr->data_size, &sl->cursor, &c->s.cons->wake, &ro);
	if (err)
		goto cleanup;
	*out = c;
	c = NULL;
cleanup:
	shm_consumer__free(c);
	return err;
}

struct ring_consumer *shm_consumer__ring(struct shm_consumer *c)
{
	return c->ring;
}

int shm_consumer__slot(const struct shm_consumer *c)
{
	return c->slot;
}

uint64_t shm_consumer__generation(const struct shm_consumer *c)
{
	return atomic_load_explicit(&c->s.hdr->ctl.generation, memory_order_relaxed);
}

const struct shm_hdr *shm_consumer__hdr(const struct shm_consumer *c)
{
	return c->s.hdr;
}

int shm_consumer__wait(struct shm_consumer *c, int timeout_ms)
{
	struct stat a, b;
	int err;

	err = ring_consumer__wait(c->ring, timeout_ms);
	atomic_store_explicit(&c->s.cons->slots[c->slot].active_ns, wall_ns(),
			      memory_order_relaxed);
	if (err == -ETIMEDOUT && fstat(c->s.fd, &a) == 0 &&
	    (stat(c->s.path, &b) < 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev))
		return -ESTALE;
	return err;
}

_Atomic uint64_t *shm_consumer__stats(struct shm_consumer *c, enum shm_kind kind)
{
	struct shm_slot *sl = &c->s.cons->slots[c->slot];

	atomic_store_explicit(&sl->kind, (uint32_t)kind, memory_order_relaxed);
	return sl->stats;
}

_Atomic uint64_t *shm_consumer__stats_ext(struct shm_consumer *c)
{
	return c->s.cons->slots[c->slot].stats_ext;
}

const char *shm_kind__stat_name(uint32_t kind, int i)
{
	if (i < 0 || i >= SHM_SLOT_STATS_ALL)
		return NULL;
	if (kind == SHM_KIND_EXPORT)
		return export_stat_names[i];
	if (kind == SHM_KIND_UI)
		return ui_stat_names[i];
	return NULL;
}

bool shm_kind__stat_problem(uint32_t kind, int i)
{
	/* Retries are counted as problems too: each one is a delivery that failed first. */
	static const bool export_problem[SHM_SLOT_STATS_ALL] = {
		[SHM_EXP_FAILURES] = true,
		[SHM_EXP_RETRIES] = true,
		[SHM_EXP_DROPPED] = true,
		[SHM_EXP_EXPIRED] = true,
	};
	static const bool ui_problem[SHM_SLOT_STATS_ALL] = {
		[SHM_UI_BAD] = true,
		[SHM_UI_DROPPED] = true,
		[SHM_UI_REFUSED] = true,
		[SHM_UI_EVICTED] = true,
	};

	if (i < 0 || i >= SHM_SLOT_STATS_ALL)
		return false;
	if (kind == SHM_KIND_EXPORT)
		return export_problem[i];
	if (kind == SHM_KIND_UI)
		return ui_problem[i];
	return false;
}

const char *shm_kind__name(uint32_t kind)
{
	return kind == SHM_KIND_EXPORT ? "export" : kind == SHM_KIND_UI ? "ui" : "other";
}

void shm_consumer__free(struct shm_consumer *c)
{
	if (!c)
		return;
	ring_consumer__free(c->ring);
	if (c->slot >= 0) {
		uint64_t o = c->owner;
		struct shm_cons *cons = c->s.cons;

		atomic_fetch_and_explicit(&cons->wake.sleepers, ~(1u << c->slot),
					  memory_order_relaxed);
		/* Release: our last cursor stores happen before the slot looks free. */
		atomic_compare_exchange_strong_explicit(&cons->slots[c->slot].owner, &o, 0,
							memory_order_release, memory_order_relaxed);
	}
	seg_close(&c->s);
	free(c);
}

int shm_view__open(struct shm_view **out, const char *name)
{
	struct shm_view *v;
	int err;

	*out = NULL;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	seg_init(&v->s);
	err = seg_attach(&v->s, name, false);
	if (err) {
		shm_view__free(v);
		return err;
	}
	*out = v;
	return 0;
}

const struct shm_hdr *shm_view__hdr(const struct shm_view *v)
{
	return v->s.hdr;
}

const struct shm_cons *shm_view__cons(const struct shm_view *v)
{
	return v->s.cons;
}

const char *shm_view__path(const struct shm_view *v)
{
	return v->s.path;
}

void shm_view__free(struct shm_view *v)
{
	if (!v)
		return;
	seg_close(&v->s);
	free(v);
}
