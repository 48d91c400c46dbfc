/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-bench helpers: finding and running the programs under test, and their BPF programs. */
#ifndef KILN_BENCH_PROC_H
#define KILN_BENCH_PROC_H

#include <stdbool.h>
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
 * Starts ARGV as bench_spawn() does, its stdout to a pipe, and waits up to TIMEOUT_MS for a
 * whole line of its output that starts with MARKER (a program saying it is ready). Returns
 * the pid, or -ETIMEDOUT (the child stopped with SIGTERM), -ECHILD when the child exited
 * first (its wait status in *STATUS), or -errno.
 */
pid_t bench_spawn_ready(char *const argv[], int err_fd, const char *marker, int timeout_ms,
			int *status);

/*
 * The directory of the bench scripts (services.py, ...) into BUF of LEN: $KILN_SRC/bench when
 * set (tests), else the source tree's bench/.
 */
void bench_script_dir(char *buf, size_t len);

/*
 * Creates an unlinked temporary file for a child's stderr. Returns its descriptor or -errno.
 */
int bench_tmpfd(void);

/* Prints the last lines of the temporary file FD to stderr, each prefixed with WHO. */
void bench_print_tail(int fd, const char *who);

/*
 * Ends a suite's workload: prints the output it kept in ERR_FD when FAILED, stops PID
 * (SIGTERM, SIGKILL after 10 s) and closes ERR_FD. PID <= 0 or ERR_FD < 0: that part is skipped.
 */
void bench_workload_end(pid_t pid, int err_fd, bool failed);

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

/*
 * Process-level suites (overhead, userspace, density, latency): what a kiln process costs,
 * the kiln pipeline started on a private ring, cgroups of our own, and HTTP requests to its
 * UI (libcurl). The pipeline and the requests are in pipeline.c.
 */
struct shm_hdr;
struct shm_view;

/* The counter NAME of ring header H (the agent's counters), 0 when absent. */
uint64_t bench_counter(const struct shm_hdr *h, const char *name);

/*
 * CPU time PID has used, all threads, user and kernel side: utime + stime of /proc/PID/stat
 * in ns (clock-tick granularity, 10 ms with USER_HZ 100). Returns 0 or -errno.
 */
int bench_proc_cputime_ns(pid_t pid, uint64_t *ns);

/*
 * The scheduler's exact run time of PID in ns, summed over its threads (schedstat): the same
 * quantity as utime + stime, without the tick granularity. Returns 0 or -errno.
 */
int bench_proc_runtime_ns(pid_t pid, uint64_t *ns);

/* VmRSS of PID in bytes, 0 when it cannot be read. */
uint64_t bench_proc_rss_bytes(pid_t pid);

/*
 * Proportional set size of PID in bytes (/proc/PID/smaps_rollup), 0 when it cannot be read.
 * Pages shared by several processes (the ring every kiln process maps) count once in the
 * sum over the processes, where RSS would count them once per process. Without the BPF maps
 * PID mmaps: they are kernel memory, bench_proc_bpf_map_bytes() counts them.
 */
uint64_t bench_proc_pss_bytes(pid_t pid);

/* Sum of the memlock of every BPF map PID holds open (what its maps cost the kernel), bytes. */
uint64_t bench_proc_bpf_map_bytes(pid_t pid);

/*
 * bench_spawn() whose child first moves itself into the cgroup2 directory CGROUP (NULL: stays
 * where it is), so that it and all its children belong to that cgroup from their first
 * instruction. Returns the pid, or -errno.
 */
pid_t bench_spawn_cgroup(char *const argv[], int out_fd, int err_fd, const int *keep, int nkeep,
			 const char *cgroup);

/*
 * Creates the cgroup2 directory "<cgroup2 mount>/kiln-bench-TAG-<our pid>" and writes its path
 * to BUF. Its workload key (as the agent names it) is "cgroup/" plus the part after the mount.
 * Returns 0, or -errno (-ENOENT: no cgroup2 mount).
 */
int bench_cgroup_new(const char *tag, char *buf, size_t len);

