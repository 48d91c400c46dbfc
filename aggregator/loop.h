/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's event loop on io_uring: a timerfd ticks the windows, the BPF ring buffer's
 * epoll fd brings process events, a signalfd brings SIGINT/SIGTERM/SIGHUP, optionally
 * a pidfd says when a profiled command has exited and another fd brings mapping events.
 */
#ifndef KILN_AGGREGATOR_LOOP_H
#define KILN_AGGREGATOR_LOOP_H

#include <stddef.h>
#include <stdint.h>

#include "aggregator/sampler.h"

struct drain_loop_opts {
	size_t sz; /* sizeof(struct drain_loop_opts) */
	unsigned int window_ms; /* window length; 0 means 1000 */
	uint64_t duration_ns; /* stop after this long; 0 means no limit */
	int child_pidfd; /* stop once this process exits; -1 for none */
	/* Called with every drained window; a non-zero return stops the loop with it. */
	int (*on_window)(const struct kiln_window *w, void *ctx);
	/* Called on SIGHUP (config reload); may be NULL. */
	void (*on_hup)(void *ctx);
	void *ctx;
	/*
	 * When set, WATCH_FD is polled too and ON_WATCH called when it is readable (the
	 * mapping events); a negative return stops the loop with that error.
	 */
	int (*on_watch)(void *ctx);
	int watch_fd;
};

enum drain_loop_stop {
	DRAIN_STOP_SIGNAL = 1,
	DRAIN_STOP_DURATION,
	DRAIN_STOP_CHILD,
	DRAIN_STOP_ERROR,
};

/*
 * Runs until SIGINT/SIGTERM, the duration, the child's exit or an error, then drains the
 * last (partial) window. SIGINT, SIGTERM and SIGHUP are blocked while it runs and their
 * default actions restored on return, so a second signal during the caller's final work
 * ends the process at once. Returns 0 or -errno; *WHY (optional) says what stopped it and
 * *SIGNO (optional) which signal.
 */
int drain_loop__run(struct sampler *s, const struct drain_loop_opts *opts,
		    enum drain_loop_stop *why, int *signo);

#endif
