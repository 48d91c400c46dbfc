// SPDX-License-Identifier: Apache-2.0
/*
 * kiln-bench unwind: how whole are the user stacks kiln gets from binaries built without frame
 * pointers, against `perf record --call-graph dwarf` (the baseline), on the same loads in one
 * run: the known-answer workload built as distributions build (workload-nofp: gcc -O2
 * -fomit-frame-pointer; workload-clang), and Debian's own python3.11, nginx (under wrk),
 * redis-server (under redis-benchmark) and postgres (under pgbench), on loopback.
 *
 * Each load runs in a cgroup of its own; kiln (`kiln record --cgroup`) and perf (`perf record
 * -p` of the cgroup's processes) sample it at 499 Hz at the same time, so both see the same
 * moments of the same processes (load generators are outside the cgroup). Every profile is judged by
 * bench/unwindcheck.py, the checker tests/unwind_e2e uses: a user stack is whole when its
 * outermost frame is a known root (_start, __libc_start_main / __libc_start_call_main,
 * start_thread, clone / clone3); for the workload also whether it is exactly the expected
 * chain root -> ... -> worker_main -> run_mix -> alpha|beta, and alpha's share of alpha + beta
 * (known answer 70 %).
 *
 * perf copies only the top 8 KiB of each sample's user stack (its default dwarf stack-copy
 * size) and unwinds that copy afterwards: a stack deeper than the copy stops short of its
 * root and counts as not whole here, exactly like a kiln stack cut at 127 frames. Both are the
 * profiler's own limits, so neither is excused.
 *
 * Then the BPF cost per sample of kiln's walk: sum of run_time_ns over all of kiln's
 * perf_event programs (the walker is tail-called, each program has its own statistics)
 * divided by the run_cnt of the entry program, on the workload with frame pointers and on
 * workload-nofp, same arguments (--depth 8: the same stack depth). Samples the kernel filter
 * drops (other processes on the CPUs) run the entry program too and pull the figure down
 * slightly; the workload's two busy threads keep that small, and alike for both builds.
 * Then the kernel memory of the unwind tables, when the agent publishes the counter
 * unwind_table_bytes. Finally the time to build the table of each big system binary
 * (bench/unwind_build.c; alone with --tables-only).
 */
#include <bpf/bpf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/proc.h"
#include "bench/stats.h"
#include "bench/unwind_build.h"
#include "common/util.h"
#include "shm/shm.h"

#define SUITE "unwind"
#define KILN_PROG "kiln_sample"
#define HZ "499"
#define WHOLE_GOAL 99.0
#define SHARE_GOAL 70.0
#define SHARE_TOL 3.0
#define READY_TIMEOUT_MS 300000 /* postgres: initdb and pgbench -i on a busy machine */
#define START_TIMEOUT_MS 30000
#define STOP_TIMEOUT_MS 60000
#define COST_WARMUP_S 1
#define MAX_RUNS 100

#ifndef KILN_BENCH_DIR
#define KILN_BENCH_DIR "bench"
#endif

struct load {
	const char *name; /* row prefix */
	const char *workload; /* binary under build/bench, or NULL */
	const char *service; /* bench/services.py load name, or NULL */
	bool short_lived; /* SHORT_PROCS processes of the workload, SHORT_CPU_S each, in turn */
};

static const struct load loads[] = {
	{ "workload-nofp", "workload-nofp", NULL, false },
	{ "workload-clang", "workload-clang", NULL, false },
	{ "python3.11", NULL, "python", false },
	{ "nginx", NULL, "nginx", false },
	{ "redis", NULL, "redis", false },
	{ "postgres", NULL, "postgres", false },
	{ "50ms-procs", "workload-nofp", NULL, true },
};

/*
 * The short-lived load: processes of 50 ms of CPU (2 threads) built without frame pointers,
 * one after the other, at 999 Hz. A process's first samples come before the agent has loaded
 * its tables (it reacts to the exec in milliseconds, later on a loaded machine): the share of
 * whole stacks here depends on load, which is why it is this row's figure and not a test's
 * verdict (tests/unwind_e2e keeps only a floor that no load explains).
 */
#define SHORT_PROCS 20
#define SHORT_CPU_S "0.050"
#define SHORT_HZ "999"
#define SHORT_GOAL 90.0
#define NLOADS (sizeof(loads) / sizeof(loads[0]))

/* What unwindcheck.py counted in one profile. */
struct counts {
	double samples, whole, leaf_samples, whole_chain, alpha, beta;
};

