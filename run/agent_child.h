/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A private `kiln agent` run as a child process, as kiln top starts one when no agent writes
 * the default ring. One at a time per process (agent_child__kill_from_signal()).
 */
#ifndef KILN_RUN_AGENT_CHILD_H
#define KILN_RUN_AGENT_CHILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define AGENT_ERR_MAX 8192

/* Caller-allocated; initialise with { .pid = -1, .err_fd = -1 }. */
struct agent_child {
	pid_t pid;
	int err_fd; /* read end of its stderr, non-blocking */
	char err[AGENT_ERR_MAX];
	size_t err_len;
	int status;
	bool exited;
};

/* True when this process may load BPF and open perf events: root, or both capabilities. */
bool agent_child__may_run(void);

/*
 * Starts `/proc/self/exe agent --ring RING -F HZ [--pid P,...]` in its own process group
 * (terminal signals reach only the parent, which stops it in order) with PR_SET_PDEATHSIG, so
 * it never outlives the parent. With PIDS the agent samples only those processes. Returns 0
 * or -errno.
 */
int agent_child__start(struct agent_child *a, const char *ring, unsigned int hz,
		       const uint32_t *pids, size_t nr_pids);

/* Keeps what the agent wrote on stderr (the first AGENT_ERR_MAX bytes) for error reports. */
void agent_child__read_err(struct agent_child *a);

/* True when the agent has exited (reaped; status in a->status), or was never started. */
bool agent_child__gone(struct agent_child *a);

/* SIGTERM (the agent flushes and exits), SIGKILL after 5 s, reap; closes its stderr. */
void agent_child__stop(struct agent_child *a);

/* Logs how the agent ended and what it wrote on stderr. */
void agent_child__report(const struct agent_child *a);

/* Sends SIG to the running child, if any. Async-signal-safe: for a second-signal handler. */
void agent_child__kill_from_signal(int sig);

#endif
