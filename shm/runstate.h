/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The state file of a `kiln run` supervisor, so that `kiln status` can show the health of
 * every process it started and how often each was restarted.
 *
 * It lives beside the ring's segment: for ring NAME (path /dev/shm/kiln-NAME) it is
 * /dev/shm/kiln-NAME.run, mode 0644, owned by the supervisor (root). The supervisor
 * rewrites it whole (write to a temporary name, rename) whenever a child starts or exits,
 * and removes it when it stops. Text, one record per line, so that it is readable by hand:
 *
 *   kiln-run 1
 *   supervisor PID START_WALL_NS
 *   child NAME PID STATE RESTARTS START_WALL_NS LAST_EXIT
 *   reloads OK FAILED                 (optional: SIGHUP config reloads of the supervisor)
 *   reloaded NAME N                   (optional: restarts of child NAME for a reload)
 *
 * NAME is agent, export or ui; PID is 0 while the child is down; STATE is running, backoff
 * (waiting to restart) or stopped; LAST_EXIT is "-" or e.g. "exit=1" / "signal=9". The two
 * optional lines came later: readers that predate them reject the file, so they are written
 * only once a reload happened. A restart for a reload is not counted in RESTARTS (which
 * means crashes), only in `reloaded`.
 *
 * Private rings: a ring that one process creates for itself alone (kiln top's private agent)
 * is named PRIVATE_PREFIX OWNER_PID, so that when its owner is SIGKILLed (and nobody removes
 * it) the next kiln top or kiln run can tell it is stale and remove it.
 */
#ifndef KILN_SHM_RUNSTATE_H
#define KILN_SHM_RUNSTATE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define RUNSTATE_MAX_CHILDREN 8

struct runstate_child {
	char name[16];
	pid_t pid; /* 0 while down */
	char state[16]; /* running | backoff | stopped */
	uint64_t restarts;
	uint64_t start_ns; /* wall clock of the current (or last) start */
	char last_exit[32]; /* "-", "exit=N" or "signal=N" */
};

struct runstate {
	pid_t supervisor_pid;
	uint64_t start_ns; /* wall clock */
	int nr_children;
	struct runstate_child children[RUNSTATE_MAX_CHILDREN];
	uint64_t reloads, reload_failures; /* SIGHUP reloads that applied / that were refused */
	uint64_t child_reloads[RUNSTATE_MAX_CHILDREN]; /* restarts of children[i] for a reload */
};

/* The name prefix of private rings: /dev/shm/kiln-top-private-PID. */
#define RUNSTATE_PRIVATE_PREFIX "top-private-"

/*
 * Writes the state file path for ring NAME (NULL: the default ring) into BUF. Returns 0, or
 * -EINVAL / -ENAMETOOLONG as shm__path().
 */
int runstate__path(const char *ring_name, char *buf, size_t len);

/* Atomically replaces the state file at PATH with S. Returns 0 or -errno. */
int runstate__write(const char *path, const struct runstate *s);

/*
 * Reads the state file at PATH into *S. Returns 0, -ENOENT when there is none, or -EINVAL
 * when it is malformed (a reader never trusts the file beyond its fixed fields).
 */
int runstate__read(const char *path, struct runstate *s);

/* Writes the private ring name of OWNER into BUF. Returns 0 or -ENAMETOOLONG. */
int runstate__private_ring(pid_t owner, char *buf, size_t len);

/*
 * Removes the private rings in DIR (NULL: /dev/shm) that are stale: named kiln-PREFIX-PID
 * (with their .cons file), PID is no longer a process, and the ring is a kiln ring whose
 * producer is not alive either. Anything else is never touched: other rings, a ring whose
 * owner or producer lives (even under another user), files that are not kiln rings. Logs
 * one warning naming what it removed. Returns the number of rings removed or -errno.
 */
int runstate__sweep_private(const char *dir);

#endif
