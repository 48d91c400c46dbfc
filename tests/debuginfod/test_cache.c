// SPDX-License-Identifier: Apache-2.0
/*
 * The debuginfod cache's limits (symbolize/debuginfo_cache.c) on a real directory: files
 * unused past the age limit go, then the least recently used until the size limit holds;
 * remembered misses (empty files) go once older than the retry interval; a lookup finds a
 * file and marks it used; other names in the directory are left alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "symbolize/debuginfod.h"
#include "tests/lib/kiln_test.h"

static char dir[64];

/* DIR/BID/debuginfo of SIZE bytes, last used AGE_S seconds ago. */
static void entry(const char *bid, size_t size, long age_s)
{
	char p[256];
	struct timespec ts[2];
	char *buf = calloc(1, size + 1);
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, bid);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/%s/debuginfo", dir, bid);
	f = fopen(p, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fwrite(buf, 1, size, f);
	fclose(f);
	free(buf);
	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= age_s;
	ts[1] = ts[0];
	utimensat(AT_FDCWD, p, ts, 0);
}

static bool present(const char *bid)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s/debuginfo", dir, bid);
	return access(p, F_OK) == 0;
}

#define B(c) c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c

static void test_sweep(void)
{
	struct dbgcache_sweep sw;
	char path[256];
	FILE *f;

	strcpy(dir, "/tmp/kiln-dbgcache-XXXXXX");
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	entry(B("a"), 1000, 10); /* recent */
	entry(B("b"), 1000, 100); /* older */
	entry(B("c"), 1000, 1000); /* least recently used */
	entry(B("d"), 1000, 100000); /* past the age limit */
	entry(B("e"), 0, 30); /* a miss, still remembered */
	entry(B("f"), 0, 700); /* a miss older than the retry interval */
	/* libdebuginfod's settings files are not entries */
	snprintf(path, sizeof(path), "%s/cache_miss_s", dir);
	f = fopen(path, "w");
	fputs("600\n", f);
	fclose(f);

	CU_ASSERT_EQUAL(dbgcache__sweep(dir, 2500, 50000, 600, &sw), 0);
	CU_ASSERT(present(B("a")));
	CU_ASSERT(present(B("b")));
	CU_ASSERT(!present(B("c")));
	CU_ASSERT(!present(B("d")));
	CU_ASSERT(present(B("e")));
	CU_ASSERT(!present(B("f")));
	CU_ASSERT(access(path, F_OK) == 0);
	CU_ASSERT_EQUAL(sw.kept_files, 2);
	CU_ASSERT_EQUAL(sw.kept_bytes, 2000);
	CU_ASSERT_EQUAL(sw.removed_files, 2);
	CU_ASSERT_EQUAL(sw.removed_bytes, 2000);

	/* A lookup finds b and marks it used: the next squeeze takes a instead. */
	CU_ASSERT_EQUAL(dbgcache__lookup(dir, B("b"), path, sizeof(path)), 0);
	CU_ASSERT_EQUAL(dbgcache__lookup(dir, B("e"), path, sizeof(path)), -ENOENT);
	CU_ASSERT_EQUAL(dbgcache__lookup(dir, "not-hex", path, sizeof(path)), -EINVAL);
	CU_ASSERT_EQUAL(dbgcache__sweep(dir, 1500, 50000, 600, &sw), 0);
	CU_ASSERT(present(B("b")));
	CU_ASSERT(!present(B("a")));
	CU_ASSERT_EQUAL(sw.kept_bytes, 1000);
	CU_ASSERT_EQUAL(dbgcache__sweep("/nonexistent/kiln", 1, 1, 1, &sw), -ENOENT);
}

/* The check a fetched file must pass: ELF, the build id asked for, symbols. */
static void test_validate(void)
{
	char bid[129] = "", cmd[512], line[256], self[256];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	FILE *p;
	int fd;

	/* By its path: in readelf's own process /proc/self/exe is readelf. */
	CU_ASSERT_FATAL(n > 0);
	self[n] = '\0';

	snprintf(cmd, sizeof(cmd), "readelf -n '%s'", self);
	p = popen(cmd, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	while (fgets(line, sizeof(line), p))
		if (strstr(line, "Build ID: "))
			sscanf(strstr(line, "Build ID: ") + 10, "%128s", bid);
	pclose(p);
	if (!bid[0]) {
		printf("\n  (this test binary has no build id: nothing to check)");
		return;
	}
	fd = open(self, O_RDONLY);
	CU_ASSERT_EQUAL(dbgcache__validate(fd, bid), 0);
	CU_ASSERT_EQUAL(dbgcache__validate(fd, B("0")), -EBADMSG);
	close(fd);
	fd = open("/proc/self/cmdline", O_RDONLY);
	CU_ASSERT_EQUAL(dbgcache__validate(fd, bid), -EBADMSG);
	close(fd);
}

KILN_TEST_MAIN("dbgcache", { "sweep", test_sweep }, { "validate", test_validate })
