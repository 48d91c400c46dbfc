// SPDX-License-Identifier: Apache-2.0
/*
 * kiln-bench bpf: BPF cost per sample, kiln's sampling program against bpftrace's
 * `profile:hz:999 { @[kstack, ustack, pid] = count(); }`, on the same running workload.
 *
 * With BPF run-time stats on, the kernel adds each program run's duration to run_time_ns and
 * counts the run in run_cnt; their quotient over a window is the cost of one sample. Each
 * profiler is measured over the same window length, after it has been seen sampling and has run
 * WARMUP_S more seconds, and the two alternate so that drifting machine load hits both alike.
 *
 * The warm-up makes the figure the steady-state cost, the one a continuous profiler pays:
 * kiln's first sample of each process raises a one-time event (measured at +11 % over its
 * first 4 s on a host of 2000 processes), and bpftrace's maps fill with their first keys.
 * Both get the same warm-up; kiln still empties its maps every window, so it keeps paying
 * insertions that bpftrace, whose maps only grow, stops paying.
 */
#include <bpf/bpf.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/proc.h"
#include "bench/stats.h"
#include "common/util.h"

#define SUITE "bpf"
#define KILN_PROG "kiln_sample"
/* END clears the map: printing and symbolizing every stack at exit can take many seconds. */
#define BPFTRACE_PROG "profile:hz:999 { @[kstack, ustack, pid] = count(); } END { clear(@); }"
#define RATIO_GOAL 0.9
#define WARMUP_S 2
#define START_TIMEOUT_MS 20000
#define STOP_TIMEOUT_MS 30000

/*
 * Runs the profiler ARGV until it samples, measures its programs for SECS seconds, stops it
 * with SIGINT. NAME / NOT_NAME select its programs as in bench_prog_stats(). Returns 0 and the
 * cost per sample in *NS_PER_SAMPLE, or -errno after printing why.
 */
static int measure(char *const argv[], const char *who, const char *name, const char *not_name,
		   unsigned int secs, double *ns_per_sample)
{
	struct bench_prog_ids before = { 0 };
	struct bench_prog_stats s0, s1;
	int err_fd = -1, status = 0, err;
	char why[32];
	pid_t pid = -1;

	err = bench_prog_ids_snapshot(&before);
	if (err) {
		fprintf(stderr, "kiln-bench bpf: listing BPF programs: %s\n", strerror(-err));
		goto cleanup;
	}
	err_fd = bench_tmpfd();
	pid = bench_spawn(argv, BENCH_FD_NULL, err_fd < 0 ? BENCH_FD_NULL : err_fd, NULL, 0);
	if (pid < 0) {
		err = pid;
		fprintf(stderr, "kiln-bench bpf: starting %s: %s\n", who, strerror(-err));
		goto cleanup;
	}
	err = bench_wait_sampling(&before, pid, name, not_name, START_TIMEOUT_MS, &status);
	if (err) {
		if (err == -ECHILD)
			fprintf(stderr, "kiln-bench bpf: %s exited before sampling (%s)\n", who,
				bench_status_str(status, why, sizeof(why)));
		else
			fprintf(stderr, "kiln-bench bpf: %s did not start sampling: %s\n", who,
				strerror(-err));
		goto cleanup;
	}
	bench_sleep_ns((uint64_t)WARMUP_S * 1000000000ull);
	err = bench_prog_stats(&before, pid, name, not_name, &s0);
	if (err)
		goto cleanup;
	bench_sleep_ns((uint64_t)secs * 1000000000ull);
	/* Read before stopping: the programs' statistics go away with them. */
	err = bench_prog_stats(&before, pid, name, not_name, &s1);
	if (err)
		goto cleanup;
	if (s1.run_cnt <= s0.run_cnt) {
		fprintf(stderr, "kiln-bench bpf: %s took no samples in %u s\n", who, secs);
		err = -ENODATA;
		goto cleanup;
	}
	*ns_per_sample =
		(double)(s1.run_time_ns - s0.run_time_ns) / (double)(s1.run_cnt - s0.run_cnt);
	fprintf(stderr, "kiln-bench bpf: %s: %llu samples in %u s, %d program(s), %.0f ns/sample\n",
		who, (unsigned long long)(s1.run_cnt - s0.run_cnt), secs, s1.nprogs,
		*ns_per_sample);
cleanup:
	if (pid > 0) {
		int stop = bench_stop(pid, SIGINT, STOP_TIMEOUT_MS, &status);

		if (stop == -ETIMEDOUT)
			fprintf(stderr, "kiln-bench bpf: %s still ran %d s after SIGINT, killed\n",
				who, STOP_TIMEOUT_MS / 1000);
		else if (!stop && !err && (!WIFEXITED(status) || WEXITSTATUS(status)))
			fprintf(stderr, "kiln-bench bpf: %s ended with %s after SIGINT\n", who,
				bench_status_str(status, why, sizeof(why)));
	}
	if (err && err_fd >= 0)
		bench_print_tail(err_fd, who);
	if (err_fd >= 0)
		close(err_fd);
	bench_prog_ids_free(&before);
	return err;
}