/* One load's results over the runs, in percent (seconds: each run's wall time). */
struct results {
	double kw[MAX_RUNS], pw[MAX_RUNS]; /* whole stacks, kiln and perf */
	double kch[MAX_RUNS], pch[MAX_RUNS]; /* workload: exact chain, of alpha/beta samples */
	double ka[MAX_RUNS], pa[MAX_RUNS]; /* workload: alpha / (alpha + beta) */
	double seconds[MAX_RUNS];
	int nk, np, nkc, npc, n;
};

struct unwind {
	const struct bench_opts *o;
	char kiln[PATH_MAX], perf[PATH_MAX], python[PATH_MAX], bench_dir[PATH_MAX];
	char tmp[64];
	unsigned int secs;
};

/* Value of "KEY=N" in OUT, or -1. */
static double kv(const char *out, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "%s=", key);
	for (p = out; (p = strstr(p, pat)); p++)
		if (p == out || p[-1] == '\n')
			return strtod(p + strlen(pat), NULL);
	return -1;
}

/* Runs unwindcheck.py on a profile. Returns 0 and *C, or -errno after printing why. */
static int check(struct unwind *u, const char *kind, const char *file, bool workload,
		 const char *comm, struct counts *c)
{
	char script[PATH_MAX + 32], out[1024];
	char *argv[8];
	int err, n = 0;

	snprintf(script, sizeof(script), "%s/unwindcheck.py", u->bench_dir);
	argv[n++] = u->python;
	argv[n++] = script;
	argv[n++] = (char *)kind;
	argv[n++] = (char *)file;
	if (workload)
		argv[n++] = "--workload";
	if (comm) {
		argv[n++] = "--comm";
		argv[n++] = (char *)comm;
	}
	argv[n] = NULL;

	err = bench_capture(argv, BENCH_FD_INHERIT, out, sizeof(out), 600000);
	if (err) {
		fprintf(stderr, "kiln-bench unwind: unwindcheck %s %s: %s\n", kind, file,
			err == -ECHILD ? "failed" : strerror(-err));
		return err;
	}
	c->samples = kv(out, "samples");
	c->whole = kv(out, "whole");
	c->leaf_samples = kv(out, "leaf_samples");
	c->whole_chain = kv(out, "whole_chain");
	c->alpha = kv(out, "leaf_alpha");
	c->beta = kv(out, "leaf_beta");
	if (c->samples <= 0) {
		fprintf(stderr, "kiln-bench unwind: no user samples in %s\n", file);
		return -ENODATA;
	}
	return 0;
}

/*
 * Starts load L in cgroup CG, services.py's output going to LOG_FD (a temporary file, or -1).
 * Returns the pid of what to stop afterwards (the workload, or services.py, which stops its
 * service and load generator), -EOPNOTSUPP when a program of the load is not installed, or
 * -errno.
 */
static pid_t start_load(struct unwind *u, const struct load *l, const char *cg, int log_fd)
{
	char path[PATH_MAX], script[PATH_MAX + 32], fd_arg[16], life[16];
	int pipefd[2], err = 0, status = 0;
	struct pollfd pfd;
	pid_t pid;
	char byte;

	/*
	 * A bound on the load's life, should we die without stopping it (services.py also gets
	 * SIGTERM when we die).
	 */
	snprintf(life, sizeof(life), "%u", u->secs + 120);
	if (!l->workload) {
		snprintf(script, sizeof(script), "%s/services.py", u->bench_dir);
		char *const argv[] = { u->python,	   script,     "run",
				       (char *)l->service, "--cgroup", (char *)cg,
				       "--seconds",	   life,       NULL };

		/*
		 * services.py puts the service in CG itself; it and the load stay outside. The
		 * services' logs go to LOG_FD, shown only when something fails.
		 */
		pid = bench_spawn_ready(argv, log_fd < 0 ? BENCH_FD_NULL : log_fd, "ready ",
					READY_TIMEOUT_MS, &status);
		if (pid == -ECHILD && WIFEXITED(status) && WEXITSTATUS(status) == 77)
			return -EOPNOTSUPP;
		if (pid < 0)
			fprintf(stderr, "kiln-bench unwind: %s did not get ready: %s\n", l->name,
				pid == -ECHILD ? "it exited" : strerror((int)-pid));
		return pid;
	}
	if (pipe2(pipefd, O_CLOEXEC))
		return -errno;
	err = bench_sibling(u->o, l->workload, path, sizeof(path));
	if (err)
		goto cleanup_pipe;
	snprintf(fd_arg, sizeof(fd_arg), "%d", pipefd[1]);
	char *const argv[] = { path,	    "--mix", "alpha=70,beta=30", "--threads", "2",
			       "--seconds", life,    "--ready-fd",	 fd_arg,      NULL };

	fcntl(pipefd[1], F_SETFD, 0);
	pid = bench_spawn_cgroup(argv, BENCH_FD_NULL, BENCH_FD_NULL, &pipefd[1], 1, cg);
	close(pipefd[1]);
	pipefd[1] = -1;
	if (pid < 0) {
		err = pid;
		goto cleanup_pipe;
	}
	pfd.fd = pipefd[0];
	pfd.events = POLLIN;
	/* The workload writes one byte once every thread runs. */
	if (poll(&pfd, 1, READY_TIMEOUT_MS) <= 0 || read(pipefd[0], &byte, 1) != 1) {
		bench_stop(pid, SIGTERM, STOP_TIMEOUT_MS, &status);
		fprintf(stderr, "kiln-bench unwind: %s did not get ready\n", l->name);
		err = -ETIMEDOUT;
		goto cleanup_pipe;
	}
	close(pipefd[0]);
	return pid;
cleanup_pipe:
	close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	return err;
}

