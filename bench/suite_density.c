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
#include <limits.h>
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

#define SUITE "density"
#define MIB (1024.0 * 1024.0)

/* The figures of one measured interval each, in the order of the rows printed. */
enum {
	R_US,
	R_RATE,
	R_RSS,
	R_RSS_EXP,
	R_RSS_UI,
	R_MAPS,
	R_TOTAL,
	R_SYMB,
	R_UWT,
	R_NR
};

/* Debian's services of kiln-bench unwind (bench/services.py), loaded beside the density load. */
static const char *const services[] = { "python", "nginx", "redis", "postgres" };
#define NR_SERVICES (sizeof(services) / sizeof(services[0]))
#define SERVICE_READY_MS 300000 /* postgres: initdb and pgbench -i on a busy machine */
#define SERVICES_SETTLE_S 15 /* their processes sampled, read, their tables loaded */

struct dens_rows {
	double *v[R_NR];
};

/*
 * Measures one interval of INTERVAL_S seconds into row N of R (I: its number from 0, or -1
 * for the one with the services). Returns 0, or -1 when the
 * pipeline died or no sample was written (the caller stops measuring).
 */
static int measure_interval(struct bench_pipeline *p, unsigned int interval_s, int i,
			    struct dens_rows *r, int n)
{
	uint64_t c0, c1, s0, s1, stk0, stk1, t0;

	if (bench_pipeline__check(p) || bench_proc_runtime_ns(p->agent, &c0))
		return -1;
	s0 = bench_counter(p->hdr, "samples_written");
	stk0 = bench_counter(p->hdr, "stacks_drained");
	/*
	 * The counters move once per window, and on a saturated machine a window can close
	 * late: an interval that saw none is extended (up to a minute) rather than reported
	 * as no data.
	 */
	t0 = mono_ns();
	do {
		bench_sleep_ns((uint64_t)interval_s * 1000000000ull);
		s1 = bench_counter(p->hdr, "samples_written");
	} while (s1 <= s0 && mono_ns() - t0 < 60000000000ull && !bench_pipeline__check(p));
	if (bench_proc_runtime_ns(p->agent, &c1))
		return -1;
	s1 = bench_counter(p->hdr, "samples_written");
	stk1 = bench_counter(p->hdr, "stacks_drained");
	if (s1 <= s0)
		return -1;
	r->v[R_US][n] = (double)(c1 - c0) / (double)(s1 - s0) / 1000.0;
	r->v[R_RATE][n] = (double)(s1 - s0) / ((double)(mono_ns() - t0) / 1e9);
	r->v[R_RSS][n] = (double)bench_proc_rss_bytes(p->agent) / MIB;
	r->v[R_RSS_EXP][n] = (double)bench_proc_rss_bytes(p->exporter) / MIB;
	r->v[R_RSS_UI][n] = (double)bench_proc_rss_bytes(p->ui) / MIB;
	r->v[R_MAPS][n] = (double)bench_proc_bpf_map_bytes(p->agent) / MIB;
	r->v[R_TOTAL][n] =
		(double)(bench_proc_pss_bytes(p->agent) + bench_proc_pss_bytes(p->exporter) +
			 bench_proc_pss_bytes(p->ui)) /
			MIB +
		r->v[R_MAPS][n];
	r->v[R_SYMB][n] = (double)bench_counter(p->hdr, "symbol_cache_bytes") / MIB;
	/* Part of the BPF map memory above: the unwind tables of every process loaded. */
	r->v[R_UWT][n] = (double)bench_counter(p->hdr, "unwind_table_bytes") / MIB;
	if (i >= 0)
		printf("%s: interval %d: ", SUITE, i + 1);
	else
		printf("%s: with the services: ", SUITE);
	printf("%.0f samples/s, %.2f us/sample, %llu stacks drained, %llu processes tracked\n",
	       r->v[R_RATE][n], r->v[R_US][n], (unsigned long long)(stk1 - stk0),
	       (unsigned long long)bench_counter(p->hdr, "processes_tracked"));
	return 0;
}

