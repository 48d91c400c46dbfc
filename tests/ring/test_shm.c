// SPDX-License-Identifier: Apache-2.0
/*
 * shm/ with real processes: integrity of 10 M records, a stalled consumer, SIGKILLed
 * consumers, a producer restart, group permissions, kiln status. Processes synchronize
 * through pipes, waitpid and the ring's own futex; never through sleeps.
 */
#include <CUnit/Basic.h>

#include "tests/lib/kiln_test.h"
#include <errno.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shm/shm.h"
#include "tests/ring/ring_produce.h"
#include "tests/ring/ring_test.h"

#define END_FLAG 0x8000
#define TEST_GID 4242

struct result {
	int err; /* 0, or what went wrong in the child */
	int slot;
	uint64_t got; /* records read and released intact */
	uint64_t bad; /* out of order or damaged */
	uint64_t gaps;
	uint64_t first_seq;
	uint64_t lost, lapped, corrupt, generations;
};

static char ring_name[64];
static int name_seq;

static const char *new_name(void)
{
	snprintf(ring_name, sizeof(ring_name), "test-%d-%d", (int)getpid(), name_seq++);
	return ring_name;
}

/* Payload length of record SEQ: fixed 16 bytes when MAX is 0, else mixed. */
static uint32_t plen(uint64_t seq, uint32_t max)
{
	return max ? rt_len(seq, max) : 16;
}

