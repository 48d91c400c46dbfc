// SPDX-License-Identifier: Apache-2.0
/*
 * kiln-bench python: the BPF cost per sample of a CPython process 50 Python frames deep
 * (bench/python/deep.py under Debian's python3.11) next to a native process 50 frames deep
 * (workload-nofp --recurse 50), both profiled by `kiln record -p PID` at 999 Hz.
 *
 * The cost is run_time_ns summed over kiln's perf-event programs (kiln_sample and the
 * programs it tail-calls: kiln_walk, kiln_pywalk) over kiln_sample's run_cnt. kiln's perf
 * events fire on every CPU whatever runs there, and those samples of other processes are
 * filtered early and cost little, so the plain quotient (printed too) depends on how busy the
 * machine is. The rows are the cost per sample of the target: the filtered samples' cost,
 * measured with the same command on a sleeping process, is taken out, and the target's
 * samples are its exact run time (schedstat) times the frequency.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "bench/bench.h"
#include "bench/proc.h"
#include "bench/stats.h"
#include "common/util.h"

#define SUITE "python"
#define HZ 999
#define DEPTH "50"
#define PYTHON "/usr/bin/python3.11"
#define KILN_PROG "kiln_sample"
#define DIFF_GOAL_NS 2000.0
#define WARMUP_S 2
#define START_TIMEOUT_MS 20000
#define STOP_TIMEOUT_MS 30000

#ifndef KILN_BENCH_DIR
#define KILN_BENCH_DIR "bench"
#endif

/* One measurement of kiln record -p on a target. */
struct py_cost {
	double raw_ns; /* run_time_ns / kiln_sample's run_cnt, every sample of the machine */
	uint64_t samples; /* kiln_sample runs (all CPUs) */
	double target_samples; /* the target's run time times the frequency */
	uint64_t run_ns; /* run_time_ns of kiln's programs */
};

/*
 * Starts ARGV with stdin a pipe we hold (deep.py runs until it reads end of file) and
 * stdout a pipe; waits for its first output line (deep.py's "ready", or anything: the
 * workload prints nothing, then the pipe's end is the sign it started). Returns the pid, the
 * stdin pipe's write end in *STDIN_FD and the stdout pipe's read end in *STDOUT_FD (held
 * until the target is stopped: a target whose later write met a closed pipe would die of
 * SIGPIPE / BrokenPipeError in the middle of the measurement), or -errno.
 */
static pid_t start_target(char *const argv[], bool wait_line, int *stdin_fd, int *stdout_fd)
{
	int in[2], out[2], err = 0;
	struct pollfd pfd;
	char buf[64];
	pid_t pid;

	if (pipe2(in, O_CLOEXEC))
		return -errno;
	if (pipe2(out, O_CLOEXEC)) {
		err = -errno;
		close(in[0]);
		close(in[1]);
		return err;
	}
	pid = fork();
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		execv(argv[0], argv);
		_exit(127);
	}
	if (pid < 0)
		err = -errno;
	close(in[0]);
	close(out[1]);
	if (!err && wait_line) {
		pfd.fd = out[0];
		pfd.events = POLLIN;
		/* Generous: on a loaded 2-CPU machine Python takes seconds to start. */
		if (poll(&pfd, 1, START_TIMEOUT_MS) != 1 || read(out[0], buf, sizeof(buf)) <= 0)
			err = -ETIMEDOUT;
	}
	if (err) {
		close(in[1]);
		if (pid > 0)
			bench_stop(pid, SIGKILL, 1000, NULL);
		close(out[0]);
		return err;
	}
	*stdin_fd = in[1];
	*stdout_fd = out[0];
	return pid;
}