/* The pids in cgroup CG as "P1,P2,...". Returns 0, -ESRCH when it is empty, or -errno. */
static int cgroup_pids(const char *cg, char *buf, size_t len)
{
	char path[PATH_MAX + 16], *procs = NULL, *tok, *save = NULL;
	size_t used = 0;
	int err, w;

	snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
	err = read_file(path, &procs, NULL);
	if (err)
		return err;
	buf[0] = '\0';
	for (tok = strtok_r(procs, "\n", &save); tok; tok = strtok_r(NULL, "\n", &save)) {
		w = snprintf(buf + used, len - used, "%s%s", used ? "," : "", tok);
		if (w < 0 || (size_t)w >= len - used) {
			err = -ENAMETOOLONG;
			break;
		}
		used += (size_t)w;
	}
	free(procs);
	return err ? err : used ? 0 : -ESRCH;
}

/*
 * Starts perf record on the processes of cgroup CG for SECS seconds, writing PDATA, its
 * messages to LOG_FD. Returns its pid or -errno.
 *
 * cpu-clock, kiln's event. -B: no build-id pass at the end. -p, the cgroup's processes (and
 * the threads they start from now on), rather than -a -G: system-wide, perf also records
 * every other process's mappings, among them more of the MMAP2 events with an impossible
 * build-id size this kernel writes now and then (bench/unwindcheck.py fix_perf_data). A
 * process may end between reading the cgroup and perf attaching (the postgres backend of a
 * readiness query): perf then refuses to start ("No such process"), and is started again on
 * a fresh list, up to 3 times, each retry said on stderr.
 */
static pid_t start_perf(struct unwind *u, const char *cg, char *pdata, char *secs, int log_fd)
{
	char pids[1024], why[32];
	int attempt, err = 0, st;
	pid_t pid;

	for (attempt = 1; attempt <= 3; attempt++) {
		err = cgroup_pids(cg, pids, sizeof(pids));
		if (err) {
			fprintf(stderr, "kiln-bench unwind: no process in %s: %s\n", cg,
				strerror(-err));
			return err;
		}
		char *const argv[] = { u->perf, "record", "-B",	 "-e", "cpu-clock",
				       "-p",	pids,	  "-F",	 HZ,   "--call-graph",
				       "dwarf", "-o",	  pdata, "--", "sleep",
				       secs,	NULL };

		pid = bench_spawn(argv, BENCH_FD_NULL, log_fd < 0 ? BENCH_FD_NULL : log_fd, NULL,
				  0);
		if (pid < 0)
			return pid;
		/* Refusals come at once; a second of running means it attached. */
		err = bench_wait(pid, 1000, &st);
		if (err == -ETIMEDOUT)
			return pid;
		if (err)
			return err;
		fprintf(stderr, "kiln-bench unwind: perf record -p %s ended at once with %s%s\n",
			pids, bench_status_str(st, why, sizeof(why)),
			attempt < 3 ? ", starting it again" : "");
	}
	return -ECHILD;
}

/*
 * One measurement of load L: the load in a new cgroup, kiln and perf sampling it together for
 * u->secs seconds, both profiles checked. Returns 0 with *KILN and *PERF, -EOPNOTSUPP when the
 * load's programs are not installed, or -errno after printing why.
 */
static int measure_load(struct unwind *u, const struct load *l, struct counts *kc,
			struct counts *pc)
{
	char cg[PATH_MAX], secs[16], dur[16], kout[128], pdata[128], why[32];
	pid_t load = -1, kiln = -1, perf = -1;
	int err, st, kerr = -1, perr = -1, log_fd = bench_tmpfd(), perf_log = bench_tmpfd();

