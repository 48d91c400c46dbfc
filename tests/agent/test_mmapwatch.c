// SPDX-License-Identifier: Apache-2.0
/*
 * Mapping events: the perf record parser on records built here (every type, a LOST record,
 * out-of-order times, truncated and garbage records), the symbolizer fed by them (a process
 * that is gone resolved from its events alone, overlapping mappings, fork and exec), and the
 * real kernel's records for a child that execs and exits.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <limits.h>
#include <linux/perf_event.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "aggregator/mmapwatch.h"
#include "common/util.h"
#include "symbolize/symbolize.h"
#include "tests/lib/kiln_test.h"

/* Beyond PID_MAX_LIMIT (4194304): no process can have these, so /proc never answers. */
#define FAKE_PID 4194311u
#define FAKE_PID2 4194312u
#define FAKE_PID3 4194313u

__attribute__((noinline)) int mmapwatch_known_function(int x)
{
	return x * 5 + (int)getpid() % 7;
}

struct stream {
	uint8_t buf[16384];
	size_t len;
};

/* Appends a record: header, BODY padded to 8 bytes, the pid/tid/time trailer. */
static void put(struct stream *s, uint32_t type, uint16_t misc, const void *body, size_t n,
		uint32_t pid, uint64_t time_ns)
{
	size_t padded = (n + 7) & ~(size_t)7, size = 8 + padded + 16;
	uint8_t *p = s->buf + s->len;
	uint32_t tid = pid;
	uint16_t sz = (uint16_t)size;

	CU_ASSERT_FATAL(s->len + size <= sizeof(s->buf));
	memset(p, 0, size);
	memcpy(p, &type, 4);
	memcpy(p + 4, &misc, 2);
	memcpy(p + 6, &sz, 2);
	memcpy(p + 8, body, n);
	memcpy(p + 8 + padded, &pid, 4);
	memcpy(p + 8 + padded + 4, &tid, 4);
	memcpy(p + 8 + padded + 8, &time_ns, 8);
	s->len += size;
}

struct mmap2_body {
	uint32_t pid, tid;
	uint64_t addr, len, pgoff;
	union {
		struct {
			uint32_t maj, min;
			uint64_t ino, ino_gen;
		};
		struct {
			uint8_t bid_size, r1;
			uint16_t r2;
			uint8_t bid[20];
		};
	};
	uint32_t prot, flags;
	char filename[64];
};

static void put_mmap2(struct stream *s, uint32_t pid, uint64_t t, uint64_t addr, uint64_t len,
		      uint64_t pgoff, uint64_t dev, uint64_t ino, const char *path,
		      const uint8_t *bid)
{
	struct mmap2_body b = { .pid = pid, .tid = pid, .addr = addr, .len = len, .pgoff = pgoff };

	if (bid) {
		b.bid_size = 20;
		memcpy(b.bid, bid, 20);
	} else {
		b.maj = major(dev);
		b.min = minor(dev);
		b.ino = ino;
	}
	b.prot = PROT_READ | PROT_EXEC;
	b.flags = MAP_PRIVATE;
	snprintf(b.filename, sizeof(b.filename), "%s", path);
	put(s, PERF_RECORD_MMAP2, bid ? PERF_RECORD_MISC_MMAP_BUILD_ID : 0, &b,
	    offsetof(struct mmap2_body, filename) + strlen(path) + 1, pid, t);
}

static void put_comm(struct stream *s, uint32_t pid, uint64_t t, bool exec, const char *comm)
{
	struct {
		uint32_t pid, tid;
		char comm[16];
	} b = { pid, pid, { 0 } };

	snprintf(b.comm, sizeof(b.comm), "%s", comm);
	put(s, PERF_RECORD_COMM, exec ? PERF_RECORD_MISC_COMM_EXEC : 0, &b, 8 + strlen(comm) + 1,
	    pid, t);
}

static void put_task(struct stream *s, uint32_t type, uint32_t pid, uint32_t ppid, uint64_t t)
{
	struct {
		uint32_t pid, ppid, tid, ptid;
		uint64_t time;
	} b = { pid, ppid, pid, ppid, t };

	put(s, type, 0, &b, sizeof(b), pid, t);
}

