// SPDX-License-Identifier: Apache-2.0
/*
 * The `kiln record` pipeline (aggregator/record.h): sampler, symbolizer and mapping events
 * feeding one profile, and the exit summary of every counter the run touched.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "aggregator/features.h"
#include "aggregator/loop.h"
#include "aggregator/mmapwatch.h"
#include "aggregator/pyprocs.h"
#include "aggregator/record.h"
#include "aggregator/sampler.h"
#include "aggregator/unwinder.h"
#include "common/cgroup.h"
#include "common/config.h"
#include "common/log.h"
#include "common/util.h"
#include "symbolize/debuginfod.h"
#include "symbolize/symbolize.h"

struct recorder {
	struct sampler *sampler;
	struct symbolizer *sym;
	struct dbgfetch *dbg; /* debug files by build id: only with DEBUGINFOD_URLS set */
	struct mmapwatch *mw; /* NULL when the kernel refused: mappings from /proc only */
	int mw_err; /* first error reading it */
	struct profile *prof;
	struct sym_frame *frames; /* scratch for one stack */
	struct drain_loop_opts lopts;
	unsigned int freq_hz;
	uint64_t start_mono, stop_mono;
	uint64_t first_start_ns, last_end_ns;
	uint64_t windows;
	uint64_t m[KILN_M_NR], missed; /* the sampler's counters once it stopped */
	bool progress;
	int err; /* first error while adding samples */
	char *cmd_name; /* the command's argv[0], or NULL */
	pid_t child; /* the command, until reaped; -1 for none */
	int go_fd, exec_fd; /* release the held command; its exec's errno */
	enum drain_loop_stop why;
};

static int on_window(const struct kiln_window *w, void *ctx)
{
	struct recorder *r = ctx;
	size_t i, n;
	int err;

	/* Every mapping made before the samples were drained is known before they are named. */
	if (r->mw) {
		err = mmapwatch__apply(r->mw, r->sym);
		if (err < 0 && !r->mw_err) {
			r->mw_err = err;
			log_warn("reading mapping events: %s", strerror(-err));
		}
	}
	if (!r->windows)
		r->first_start_ns = w->start_ns;
	r->last_end_ns = w->start_ns + w->duration_ns;
	r->windows++;
	for (i = 0; i < w->nr_samples; i++) {
		const struct kiln_raw_sample *s = &w->samples[i];

		/* A long window must not let the mapping events' rings fill meanwhile. */
		if ((i & 127) == 127 && r->mw && mmapwatch__apply(r->mw, r->sym) < 0 && !r->mw_err)
			r->mw_err = -ENOMEM;
		n = symbolizer__stack_py(r->sym, s->tgid, s->kframes, s->nr_kframes, s->uframes,
					 s->nr_uframes, s->nr_pywords, r->frames);
		err = profile__add(r->prof, r->frames, n, s->comm, s->tgid, s->pid, s->count);
		if (err && !r->err) {
			r->err = err;
			log_error("adding samples to the profile: %s", strerror(-err));
		}
	}
	/* Processes that exited before the previous window are no longer referenced. */
	symbolizer__sweep(r->sym);
	if (r->progress) {
		fprintf(stderr, "\rkiln record: %.0f s, %llu samples, %llu distinct stacks   ",
			(double)(mono_ns() - r->start_mono) / 1e9,
			(unsigned long long)profile__total(r->prof),
			(unsigned long long)profile__nr_stacks(r->prof));
		fflush(stderr);
	}
	return 0;
}

static int on_watch(void *ctx)
{
	struct recorder *r = ctx;
	int n = mmapwatch__apply(r->mw, r->sym);

	return n < 0 ? n : 0;
}

static void on_proc(const struct kiln_ev_proc *ev, void *ctx)
{
	struct recorder *r = ctx;

	switch (ev->type) {
	case KILN_EV_EXEC:
		/* Captured at its first sample after the exec (KILN_EV_SEEN), while it runs. */
		symbolizer__process_exec(r->sym, ev->tgid);
		break;
	case KILN_EV_FORK:
	case KILN_EV_SEEN:
		symbolizer__capture(r->sym, ev->tgid);
		break;
	case KILN_EV_EXIT:
		symbolizer__process_exit(r->sym, ev->tgid);
		break;
	default:
		break;
	}
}