	err = bench_cgroup_new(SUITE, cg, sizeof(cg));
	if (err) {
		fprintf(stderr, "kiln-bench unwind: cannot make a cgroup: %s\n", strerror(-err));
		return err;
	}
	snprintf(kout, sizeof(kout), "%s/kiln.folded", u->tmp);
	snprintf(pdata, sizeof(pdata), "%s/perf.data", u->tmp);
	snprintf(secs, sizeof(secs), "%u", u->secs);
	/* kiln starts slower than perf (BPF load): a margin, so both cover the same middle. */
	snprintf(dur, sizeof(dur), "%u", u->secs + 1);
	load = start_load(u, l, cg, log_fd);
	if (load < 0) {
		err = load;
		goto cleanup;
	}
	{
		char *const kargv[] = { u->kiln, "record", "-F",     HZ,   "--cgroup", cg,  "-d",
					dur,	 "-f",	   "folded", "-o", kout,       NULL };

		kiln = bench_spawn(kargv, BENCH_FD_NULL, BENCH_FD_NULL, NULL, 0);
	}
	perf = kiln < 0 ? -1 : start_perf(u, cg, pdata, secs, perf_log);
	if (kiln < 0 || perf < 0) {
		err = kiln < 0 ? kiln : perf;
		goto cleanup;
	}
	kerr = bench_wait(kiln, (int)(u->secs + 60) * 1000, &st);
	if (!kerr && (!WIFEXITED(st) || WEXITSTATUS(st)))
		fprintf(stderr, "kiln-bench unwind: kiln record on %s ended with %s\n", l->name,
			bench_status_str(st, why, sizeof(why)));
	kerr = kerr ? kerr : (WIFEXITED(st) && !WEXITSTATUS(st)) ? 0 : -ECHILD;
	kiln = -1;
	perr = bench_wait(perf, (int)(u->secs + 60) * 1000, &st);
	if (!perr && (!WIFEXITED(st) || WEXITSTATUS(st)))
		fprintf(stderr, "kiln-bench unwind: perf record on %s ended with %s\n", l->name,
			bench_status_str(st, why, sizeof(why)));
	perr = perr ? perr : (WIFEXITED(st) && !WEXITSTATUS(st)) ? 0 : -ECHILD;
	perf = -1;
	/* Stop the load before checking: the checks take CPU of their own. */
	bench_stop(load, SIGTERM, STOP_TIMEOUT_MS, NULL);
	load = -1;
	if (!kerr)
		kerr = check(u, "folded", kout, l->workload, NULL, kc);
	if (!perr)
		perr = check(u, "perf", pdata, l->workload, NULL, pc);
	/* Either profiler's failure costs its own rows only: marked by samples < 0. */
	if (kerr)
		kc->samples = -1;
	if (perr)
		pc->samples = -1;
	err = kerr && perr ? kerr : 0;
cleanup:
	if (kiln > 0)
		bench_stop(kiln, SIGINT, STOP_TIMEOUT_MS, NULL);
	if (perf > 0)
		bench_stop(perf, SIGINT, STOP_TIMEOUT_MS, NULL);
	if (load > 0)
		bench_stop(load, SIGTERM, STOP_TIMEOUT_MS, NULL);
	if ((err || kerr || perr) && log_fd >= 0)
		bench_print_tail(log_fd, l->name);
	if (perr && perf_log >= 0)
		bench_print_tail(perf_log, "perf record");
	if (log_fd >= 0)
		close(log_fd);
	if (perf_log >= 0)
		close(perf_log);
	unlink(kout);
	unlink(pdata);
	bench_cgroup_free(cg);
	return err;
}

/*
 * One profile of the short-lived load by kiln record (PERF false) or perf record --call-graph
 * dwarf, each running the shell script of the processes as its command (both follow its
 * children), the workload's own samples counted into *C. Returns 0, or -errno after printing
 * why.
 */
