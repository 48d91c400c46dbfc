// SPDX-License-Identifier: Apache-2.0
/*
 * kiln-bench latency: how long after a sample is taken it shows in the UI's API.
 *
 * `kiln agent` (99 Hz, 1 s windows) and `kiln ui` run on a private ring; a workload in a
 * cgroup of our own makes that workload known to the UI, and its slot is opened. Then, for
 * each run, the slot is cleared and a workload process in the same cgroup starts burning one
 * function that no earlier run of the last four burned (beta, gamma, delta, epsilon, zeta in
 * turn); it signals --ready-fd once its thread runs, which is the start time: its first
 * sample follows within one period (10 ms). The symbols API is polled every 20 ms until the
 * function is listed. Latency = that moment - the start time.
 *
 * Phase randomisation: a run would otherwise start right after the previous run's function
 * appeared, i.e. right after a window flip, so every run would wait almost a whole window
 * (0.94..1.00 s measured that way): the worst case, not the typical one. So each run first
 * sleeps a uniformly random time in [0, window) before starting the workload. This delay is
 * not synchronisation (nothing waits on it; the start time is taken after it) but it
 * spreads the start over the window's phase, as a function starting at an arbitrary moment
 * sees it. The delays are stratified: run i draws from its own 1/runs slice of the window,
 * the slices in random order, so each run's phase is still uniform but 10 runs cover the
 * window evenly and the median does not depend on a lucky draw. The seed is printed;
 * `kiln-bench latency --seed N` repeats a run's phases.
 *
 * Baseline in the same run: the window length. A sample is only written when its window
 * closes, so a sample waits up to one window, half of one on average, before anything else
 * happens: expect a median near window / 2 plus processing (drain, symbolize, ring, UI) and
 * a maximum near one window plus processing. latency / window shows the ratio.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/proc.h"
#include "bench/stats.h"
#include "common/util.h"

#define SUITE "latency"
#define HZ 99
#define WINDOW_MS 1000
#define GOAL_S 2.0
#define POLL_NS 20000000ull
#define APPEAR_TIMEOUT_NS 15000000000ull

static const char *const funcs[] = { "beta", "gamma", "delta", "epsilon", "zeta" };

/* splitmix64: a small, seedable generator for the phase delays. */
static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The Q-quantile (0..1) of the N sorted values in V, interpolated between neighbours. */
static double quantile(const double *v, int n, double q)
{
	double pos = q * (n - 1);
	int i = (int)pos;

	return i + 1 < n ? v[i] + (v[i + 1] - v[i]) * (pos - i) : v[n - 1];
}

/*
 * Starts the workload burning FN in cgroup CG and waits for its ready byte. Returns its pid
 * and the moment it was ready in *T0, or -errno. Its stderr goes to ERR_FD.
 */
static pid_t start_burn(const char *workload, const char *fn, const char *cg, int err_fd,
			uint64_t *t0)
{
	char mix[32], fd_s[16], c;
	int ready[2] = { -1, -1 }, err = 0;
	struct pollfd pfd;
	pid_t pid = -1;

	if (pipe2(ready, O_CLOEXEC))
		return -errno;
	snprintf(mix, sizeof(mix), "%s=100", fn);
	snprintf(fd_s, sizeof(fd_s), "%d", ready[1]);
	char *const av[] = { (char *)workload, "--mix", mix,	      "--threads", "1",
			     "--seconds",      "20",	"--ready-fd", fd_s,	   NULL };

	/* bench_spawn keeps it open in the child: clear close-on-exec for it only. */
	fcntl(ready[1], F_SETFD, 0);
	pid = bench_spawn_cgroup(av, BENCH_FD_NULL, err_fd, &ready[1], 1, cg);
	if (pid < 0) {
		err = pid;
		goto cleanup;
	}
	close(ready[1]);
	ready[1] = -1;
	pfd.fd = ready[0];
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 10000) != 1 || read(ready[0], &c, 1) != 1) {
		fprintf(stderr, "%s: the workload did not signal ready within 10 s\n", SUITE);
		err = -ETIMEDOUT;
		goto cleanup;
	}
	*t0 = mono_ns();
cleanup:
	if (err && pid > 0)
		bench_stop(pid, SIGKILL, 1000, NULL);
	if (ready[0] >= 0)
		close(ready[0]);
	if (ready[1] >= 0)
		close(ready[1]);
	return err ? err : pid;
}

/*
 * Polls the symbols of SLOT until FN is listed. Returns 0 and the moment in *T1, -ETIMEDOUT
 * after 15 s, or -errno.
 */
