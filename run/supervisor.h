/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The process supervisor behind `kiln run`: starts each child as `kiln SUBCOMMAND ...` (a
 * fork and exec of the running binary), optionally with dropped privileges, restarts it with
 * exponential backoff when it exits, publishes the state file (shm/runstate.h) and stops
 * everything on SIGINT/SIGTERM. SIGHUP calls the owner's reload hook, which may signal or
 * restart children (a restart for a reload is counted apart from crashes). One thread; signals arrive through a signalfd so that no
 * work happens in a signal handler.
 */
#ifndef KILN_RUN_SUPERVISOR_H
#define KILN_RUN_SUPERVISOR_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* Who a child runs as. */
struct sup_creds {
	bool drop; /* false: the child keeps the supervisor's credentials */
	uid_t uid;
	gid_t gid;
	gid_t groups[2]; /* supplementary groups, e.g. the ring's group */
	int nr_groups;
};

struct supervisor_opts {
	const char *ring; /* ring name or path: the state file's place and the readiness probe */
	uint64_t grace_ns; /* SIGTERM -> SIGKILL at stop; 0: 10 s */
	uint64_t backoff_min_ns; /* first restart delay; 0: 0.5 s */
	uint64_t backoff_max_ns; /* cap of the doubling; 0: 30 s */
	uint64_t stable_ns; /* a child that ran this long restarts at backoff_min; 0: 60 s */
	uint64_t ring_wait_ns; /* consumers wait this long for the ring, then start anyway; 0: 10 s */
	void (*on_hup)(void *ctx); /* called on SIGHUP (not while stopping); NULL: ignored */
	void *ctx;
};

struct supervisor;

/*
 * Creates a supervisor and blocks SIGINT, SIGTERM and SIGCHLD into its signalfd. Returns 0
 * and *OUT (free with supervisor__free()), or -errno.
 */
int supervisor__new(struct supervisor **out, const struct supervisor_opts *opts);

/*
 * Registers child NAME (at most 15 characters), run as `kiln ARGV[1] ...` (ARGV is
 * NULL-terminated and copied). CREDS NULL: keeps the supervisor's credentials. NEEDS_RING:
 * started only once the ring exists (or ring_wait_ns has passed). Returns 0, -E2BIG when
 * RUNSTATE_MAX_CHILDREN are registered, -EINVAL or -ENOMEM.
 */
int supervisor__add(struct supervisor *s, const char *name, char *const argv[],
		    const struct sup_creds *creds, bool needs_ring);

/*
 * Runs until SIGINT/SIGTERM: starts the children, restarts them, keeps the state file. On
 * the first signal forwards SIGTERM to every child and waits up to grace_ns (then SIGKILL);
 * a second signal SIGKILLs them at once. Removes the state file before returning. Returns 0
 * after a clean stop, -EINTR when the children had to be killed, or -errno.
 */
int supervisor__run(struct supervisor *s);

/* Descriptors one child may inherit. */
#define SUP_MAX_KEEP_FDS 8

/*
 * Child NAME inherits FD (open, close-on-exec, owned by the caller, kept open while S runs)
 * under the same number, at every start. Returns 0, -ENOENT (no such child) or -E2BIG.
 */
int supervisor__keep_fd(struct supervisor *s, const char *name, int fd);

/* Sends SIG to child NAME if it runs. Returns 0, -ESRCH (not running) or -ENOENT (no such child). */
int supervisor__signal(struct supervisor *s, const char *name, int sig);

/*
 * Restarts child NAME for a config reload: SIGTERM (SIGKILL after grace_ns), then started
 * again at once, counted as a reload and not as a restart. A child waiting in backoff is
 * started at once. Returns 0 or -ENOENT.
 */
int supervisor__restart(struct supervisor *s, const char *name);

/* Counts one config reload, applied (OK) or refused, for the summary and the state file. */
void supervisor__note_reload(struct supervisor *s, bool ok);

/* Prints run time, reloads and, per child, restarts, reloads and last exit to F. */
void supervisor__print_summary(const struct supervisor *s, FILE *f);

/* Restores the signal mask and frees S; children are not touched. NULL is a no-op. */
void supervisor__free(struct supervisor *s);

#endif
