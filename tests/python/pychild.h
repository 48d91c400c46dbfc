/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A Python interpreter as a child process for the tests: stdin and stdout on pipes, lines
 * read with a deadline (a stuck child fails the test instead of hanging it).
 */
#ifndef KILN_TESTS_PYCHILD_H
#define KILN_TESTS_PYCHILD_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct pychild {
	pid_t pid;
	int in_fd, out_fd;
	char buf[65536];
	size_t len;
};

static inline uint64_t pychild_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Starts ARGV (argv[0] a path) with PYTHONIOENCODING=utf-8. Returns 0 or -errno. */
static inline int pychild_start(struct pychild *c, char *const argv[])
{
	int in[2], out[2];

	memset(c, 0, sizeof(*c));
	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC))
		return -errno;
	c->pid = fork();
	if (c->pid < 0)
		return -errno;
	if (!c->pid) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		setenv("PYTHONIOENCODING", "utf-8", 1);
		unsetenv("PYTHONPATH");
		execv(argv[0], argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	c->in_fd = in[1];
	c->out_fd = out[0];
	return 0;
}

/* Reads one line (without its newline) into LINE. Returns 0, -ETIMEDOUT or -EPIPE. */
static inline int pychild_line(struct pychild *c, char *line, size_t size, int timeout_ms)
{
	uint64_t deadline = pychild_now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		struct pollfd pfd = { c->out_fd, POLLIN, 0 };
		uint64_t now;
		ssize_t n;

		if (nl) {
			size_t l = (size_t)(nl - c->buf);

			snprintf(line, size, "%.*s", (int)l, c->buf);
			memmove(c->buf, nl + 1, c->len - l - 1);
			c->len -= l + 1;
			return 0;
		}
		now = pychild_now_ms();
		if (now >= deadline)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, (int)(deadline - now)) <= 0)
			continue;
		if (c->len == sizeof(c->buf))
			return -E2BIG;
		n = read(c->out_fd, c->buf + c->len, sizeof(c->buf) - c->len);
		if (n <= 0)
			return -EPIPE;
		c->len += (size_t)n;
	}
}

/* Closes stdin (the helpers exit then), waits; kills after a deadline. Returns the status. */
static inline int pychild_stop(struct pychild *c)
{
	uint64_t deadline = pychild_now_ms() + 10000;
	int status = -1;

	if (c->pid <= 0)
		return -1;
	close(c->in_fd);
	while (waitpid(c->pid, &status, WNOHANG) == 0) {
		struct pollfd pfd = { c->out_fd, POLLIN, 0 };
		char sink[4096];

		if (pychild_now_ms() > deadline) {
			kill(c->pid, SIGKILL);
			waitpid(c->pid, &status, 0);
			break;
		}
		/* drain its output so that it never blocks writing while we wait */
		if (poll(&pfd, 1, 50) > 0 && read(c->out_fd, sink, sizeof(sink)) <= 0)
			waitpid(c->pid, &status, 0);
	}
	close(c->out_fd);
	c->pid = 0;
	return status;
}

#endif
