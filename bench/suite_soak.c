// SPDX-License-Identifier: Apache-2.0
/*
 * kiln-bench soak --minutes N: kiln's memory over time under steady process churn.
 * Starts the pipeline `kiln run` starts (agent at 99 Hz, exporter to a file destination, UI
 * with the load's slot open) on a ring of its own, and a lighter churn load than suite churn
 * (bench/churnload.c: make -j1 over 40 small C files, a one-second pause between builds) in a
 * cgroup of its own. Every minute (--short: every 5 s, 3 times) it prints one line: the RSS
 * and PSS of agent, exporter and UI, the BPF map memory the agent holds (memlock of its map
 * fds), and the agent's caches by its counters. At the end, rows: each figure after the
 * warm-up (the first 2 minutes; 1 interval with fewer than 4) and at the end, and the growth
 * between the two: memory that keeps growing under a steady load is a leak or an unbounded
 * cache, to be explained, not noise.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/churnload.h"
#include "bench/proc.h"
#include "bench/stats.h"
#include "common/util.h"

#define SUITE "soak"
#define MIB (1024.0 * 1024.0)

/* One figure followed minute by minute. */
enum soak_fig {
	F_AGENT_RSS,
	F_AGENT_PSS,
	F_EXP_RSS,
	F_EXP_PSS,
	F_UI_RSS,
	F_UI_PSS,
	F_MAPS,
	F_SYMS,
	F_PROCS,
	F_UW_TABLES,
	F_UW_BYTES,
	F_WORKLOADS,
	F_NR,
};

static const struct {
	const char *name;
	const char *unit;
	int decimals;
} figs[F_NR] = {
	[F_AGENT_RSS] = { "agent RSS", "MiB", 1 },
	[F_AGENT_PSS] = { "agent PSS", "MiB", 1 },
	[F_EXP_RSS] = { "exporter RSS", "MiB", 1 },
	[F_EXP_PSS] = { "exporter PSS", "MiB", 1 },
	[F_UI_RSS] = { "UI RSS", "MiB", 1 },
	[F_UI_PSS] = { "UI PSS", "MiB", 1 },
	[F_MAPS] = { "BPF map memory", "MiB", 2 },
	[F_SYMS] = { "symbol_cache_bytes", "MiB", 2 },
	[F_PROCS] = { "processes_tracked", "", 0 },
	[F_UW_TABLES] = { "unwind_tables", "", 0 },
	[F_UW_BYTES] = { "unwind_table_bytes", "MiB", 2 },
	[F_WORKLOADS] = { "workloads", "", 0 },
};

static void soak_read(const struct bench_pipeline *p, double *f)
{
	f[F_AGENT_RSS] = (double)bench_proc_rss_bytes(p->agent) / MIB;
	f[F_AGENT_PSS] = (double)bench_proc_pss_bytes(p->agent) / MIB;
	f[F_EXP_RSS] = (double)bench_proc_rss_bytes(p->exporter) / MIB;
	f[F_EXP_PSS] = (double)bench_proc_pss_bytes(p->exporter) / MIB;
	f[F_UI_RSS] = (double)bench_proc_rss_bytes(p->ui) / MIB;
	f[F_UI_PSS] = (double)bench_proc_pss_bytes(p->ui) / MIB;
	f[F_MAPS] = (double)bench_proc_bpf_map_bytes(p->agent) / MIB;
	f[F_SYMS] = (double)bench_counter(p->hdr, "symbol_cache_bytes") / MIB;
	f[F_PROCS] = (double)bench_counter(p->hdr, "processes_tracked");
	f[F_UW_TABLES] = (double)bench_counter(p->hdr, "unwind_tables");
	f[F_UW_BYTES] = (double)bench_counter(p->hdr, "unwind_table_bytes") / MIB;
	f[F_WORKLOADS] = (double)bench_counter(p->hdr, "workloads");
}

static void row1(const char *name, double v, const char *unit, int decimals)
{
	struct bench_summary s;

	bench_summarize(&v, 1, &s);
	bench_row(SUITE, name, &s, unit, decimals, NULL, BENCH_NO_GOAL);
}

/* Reads --minutes' value. Returns 0 or -EINVAL after printing why. */
static int soak_args(int argc, char **argv, unsigned int *minutes)
{
	uint64_t v;
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL;

		if (!strcmp(a, "--minutes"))
			val = i + 1 < argc ? argv[++i] : NULL;
		else if (!strncmp(a, "--minutes=", 10))
			val = a + 10;
		else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			printf("usage: kiln-bench soak [--minutes N]\n"
			       "  --minutes N  how long to run, 1..1440 (default 30; --short: 30 s)\n");
			return 1;
		} else {
			fprintf(stderr, "kiln-bench soak: unexpected argument '%s'\n", a);
			return -EINVAL;
		}
		if (!val || parse_u64(val, 1, 1440, &v)) {
			fprintf(stderr,
				"kiln-bench soak: --minutes: '%s' is not a count of minutes "
				"in 1..1440\n",
				val ? val : "");
			return -EINVAL;
		}
		*minutes = (unsigned int)v;
	}
	return 0;
}

