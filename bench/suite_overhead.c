// SPDX-License-Identifier: Apache-2.0
/*
 * kiln-bench overhead: how much slower a fixed amount of work gets while a whole-host
 * profiler samples at 19, 99 and 999 Hz: none; kiln's full pipeline (`kiln agent` +
 * `kiln export` to a file destination + `kiln ui` on a free loopback port, on a private
 * ring); `perf record -F HZ -g -a`; bpftrace profile:hz:HZ; and the floor, bpftrace counting
 * samples only, which is what sampling costs before any profiler does any work (on a VM each
 * timer interrupt and its re-arming are exits to the hypervisor).
 *
 * The workload (`workload --work N --threads 2`) reports its own elapsed wall time. The
 * configurations alternate within each round, so slow drifts of the machine spread over all of
 * them, and each slowdown is taken against the "none" run of its own round; medians damp
 * single outliers. Each profiler is seen sampling before the workload starts, and is stopped
 * only after it ends, so the whole run is under sampling. Every run starts on a quiet machine
 * (settle()), so that no run pays for the teardown of the one before. 99 Hz (the goal) runs
 * in every round; 19 and 999 Hz in the first three only, to keep the suite within its time
 * budget.
 *
 * A slowdown of 0.2 % is below what the wall time of a run on a shared VM resolves (its
 * rounds spread by several percent). So each kiln run also accounts for the CPU kiln itself
 * took while the workload ran: the run time of its BPF programs (BPF run-time stats, on only
 * during kiln's runs: two clock reads per sample) plus the run time of its agent, exporter
 * and UI (schedstat), as a share of the machine's CPU time over the run. Not in it: the
 * sampling interrupt's own entry and exit, and what kiln's cache footprint costs the workload.
 */
#include <bpf/bpf.h>
#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/proc.h"
#include "bench/stats.h"
#include "common/util.h"

#define SUITE "overhead"
#define KILN_PROG "kiln_sample"
/* END clears the map: printing and symbolizing every stack at exit can take many seconds. */
#define BPFTRACE_PROG "profile:hz:%u { @[kstack, ustack, pid] = count(); } END { clear(@); }"
/* The floor: a sampling interrupt that runs a BPF program doing (almost) nothing. */
#define FLOOR_PROG "profile:hz:%u { @ = count(); } END { clear(@); }"
#define SIDE_ROUNDS 3 /* rounds that also run 19 and 999 Hz */
#define WARM_WINDOWS 2 /* kiln windows written before the workload starts */
#define SLOWDOWN_GOAL_PCT 0.2
#define START_TIMEOUT_MS 20000
#define STOP_TIMEOUT_MS 60000
#define CALIBRATION_WORK 100000000ull
#define SETTLE_SLICE_MS 200
#define SETTLE_IDLE_PCT 95.0 /* kiln's steady state (< 1 % of a CPU) does not prevent it */
#define SETTLE_MAX_MS 10000

enum profiler {
	PROF_NONE,
	PROF_KILN,
	PROF_PERF,
	PROF_PERF_DWARF, /* perf record --call-graph dwarf: the whole-stack baseline */
	PROF_BPFTRACE,
	PROF_FLOOR, /* bpftrace counting samples only: what the sampling itself costs */
	NPROFS,
};

static const char *const prof_names[NPROFS] = { "none",	      "kiln",	  "perf",
						"perf-dwarf", "bpftrace", "floor" };
static const unsigned int freqs[] = { 19, 99, 999 };
#define NFREQS (sizeof(freqs) / sizeof(freqs[0]))
#define GOAL_HZ 99
/* Configuration 0 is "none"; then every profiler at every frequency. */
#define NCONFIGS (1 + (NPROFS - 1) * NFREQS)

struct config {
	enum profiler prof;
	unsigned int hz;
};

struct overhead {
	const struct bench_opts *o;
	char workload[4096];
	char kiln[4096];
	char perf[4096];
	char bpftrace[4096];
	bool available[NPROFS];
	bool failed[NCONFIGS];
	char work_arg[32];
	long ncpus; /* online CPUs: the machine's CPU time is elapsed x ncpus */
	int unsettled; /* runs started although the machine did not settle */
	char out_path[64]; /* profilers' output file, removed after each run */
};

