// SPDX-License-Identifier: Apache-2.0
/* Finding and running the programs under test, and reading their BPF programs' statistics. */
#include <bpf/bpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/proc.h"
#include "common/array.h"
#include "common/cgroup.h"
#include "common/util.h"
#include "shm/counters.h"
#include "shm/shm.h"

int bench_sibling(const struct bench_opts *o, const char *rel, char *buf, size_t len)
{
	char self[PATH_MAX];
	ssize_t n;
	char *slash;
	int w;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
	} else {
		if (!o->self || strlen(o->self) >= sizeof(self))
			return -ENOENT;
		strcpy(self, o->self);
	}
	slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	else
		strcpy(self, ".");
	w = snprintf(buf, len, "%s/%s", self, rel);
	return w < 0 || (size_t)w >= len ? -ENAMETOOLONG : 0;
}

int bench_which(const char *name, char *buf, size_t len)
{
	const char *env = getenv("PATH");
	char *path, *dir, *save = NULL;
	size_t need;
	int err = -ENOENT, w;

	need = strlen(env ? env : "") + sizeof(":/usr/sbin:/sbin");
	path = malloc(need);
	if (!path)
		return -ENOMEM;
	snprintf(path, need, "%s:/usr/sbin:/sbin", env ? env : "");
	for (dir = strtok_r(path, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		w = snprintf(buf, len, "%s/%s", *dir ? dir : ".", name);
		if (w > 0 && (size_t)w < len && !access(buf, X_OK)) {
			err = 0;
			break;
		}
	}
	free(path);
	return err;
}

/* In the child: makes FD (or /dev/null) descriptor TARGET. Returns 0 or -1. */
static int redirect(int fd, int target)
{
	int null_fd;

	if (fd == BENCH_FD_INHERIT)
		return 0;
	if (fd >= 0)
		return dup2(fd, target) < 0 ? -1 : 0;
	null_fd = open("/dev/null", O_RDWR);
	if (null_fd < 0 || dup2(null_fd, target) < 0)
		return -1;
	if (null_fd != target)
		close(null_fd);
	return 0;
}

/* bench_spawn(), the child first joining CGROUP when not NULL. */
static pid_t spawn_in(char *const argv[], int out_fd, int err_fd, const int *keep, int nkeep,
		      const char *cgroup)
{
	char procs[PATH_MAX];
	pid_t pid;
	int fd, i;
	bool kept;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0)
		return pid;
	if (redirect(BENCH_FD_NULL, 0) || redirect(out_fd, 1) || redirect(err_fd, 2))
		_exit(127);
	if (cgroup) {
		/* "0" moves the writer: the child is in the cgroup before it runs the program. */
		snprintf(procs, sizeof(procs), "%s/cgroup.procs", cgroup);
		i = write_file_str(procs, "0");
		if (i) {
			fprintf(stderr, "kiln-bench: cannot join cgroup %s: %s\n", cgroup,
				strerror(-i));
			_exit(127);
		}
	}
	/* Only what the child needs: our BPF stats fd must not keep stats on past our exit. */
	for (fd = 3; fd < 1024; fd++) {
		for (i = 0, kept = false; i < nkeep; i++)
			kept |= keep[i] == fd;
		if (!kept)
			close(fd);
	}
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	execv(argv[0], argv);
	fprintf(stderr, "kiln-bench: cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

pid_t bench_spawn(char *const argv[], int out_fd, int err_fd, const int *keep, int nkeep)
{
	return spawn_in(argv, out_fd, err_fd, keep, nkeep, NULL);
}

/*
 * bench_spawn() with the child's stdout to a pipe whose read end goes to *RFD. Returns the
 * pid or -errno (*RFD then -1).
 */
static pid_t spawn_piped(char *const argv[], int err_fd, int *rfd)
{
	int pipefd[2];
	pid_t pid;

	*rfd = -1;
	if (pipe2(pipefd, O_CLOEXEC))
		return -errno;
	pid = bench_spawn(argv, pipefd[1], err_fd, NULL, 0);
	close(pipefd[1]);
	if (pid < 0)
		close(pipefd[0]);
	else
		*rfd = pipefd[0];
	return pid;
}

/* Whether BUF holds a whole line that starts with MARKER. */
static bool has_line(const char *buf, const char *marker)
{
	const char *p = buf;
	size_t n = strlen(marker);

	for (;;) {
		if (!strncmp(p, marker, n) && strchr(p, '\n'))
			return true;
		p = strchr(p, '\n');
		if (!p)
			return false;
		p++;
	}
}

pid_t bench_spawn_ready(char *const argv[], int err_fd, const char *marker, int timeout_ms,
			int *status)
{
	uint64_t deadline = mono_ns() + (uint64_t)timeout_ms * 1000000;
	char buf[1024] = "";
	size_t used = 0;
	struct pollfd pfd;
	int rfd, err = 0;
	pid_t pid;
	ssize_t n;

	*status = 0;
	pid = spawn_piped(argv, err_fd, &rfd);
	if (pid < 0)
		return pid;
	pfd.fd = rfd;
	pfd.events = POLLIN;
	while (!has_line(buf, marker)) {
		uint64_t now = mono_ns();

		if (now >= deadline) {
			err = -ETIMEDOUT;
			break;
		}
		if (poll(&pfd, 1, (int)((deadline - now) / 1000000 + 1)) <= 0)
			continue;
		/* What a ready line needs is at the start: a full buffer keeps its last half. */
		if (used == sizeof(buf) - 1) {
			memmove(buf, buf + used / 2, used - used / 2 + 1);
			used -= used / 2;
		}
		n = read(rfd, buf + used, sizeof(buf) - 1 - used);
		if (n <= 0) {
			err = -ECHILD;
			break;
		}
		used += (size_t)n;
		buf[used] = '\0';
	}
	close(rfd);
	if (err) {
		bench_stop(pid, SIGTERM, 60000, status);
		return err;
	}
	return pid;
}

void bench_script_dir(char *buf, size_t len)
{
	const char *src = getenv("KILN_SRC");

	if (src && *src)
		snprintf(buf, len, "%s/bench", src);
	else
		snprintf(buf, len, "%s", KILN_BENCH_DIR);
}

int bench_tmpfd(void)
{
	int fd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	return fd < 0 ? -errno : fd;
}

void bench_print_tail(int fd, const char *who)
{
	char buf[2048], *line, *save = NULL;
	off_t size = lseek(fd, 0, SEEK_END);
	off_t from = size > (off_t)sizeof(buf) - 1 ? size - (off_t)sizeof(buf) + 1 : 0;
	ssize_t n;

	if (size <= 0)
		return;
	n = pread(fd, buf, sizeof(buf) - 1, from);
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (line = strtok_r(buf, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save))
		fprintf(stderr, "  %s: %s\n", who, line);
}

void bench_workload_end(pid_t pid, int err_fd, bool failed)
{
	if (failed && err_fd >= 0)
		bench_print_tail(err_fd, "workload");
	if (pid > 0)
		bench_stop(pid, SIGTERM, 10000, NULL);
	if (err_fd >= 0)
		close(err_fd);
}

const char *bench_status_str(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exit %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "signal %d", WTERMSIG(status));
	else
		snprintf(buf, len, "status 0x%x", status);
	return buf;
}

void bench_sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ull),
			       .tv_nsec = (long)(ns % 1000000000ull) };

	while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
		;
}

