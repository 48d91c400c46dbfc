// SPDX-License-Identifier: Apache-2.0
/* The `kiln run` process supervisor: see supervisor.h. */
#include "run/supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "shm/runstate.h"
#include "shm/shm.h"

#define NS_PER_SEC 1000000000ull
#define NS_PER_MS 1000000ull
/* How often a consumer waiting for the ring re-checks it. */
#define RING_POLL_NS (100 * NS_PER_MS)

extern char **environ;

enum child_state {
	CHILD_PENDING, /* not started yet, or waiting for the ring */
	CHILD_RUNNING,
	CHILD_BACKOFF, /* exited, restarts at next_start_ns */
	CHILD_STOPPED,
};

struct child {
	char name[16];
	char **argv;
	struct sup_creds creds;
	bool needs_ring;
	int keep_fds[SUP_MAX_KEEP_FDS]; /* inherited across exec (see supervisor__keep_fd) */
	int nr_keep_fds;
	enum child_state state;
	pid_t pid;
	uint64_t starts; /* successful forks; restarts = starts - 1 */
	uint64_t spawn_errors;
	uint64_t start_mono_ns, start_wall_ns;
	uint64_t next_start_ns; /* monotonic */
	uint64_t backoff_ns; /* the delay the next exit will wait */
	uint64_t reloads; /* starts that were for a config reload, not after a crash */
	bool reload_pending; /* SIGTERMed for a reload: its exit is no crash */
	bool reload_start; /* the next start is for a reload */
	uint64_t reload_kill_at_ns; /* monotonic: SIGKILL if it has not exited by then */
	char last_exit[32];
};

struct supervisor {
	struct supervisor_opts o;
	struct child c[RUNSTATE_MAX_CHILDREN];
	int nr;
	int sfd;
	int exe_fd;
	char exe[PATH_MAX];
	int cap_last;
	sigset_t oldmask;
	bool mask_set;
	char state_path[320];
	uint64_t start_wall_ns, start_mono_ns, stop_mono_ns;
	uint64_t ring_deadline_ns;
	uint64_t state_write_errors;
	uint64_t reloads, reload_failures;
	bool stopping, killed;
	uint64_t kill_at_ns;
};

/* Starts after the first that followed a crash (reload starts are not restarts). */
static uint64_t restarts(const struct child *c)
{
	return c->starts > c->reloads ? c->starts - 1 - c->reloads : 0;
}

int supervisor__new(struct supervisor **out, const struct supervisor_opts *opts)
{
	struct supervisor *s = NULL;
	sigset_t mask;
	uint64_t v;
	ssize_t n;
	int err;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->sfd = -1;
	s->exe_fd = -1;
	s->o = *opts;
	if (!s->o.grace_ns)
		s->o.grace_ns = 10 * NS_PER_SEC;
	if (!s->o.backoff_min_ns)
		s->o.backoff_min_ns = NS_PER_SEC / 2;
	if (!s->o.backoff_max_ns)
		s->o.backoff_max_ns = 30 * NS_PER_SEC;
	if (!s->o.stable_ns)
		s->o.stable_ns = 60 * NS_PER_SEC;
	if (!s->o.ring_wait_ns)
		s->o.ring_wait_ns = 10 * NS_PER_SEC;
	err = runstate__path(s->o.ring, s->state_path, sizeof(s->state_path));
	if (err)
		goto cleanup;
	/*
	 * The children run this very binary. The path is what exec uses (so that comm and
	 * /proc/PID/exe read "kiln"); the O_PATH handle is the fallback when the file was
	 * replaced on disk (a rebuild) while we run.
	 */
	n = readlink("/proc/self/exe", s->exe, sizeof(s->exe) - 1);
	if (n < 0) {
		err = -errno;
		goto cleanup;
	}
	s->exe[n] = 0;
	s->exe_fd = open("/proc/self/exe", O_PATH | O_CLOEXEC);
	if (s->exe_fd < 0) {
		err = -errno;
		goto cleanup;
	}
	/* Read before forking: the child must not do file I/O between fork and exec. */
	s->cap_last = read_u64_file("/proc/sys/kernel/cap_last_cap", &v) || v > 63 ? 40 : (int)v;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, &s->oldmask)) {
		err = -errno;
		goto cleanup;
	}
	s->mask_set = true;
	s->sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (s->sfd < 0) {
		err = -errno;
		goto cleanup;
	}
	*out = s;
	return 0;