static int wait_symbol(struct bench_pipeline *p, const char *slot, const char *fn, uint64_t t0,
		       uint64_t *t1)
{
	char path[400], want[64], *body = NULL;
	int status, err;

	snprintf(path, sizeof(path), "%s/symbols?limit=0", slot);
	snprintf(want, sizeof(want), "\"name\":\"%s\"", fn);
	for (;;) {
		err = bench_http(p->ui_port, "GET", path, 5000, &status, &body);
		if (!err && status == 200 && strstr(body, want)) {
			*t1 = mono_ns();
			free(body);
			return 0;
		}
		free(body);
		body = NULL;
		if (!err && status != 200) {
			fprintf(stderr, "%s: GET %s: HTTP %d\n", SUITE, path, status);
			return -EPROTO;
		}
		if (err || mono_ns() - t0 >= APPEAR_TIMEOUT_NS) {
			fprintf(stderr, "%s: %s not in the UI within 15 s (%s)\n", SUITE, fn,
				err ? strerror(-err) : "still absent");
			return err ? err : -ETIMEDOUT;
		}
		err = bench_pipeline__check(p);
		if (err)
			return err;
		bench_sleep_ns(POLL_NS);
	}
}

/* --seed N into *SEED. Returns 0, 1 after --help was printed, or -EINVAL (message printed). */
static int parse_args(int argc, char **argv, uint64_t *seed)
{
	static const struct option lopts[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			errno = 0;
			*seed = strtoull(optarg, &end, 0);
			if (errno || end == optarg || *end) {
				fprintf(stderr,
					"kiln-bench latency: --seed: expected a whole number, got "
					"'%s'\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 'h':
			printf("usage: kiln-bench latency [--seed N]\n"
			       "  --seed N   seed of the random start phases (default: from the "
			       "clock; printed)\n");
			return 1;
		default:
			fprintf(stderr, "usage: kiln-bench latency [--seed N]\n");
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kiln-bench latency: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

/* The runs' delays, latencies and their distribution, then the result rows. */
static void print_results(const double *lat, const double *ratio, const double *phase,
			  double *sorted, int n)
{
	double window = WINDOW_MS / 1000.0;
	struct bench_summary sm;
	int i;

	printf("%s: start delays (s):", SUITE);
	for (i = 0; i < n; i++)
		printf(" %.3f", phase[i]);
	printf("\n%s: latencies (s):   ", SUITE);
	for (i = 0; i < n; i++)
		printf(" %.3f", lat[i]);
	memcpy(sorted, lat, (size_t)n * sizeof(*sorted));
	qsort(sorted, (size_t)n, sizeof(*sorted), cmp_double);
	printf("\n%s: latency distribution (s): min %.3f  p25 %.3f  median %.3f  p75 %.3f  "
	       "p90 %.3f  max %.3f\n",
	       SUITE, sorted[0], quantile(sorted, n, 0.25), quantile(sorted, n, 0.5),
	       quantile(sorted, n, 0.75), quantile(sorted, n, 0.9), sorted[n - 1]);
	bench_summarize(lat, n, &sm);
	bench_row(SUITE, "sample to UI API", &sm, "s", 3, "<= 2",
		  sm.median <= GOAL_S ? BENCH_PASS : BENCH_MISS);
	sm = (struct bench_summary){ .median = sm.max, .min = sm.max, .max = sm.max, .n = 1 };
	bench_row(SUITE, "sample to UI API, worst (max)", &sm, "s", 3, NULL, BENCH_NO_GOAL);
	sm = (struct bench_summary){
		.median = window / 2, .min = window / 2, .max = window / 2, .n = 1
	};
	bench_row(SUITE, "window / 2 (mean wait to close)", &sm, "s", 3, NULL, BENCH_NO_GOAL);
	sm = (struct bench_summary){ .median = window, .min = window, .max = window, .n = 1 };
	bench_row(SUITE, "window length (worst wait)", &sm, "s", 3, NULL, BENCH_NO_GOAL);
	bench_summarize(ratio, n, &sm);
	bench_row(SUITE, "latency / window", &sm, "x", 2, NULL, BENCH_NO_GOAL);
}

int bench_latency(const struct bench_opts *o, int argc, char **argv)
{
	int runs = o->runs ? o->runs : o->short_mode ? 3 : 10, i, k, n = 0, err = 0, wl_err = -1;
	const struct bench_pipeline_opts po = {
		.tag = SUITE, .hz = HZ, .window_ms = WINDOW_MS, .ui = true
	};
	char workload[4096], cg[256] = "", slot[320], clear[400];
	double *lat = NULL, *ratio = NULL, *phase = NULL, *sorted = NULL;
	unsigned int *slice = NULL, tmp;
	double window = WINDOW_MS / 1000.0;
	struct bench_pipeline *p = NULL;
	uint64_t t0 = 0, t1 = 0, seed = mono_ns() ^ ((uint64_t)getpid() << 32), rs, delay;
	pid_t wl = -1;
	int status;

	err = parse_args(argc, argv, &seed);
	if (err)
		return err > 0 ? 0 : err;
	err = 0;
	rs = seed;
	if (geteuid() != 0) {
		bench_row_na(SUITE, "sample to UI API", "needs root (kiln agent loads BPF)");
		return 1;
	}
	if (bench_sibling(o, "workload", workload, sizeof(workload)) || access(workload, X_OK)) {
		bench_row_na(SUITE, "sample to UI API", "cannot find build/bench/workload");
		return 1;
	}
	lat = calloc((size_t)runs, sizeof(double));
	ratio = calloc((size_t)runs, sizeof(double));
	phase = calloc((size_t)runs, sizeof(double));
	sorted = calloc((size_t)runs, sizeof(double));
	slice = calloc((size_t)runs, sizeof(*slice));
	if (!lat || !ratio || !phase || !sorted || !slice) {
		err = -ENOMEM;
		goto cleanup;
	}
	/* Fisher-Yates: which slice of the window each run's start delay comes from */
	for (i = 0; i < runs; i++)
		slice[i] = (unsigned int)i;
	for (i = runs - 1; i > 0; i--) {
		k = (int)(rnd(&rs) % (uint64_t)(i + 1));
		tmp = slice[i];
		slice[i] = slice[k];
		slice[k] = tmp;
	}
	bench_header(SUITE, "from a sample to the UI's symbols API");
	printf("%s: agent at %d Hz, %d ms windows, UI polled every %llu ms, %d runs; each run "
	       "starts after a random delay in [0, %d ms), stratified (seed %" PRIu64 ")\n",
	       SUITE, HZ, WINDOW_MS, POLL_NS / 1000000, runs, WINDOW_MS, seed);
	wl_err = bench_tmpfd();
	err = bench_pipeline__new_cgroup(&p, o, &po, SUITE, cg, sizeof(cg));
	if (err)
		goto cleanup;
	/* The UI keeps samples only for workloads with a slot, and opens one for known ones. */
	wl = start_burn(workload, "alpha", cg, wl_err < 0 ? BENCH_FD_NULL : wl_err, &t0);
	if (wl < 0) {
		err = wl;
		goto cleanup;
	}
	err = bench_pipeline__open_slot(p, cg, 20000, slot, sizeof(slot));
	if (err)
		goto cleanup;
	bench_stop(wl, SIGTERM, 10000, NULL);
	wl = -1;
	snprintf(clear, sizeof(clear), "%s/clear", slot);

	for (i = 0; i < runs; i++) {
		const char *fn = funcs[i % (int)(sizeof(funcs) / sizeof(funcs[0]))];

		/*
		 * Earlier runs' functions may still arrive in windows in flight; this run's
		 * function was last burned four runs ago, long since written.
		 */
		err = bench_http(p->ui_port, "POST", clear, 5000, &status, NULL);
		if (err || status != 200) {
			fprintf(stderr, "%s: POST %s: %s %d\n", SUITE, clear,
				err ? strerror(-err) : "HTTP", status);
			err = err ? err : -EPROTO;
			goto cleanup;
		}
		/*
		 * Phase randomisation, not synchronisation: we are right after a window flip
		 * here (the previous function just appeared); starting now would measure the
		 * worst case every time. A uniform delay in [0, window) starts the burn at a
		 * uniformly random phase of the agent's window (within this run's slice).
		 */
		delay = ((uint64_t)WINDOW_MS * 1000000 * slice[i] +
			 rnd(&rs) % ((uint64_t)WINDOW_MS * 1000000)) /
			(uint64_t)runs;
		bench_sleep_ns(delay);
		wl = start_burn(workload, fn, cg, wl_err < 0 ? BENCH_FD_NULL : wl_err, &t0);
		if (wl < 0) {
			err = wl;
			goto cleanup;
		}
		err = wait_symbol(p, slot, fn, t0, &t1);
		if (err)
			goto cleanup;
		bench_stop(wl, SIGTERM, 10000, NULL);
		wl = -1;
		lat[n] = (double)(t1 - t0) / 1e9;
		ratio[n] = lat[n] / window;
		phase[n] = (double)delay / 1e9;
		n++;
	}
	print_results(lat, ratio, phase, sorted, n);
cleanup:
	bench_workload_end(wl, wl_err, err);
	bench_pipeline__free(p);
	if (cg[0])
		bench_cgroup_free(cg);
	free(lat);
	free(ratio);
	free(phase);
	free(sorted);
	free(slice);
	if (err && !n)
		bench_row_na(SUITE, "sample to UI API", "could not measure, see above");
	return err ? 1 : 0;
}