/*
 * Removes the cgroup directory PATH made by bench_cgroup_new(), waiting up to 5 s for its
 * last processes to be gone. Returns 0 or -errno.
 */
int bench_cgroup_free(const char *path);

/* Removes PATH and everything below it (temporary directories). Returns 0 or -errno. */
int bench_rmtree(const char *path);

/*
 * One HTTP request to 127.0.0.1:PORT (libcurl): METHOD PATH with an empty body, within
 * TIMEOUT_MS. Returns 0 with the status code in *STATUS and the body in *BODY
 * (NUL-terminated, caller frees; may be NULL), or -errno (-ETIMEDOUT, -ECONNREFUSED, -EPROTO).
 */
int bench_http(int port, const char *method, const char *path, int timeout_ms, int *status,
	       char **body);

/* What bench_pipeline__new() starts. */
struct bench_pipeline_opts {
	const char *tag; /* names the ring: kiln-bench-TAG-<our pid> */
	unsigned int hz; /* agent -F */
	unsigned int window_ms; /* agent --window-ms; 0: its default */
	bool exporter; /* also `kiln export` to a file destination in a temporary directory */
	bool ui; /* also `kiln ui` on 127.0.0.1, a free port */
};

/* kiln's pipeline on a private ring: agent, and optionally exporter and UI. */
struct bench_pipeline {
	char ring[64];
	char dir[64]; /* temporary directory: exporter output and spool; "" when none */
	pid_t agent, exporter, ui; /* -1: not running */
	int agent_err, exporter_err, ui_err, ui_out; /* temporary files of their output, or -1 */
	int ui_port;
	struct shm_view *view; /* the ring, read-only */
	const struct shm_hdr *hdr; /* its header, with the agent's counters */
};

/*
 * Starts the agent on a new private ring and waits until it has written a window with
 * samples in it; then the exporter and UI, and waits until both are attached to the ring
 * (and the UI serves). Processes that fail to start have their output printed on stderr.
 * Returns 0 and *OUT (free with bench_pipeline__free), or -errno (-ECHILD: one exited).
 */
int bench_pipeline__new(struct bench_pipeline **out, const struct bench_opts *o,
			const struct bench_pipeline_opts *po);

/*
 * bench_pipeline__new(), then bench_cgroup_new(SUITE, CG, CG_LEN) for the workload, saying
 * on stderr which of the two failed. Returns 0, or -errno with *OUT set when kiln started
 * (free it as after bench_pipeline__new) and CG empty when no cgroup was made.
 */
int bench_pipeline__new_cgroup(struct bench_pipeline **out, const struct bench_opts *o,
			       const struct bench_pipeline_opts *po, const char *suite, char *cg,
			       size_t cg_len);

/*
 * Checks that every process of P still runs. Returns 0, or -ECHILD after printing which one
 * ended and its output.
 */
int bench_pipeline__check(struct bench_pipeline *p);

/*
 * Waits until the agent has written N more windows than now, up to TIMEOUT_MS. Returns 0,
 * -ETIMEDOUT, or -ECHILD when a process of P ended.
 */
int bench_pipeline__wait_windows(struct bench_pipeline *p, uint64_t n, int timeout_ms);

/*
 * Opens (POST /api/slots/{id}) the UI slot of the workload in cgroup CG, made by
 * bench_cgroup_new(), retrying until the UI has seen that workload, up to TIMEOUT_MS. Writes
 * the slot's API path ("/api/slots/cgroup%2F...") to PATH. Returns 0, -ETIMEDOUT, or -ECHILD
 * when a process of P ended.
 */
int bench_pipeline__open_slot(struct bench_pipeline *p, const char *cg, int timeout_ms, char *path,
			      size_t len);

/*
 * Stops UI, exporter and agent (SIGTERM; SIGKILL after 30 s), printing on stderr any that did
 * not exit 0, and removes the ring and the temporary directory. NULL is a no-op.
 */
void bench_pipeline__free(struct bench_pipeline *p);

#endif
