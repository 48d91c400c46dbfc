/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-bench helpers shared by the suites: summaries of repeated runs and result rows. */
#ifndef KILN_BENCH_STATS_H
#define KILN_BENCH_STATS_H

#include <stdbool.h>

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

/*
 * Writes every row kept so far to PATH as a JSON array of objects. Returns 0 or -errno.
 */
int bench_json_write(const char *path);

/* Frees the rows kept so far. */
void bench_rows_free(void);

#endif