int bench_soak(const struct bench_opts *o, int argc, char **argv)
{
	const struct bench_pipeline_opts po = {
		.tag = SUITE, .hz = 99, .exporter = true, .ui = true
	};
	struct bench_churn_load_opts lo = { .tag = SUITE, .files = 40, .jobs = 1, .pause_ms = 1000 };
	unsigned int minutes = 30, interval_s = 60, n, warm, i;
	double(*f)[F_NR] = NULL, cpu_us;
	uint64_t rt0, rt1, s0, s1, t0, next;
	struct bench_churn_load *load = NULL;
	struct bench_pipeline *p = NULL;
	char cg[256] = "", slot[320], name[64];
	int err, k;

	err = soak_args(argc, argv, &minutes);
	if (err)
		return err > 0 ? 0 : err;
	if (geteuid() != 0) {
		bench_row_na(SUITE, "agent RSS growth after warm-up",
			     "needs root (kiln agent loads BPF)");
		return 1;
	}
	/* --short: three 5 s intervals, so that `kiln-bench all --short` stays short */
	n = o->short_mode ? 3 : minutes;
	if (o->short_mode)
		interval_s = 5;
	warm = n >= 4 ? 2 : 1;
	f = calloc(n + 1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	bench_header(SUITE, "kiln's memory over time under steady process churn");
	printf("%s: agent at 99 Hz + exporter (file) + UI (the load's slot open); make -j1 over "
	       "%u small C files, %u ms pause between builds; %u x %u s, warm-up %u interval(s)\n",
	       SUITE, lo.files, lo.pause_ms, n, interval_s, warm);
	err = bench_pipeline__new_cgroup(&p, o, &po, SUITE, cg, sizeof(cg));
	if (err)
		goto cleanup;
	lo.cgroup = cg;
	lo.seconds = n * interval_s + 120;
	err = bench_churn_load__start(&load, &lo);
	if (err)
		goto cleanup;
	err = bench_pipeline__open_slot(p, cg, 30000, slot, sizeof(slot));
	if (err)
		goto cleanup;
	soak_read(p, f[0]);
	printf("%s: %-5s %8s %8s %8s %8s %8s %8s %8s %8s %6s %6s %8s %8s\n", SUITE, "min",
	       "agentRSS", "agentPSS", "expRSS", "expPSS", "uiRSS", "uiPSS", "bpfmaps", "symcache",
	       "procs", "uwtabs", "uwbytes", "us/smpl");
	printf("%s: %-5s %8.1f %8.1f %8.1f %8.1f %8.1f %8.1f %8.2f %8.2f %6.0f %6.0f %8.2f %8s\n",
	       SUITE, "start", f[0][F_AGENT_RSS], f[0][F_AGENT_PSS], f[0][F_EXP_RSS],
	       f[0][F_EXP_PSS], f[0][F_UI_RSS], f[0][F_UI_PSS], f[0][F_MAPS], f[0][F_SYMS],
	       f[0][F_PROCS], f[0][F_UW_TABLES], f[0][F_UW_BYTES], "-");
	fflush(stdout);
	err = bench_proc_runtime_ns(p->agent, &rt0);
	if (err)
		goto cleanup;
	s0 = bench_counter(p->hdr, "samples_written");
	t0 = mono_ns();
	for (i = 1; i <= n; i++) {
		/* measurement intervals on a fixed grid, whatever the checks cost */
		next = t0 + (uint64_t)i * interval_s * 1000000000ull;
		while (mono_ns() < next) {
			err = bench_pipeline__check(p);
			if (!err && !bench_churn_load__running(load)) {
				fprintf(stderr, "%s: the churn load ended early\n", SUITE);
				err = -EIO;
			}
			if (err)
				goto cleanup;
			bench_sleep_ns(next - mono_ns() > 1000000000ull ? 1000000000ull
									: next - mono_ns());
		}
		soak_read(p, f[i]);
		err = bench_proc_runtime_ns(p->agent, &rt1);
		if (err)
			goto cleanup;
		s1 = bench_counter(p->hdr, "samples_written");
		cpu_us = s1 > s0 ? (double)(rt1 - rt0) / (double)(s1 - s0) / 1000.0 : 0;
		rt0 = rt1;
		s0 = s1;
		snprintf(name, sizeof(name), "%u", o->short_mode ? i * interval_s : i);
		printf("%s: %-5s %8.1f %8.1f %8.1f %8.1f %8.1f %8.1f %8.2f %8.2f %6.0f %6.0f %8.2f "
		       "%8.1f\n",
		       SUITE, name, f[i][F_AGENT_RSS], f[i][F_AGENT_PSS], f[i][F_EXP_RSS],
		       f[i][F_EXP_PSS], f[i][F_UI_RSS], f[i][F_UI_PSS], f[i][F_MAPS], f[i][F_SYMS],
		       f[i][F_PROCS], f[i][F_UW_TABLES], f[i][F_UW_BYTES], cpu_us);
		fflush(stdout);
	}
	for (k = 0; k < F_NR; k++) {
		snprintf(name, sizeof(name), "%s after warm-up", figs[k].name);
		row1(name, f[warm][k], figs[k].unit, figs[k].decimals);
		snprintf(name, sizeof(name), "%s at end", figs[k].name);
		row1(name, f[n][k], figs[k].unit, figs[k].decimals);
		snprintf(name, sizeof(name), "%s growth after warm-up", figs[k].name);
		row1(name, f[n][k] - f[warm][k], figs[k].unit, figs[k].decimals);
	}
	printf("%s: samples written %llu, proc_events_lost %llu, mmap_records_lost %llu, "
	       "samples_dropped %llu, records_failed %llu\n",
	       SUITE, (unsigned long long)bench_counter(p->hdr, "samples_written"),
	       (unsigned long long)bench_counter(p->hdr, "proc_events_lost"),
	       (unsigned long long)bench_counter(p->hdr, "mmap_records_lost"),
	       (unsigned long long)bench_counter(p->hdr, "samples_dropped"),
	       (unsigned long long)bench_counter(p->hdr, "records_failed"));
cleanup:
	bench_churn_load__free(load);
	bench_pipeline__free(p);
	if (cg[0])
		bench_cgroup_free(cg);
	free(f);
	return err ? 1 : 0;
}