/*
 * Starts the workload for SECS seconds and waits until all its threads run. Returns its pid
 * or -errno.
 */
static pid_t start_workload(const char *path, unsigned int secs)
{
	char secs_arg[16], fd_arg[16];
	int pipefd[2], err = 0;
	struct pollfd pfd;
	pid_t pid;
	char byte;

	if (pipe2(pipefd, O_CLOEXEC))
		return -errno;
	snprintf(secs_arg, sizeof(secs_arg), "%u", secs);
	snprintf(fd_arg, sizeof(fd_arg), "%d", pipefd[1]);
	/* Two busy threads with moderately deep, varied stacks: a realistic unwinding load. */
	char *const argv[] = { (char *)path, "--threads", "2",
			       "--depth",    "8",	  "--stacks",
			       "64",	     "--mix",	  "alpha=70,beta=30",
			       "--seconds",  secs_arg,	  "--ready-fd",
			       fd_arg,	     NULL };

	/* The child inherits the write end; O_CLOEXEC is dropped for it by dup-free keeping. */
	fcntl(pipefd[1], F_SETFD, 0);
	pid = bench_spawn(argv, BENCH_FD_NULL, BENCH_FD_NULL, &pipefd[1], 1);
	close(pipefd[1]);
	if (pid < 0) {
		close(pipefd[0]);
		return pid;
	}
	pfd.fd = pipefd[0];
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 10000) != 1 || read(pipefd[0], &byte, 1) != 1)
		err = -ETIMEDOUT;
	close(pipefd[0]);
	if (err) {
		bench_stop(pid, SIGKILL, 1000, NULL);
		return err;
	}
	return pid;
}