static void put_lost(struct stream *s, uint64_t lost, uint64_t t)
{
	uint64_t b[2] = { 1, lost };

	put(s, PERF_RECORD_LOST, 0, b, sizeof(b), 0, t);
}

#define MAX_GOT 32

struct got {
	struct mmapwatch_rec r[MAX_GOT];
	char names[MAX_GOT][64];
	int n;
};

static void collect(const struct mmapwatch_rec *r, void *ctx)
{
	struct got *g = ctx;

	if (g->n == MAX_GOT)
		return;
	g->r[g->n] = *r;
	/* The strings live only during the callback. */
	snprintf(g->names[g->n], sizeof(g->names[0]), "%s",
		 r->filename ? r->filename
		 : r->comm   ? r->comm
			     : "");
	g->n++;
}

static struct mmapwatch *offline(void)
{
	struct mmapwatch_opts o = { .sz = sizeof(o), .offline = true };
	struct mmapwatch *w = NULL;

	CU_ASSERT_EQUAL_FATAL(mmapwatch__new(&w, &o), 0);
	CU_ASSERT_EQUAL(mmapwatch__fd(w), -1);
	return w;
}

static void test_parse(void)
{
	static const uint8_t bid[20] = { 0xde, 0xad, 0xbe, 0xef, 1, 2, 3 };
	struct mmapwatch *w = offline();
	struct mmapwatch_stats st;
	struct stream s = { .len = 0 };
	struct got g = { .n = 0 };

	/* Out of time order, as two CPUs' rings are read one after the other. */
	put_mmap2(&s, 100, 30, 0x400000, 0x2000, 0x1000, makedev(8, 1), 1234, "/usr/bin/x", NULL);
	put_comm(&s, 100, 10, true, "x");
	put_task(&s, PERF_RECORD_FORK, 100, 99, 20);
	put_task(&s, PERF_RECORD_EXIT, 100, 99, 40);
	put_comm(&s, 100, 15, false, "renamed");
	put_lost(&s, 7, 5);
	put_mmap2(&s, 100, 35, 0x7f0000, 0x1000, 0, 0, 0, "/lib/y.so", bid);
	CU_ASSERT_EQUAL(mmapwatch__feed(w, s.buf, s.len, collect, &g), 5);
	CU_ASSERT_EQUAL_FATAL(g.n, 5);
	CU_ASSERT_EQUAL(g.r[0].type, MMAPWATCH_EXEC);
	CU_ASSERT_STRING_EQUAL(g.names[0], "x");
	CU_ASSERT_EQUAL(g.r[1].type, MMAPWATCH_FORK);
	CU_ASSERT_EQUAL(g.r[1].pid, 100);
	CU_ASSERT_EQUAL(g.r[1].ppid, 99);
	CU_ASSERT_EQUAL(g.r[2].type, MMAPWATCH_MMAP);
	CU_ASSERT_EQUAL(g.r[2].pid, 100);
	CU_ASSERT_EQUAL(g.r[2].addr, 0x400000);
	CU_ASSERT_EQUAL(g.r[2].len, 0x2000);
	CU_ASSERT_EQUAL(g.r[2].pgoff, 0x1000);
	CU_ASSERT_EQUAL(g.r[2].maj, 8);
	CU_ASSERT_EQUAL(g.r[2].min, 1);
	CU_ASSERT_EQUAL(g.r[2].ino, 1234);
	CU_ASSERT_EQUAL(g.r[2].build_id_size, 0);
	CU_ASSERT_EQUAL(g.r[2].prot, PROT_READ | PROT_EXEC);
	CU_ASSERT_EQUAL(g.r[2].time_ns, 30);
	CU_ASSERT_STRING_EQUAL(g.names[2], "/usr/bin/x");
	CU_ASSERT_EQUAL(g.r[3].type, MMAPWATCH_MMAP);
	CU_ASSERT_EQUAL(g.r[3].build_id_size, 20);
	CU_ASSERT_EQUAL(memcmp(g.r[3].build_id, bid, 20), 0);
	CU_ASSERT_EQUAL(g.r[3].ino, 0);
	CU_ASSERT_STRING_EQUAL(g.names[3], "/lib/y.so");
	CU_ASSERT_EQUAL(g.r[4].type, MMAPWATCH_EXIT);
	mmapwatch__stats(w, &st);
	CU_ASSERT_EQUAL(st.records, 7);
	CU_ASSERT_EQUAL(st.lost, 7);
	CU_ASSERT_EQUAL(st.bad, 0);
	CU_ASSERT_EQUAL(st.mmaps, 2);
	CU_ASSERT_EQUAL(st.execs, 1);
	CU_ASSERT_EQUAL(st.forks, 1);
	CU_ASSERT_EQUAL(st.exits, 1);
	mmapwatch__free(w);
	mmapwatch__free(NULL);
}