static int measure_short_one(struct unwind *u, const struct load *l, bool perf, struct counts *c)
{
	char bin[PATH_MAX], script[SHORT_PROCS * (PATH_MAX + 80)], out[128], bid[128], why[32];
	int err, st, log_fd = bench_tmpfd(), i;
	size_t used = 0;
	pid_t pid;

	err = bench_sibling(u->o, l->workload, bin, sizeof(bin));
	if (err)
		return err;
	for (i = 0; i < SHORT_PROCS; i++)
		used += (size_t)snprintf(script + used, sizeof(script) - used,
					 "%s --mix alpha=70,beta=30 --threads 2 --cpu-seconds %s; ",
					 bin, SHORT_CPU_S);
	snprintf(out, sizeof(out), "%s/short.%s", u->tmp, perf ? "data" : "folded");
	snprintf(bid, sizeof(bid), "%s/buildid", u->tmp);
	if (perf) {
		char *const argv[] = { u->perf,
				       "--buildid-dir",
				       bid,
				       "record",
				       "-q",
				       "-B",
				       "-e",
				       "cpu-clock",
				       "-F",
				       SHORT_HZ,
				       "--call-graph",
				       "dwarf",
				       "-o",
				       out,
				       "--",
				       "/bin/sh",
				       "-c",
				       script,
				       NULL };

		pid = bench_spawn(argv, BENCH_FD_NULL, log_fd < 0 ? BENCH_FD_NULL : log_fd, NULL,
				  0);
	} else {
		char *const argv[] = { u->kiln,	 "record", "-F", SHORT_HZ, "-f",
				       "folded", "-o",	   out,	 "--",	   "/bin/sh",
				       "-c",	 script,   NULL };

		pid = bench_spawn(argv, BENCH_FD_NULL, log_fd < 0 ? BENCH_FD_NULL : log_fd, NULL,
				  0);
	}
	if (pid < 0) {
		err = pid;
		goto cleanup;
	}
	err = bench_wait(pid, STOP_TIMEOUT_MS * 5, &st);
	if (err) {
		bench_stop(pid, SIGKILL, STOP_TIMEOUT_MS, NULL);
	} else if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "kiln-bench unwind: %s record on %s ended with %s\n",
			perf ? "perf" : "kiln", l->name, bench_status_str(st, why, sizeof(why)));
		err = -ECHILD;
	}
	if (!err)
		err = check(u, perf ? "perf" : "folded", out, false, l->workload, c);
cleanup:
	if (err && log_fd >= 0)
		bench_print_tail(log_fd, perf ? "perf record" : "kiln record");
	if (log_fd >= 0)
		close(log_fd);
	unlink(out);
	return err;
}

/* Both profiles of the short-lived load, one after the other (each runs the processes). */
static int measure_short(struct unwind *u, const struct load *l, struct counts *kc,
			 struct counts *pc)
{
	int kerr = measure_short_one(u, l, false, kc), perr = measure_short_one(u, l, true, pc);

	if (kerr)
		kc->samples = -1;
	if (perr)
		pc->samples = -1;
	return kerr && perr ? kerr : 0;
}

static double pct(double part, double whole)
{
	return whole > 0 ? 100.0 * part / whole : 0;
}

/* Prints the row NAME of the N values V (percent), or n/a when N is 0. */
static void row(const char *load, const char *what, const double *v, int n, const char *goal,
		enum bench_verdict (*verdict)(double median))
{
	struct bench_summary s;
	char name[96];

	snprintf(name, sizeof(name), "%s %s", load, what);
	if (!n) {
		bench_row_na(SUITE, name, "not measured, see the errors above");
		return;
	}
	bench_summarize(v, n, &s);
	bench_row(SUITE, name, &s, "%", 2, goal, verdict ? verdict(s.median) : BENCH_NO_GOAL);
}

static enum bench_verdict whole_verdict(double m)
{
	return m >= WHOLE_GOAL ? BENCH_PASS : BENCH_MISS;
}

static enum bench_verdict short_verdict(double m)
{
	return m >= SHORT_GOAL ? BENCH_PASS : BENCH_MISS;
}

static enum bench_verdict share_verdict(double m)
{
	return m >= SHARE_GOAL - SHARE_TOL && m <= SHARE_GOAL + SHARE_TOL ? BENCH_PASS : BENCH_MISS;
}

/* Measures load L RUNS times and prints its rows. */
static void run_load(struct unwind *u, const struct load *l, int runs)
{
	struct results r = { .n = 0 };
	struct counts kc, pc;
	const char *na = NULL;
	char name[96];
	uint64_t t0;
	int i, err;

	for (i = 0; i < runs; i++) {
		t0 = mono_ns();
		memset(&kc, 0, sizeof(kc));
		memset(&pc, 0, sizeof(pc));
		err = l->short_lived ? measure_short(u, l, &kc, &pc) : measure_load(u, l, &kc, &pc);
		if (err == -EOPNOTSUPP) {
			na = "a program of the load is not installed (dev.sh deps)";
			break;
		}
		if (err)
			continue;
		r.seconds[r.n++] = (double)(mono_ns() - t0) / 1e9;
		fprintf(stderr,
			"kiln-bench unwind: %s: kiln %.0f samples, %.0f whole; perf %.0f, %.0f "
			"whole\n",
			l->name, kc.samples, kc.whole, pc.samples, pc.whole);
		if (kc.samples > 0) {
			r.kw[r.nk++] = pct(kc.whole, kc.samples);
			if (l->workload && !l->short_lived) {
				r.kch[r.nkc] = pct(kc.whole_chain, kc.leaf_samples);
				r.ka[r.nkc++] = pct(kc.alpha, kc.alpha + kc.beta);
			}
		}
		if (pc.samples > 0) {
			r.pw[r.np++] = pct(pc.whole, pc.samples);
			if (l->workload && !l->short_lived) {
				r.pch[r.npc] = pct(pc.whole_chain, pc.leaf_samples);
				r.pa[r.npc++] = pct(pc.alpha, pc.alpha + pc.beta);
			}
		}
	}
	if (na) {
		snprintf(name, sizeof(name), "%s whole stacks", l->name);
		bench_row_na(SUITE, name, na);
		return;
	}
	if (l->short_lived)
		row(l->name, "kiln whole stacks", r.kw, r.nk, ">= 90 %", short_verdict);
	else
		row(l->name, "kiln whole stacks", r.kw, r.nk, ">= 99 %", whole_verdict);
	row(l->name, "perf whole stacks", r.pw, r.np, NULL, NULL);
	if (l->workload && !l->short_lived) {
		row(l->name, "kiln whole chain", r.kch, r.nkc, ">= 99 %", whole_verdict);
		row(l->name, "perf whole chain", r.pch, r.npc, NULL, NULL);
		row(l->name, "kiln alpha share", r.ka, r.nkc, "70 +- 3 %", share_verdict);
		row(l->name, "perf alpha share", r.pa, r.npc, NULL, NULL);
	}
	if (r.n) {
		struct bench_summary s;

		snprintf(name, sizeof(name), "%s seconds", l->name);
		bench_summarize(r.seconds, r.n, &s);
		bench_row(SUITE, name, &s, "s", 1, NULL, BENCH_NO_GOAL);
	}
}

