// SPDX-License-Identifier: Apache-2.0
/* kiln-bench: runs one benchmark suite, or all of them, and prints (and saves) result rows. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "bench/stats.h"
#include "common/log.h"

#define EXIT_USAGE 2

/*
 * Weak, so that kiln-bench links while a suite's file is still being written; a missing suite
 * is reported, not a link error.
 */
extern int bench_ring(const struct bench_opts *o, int argc, char **argv) __attribute__((weak));
extern int bench_bpf(const struct bench_opts *o, int argc, char **argv) __attribute__((weak));
extern int bench_overhead(const struct bench_opts *o, int argc, char **argv) __attribute__((weak));
extern int bench_density(const struct bench_opts *o, int argc, char **argv) __attribute__((weak));
extern int bench_userspace(const struct bench_opts *o, int argc, char **argv)
	__attribute__((weak));
extern int bench_export(const struct bench_opts *o, int argc, char **argv) __attribute__((weak));
extern int bench_latency(const struct bench_opts *o, int argc, char **argv) __attribute__((weak));

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
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: kiln-bench SUITE|all [--runs N] [--short] [--json FILE] [-v]\n\n"
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
		"\nRows show the median over the runs and (min..max); a goal, when the row has\n"
		"one, with pass or miss. Exit status: 0 every suite ran (goals missed or not),\n"
		"1 a suite could not run, 2 bad usage.\n",
		"all");
}

/* Runs one suite. Returns its result: 0 when it ran. */
static int run_suite(const struct suite *s, const struct bench_opts *o, int argc, char **argv)
{
	int err;

	if (!s->fn) {
		printf("suite %s not built\n", s->name);
		return 0;
	}
	err = s->fn(o, argc, argv);
	if (err)
		fprintf(stderr, "kiln-bench: suite %s could not run\n", s->name);
	return err;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "runs", required_argument, NULL, 'r' }, { "short", no_argument, NULL, 's' },
		{ "json", required_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' },
		{ "verbose", no_argument, NULL, 'v' },	  { NULL, 0, NULL, 0 },
	};
	struct bench_opts o = { .runs = 0, .self = argv[0] };
	const char *name = NULL;
	int opt, i, err, ret = 0, verbose = 0;
	size_t k;
	char *end;
	long v;

	log_set_name("bench");
	while ((opt = getopt_long(argc, argv, "hv", opts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || !*optarg || *end || v < 1 || v > 1000) {
				fprintf(stderr,
					"kiln-bench: --runs: '%s' is not a count in 1..1000\n",
					optarg);
				return EXIT_USAGE;
			}
			o.runs = (int)v;
			break;
		case 's':
			o.short_mode = true;
			break;
		case 'j':
			o.json = optarg;
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			/* getopt_long named the option already. */
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "kiln-bench: no suite given\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	if (verbose)
		log_set_level(verbose > 1 ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO);
	name = argv[optind];
	/* Whatever follows the suite name is the suite's own. */
	argc -= optind;
	argv += optind;

	if (!strcmp(name, "all")) {
		for (k = 0; k < sizeof(suites) / sizeof(suites[0]); k++) {
			err = run_suite(&suites[k], &o, argc, argv);
			if (err)
				ret = 1;
			printf("\n");
		}
	} else {
		for (k = 0; k < sizeof(suites) / sizeof(suites[0]); k++)
			if (!strcmp(name, suites[k].name))
				break;
		if (k == sizeof(suites) / sizeof(suites[0])) {
			fprintf(stderr, "kiln-bench: unknown suite '%s' (suites:", name);
			for (i = 0; i < (int)(sizeof(suites) / sizeof(suites[0])); i++)
				fprintf(stderr, " %s", suites[i].name);
			fprintf(stderr, ", all)\n");
			return EXIT_USAGE;
		}
		ret = run_suite(&suites[k], &o, argc, argv) ? 1 : 0;
	}
	if (o.json) {
		err = bench_json_write(o.json);
		if (err) {
			fprintf(stderr, "kiln-bench: --json %s: %s\n", o.json, strerror(-err));
			ret = 1;
		}
	}
	bench_rows_free();
	return ret;
}
