/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-bench helpers: finding and running the programs under test, and their BPF programs. */
#ifndef KILN_BENCH_PROC_H
#define KILN_BENCH_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bench/bench.h"

/* stdout/stderr choices for bench_spawn(). */
#define BENCH_FD_NULL (-1) /* /dev/null */
#define BENCH_FD_INHERIT (-2) /* ours */

/*
 * Writes "<directory of the kiln-bench binary>/REL" to BUF (e.g. REL "../kiln" or "workload").
 * The directory comes from /proc/self/exe, or from o->self when that cannot be read.
 * Returns 0, or -ENAMETOOLONG / -errno.
 */
int bench_sibling(const struct bench_opts *o, const char *rel, char *buf, size_t len);

/* Looks NAME up in $PATH (and /usr/sbin, /sbin). Returns 0 and the full path in BUF, or -ENOENT. */
int bench_which(const char *name, char *buf, size_t len);

/*
 * Starts ARGV (argv[0] a path) with stdin from /dev/null, stdout to OUT_FD and stderr to ERR_FD
 * (a descriptor, BENCH_FD_NULL or BENCH_FD_INHERIT). The NKEEP descriptors in KEEP stay open
 * in the child (KEEP may be NULL); every other descriptor of ours is closed there. Returns the
 * pid, or -errno.
 */
pid_t bench_spawn(char *const argv[], int out_fd, int err_fd, const int *keep, int nkeep);

/*
 * Creates an unlinked temporary file for a child's stderr. Returns its descriptor or -errno.
 */
int bench_tmpfd(void);

/* Prints the last lines of the temporary file FD to stderr, each prefixed with WHO. */
void bench_print_tail(int fd, const char *who);

/* Describes a wait status ("exit 1", "signal 9") in BUF; returns BUF. */
const char *bench_status_str(int status, char *buf, size_t len);

/*
 * Waits for PID for up to TIMEOUT_MS milliseconds (-1: no limit). Returns 0 with its wait
 * status in *STATUS (may be NULL), -ETIMEDOUT while it still runs, or -errno.
 */
int bench_wait(pid_t pid, int timeout_ms, int *status);

/*
 * Sends SIG to PID and waits up to TIMEOUT_MS for it; if it is still running then, kills it
 * with SIGKILL and reaps it. Returns 0 when it exited within the time (status in *STATUS,
 * may be NULL), -ETIMEDOUT when it had to be killed, or -errno.
 */
int bench_stop(pid_t pid, int sig, int timeout_ms, int *status);

/*
 * Runs ARGV to completion (stderr to ERR_FD as in bench_spawn), collecting its stdout in OUT
 * (NUL-terminated, truncated to LEN - 1 bytes). Gives up after TIMEOUT_MS and kills it.
 * Returns 0 when it exited with status 0, -ECHILD when it failed, or -errno / -ETIMEDOUT.
 */
int bench_capture(char *const argv[], int err_fd, char *out, size_t len, int timeout_ms);

/* Sleeps for NS nanoseconds (measurement windows, never synchronization). */
void bench_sleep_ns(uint64_t ns);

/* A set of BPF program ids. */
struct bench_prog_ids {
	uint32_t *ids;
	size_t n;
	size_t cap;
};

/* Fills SET with the ids of every BPF program loaded now. Returns 0 or -errno. */
int bench_prog_ids_snapshot(struct bench_prog_ids *set);

/* Frees SET's ids; the set is empty afterwards. */
void bench_prog_ids_free(struct bench_prog_ids *set);

/* Run-time statistics summed over the programs of one profiler. */
struct bench_prog_stats {
	uint64_t run_time_ns;
	uint64_t run_cnt;
	int nprogs;
};

/*
 * Sums run_time_ns and run_cnt over the BPF_PROG_TYPE_PERF_EVENT programs that were not in
 * BEFORE, carry the name NAME (when not NULL) and not the name NOT_NAME (when not NULL), and,
 * when PID holds any BPF program or link descriptors, are among those. run_time_ns and run_cnt
 * only grow while BPF stats are enabled (bpf_enable_stats). Returns 0 (nprogs may be 0) or
 * -errno.
 */
int bench_prog_stats(const struct bench_prog_ids *before, pid_t pid, const char *name,
		     const char *not_name, struct bench_prog_stats *out);

/*
 * Waits until the profiler PID really samples: its programs (as selected by bench_prog_stats)
 * exist and have run at least once, which needs BPF stats enabled. Returns 0, -ECHILD when PID
 * exited first (reaped, status in *STATUS, may be NULL), -ETIMEDOUT after TIMEOUT_MS, or -errno.
 */
int bench_wait_sampling(const struct bench_prog_ids *before, pid_t pid, const char *name,
			const char *not_name, int timeout_ms, int *status);

#endif