static void print_rows(const struct dens_rows *r, int n)
{
	struct bench_summary sm;

	bench_summarize(r->v[R_US], n, &sm);
	bench_row(SUITE, "agent CPU per sample", &sm, "us", 2, "<= 2",
		  sm.median <= 2.0 ? BENCH_PASS : BENCH_MISS);
	bench_summarize(r->v[R_TOTAL], n, &sm);
	bench_row(SUITE, "kiln memory (PSS + BPF maps)", &sm, "MiB", 1, "<= 100",
		  sm.median <= 100.0 ? BENCH_PASS : BENCH_MISS);
	bench_summarize(r->v[R_RSS], n, &sm);
	bench_row(SUITE, "agent RSS", &sm, "MiB", 1, NULL, BENCH_NO_GOAL);
	bench_summarize(r->v[R_RSS_EXP], n, &sm);
	bench_row(SUITE, "exporter RSS", &sm, "MiB", 1, NULL, BENCH_NO_GOAL);
	bench_summarize(r->v[R_RSS_UI], n, &sm);
	bench_row(SUITE, "UI RSS (one slot)", &sm, "MiB", 1, NULL, BENCH_NO_GOAL);
	bench_summarize(r->v[R_MAPS], n, &sm);
	bench_row(SUITE, "BPF map memory", &sm, "MiB", 1, NULL, BENCH_NO_GOAL);
	bench_summarize(r->v[R_UWT], n, &sm);
	bench_row(SUITE, "unwind tables (of BPF maps)", &sm, "MiB", 2, NULL, BENCH_NO_GOAL);
	bench_summarize(r->v[R_SYMB], n, &sm);
	bench_row(SUITE, "symbol cache", &sm, "MiB", 2, NULL, BENCH_NO_GOAL);
	bench_summarize(r->v[R_RATE], n, &sm);
	bench_row(SUITE, "samples written", &sm, "/s", 0, NULL, BENCH_NO_GOAL);
}

/*
 * Starts Debian's services (python3.11, nginx, redis-server, postgres under their load
 * generators) beside the density load, lets the agent meet them, and measures kiln's memory
 * once more: the memory goal holds with every table of both loaded. PIDS gets what to stop.
 * Returns 0 (a service that is not installed is left out and said), or -1.
 */
static int with_services(struct bench_pipeline *p, unsigned int interval_s, pid_t pids[],
			 struct dens_rows *r)
{
	char dir[PATH_MAX], script[PATH_MAX + 16], python[PATH_MAX] = "/usr/bin/python3";
	char life[16], loaded[64] = "";
	struct bench_summary sm;
	int status, started = 0;
	size_t i;

	bench_script_dir(dir, sizeof(dir));
	snprintf(script, sizeof(script), "%s/services.py", dir);
	if (access(python, X_OK) && bench_which("python3", python, sizeof(python)))
		return -1;
	snprintf(life, sizeof(life), "%u",
		 SERVICE_READY_MS / 1000 + SERVICES_SETTLE_S + 2 * interval_s + 60);
	for (i = 0; i < NR_SERVICES; i++) {
		char *const av[] = { python,	  script, "run", (char *)services[i],
				     "--seconds", life,	  NULL };

		pids[i] = bench_spawn_ready(av, BENCH_FD_NULL, "ready ", SERVICE_READY_MS, &status);
		if (pids[i] < 0) {
			printf("%s: %s left out: %s\n", SUITE, services[i],
			       pids[i] == -ECHILD && WIFEXITED(status) && WEXITSTATUS(status) == 77
				       ? "not installed"
				       : "it did not get ready");
			continue;
		}
		snprintf(loaded + strlen(loaded), sizeof(loaded) - strlen(loaded), "%s%s",
			 started++ ? " " : "", services[i]);
	}
	if (!started)
		return -1;
	bench_sleep_ns((uint64_t)SERVICES_SETTLE_S * 1000000000ull);
	if (measure_interval(p, interval_s, -1, r, 0))
		return -1;
	printf("%s: with %s: %llu unwind tables, %llu processes tracked\n", SUITE, loaded,
	       (unsigned long long)bench_counter(p->hdr, "unwind_tables"),
	       (unsigned long long)bench_counter(p->hdr, "processes_tracked"));
	bench_summarize(r->v[R_TOTAL], 1, &sm);
	bench_row(SUITE, "kiln memory, density + Debian services", &sm, "MiB", 1, "<= 100",
		  sm.median <= 100.0 ? BENCH_PASS : BENCH_MISS);
	bench_summarize(r->v[R_MAPS], 1, &sm);
	bench_row(SUITE, "BPF map memory, + services", &sm, "MiB", 1, NULL, BENCH_NO_GOAL);
	bench_summarize(r->v[R_UWT], 1, &sm);
	bench_row(SUITE, "unwind tables, + services", &sm, "MiB", 2, NULL, BENCH_NO_GOAL);
	bench_summarize(r->v[R_SYMB], 1, &sm);
	bench_row(SUITE, "symbol cache, + services", &sm, "MiB", 2, NULL, BENCH_NO_GOAL);
	return 0;
}