int bench_wait(pid_t pid, int timeout_ms, int *status)
{
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX
					   : mono_ns() + (uint64_t)timeout_ms * 1000000;
	struct pollfd pfd = { .events = POLLIN };
	int st, left_ms, err = 0;
	pid_t r;

	/* A pidfd turns "wait with a time limit" into one poll(); polling waitpid is the fallback. */
	pfd.fd = (int)syscall(SYS_pidfd_open, pid, 0);
	for (;;) {
		r = waitpid(pid, &st, WNOHANG);
		if (r == pid) {
			if (status)
				*status = st;
			break;
		}
		if (r < 0 && errno != EINTR) {
			err = -errno;
			break;
		}
		if (mono_ns() >= deadline) {
			err = -ETIMEDOUT;
			break;
		}
		left_ms = deadline == UINT64_MAX ? -1 : (int)((deadline - mono_ns()) / 1000000 + 1);
		if (pfd.fd >= 0)
			poll(&pfd, 1, left_ms);
		else
			bench_sleep_ns(5000000);
	}
	if (pfd.fd >= 0)
		close(pfd.fd);
	return err;
}

int bench_stop(pid_t pid, int sig, int timeout_ms, int *status)
{
	int err;

	if (kill(pid, sig) && errno != ESRCH)
		return -errno;
	err = bench_wait(pid, timeout_ms, status);
	if (err != -ETIMEDOUT)
		return err;
	kill(pid, SIGKILL);
	bench_wait(pid, -1, status);
	return -ETIMEDOUT;
}