/*
 * kiln record alone on workload binary BIN (--depth 8) for u->secs seconds after it was seen
 * sampling and COST_WARMUP_S more. Returns 0 and the BPF ns per sample, or -errno.
 */
static int measure_cost(struct unwind *u, const char *bin, const char *mode, double *ns)
{
	char path[PATH_MAX], out[128], dur[16], fd_arg[16], why[32];
	struct bench_prog_ids before = { 0 };
	struct bench_prog_stats a0, e0, a1, e1;
	int pipefd[2] = { -1, -1 }, status = 0, err;
	pid_t wl = -1, kiln = -1;
	struct pollfd pfd;
	char byte;

	snprintf(out, sizeof(out), "%s/cost.folded", u->tmp);
	snprintf(dur, sizeof(dur), "%u", u->secs + COST_WARMUP_S + 60);
	err = bench_sibling(u->o, bin, path, sizeof(path));
	if (err)
		return err;
	if (pipe2(pipefd, O_CLOEXEC))
		return -errno;
	snprintf(fd_arg, sizeof(fd_arg), "%d", pipefd[1]);
	{
		char *const wargv[] = { path,	      "--mix",	   "alpha=70,beta=30",
					"--threads",  "2",	   "--depth",
					"8",	      "--seconds", dur,
					"--ready-fd", fd_arg,	   "--print-pids",
					NULL };

		fcntl(pipefd[1], F_SETFD, 0);
		wl = bench_spawn(wargv, BENCH_FD_NULL, BENCH_FD_NULL, &pipefd[1], 1);
	}
	close(pipefd[1]);
	if (wl < 0) {
		err = wl;
		goto cleanup;
	}
	pfd.fd = pipefd[0];
	pfd.events = POLLIN;
	if (poll(&pfd, 1, START_TIMEOUT_MS) != 1 || read(pipefd[0], &byte, 1) != 1) {
		err = -ETIMEDOUT;
		goto cleanup;
	}
	err = bench_prog_ids_snapshot(&before);
	if (err)
		goto cleanup;
	{
		char pid_arg[16];

		snprintf(pid_arg, sizeof(pid_arg), "%d", (int)wl);
		char *const kargv[] = { u->kiln, "record", "-F",       HZ,	     "-p",
					pid_arg, "-d",	   dur,	       "-f",	     "folded",
					"-o",	 out,	   "--unwind", (char *)mode, NULL };

		kiln = bench_spawn(kargv, BENCH_FD_NULL, BENCH_FD_NULL, NULL, 0);
	}
	if (kiln < 0) {
		err = kiln;
		goto cleanup;
	}
	err = bench_wait_sampling(&before, kiln, KILN_PROG, NULL, START_TIMEOUT_MS, &status);
	if (err) {
		if (err == -ECHILD) {
			fprintf(stderr,
				"kiln-bench unwind: kiln record exited before sampling (%s)\n",
				bench_status_str(status, why, sizeof(why)));
			kiln = -1;
		}
		goto cleanup;
	}
	bench_sleep_ns((uint64_t)COST_WARMUP_S * 1000000000ull);
	/* All of kiln's perf_event programs for the time, the entry program for the count. */
	err = bench_prog_stats(&before, kiln, NULL, NULL, &a0);
	if (!err)
		err = bench_prog_stats(&before, kiln, KILN_PROG, NULL, &e0);
	if (err)
		goto cleanup;
	bench_sleep_ns((uint64_t)u->secs * 1000000000ull);
	err = bench_prog_stats(&before, kiln, NULL, NULL, &a1);
	if (!err)
		err = bench_prog_stats(&before, kiln, KILN_PROG, NULL, &e1);
	if (err)
		goto cleanup;
	if (e1.run_cnt <= e0.run_cnt) {
		err = -ENODATA;
		goto cleanup;
	}
	*ns = (double)(a1.run_time_ns - a0.run_time_ns) / (double)(e1.run_cnt - e0.run_cnt);
	fprintf(stderr,
		"kiln-bench unwind: %s, --unwind %s: %llu samples, %d program(s), %.0f ns/sample of "
		"BPF\n",
		bin, mode, (unsigned long long)(e1.run_cnt - e0.run_cnt), a1.nprogs, *ns);
cleanup:
	if (kiln > 0)
		bench_stop(kiln, SIGINT, STOP_TIMEOUT_MS, NULL);
	if (wl > 0)
		bench_stop(wl, SIGTERM, 5000, NULL);
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	bench_prog_ids_free(&before);
	unlink(out);
	return err;
}

