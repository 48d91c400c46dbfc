/* SPDX-License-Identifier: Apache-2.0 */
/* What bench/workload's two files share: the limits, the configuration, the command line. */
#ifndef KILN_BENCH_WORKLOAD_H
#define KILN_BENCH_WORKLOAD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define EXIT_USAGE 2
#define NFUNCS 6
#define NLEVELS 8
#define NHOPS 16
#define MAX_DEPTH 1000
#define MAX_STACKS (1u << 24) /* six base-16 digits of hop frames */
#define MAX_THREADS 1024
#define MAX_PROCS 4096
#define MAX_RECURSE 10000

/* --signal: SIGPROF every SIGNAL_PERIOD_US of process CPU time, each burning SIGNAL_BURN_NS. */
#define SIGNAL_PERIOD_US 10000
#define SIGNAL_BURN_NS 2000000ull

/* Totals shared by every thread of every process (MAP_SHARED, so children add to it). */
struct totals {
	uint64_t cpu_ns[NFUNCS];
	uint64_t units[NFUNCS];
	uint32_t failed;
};

struct config {
	unsigned int pct[NFUNCS];
	double seconds;
	unsigned int threads;
	unsigned int procs;
	unsigned int depth;
	unsigned int recurse;
	bool signal;
	const char *dlopen_path;
	uint64_t (*dl_burn)(uint64_t iters, uint64_t x, uint64_t salt); /* from --dlopen LIB */
	uint32_t stacks;
	int hop_digits;
	bool syscall;
	uint64_t work; /* 0: time mode */
	int ready_fd;
	bool print_pids;
	int nice; /* --nice */
	uint64_t deadline_ns; /* CLOCK_MONOTONIC; time mode */
	uint64_t cpu_limit_ns; /* --cpu-seconds: time mode ends at this thread CPU time; 0: none */
	int started_pipe[2]; /* each worker writes one byte once running (for --ready-fd) */
	int gate_pipe[2]; /* --procs: children wait for EOF here until all are forked */
	struct totals *totals;
};

/* The run's configuration (workload.c), filled by parse_args(). */
extern struct config cfg;
/* alpha, beta, gamma, delta, epsilon, zeta. */
extern const char *const func_names[NFUNCS];

/* workload_args.c */

/* Prints the help text to F. */
void usage(FILE *f);
/* Fills cfg from the command line. Returns 0, 1 for --help, or -EINVAL (message printed). */
int parse_args(int argc, char **argv);

#endif