cleanup:
	supervisor__free(s);
	return err;
}

int supervisor__add(struct supervisor *s, const char *name, char *const argv[],
		    const struct sup_creds *creds, bool needs_ring)
{
	struct child *c;
	int n = 0, i;

	if (!name || strlen(name) >= sizeof(c->name) || strpbrk(name, " \n") || !argv || !argv[0])
		return -EINVAL;
	if (s->nr >= RUNSTATE_MAX_CHILDREN)
		return -E2BIG;
	c = &s->c[s->nr];
	memset(c, 0, sizeof(*c));
	while (argv[n])
		n++;
	c->argv = calloc((size_t)n + 1, sizeof(*c->argv));
	if (!c->argv)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		c->argv[i] = strdup(argv[i]);
		if (!c->argv[i]) {
			while (i--)
				free(c->argv[i]);
			free(c->argv);
			c->argv = NULL;
			return -ENOMEM;
		}
	}
	snprintf(c->name, sizeof(c->name), "%s", name);
	if (creds)
		c->creds = *creds;
	c->needs_ring = needs_ring;
	c->state = CHILD_PENDING;
	c->backoff_ns = s->o.backoff_min_ns;
	snprintf(c->last_exit, sizeof(c->last_exit), "-");
	s->nr++;
	return 0;
}

static const char *state_name(enum child_state st)
{
	switch (st) {
	case CHILD_RUNNING:
		return "running";
	case CHILD_BACKOFF:
	case CHILD_PENDING:
		return "backoff";
	default:
		return "stopped";
	}
}

static void publish(struct supervisor *s)
{
	struct runstate rs = { .supervisor_pid = getpid(), .start_ns = s->start_wall_ns };
	int i, err;

	for (i = 0; i < s->nr; i++) {
		struct runstate_child *rc = &rs.children[i];
		const struct child *c = &s->c[i];

		snprintf(rc->name, sizeof(rc->name), "%s", c->name);
		rc->pid = c->state == CHILD_RUNNING ? c->pid : 0;
		snprintf(rc->state, sizeof(rc->state), "%s", state_name(c->state));
		rc->restarts = restarts(c);
		rc->start_ns = c->start_wall_ns;
		snprintf(rc->last_exit, sizeof(rc->last_exit), "%s", c->last_exit);
	}
	rs.nr_children = s->nr;
	rs.reloads = s->reloads;
	rs.reload_failures = s->reload_failures;
	for (i = 0; i < s->nr; i++)
		rs.child_reloads[i] = s->c[i].reloads;
	err = runstate__write(s->state_path, &rs);
	if (err) {
		/* Counted and shown in the summary; the run itself goes on. */
		if (!s->state_write_errors++)
			log_warn("state file %s: %s", s->state_path, strerror(-err));
	}
}

/* In the child, between fork and exec: only system calls, then exec or _exit. */
static void __attribute__((noreturn))
child_exec(struct supervisor *s, struct child *c, pid_t parent)
{
	const struct sup_creds *cr = &c->creds;
	sigset_t none;
	int cap;

	/* Out of the terminal's process group: Ctrl-C reaches the supervisor only, which
	 * then stops the children in order instead of them all racing to exit. */
	setpgid(0, 0);
	if (cr->drop) {
		/* Empty the bounding set while still privileged, so nothing can come back. */
		for (cap = 0; cap <= s->cap_last; cap++)
			prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
		if (setgroups((size_t)cr->nr_groups, cr->groups) || setgid(cr->gid) ||
		    setuid(cr->uid)) {
			dprintf(2, "kiln run: %s: dropping privileges to uid %u: %s\n", c->name,
				(unsigned)cr->uid, strerror(errno));
			_exit(127);
		}
		if (setuid(0) == 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
			dprintf(2, "kiln run: %s: privileges were not dropped\n", c->name);
			_exit(127);
		}
		/* The working directory may be closed to the user; every path is absolute. */
		if (chdir("/"))
			_exit(127);
	}
	/* After the credential change: changing uid/gid clears the parent-death signal. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0))
		_exit(127);
	/* The supervisor may have died before the line above: then nobody would signal us. */
	if (getppid() != parent)
		_exit(127);
	/*
	 * The signalfd's mask is inherited across exec; the child needs its signals back, all
	 * but SIGHUP: a reload's SIGHUP that reaches the agent before its loop watches for it
	 * must wait (pending) rather than kill it; export and ui do not use SIGHUP at all.
	 */
	sigemptyset(&none);
	sigaddset(&none, SIGHUP);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* Only this child's descriptors lose close-on-exec: the others keep none of them. */
	for (cap = 0; cap < c->nr_keep_fds; cap++)
		if (fcntl(c->keep_fds[cap], F_SETFD, 0))
			_exit(127);
	execve(s->exe, c->argv, environ);
	syscall(SYS_execveat, s->exe_fd, "", c->argv, environ, AT_EMPTY_PATH);
	dprintf(2, "kiln run: %s: exec %s: %s\n", c->name, s->exe, strerror(errno));
	_exit(127);
}