int bench_capture(char *const argv[], int err_fd, char *out, size_t len, int timeout_ms)
{
	uint64_t deadline = mono_ns() + (uint64_t)timeout_ms * 1000000;
	int rfd, status, err = 0;
	struct pollfd pfd;
	char chunk[512];
	size_t used = 0;
	pid_t pid;
	ssize_t n;

	pid = spawn_piped(argv, err_fd, &rfd);
	if (pid < 0)
		return pid;
	pfd.fd = rfd;
	pfd.events = POLLIN;
	for (;;) {
		uint64_t now = mono_ns();

		if (now >= deadline) {
			err = -ETIMEDOUT;
			break;
		}
		if (poll(&pfd, 1, (int)((deadline - now) / 1000000 + 1)) < 0 && errno != EINTR) {
			err = -errno;
			break;
		}
		if (!pfd.revents)
			continue;
		n = read(rfd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (used + 1 < len) {
			size_t take = (size_t)n < len - 1 - used ? (size_t)n : len - 1 - used;

			memcpy(out + used, chunk, take);
			used += take;
		}
	}
	if (len)
		out[used] = '\0';
	if (err) {
		bench_stop(pid, SIGKILL, 1000, NULL);
		goto cleanup;
	}
	err = bench_wait(pid, (int)((deadline > mono_ns() ? deadline - mono_ns() : 0) / 1000000),
			 &status);
	if (err == -ETIMEDOUT)
		bench_stop(pid, SIGKILL, 1000, NULL);
	else if (!err && (!WIFEXITED(status) || WEXITSTATUS(status)))
		err = -ECHILD;
cleanup:
	close(rfd);
	return err;
}

static int ids_add(struct bench_prog_ids *set, uint32_t id)
{
	if (array_reserve(&set->ids, &set->cap, set->n + 1, sizeof(*set->ids), 64))
		return -ENOMEM;
	set->ids[set->n++] = id;
	return 0;
}

static bool ids_has(const struct bench_prog_ids *set, uint32_t id)
{
	size_t i;

	for (i = 0; i < set->n; i++)
		if (set->ids[i] == id)
			return true;
	return false;
}

void bench_prog_ids_free(struct bench_prog_ids *set)
{
	free(set->ids);
	set->ids = NULL;
	set->n = set->cap = 0;
}

int bench_prog_ids_snapshot(struct bench_prog_ids *set)
{
	uint32_t id = 0;
	int err;

	set->n = 0;
	while (!bpf_prog_get_next_id(id, &id)) {
		err = ids_add(set, id);
		if (err)
			return err;
	}
	return errno == ENOENT ? 0 : -errno;
}

/*
 * Collects the BPF program ids PID holds through program or link descriptors: their fdinfo
 * has a "prog_id:" line. Returns 0 (set may be empty) or -errno.
 */
static int held_prog_ids(pid_t pid, struct bench_prog_ids *set)
{
	char path[320], line[128];
	struct dirent *de;
	unsigned int id;
	DIR *dir;
	FILE *f;
	int err = 0;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo", (int)pid);
	dir = opendir(path);
	if (!dir)
		return -errno;
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fdinfo/%s", (int)pid, de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue; /* closed meanwhile */
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "prog_id: %u", &id) == 1 && !ids_has(set, id)) {
				err = ids_add(set, id);
				break;
			}
		fclose(f);
		if (err)
			break;
	}
	closedir(dir);
	return err;
}