static void test_garbage(void)
{
	struct mmapwatch *w = offline();
	struct mmapwatch_stats st;
	struct stream s = { .len = 0 };
	struct got g = { .n = 0 };
	uint8_t junk[64];
	size_t at;
	uint16_t sz;

	put_mmap2(&s, 1, 1, 0x1000, 0x1000, 0, 1, 1, "/a", NULL);
	/* An MMAP2 whose body is too short for its fields: skipped, the stream goes on. */
	memset(junk, 0, sizeof(junk));
	put(&s, PERF_RECORD_MMAP2, 0, junk, 16, 1, 2);
	/* An MMAP2 whose file name has no terminating NUL within the record. */
	at = s.len;
	put_mmap2(&s, 1, 3, 0x2000, 0x1000, 0, 1, 1, "/bbbbbbb", NULL);
	memset(s.buf + at + 8 + offsetof(struct mmap2_body, filename), 'b', 16);
	/* A build id longer than the field. */
	at = s.len;
	put_mmap2(&s, 1, 4, 0x3000, 0x1000, 0, 0, 0, "/c", (const uint8_t *)"01234567890123456789");
	s.buf[at + 8 + offsetof(struct mmap2_body, bid_size)] = 200;
	put_comm(&s, 1, 5, true, "ok");
	/* A size that is not a multiple of 8: nothing after it can be framed. */
	at = s.len;
	put_comm(&s, 1, 6, true, "lost");
	sz = 41;
	memcpy(s.buf + at + 6, &sz, 2);
	put_comm(&s, 1, 7, true, "unreached");
	CU_ASSERT_EQUAL(mmapwatch__feed(w, s.buf, s.len, collect, &g), 2);
	CU_ASSERT_EQUAL_FATAL(g.n, 2);
	CU_ASSERT_EQUAL(g.r[0].type, MMAPWATCH_MMAP);
	CU_ASSERT_EQUAL(g.r[1].type, MMAPWATCH_EXEC);
	CU_ASSERT_STRING_EQUAL(g.names[1], "ok");
	mmapwatch__stats(w, &st);
	CU_ASSERT_EQUAL(st.bad, 4);

	/* A stream cut in the middle of a record, a zero size, a lone half header. */
	s.len = 0;
	g.n = 0;
	put_comm(&s, 1, 1, true, "whole");
	put_comm(&s, 1, 2, true, "cut");
	CU_ASSERT_EQUAL(mmapwatch__feed(w, s.buf, s.len - 8, collect, &g), 1);
	memset(junk, 0, sizeof(junk));
	CU_ASSERT_EQUAL(mmapwatch__feed(w, junk, sizeof(junk), collect, &g), 0);
	CU_ASSERT_EQUAL(mmapwatch__feed(w, junk, 5, collect, &g), 0);
	CU_ASSERT_EQUAL(mmapwatch__feed(w, junk, 0, collect, &g), 0);
	mmapwatch__stats(w, &st);
	CU_ASSERT_EQUAL(st.bad, 4 + 3);
	mmapwatch__free(w);
}

/* This test binary's executable mapping holding ADDR, from /proc/self/maps. */
static void own_mapping(uintptr_t addr, uint64_t *start, uint64_t *end, uint64_t *off,
			uint64_t *dev, uint64_t *ino, char *path, size_t path_sz)
{
	unsigned long long s, e, o, i;
	unsigned int maj, min;
	char line[PATH_MAX + 128], perms[8], p[PATH_MAX];
	FILE *f = fopen("/proc/self/maps", "r");
	bool found = false;

	CU_ASSERT_FATAL(f != NULL);
	while (!found && fgets(line, sizeof(line), f)) {
		p[0] = '\0';
		if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu %4095s", &s, &e, perms, &o, &maj,
			   &min, &i, p) < 7)
			continue;
		if (addr >= s && addr < e) {
			*start = s;
			*end = e;
			*off = o;
			*dev = makedev(maj, min);
			*ino = i;
			snprintf(path, path_sz, "%s", p);
			found = true;
		}
	}
	fclose(f);
	CU_ASSERT_FATAL(found);
}

