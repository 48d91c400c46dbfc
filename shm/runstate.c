// SPDX-License-Identifier: Apache-2.0
/* The `kiln run` state file: see runstate.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shm/runstate.h"
#include "shm/shm.h"

#define RUNSTATE_MAX_BYTES 8192

int runstate__path(const char *ring_name, char *buf, size_t len)
{
	char seg[256];
	int err = shm__path(ring_name, seg, sizeof(seg));

	if (err)
		return err;
	if ((size_t)snprintf(buf, len, "%s.run", seg) >= len)
		return -ENAMETOOLONG;
	return 0;
}

int runstate__write(const char *path, const struct runstate *s)
{
	char tmp[300];
	FILE *f = NULL;
	int i, err = 0, fd = -1;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	/* The umask must not narrow it: status runs as an ordinary user. */
	if (fchmod(fd, 0644)) {
		err = -errno;
		close(fd);
		goto cleanup;
	}
	f = fdopen(fd, "w");
	if (!f) {
		err = -errno;
		close(fd);
		goto cleanup;
	}
	fprintf(f, "kiln-run 1\nsupervisor %d %" PRIu64 "\n", (int)s->supervisor_pid, s->start_ns);
	for (i = 0; i < s->nr_children && i < RUNSTATE_MAX_CHILDREN; i++) {
		const struct runstate_child *c = &s->children[i];

		fprintf(f, "child %s %d %s %" PRIu64 " %" PRIu64 " %s\n", c->name, (int)c->pid,
			c->state[0] ? c->state : "stopped", c->restarts, c->start_ns,
			c->last_exit[0] ? c->last_exit : "-");
	}
	if (fflush(f) || ferror(f))
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
cleanup:
	if (err)
		unlink(tmp);
	return err;
}

/* Copies the token at *P (up to a space or the end of line) into DST; false if empty or long. */
static bool token(const char **p, char *dst, size_t len)
{
	size_t n = strcspn(*p, " \n");

	if (!n || n >= len)
		return false;
	memcpy(dst, *p, n);
	dst[n] = 0;
	*p += n;
	if (**p == ' ')
		(*p)++;
	return true;
}

static bool number(const char **p, uint64_t *v)
{
	char buf[24], *end;

	if (!token(p, buf, sizeof(buf)))
		return false;
	errno = 0;
	*v = strtoull(buf, &end, 10);
	return !errno && !*end && buf[0] != '-';
}

int runstate__read(const char *path, struct runstate *s)
{
	char buf[RUNSTATE_MAX_BYTES + 1];
	const char *p, *nl;
	ssize_t n;
	uint64_t v;
	int fd;

	memset(s, 0, sizeof(*s));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, RUNSTATE_MAX_BYTES);
	close(fd);
	if (n < 0)
		return -EIO;
	buf[n] = 0;
	if (strncmp(buf, "kiln-run 1\n", 11))
		return -EINVAL;
	for (p = buf + 11; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		if (!nl)
			return -EINVAL;
		if (!strncmp(p, "supervisor ", 11)) {
			p += 11;
			if (!number(&p, &v) || v > INT32_MAX)
				return -EINVAL;
			s->supervisor_pid = (pid_t)v;
			if (!number(&p, &s->start_ns))
				return -EINVAL;
		} else if (!strncmp(p, "child ", 6)) {
			struct runstate_child *c;

			if (s->nr_children >= RUNSTATE_MAX_CHILDREN)
				return -EINVAL;
			c = &s->children[s->nr_children];
			p += 6;
			if (!token(&p, c->name, sizeof(c->name)) || !number(&p, &v) ||
			    v > INT32_MAX)
				return -EINVAL;
			c->pid = (pid_t)v;
			if (!token(&p, c->state, sizeof(c->state)) || !number(&p, &c->restarts) ||
			    !number(&p, &c->start_ns) ||
			    !token(&p, c->last_exit, sizeof(c->last_exit)))
				return -EINVAL;
			s->nr_children++;
		} else {
			return -EINVAL;
		}
		if (p != nl)
			return -EINVAL;
	}
	return s->supervisor_pid ? 0 : -EINVAL;
}
