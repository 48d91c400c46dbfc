// SPDX-License-Identifier: Apache-2.0
/*
 * A private `kiln agent` as a child process (kiln top's): started in its own process group,
 * its stderr kept for error reports, stopped in order (SIGTERM, then SIGKILL), reaped.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "run/agent_child.h"

#define AGENT_STOP_TIMEOUT_NS (5ull * 1000000000ull)

/* The running child, for agent_child__kill_from_signal(); -1 when none. */
static volatile pid_t signal_pid = -1;

void agent_child__kill_from_signal(int sig)
{
	if (signal_pid > 0)
		kill(signal_pid, sig);
}

/* True when this process may load BPF and open perf events: root, or both capabilities. */
bool agent_child__may_run(void)
{
	unsigned long long eff = 0;
	char line[256];
	FILE *f;
	bool ok = false;

	if (geteuid() == 0)
		return true;
	f = fopen("/proc/self/status", "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &eff) == 1)
			break;
	fclose(f);
	/* CAP_PERFMON is 38, CAP_BPF 39 (linux/capability.h, 5.8+). */
	ok = (eff >> 38 & 1) && (eff >> 39 & 1);
	return ok;
}

/*
 * Starts `/proc/self/exe agent --ring RING -F HZ [--pid P,...]` in its own process group
 * (terminal signals reach only kiln top, which stops it in order) with PR_SET_PDEATHSIG, so
 * it never outlives kiln top. With PIDS the agent samples only those processes: the rest of
 * the host costs neither samples nor symbolization. Returns 0 or -errno.
 */
int agent_child__start(struct agent_child *a, const char *ring, unsigned int hz,
		       const uint32_t *pids, size_t nr_pids)
{
	char *args[] = { "kiln", "agent", "--ring", (char *)ring, "-F", NULL, NULL, NULL, NULL };
	size_t i, off = 0, len = nr_pids * 11 + 1;
	char hzs[16], *pidlist = NULL;
	pid_t parent = getpid(), pid;
	int p[2] = { -1, -1 }, fd, err = 0;

	snprintf(hzs, sizeof(hzs), "%u", hz);
	args[5] = hzs;
	if (nr_pids) {
		/* Up to 10 digits and a comma per pid. */
		pidlist = calloc(1, len);
		if (!pidlist)
			return -ENOMEM;
		for (i = 0; i < nr_pids; i++)
			off += (size_t)snprintf(pidlist + off, len - off, "%s%u", i ? "," : "",
						pids[i]);
		args[6] = "--pid";
		args[7] = pidlist;
	}
	if (pipe2(p, O_CLOEXEC)) {
		err = -errno;
		goto cleanup;
	}
	pid = fork();
	if (pid < 0) {
		err = -errno;
		close(p[0]);
		close(p[1]);
		goto cleanup;
	}
	if (pid == 0) {
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		/* The parent may have died before the line above: then nobody would stop us. */
		if (getppid() != parent)
			_exit(1);
		fd = open("/dev/null", O_RDWR);
		if (fd >= 0) {
			dup2(fd, STDIN_FILENO);
			dup2(fd, STDOUT_FILENO);
		}
		dup2(p[1], STDERR_FILENO);
		execv("/proc/self/exe", args);
		dprintf(STDERR_FILENO, "exec /proc/self/exe: %s\n", strerror(errno));
		_exit(127);
	}
	close(p[1]);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	a->pid = pid;
	signal_pid = pid;
	a->err_fd = p[0];
cleanup:
	free(pidlist);
	return err;
}

/* Keeps what the agent wrote on stderr (the first AGENT_ERR_MAX bytes) for error reports. */
void agent_child__read_err(struct agent_child *a)
{
	char buf[1024];
	ssize_t n;
	size_t k;

	if (a->err_fd < 0)
		return;
	while ((n = read(a->err_fd, buf, sizeof(buf))) > 0) {
		k = (size_t)n;
		if (k > sizeof(a->err) - 1 - a->err_len)
			k = sizeof(a->err) - 1 - a->err_len;
		memcpy(a->err + a->err_len, buf, k);
		a->err_len += k;
		a->err[a->err_len] = '\0';
	}
	if (n == 0) {
		close(a->err_fd);
		a->err_fd = -1;
	}
}

/* True when the agent has exited (reaped; status in a->status). */
bool agent_child__gone(struct agent_child *a)
{
	if (a->pid <= 0 || a->exited)
		return true;
	if (waitpid(a->pid, &a->status, WNOHANG) == a->pid) {
		a->exited = true;
		signal_pid = -1;
	}
	return a->exited;
}

/* SIGTERM (the agent flushes and exits), SIGKILL after AGENT_STOP_TIMEOUT_NS, reap. */
void agent_child__stop(struct agent_child *a)
{
	uint64_t end;
	struct timespec ts = { 0, 20 * 1000000 };

	if (a->pid <= 0)
		return;
	if (!agent_child__gone(a)) {
		kill(a->pid, SIGTERM);
		end = mono_ns() + AGENT_STOP_TIMEOUT_NS;
		while (!agent_child__gone(a) && mono_ns() < end)
			nanosleep(&ts, NULL); /* polling the child's exit, bounded */
		if (!a->exited) {
			kill(a->pid, SIGKILL);
			if (waitpid(a->pid, &a->status, 0) == a->pid)
				a->exited = true;
			signal_pid = -1;
		}
	}
	agent_child__read_err(a);
	if (a->err_fd >= 0)
		close(a->err_fd);
	a->err_fd = -1;
}

void agent_child__report(const struct agent_child *a)
{
	if (WIFEXITED(a->status))
		log_error("the private agent exited with status %d", WEXITSTATUS(a->status));
	else if (WIFSIGNALED(a->status))
		log_error("the private agent was killed by signal %d", WTERMSIG(a->status));
	if (a->err_len)
		fprintf(stderr, "%s%s", a->err, a->err[a->err_len - 1] == '\n' ? "" : "\n");
}