static void spawn(struct supervisor *s, struct child *c)
{
	pid_t parent = getpid(), pid;

	pid = fork();
	if (pid < 0) {
		c->spawn_errors++;
		log_error("%s: fork: %s; retrying in %.1f s", c->name, strerror(errno),
			  (double)c->backoff_ns / 1e9);
		c->state = CHILD_BACKOFF;
		c->next_start_ns = mono_ns() + c->backoff_ns;
		return;
	}
	if (pid == 0)
		child_exec(s, c, parent);
	c->pid = pid;
	c->starts++;
	c->state = CHILD_RUNNING;
	c->start_mono_ns = mono_ns();
	c->start_wall_ns = wall_ns();
	if (c->reload_start) {
		c->reload_start = false;
		c->reloads++;
		log_info("%s started again for the config reload as pid %d", c->name, (int)pid);
	} else if (c->starts > 1)
		log_warn("%s restarted as pid %d (restart %llu)", c->name, (int)pid,
			 (unsigned long long)restarts(c));
	else
		log_info("%s started as pid %d", c->name, (int)pid);
	publish(s);
}

static bool ring_ready(const struct supervisor *s)
{
	struct shm_view *v = NULL;

	if (shm_view__open(&v, s->o.ring))
		return false;
	shm_view__free(v);
	return true;
}

/* Starts what is due. Returns the monotonic time of the next thing to do (UINT64_MAX: none). */
static uint64_t start_due(struct supervisor *s)
{
	uint64_t now = mono_ns(), next = UINT64_MAX;
	bool ready = false, probed = false;
	int i;

	for (i = 0; i < s->nr; i++) {
		struct child *c = &s->c[i];

		if (c->state != CHILD_PENDING && c->state != CHILD_BACKOFF)
			continue;
		if (now < c->next_start_ns) {
			next = c->next_start_ns < next ? c->next_start_ns : next;
			continue;
		}
		/* Only the first start waits for the ring: a restart finds it there. */
		if (c->needs_ring && c->state == CHILD_PENDING) {
			if (!probed) {
				ready = ring_ready(s);
				probed = true;
			}
			if (!ready && now < s->ring_deadline_ns) {
				if (now + RING_POLL_NS < next)
					next = now + RING_POLL_NS;
				continue;
			}
			if (!ready)
				log_warn("%s: ring %s not there after %.0f s; starting it anyway "
					 "(it attaches when the ring appears)",
					 c->name, s->o.ring, (double)s->o.ring_wait_ns / 1e9);
		}
		spawn(s, c);
		if (c->state == CHILD_BACKOFF && c->next_start_ns < next)
			next = c->next_start_ns;
	}
	return next;
}

static void describe_exit(int status, char *buf, size_t len)
{
	if (WIFSIGNALED(status))
		snprintf(buf, len, "signal=%d", WTERMSIG(status));
	else
		snprintf(buf, len, "exit=%d", WEXITSTATUS(status));
}

