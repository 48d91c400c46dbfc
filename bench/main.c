// SPDX-License-Identifier: Apache-2.0
/* kiln-bench: runs one benchmark suite, or all of them, and prints (and saves) result rows. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "bench/stats.h"
#include "common/log.h"
#include "common/util.h"

#define EXIT_USAGE 2

/*
 * Weak, so that kiln-bench links while a suite's file is still being written; a missing suite
 * is reported, not a link error.
 */
extern int bench_ring(const struct bench_opts *o, int argc, char **argv) __attribute__((weak));
extern int bench_bpf(const struct bench_opts *o, int argc, char **argv) __attribute__((weak));
extern int bench_overhead(const struct bench_opts *o, int argc, char **argv) __attribute__((weak));
extern int bench_density(const struct bench_opts *o, int argc, char **argv) __attribute__((weak));
extern int bench_userspace(const struct bench_opts *o, int argc, char **argv) __attribute__((weak));
extern int bench_export(const struct bench_opts *o, int argc, char **argv) __attribute__((weak));
extern int bench_latency(const struct bench_opts *o, int argc, char **argv) __attribute__((weak));
extern int bench_unwind(const struct bench_opts *o, int argc, char **argv) __attribute__((weak));
extern int bench_python(const struct bench_opts *o, int argc, char **argv) __attribute__((weak));
extern int bench_churn(const struct bench_opts *o, int argc, char **argv) __attribute__((weak));
extern int bench_soak(const struct bench_opts *o, int argc, char **argv) __attribute__((weak));
extern int bench_outage(const struct bench_opts *o, int argc, char **argv) __attribute__((weak));
extern int bench_startup(const struct bench_opts *o, int argc, char **argv) __attribute__((weak));

struct suite {
	const char *name;
	int (*fn)(const struct bench_opts *o, int argc, char **argv);
	const char *summary;
};

static const struct suite suites[] = {
	{ "ring", bench_ring, "shared-memory ring throughput and latency" },
	{ "bpf", bench_bpf, "BPF cost per sample: kiln vs bpftrace (needs root)" },
	{ "overhead", bench_overhead,
	  "workload slowdown at 99 Hz: kiln, perf, bpftrace (needs root)" },
	{ "userspace", bench_userspace,
	  "user-space CPU per sample of agent and exporter, warm caches (needs root)" },
	{ "export", bench_export, "exporter samples/s to a loopback sink, by compression" },
	{ "density", bench_density,
	  "agent memory and CPU per sample with 2000 processes, 50000 stacks (needs root)" },
	{ "latency", bench_latency, "latency from a sample to the UI's API (needs root)" },
	{ "startup", bench_startup,
	  "kiln run from a 0700 directory: seconds to the UI and the first file (root)" },
	{ "unwind", bench_unwind,
	  "whole user stacks without frame pointers: kiln vs perf dwarf, Debian services (root)" },
	{ "python", bench_python,
	  "BPF cost per sample, CPython 50 frames deep vs native 50 frames deep (needs root)" },
	{ "churn", bench_churn,
	  "agent under hundreds of short processes per second: CPU, memory, symbolized (root)" },
	{ "soak", bench_soak,
	  "agent, exporter, UI and BPF map memory minute by minute under churn (root)" },
	{ "outage", bench_outage,
	  "exporter through 60 s of 503, 2 min refused, SIGKILL: delivered, duplicates, drain" },
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: kiln-bench SUITE|all [--runs N] [--short] [--json FILE] [-v] "
		   "[SUITE OPTIONS]\n\n"
		   "suites:\n");
	for (i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		fprintf(f, "  %-9s %s\n", suites[i].name, suites[i].summary);
	fprintf(f,
		"  %-9s every suite above, in turn\n\n"
		"  --runs N      repetitions per measurement (default: the suite's own)\n"
		"  --short       smallest sizes, for smoke runs in CI\n"
		"  --json FILE   also write the result rows to FILE as JSON\n"
		"  -v            verbose: more log output\n"
		"  -h, --help    show this help\n"
		"\nSuite options follow the suite name (kiln-bench SUITE --help lists them).\n"
		"Rows show the median over the runs and (min..max); a goal, when the row has\n"
		"one, with pass or miss; `all` ends with a summary of every goal row.\n"
		"Exit status: 0 every suite ran (goals missed or not), 1 a suite could not run,\n"
		"2 bad usage.\n",
		"all");
}

/* Runs one suite. Returns its result: 0 when it ran. */
static int run_suite(const struct suite *s, const struct bench_opts *o, int argc, char **argv)
{
	size_t n;
	int err;

	if (!s->fn) {
		/* a row, so that the suite shows as missing instead of vanishing */
		bench_header(s->name, s->summary);
		bench_row_na(s->name, s->name, "suite not built into this kiln-bench");
		return -ENOSYS;
	}
	n = bench_rows_count();
	err = s->fn(o, argc, argv);
	if (err) {
		fprintf(stderr, "kiln-bench: suite %s could not run\n", s->name);
		/* a failed suite still shows, in its place and in the summary */
		if (bench_rows_count() == n)
			bench_row_na(s->name, s->name, "suite failed to run, see its errors");
	}
	return err;
}