static void test_symbolizer(void)
{
	struct symbolizer_opts so = { .sz = sizeof(so) };
	struct symbolizer *sym = symbolizer__new(&so);
	struct mmapwatch *w = offline();
	uintptr_t fn = (uintptr_t)mmapwatch_known_function;
	uint64_t start = 0, end = 0, off = 0, dev = 0, ino = 0;
	struct symbolizer_stats ss;
	struct stream s = { .len = 0 };
	struct sym_frame f;
	char path[PATH_MAX];

	CU_ASSERT_PTR_NOT_NULL_FATAL(sym);
	own_mapping(fn, &start, &end, &off, &dev, &ino, path, sizeof(path));
	/*
	 * A process that never existed as far as /proc knows: exec'd, mapped this binary,
	 * exited. Only its events tell where its code was; the file is found by its host path.
	 */
	put_comm(&s, FAKE_PID, 1, true, "fake");
	put_mmap2(&s, FAKE_PID, 2, start, end - start, off, dev, ino, path, NULL);
	put_task(&s, PERF_RECORD_EXIT, FAKE_PID, 1, 3);
	/* Overlaps: B over the middle of A leaves A's two ends, the right one re-offset. */
	put_comm(&s, FAKE_PID2, 4, true, "anon");
	put_mmap2(&s, FAKE_PID2, 5, 0x10000, 0x40000, 0, 0, 0, "//anon", NULL);
	put_mmap2(&s, FAKE_PID2, 6, 0x20000, 0x10000, 0x100000, 0, 0, "//anon", NULL);
	/* A fork inherits the mappings; its exec drops them. */
	put_task(&s, PERF_RECORD_FORK, FAKE_PID3, FAKE_PID2, 7);
	CU_ASSERT_EQUAL(mmapwatch__feed(w, s.buf, s.len, mmapwatch__to_symbolizer, sym), 7);

	CU_ASSERT_EQUAL_FATAL(symbolizer__user(sym, FAKE_PID, fn, &f), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f.name);
	CU_ASSERT_STRING_EQUAL(f.name, "mmapwatch_known_function");
	CU_ASSERT_STRING_EQUAL(f.module, path);

	CU_ASSERT_EQUAL_FATAL(symbolizer__user(sym, FAKE_PID2, 0x18000, &f), 0);
	CU_ASSERT_EQUAL(f.map_start, 0x10000);
	CU_ASSERT_EQUAL(f.map_limit, 0x20000);
	CU_ASSERT_EQUAL(f.map_offset, 0);
	CU_ASSERT_EQUAL_FATAL(symbolizer__user(sym, FAKE_PID2, 0x28000, &f), 0);
	CU_ASSERT_EQUAL(f.map_start, 0x20000);
	CU_ASSERT_EQUAL(f.map_offset, 0x100000);
	CU_ASSERT_EQUAL_FATAL(symbolizer__user(sym, FAKE_PID2, 0x48000, &f), 0);
	CU_ASSERT_EQUAL(f.map_start, 0x30000);
	CU_ASSERT_EQUAL(f.map_limit, 0x50000);
	CU_ASSERT_EQUAL(f.map_offset, 0x20000);
	/* Past every mapping: no /proc to fall back on, and none needed. */
	CU_ASSERT_EQUAL(symbolizer__user(sym, FAKE_PID2, 0x60000, &f), -ENOENT);

	CU_ASSERT_EQUAL_FATAL(symbolizer__user(sym, FAKE_PID3, 0x28000, &f), 0);
	CU_ASSERT_EQUAL(f.map_offset, 0x100000);
	s.len = 0;
	put_comm(&s, FAKE_PID3, 8, true, "child");
	CU_ASSERT_EQUAL(mmapwatch__feed(w, s.buf, s.len, mmapwatch__to_symbolizer, sym), 1);
	CU_ASSERT_EQUAL(symbolizer__user(sym, FAKE_PID3, 0x28000, &f), -ENOENT);
	/* The agent's BPF exec event may come after the records: it must not drop them. */
	symbolizer__process_exec(sym, FAKE_PID2);
	CU_ASSERT_EQUAL(symbolizer__user(sym, FAKE_PID2, 0x28000, &f), 0);

	/* A JIT's mprotect back to executable re-reports part of a known mapping: no change. */
	s.len = 0;
	put_mmap2(&s, FAKE_PID2, 9, 0x21000, 0x1000, 0x101000, 0, 0, "//anon", NULL);
	CU_ASSERT_EQUAL(mmapwatch__feed(w, s.buf, s.len, mmapwatch__to_symbolizer, sym), 1);
	CU_ASSERT_EQUAL_FATAL(symbolizer__user(sym, FAKE_PID2, 0x28000, &f), 0);
	CU_ASSERT_EQUAL(f.map_start, 0x20000);
	CU_ASSERT_EQUAL(f.map_limit, 0x30000);

	symbolizer__stats(sym, &ss);
	CU_ASSERT_EQUAL(ss.mappings_added, 3);
	CU_ASSERT(ss.procs_by_events >= 3);
	mmapwatch__free(w);
	symbolizer__free(sym);
}

