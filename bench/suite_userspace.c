// SPDX-License-Identifier: Apache-2.0
/*
 * kiln-bench userspace: the CPU kiln's user-space processes spend per sample, caches warm.
 *
 * The pipeline (`kiln agent` at 999 Hz, `kiln export` to a file destination, `kiln ui` with a
 * slot open for the workload) runs on a private ring while a known-answer workload (2 threads,
 * 64 distinct call paths) burns in a cgroup of our own. After a warm-up of a few windows
 * (symbol caches filled, the exporter's first batches written), each interval measures
 * delta CPU / delta samples taken (the agent's samples_taken counter in the ring header).
 * CPU is the scheduler's run time of every thread (/proc/PID/task/TID/schedstat, the same as
 * density uses): everything the process spends, user code and the kernel side of its system
 * calls, to the nanosecond. utime + stime of /proc/PID/stat is printed beside it for
 * reference: it moves in 10 ms ticks, 0.5 us per sample over an interval here, too coarse
 * for a 2 us goal.
 *
 * Baseline in the same run: the BPF program's own cost per sample (run_time_ns / run_cnt of
 * kiln_sample, BPF stats on during the run), so user space / BPF is printed as a ratio.
 * Whole host: samples of every other process count too, as they do for kiln in production.
 */
#include <bpf/bpf.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/proc.h"
#include "bench/stats.h"
#include "common/util.h"

#define SUITE "userspace"
#define KILN_PROG "kiln_sample"
#define GOAL_US 2.0

enum {
	P_AGENT,
	P_EXPORTER,
	P_UI,
	NPROCS
};

/* One moment of the counters an interval subtracts. */
struct snap {
	uint64_t cpu[NPROCS]; /* scheduler run time of all threads, ns */
	uint64_t agent_ticks; /* the agent's utime + stime, ns (tick granularity) */
	uint64_t taken;
	struct bench_prog_stats bpf;
};

static int snapshot(struct bench_pipeline *p, const struct bench_prog_ids *before, struct snap *s)
{
	const pid_t pids[NPROCS] = { p->agent, p->exporter, p->ui };
	int i, err;

	for (i = 0; i < NPROCS; i++) {
		err = bench_proc_runtime_ns(pids[i], &s->cpu[i]);
		if (err)
			return err;
	}
	err = bench_proc_cputime_ns(p->agent, &s->agent_ticks);
	if (err)
		return err;
	s->taken = bench_counter(p->hdr, "samples_taken");
	return bench_prog_stats(before, p->agent, KILN_PROG, NULL, &s->bpf);
}

/* The result rows: CPU per sample of each process, the BPF baseline and the ratios to it. */
static void print_rows(double *const us[NPROCS], const double *bpf_us, double *ratio,
		       const double *rate, int n)
{
	static const char *const who[NPROCS] = { "agent", "exporter", "UI" };
	struct bench_summary sm;
	char name[64];
	int i, k;

	for (k = 0; k < NPROCS; k++) {
		snprintf(name, sizeof(name), "%s CPU per sample%s", who[k],
			 k == P_UI ? " (one slot)" : "");
		bench_summarize(us[k], n, &sm);
		if (k == P_UI)
			bench_row(SUITE, name, &sm, "us", 2, NULL, BENCH_NO_GOAL);
		else
			bench_row(SUITE, name, &sm, "us", 2, "<= 2",
				  sm.median <= GOAL_US ? BENCH_PASS : BENCH_MISS);
	}
	bench_summarize(bpf_us, n, &sm);
	bench_row(SUITE, "BPF cost per sample (baseline)", &sm, "us", 3, NULL, BENCH_NO_GOAL);
	bench_summarize(ratio, n, &sm);
	bench_row(SUITE, "agent / BPF", &sm, "x", 1, NULL, BENCH_NO_GOAL);
	for (i = 0; i < n; i++)
		ratio[i] = bpf_us[i] > 0 ? us[P_EXPORTER][i] / bpf_us[i] : 0;
	bench_summarize(ratio, n, &sm);
	bench_row(SUITE, "exporter / BPF", &sm, "x", 1, NULL, BENCH_NO_GOAL);
	bench_summarize(rate, n, &sm);
	bench_row(SUITE, "samples taken", &sm, "/s", 0, NULL, BENCH_NO_GOAL);
}