int bench_prog_stats(const struct bench_prog_ids *before, pid_t pid, const char *name,
		     const char *not_name, struct bench_prog_stats *out)
{
	struct bench_prog_ids held = { 0 };
	struct bpf_prog_info info;
	uint32_t id = 0, len;
	int fd, err = 0;

	memset(out, 0, sizeof(*out));
	if (pid > 0)
		held_prog_ids(pid, &held); /* best effort: without it, "new since" decides alone */
	while (!bpf_prog_get_next_id(id, &id)) {
		if (ids_has(before, id) || (held.n && !ids_has(&held, id)))
			continue;
		fd = bpf_prog_get_fd_by_id(id);
		if (fd < 0)
			continue; /* unloaded meanwhile */
		memset(&info, 0, sizeof(info));
		len = sizeof(info);
		err = bpf_obj_get_info_by_fd(fd, &info, &len);
		close(fd);
		if (err) {
			err = -errno;
			goto cleanup;
		}
		if (info.type != BPF_PROG_TYPE_PERF_EVENT || (name && strcmp(info.name, name)) ||
		    (not_name && !strcmp(info.name, not_name)))
			continue;
		out->run_time_ns += info.run_time_ns;
		out->run_cnt += info.run_cnt;
		out->nprogs++;
	}
	if (errno != ENOENT)
		err = -errno;
cleanup:
	bench_prog_ids_free(&held);
	return err;
}

int bench_wait_sampling(const struct bench_prog_ids *before, pid_t pid, const char *name,
			const char *not_name, int timeout_ms, int *status)
{
	uint64_t deadline = mono_ns() + (uint64_t)timeout_ms * 1000000;
	struct bench_prog_stats st;
	int err;

	for (;;) {
		/* The profiler may fail to start; its exit ends the wait at once. */
		err = bench_wait(pid, 0, status);
		if (!err)
			return -ECHILD;
		if (err != -ETIMEDOUT)
			return err;
		err = bench_prog_stats(before, pid, name, not_name, &st);
		if (err)
			return err;
		if (st.nprogs && st.run_cnt)
			return 0;
		if (mono_ns() >= deadline)
			return -ETIMEDOUT;
		/* Polling a state the profiler gives no other signal for; 10 ms is fine-grained. */
		bench_sleep_ns(10000000);
	}
}

uint64_t bench_counter(const struct shm_hdr *h, const char *name)
{
	uint64_t v = 0;

	return shm_counters__get_name(h, name, &v) ? 0 : v;
}

int bench_proc_cputime_ns(pid_t pid, uint64_t *ns)
{
	unsigned long long utime, stime;
	char path[64], *buf = NULL, *p;
	long tck = sysconf(_SC_CLK_TCK);
	int err;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	err = read_file(path, &buf, NULL);
	if (err)
		return err;
	/* comm may hold spaces and parentheses: the fields after it start at the last ')'. */
	p = strrchr(buf, ')');
	if (!p || tck <= 0 ||
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
		   &stime) != 2) {
		err = -EPROTO;
		goto cleanup;
	}
	*ns = (uint64_t)(utime + stime) * (1000000000ull / (uint64_t)tck);
cleanup:
	free(buf);
	return err;
}

int bench_proc_runtime_ns(pid_t pid, uint64_t *ns)
{
	char dir[64], path[384], *buf = NULL;
	unsigned long long run;
	struct dirent *de;
	uint64_t total = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	d = opendir(dir);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%.256s/schedstat", dir, de->d_name);
		if (read_file(path, &buf, NULL))
			continue; /* the thread ended meanwhile */
		if (sscanf(buf, "%llu", &run) == 1)
			total += run;
		free(buf);
		buf = NULL;
	}
	closedir(d);
	*ns = total;
	return 0;
}

