// SPDX-License-Identifier: Apache-2.0
/* The `kiln run` state file: see runstate.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <dirent.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
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

/* A field the reader can split back out: non-empty, printable, no spaces. */
static bool field_ok(const char *s, size_t max)
{
	size_t n = strnlen(s, max);

	if (!n || n >= max)
		return false;
	for (; *s; s++)
		if (*s <= ' ' || *s == 0x7f)
			return false;
	return true;
}

static bool state_ok(const char *s)
{
	return !strcmp(s, "running") || !strcmp(s, "backoff") || !strcmp(s, "stopped");
}

int runstate__write(const char *path, const struct runstate *s)
{
	char tmp[300];
	FILE *f = NULL;
	int i, err = 0, fd = -1;

	if (s->supervisor_pid <= 0 || s->nr_children < 0 || s->nr_children > RUNSTATE_MAX_CHILDREN)
		return -EINVAL;
	for (i = 0; i < s->nr_children; i++) {
		const struct runstate_child *c = &s->children[i];

		if (!field_ok(c->name, sizeof(c->name)) || c->pid < 0 ||
		    (c->state[0] && !state_ok(c->state)) ||
		    (c->last_exit[0] && !field_ok(c->last_exit, sizeof(c->last_exit))))
			return -EINVAL;
	}
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	/*
	 * /dev/shm is world-writable: a file someone else left under the temporary name is
	 * removed, and O_EXCL makes sure the one written is ours.
	 */
	if (unlink(tmp) && errno != ENOENT)
		return -errno;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
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
	for (i = 0; i < s->nr_children; i++) {
		const struct runstate_child *c = &s->children[i];

		fprintf(f, "child %s %d %s %" PRIu64 " %" PRIu64 " %s\n", c->name, (int)c->pid,
			c->state[0] ? c->state : "stopped", c->restarts, c->start_ns,
			c->last_exit[0] ? c->last_exit : "-");
	}
	/* Only after a reload: older readers reject lines they do not know. */
	if (s->reloads || s->reload_failures) {
		fprintf(f, "reloads %" PRIu64 " %" PRIu64 "\n", s->reloads, s->reload_failures);
		for (i = 0; i < s->nr_children; i++)
			if (s->child_reloads[i])
				fprintf(f, "reloaded %s %" PRIu64 "\n", s->children[i].name,
					s->child_reloads[i]);
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
	/* No control characters: `kiln status` prints these to a terminal. */
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)(*p)[i] < ' ' || (*p)[i] == 0x7f)
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

	if (!token(p, buf, sizeof(buf)) || buf[0] < '0' || buf[0] > '9')
		return false;
	errno = 0;
	*v = strtoull(buf, &end, 10);
	return !errno && !*end;
}

/* Parses the NUL-terminated BUF into *S (zeroed by the caller). Returns 0 or -EINVAL. */
static int parse(const char *buf, struct runstate *s)
{
	const char *p, *nl;
	bool have_supervisor = false, have_reloads = false;
	uint64_t v;
	int i;

	if (strncmp(buf, "kiln-run 1\n", 11))
		return -EINVAL;
	for (p = buf + 11; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		if (!nl)
			return -EINVAL;
		if (nl > p && nl[-1] == ' ')
			return -EINVAL;
		if (!strncmp(p, "supervisor ", 11)) {
			if (have_supervisor)
				return -EINVAL;
			have_supervisor = true;
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
			if (!token(&p, c->state, sizeof(c->state)) || !state_ok(c->state) ||
			    !number(&p, &c->restarts) || !number(&p, &c->start_ns) ||
			    !token(&p, c->last_exit, sizeof(c->last_exit)))
				return -EINVAL;
			s->nr_children++;
		} else if (!strncmp(p, "reloads ", 8)) {
			if (have_reloads)
				return -EINVAL;
			have_reloads = true;
			p += 8;
			if (!number(&p, &s->reloads) || !number(&p, &s->reload_failures))
				return -EINVAL;
		} else if (!strncmp(p, "reloaded ", 9)) {
			char name[16];

			p += 9;
			if (!token(&p, name, sizeof(name)) || !number(&p, &v))
				return -EINVAL;
			/* After the child lines, naming one of them, once. */
			for (i = 0; i < s->nr_children && strcmp(s->children[i].name, name); i++)
				;
			if (i == s->nr_children || s->child_reloads[i])
				return -EINVAL;
			s->child_reloads[i] = v;
		} else {
			return -EINVAL;
		}
		if (p != nl)
			return -EINVAL;
	}
	return s->supervisor_pid ? 0 : -EINVAL;
}