int bench_userspace(const struct bench_opts *o, int argc, char **argv)
{
	int runs = o->runs ? o->runs : o->short_mode ? 1 : 5, i, k, n = 0, err = 0;
	unsigned int interval_s = o->short_mode ? 5 : 10, warm = o->short_mode ? 2 : 5;
	const struct bench_pipeline_opts po = {
		.tag = SUITE, .hz = 999, .exporter = true, .ui = true
	};
	double *us[NPROCS] = { NULL }, *bpf_us = NULL, *rate = NULL, *ratio = NULL;
	char workload[4096], cg[256] = "", slot[320], secs[16];
	struct bench_prog_ids before = { 0 };
	struct bench_pipeline *p = NULL;
	int stats_fd = -1, wl_err = -1;
	struct snap a, b;
	uint64_t d;
	pid_t wl = -1;

	if (argc > 1) {
		fprintf(stderr, "kiln-bench userspace: unexpected argument '%s'\n", argv[1]);
		return -EINVAL;
	}
	if (geteuid() != 0) {
		bench_row_na(SUITE, "agent CPU per sample", "needs root (kiln agent loads BPF)");
		bench_row_na(SUITE, "exporter CPU per sample", "needs root (kiln agent loads BPF)");
		return 1;
	}
	if (bench_sibling(o, "workload", workload, sizeof(workload)) || access(workload, X_OK)) {
		bench_row_na(SUITE, "agent CPU per sample", "cannot find build/bench/workload");
		bench_row_na(SUITE, "exporter CPU per sample", "cannot find build/bench/workload");
		return 1;
	}
	for (k = 0; k < NPROCS; k++)
		us[k] = calloc((size_t)runs, sizeof(double));
	bpf_us = calloc((size_t)runs, sizeof(double));
	rate = calloc((size_t)runs, sizeof(double));
	ratio = calloc((size_t)runs, sizeof(double));
	if (!us[P_AGENT] || !us[P_EXPORTER] || !us[P_UI] || !bpf_us || !rate || !ratio) {
		err = -ENOMEM;
		goto cleanup;
	}
	bench_header(SUITE, "user-space CPU per sample, warm caches");
	printf("%s: agent 999 Hz + exporter (file) + UI (one slot open); workload --threads 2 "
	       "--stacks 64 --depth 4; %u windows warm-up, %d x %u s measured\n",
	       SUITE, warm, runs, interval_s);

	/* Stats on for the whole run: the BPF cost is the baseline measured here. */
	stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (stats_fd < 0) {
		err = -errno;
		fprintf(stderr, "%s: cannot enable BPF run-time stats: %s\n", SUITE,
			strerror(errno));
		goto cleanup;
	}
	err = bench_prog_ids_snapshot(&before);
	if (err)
		goto cleanup;
	err = bench_pipeline__new_cgroup(&p, o, &po, SUITE, cg, sizeof(cg));
	if (err)
		goto cleanup;
	snprintf(secs, sizeof(secs), "%u", warm * 2 + 30 + interval_s * (unsigned int)runs);
	{
		char *const av[] = { workload,	  "--threads", "2",
				     "--stacks",  "64",	       "--depth",
				     "4",	  "--mix",     "alpha=50,beta=30,gamma=20",
				     "--seconds", secs,	       NULL };

		wl_err = bench_tmpfd();
		wl = bench_spawn_cgroup(av, BENCH_FD_NULL, wl_err < 0 ? BENCH_FD_NULL : wl_err,
					NULL, 0, cg);
	}
	if (wl < 0) {
		err = wl;
		goto cleanup;
	}
	err = bench_pipeline__open_slot(p, cg, 20000, slot, sizeof(slot));
	if (!err)
		err = bench_pipeline__wait_windows(p, warm, (int)(warm * 5000 + 10000));
	if (err)
		goto cleanup;

	for (i = 0; i < runs; i++) {
		if (bench_wait(wl, 0, NULL) == 0) {
			wl = -1;
			fprintf(stderr, "%s: the workload ended early\n", SUITE);
			err = -EIO;
			goto cleanup;
		}
		err = snapshot(p, &before, &a);
		if (err)
			break;
		bench_sleep_ns((uint64_t)interval_s * 1000000000ull);
		err = bench_pipeline__check(p);
		if (!err)
			err = snapshot(p, &before, &b);
		if (err)
			break;
		if (b.taken <= a.taken || b.bpf.run_cnt <= a.bpf.run_cnt) {
			fprintf(stderr, "%s: no samples taken while measuring\n", SUITE);
			err = -EIO;
			break;
		}
		d = b.taken - a.taken;
		for (k = 0; k < NPROCS; k++)
			us[k][n] = (double)(b.cpu[k] - a.cpu[k]) / (double)d / 1000.0;
		bpf_us[n] = (double)(b.bpf.run_time_ns - a.bpf.run_time_ns) /
			    (double)(b.bpf.run_cnt - a.bpf.run_cnt) / 1000.0;
		ratio[n] = bpf_us[n] > 0 ? us[P_AGENT][n] / bpf_us[n] : 0;
		rate[n] = (double)d / interval_s;
		printf("%s: interval %d: %.0f samples taken/s; us/sample agent %.2f (utime + "
		       "stime %.2f), exporter %.2f, UI %.2f, BPF %.3f\n",
		       SUITE, i + 1, rate[n], us[P_AGENT][n],
		       (double)(b.agent_ticks - a.agent_ticks) / (double)d / 1000.0,
		       us[P_EXPORTER][n], us[P_UI][n], bpf_us[n]);
		n++;
	}
	if (!n) {
		fprintf(stderr, "%s: nothing measured: %s\n", SUITE, strerror(-err));
		goto cleanup;
	}
	err = 0;
	print_rows(us, bpf_us, ratio, rate, n);
cleanup:
	bench_workload_end(wl, wl_err, err);
	bench_pipeline__free(p);
	if (cg[0])
		bench_cgroup_free(cg);
	if (stats_fd >= 0)
		close(stats_fd);
	bench_prog_ids_free(&before);
	for (k = 0; k < NPROCS; k++)
		free(us[k]);
	free(bpf_us);
	free(rate);
	free(ratio);
	if (err && !n) {
		bench_row_na(SUITE, "agent CPU per sample", "could not measure, see above");
		bench_row_na(SUITE, "exporter CPU per sample", "could not measure, see above");
	}
	return err ? 1 : 0;
}
