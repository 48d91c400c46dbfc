/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-bench suites; each prints its rows and returns 0, or non-zero when it could not run. */
#ifndef KILN_BENCH_H
#define KILN_BENCH_H

#include <stdbool.h>

struct bench_opts {
	int runs; /* --runs N: repetitions, medians reported */
	bool short_mode; /* --short: smallest sizes, for CI smoke runs */
	const char *json; /* --json FILE: also write rows there, or NULL */
	const char *self; /* path of the kiln-bench binary (to find build/kiln) */
};

int bench_ring(const struct bench_opts *o, int argc, char **argv);
int bench_bpf(const struct bench_opts *o, int argc, char **argv);
int bench_overhead(const struct bench_opts *o, int argc, char **argv);
int bench_density(const struct bench_opts *o, int argc, char **argv);
int bench_userspace(const struct bench_opts *o, int argc, char **argv);
int bench_export(const struct bench_opts *o, int argc, char **argv);
int bench_latency(const struct bench_opts *o, int argc, char **argv);
int bench_unwind(const struct bench_opts *o, int argc, char **argv);
int bench_python(const struct bench_opts *o, int argc, char **argv);
int bench_churn(const struct bench_opts *o, int argc, char **argv);
int bench_soak(const struct bench_opts *o, int argc, char **argv);
int bench_outage(const struct bench_opts *o, int argc, char **argv);
int bench_startup(const struct bench_opts *o, int argc, char **argv);

#endif
