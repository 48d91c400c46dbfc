// SPDX-License-Identifier: Apache-2.0
/*
 * kiln-bench density: the agent on a node with many processes and many distinct stacks.
 * Starts `kiln agent` on its own ring, then `workload --procs N --stacks K`, lets caches
 * warm up, and measures over --runs intervals: the agent's user-space CPU per sample
 * written (from /proc/PID/stat and the ring's counters), its RSS, the BPF map memory it
 * holds (memlock of its map fds) and its symbol cache.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/proc.h"
#include "bench/stats.h"
#include "common/util.h"
#include "shm/shm.h"

#define RING "kiln-bench-density"
#define SUITE "density"

/* A counter from the ring header, 0 when absent. */
static uint64_t counter(const struct shm_hdr *h, const char *name)
{
	int i;

	for (i = 0; i < SHM_NUM_COUNTERS; i++)
		if (!strncmp(h->counters[i].name, name, SHM_COUNTER_NAME))
			return atomic_load(&h->counters[i].value);
	return 0;
}

/*
 * CPU time of PID in ns: the scheduler's exact runtime, summed over its threads. Not
 * utime + stime from /proc/PID/stat: those are sampled at the tick, and a process that
 * wakes on timers runs right at ticks and is charged far more than it used.
 */
static int cpu_ns(pid_t pid, uint64_t *out)
{
	char dir[64], path[384], *buf = NULL;
	unsigned long long run;
	struct dirent *de;
	uint64_t total = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/task", pid);
	d = opendir(dir);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%.256s/schedstat", dir, de->d_name);
		if (read_file(path, &buf, NULL))
			continue;
		if (sscanf(buf, "%llu", &run) == 1)
			total += run;
		free(buf);
		buf = NULL;
	}
	closedir(d);
	*out = total;
	return 0;
}

/* VmRSS of PID in bytes. */
static uint64_t rss_bytes(pid_t pid)
{
	char path[64], *buf = NULL, *p;
	unsigned long long kb = 0;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if (read_file(path, &buf, NULL))
		return 0;
	p = strstr(buf, "VmRSS:");
	if (p)
		sscanf(p + 6, "%llu", &kb);
	free(buf);
	return kb * 1024;
}

/* Sum of the memlock of every BPF map PID holds open: what its maps cost the kernel. */
static uint64_t bpf_map_bytes(pid_t pid)
{
	char dir[64], path[320], *buf = NULL, *p;
	unsigned long long v, total = 0;
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fdinfo", pid);
	d = opendir(dir);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (read_file(path, &buf, NULL))
			continue;
		p = strstr(buf, "memlock:");
		if (strstr(buf, "map_type:") && p && sscanf(p + 8, "%llu", &v) == 1)
			total += v;
		free(buf);
		buf = NULL;
	}
	closedir(d);
	return total;
}

