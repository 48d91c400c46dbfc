// SPDX-License-Identifier: Apache-2.0
/*
 * kiln-bench unwind's table-build rows: for each big binary present, the time to build its
 * unwind table in-process (uw_table__from_fd, median of 3), its rows, the same table built
 * row by row through libdw (the builder's old way, median of 3), and both against the wall
 * time of `readelf --debug-dump=frames-interp FILE > /dev/null` (median of 3, measured in
 * the same run: a baseline that interprets every FDE too, so the ratio travels between
 * machines better than milliseconds do).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/proc.h"
#include "bench/stats.h"
#include "bench/unwind_build.h"
#include "unwind/unwind.h"
#include "unwind/unwind_libdw.h"

#define SUITE "unwind"
#define BUILD_RUNS 3
/* --short (bench_smoke): one run of each, and not the files above this size (libLLVM) */
#define SHORT_MAX_BYTES (50LL << 20)

static const char *const files[] = {
	"/lib/x86_64-linux-gnu/libc.so.6",
	"/usr/bin/python3.11",
	"/usr/sbin/nginx",
	"/usr/bin/redis-server",
	"/usr/lib/postgresql/15/bin/postgres",
	"/usr/lib/x86_64-linux-gnu/libLLVM-15.so.1",
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/*
 * Builds PATH's table RUNS times (the row-by-row reference when LIBDW), its build_ns in
 * MS[]; *ROWS the table's rows. Returns 0 or -errno.
 */
static int build_times(const char *path, bool libdw, int runs, double *ms, size_t *rows)
{
	for (int i = 0; i < runs; i++) {
		struct uw_table *t = NULL;
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		int err;

		if (fd < 0)
			return -errno;
		err = libdw ? uw_table__from_fd_libdw(fd, &t) : uw_table__from_fd(fd, &t);
		close(fd);
		if (err)
			return err;
		ms[i] = t->stats.build_ns / 1e6;
		*rows = t->nr_rows;
		uw_table__free(t);
	}
	return 0;
}

/* Wall time of readelf's frames-interp dump of PATH, RUNS times. Returns 0 or -errno. */
static int readelf_times(const char *readelf, const char *path, int runs, double *ms)
{
	char *const argv[] = { (char *)readelf, "--debug-dump=frames-interp", (char *)path, NULL };

	for (int i = 0; i < runs; i++) {
		double t0 = now_ms();
		pid_t pid = bench_spawn(argv, BENCH_FD_NULL, BENCH_FD_NULL, NULL, 0);
		int status = 0, err;

		if (pid < 0)
			return (int)pid;
		err = bench_wait(pid, 120000, &status);
		if (err) {
			bench_stop(pid, SIGKILL, 1000, NULL);
			return err;
		}
		/* readelf exits 1 after a complete dump too; a signal is a failure */
		if (!WIFEXITED(status) || WEXITSTATUS(status) > 1)
			return -ECHILD;
		ms[i] = now_ms() - t0;
	}
	return 0;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* The rows of one file: build ms (one pass and row by row), and both / readelf. */
static void file_rows(const char *readelf, const char *path, int runs)
{
	double one[BUILD_RUNS], ref[BUILD_RUNS], re[BUILD_RUNS], ratio[BUILD_RUNS];
	struct bench_summary s_one, s_ref, s_re, s;
	const char *name = base_name(path);
	char row[160], why[96];
	size_t rows = 0, ref_rows = 0;
	int err;

	err = build_times(path, false, runs, one, &rows);
	if (!err)
		err = build_times(path, true, runs, ref, &ref_rows);
	if (err) {
		snprintf(why, sizeof(why), "no table: %s", strerror(-err));
		snprintf(row, sizeof(row), "tables: %s", name);
		bench_row_na(SUITE, row, why);
		return;
	}
	bench_summarize(one, runs, &s_one);
	bench_summarize(ref, runs, &s_ref);
	snprintf(row, sizeof(row), "tables: %s (%zu rows)", name, rows);
	bench_row(SUITE, row, &s_one, "ms", 2, NULL, BENCH_NO_GOAL);
	snprintf(row, sizeof(row), "tables row by row: %s%s", name,
		 ref_rows == rows ? "" : " (other rows!)");
	bench_row(SUITE, row, &s_ref, "ms", 2, NULL, BENCH_NO_GOAL);
	snprintf(row, sizeof(row), "tables / readelf -wF: %s", name);
	err = readelf ? readelf_times(readelf, path, runs, re) : -ENOENT;
	if (err) {
		snprintf(why, sizeof(why), "readelf did not run: %s", strerror(-err));
		bench_row_na(SUITE, row, why);
		return;
	}
	bench_summarize(re, runs, &s_re);
	/* medians of each, measured in the same run; the ratio's min..max pairs runs in order */
	for (int i = 0; i < runs; i++)
		ratio[i] = one[i] / re[i];
	bench_summarize(ratio, runs, &s);
	s.median = s_one.median / s_re.median;
	bench_row(SUITE, row, &s, "x", 3, NULL, BENCH_NO_GOAL);
	snprintf(row, sizeof(row), "readelf -wF: %s", name);
	bench_row(SUITE, row, &s_re, "ms", 1, NULL, BENCH_NO_GOAL);
}

void bench_unwind_builds(bool short_mode)
{
	char readelf[PATH_MAX];
	bool have_readelf = bench_which("readelf", readelf, sizeof(readelf)) == 0;

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct stat st;

		if (stat(files[i], &st) != 0 || access(files[i], R_OK) != 0)
			continue; /* only what this machine has */
		if (short_mode && st.st_size > SHORT_MAX_BYTES)
			continue;
		file_rows(have_readelf ? readelf : NULL, files[i], short_mode ? 1 : BUILD_RUNS);
		fflush(stdout);
	}
}