int bench_bpf(const struct bench_opts *o, int argc, char **argv)
{
	unsigned int secs = o->short_mode ? 3 : 5;
	int runs = o->runs ? o->runs : o->short_mode ? 1 : 5;
	char kiln[4096], workload[4096], bpftrace[4096], dur[16],
		out_path[] = "/tmp/kiln-bench-bpf-XXXXXX";
	double *kiln_ns = NULL, *bt_ns = NULL, *ratio = NULL;
	int stats_fd = -1, out_fd = -1, nk = 0, nb = 0, nr = 0, i, err = 0;
	struct bench_summary sum;
	bool have_bpftrace;
	pid_t wl = -1;

	if (argc > 1) {
		fprintf(stderr, "kiln-bench bpf: unexpected argument '%s'\n", argv[1]);
		return -EINVAL;
	}
	if (bench_sibling(o, "../kiln", kiln, sizeof(kiln)) ||
	    bench_sibling(o, "workload", workload, sizeof(workload)) || access(kiln, X_OK) ||
	    access(workload, X_OK)) {
		fprintf(stderr, "kiln-bench bpf: needs %s and %s (build them first)\n", kiln,
			workload);
		return -ENOENT;
	}
	have_bpftrace = !bench_which("bpftrace", bpftrace, sizeof(bpftrace));
	kiln_ns = calloc((size_t)runs, sizeof(double));
	bt_ns = calloc((size_t)runs, sizeof(double));
	ratio = calloc((size_t)runs, sizeof(double));
	if (!kiln_ns || !bt_ns || !ratio) {
		err = -ENOMEM;
		goto cleanup;
	}
	/* Kept open for the whole suite: run-time stats stay on exactly while it is. */
	stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (stats_fd < 0) {
		err = -errno;
		fprintf(stderr,
			"kiln-bench bpf: cannot enable BPF run-time stats: %s (needs root or "
			"CAP_SYS_ADMIN)\n",
			strerror(-err));
		goto cleanup;
	}
	/* kiln writes somewhere harmless: never /dev/null, which a rename could replace. */
	out_fd = mkstemp(out_path);
	if (out_fd < 0) {
		err = -errno;
		goto cleanup;
	}
	/* -d is only a safety net should kiln-bench die; each run ends with SIGINT. */
	snprintf(dur, sizeof(dur), "%u", secs + WARMUP_S + 30);
	char *const kiln_argv[] = { kiln, "record", "-F", "999",    "-d", dur,
				    "-f", "folded", "-o", out_path, NULL };
	char *const bt_argv[] = { bpftrace, "-e", BPFTRACE_PROG, NULL };

	wl = start_workload(workload, (unsigned int)runs * 2 * (secs + WARMUP_S + 20) + 30);
	if (wl < 0) {
		err = wl;
		fprintf(stderr, "kiln-bench bpf: starting %s: %s\n", workload, strerror(-err));
		goto cleanup;
	}
	bench_header(SUITE, "BPF cost per sample at 999 Hz, workload --threads 2 (ns = run_time_ns "
			    "/ "
			    "run_cnt)");
	printf("%d run%s of %u s per profiler after %d s of warm-up, alternating%s\n", runs,
	       runs > 1 ? "s" : "", secs, WARMUP_S,
	       o->short_mode ? " (short run: a smoke test, not a measurement)" : "");
	for (i = 0; i < runs; i++) {
		double k, b;

		err = measure(kiln_argv, "kiln", KILN_PROG, NULL, secs, &k);
		if (err)
			goto cleanup;
		kiln_ns[nk++] = k;
		if (!have_bpftrace)
			continue;
		if (measure(bt_argv, "bpftrace", NULL, KILN_PROG, secs, &b))
			continue; /* a bpftrace failure costs its row, not kiln's */
		bt_ns[nb++] = b;
		ratio[nr++] = k / b;
	}
	bench_summarize(kiln_ns, nk, &sum);
	bench_row(SUITE, "kiln ns/sample", &sum, "ns", 0, NULL, BENCH_NO_GOAL);
	if (!have_bpftrace) {
		bench_row_na(SUITE, "bpftrace ns/sample", "bpftrace not installed");
		bench_row_na(SUITE, "ratio kiln/bpftrace", "bpftrace not installed");
	} else if (!nb) {
		bench_row_na(SUITE, "bpftrace ns/sample", "bpftrace did not run, see above");
		bench_row_na(SUITE, "ratio kiln/bpftrace", "bpftrace did not run, see above");
	} else {
		bench_summarize(bt_ns, nb, &sum);
		bench_row(SUITE, "bpftrace ns/sample", &sum, "ns", 0, NULL, BENCH_NO_GOAL);
		bench_summarize(ratio, nr, &sum);
		bench_row(SUITE, "ratio kiln/bpftrace", &sum, "x", 3, "<= 0.9",
			  sum.median <= RATIO_GOAL ? BENCH_PASS : BENCH_MISS);
	}
cleanup:
	if (wl > 0)
		bench_stop(wl, SIGTERM, 5000, NULL);
	if (out_fd >= 0) {
		close(out_fd);
		unlink(out_path);
	}
	if (stats_fd >= 0)
		close(stats_fd);
	free(kiln_ns);
	free(bt_ns);
	free(ratio);
	return err;
}