/*
 * Forks COMMAND stopped on a pipe so that it is selected before it runs its first
 * instruction. Returns the child's pid (>0) with *GO_FD set (write a byte / close to start
 * it) and *ERR_FD (reads errno if exec fails), or -errno.
 */
static pid_t spawn_command(char **argv, int *go_fd, int *err_fd)
{
	int go[2] = { -1, -1 }, ex[2] = { -1, -1 };
	pid_t pid;
	char c;
	int e;

	if (pipe2(go, O_CLOEXEC) || pipe2(ex, O_CLOEXEC)) {
		e = -errno;
		goto fail;
	}
	pid = fork();
	if (pid < 0) {
		e = -errno;
		goto fail;
	}
	if (pid == 0) {
		close(go[1]);
		close(ex[0]);
		if (read(go[0], &c, 1) != 1)
			_exit(127);
		execvp(argv[0], argv);
		e = errno;
		if (write(ex[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(go[0]);
	close(ex[1]);
	*go_fd = go[1];
	*err_fd = ex[0];
	return pid;
fail:
	if (go[0] >= 0) {
		close(go[0]);
		close(go[1]);
	}
	if (ex[0] >= 0) {
		close(ex[0]);
		close(ex[1]);
	}
	return e;
}

/*
 * The processes already in cgroup PATH (its own members; descendants get theirs at their
 * first sample) get their unwind tables and CPython state now, as -p processes do.
 */
static void prepare_cgroup(struct sampler *s, const char *path)
{
	char root[PATH_MAX], file[PATH_MAX * 2 + 16];
	unsigned int pid;
	FILE *f;

	if (path[0] == '/')
		snprintf(file, sizeof(file), "%s/cgroup.procs", path);
	else if (!cgroup2_mount(root, sizeof(root)))
		snprintf(file, sizeof(file), "%s/%s/cgroup.procs", root, path);
	else
		return;
	f = fopen(file, "re");
	if (!f)
		return;
	while (fscanf(f, "%u", &pid) == 1)
		sampler__prepare_process(s, pid);
	fclose(f);
}

/*
 * One line of the exit summary: LABEL in a column, then TMPL with each '#' replaced by the
 * next of V. Every line of the summary is one of these, so that the summary is a table.
 */
struct summary_line {
	const char *label, *tmpl;
	uint64_t v[12];
};

static void put_summary(FILE *f, const struct summary_line *lines, size_t n)
{
	const char *t;
	size_t i, k;

	for (i = 0; i < n; i++) {
		fprintf(f, "  %-21s", lines[i].label);
		for (t = lines[i].tmpl, k = 0; *t; t++) {
			if (*t == '#' && k < sizeof(lines[i].v) / sizeof(lines[i].v[0]))
				fprintf(f, "%llu", (unsigned long long)lines[i].v[k++]);
			else
				fputc(*t, f);
		}
		fputc('\n', f);
	}
}

#define NLINES(a) (sizeof(a) / sizeof((a)[0]))

/* Samples taken and where they went, process and mapping events. */
static void print_sampling_summary(struct recorder *r, FILE *f)
{
	const uint64_t *m = r->m;
	const struct summary_line lines[] = {
		{ "samples taken", "#", { m[KILN_M_TAKEN] } },
		{ "  aggregated", "#", { m[KILN_M_AGGREGATED] } },
		{ "  overflowed",
		  "#  (count map full #, stack map full #, stack collision #)",
		  { m[KILN_M_OVERFLOWED], m[KILN_M_OVF_COUNT_FULL], m[KILN_M_OVF_STACK_FULL],
		    m[KILN_M_OVF_STACK_COLL] } },
		{ "  dropped",
		  "#  (ring buffer full #)",
		  { m[KILN_M_DROP_RINGBUF_FULL], m[KILN_M_DROP_RINGBUF_FULL] } },
		{ "filtered in kernel", "#", { m[KILN_M_FILTERED] } },
		{ "idle skipped", "#", { m[KILN_M_IDLE] } },
		{ "missed by kernel", "#  (another BPF program was running)", { r->missed } },
		{ "stack errors",
		  "efault #, eexist #, enomem #, other #",
		  { m[KILN_M_STACK_ERR_EFAULT], m[KILN_M_STACK_ERR_EEXIST],
		    m[KILN_M_STACK_ERR_ENOMEM], m[KILN_M_STACK_ERR_OTHER] } },
		{ "process events",
		  "exec #, exit #, fork #, first-seen #, lost #",
		  { m[KILN_M_EV_EXEC], m[KILN_M_EV_EXIT], m[KILN_M_EV_FORK], m[KILN_M_EV_SEEN],
		    m[KILN_M_EV_DROPPED] } },
	};
	struct summary_line mw = { "mapping events",
				   "unavailable (mappings read from /proc)",
				   { 0 } };
	struct symbolizer_stats ss;
	struct mmapwatch_stats ms;

	put_summary(f, lines, NLINES(lines));
	if (r->mw) {
		mmapwatch__stats(r->mw, &ms);
		symbolizer__stats(r->sym, &ss);
		mw = (struct summary_line){ "mapping events",
					    "# read, lost #, malformed #; mappings added #",
					    { ms.records, ms.lost, ms.bad, ss.mappings_added } };
	}
	put_summary(f, &mw, 1);
}

/* How user stacks were walked, why walks stopped early, and the unwind tables' cost. */
static void print_unwind_summary(struct recorder *r, FILE *f)
{
	struct unwinder *uw = sampler__unwinder(r->sampler);
	const uint64_t *m = r->m;
	const struct summary_line lines[] = {
		{ "user stacks",
		  "table walks # (complete #), frame-pointer walks # (tables not loaded yet), "
		  "none #",
		  { m[KILN_M_UW_DWARF], m[KILN_M_UW_COMPLETE], m[KILN_M_UW_FP],
		    m[KILN_M_UW_NO_REGS] } },
		{ "unwind stops",
		  "truncated #, no mapping #, pc not covered #, unsupported rule #, read fault #, "
		  "bad frame #, table error #, stack map full #",
		  { m[KILN_M_UW_TRUNCATED], m[KILN_M_UW_NO_MAPPING], m[KILN_M_UW_NOT_COVERED],
		    m[KILN_M_UW_UNSUPPORTED], m[KILN_M_UW_READ_FAULT], m[KILN_M_UW_BAD_FRAME],
		    m[KILN_M_UW_TABLE_ERR], m[KILN_M_UW_STACKS_FULL] } },
		{ "unwind frames",
		  "frame-pointer #, PLT #, signal #; mapping re-reads asked #, mappings found "
		  "before they were read #",
		  { m[KILN_M_UW_FP_FRAMES], m[KILN_M_UW_PLT_FRAMES], m[KILN_M_UW_SIGNAL_FRAMES],
		    m[KILN_M_UW_SYNC_SENT], m[KILN_M_UW_VMA] } },
	};
	struct unwinder_stats us;

	put_summary(f, lines, NLINES(lines));
	if (!uw)
		return;
	unwinder__stats(uw, &us);
	/* Its own line: the build time has a decimal, the table prints integers only. */
	fprintf(f,
		"  %-21s%llu files (%llu idle), %llu KiB in kernel maps, %llu built in %.1f ms, "
		"%llu without .eh_frame, %llu build errors, %llu load errors\n",
		"unwind tables", (unsigned long long)us.tables, (unsigned long long)us.tables_idle,
		(unsigned long long)(us.table_bytes >> 10), (unsigned long long)us.builds,
		(double)us.build_ns / 1e6, (unsigned long long)us.no_eh_frame,
		(unsigned long long)us.build_errors, (unsigned long long)us.load_errors);
}

/* CPython: processes detected or refused, the BPF walk's outcomes, code objects named. */
static void print_python_summary(struct recorder *r, FILE *f)
{
	struct pyprocs *pp = sampler__pyprocs(r->sampler);
	struct symbolizer_stats ss;
	struct pyprocs_stats ps;
	struct summary_line lines[3];
	uint64_t m[KILN_PY_C_NR];

	if (!pp || sampler__py_metrics(r->sampler, m))
		return;
	pyprocs__stats(pp, &ps);
	symbolizer__stats(r->sym, &ss);
	lines[0] = (struct summary_line){
		"python",
		"detected #, refused # (version #, free-threaded #), detect errors #; walks #, "
		"frames walked #, named #, unnamed #, inexact merges #",
		{ ps.py.detect_ok, ps.py.refused_version + ps.py.refused_freethreaded,
		  ps.py.refused_version, ps.py.refused_freethreaded, ps.py.detect_errors,
		  m[KILN_PY_C_SAMPLES], m[KILN_PY_C_FRAMES], ss.py_frames, ss.py_unnamed,
		  ss.py_inexact }
	};
	lines[1] = (struct summary_line){
		"python walk stops",
		"refused samples #, no thread state #, no frame #, key not set #, tls fault #, "
		"read fault #, bad code #, truncated #",
		{ m[KILN_PY_C_REFUSED], m[KILN_PY_C_NO_TSTATE], m[KILN_PY_C_NO_FRAME],
		  m[KILN_PY_C_KEY_UNINIT], m[KILN_PY_C_TLS_FAULT], m[KILN_PY_C_READ_FAULT],
		  m[KILN_PY_C_BAD_CODE], m[KILN_PY_C_TRUNCATED] }
	};
	lines[2] = (struct summary_line){
		"python code objects",
		"announced #, named # (cached #, after exit #), read fault #, bad type #, bad "
		"string #, line table errors #, no line #; map full #",
		{ ps.announced, ps.py.sym_ok, ps.py.sym_cache_hits, ps.py.sym_after_exit,
		  ps.py.sym_read_fault, ps.py.sym_bad_type, ps.py.sym_bad_string,
		  ps.py.sym_linetable_err, ps.py.sym_no_line, ps.map_errors }
	};
	put_summary(f, lines, NLINES(lines));
}

/* Debug files fetched by build id, when DEBUGINFOD_URLS started the client. */
static void print_debuginfod_summary(struct recorder *r, FILE *f)
{
	struct symbolizer_stats ss;
	struct dbgfetch_stats ds;
	struct summary_line line;

	if (!r->dbg)
		return;
	dbgfetch__stats(r->dbg, &ds);
	symbolizer__stats(r->sym, &ss);
	line = (struct summary_line){
		"debuginfod",
		"fetched # (# bytes), cache hits #, not found #; failed: timeouts #, no server #, "
		"invalid #, other #; files re-read #, still pending #",
		{ ds.fetched, ds.bytes, ds.cache_hits, ds.not_found, ds.timeouts, ds.conn_errors,
		  ds.invalid, ds.errors, ss.debuginfo_reloads, ds.pending }
	};
	put_summary(f, &line, 1);
}

void recorder__print_summary(struct recorder *r, FILE *f, const char *out, const char *format)
{
	int status;

	if (r->progress)
		fprintf(f, "\n");
	fprintf(f,
		"kiln record: %.1f s at %u Hz, %llu samples in %llu distinct stacks written to %s "
		"(%s)\n",
		(double)(r->stop_mono - r->start_mono) / 1e9, r->freq_hz,
		(unsigned long long)profile__total(r->prof),
		(unsigned long long)profile__nr_stacks(r->prof), out, format);
	print_sampling_summary(r, f);
	print_unwind_summary(r, f);
	print_python_summary(r, f);
	print_debuginfod_summary(r, f);
	if (r->child > 0 && r->why == DRAIN_STOP_CHILD &&
	    waitpid(r->child, &status, 0) == r->child) {
		r->child = -1;
		if (WIFEXITED(status) && WEXITSTATUS(status))
			fprintf(f, "  command exited with status %d\n", WEXITSTATUS(status));
		else if (WIFSIGNALED(status))
			fprintf(f, "  command killed by signal %d\n", WTERMSIG(status));
	}
}

static void log_load_error(int err)
{
	if (err == EACCES && geteuid() == 0)
		log_error(
			"loading the BPF sampler failed: the kernel's verifier refused a program (%s; -v shows the verifier log, docs/deployment.md the kernels kiln runs on)",
			strerror(err));
	else if (err == EPERM || err == EACCES)
		log_error(
			"loading the BPF sampler was refused (%s): kiln record needs root, or CAP_BPF and CAP_PERFMON",
			strerror(err));
	else if (!features__refused()) /* else it said what is missing */
		log_error("loading the BPF sampler failed: %s (-v shows the verifier log)",
			  strerror(err));
}

/*
 * With DEBUGINFOD_URLS set (as Debian's libdebuginfod-common does system-wide when asked),
 * stripped binaries' debug files are fetched in the background, cached in
 * DEBUGINFOD_CACHE_PATH or the agent's state directory; the windows after one lands are named.
 */
static void setup_debuginfod(struct recorder *r)
{
	struct kiln_config *def = kiln_config__defaults();
	const char *cache = getenv("DEBUGINFOD_CACHE_PATH");
	struct dbgfetch_opts o = { 0 };
	int err;

	if (!def)
		return;
	o.cache_dir = cache && cache[0] == '/' ? cache : def->debuginfod.cache_dir;
	err = dbgfetch__new(&o, &r->dbg);
	if (!err)
		symbolizer__set_debuginfod(r->sym, r->dbg);
	else if (err != -ENODATA)
		log_warn("debuginfod: not started (%s, cache %s)", strerror(-err), o.cache_dir);
	kiln_config__free(def);
}

/* The symbolizer, the profile and the mapping events, once the sampler is loaded. */
static int setup_symbolizer(struct recorder *r)
{
	struct symbolizer_opts symopts = { .sz = sizeof(symopts) };
	int err;

	r->sym = symbolizer__new(&symopts);
	r->prof = profile__new(sampler__period_ns(r->sampler));
	r->frames = calloc(2 * KILN_MAX_FRAMES, sizeof(*r->frames));
	if (!r->sym || !r->prof || !r->frames) {
		err = -(errno ? errno : ENOMEM);
		log_error("setting up the symbolizer / profile: %s", strerror(-err));
		return err;
	}
	symbolizer__set_python(r->sym, sampler__python, r->sampler);
	setup_debuginfod(r);
	/* Before COMMAND is forked: its exec and first mappings are events too. */
	err = mmapwatch__new(&r->mw, NULL);
	if (err) {
		log_warn(
			"mapping events unavailable (%s): short-lived processes may go unsymbolized",
			strerror(-err));
		r->mw = NULL;
	} else {
		/* Libraries mapped after a process's start get their unwind tables at once. */
		mmapwatch__set_observer(r->mw, sampler__mapped, sampler__flush_mapped, r->sampler);
	}
	r->progress = isatty(STDERR_FILENO) && log_get_level() < LOG_LEVEL_INFO;
	sampler__set_proc_fn(r->sampler, on_proc, r);
	return 0;
}

/* Selects the processes, the cgroups and the held command of OPTS. Returns 0 or -errno. */
static int select_targets(struct recorder *r, const struct recorder_opts *o)
{
	size_t i;
	int err;

	for (i = 0; i < o->nr_pids; i++) {
		err = sampler__select_tgid(r->sampler, o->pids[i]);
		if (err) {
			log_error("selecting pid %u: %s", o->pids[i], strerror(-err));
			return err;
		}
	}
	for (i = 0; i < o->nr_cgroups; i++) {
		err = sampler__select_cgroup(r->sampler, o->cgroup_ids[i]);
		if (err) {
			log_error("selecting cgroup '%s': %s", o->cgroup_paths[i], strerror(-err));
			return err;
		}
		prepare_cgroup(r->sampler, o->cgroup_paths[i]);
	}
	if (!o->command)
		return 0;
	r->cmd_name = strdup(o->command[0]);
	if (!r->cmd_name)
		return -ENOMEM;
	r->child = spawn_command((char **)o->command, &r->go_fd, &r->exec_fd);
	if (r->child < 0) {
		err = (int)r->child;
		r->child = -1;
		log_error("starting '%s': %s", r->cmd_name, strerror(-err));
		return err;
	}
	err = sampler__select_tgid(r->sampler, (uint32_t)r->child);
	if (!err) {
		r->lopts.child_pidfd = (int)syscall(SYS_pidfd_open, r->child, 0);
		if (r->lopts.child_pidfd < 0)
			err = -errno;
	}
	if (err)
		log_error("watching '%s': %s", r->cmd_name, strerror(-err));
	return err;
}

int recorder__new(const struct recorder_opts *o, struct recorder **out)
{
	struct sampler_opts sopts = { .sz = sizeof(sopts) };
	struct recorder *r;
	int err;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->child = -1;
	r->go_fd = r->exec_fd = -1;
	r->lopts = (struct drain_loop_opts){ .sz = sizeof(r->lopts), .child_pidfd = -1 };
	r->lopts.window_ms = o->window_ms;
	r->lopts.duration_ns = o->duration_ns;
	r->freq_hz = o->freq_hz ? o->freq_hz : KILN_RECORD_DEFAULT_HZ;
	sopts.freq_hz = r->freq_hz;
	sopts.include_idle = o->include_idle;
	sopts.count_map_entries = o->count_map_entries;
	sopts.stack_map_entries = o->stack_map_entries;
	sopts.follow_children = o->command != NULL;
	sopts.window_ms = o->window_ms;
	sopts.no_unwind = o->no_unwind;
	r->sampler = sampler__new(&sopts);
	if (!r->sampler) {
		err = errno ? -errno : -EINVAL;
		log_load_error(-err);
		goto cleanup;
	}
	err = setup_symbolizer(r);
	if (!err)
		err = select_targets(r, o);
cleanup:
	if (err)
		recorder__free(r);
	else
		*out = r;
	return err;
}

/* Lets the held command exec; Returns 0, or -errno when it could not (logged). */
static int release_command(struct recorder *r)
{
	int exec_errno = 0;

	if (write(r->go_fd, "g", 1) != 1) {
		log_error("starting '%s': %s", r->cmd_name, strerror(errno));
		return -errno;
	}
	close(r->go_fd);
	r->go_fd = -1;
	/* A failed exec reports its errno through EXEC_FD; a successful one closes it. */
	if (read(r->exec_fd, &exec_errno, sizeof(exec_errno)) == sizeof(exec_errno)) {
		log_error("cannot run '%s': %s", r->cmd_name, strerror(exec_errno));
		return -exec_errno;
	}
	return 0;
}

int recorder__run(struct recorder *r)
{
	int err;

	err = sampler__attach(r->sampler);
	if (err) {
		log_error("attaching the sampler: %s", strerror(-err));
		return err;
	}
	r->start_mono = mono_ns();
	if (r->child > 0) {
		err = release_command(r);
		if (err)
			return err;
	}
	r->lopts.on_window = on_window;
	r->lopts.ctx = r;
	if (r->mw) {
		r->lopts.on_watch = on_watch;
		r->lopts.watch_fd = mmapwatch__fd(r->mw);
	}
	err = drain_loop__run(r->sampler, &r->lopts, &r->why, NULL);
	/* Keep going: what was collected so far is still written. */
	if (err)
		log_error("sampling stopped: %s", strerror(-err));
	r->stop_mono = mono_ns();
	sampler__metrics(r->sampler, r->m);
	r->missed = sampler__missed(r->sampler);
	profile__set_time(r->prof, r->first_start_ns, r->last_end_ns - r->first_start_ns);
	return 0;
}

struct profile *recorder__profile(struct recorder *r)
{
	return r->prof;
}

unsigned int recorder__freq(const struct recorder *r)
{
	return r->freq_hz;
}

int recorder__error(const struct recorder *r)
{
	return r->err;
}

void recorder__free(struct recorder *r)
{
	if (!r)
		return;
	if (r->child > 0) {
		/* Stopped early (signal, duration, error): do not leave the command behind. */
		kill(r->child, SIGTERM);
		waitpid(r->child, NULL, 0);
	}
	if (r->go_fd >= 0)
		close(r->go_fd);
	if (r->exec_fd >= 0)
		close(r->exec_fd);
	if (r->lopts.child_pidfd >= 0)
		close(r->lopts.child_pidfd);
	free(r->cmd_name);
	free(r->frames);
	profile__free(r->prof);
	mmapwatch__free(r->mw);
	symbolizer__free(r->sym);
	dbgfetch__free(r->dbg);
	sampler__free(r->sampler);
	free(r);
}