/* Reads --runs' value V. Returns 0, or EXIT_USAGE after printing why. */
static int parse_runs(const char *v, int *runs)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || !*v || *end || n < 1 || n > 1000) {
		fprintf(stderr, "kiln-bench: --runs: '%s' is not a count in 1..1000\n", v);
		return EXIT_USAGE;
	}
	*runs = (int)n;
	return 0;
}

/*
 * The common options may come before or after the suite name (`kiln-bench all --short`);
 * anything else after the name is the suite's own and is passed on to it, in order. ARGV is
 * rearranged in place: on return argv[0] is the suite name and *NARGS counts it and its
 * options. Returns 0, 1 for --help (printed), or EXIT_USAGE.
 */
static int parse_common(int argc, char **argv, struct bench_opts *o, int *verbose, int *nargs)
{
	int i, n = 0;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--runs") || !strncmp(a, "--runs=", 7)) {
			const char *v = a[6] == '=' ? a + 7 : i + 1 < argc ? argv[++i] : NULL;

			if (!v) {
				fprintf(stderr, "kiln-bench: --runs needs a count\n");
				return EXIT_USAGE;
			}
			if (parse_runs(v, &o->runs))
				return EXIT_USAGE;
		} else if (!strcmp(a, "--json") || !strncmp(a, "--json=", 7)) {
			o->json = a[6] == '=' ? a + 7 : i + 1 < argc ? argv[++i] : NULL;
			if (!o->json || !*o->json) {
				fprintf(stderr, "kiln-bench: --json needs a file name\n");
				return EXIT_USAGE;
			}
		} else if (!strcmp(a, "--short")) {
			o->short_mode = true;
		} else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			(*verbose)++;
		} else if (!n && (!strcmp(a, "-h") || !strcmp(a, "--help"))) {
			usage(stdout);
			return 1;
		} else if (!n && a[0] == '-') {
			fprintf(stderr, "kiln-bench: unknown option '%s' before the suite name\n",
				a);
			usage(stderr);
			return EXIT_USAGE;
		} else {
			/* the suite name, then the suite's own arguments */
			argv[n++] = argv[i];
		}
	}
	*nargs = n;
	return 0;
}

int main(int argc, char **argv)
{
	struct bench_opts o = { .runs = 0, .self = argv[0] };
	struct bench_suite_run done[sizeof(suites) / sizeof(suites[0])];
	struct bench_machine m;
	const char *name = NULL;
	int i, err, ret = 0, verbose = 0, nargs = 0;
	size_t k, nr_done = 0;
	uint64_t t0;

	log_set_name("bench");
	err = parse_common(argc, argv, &o, &verbose, &nargs);
	if (err)
		return err == 1 ? 0 : err;
	if (!nargs) {
		fprintf(stderr, "kiln-bench: no suite given\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	if (verbose)
		log_set_level(verbose > 1 ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO);
	name = argv[0];
	argc = nargs;
	for (k = 0; k < sizeof(suites) / sizeof(suites[0]); k++)
		if (!strcmp(name, suites[k].name))
			break;
	if (strcmp(name, "all") && k == sizeof(suites) / sizeof(suites[0])) {
		fprintf(stderr, "kiln-bench: unknown suite '%s' (suites:", name);
		for (i = 0; i < (int)(sizeof(suites) / sizeof(suites[0])); i++)
			fprintf(stderr, " %s", suites[i].name);
		fprintf(stderr, ", all)\n");
		return EXIT_USAGE;
	}
	if (!strcmp(name, "all") && argc > 1) {
		fprintf(stderr, "kiln-bench: all takes no suite options ('%s')\n", argv[1]);
		return EXIT_USAGE;
	}
	bench_machine_read(&m);
	bench_machine_print(&m);
	printf("command:");
	for (i = 0; i < argc; i++)
		printf(" %s", argv[i]);
	printf("%s%s", o.short_mode ? " --short" : "", o.runs ? " --runs " : "");
	if (o.runs)
		printf("%d", o.runs);
	printf("\n\n");
	fflush(stdout);
	t0 = mono_ns();
	for (k = 0; k < sizeof(suites) / sizeof(suites[0]); k++) {
		uint64_t s0 = mono_ns();

		if (strcmp(name, "all") && strcmp(name, suites[k].name))
			continue;
		err = run_suite(&suites[k], &o, argc, argv);
		if (err)
			ret = 1;
		done[nr_done].name = suites[k].name;
		done[nr_done].status = !suites[k].fn ? "not built" : err ? "failed" : "ok";
		done[nr_done++].seconds = (double)(mono_ns() - s0) / 1e9;
		printf("\n");
	}
	if (!strcmp(name, "all"))
		bench_summary_print(done, nr_done, (double)(mono_ns() - t0) / 1e9);
	if (o.json) {
		err = bench_json_write(o.json, &m, done, nr_done, (double)(mono_ns() - t0) / 1e9);
		if (err) {
			fprintf(stderr, "kiln-bench: --json %s: %s\n", o.json, strerror(-err));
			ret = 1;
		}
	}
	bench_rows_free();
	return ret;
}