/* One BPF cost row from N measurements, or n/a. */
static void cost_row(const char *name, const double *v, int n)
{
	struct bench_summary s;

	if (!n) {
		bench_row_na(SUITE, name, "not measured, see the errors above");
		return;
	}
	bench_summarize(v, n, &s);
	bench_row(SUITE, name, &s, "ns", 0, NULL, BENCH_NO_GOAL);
}

/*
 * The BPF cost rows, alternating per run: the frame-pointer twin (`workload`) walked by frame
 * pointers only (`--unwind fp`) and by its tables, at the same depth, whose ratio has the
 * goal; and workload-nofp by its tables (no frame pointers to walk there).
 */
static void run_cost(struct unwind *u, int runs)
{
	double fp[MAX_RUNS], tab[MAX_RUNS], nofp[MAX_RUNS], ratio[MAX_RUNS];
	int i, nf = 0, nt = 0, nn = 0, nr = 0, stats_fd;
	struct bench_summary s;
	double a, b, c;

	/* Kept open while measuring: run-time stats are on exactly while it is. */
	stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (stats_fd < 0) {
		fprintf(stderr, "kiln-bench unwind: cannot enable BPF run-time stats: %s\n",
			strerror(errno));
		bench_row_na(SUITE, "kiln BPF ns/sample, tables / fp walk",
			     "BPF run-time stats refused (needs root)");
		return;
	}
	for (i = 0; i < runs; i++) {
		bool ok_a = !measure_cost(u, "workload", "fp", &a);
		bool ok_b = !measure_cost(u, "workload", "tables", &b);
		bool ok_c = !measure_cost(u, "workload-nofp", "tables", &c);

		if (ok_a)
			fp[nf++] = a;
		if (ok_b)
			tab[nt++] = b;
		if (ok_c)
			nofp[nn++] = c;
		if (ok_a && ok_b)
			ratio[nr++] = b / a;
	}
	close(stats_fd);
	cost_row("kiln BPF ns/sample, fp walk, depth 8", fp, nf);
	cost_row("kiln BPF ns/sample, table walk, depth 8", tab, nt);
	cost_row("kiln BPF ns/sample, nofp tables, depth 8", nofp, nn);
	if (nr) {
		bench_summarize(ratio, nr, &s);
		bench_row(SUITE, "kiln BPF ns/sample, tables / fp walk", &s, "x", 2, "<= 1.5",
			  s.median <= 1.5 ? BENCH_PASS : BENCH_MISS);
	} else {
		bench_row_na(SUITE, "kiln BPF ns/sample, tables / fp walk",
			     "not measured, see the errors above");
	}
}

/*
 * The agent's unwind_table_bytes counter while workload-nofp runs (the counter `kiln status
 * --json` shows), or n/a when this kiln does not publish it.
 */