/* Whether the folded file PATH contains NEEDLE (a frame kiln must have named). */
static bool file_has(const char *path, const char *needle)
{
	char line[8192];
	bool found = false;
	FILE *f = fopen(path, "r");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

/*
 * Runs kiln record -p TARGET for WARMUP_S + SECS seconds, measures the last SECS. Returns 0
 * and *OUT, or -errno after printing why. NEEDLE (may be NULL): a frame name the output must
 * hold, checked after kiln exited.
 */
static int measure(const char *kiln, pid_t target, const char *who, unsigned int secs,
		   const char *needle, struct py_cost *out)
{
	char pid_arg[16], dur[16], hz[16], out_path[] = "/tmp/kiln-bench-py-XXXXXX";
	struct bench_prog_stats a0, a1, c0, c1;
	struct bench_prog_ids before = { 0 };
	int err_fd = -1, out_fd, status = 0, err;
	uint64_t rt0 = 0, rt1 = 0;
	pid_t pid = -1;

	out_fd = mkstemp(out_path);
	if (out_fd < 0)
		return -errno;
	close(out_fd);
	snprintf(pid_arg, sizeof(pid_arg), "%d", (int)target);
	snprintf(dur, sizeof(dur), "%u", secs + WARMUP_S + 30);
	snprintf(hz, sizeof(hz), "%d", HZ);
	char *const argv[] = { (char *)kiln, "record", "-F",	 hz,   "-p",	 pid_arg, "-d",
			       dur,	     "-f",     "folded", "-o", out_path, NULL };

	err = bench_prog_ids_snapshot(&before);
	if (err)
		goto cleanup;
	err_fd = bench_tmpfd();
	pid = bench_spawn(argv, BENCH_FD_NULL, err_fd < 0 ? BENCH_FD_NULL : err_fd, NULL, 0);
	if (pid < 0) {
		err = pid;
		goto cleanup;
	}
	err = bench_wait_sampling(&before, pid, KILN_PROG, NULL, START_TIMEOUT_MS, &status);
	if (err) {
		fprintf(stderr, "kiln-bench python: kiln did not start sampling %s: %s\n", who,
			strerror(-err));
		goto cleanup;
	}
	/* Detection, unwind tables and code objects are first-sample costs, not per sample. */
	bench_sleep_ns((uint64_t)WARMUP_S * 1000000000ull);
	err = bench_prog_stats(&before, pid, NULL, NULL, &a0);
	if (!err)
		err = bench_prog_stats(&before, pid, KILN_PROG, NULL, &c0);
	if (!err)
		err = bench_proc_runtime_ns(target, &rt0);
	if (err)
		goto cleanup;
	bench_sleep_ns((uint64_t)secs * 1000000000ull);
	err = bench_prog_stats(&before, pid, NULL, NULL, &a1);
	if (!err)
		err = bench_prog_stats(&before, pid, KILN_PROG, NULL, &c1);
	if (!err)
		err = bench_proc_runtime_ns(target, &rt1);
	if (err)
		goto cleanup;
	if (c1.run_cnt <= c0.run_cnt) {
		fprintf(stderr, "kiln-bench python: kiln took no samples of %s\n", who);
		err = -ENODATA;
		goto cleanup;
	}
	out->samples = c1.run_cnt - c0.run_cnt;
	out->run_ns = a1.run_time_ns - a0.run_time_ns;
	out->raw_ns = (double)out->run_ns / (double)out->samples;
	out->target_samples = (double)(rt1 - rt0) * HZ / 1e9;
cleanup:
	if (pid > 0) {
		bench_stop(pid, SIGINT, STOP_TIMEOUT_MS, &status);
		if (!err && needle && !file_has(out_path, needle)) {
			fprintf(stderr, "kiln-bench python: kiln's output for %s lacks %s\n", who,
				needle);
			err = -EPROTO;
		}
	}
	if (err && err_fd >= 0)
		bench_print_tail(err_fd, who);
	if (err_fd >= 0)
		close(err_fd);
	unlink(out_path);
	bench_prog_ids_free(&before);
	return err;
}

/* The target's cost per sample: the filtered samples' cost (F ns each) taken out. */
static double per_target(const struct py_cost *c, double f)
{
	double others = (double)c->samples - c->target_samples;

	if (c->target_samples < 1)
		return 0;
	return ((double)c->run_ns - (others > 0 ? others : 0) * f) / c->target_samples;
}

int bench_python(const struct bench_opts *o, int argc, char **argv)
{
	unsigned int secs = o->short_mode ? 2 : 4;
	int runs = o->runs ? o->runs : o->short_mode ? 1 : 3;
	char kiln[4096], workload[4096], deep[4096], sleeper[] = "/bin/sleep";
	double *py_ns = NULL, *nat_ns = NULL, *diff = NULL;
	int stats_fd = -1, py_in = -1, nat_in = -1, idle_in = -1, n = 0, i, err = 0;
	int py_out = -1, nat_out = -1, idle_out = -1;
	pid_t py = -1, nat = -1, idle = -1;
	struct bench_summary sum;

	if (argc > 1) {
		fprintf(stderr, "kiln-bench python: unexpected argument '%s'\n", argv[1]);
		return -EINVAL;
	}
	snprintf(deep, sizeof(deep), "%s/python/deep.py", KILN_BENCH_DIR);
	if (bench_sibling(o, "../kiln", kiln, sizeof(kiln)) ||
	    bench_sibling(o, "workload-nofp", workload, sizeof(workload)) || access(kiln, X_OK) ||
	    access(workload, X_OK)) {
		fprintf(stderr, "kiln-bench python: needs %s and %s (build them first)\n", kiln,
			workload);
		return -ENOENT;
	}
	bench_header(SUITE, "BPF cost per sample of the profiled process, 50 frames deep, 999 Hz");
	if (access(PYTHON, X_OK) || access(deep, R_OK)) {
		bench_row_na(SUITE, "python - native ns/sample", PYTHON " or deep.py missing");
		return 0;
	}
	py_ns = calloc((size_t)runs, sizeof(double));
	nat_ns = calloc((size_t)runs, sizeof(double));
	diff = calloc((size_t)runs, sizeof(double));
	if (!py_ns || !nat_ns || !diff) {
		err = -ENOMEM;
		goto cleanup;
	}
	stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (stats_fd < 0) {
		err = -errno;
		fprintf(stderr, "kiln-bench python: cannot enable BPF run-time stats: %s\n",
			strerror(-err));
		goto cleanup;
	}
	char *const py_argv[] = { PYTHON, deep, DEPTH, NULL };
	char *const nat_argv[] = { workload,	"--recurse", DEPTH,    "--mix",
				   "alpha=100", "--seconds", "100000", NULL };
	char *const idle_argv[] = { sleeper, "100000", NULL };

	py = start_target(py_argv, true, &py_in, &py_out);
	nat = start_target(nat_argv, false, &nat_in, &nat_out);
	idle = start_target(idle_argv, false, &idle_in, &idle_out);
	if (py < 0 || nat < 0 || idle < 0) {
		err = py < 0 ? py : nat < 0 ? nat : idle;
		fprintf(stderr, "kiln-bench python: starting the targets: %s\n", strerror(-err));
		goto cleanup;
	}
	printf("%d run%s of %u s per target after %d s of warm-up, alternating%s\n", runs,
	       runs > 1 ? "s" : "", secs, WARMUP_S,
	       o->short_mode ? " (short run: a smoke test, not a measurement)" : "");
	for (i = 0; i < runs; i++) {
		struct py_cost cp, cn, ci;
		double f;

		err = measure(kiln, idle, "a sleeping process", secs, NULL, &ci);
		if (!err)
			err = measure(kiln, py, "python3.11 deep.py " DEPTH, secs, "deep.py:down",
				      &cp);
		if (!err)
			err = measure(kiln, nat, "workload-nofp --recurse " DEPTH, secs, "recurse",
				      &cn);
		if (err)
			goto cleanup;
		f = ci.raw_ns;
		py_ns[n] = per_target(&cp, f);
		nat_ns[n] = per_target(&cn, f);
		diff[n] = py_ns[n] - nat_ns[n];
		printf("run %d: filtered samples %.0f ns each; python %.0f ns/sample over %.0f of its "
		       "samples (plain quotient %.0f ns over %llu); native %.0f ns over %.0f (plain "
		       "%.0f ns over %llu); difference %.0f ns\n",
		       i + 1, f, py_ns[n], cp.target_samples, cp.raw_ns,
		       (unsigned long long)cp.samples, nat_ns[n], cn.target_samples, cn.raw_ns,
		       (unsigned long long)cn.samples, diff[n]);
		n++;
	}
	bench_summarize(nat_ns, n, &sum);
	bench_row(SUITE, "native 50 frames ns/sample", &sum, "ns", 0, NULL, BENCH_NO_GOAL);
	bench_summarize(py_ns, n, &sum);
	bench_row(SUITE, "python 50 frames ns/sample", &sum, "ns", 0, NULL, BENCH_NO_GOAL);
	bench_summarize(diff, n, &sum);
	bench_row(SUITE, "python - native ns/sample", &sum, "ns", 0, "<= 2000",
		  sum.median <= DIFF_GOAL_NS ? BENCH_PASS : BENCH_MISS);
cleanup:
	if (py_in >= 0)
		close(py_in);
	if (nat_in >= 0)
		close(nat_in);
	if (idle_in >= 0)
		close(idle_in);
	if (py > 0)
		bench_stop(py, SIGKILL, 5000, NULL);
	if (nat > 0)
		bench_stop(nat, SIGKILL, 5000, NULL);
	if (idle > 0)
		bench_stop(idle, SIGKILL, 5000, NULL);
	if (py_out >= 0)
		close(py_out);
	if (nat_out >= 0)
		close(nat_out);
	if (idle_out >= 0)
		close(idle_out);
	if (stats_fd >= 0)
		close(stats_fd);
	free(py_ns);
	free(nat_ns);
	free(diff);
	return err;
}
