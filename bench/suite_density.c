// SPDX-License-Identifier: Apache-2.0
/*
 * kiln-bench density: kiln on a node with many processes and many distinct stacks.
 * Starts the pipeline (`kiln agent` at 999 Hz, `kiln export` to a file destination, `kiln ui`
 * with a slot open for the workload) on its own ring, then `workload --procs N --stacks K` in
 * a cgroup of its own, lets caches warm up, and measures over --runs intervals: the agent's
 * CPU per sample written (scheduler run time and the ring's counters), the RSS of all three
 * processes, the BPF map memory the agent holds (memlock of its map fds) and its symbol cache.
 * The goal is on all of kiln's memory: the three processes' memory plus the BPF maps. The
 * processes are summed by PSS, not RSS: all three map the same shared-memory ring, and a sum
 * of RSS would count the ring's pages three times (the machine holds them once).
 */
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

#define SUITE "density"
#define MIB (1024.0 * 1024.0)

int bench_density(const struct bench_opts *o, int argc, char **argv)
{
	unsigned int procs = o->short_mode ? 200 : 2000, stacks = o->short_mode ? 5000 : 50000;
	unsigned int warm_s = o->short_mode ? 4 : 20, interval_s = o->short_mode ? 3 : 15;
	int runs = o->runs > 0 ? o->runs : 1, i, n = 0, err = 0;
	double *per_sample = NULL, *rate = NULL, *rss = NULL, *maps = NULL, *total = NULL;
	double *symb = NULL, *rss_exp = NULL, *rss_ui = NULL, *uwt = NULL;
	char workload[4096], procs_s[16], stacks_s[16], secs_s[16], cg[256] = "";
	char slot[320];
	const struct bench_pipeline_opts po = {
		.tag = SUITE, .hz = 999, .exporter = true, .ui = true
	};
	uint64_t c0, c1, s0, s1, stk0, stk1, t0;
	struct bench_pipeline *p = NULL;
	struct bench_summary sm;
	int wl_err = -1;
	pid_t wl = -1;

	if (argc > 1) {
		fprintf(stderr, "kiln-bench density: unexpected argument '%s'\n", argv[1]);
		return -EINVAL;
	}
	if (geteuid() != 0) {
		bench_row_na(SUITE, "kiln memory (PSS + BPF maps)",
			     "needs root (kiln agent loads BPF)");
		return 1;
	}
	if (bench_sibling(o, "workload", workload, sizeof(workload)) || access(workload, X_OK)) {
		bench_row_na(SUITE, "kiln memory (PSS + BPF maps)",
			     "cannot find build/bench/workload");
		return 1;
	}
	per_sample = calloc((size_t)runs, sizeof(double));
	rate = calloc((size_t)runs, sizeof(double));
	rss = calloc((size_t)runs, sizeof(double));
	rss_exp = calloc((size_t)runs, sizeof(double));
	rss_ui = calloc((size_t)runs, sizeof(double));
	maps = calloc((size_t)runs, sizeof(double));
	total = calloc((size_t)runs, sizeof(double));
	symb = calloc((size_t)runs, sizeof(double));
	uwt = calloc((size_t)runs, sizeof(double));
	if (!per_sample || !rate || !rss || !rss_exp || !rss_ui || !maps || !total || !symb ||
	    !uwt) {
		err = -ENOMEM;
		goto cleanup;
	}
	bench_header(SUITE, "kiln at density: workload processes with many distinct stacks");
	printf("%s: %u processes, %u distinct call paths, agent at 999 Hz + exporter (file) + UI "
	       "(one slot open), %u s warm-up, %d x %u s measured\n",
	       SUITE, procs, stacks, warm_s, runs, interval_s);

	err = bench_pipeline__new_cgroup(&p, o, &po, SUITE, cg, sizeof(cg));
	if (err)
		goto cleanup;
	snprintf(procs_s, sizeof(procs_s), "%u", procs);
	snprintf(stacks_s, sizeof(stacks_s), "%u", stacks);
	snprintf(secs_s, sizeof(secs_s), "%u", warm_s + interval_s * (unsigned int)runs + 30);
	{
		char *const av[] = { workload,	  "--procs", procs_s,
				     "--stacks",  stacks_s,  "--depth",
				     "4",	  "--mix",   "alpha=50,beta=30,gamma=20",
				     "--seconds", secs_s,    NULL };

		wl_err = bench_tmpfd();
		wl = bench_spawn_cgroup(av, BENCH_FD_NULL, wl_err < 0 ? BENCH_FD_NULL : wl_err,
					NULL, 0, cg);
	}
	if (wl < 0) {
		err = wl;
		goto cleanup;
	}
	/* A user watching it: one slot open, its chunks held by the UI. */
	err = bench_pipeline__open_slot(p, cg, 20000, slot, sizeof(slot));
	if (err)
		goto cleanup;
	bench_sleep_ns((uint64_t)warm_s * 1000000000ull);
	if (bench_wait(wl, 0, NULL) == 0) {
		wl = -1;
		fprintf(stderr, "%s: the workload exited during the warm-up\n", SUITE);
		if (wl_err >= 0)
			bench_print_tail(wl_err, "workload");
		err = -EIO;
		goto cleanup;
	}

	for (i = 0; i < runs; i++) {
		if (bench_pipeline__check(p) || bench_proc_runtime_ns(p->agent, &c0))
			break;
		s0 = bench_counter(p->hdr, "samples_written");
		stk0 = bench_counter(p->hdr, "stacks_drained");
		/*
		 * The counters move once per window, and on a saturated machine a window can
		 * close late: an interval that saw none is extended (up to a minute) rather
		 * than reported as no data.
		 */
		t0 = mono_ns();
		do {
			bench_sleep_ns((uint64_t)interval_s * 1000000000ull);
			s1 = bench_counter(p->hdr, "samples_written");
		} while (s1 <= s0 && mono_ns() - t0 < 60000000000ull && !bench_pipeline__check(p));
		if (bench_proc_runtime_ns(p->agent, &c1))
			break;
		s1 = bench_counter(p->hdr, "samples_written");
		stk1 = bench_counter(p->hdr, "stacks_drained");
		if (s1 <= s0)
			break;
		per_sample[n] = (double)(c1 - c0) / (double)(s1 - s0) / 1000.0;
		rate[n] = (double)(s1 - s0) / ((double)(mono_ns() - t0) / 1e9);
		rss[n] = (double)bench_proc_rss_bytes(p->agent) / MIB;
		rss_exp[n] = (double)bench_proc_rss_bytes(p->exporter) / MIB;
		rss_ui[n] = (double)bench_proc_rss_bytes(p->ui) / MIB;
		maps[n] = (double)bench_proc_bpf_map_bytes(p->agent) / MIB;
		total[n] =
			(double)(bench_proc_pss_bytes(p->agent) +
				 bench_proc_pss_bytes(p->exporter) + bench_proc_pss_bytes(p->ui)) /
				MIB +
			maps[n];
		symb[n] = (double)bench_counter(p->hdr, "symbol_cache_bytes") / MIB;
		/* Part of the BPF map memory above: the unwind tables of every process loaded. */
		uwt[n] = (double)bench_counter(p->hdr, "unwind_table_bytes") / MIB;
		printf("%s: interval %d: %.0f samples/s, %.2f us/sample, %llu stacks drained, "
		       "%llu processes tracked\n",
		       SUITE, i + 1, rate[n], per_sample[n], (unsigned long long)(stk1 - stk0),
		       (unsigned long long)bench_counter(p->hdr, "processes_tracked"));
		n++;
	}
	if (!n) {
		fprintf(stderr, "%s: no samples were written while measuring\n", SUITE);
		err = -EIO;
		goto cleanup;
	}
	bench_summarize(per_sample, n, &sm);
	bench_row(SUITE, "agent CPU per sample", &sm, "us", 2, "<= 2",
		  sm.median <= 2.0 ? BENCH_PASS : BENCH_MISS);
	bench_summarize(total, n, &sm);
	bench_row(SUITE, "kiln memory (PSS + BPF maps)", &sm, "MiB", 1, "<= 100",
		  sm.median <= 100.0 ? BENCH_PASS : BENCH_MISS);
	bench_summarize(rss, n, &sm);
	bench_row(SUITE, "agent RSS", &sm, "MiB", 1, NULL, BENCH_NO_GOAL);
	bench_summarize(rss_exp, n, &sm);
	bench_row(SUITE, "exporter RSS", &sm, "MiB", 1, NULL, BENCH_NO_GOAL);
	bench_summarize(rss_ui, n, &sm);
	bench_row(SUITE, "UI RSS (one slot)", &sm, "MiB", 1, NULL, BENCH_NO_GOAL);
	bench_summarize(maps, n, &sm);
	bench_row(SUITE, "BPF map memory", &sm, "MiB", 1, NULL, BENCH_NO_GOAL);
	bench_summarize(uwt, n, &sm);
	bench_row(SUITE, "unwind tables (of BPF maps)", &sm, "MiB", 2, NULL, BENCH_NO_GOAL);
	bench_summarize(symb, n, &sm);
	bench_row(SUITE, "symbol cache", &sm, "MiB", 2, NULL, BENCH_NO_GOAL);
	bench_summarize(rate, n, &sm);
	bench_row(SUITE, "samples written", &sm, "/s", 0, NULL, BENCH_NO_GOAL);
cleanup:
	if (wl > 0)
		bench_stop(wl, SIGTERM, 30000, NULL);
	bench_pipeline__free(p);
	if (cg[0])
		bench_cgroup_free(cg);
	if (wl_err >= 0)
		close(wl_err);
	free(per_sample);
	free(rate);
	free(rss);
	free(rss_exp);
	free(rss_ui);
	free(maps);
	free(total);
	free(symb);
	free(uwt);
	return err ? 1 : 0;
}