static void write_all(int fd, const void *buf, size_t len)
{
	const char *b = buf;

	while (len) {
		ssize_t n = write(fd, b, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(90);
		b += n;
		len -= n;
	}
}

static int read_all(int fd, void *buf, size_t len)
{
	char *b = buf;

	while (len) {
		ssize_t n = read(fd, b, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		b += n;
		len -= n;
	}
	return 0;
}

/* Reads until the END record; checks order, content and that gaps match the lost counter. */
static void consume(struct shm_consumer *c, uint32_t max, struct result *res)
{
	struct ring_consumer *rc = shm_consumer__ring(c);
	const struct ring_cursor *cur = ring_consumer__cursor(rc);
	uint64_t next = UINT64_MAX;
	int idle = 0;
	struct ring_rec r;

	for (;;) {
		int err = ring_consumer__peek(rc, &r);
		bool ok;

		if (err == -EAGAIN) {
			err = shm_consumer__wait(c, 1000);
			/* a hung producer must fail the test, not hang it (30 s) */
			if (err == -ETIMEDOUT && ++idle > 30) {
				res->err = ETIMEDOUT;
				break;
			}
			continue;
		}
		idle = 0;
		if (r.flags & END_FLAG) {
			ring_consumer__release(rc);
			break;
		}
		ok = r.type == RING_TYPE_TEST && r.len >= plen(r.seq, max) &&
		     rt_check(r.data, plen(r.seq, max), r.seq);
		if (ring_consumer__release(rc) != 0)
			continue;
		if (!ok || (next != UINT64_MAX && r.seq < next))
			res->bad++;
		if (next == UINT64_MAX)
			res->first_seq = r.seq;
		else if (r.seq > next)
			res->gaps += r.seq - next;
		next = r.seq + 1;
		res->got++;
	}
	res->lost = atomic_load(&cur->lost);
	res->lapped = atomic_load(&cur->lapped);
	res->corrupt = atomic_load(&cur->corrupt);
	res->generations = atomic_load(&cur->generations);
}

enum child_mode {
	CHILD_CONSUME, /* attach, report, consume to END */
	CHILD_STALL, /* attach, report, wait for a byte on the go pipe, then consume */
	CHILD_HOLD, /* attach, report, sleep in the ring's futex wait until killed */
};

struct child {
	pid_t pid;
	int res_fd; /* results come back here */
	int go_fd; /* write end of the go pipe */
	int slot;
};

/* Forks a consumer of ring NAME; returns once it has attached (its slot is known). */
static void spawn(struct child *ch, const char *name, enum child_mode mode, uint32_t max)
{
	int res[2], go[2];

	CU_ASSERT_FATAL(pipe(res) == 0 && pipe(go) == 0);
	ch->pid = fork();
	CU_ASSERT_FATAL(ch->pid >= 0);
	if (ch->pid == 0) {
		struct shm_consumer_opts o = { .name = name, .start = RING_START_NEWEST };
		struct shm_consumer *c = NULL;
		struct result r = { 0 };
		char b;

		close(res[0]);
		close(go[1]);
		r.err = -shm_consumer__new(&c, &o);
		r.slot = c ? shm_consumer__slot(c) : -1;
		write_all(res[1], &r.slot, sizeof(r.slot));
		if (!r.err) {
			if (mode == CHILD_STALL && read_all(go[0], &b, 1))
				_exit(91);
			if (mode == CHILD_HOLD) {
				for (;;)
					shm_consumer__wait(c, -1);
			}
			consume(c, max, &r);
		}
		write_all(res[1], &r, sizeof(r));
		shm_consumer__free(c);
		_exit(0);
	}
	close(res[1]);
	close(go[0]);
	ch->res_fd = res[0];
	ch->go_fd = go[1];
	CU_ASSERT_FATAL(read_all(ch->res_fd, &ch->slot, sizeof(ch->slot)) == 0);
	CU_ASSERT_FATAL(ch->slot >= 0);
}

static void collect(struct child *ch, struct result *r)
{
	int st = 0;

	memset(r, 0, sizeof(*r));
	CU_ASSERT(read_all(ch->res_fd, r, sizeof(*r)) == 0);
	CU_ASSERT(waitpid(ch->pid, &st, 0) == ch->pid);
	CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CU_ASSERT_EQUAL(r->err, 0);
	close(ch->res_fd);
	close(ch->go_fd);
}

static void kill_child(struct child *ch)
{
	int st;

	kill(ch->pid, SIGKILL);
	CU_ASSERT(waitpid(ch->pid, &st, 0) == ch->pid);
	CU_ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	close(ch->res_fd);
	close(ch->go_fd);
}

static struct shm_producer *producer(const char *name, uint64_t size, long gid)
{
	struct shm_producer_opts o = { .name = name, .size = size, .gid = gid };
	struct shm_producer *p = NULL;
	int err = shm_producer__new(&p, &o);

	if (err)
		fprintf(stderr, "shm_producer__new: %s\n", strerror(-err));
	CU_ASSERT_FATAL(err == 0);
	return p;
}

/* Cursor of one slot (or of the slowest consumer when SLOT < 0), for flow control. */
static uint64_t cursor_of(struct shm_producer *p, const struct shm_view *v, int slot)
{
	uint64_t pos = 0;

	if (slot >= 0)
		return atomic_load_explicit(&shm_view__cons(v)->slots[slot].cursor.pos,
					    memory_order_acquire);
	CU_ASSERT_FATAL(shm_producer__min_cursor(p, &pos) == 0);
	return pos;
}

struct pace {
	struct shm_producer *p;
	const struct shm_view *v;
	int slot;
};

static uint64_t pace_cursor(void *ctx)
{
	const struct pace *pc = ctx;

	return cursor_of(pc->p, pc->v, pc->slot);
}

/*
 * Writes records FIRST..FIRST+N-1. With flow control (V non-NULL) it never laps the
 * consumer in SLOT (the slowest when SLOT < 0): tests use this to mean "consumers keep up".
 */
static void produce(struct shm_producer *p, const struct shm_view *v, int slot, uint64_t first,
		    uint64_t n, uint32_t max, uint64_t size)
{
	struct ring_producer *rp = shm_producer__ring(p);
	uint64_t seq, limit = 0;

	struct pace pc = { .p = p, .v = v, .slot = slot };

	for (seq = first; seq < first + n; seq++) {
		if (v)
			rt_pace(rp, size, &limit, pace_cursor, &pc);
		rt_put(rp, seq, plen(seq, max), 0);
		if (seq % 256 == 0)
			ring_producer__flush(rp);
	}
	ring_producer__flush(rp);
}

static void produce_end(struct shm_producer *p)
{
	struct ring_producer *rp = shm_producer__ring(p);

	CU_ASSERT_FATAL(ring_producer__reserve(rp, 8) != NULL);
	CU_ASSERT_FATAL(ring_producer__commit(rp, RING_TYPE_TEST, END_FLAG) == 0);
	ring_producer__flush(rp);
}

static struct shm_view *view(const char *name)
{
	struct shm_view *v = NULL;

	CU_ASSERT_FATAL(shm_view__open(&v, name) == 0);
	return v;
}

/* 10 M records, two consumer processes that keep up: all in order, intact, none lost. */
static void test_integrity_10m(void)
{
	const uint64_t size = 4ull << 20, n = 10000000;
	const char *name = new_name();
	struct shm_producer *p = producer(name, size, -1);
	struct shm_view *v = view(name);
	struct child ch[2];
	struct result r;
	int i;

	for (i = 0; i < 2; i++)
		spawn(&ch[i], name, CHILD_CONSUME, 0);
	produce(p, v, -1, 0, n, 0, size);
	produce_end(p);
	for (i = 0; i < 2; i++) {
		collect(&ch[i], &r);
		CU_ASSERT_EQUAL(r.got, n);
		CU_ASSERT_EQUAL(r.bad, 0);
		CU_ASSERT_EQUAL(r.first_seq, 0);
		CU_ASSERT_EQUAL(r.lost, 0);
		CU_ASSERT_EQUAL(r.corrupt, 0);
	}
	CU_ASSERT(atomic_load(&shm_view__hdr(v)->ctl.records) == n + 1);
	shm_view__free(v);
	shm_producer__free(p);
	CU_ASSERT(shm__unlink(name) == 0);
}

/*
 * Consumer B is stalled for the whole run while A keeps up: A loses nothing (the stated
 * bound for the others is zero), B's losses are counted exactly, mixed sizes wrap the ring.
 */
static void test_stalled_consumer(void)
{
	const uint64_t size = 256 << 10, n = 300000;
	const uint32_t max = 4000;
	const char *name = new_name();
	struct shm_producer *p = producer(name, size, -1);
	struct shm_view *v = view(name);
	struct child a, b;
	struct result ra, rb;

	spawn(&a, name, CHILD_CONSUME, max);
	spawn(&b, name, CHILD_STALL, max);
	produce(p, v, a.slot, 0, n, max, size);
	produce_end(p);
	collect(&a, &ra);
	CU_ASSERT(write(b.go_fd, "g", 1) == 1);
	collect(&b, &rb);
	CU_ASSERT_EQUAL(ra.got, n);
	CU_ASSERT_EQUAL(ra.lost, 0);
	CU_ASSERT_EQUAL(ra.bad, 0);
	CU_ASSERT_EQUAL(ra.lapped, 0);
	CU_ASSERT_EQUAL(rb.bad, 0);
	CU_ASSERT(rb.lapped >= 1);
	CU_ASSERT(rb.lost > 0);
	CU_ASSERT(rb.got > 0);
	/* exact: every record it did not get is counted, and none twice */
	CU_ASSERT_EQUAL(rb.got + rb.lost, n);
	CU_ASSERT_EQUAL(rb.lost, rb.first_seq + rb.gaps);
	/* what survives for it: at least size/4 of the newest bytes (FORMAT.md's bound) */
	CU_ASSERT(rb.got * (max + 16) >= size / 4);
	CU_ASSERT(atomic_load(&shm_view__hdr(v)->ctl.pads) > 0);
	shm_view__free(v);
	shm_producer__free(p);
	CU_ASSERT(shm__unlink(name) == 0);
}

/* Consumers killed with SIGKILL (one asleep in the futex) are detected and reclaimed. */
static void test_killed_consumer(void)
{
	const char *name = new_name();
	struct shm_producer *p = producer(name, 65536, -1);
	struct shm_view *v = view(name);
	const struct shm_cons *cons = shm_view__cons(v);
	struct shm_consumer_opts o = { .name = name };
	struct shm_consumer *c = NULL;
	struct child ch[SHM_MAX_CONSUMERS];
	int i, n;

	for (i = 0; i < SHM_MAX_CONSUMERS; i++)
		spawn(&ch[i], name, CHILD_HOLD, 0);
	CU_ASSERT_EQUAL(shm_consumer__new(&c, &o), -EUSERS);
	CU_ASSERT(c == NULL);
	/* wait until child 0 really sleeps on the futex (its sleeper bit is set) */
	while (!(atomic_load(&cons->wake.sleepers) & (1u << ch[0].slot)))
		sched_yield();
	kill_child(&ch[0]);
	/* attaching reclaims the dead slot first */
	CU_ASSERT_FATAL(shm_consumer__new(&c, &o) == 0);
	CU_ASSERT_EQUAL(shm_consumer__slot(c), ch[0].slot);
	CU_ASSERT_EQUAL(atomic_load(&cons->reclaimed), 1);
	for (i = 1; i < SHM_MAX_CONSUMERS; i++)
		kill_child(&ch[i]);
	n = shm_producer__reap(p);
	CU_ASSERT_EQUAL(n, SHM_MAX_CONSUMERS - 1);
	CU_ASSERT_EQUAL(atomic_load(&cons->reclaimed), SHM_MAX_CONSUMERS);
	/* no dead sleeper bits left: a flush does not issue a pointless wake-up */
	CU_ASSERT_EQUAL(atomic_load(&cons->wake.sleepers), 0);
	for (i = 0; i < SHM_MAX_CONSUMERS; i++)
		CU_ASSERT_EQUAL(atomic_load(&cons->slots[i].owner) != 0, i == ch[0].slot);
	/* the live consumer is never reaped */
	CU_ASSERT_EQUAL(shm_producer__reap(p), 0);
	shm_consumer__free(c);
	CU_ASSERT_EQUAL(atomic_load(&cons->slots[ch[0].slot].owner), 0);
	shm_view__free(v);
	shm_producer__free(p);
	CU_ASSERT(shm__unlink(name) == 0);
}

/*
 * A producer is SIGKILLed in the middle of a record with a consumer attached; a second one
 * takes over: the consumer notices the new generation and misses nothing, reads no garbage.
 */
static void test_producer_restart(void)
{
	const uint64_t size = 1 << 20, n1 = 2000, n2 = 30000;
	const uint32_t max = 2000;
	const char *name = new_name();
	struct shm_producer_opts po = { .name = name, .size = size, .gid = -1 };
	struct shm_producer *p = NULL;
	struct shm_view *v;
	int ready[2], go[2];
	struct child c;
	struct result r;
	pid_t pp;
	char b;
	int st;

	CU_ASSERT_FATAL(pipe(ready) == 0 && pipe(go) == 0);
	pp = fork();
	CU_ASSERT_FATAL(pp >= 0);
	if (pp == 0) {
		struct ring_producer *rp;
		void *d;

		if (shm_producer__new(&p, &po))
			_exit(1);
		write_all(ready[1], "c", 1);
		if (read_all(go[0], &b, 1))
			_exit(2);
		/* no flow control needed: n1 records fit in the ring */
		rp = shm_producer__ring(p);
		produce(p, NULL, -1, 0, n1, max, size);
		d = ring_producer__reserve(rp, 1000);
		memset(d, 0xa5, 500);
		write_all(ready[1], "d", 1);
		for (;;)
			pause();
	}
	CU_ASSERT_FATAL(read_all(ready[0], &b, 1) == 0 && b == 'c');
	v = view(name);
	CU_ASSERT_EQUAL(atomic_load(&shm_view__hdr(v)->ctl.generation), 1);
	CU_ASSERT_EQUAL(atomic_load(&shm_view__hdr(v)->producer_pid), pp);
	spawn(&c, name, CHILD_CONSUME, max);
	CU_ASSERT(write(go[1], "g", 1) == 1);
	CU_ASSERT_FATAL(read_all(ready[0], &b, 1) == 0 && b == 'd');
	/* one producer at a time */
	CU_ASSERT_EQUAL(shm_producer__new(&p, &po), -EBUSY);
	kill(pp, SIGKILL);
	CU_ASSERT(waitpid(pp, &st, 0) == pp);
	p = producer(name, size, -1);
	CU_ASSERT_EQUAL(shm_producer__generation(p), 2);
	CU_ASSERT_EQUAL(atomic_load(&shm_view__hdr(v)->producer_pid), getpid());
	CU_ASSERT_EQUAL(atomic_load(&shm_view__hdr(v)->ctl.recovered), 1);
	produce(p, v, -1, n1, n2, max, size);
	produce_end(p);
	collect(&c, &r);
	CU_ASSERT_EQUAL(r.got, n1 + n2);
	CU_ASSERT_EQUAL(r.bad, 0);
	CU_ASSERT_EQUAL(r.lost, 0);
	CU_ASSERT_EQUAL(r.corrupt, 0);
	CU_ASSERT_EQUAL(r.generations, 1);
	close(ready[0]);
	close(ready[1]);
	close(go[0]);
	close(go[1]);
	shm_view__free(v);
	shm_producer__free(p);
	CU_ASSERT(shm__unlink(name) == 0);
}

/* Drops to uid 65534 with only GID as group (or none); returns what attaching gave. */
static int attach_as(const char *name, long gid, char *msg, size_t len)
{
	struct shm_consumer_opts o = { .name = name, .start = RING_START_OLDEST };
	struct shm_consumer *c = NULL;
	struct ring_rec r;
	gid_t g = gid >= 0 ? (gid_t)gid : 65534;
	int err;

	if ((gid >= 0 ? setgroups(1, &g) : setgroups(0, NULL)) || setresgid(g, g, g) ||
	    setresuid(65534, 65534, 65534))
		return -1000;
	err = shm_consumer__new(&c, &o);
	shm__strerror(name, err, msg, len);
	if (err)
		return err;
	/* it can read what root wrote */
	err = ring_consumer__peek(shm_consumer__ring(c), &r);
	if (!err && (r.seq != 0 || !rt_check(r.data, 16, 0)))
		err = -EBADMSG;
	shm_consumer__free(c);
	return err;
}

static void test_permissions(void)
{
	const char *name = new_name();
	struct shm_producer *p;
	char path[256], msg[512];
	struct stat st;
	int res[2], i;

	if (geteuid() != 0) {
		fprintf(stderr, "test_permissions: not root, cannot drop privileges: skipped\n");
		return;
	}
	p = producer(name, 65536, TEST_GID);
	produce(p, NULL, -1, 0, 1, 0, 65536);
	CU_ASSERT_FATAL(shm__path(name, path, sizeof(path)) == 0);
	CU_ASSERT_FATAL(stat(path, &st) == 0);
	CU_ASSERT_EQUAL(st.st_mode & 07777, 0640);
	CU_ASSERT_EQUAL(st.st_gid, TEST_GID);
	strcat(path, ".cons");
	CU_ASSERT_FATAL(stat(path, &st) == 0);
	CU_ASSERT_EQUAL(st.st_mode & 07777, 0660);
	CU_ASSERT_EQUAL(st.st_gid, TEST_GID);
	for (i = 0; i < 2; i++) {
		pid_t pid;
		int err = 0, ws;

		CU_ASSERT_FATAL(pipe(res) == 0);
		pid = fork();
		CU_ASSERT_FATAL(pid >= 0);
		if (pid == 0) {
			memset(msg, 0, sizeof(msg));
			err = attach_as(name, i == 0 ? TEST_GID : -1, msg, sizeof(msg));
			write_all(res[1], &err, sizeof(err));
			write_all(res[1], msg, sizeof(msg));
			_exit(0);
		}
		close(res[1]);
		CU_ASSERT(read_all(res[0], &err, sizeof(err)) == 0);
		CU_ASSERT(read_all(res[0], msg, sizeof(msg)) == 0);
		msg[sizeof(msg) - 1] = 0;
		close(res[0]);
		CU_ASSERT(waitpid(pid, &ws, 0) == pid);
		if (i == 0) {
			CU_ASSERT_EQUAL(err, 0);
		} else {
			CU_ASSERT_EQUAL(err, -EACCES);
			/* the message names the group to join */
			CU_ASSERT(strstr(msg, "permission denied") && strstr(msg, "4242"));
		}
	}
	shm_producer__free(p);
	CU_ASSERT(shm__unlink(name) == 0);
}

/* Bad magic and versions are refused with their own errors; missing rings too. */
static void test_bad_segments(void)
{
	const char *name = new_name();
	struct shm_consumer_opts o = { .name = name };
	struct shm_consumer *c = NULL;
	struct shm_producer *p;
	char path[256];
	uint32_t version = 99;
	FILE *f;

	CU_ASSERT_EQUAL(shm_consumer__new(&c, &o), -ENOENT);
	CU_ASSERT_EQUAL(shm__path("../x", path, sizeof(path)), -EINVAL);
	CU_ASSERT_EQUAL(shm__path("rel/x", path, sizeof(path)), -EINVAL);
	p = producer(name, 65536, -1);
	shm_producer__free(p);
	CU_ASSERT_FATAL(shm__path(name, path, sizeof(path)) == 0);
	f = fopen(path, "r+");
	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT(fseek(f, 8, SEEK_SET) == 0 && fwrite(&version, 4, 1, f) == 1);
	fflush(f);
	CU_ASSERT_EQUAL(shm_consumer__new(&c, &o), -EPROTO);
	CU_ASSERT(fseek(f, 0, SEEK_SET) == 0 && fwrite("NOTKILN!", 8, 1, f) == 1);
	fclose(f);
	CU_ASSERT_EQUAL(shm_consumer__new(&c, &o), -EBADMSG);
	/* a producer replaces an incompatible segment instead of trusting it */
	p = producer(name, 65536, -1);
	CU_ASSERT_FATAL(shm_consumer__new(&c, &o) == 0);
	shm_consumer__free(c);
	shm_producer__free(p);
	CU_ASSERT(shm__unlink(name) == 0);
}

/* kiln status on a live ring and on a missing one. */
static void test_status_cli(void)
{
	const char *kiln = getenv("KILN");
	const char *name = new_name();
	struct shm_consumer_opts o = { .name = name };
	struct shm_consumer *c = NULL;
	struct shm_producer *p;
	char cmd[512], out[8192];
	size_t n;
	FILE *f;

	if (!kiln || access(kiln, X_OK)) {
		fprintf(stderr, "test_status_cli: KILN not set: skipped\n");
		return;
	}
	p = producer(name, 65536, -1);
	CU_ASSERT_FATAL(shm_consumer__new(&c, &o) == 0);
	*shm_producer__counter(p, "samples") = 1234;
	produce(p, NULL, -1, 0, 100, 0, 65536);
	snprintf(cmd, sizeof(cmd), "%s status --ring %s 2>&1", kiln, name);
	f = popen(cmd, "r");
	CU_ASSERT_FATAL(f != NULL);
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = 0;
	CU_ASSERT_EQUAL(pclose(f), 0);
	CU_ASSERT(strstr(out, "generation") != NULL);
	CU_ASSERT(strstr(out, "alive") != NULL);
	CU_ASSERT(strstr(out, "samples") && strstr(out, "1234"));
	CU_ASSERT(strstr(out, "lag") != NULL);
	shm_consumer__free(c);
	shm_producer__free(p);
	CU_ASSERT(shm__unlink(name) == 0);
	f = popen(cmd, "r");
	CU_ASSERT_FATAL(f != NULL);
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = 0;
	CU_ASSERT_EQUAL(WEXITSTATUS(pclose(f)), 1);
	CU_ASSERT(strstr(out, "no ring") != NULL);
}

KILN_TEST_MAIN("shm", { "10M records, 2 consumer processes", test_integrity_10m },
	       { "stalled consumer process", test_stalled_consumer },
	       { "SIGKILLed consumers reclaimed", test_killed_consumer },
	       { "producer restart under consumers", test_producer_restart },
	       { "group permissions", test_permissions }, { "bad segments", test_bad_segments },
	       { "kiln status", test_status_cli })
