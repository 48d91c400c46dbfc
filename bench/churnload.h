/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kiln-bench's build-like process churn (suites churn and soak): `make` over a generated tree
 * of small C files, rebuilt again and again, in a cgroup of the suite's own. Every file costs
 * the load a handful of short processes (the compiler driver, cc1 and as; then a shell running
 * wc, cksum and basename), so the machine sees hundreds of processes start and end per second.
 */
#ifndef KILN_BENCH_CHURNLOAD_H
#define KILN_BENCH_CHURNLOAD_H

#include <stdint.h>
#include <sys/types.h>

/* Processes the load starts per file compiled: cc, cc1, as, sh, wc, cksum, basename. */
#define BENCH_CHURN_PROCS_PER_FILE 7

struct bench_churn_load_opts {
	const char *tag; /* names the tree's directory: /tmp/kiln-bench-TAG-XXXXXX */
	const char *cgroup; /* cgroup2 directory the load runs in (bench_cgroup_new), or NULL */
	unsigned int files; /* C files in the tree */
	unsigned int jobs; /* make -j */
	unsigned int pause_ms; /* pause between two builds (a lighter load), 0: none */
	unsigned int seconds; /* builds start until this much time has passed */
};

struct bench_churn_load {
	char dir[64]; /* the generated tree */
	pid_t pid; /* the shell looping over builds, -1 once reaped */
	int status; /* its wait status once reaped */
	int out; /* temporary file of its output: "builds N" at the end */
	int err; /* temporary file of its errors */
	unsigned int files;
};

/*
 * Generates the tree and starts the load. Returns 0 and *OUT (free with
 * bench_churn_load__free), or -errno after printing why on stderr.
 */
int bench_churn_load__start(struct bench_churn_load **out, const struct bench_churn_load_opts *o);

/*
 * Waits up to TIMEOUT_MS for the load to end by itself and reads how many files it compiled
 * into *FILES. Returns 0, -ETIMEDOUT, or -EIO after printing its errors when a build failed.
 */
int bench_churn_load__wait(struct bench_churn_load *l, int timeout_ms, uint64_t *files);

/* True while the load runs (reaps it, keeping its status for bench_churn_load__wait). */
int bench_churn_load__running(struct bench_churn_load *l);

/* Stops the load if it still runs (SIGKILL of its process group), removes the tree. NULL: no-op. */
void bench_churn_load__free(struct bench_churn_load *l);

#endif