/* The kernel refused the events: the live case could not run (exit 77 when all else passed). */
static bool live_refused;

struct live {
	pid_t child;
	bool exec, mmap, exit;
	char exe[PATH_MAX];
};

static void live_collect(const struct mmapwatch_rec *r, void *ctx)
{
	struct live *l = ctx;

	if (r->pid != (uint32_t)l->child)
		return;
	if (r->type == MMAPWATCH_EXEC)
		l->exec = true;
	if (r->type == MMAPWATCH_MMAP && !strcmp(r->filename, l->exe))
		l->mmap = true;
	if (r->type == MMAPWATCH_EXIT)
		l->exit = true;
}

static void test_live(void)
{
	struct mmapwatch *w = NULL;
	struct mmapwatch_stats st;
	struct live l = { 0 };
	uint64_t deadline;
	int err, status;

	err = mmapwatch__new(&w, NULL);
	if (err == -EACCES || err == -EPERM || err == -ENOENT || err == -EOPNOTSUPP) {
		printf("\n  SKIP: the kernel refused the mapping events: %s\n", strerror(-err));
		live_refused = true;
		return;
	}
	CU_ASSERT_EQUAL_FATAL(err, 0);
	if (!realpath("/bin/true", l.exe))
		snprintf(l.exe, sizeof(l.exe), "/bin/true");
	l.child = fork();
	CU_ASSERT_FATAL(l.child >= 0);
	if (!l.child) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	CU_ASSERT_EQUAL(waitpid(l.child, &status, 0), l.child);
	/* The records were written before the exit was reported; poll, bounded, all the same. */
	deadline = mono_ns() + 10000000000ull;
	while (!(l.exec && l.mmap && l.exit) && mono_ns() < deadline) {
		struct pollfd pfd = { .fd = mmapwatch__fd(w), .events = POLLIN };

		CU_ASSERT(mmapwatch__read(w, live_collect, &l) >= 0);
		if (!(l.exec && l.mmap && l.exit))
			poll(&pfd, 1, 100);
	}
	mmapwatch__stats(w, &st);
	printf("\n  child %d: exec %d, mmap of %s %d, exit %d; %llu records (build ids %s)\n",
	       (int)l.child, l.exec, l.exe, l.mmap, l.exit, (unsigned long long)st.records,
	       mmapwatch__build_ids(w) ? "yes" : "no");
	CU_ASSERT(l.exec);
	CU_ASSERT(l.mmap);
	CU_ASSERT(l.exit);
	CU_ASSERT_EQUAL(st.bad, 0);
	mmapwatch__free(w);
}

int main(int argc, char **argv)
{
	static const struct kiln_test_case cases[] = {
		{ "parse", test_parse },
		{ "garbage", test_garbage },
		{ "symbolizer", test_symbolizer },
		{ "live", test_live },
	};
	int rc;

	rc = kiln_test_main(argc, argv, "mmapwatch", cases, sizeof(cases) / sizeof(cases[0]));
	return rc ? rc : live_refused ? 77 : 0;
}