int bench_density(const struct bench_opts *o, int argc, char **argv)
{
	unsigned int procs = o->short_mode ? 200 : 2000, stacks = o->short_mode ? 5000 : 50000;
	unsigned int warm_s = o->short_mode ? 4 : 20, interval_s = o->short_mode ? 3 : 15;
	int runs = o->runs > 0 ? o->runs : 1, i, n = 0, err = 0, agent_err = -1;
	double *per_sample = NULL, *rate = NULL, *rss = NULL, *maps = NULL, *total = NULL;
	double *symb = NULL;
	char kiln[4096], workload[4096], procs_s[16], stacks_s[16], secs_s[16];
	uint64_t c0, c1, s0, s1, stk0, stk1;
	pid_t agent = -1, wl = -1;
	struct shm_view *view = NULL;
	const struct shm_hdr *h;
	struct bench_summary sm;
	uint64_t deadline;

	(void)argc;
	(void)argv;
	if (geteuid() != 0) {
		bench_row_na(SUITE, "density", "needs root (kiln agent loads BPF)");
		return 1;
	}
	if (bench_sibling(o, "../kiln", kiln, sizeof(kiln)) ||
	    bench_sibling(o, "workload", workload, sizeof(workload))) {
		bench_row_na(SUITE, "density", "cannot find build/kiln or build/bench/workload");
		return 1;
	}
	per_sample = calloc((size_t)runs, sizeof(double));
	rate = calloc((size_t)runs, sizeof(double));
	rss = calloc((size_t)runs, sizeof(double));
	maps = calloc((size_t)runs, sizeof(double));
	total = calloc((size_t)runs, sizeof(double));
	symb = calloc((size_t)runs, sizeof(double));
	if (!per_sample || !rate || !rss || !maps || !total || !symb) {
		err = -ENOMEM;
		goto cleanup;
	}
	bench_header(SUITE, "agent at density: workload processes with many distinct stacks");
	printf("%s: %u processes, %u distinct call paths, agent at 999 Hz, %u s warm-up, "
	       "%d x %u s measured\n",
	       SUITE, procs, stacks, warm_s, runs, interval_s);

	shm__unlink(RING);
	{
		char *const av[] = { kiln, "agent", "--ring", RING, "-F", "999", NULL };

		agent_err = bench_tmpfd();
		agent = bench_spawn(av, BENCH_FD_NULL, agent_err < 0 ? BENCH_FD_NULL : agent_err,
				    NULL, 0);
	}
	if (agent < 0) {
		err = agent;
		goto cleanup;
	}
	/* Ready once the ring exists and the first window was written. */
	deadline = mono_ns() + 30000000000ull;
	while (mono_ns() < deadline) {
		if (!view && shm_view__open(&view, RING))
			view = NULL;
		if (view && counter(shm_view__hdr(view), "windows") >= 1)
			break;
		if (bench_wait(agent, 50, NULL) == 0) {
			agent = -1;
			break;
		}
	}
	if (agent < 0 || !view || counter(shm_view__hdr(view), "windows") < 1) {
		fprintf(stderr, "%s: kiln agent did not start\n", SUITE);
		bench_print_tail(agent_err, "kiln agent");
		err = -EIO;
		goto cleanup;
	}
	h = shm_view__hdr(view);

	snprintf(procs_s, sizeof(procs_s), "%u", procs);
	snprintf(stacks_s, sizeof(stacks_s), "%u", stacks);
	snprintf(secs_s, sizeof(secs_s), "%u", warm_s + interval_s * (unsigned int)runs + 5);
	{
		char *const av[] = { workload,	  "--procs", procs_s,
				     "--stacks",  stacks_s,  "--depth",
				     "4",	  "--mix",   "alpha=50,beta=30,gamma=20",
				     "--seconds", secs_s,    NULL };

		wl = bench_spawn(av, BENCH_FD_NULL, BENCH_FD_INHERIT, NULL, 0);
	}
	if (wl < 0) {
		err = wl;
		goto cleanup;
	}
	bench_sleep_ns((uint64_t)warm_s * 1000000000ull);
	if (bench_wait(wl, 0, NULL) == 0) {
		wl = -1;
		fprintf(stderr, "%s: the workload exited during the warm-up\n", SUITE);
		err = -EIO;
		goto cleanup;
	}

	for (i = 0; i < runs; i++) {
		if (cpu_ns(agent, &c0))
			break;
		s0 = counter(h, "samples_written");
		stk0 = counter(h, "stacks_drained");
		bench_sleep_ns((uint64_t)interval_s * 1000000000ull);
		if (cpu_ns(agent, &c1))
			break;
		s1 = counter(h, "samples_written");
		stk1 = counter(h, "stacks_drained");
		if (s1 <= s0)
			break;
		per_sample[n] = (double)(c1 - c0) / (double)(s1 - s0) / 1000.0;
		rate[n] = (double)(s1 - s0) / interval_s;
		rss[n] = (double)rss_bytes(agent) / (1 << 20);
		maps[n] = (double)bpf_map_bytes(agent) / (1 << 20);
		total[n] = rss[n] + maps[n];
		symb[n] = (double)counter(h, "symbol_cache_bytes") / (1 << 20);
		printf("%s: interval %d: %.0f samples/s, %.2f us/sample, %llu stacks drained, "
		       "%llu processes tracked\n",
		       SUITE, i + 1, rate[n], per_sample[n], (unsigned long long)(stk1 - stk0),
		       (unsigned long long)counter(h, "processes_tracked"));
		n++;
	}
	if (!n) {
		fprintf(stderr, "%s: no samples were written while measuring\n", SUITE);
		bench_print_tail(agent_err, "kiln agent");
		err = -EIO;
		goto cleanup;
	}
	bench_summarize(per_sample, n, &sm);
	bench_row(SUITE, "user-space CPU per sample", &sm, "us", 2, "<= 2",
		  sm.median <= 2.0 ? BENCH_PASS : BENCH_MISS);
	bench_summarize(total, n, &sm);
	bench_row(SUITE, "kiln memory (RSS + BPF maps)", &sm, "MiB", 1, "<= 100",
		  sm.median <= 100.0 ? BENCH_PASS : BENCH_MISS);
	bench_summarize(rss, n, &sm);
	bench_row(SUITE, "agent RSS", &sm, "MiB", 1, NULL, BENCH_NO_GOAL);
	bench_summarize(maps, n, &sm);
	bench_row(SUITE, "BPF map memory", &sm, "MiB", 1, NULL, BENCH_NO_GOAL);
	bench_summarize(symb, n, &sm);
	bench_row(SUITE, "symbol cache", &sm, "MiB", 2, NULL, BENCH_NO_GOAL);
	bench_summarize(rate, n, &sm);
	bench_row(SUITE, "samples written", &sm, "/s", 0, NULL, BENCH_NO_GOAL);
cleanup:
	if (wl > 0)
		bench_stop(wl, SIGTERM, 30000, NULL);
	if (agent > 0)
		bench_stop(agent, SIGTERM, 30000, NULL);
	shm_view__free(view);
	shm__unlink(RING);
	if (agent_err >= 0)
		close(agent_err);
	free(per_sample);
	free(rate);
	free(rss);
	free(maps);
	free(total);
	free(symb);
	return err ? 1 : 0;
}