static void run_table_bytes(struct unwind *u)
{
	const struct bench_pipeline_opts po = { .tag = "unwind", .hz = 99, .window_ms = 500 };
	struct bench_pipeline *p = NULL;
	char path[PATH_MAX], why[64] = "";
	pid_t wl = -1;
	bool found = false;
	uint64_t bytes = 0;
	int i, err;

	if (bench_sibling(u->o, "workload-nofp", path, sizeof(path)))
		return;
	char *const wargv[] = { path, "--mix", "alpha=70,beta=30", "--seconds", "600", NULL };

	wl = bench_spawn(wargv, BENCH_FD_NULL, BENCH_FD_NULL, NULL, 0);
	err = wl < 0 ? (int)wl : bench_pipeline__new(&p, u->o, &po);
	/* Two more windows: the workload was seen and its tables loaded. */
	if (!err)
		err = bench_pipeline__wait_windows(p, 2, 30000);
	if (err) {
		snprintf(why, sizeof(why), "the agent did not run: %s", strerror(-err));
	} else {
		for (i = 0; i < SHM_NUM_COUNTERS; i++)
			if (!strncmp(p->hdr->counters[i].name, "unwind_table_bytes",
				     SHM_COUNTER_NAME)) {
				found = true;
				bytes = atomic_load(&p->hdr->counters[i].value);
			}
		if (!found)
			snprintf(why, sizeof(why), "the agent has no counter unwind_table_bytes");
	}
	bench_pipeline__free(p);
	if (wl > 0)
		bench_stop(wl, SIGTERM, 5000, NULL);
	if (found) {
		struct bench_summary s;
		double kib = (double)bytes / 1024;

		bench_summarize(&kib, 1, &s);
		bench_row(SUITE, "unwind_table_bytes (agent)", &s, "KiB", 0, NULL, BENCH_NO_GOAL);
	} else {
		bench_row_na(SUITE, "unwind_table_bytes (agent)", why);
	}
}

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: kiln-bench unwind [--loads NAME,... | --tables-only]\n\n"
		   "--tables-only: only the table build times of the big system binaries\n"
		   "loads (default: all):");
	for (i = 0; i < NLOADS; i++)
		fprintf(f, " %s", loads[i].name);
	fprintf(f, "\n");
}

int bench_unwind(const struct bench_opts *o, int argc, char **argv)
{
	struct unwind u = { .o = o, .secs = o->short_mode ? 2 : 10 };
	int runs = o->runs ? o->runs : 1;
	bool want[NLOADS];
	size_t i;
	int err = 0;

	for (i = 0; i < NLOADS; i++)
		want[i] = true;
	if (argc == 3 && !strcmp(argv[1], "--loads")) {
		char *list = strdup(argv[2]), *tok, *save = NULL;

		if (!list)
			return -ENOMEM;
		for (i = 0; i < NLOADS; i++)
			want[i] = false;
		for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			for (i = 0; i < NLOADS && strcmp(tok, loads[i].name); i++)
				;
			if (i == NLOADS) {
				fprintf(stderr, "kiln-bench unwind: --loads: unknown load '%s'\n",
					tok);
				usage(stderr);
				free(list);
				return -EINVAL;
			}
			want[i] = true;
		}
		free(list);
	} else if (argc == 2 && !strcmp(argv[1], "--tables-only")) {
		bench_header(SUITE, "unwind table builds (in-process, median of 3) vs readelf -wF");
		bench_unwind_builds(o->short_mode);
		return 0;
	} else if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		usage(stdout);
		return 0;
	} else if (argc > 1) {
		fprintf(stderr, "kiln-bench unwind: unexpected argument '%s'\n", argv[1]);
		usage(stderr);
		return -EINVAL;
	}
	if (runs > MAX_RUNS)
		runs = MAX_RUNS;
	bench_script_dir(u.bench_dir, sizeof(u.bench_dir));
	if (bench_sibling(o, "../kiln", u.kiln, sizeof(u.kiln)) || access(u.kiln, X_OK)) {
		fprintf(stderr, "kiln-bench unwind: needs %s (build it first)\n", u.kiln);
		return -ENOENT;
	}
	/* Debian's python3 runs the checker; a pyenv or venv python may lack nothing, but differs. */
	if (access("/usr/bin/python3", X_OK) == 0)
		snprintf(u.python, sizeof(u.python), "/usr/bin/python3");
	else if (bench_which("python3", u.python, sizeof(u.python)))
		return -ENOENT;
	if (bench_which("perf", u.perf, sizeof(u.perf))) {
		fprintf(stderr, "kiln-bench unwind: perf is not installed (linux-perf)\n");
		return -ENOENT;
	}
	snprintf(u.tmp, sizeof(u.tmp), "/tmp/kiln-bench-unwind-XXXXXX");
	if (!mkdtemp(u.tmp))
		return -errno;
	bench_header(SUITE, "whole user stacks without frame pointers, kiln vs perf --call-graph "
			    "dwarf, 499 Hz");
	printf("%d run%s of %u s per load, kiln and perf sampling the load's cgroup together%s\n",
	       runs, runs > 1 ? "s" : "", u.secs,
	       o->short_mode ? " (short run: a smoke test, not a measurement)" : "");
	fflush(stdout);
	for (i = 0; i < NLOADS; i++)
		if (want[i])
			run_load(&u, &loads[i], runs);
	run_cost(&u, runs);
	run_table_bytes(&u);
	bench_unwind_builds(o->short_mode);
	bench_rmtree(u.tmp);
	return err;
}