int runstate__read(const char *path, struct runstate *s)
{
	char buf[RUNSTATE_MAX_BYTES + 2];
	struct stat st;
	ssize_t n;
	int fd, err;

	memset(s, 0, sizeof(*s));
	/* O_NONBLOCK: a FIFO planted under the name must not hang `kiln status`. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0)
		return -EIO;
	/* Longer than any state file the writer makes, or holding a NUL: not ours. */
	if (n > RUNSTATE_MAX_BYTES || memchr(buf, 0, (size_t)n))
		return -EINVAL;
	buf[n] = 0;
	err = parse(buf, s);
	if (err)
		memset(s, 0, sizeof(*s));
	return err;
}

int runstate__private_ring(pid_t owner, char *buf, size_t len)
{
	if (owner <= 0)
		return -EINVAL;
	if ((size_t)snprintf(buf, len, "%s%d", RUNSTATE_PRIVATE_PREFIX, (int)owner) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/*
 * kill(pid, 0): EPERM means the process exists under another user, so it is alive. A zombie
 * is not: it will never touch the ring again, and an orphaned agent may stay one for a while
 * before its new parent reaps it.
 */
static bool pid_alive(long pid)
{
	char path[64], buf[256], *p;
	ssize_t n;
	int fd;

	if (pid <= 0 || pid > INT32_MAX || (kill((pid_t)pid, 0) && errno != EPERM))
		return false;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno != ENOENT;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = 0;
	/* "PID (COMM) S ...": COMM may hold spaces and parentheses, the state follows the last ')'. */
	p = strrchr(buf, ')');
	return !(p && p[1] == ' ' && p[2] == 'Z');
}

/* The owner pid of a private ring's segment file name, or 0 when NAME is none. */
static long private_owner(const char *name)
{
	static const char prefix[] = "kiln-" RUNSTATE_PRIVATE_PREFIX;
	const char *p = name + sizeof(prefix) - 1;
	char *end;
	long pid;

	if (strncmp(name, prefix, sizeof(prefix) - 1) || *p < '1' || *p > '9')
		return 0;
	errno = 0;
	pid = strtol(p, &end, 10);
	/* The segment itself only: its .cons (and any other file) goes with it or not at all. */
	if (errno || *end || pid > INT32_MAX)
		return 0;
	return pid;
}

int runstate__sweep_private(const char *dir)
{
	char path[PATH_MAX], removed[512] = "";
	struct shm_view *v = NULL;
	struct dirent *de;
	size_t off = 0;
	int n = 0, err;
	int32_t producer;
	long owner;
	DIR *d;

	if (!dir)
		dir = "/dev/shm";
	d = opendir(dir);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		owner = private_owner(de->d_name);
		if (!owner || pid_alive(owner))
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= sizeof(path))
			continue;
		/* A kiln ring (its header checks out) whose producer is gone too, nothing else. */
		if (shm_view__open(&v, path))
			continue;
		producer = atomic_load(&shm_view__hdr(v)->producer_pid);
		shm_view__free(v);
		v = NULL;
		if (pid_alive(producer))
			continue;
		err = shm__unlink(path);
		/* Another user's (the sticky /dev/shm): theirs to remove, said by nobody. */
		if (err == -EPERM || err == -EACCES)
			continue;
		if (err && err != -ENOENT) {
			log_warn("removing stale private ring %s: %s", path, strerror(-err));
			continue;
		}
		n++;
		if (off < sizeof(removed))
			off += (size_t)snprintf(removed + off, sizeof(removed) - off,
						"%s%s (pid %ld)", n > 1 ? ", " : "", path, owner);
	}
	closedir(d);
	if (n)
		log_warn("removed %d stale private ring%s of kiln top processes that are gone: %s",
			 n, n > 1 ? "s" : "", removed);
	return n;
}