int bench_density(const struct bench_opts *o, int argc, char **argv)
{
	unsigned int procs = o->short_mode ? 200 : 2000, stacks = o->short_mode ? 5000 : 50000;
	unsigned int warm_s = o->short_mode ? 4 : 20, interval_s = o->short_mode ? 3 : 15;
	int runs = o->runs > 0 ? o->runs : 1, i, n = 0, err = 0;
	char workload[4096], procs_s[16], stacks_s[16], secs_s[16], cg[256] = "";
	char slot[320];
	const struct bench_pipeline_opts po = {
		.tag = SUITE, .hz = 999, .exporter = true, .ui = true
	};
	struct bench_pipeline *p = NULL;
	struct dens_rows r = { { 0 } };
	struct dens_rows rs = { { 0 } };
	pid_t wl = -1, svc[NR_SERVICES];
	int wl_err = -1;
	size_t k;

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
	for (k = 0; k < NR_SERVICES; k++)
		svc[k] = -1;
	for (i = 0; i < R_NR; i++) {
		r.v[i] = calloc((size_t)runs, sizeof(double));
		rs.v[i] = calloc(1, sizeof(double));
		if (!r.v[i] || !rs.v[i]) {
			err = -ENOMEM;
			goto cleanup;
		}
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
	snprintf(secs_s, sizeof(secs_s), "%u",
		 warm_s + interval_s * (unsigned int)runs + 30 +
			 (o->short_mode
				  ? 0
				  : SERVICE_READY_MS / 1000 + SERVICES_SETTLE_S + 2 * interval_s));
	{
		/*
		 * At nice 19, like a node's batch work: 2000 busy processes at the normal
		 * priority leave each other program 1/2000 of the CPU (the agent at nice -10
		 * still under 1 %), so the UI and exporter could not read the ring in time and
		 * what was measured was the machine's scheduling, not kiln's work per sample.
		 */
		char *const av[] = { workload,	  "--procs", procs_s,
				     "--stacks",  stacks_s,  "--depth",
				     "4",	  "--mix",   "alpha=50,beta=30,gamma=20",
				     "--seconds", secs_s,    "--nice",
				     "19",	  NULL };

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

	for (i = 0; i < runs && !measure_interval(p, interval_s, i, &r, n); i++)
		n++;
	if (!n) {
		fprintf(stderr, "%s: no samples were written while measuring\n", SUITE);
		err = -EIO;
		goto cleanup;
	}
	print_rows(&r, n);
	/* Not in --short: postgres alone takes ~10 s to start. */
	if (!o->short_mode && with_services(p, interval_s, svc, &rs))
		bench_row_na(SUITE, "kiln memory, density + Debian services",
			     "no service could be measured (see above)");
cleanup:
	for (k = 0; k < NR_SERVICES; k++)
		if (svc[k] > 0)
			bench_stop(svc[k], SIGTERM, 60000, NULL);
	if (wl > 0)
		bench_stop(wl, SIGTERM, 30000, NULL);
	bench_pipeline__free(p);
	if (cg[0])
		bench_cgroup_free(cg);
	if (wl_err >= 0)
		close(wl_err);
	for (i = 0; i < R_NR; i++) {
		free(r.v[i]);
		free(rs.v[i]);
	}
	return err ? 1 : 0;
}