static void reap(struct supervisor *s)
{
	uint64_t now, ran;
	int status, i;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct child *c = NULL;

		for (i = 0; i < s->nr; i++)
			if (s->c[i].state == CHILD_RUNNING && s->c[i].pid == pid)
				c = &s->c[i];
		if (!c)
			continue;
		now = mono_ns();
		ran = now - c->start_mono_ns;
		describe_exit(status, c->last_exit, sizeof(c->last_exit));
		c->pid = 0;
		if (s->stopping) {
			c->state = CHILD_STOPPED;
			publish(s);
			continue;
		}
		if (c->reload_pending) {
			/* Asked to exit for a reload: back at once, no backoff, no crash counted. */
			c->reload_pending = false;
			c->reload_start = true;
			c->state = CHILD_BACKOFF;
			c->next_start_ns = now;
			continue;
		}
		/* A child that ran well for a while starts over from the shortest delay. */
		if (ran >= s->o.stable_ns)
			c->backoff_ns = s->o.backoff_min_ns;
		c->state = CHILD_BACKOFF;
		c->next_start_ns = now + c->backoff_ns;
		log_warn("%s (pid %d) exited (%s) after %.1f s; restarting in %.1f s", c->name,
			 (int)pid, c->last_exit, (double)ran / 1e9, (double)c->backoff_ns / 1e9);
		c->backoff_ns = c->backoff_ns * 2 > s->o.backoff_max_ns ? s->o.backoff_max_ns
									: c->backoff_ns * 2;
		publish(s);
	}
}

static void signal_children(struct supervisor *s, int sig)
{
	int i;

	for (i = 0; i < s->nr; i++)
		if (s->c[i].state == CHILD_RUNNING && s->c[i].pid > 0)
			kill(s->c[i].pid, sig);
}

static void begin_stop(struct supervisor *s, int sig)
{
	int i;

	if (s->stopping) {
		if (!s->killed)
			log_warn("second signal: killing the children now");
		signal_children(s, SIGKILL);
		s->killed = true;
		return;
	}
	log_info("signal %d: stopping the children", sig);
	s->stopping = true;
	s->stop_mono_ns = mono_ns();
	s->kill_at_ns = s->stop_mono_ns + s->o.grace_ns;
	for (i = 0; i < s->nr; i++)
		if (s->c[i].state != CHILD_RUNNING)
			s->c[i].state = CHILD_STOPPED;
	/* SIGTERM in every case: each child flushes what it holds and exits 0. */
	signal_children(s, SIGTERM);
	publish(s);
}

/* SIGKILLs a child that outlived its reload's grace. Returns the next deadline, or NEXT. */
static uint64_t reload_deadlines(struct supervisor *s, uint64_t next)
{
	uint64_t now = mono_ns();
	int i;

	for (i = 0; i < s->nr; i++) {
		struct child *c = &s->c[i];

		if (c->state != CHILD_RUNNING || !c->reload_pending)
			continue;
		if (now >= c->reload_kill_at_ns) {
			log_warn("%s (pid %d) still running %.0f s after SIGTERM for the reload: "
				 "SIGKILL",
				 c->name, (int)c->pid, (double)s->o.grace_ns / 1e9);
			kill(c->pid, SIGKILL);
			c->reload_kill_at_ns = UINT64_MAX;
		} else if (c->reload_kill_at_ns < next) {
			next = c->reload_kill_at_ns;
		}
	}
	return next;
}

static struct child *find_child(struct supervisor *s, const char *name)
{
	int i;

	for (i = 0; i < s->nr; i++)
		if (!strcmp(s->c[i].name, name))
			return &s->c[i];
	return NULL;
}

int supervisor__keep_fd(struct supervisor *s, const char *name, int fd)
{
	int i;

	for (i = 0; i < s->nr; i++) {
		if (strcmp(s->c[i].name, name))
			continue;
		if (s->c[i].nr_keep_fds == SUP_MAX_KEEP_FDS)
			return -E2BIG;
		s->c[i].keep_fds[s->c[i].nr_keep_fds++] = fd;
		return 0;
	}
	return -ENOENT;
}

int supervisor__signal(struct supervisor *s, const char *name, int sig)
{
	struct child *c = find_child(s, name);

	if (!c)
		return -ENOENT;
	if (c->state != CHILD_RUNNING || c->pid <= 0)
		return -ESRCH;
	return kill(c->pid, sig) ? -errno : 0;
}

int supervisor__restart(struct supervisor *s, const char *name)
{
	struct child *c = find_child(s, name);

	if (!c)
		return -ENOENT;
	if (c->state == CHILD_RUNNING && c->pid > 0) {
		if (c->reload_pending)
			return 0; /* already on its way out: it starts with the newest file */
		c->reload_pending = true;
		c->reload_kill_at_ns = mono_ns() + s->o.grace_ns;
		kill(c->pid, SIGTERM);
	} else if (c->state == CHILD_BACKOFF) {
		/* It crashed, perhaps because of the old config: try the new one now. */
		c->next_start_ns = mono_ns();
		c->backoff_ns = s->o.backoff_min_ns;
	}
	return 0;
}

