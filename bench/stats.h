/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-bench helpers shared by the suites: summaries of repeated runs and result rows. */
#ifndef KILN_BENCH_STATS_H
#define KILN_BENCH_STATS_H

#include <stdbool.h>
#include <stddef.h>

/* Median, minimum and maximum of a set of repeated measurements. */
struct bench_summary {
	double median;
	double min;
	double max;
	int n;
};

enum bench_verdict {
	BENCH_NO_GOAL = 0,
	BENCH_PASS,
	BENCH_MISS,
};

/*
 * Summarizes the N values in V (V is not modified). Returns 0, or -EINVAL when N < 1, or
 * -ENOMEM.
 */
int bench_summarize(const double *v, int n, struct bench_summary *out);

/*
 * Prints one result row on stdout, "name  median (min-max) unit  goal  pass|miss", and keeps
 * it for bench_json_write(). SUITE and NAME identify the row; GOAL is a short text such as
 * "<= 0.9" or NULL. Values are printed with DECIMALS digits after the point.
 */
void bench_row(const char *suite, const char *name, const struct bench_summary *s, const char *unit,
	       int decimals, const char *goal, enum bench_verdict verdict);

/* Prints a row that could not be measured, e.g. "n/a (bpftrace not installed)", and keeps it. */
void bench_row_na(const char *suite, const char *name, const char *why);

/* Prints the header line the rows line up under. */
void bench_header(const char *suite, const char *title);

/* The machine a run was measured on, from /proc and uname(2). */
struct bench_machine {
	char cpu[128]; /* /proc/cpuinfo "model name", or "unknown" */
	int vcpus; /* online CPUs */
	char kernel[128]; /* release and machine, e.g. "6.1.0-18-amd64 x86_64" */
	double mem_gib; /* /proc/meminfo MemTotal */
	char date[32]; /* UTC, ISO 8601 */
};

/* How one suite of a run went: status "ok", "failed" or "not built". */
struct bench_suite_run {
	const char *name;
	const char *status;
	double seconds;
};

/* Fills *M; fields that cannot be read say "unknown" / 0. */
void bench_machine_read(struct bench_machine *m);

/* Prints *M as the "machine:" line a run's output starts with. */
void bench_machine_print(const struct bench_machine *m);

/*
 * Prints the end-of-run summary: every row kept that has a goal or could not be measured
 * (name, median (min..max), unit, goal, pass/miss or n/a and why), then each suite's status
 * and time, then TOTAL_S, the whole run's wall time.
 */
void bench_summary_print(const struct bench_suite_run *suites, size_t nr, double total_s);

/*
 * Writes the run to PATH as one JSON object: "machine" (*M), "suites" (the NR entries of
 * SUITES), "total_seconds" and "rows" (every row kept so far). Returns 0 or -errno.
 */
int bench_json_write(const char *path, const struct bench_machine *m,
		     const struct bench_suite_run *suites, size_t nr, double total_s);

/* Rows kept so far (printed by bench_row / bench_row_na). */
size_t bench_rows_count(void);

/* Frees the rows kept so far. */
void bench_rows_free(void);

#endif
