// SPDX-License-Identifier: Apache-2.0
/* bench/workload's command line: the help text and the options into cfg. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workload.h"

void usage(FILE *f)
{
	fprintf(f,
		"usage: workload [OPTIONS]\n"
		"Burns CPU in functions alpha, beta, gamma, delta, epsilon, zeta in exact shares "
		"of\n"
		"thread CPU time. Stack of every sample:\n"
		"  worker_main -> run_mix -> level_0..7 (--depth) -> hop_0..15 (--stacks) -> "
		"alpha\n"
		"\n"
		"  --mix NAME=PCT,...  shares in percent, summing to 100 (default alpha=100)\n"
		"  --seconds S         wall-clock run time, may be fractional (default 5)\n"
		"  --cpu-seconds S     instead: each thread runs until it used S s of CPU, so\n"
		"                      a loaded machine stretches the run, not the work\n"
		"  --work N            instead of --seconds: N burn iterations per thread, split "
		"by\n"
		"                      the mix; prints elapsed_ns=... and ops=... on stdout\n"
		"  --threads N         threads per process (default 1)\n"
		"  --procs M           fork M processes, each running the threads, and wait for "
		"them\n"
		"                      (default 1: no fork, this process works)\n"
		"  --depth D           D extra level_* frames between run_mix and the hops\n"
		"                      (default 0; profilers cut stacks deeper than\n"
		"                      perf_event_max_stack, 127 frames by default)\n"
		"  --stacks K          K distinct call paths through hop_* frames, used in turn\n"
		"                      (default 1, at most %u)\n"
		"  --recurse N         N frames of the self-recursive function recurse between\n"
		"                      run_mix and the level_* frames (default 0, at most %u)\n"
		"  --signal            SIGPROF every %u ms of process CPU time; its handler\n"
		"                      on_sigprof burns %llu ms in sig_burn\n"
		"  --dlopen LIB        dlopen LIB (bench/libkiln-burn.so) at start; every burn\n"
		"                      function then burns in LIB's dl_burn -> dl_spin\n"
		"  --syscall           burn in the kernel: read() 64 KiB from /dev/zero\n"
		"  --ready-fd FD       write one byte to FD once every thread is running\n"
		"  --print-pids        print pid=N on stdout for each working process\n"
		"  --nice N            run at nice N (0..19): a node of many busy processes\n"
		"                      that still leaves the other programs their turn\n"
		"  -h, --help          show this help\n"
		"\n"
		"At exit, stderr gets: workload: cpu_ns total=T alpha=NS (PCT%%) ...\n"
		"Exit status: 0 done, 1 failure, 2 bad usage.\n",
		MAX_STACKS, MAX_RECURSE, SIGNAL_PERIOD_US / 1000,
		(unsigned long long)(SIGNAL_BURN_NS / 1000000));
}

/* Parses a whole decimal number in [min, max]. Returns 0 or -EINVAL. */
static int parse_num(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!s || !*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Parses --mix into cfg.pct. Returns 0, or -EINVAL after printing what is wrong. */
static int parse_mix(const char *arg)
{
	char *copy, *item, *save = NULL, *eq;
	unsigned int sum = 0;
	uint64_t pct;
	int f, err = 0;

	memset(cfg.pct, 0, sizeof(cfg.pct));
	copy = strdup(arg);
	if (!copy)
		return -ENOMEM;
	for (item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		eq = strchr(item, '=');
		if (!eq) {
			fprintf(stderr, "workload: --mix: '%s' is not NAME=PCT\n", item);
			err = -EINVAL;
			goto cleanup;
		}
		*eq = '\0';
		for (f = 0; f < NFUNCS; f++)
			if (!strcmp(item, func_names[f]))
				break;
		if (f == NFUNCS) {
			fprintf(stderr,
				"workload: --mix: unknown function '%s' (expected alpha, beta, "
				"gamma, delta, epsilon or zeta)\n",
				item);
			err = -EINVAL;
			goto cleanup;
		}
		if (cfg.pct[f]) {
			fprintf(stderr, "workload: --mix: '%s' given twice\n", item);
			err = -EINVAL;
			goto cleanup;
		}
		if (parse_num(eq + 1, 1, 100, &pct)) {
			fprintf(stderr,
				"workload: --mix: '%s' for %s is not a percentage in 1..100\n",
				eq + 1, item);
			err = -EINVAL;
			goto cleanup;
		}
		cfg.pct[f] = (unsigned int)pct;
		sum += (unsigned int)pct;
	}
	if (sum != 100) {
		fprintf(stderr, "workload: --mix: '%s': percentages sum to %u, not 100\n", arg,
			sum);
		err = -EINVAL;
	}
cleanup:
	free(copy);
	return err;
}

enum {
	OPT_MIX = 256,
	OPT_SECONDS,
	OPT_CPU_SECONDS,
	OPT_WORK,
	OPT_THREADS,
	OPT_PROCS,
	OPT_DEPTH,
	OPT_STACKS,
	OPT_SYSCALL,
	OPT_RECURSE,
	OPT_SIGNAL,
	OPT_DLOPEN,
	OPT_READY_FD,
	OPT_PRINT_PIDS,
	OPT_NICE,
};

/*
 * Applies option OPT (getopt_long's value, argument in optarg) to cfg; sets *SECONDS_GIVEN
 * for --seconds. Returns 0, 1 for --help, or -EINVAL (message printed).
 */
static int parse_opt(int opt, bool *seconds_given)
{
	uint64_t v;
	char *end;

	switch (opt) {
	case 'h':
		return 1;
	case OPT_MIX:
		if (parse_mix(optarg))
			return -EINVAL;
		break;
	case OPT_CPU_SECONDS:
		errno = 0;
		cfg.cpu_limit_ns = (uint64_t)(strtod(optarg, &end) * 1e9);
		if (errno || !*optarg || *end || !cfg.cpu_limit_ns ||
		    cfg.cpu_limit_ns > 1000000 * 1000000000ULL) {
			fprintf(stderr,
				"workload: --cpu-seconds: '%s' is not a number in (0, 1e6]\n",
				optarg);
			return -EINVAL;
		}
		break;
	case OPT_SECONDS:
		errno = 0;
		cfg.seconds = strtod(optarg, &end);
		if (errno || !*optarg || *end || !(cfg.seconds > 0 && cfg.seconds <= 1e6)) {
			fprintf(stderr, "workload: --seconds: '%s' is not a number in (0, 1e6]\n",
				optarg);
			return -EINVAL;
		}
		*seconds_given = true;
		break;
	case OPT_WORK:
		if (parse_num(optarg, 1, UINT64_MAX / 100, &cfg.work)) {
			fprintf(stderr, "workload: --work: '%s' is not a positive count\n", optarg);
			return -EINVAL;
		}
		break;
	case OPT_THREADS:
		if (parse_num(optarg, 1, MAX_THREADS, &v)) {
			fprintf(stderr, "workload: --threads: '%s' is not in 1..%d\n", optarg,
				MAX_THREADS);
			return -EINVAL;
		}
		cfg.threads = (unsigned int)v;
		break;
	case OPT_PROCS:
		if (parse_num(optarg, 1, MAX_PROCS, &v)) {
			fprintf(stderr, "workload: --procs: '%s' is not in 1..%d\n", optarg,
				MAX_PROCS);
			return -EINVAL;
		}
		cfg.procs = (unsigned int)v;
		break;
	case OPT_DEPTH:
		if (parse_num(optarg, 0, MAX_DEPTH, &v)) {
			fprintf(stderr, "workload: --depth: '%s' is not in 0..%d\n", optarg,
				MAX_DEPTH);
			return -EINVAL;
		}
		cfg.depth = (unsigned int)v;
		break;
	case OPT_STACKS:
		if (parse_num(optarg, 1, MAX_STACKS, &v)) {
			fprintf(stderr, "workload: --stacks: '%s' is not in 1..%u\n", optarg,
				MAX_STACKS);
			return -EINVAL;
		}
		cfg.stacks = (uint32_t)v;
		break;
	case OPT_SYSCALL:
		cfg.syscall = true;
		break;
	case OPT_RECURSE:
		if (parse_num(optarg, 0, MAX_RECURSE, &v)) {
			fprintf(stderr, "workload: --recurse: '%s' is not in 0..%d\n", optarg,
				MAX_RECURSE);
			return -EINVAL;
		}
		cfg.recurse = (unsigned int)v;
		break;
	case OPT_SIGNAL:
		cfg.signal = true;
		break;
	case OPT_DLOPEN:
		if (!*optarg) {
			fprintf(stderr, "workload: --dlopen: needs a library path\n");
			return -EINVAL;
		}
		cfg.dlopen_path = optarg;
		break;
	case OPT_READY_FD:
		if (parse_num(optarg, 0, INT_MAX, &v) || fcntl((int)v, F_GETFD) < 0) {
			fprintf(stderr, "workload: --ready-fd: '%s' is not an open descriptor\n",
				optarg);
			return -EINVAL;
		}
		cfg.ready_fd = (int)v;
		break;
	case OPT_PRINT_PIDS:
		cfg.print_pids = true;
		break;
	case OPT_NICE:
		if (parse_num(optarg, 0, 19, &v)) {
			fprintf(stderr, "workload: --nice: '%s' is not in 0..19\n", optarg);
			return -EINVAL;
		}
		cfg.nice = (int)v;
		break;
	default:
		/* getopt_long has already named the bad option. */
		return -EINVAL;
	}
	return 0;
}

/* Fills cfg from the command line. Returns 0, 1 for --help, or -EINVAL (message printed). */
int parse_args(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mix", required_argument, NULL, OPT_MIX },
		{ "seconds", required_argument, NULL, OPT_SECONDS },
		{ "cpu-seconds", required_argument, NULL, OPT_CPU_SECONDS },
		{ "work", required_argument, NULL, OPT_WORK },
		{ "threads", required_argument, NULL, OPT_THREADS },
		{ "procs", required_argument, NULL, OPT_PROCS },
		{ "depth", required_argument, NULL, OPT_DEPTH },
		{ "stacks", required_argument, NULL, OPT_STACKS },
		{ "syscall", no_argument, NULL, OPT_SYSCALL },
		{ "recurse", required_argument, NULL, OPT_RECURSE },
		{ "signal", no_argument, NULL, OPT_SIGNAL },
		{ "dlopen", required_argument, NULL, OPT_DLOPEN },
		{ "ready-fd", required_argument, NULL, OPT_READY_FD },
		{ "print-pids", no_argument, NULL, OPT_PRINT_PIDS },
		{ "nice", required_argument, NULL, OPT_NICE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool seconds_given = false;
	int opt, err;
	uint64_t k;

	cfg.pct[0] = 100;
	cfg.seconds = 5;
	cfg.threads = 1;
	cfg.procs = 1;
	cfg.stacks = 1;
	cfg.ready_fd = -1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		err = parse_opt(opt, &seconds_given);
		if (err)
			return err;
	}
	if (optind < argc) {
		fprintf(stderr, "workload: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (cfg.work && (seconds_given || cfg.cpu_limit_ns)) {
		fprintf(stderr, "workload: --work excludes --seconds and --cpu-seconds\n");
		return -EINVAL;
	}
	if (cfg.cpu_limit_ns && !seconds_given)
		cfg.seconds = 1e6;
	/* Digits of the largest path index, so every path has the same number of hop frames. */
	for (k = cfg.stacks - 1; k; k >>= 4)
		cfg.hop_digits++;
	return 0;
}