void supervisor__note_reload(struct supervisor *s, bool ok)
{
	if (ok)
		s->reloads++;
	else
		s->reload_failures++;
	publish(s);
}

static bool any_running(const struct supervisor *s)
{
	int i;

	for (i = 0; i < s->nr; i++)
		if (s->c[i].state == CHILD_RUNNING)
			return true;
	return false;
}

int supervisor__run(struct supervisor *s)
{
	struct signalfd_siginfo si;
	struct pollfd pfd;
	uint64_t next, now;
	int timeout, err = 0;
	ssize_t n;

	s->start_wall_ns = wall_ns();
	s->start_mono_ns = mono_ns();
	s->ring_deadline_ns = s->start_mono_ns + s->o.ring_wait_ns;
	publish(s);
	for (;;) {
		next = s->stopping ? (s->killed ? UINT64_MAX : s->kill_at_ns) : start_due(s);
		if (!s->stopping)
			next = reload_deadlines(s, next);
		if (s->stopping && !any_running(s))
			break;
		now = mono_ns();
		if (next == UINT64_MAX)
			timeout = -1;
		else if (next <= now)
			timeout = 0;
		else
			timeout = (int)((next - now + NS_PER_MS - 1) / NS_PER_MS);
		pfd = (struct pollfd){ .fd = s->sfd, .events = POLLIN };
		if (poll(&pfd, 1, timeout) < 0 && errno != EINTR) {
			err = -errno;
			log_error("poll: %s", strerror(-err));
			begin_stop(s, SIGTERM);
		}
		while ((n = read(s->sfd, &si, sizeof(si))) == (ssize_t)sizeof(si)) {
			if (si.ssi_signo == SIGCHLD)
				reap(s);
			else if (si.ssi_signo == SIGHUP && s->o.on_hup && !s->stopping)
				s->o.on_hup(s->o.ctx);
			else if (si.ssi_signo == SIGHUP)
				log_info("SIGHUP ignored (%s)",
					 s->stopping ? "stopping" : "no config file to reload");
			else
				begin_stop(s, (int)si.ssi_signo);
		}
		/* A SIGCHLD may coalesce with one already read: reaping is cheap, always do it. */
		reap(s);
		if (s->stopping && !s->killed && mono_ns() >= s->kill_at_ns && any_running(s)) {
			log_warn("children still running %.0f s after SIGTERM: SIGKILL",
				 (double)s->o.grace_ns / 1e9);
			signal_children(s, SIGKILL);
			s->killed = true;
		}
	}
	if (unlink(s->state_path) && errno != ENOENT)
		log_warn("removing %s: %s", s->state_path, strerror(errno));
	s->stop_mono_ns = mono_ns();
	if (!err && s->killed)
		err = -EINTR;
	return err;
}

void supervisor__print_summary(const struct supervisor *s, FILE *f)
{
	uint64_t end = s->stop_mono_ns ? s->stop_mono_ns : mono_ns();
	int i;

	fprintf(f, "kiln run: ran %.1f s; config reloads %llu, failed %llu\n",
		s->start_mono_ns ? (double)(end - s->start_mono_ns) / 1e9 : 0.0,
		(unsigned long long)s->reloads, (unsigned long long)s->reload_failures);
	for (i = 0; i < s->nr; i++) {
		const struct child *c = &s->c[i];

		fprintf(f,
			"  %-7s restarts %llu, last exit %s, fork errors %llu, reload restarts "
			"%llu\n",
			c->name, (unsigned long long)restarts(c), c->last_exit,
			(unsigned long long)c->spawn_errors, (unsigned long long)c->reloads);
	}
	if (s->state_write_errors)
		fprintf(f, "  state file write errors %llu (%s)\n",
			(unsigned long long)s->state_write_errors, s->state_path);
}

void supervisor__free(struct supervisor *s)
{
	int i, j;

	if (!s)
		return;
	for (i = 0; i < s->nr; i++) {
		for (j = 0; s->c[i].argv && s->c[i].argv[j]; j++)
			free(s->c[i].argv[j]);
		free(s->c[i].argv);
	}
	if (s->sfd >= 0)
		close(s->sfd);
	if (s->exe_fd >= 0)
		close(s->exe_fd);
	if (s->mask_set)
		sigprocmask(SIG_SETMASK, &s->oldmask, NULL);
	free(s);
}
