// SPDX-License-Identifier: Apache-2.0
#include "aggregator/loop.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <liburing.h>

#include "common/log.h"

enum tag {
	TAG_TICK = 1,
	TAG_DEADLINE,
	TAG_EVENTS,
	TAG_SIGNAL,
	TAG_CHILD,
	TAG_WATCH,
};

struct loop {
	struct io_uring ring;
	int tick_fd, deadline_fd, sig_fd;
	uint64_t tick_buf, deadline_buf;
	struct signalfd_siginfo si;
};

static int arm_read(struct loop *l, int fd, void *buf, unsigned int len, enum tag tag)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_read(sqe, fd, buf, len, 0);
	io_uring_sqe_set_data64(sqe, tag);
	return 0;
}

static int arm_poll(struct loop *l, int fd, enum tag tag)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);

	if (!sqe)
		return -EBUSY;
	/* One-shot poll, re-armed after each completion: works on every io_uring kernel. */
	io_uring_prep_poll_add(sqe, fd, POLLIN);
	io_uring_sqe_set_data64(sqe, tag);
	return 0;
}

static int timer_fd(uint64_t first_ns, uint64_t interval_ns)
{
	struct itimerspec its = {
		.it_value = { .tv_sec = first_ns / 1000000000ull,
			      .tv_nsec = first_ns % 1000000000ull },
		.it_interval = { .tv_sec = interval_ns / 1000000000ull,
				 .tv_nsec = interval_ns % 1000000000ull },
	};
	int fd;

	fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (timerfd_settime(fd, 0, &its, NULL)) {
		close(fd);
		return -errno;
	}
	return fd;
}

int drain_loop__run(struct sampler *s, const struct drain_loop_opts *opts,
		    enum drain_loop_stop *why, int *signo)
{
	struct loop l = { .tick_fd = -1, .deadline_fd = -1, .sig_fd = -1 };
	uint64_t window_ns = (opts->window_ms ? opts->window_ms : 1000) * 1000000ull;
	enum drain_loop_stop stop = 0;
	struct io_uring_cqe *cqe;
	bool ring_ok = false;
	sigset_t mask, old;
	int err, res, sig = 0;
	uint64_t tag;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, &old))
		return -errno;
	l.sig_fd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (l.sig_fd < 0) {
		err = -errno;
		goto cleanup;
	}
	l.tick_fd = timer_fd(window_ns, window_ns);
	if (l.tick_fd < 0) {
		err = l.tick_fd;
		goto cleanup;
	}
	if (opts->duration_ns) {
		l.deadline_fd = timer_fd(opts->duration_ns, 0);
		if (l.deadline_fd < 0) {
			err = l.deadline_fd;
			goto cleanup;
		}
	}
	err = io_uring_queue_init(8, &l.ring, 0);
	if (err)
		goto cleanup;
	ring_ok = true;

	err = arm_read(&l, l.tick_fd, &l.tick_buf, sizeof(l.tick_buf), TAG_TICK);
	if (!err)
		err = arm_read(&l, l.sig_fd, &l.si, sizeof(l.si), TAG_SIGNAL);
	if (!err)
		err = arm_poll(&l, sampler__events_fd(s), TAG_EVENTS);
	if (!err && l.deadline_fd >= 0)
		err = arm_read(&l, l.deadline_fd, &l.deadline_buf, sizeof(l.deadline_buf),
			       TAG_DEADLINE);
	if (!err && opts->child_pidfd >= 0)
		err = arm_poll(&l, opts->child_pidfd, TAG_CHILD);
	if (!err && opts->on_watch)
		err = arm_poll(&l, opts->watch_fd, TAG_WATCH);
	if (err)
		goto cleanup;

	while (!stop) {
		err = io_uring_submit_and_wait(&l.ring, 1);
		if (err < 0) {
			if (err == -EINTR)
				continue;
			goto cleanup;
		}
		err = io_uring_peek_cqe(&l.ring, &cqe);
		if (err)
			goto cleanup;
		tag = io_uring_cqe_get_data64(cqe);
		res = cqe->res;
		io_uring_cqe_seen(&l.ring, cqe);
		if (res < 0 && res != -EINTR && res != -EAGAIN) {
			log_error("event loop: operation %llu failed: %s", (unsigned long long)tag,
				  strerror(-res));
			err = res;
			stop = DRAIN_STOP_ERROR;
			break;
		}
		switch (tag) {
		case TAG_TICK:
			err = sampler__drain(s, opts->on_window, opts->ctx);
			if (err) {
				stop = DRAIN_STOP_ERROR;
				break;
			}
			err = arm_read(&l, l.tick_fd, &l.tick_buf, sizeof(l.tick_buf), TAG_TICK);
			break;
		case TAG_DEADLINE:
			stop = DRAIN_STOP_DURATION;
			break;
		case TAG_EVENTS:
			err = sampler__poll_events(s);
			if (err >= 0)
				err = arm_poll(&l, sampler__events_fd(s), TAG_EVENTS);
			break;
		case TAG_CHILD:
			stop = DRAIN_STOP_CHILD;
			break;
		case TAG_WATCH:
			err = opts->on_watch(opts->ctx);
			if (err >= 0)
				err = arm_poll(&l, opts->watch_fd, TAG_WATCH);
			break;
		case TAG_SIGNAL:
			if (l.si.ssi_signo == SIGHUP) {
				if (opts->on_hup)
					opts->on_hup(opts->ctx);
				err = arm_read(&l, l.sig_fd, &l.si, sizeof(l.si), TAG_SIGNAL);
				break;
			}
			sig = (int)l.si.ssi_signo;
			stop = DRAIN_STOP_SIGNAL;
			break;
		default:
			break;
		}
		if (err < 0) {
			stop = DRAIN_STOP_ERROR;
			break;
		}
		err = 0;
	}
	if (stop != DRAIN_STOP_ERROR) {
		/*
		 * Stop sampling, then drain the last, partial window: nothing sampled before the
		 * stop is lost, and every counted sample is in some window.
		 */
		sampler__detach(s);
		err = sampler__drain(s, opts->on_window, opts->ctx);
	}
cleanup:
	if (ring_ok)
		io_uring_queue_exit(&l.ring);
	if (l.tick_fd >= 0)
		close(l.tick_fd);
	if (l.deadline_fd >= 0)
		close(l.deadline_fd);
	if (l.sig_fd >= 0)
		close(l.sig_fd);
	/* A second signal from now on acts at once (default action), as users expect. */
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (why)
		*why = stop;
	if (signo)
		*signo = sig;
	return err;
}