/* Idle and total CPU time of the machine so far, in clock ticks (/proc/stat). */
static int cpu_ticks(unsigned long long *idle, unsigned long long *total)
{
	unsigned long long v[8] = { 0 };
	char line[256];
	FILE *f = fopen("/proc/stat", "re");
	int n = 0, i;

	if (f) {
		if (fgets(line, sizeof(line), f))
			n = sscanf(line, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
				   &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
		fclose(f);
	}
	if (n < 5)
		return -EIO;
	*idle = v[3] + v[4];
	for (*total = 0, i = 0; i < 8; i++)
		*total += v[i];
	return 0;
}

/*
 * Waits until the machine is quiet before a measured run: a SETTLE_SLICE_MS slice in which
 * the CPUs were idle at least SETTLE_IDLE_PCT of the time, up to SETTLE_MAX_MS. What the
 * previous configuration left behind (the kernel freeing a profiler's BPF maps and programs,
 * perf's output written back) otherwise runs beside the next run and lands in its time,
 * whichever configuration that is. Returns false when the machine did not settle.
 */
static bool settle(void)
{
	unsigned long long i0, t0, i1, t1;
	int waited;

	for (waited = 0; waited < SETTLE_MAX_MS; waited += SETTLE_SLICE_MS) {
		if (cpu_ticks(&i0, &t0))
			return false;
		bench_sleep_ns((uint64_t)SETTLE_SLICE_MS * 1000000ull);
		if (cpu_ticks(&i1, &t1))
			return false;
		if (t1 > t0 && (double)(i1 - i0) * 100 >= SETTLE_IDLE_PCT * (double)(t1 - t0))
			return true;
	}
	return false;
}

/*
 * Runs the workload once, on a quiet machine (settle()). Returns 0 and its elapsed seconds, or
 * -errno.
 */
static int run_workload(struct overhead *ov, double *secs)
{
	char *const argv[] = { ov->workload, "--work", ov->work_arg, "--threads", "2", NULL };
	char out[512], *p;
	int err;

	if (!settle())
		ov->unsettled++;

	err = bench_capture(argv, BENCH_FD_NULL, out, sizeof(out), 600000);
	if (err) {
		fprintf(stderr, "kiln-bench overhead: workload failed: %s\n",
			err == -ECHILD ? "non-zero exit" : strerror(-err));
		return err;
	}
	p = strstr(out, "elapsed_ns=");
	if (!p) {
		fprintf(stderr, "kiln-bench overhead: workload printed no elapsed_ns\n");
		return -EPROTO;
	}
	*secs = strtod(p + strlen("elapsed_ns="), NULL) / 1e9;
	return 0;
}

/*
 * Starts perf with its events disabled, then enables them through its control descriptor and
 * waits for the acknowledgement: from then on it samples. Our ends of the control pipes go to
 * CTL_W and ACK_R, to be closed only once perf is stopped: perf treats a hung-up control
 * descriptor as an error and quits. Returns its pid or -errno.
 */
static pid_t start_perf(struct overhead *ov, unsigned int hz, bool dwarf, int err_fd, int *ctl_w,
			int *ack_r)
{
	int ctl[2] = { -1, -1 }, ack[2] = { -1, -1 };
	char control[64], reply[8] = { 0 }, hz_s[16];
	struct pollfd pfd;
	pid_t pid = -1;
	int err = 0;

	if (pipe2(ctl, O_CLOEXEC) || pipe2(ack, O_CLOEXEC)) {
		err = -errno;
		goto cleanup;
	}
	snprintf(control, sizeof(control), "fd:%d,%d", ctl[0], ack[1]);
	snprintf(hz_s, sizeof(hz_s), "%u", hz);
	/* -g: frame pointers; --call-graph dwarf: 8 KiB of user stack copied per sample. */
	char *const argv[] = { ov->perf,     "record",	     "-F",
			       hz_s,	     "--call-graph", dwarf ? "dwarf" : "fp",
			       "-a",	     "-q",	     "-o",
			       ov->out_path, "-D",	     "-1",
			       "--control",  control,	     NULL };
	int keep[] = { ctl[0], ack[1] };

	/* bench_spawn keeps these two open in perf: clear close-on-exec for them only. */
	fcntl(ctl[0], F_SETFD, 0);
	fcntl(ack[1], F_SETFD, 0);
	pid = bench_spawn(argv, BENCH_FD_NULL, err_fd, keep, 2);
	if (pid < 0) {
		err = pid;
		goto cleanup;
	}
	if (write(ctl[1], "enable\n", 7) != 7) {
		err = -errno;
		goto cleanup;
	}
	pfd.fd = ack[0];
	pfd.events = POLLIN;
	if (poll(&pfd, 1, START_TIMEOUT_MS) != 1 || read(ack[0], reply, sizeof(reply) - 1) <= 0 ||
	    strncmp(reply, "ack", 3))
		err = -ETIMEDOUT;
cleanup:
	if (err && pid > 0)
		bench_stop(pid, SIGKILL, 1000, NULL);
	if (ctl[0] >= 0)
		close(ctl[0]);
	if (ack[1] >= 0)
		close(ack[1]);
	if (err) {
		if (ctl[1] >= 0)
			close(ctl[1]);
		if (ack[0] >= 0)
			close(ack[0]);
	} else {
		*ctl_w = ctl[1];
		*ack_r = ack[0];
	}
	return err ? err : pid;
}

/*
 * Starts a BPF profiler and waits until its perf_event programs have run, with run-time stats
 * on only for that wait so they do not add to the cost being measured. Returns its pid or
 * -errno (-ECHILD: it exited; *STATUS has why).
 */
static pid_t start_bpf_profiler(char *const argv[], const char *name, const char *not_name,
				int err_fd, int *status)
{
	struct bench_prog_ids before = { 0 };
	int stats_fd, err;
	pid_t pid;

	stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (stats_fd < 0)
		return -errno;
	err = bench_prog_ids_snapshot(&before);
	if (err)
		goto cleanup;
	pid = bench_spawn(argv, BENCH_FD_NULL, err_fd, NULL, 0);
	if (pid < 0) {
		err = pid;
		goto cleanup;
	}
	err = bench_wait_sampling(&before, pid, name, not_name, START_TIMEOUT_MS, status);
	if (err && err != -ECHILD)
		bench_stop(pid, SIGKILL, 1000, NULL);
cleanup:
	close(stats_fd);
	bench_prog_ids_free(&before);
	return err ? err : pid;
}

/* perf record re-raises the SIGINT it handled, to end with it; the others exit 0. */
static bool exited_cleanly(enum profiler c, int status)
{
	if ((c == PROF_PERF || c == PROF_PERF_DWARF) && WIFSIGNALED(status) &&
	    WTERMSIG(status) == SIGINT)
		return true;
	return WIFEXITED(status) && !WEXITSTATUS(status);
}

/* The run time of kiln's three processes so far, ns (a process not running adds 0). */
static uint64_t pipeline_runtime_ns(const struct bench_pipeline *p)
{
	pid_t pids[] = { p->agent, p->exporter, p->ui };
	uint64_t total = 0, ns;
	size_t i;

	for (i = 0; i < sizeof(pids) / sizeof(pids[0]); i++)
		if (pids[i] > 0 && !bench_proc_runtime_ns(pids[i], &ns))
			total += ns;
	return total;
}

/*
 * The workload's run under the warmed-up pipeline P, with kiln's own CPU accounted: *SHARE is
 * its BPF and process run time over the run as a percentage of the machine's CPU time (NAN
 * when BPF stats cannot be read). Returns 0 and the workload's elapsed seconds, or -errno.
 */
static int run_accounted(struct overhead *ov, struct bench_pipeline *p,
			 const struct bench_prog_ids *before, double *secs, double *share)
{
	struct bench_prog_stats b0, b1;
	uint64_t r0, r1;
	bool have_bpf;
	int stats_fd, err;

	*share = NAN;
	stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	have_bpf = stats_fd >= 0 && !bench_prog_stats(before, p->agent, NULL, NULL, &b0);
	r0 = pipeline_runtime_ns(p);
	err = run_workload(ov, secs);
	r1 = pipeline_runtime_ns(p);
	have_bpf = have_bpf && !bench_prog_stats(before, p->agent, NULL, NULL, &b1);
	if (stats_fd >= 0)
		close(stats_fd);
	if (!err && have_bpf && *secs > 0) {
		*share = (double)(b1.run_time_ns - b0.run_time_ns + r1 - r0) * 100 /
			 (*secs * 1e9 * (double)ov->ncpus);
		fprintf(stderr,
			"kiln-bench overhead: kiln over %.2f s: BPF %.2f ms (%llu runs), agent + "
			"exporter + UI %.2f ms: %.3f %% of %ld CPUs\n",
			*secs, (double)(b1.run_time_ns - b0.run_time_ns) / 1e6,
			(unsigned long long)(b1.run_cnt - b0.run_cnt), (double)(r1 - r0) / 1e6,
			*share, ov->ncpus);
	}
	return err;
}

/*
 * One run of kiln's pipeline at HZ. Returns 0, the workload's elapsed seconds and kiln's CPU
 * share (run_accounted), or -errno.
 */
static int run_kiln(struct overhead *ov, unsigned int hz, double *secs, double *share)
{
	const struct bench_pipeline_opts po = {
		.tag = SUITE, .hz = hz, .exporter = true, .ui = true
	};
	struct bench_prog_ids before = { 0 };
	struct bench_pipeline *p = NULL;
	int err;

	err = bench_prog_ids_snapshot(&before);
	if (!err)
		err = bench_pipeline__new(&p, ov->o, &po);
	if (err) {
		fprintf(stderr, "kiln-bench overhead: kiln at %u Hz did not start: %s\n", hz,
			strerror(-err));
		goto cleanup;
	}
	/*
	 * Steady state, as on a node where kiln has run for a while: its start-up (loading BPF,
	 * symbolizing every process of the host once, at raised priority) is over before the
	 * workload starts. Only the workload's own process is new to it, as in perf's runs.
	 */
	err = bench_pipeline__wait_windows(p, WARM_WINDOWS, 30000);
	if (err)
		fprintf(stderr, "kiln-bench overhead: kiln at %u Hz did not warm up: %s\n", hz,
			strerror(-err));
	else
		err = run_accounted(ov, p, &before, secs, share);
	if (!err)
		err = bench_pipeline__check(p);
cleanup:
	bench_pipeline__free(p);
	bench_prog_ids_free(&before);
	return err;
}

/*
 * One run of configuration C. Returns 0 and the workload's elapsed seconds (and for kiln its
 * CPU share, else NAN), or -errno.
 */
static int run_config(struct overhead *ov, const struct config *c, double *secs, double *share)
{
	char prog[160];
	char *const bt_argv[] = { ov->bpftrace, "-e", prog, NULL };
	const char *who = prof_names[c->prof];
	int err_fd = -1, ctl_w = -1, ack_r = -1, status = 0, err, stop;
	pid_t pid = -1;
	char why[32];

	*share = NAN;
	if (c->prof == PROF_NONE)
		return run_workload(ov, secs);
	if (c->prof == PROF_KILN)
		return run_kiln(ov, c->hz, secs, share);
	snprintf(prog, sizeof(prog), c->prof == PROF_FLOOR ? FLOOR_PROG : BPFTRACE_PROG, c->hz);
	err_fd = bench_tmpfd();
	if (c->prof == PROF_PERF || c->prof == PROF_PERF_DWARF)
		pid = start_perf(ov, c->hz, c->prof == PROF_PERF_DWARF,
				 err_fd < 0 ? BENCH_FD_NULL : err_fd, &ctl_w, &ack_r);
	else
		pid = start_bpf_profiler(bt_argv, NULL, KILN_PROG,
					 err_fd < 0 ? BENCH_FD_NULL : err_fd, &status);
	if (pid < 0) {
		err = pid;
		if (err == -ECHILD)
			fprintf(stderr, "kiln-bench overhead: %s exited before sampling (%s)\n",
				who, bench_status_str(status, why, sizeof(why)));
		else
			fprintf(stderr, "kiln-bench overhead: %s did not start sampling: %s\n", who,
				strerror(-err));
		goto cleanup;
	}
	err = run_workload(ov, secs);
	stop = bench_stop(pid, SIGINT, STOP_TIMEOUT_MS, &status);
	if (ctl_w >= 0) {
		close(ctl_w);
		close(ack_r);
	}
	if (!err && stop == -ETIMEDOUT)
		fprintf(stderr, "kiln-bench overhead: %s ignored SIGINT, killed\n", who);
	else if (!err && !stop && !exited_cleanly(c->prof, status))
		fprintf(stderr, "kiln-bench overhead: %s ended with %s after SIGINT\n", who,
			bench_status_str(status, why, sizeof(why)));
cleanup:
	if (err && err_fd >= 0)
		bench_print_tail(err_fd, who);
	if (err_fd >= 0)
		close(err_fd);
	unlink(ov->out_path);
	return err;
}

/*
 * Sizes --work so that one run without a profiler takes about TARGET seconds.
 * Returns 0 or -errno.
 */
static int calibrate(struct overhead *ov, double target)
{
	double secs = 0;
	unsigned long long n;
	int err, i;

	snprintf(ov->work_arg, sizeof(ov->work_arg), "%llu", CALIBRATION_WORK);
	/* The first run warms caches and CPU frequency; the second is the one measured. */
	for (i = 0; i < 2; i++) {
		err = run_workload(ov, &secs);
		if (err)
			return err;
	}
	n = (unsigned long long)((double)CALIBRATION_WORK * target / (secs > 1e-6 ? secs : 1e-6));
	n = n / 1000000 * 1000000 + 1000000;
	snprintf(ov->work_arg, sizeof(ov->work_arg), "%llu", n);
	return 0;
}

/*
 * kiln's own CPU rows: for each frequency kiln ran at, the median over rounds of its CPU
 * share (run_accounted), NAN values left out.
 */
static void share_rows(const struct overhead *ov, const struct config *cfg, double **share,
		       int runs, double *buf)
{
	struct bench_summary sum;
	char name[64];
	int c, i, m;

	for (c = 1; c < (int)NCONFIGS; c++) {
		if (cfg[c].prof != PROF_KILN || (ov->o->short_mode && cfg[c].hz != GOAL_HZ))
			continue;
		for (i = 0, m = 0; i < runs; i++)
			if (!isnan(share[c][i]))
				buf[m++] = share[c][i];
		snprintf(name, sizeof(name), "kiln %u Hz: kiln's CPU, BPF + processes", cfg[c].hz);
		if (!m) {
			bench_row_na(SUITE, name, "not measured (BPF run-time stats refused?)");
			continue;
		}
		bench_summarize(buf, m, &sum);
		bench_row(SUITE, name, &sum, "% CPU", 3, NULL, BENCH_NO_GOAL);
	}
}

/*
 * The suite's rows from each configuration's elapsed times ELAPSED (N of them, RUNS rounds)
 * and kiln's CPU shares SHARE, with SLOW room for RUNS values. Returns 0, or -ENOENT when kiln could not be measured.
 */
static int print_rows(const struct overhead *ov, const struct config *cfg, double **elapsed,
		      double **share, const int *n, int runs, double *slow)
{
	const struct bench_opts *o = ov->o;
	double kiln_goal = NAN, dwarf_goal = NAN, floor_top = NAN;
	struct bench_summary sum;
	char name[64], why[96];
	int c, i, err = 0;

	bench_summarize(elapsed[0], n[0], &sum);
	bench_row(SUITE, "none: elapsed", &sum, "s", 3, NULL, BENCH_NO_GOAL);
	for (c = 1; c < (int)NCONFIGS; c++) {
		int m = 0;

		snprintf(name, sizeof(name), "%s %u Hz: slowdown", prof_names[cfg[c].prof],
			 cfg[c].hz);
		if (o->short_mode && cfg[c].hz != GOAL_HZ)
			continue;
		if (!ov->available[cfg[c].prof] || !n[c]) {
			snprintf(why, sizeof(why), "%s%s", prof_names[cfg[c].prof],
				 !ov->available[cfg[c].prof]
					 ? (cfg[c].prof == PROF_KILN ? " needs root and build/kiln"
								     : " not installed")
					 : " failed, see above");
			bench_row_na(SUITE, name, why);
			if (cfg[c].prof == PROF_KILN)
				err = -ENOENT;
			continue;
		}
		/* Paired with the baseline of the same round: drifts between rounds cancel. */
		for (i = 0; i < runs; i++)
			if (elapsed[c][i] > 0 && elapsed[0][i] > 0)
				slow[m++] = (elapsed[c][i] / elapsed[0][i] - 1) * 100;
		bench_summarize(slow, m, &sum);
		if (cfg[c].hz == GOAL_HZ && cfg[c].prof == PROF_KILN)
			kiln_goal = sum.median;
		if (cfg[c].hz == GOAL_HZ && cfg[c].prof == PROF_PERF_DWARF)
			dwarf_goal = sum.median;
		if (cfg[c].hz == freqs[NFREQS - 1] && cfg[c].prof == PROF_FLOOR)
			floor_top = sum.median;
		if (cfg[c].prof == PROF_KILN && cfg[c].hz == GOAL_HZ)
			bench_row(SUITE, name, &sum, "%", 2, "<= +0.2 %",
				  sum.median <= SLOWDOWN_GOAL_PCT ? BENCH_PASS : BENCH_MISS);
		else
			bench_row(SUITE, name, &sum, "%", 2, NULL, BENCH_NO_GOAL);
	}
	share_rows(ov, cfg, share, runs, slow);
	/*
	 * The floor scales with the sampling rate; at the top rate it stands well above the
	 * rounds' spread, so scaled down it says what any sampler pays at the goal's rate.
	 */
	if (!isnan(floor_top)) {
		struct bench_summary d = { .n = 1 };

		d.median = d.min = d.max = floor_top * GOAL_HZ / freqs[NFREQS - 1];
		snprintf(name, sizeof(name), "floor %u Hz, scaled from %u Hz", GOAL_HZ,
			 freqs[NFREQS - 1]);
		bench_row(SUITE, name, &d, "%", 2, NULL, BENCH_NO_GOAL);
	}
	/* Issue 13: whole stacks must cost less than perf's whole stacks (DWARF) do. */
	if (!isnan(kiln_goal) && !isnan(dwarf_goal)) {
		struct bench_summary d = { .median = kiln_goal - dwarf_goal,
					   .min = kiln_goal - dwarf_goal,
					   .max = kiln_goal - dwarf_goal,
					   .n = 1 };

		snprintf(name, sizeof(name), "kiln - perf-dwarf %u Hz (medians)", GOAL_HZ);
		bench_row(SUITE, name, &d, "points", 2, "< 0",
			  d.median < 0 ? BENCH_PASS : BENCH_MISS);
	}
	return err;
}

int bench_overhead(const struct bench_opts *o, int argc, char **argv)
{
	int runs = o->runs ? o->runs : o->short_mode ? 1 : 5;
	int side = o->short_mode ? 0 : runs < SIDE_ROUNDS ? runs : SIDE_ROUNDS;
	double *elapsed[NCONFIGS] = { NULL }, *share[NCONFIGS] = { NULL }, *slow = NULL, e, sh;
	int n[NCONFIGS] = { 0 }, i, c, err = 0, fd;
	struct config cfg[NCONFIGS];
	struct overhead *ov;
	size_t f;

	if (argc > 1) {
		fprintf(stderr, "kiln-bench overhead: unexpected argument '%s'\n", argv[1]);
		return -EINVAL;
	}
	cfg[0] = (struct config){ PROF_NONE, 0 };
	for (f = 0; f < NFREQS; f++)
		for (c = PROF_KILN; c < NPROFS; c++)
			cfg[1 + f * (NPROFS - 1) + (size_t)(c - 1)] =
				(struct config){ (enum profiler)c, freqs[f] };
	ov = calloc(1, sizeof(*ov));
	slow = calloc((size_t)runs, sizeof(double));
	if (!ov || !slow) {
		err = -ENOMEM;
		goto cleanup;
	}
	ov->o = o;
	ov->ncpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (ov->ncpus < 1)
		ov->ncpus = 1;
	if (bench_sibling(o, "../kiln", ov->kiln, sizeof(ov->kiln)) ||
	    bench_sibling(o, "workload", ov->workload, sizeof(ov->workload)) ||
	    access(ov->workload, X_OK)) {
		fprintf(stderr, "kiln-bench overhead: needs %s (build it first)\n", ov->workload);
		err = -ENOENT;
		goto cleanup;
	}
	ov->available[PROF_NONE] = true;
	ov->available[PROF_KILN] = !access(ov->kiln, X_OK) && geteuid() == 0;
	ov->available[PROF_PERF] = !bench_which("perf", ov->perf, sizeof(ov->perf));
	ov->available[PROF_PERF_DWARF] = ov->available[PROF_PERF];
	ov->available[PROF_BPFTRACE] = !bench_which("bpftrace", ov->bpftrace, sizeof(ov->bpftrace));
	ov->available[PROF_FLOOR] = ov->available[PROF_BPFTRACE];
	for (c = 0; c < (int)NCONFIGS; c++) {
		elapsed[c] = calloc((size_t)runs, sizeof(double));
		share[c] = calloc((size_t)runs, sizeof(double));
		if (!elapsed[c] || !share[c]) {
			err = -ENOMEM;
			goto cleanup;
		}
		for (i = 0; i < runs; i++)
			share[c][i] = NAN; /* rounds a configuration does not run stay out */
	}
	/* A name for the profilers' output that nothing else uses; removed after every run. */
	snprintf(ov->out_path, sizeof(ov->out_path), "/tmp/kiln-bench-overhead-XXXXXX");
	fd = mkstemp(ov->out_path);
	if (fd < 0) {
		err = -errno;
		goto cleanup;
	}
	close(fd);
	unlink(ov->out_path);

	err = calibrate(ov, o->short_mode ? 1.0 : 3.0);
	if (err)
		goto cleanup;
	bench_header(SUITE, "slowdown of the workload under a whole-host profiler");
	printf("%s: workload --work %s --threads 2; %d alternating rounds at %u Hz%s; kiln = "
	       "agent + exporter (file) + UI\n",
	       SUITE, ov->work_arg, runs, GOAL_HZ,
	       side ? "" : " (19 and 999 Hz not run with --short)");
	if (side)
		printf("%s: 19 and 999 Hz in the first %d rounds only\n", SUITE, side);
	for (i = 0; i < runs; i++) {
		/* Without a baseline of its own round a run is not compared: none runs first. */
		for (c = 0; c < (int)NCONFIGS; c++) {
			if (!ov->available[cfg[c].prof] || ov->failed[c])
				continue;
			if (cfg[c].hz && cfg[c].hz != GOAL_HZ && i >= side)
				continue;
			if (run_config(ov, &cfg[c], &e, &sh)) {
				/* A profiler that fails once is left out; no baseline is fatal. */
				ov->failed[c] = true;
				if (c == 0) {
					err = -EIO;
					goto cleanup;
				}
				continue;
			}
			elapsed[c][i] = e;
			share[c][i] = sh;
			n[c]++;
		}
	}
	err = print_rows(ov, cfg, elapsed, share, n, runs, slow);
	if (ov->unsettled)
		printf("%s: %d run(s) started on a machine that was not %.0f %% idle for %d ms "
		       "within %d s\n",
		       SUITE, ov->unsettled, SETTLE_IDLE_PCT, SETTLE_SLICE_MS,
		       SETTLE_MAX_MS / 1000);
cleanup:
	for (c = 0; c < (int)NCONFIGS; c++) {
		free(elapsed[c]);
		free(share[c]);
	}
	free(slow);
	free(ov);
	return err;
}