uint64_t bench_proc_rss_bytes(pid_t pid)
{
	char path[64], *buf = NULL, *p;
	unsigned long long kb = 0;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (read_file(path, &buf, NULL))
		return 0;
	p = strstr(buf, "VmRSS:");
	if (p)
		sscanf(p + 6, "%llu", &kb);
	free(buf);
	return kb * 1024;
}

/* PSS in kB of PID's mappings of BPF maps (anon_inode:bpf-map, .bss, ring buffers). */
static unsigned long long bpf_map_pss_kb(pid_t pid)
{
	char path[64], *buf = NULL, *line, *save = NULL;
	unsigned long long kb, total = 0;
	bool bpf = false;

	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	if (read_file(path, &buf, NULL))
		return 0;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		/* A mapping's first line is "start-end perms ...": a hex digit first. */
		if ((line[0] >= '0' && line[0] <= '9') || (line[0] >= 'a' && line[0] <= 'f'))
			bpf = strstr(line, "anon_inode:bpf") != NULL;
		else if (bpf && sscanf(line, "Pss: %llu", &kb) == 1)
			total += kb;
	}
	free(buf);
	return total;
}

uint64_t bench_proc_pss_bytes(pid_t pid)
{
	char path[64], *buf = NULL, *p;
	unsigned long long kb = 0, bpf;

	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
	if (read_file(path, &buf, NULL))
		return 0;
	p = strstr(buf, "\nPss:");
	if (p)
		sscanf(p + 5, "%llu", &kb);
	free(buf);
	/*
	 * BPF maps the process mmaps (the event ring, the unwind deltas) are kernel memory that
	 * bench_proc_bpf_map_bytes() already counts whole: counted here too, they were twice
	 * in a sum of both (4 MiB of the agent's PSS at density).
	 */
	bpf = bpf_map_pss_kb(pid);
	return (kb > bpf ? kb - bpf : 0) * 1024;
}

uint64_t bench_proc_bpf_map_bytes(pid_t pid)
{
	char dir[64], path[320], *buf = NULL, *p;
	unsigned long long v, total = 0;
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fdinfo", (int)pid);
	d = opendir(dir);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (read_file(path, &buf, NULL))
			continue;
		p = strstr(buf, "memlock:");
		if (strstr(buf, "map_type:") && p && sscanf(p + 8, "%llu", &v) == 1)
			total += v;
		free(buf);
		buf = NULL;
	}
	closedir(d);
	return total;
}

pid_t bench_spawn_cgroup(char *const argv[], int out_fd, int err_fd, const int *keep, int nkeep,
			 const char *cgroup)
{
	return spawn_in(argv, out_fd, err_fd, keep, nkeep, cgroup);
}

int bench_cgroup_new(const char *tag, char *buf, size_t len)
{
	char mnt[PATH_MAX];
	int err, w;

	err = cgroup2_mount(mnt, sizeof(mnt));
	if (err)
		return err;
	w = snprintf(buf, len, "%s/kiln-bench-%s-%d", mnt, tag, (int)getpid());
	if (w < 0 || (size_t)w >= len)
		return -ENAMETOOLONG;
	if (mkdir(buf, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

int bench_cgroup_free(const char *path)
{
	uint64_t deadline = mono_ns() + 5000000000ull;

	/* A killed process leaves its cgroup a moment after it is reaped: retry while busy. */
	while (rmdir(path)) {
		if (errno == ENOENT)
			return 0;
		if (errno != EBUSY || mono_ns() >= deadline)
			return -errno;
		bench_sleep_ns(10000000);
	}
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP ? rmdir(path) : unlink(path))
		return errno == ENOENT ? 0 : -errno;
	return 0;
}

int bench_rmtree(const char *path)
{
	int err = nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);

	if (err == -1)
		return errno == ENOENT ? 0 : -errno;
	return err;
}
