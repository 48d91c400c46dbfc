// SPDX-License-Identifier: Apache-2.0
/*
 * kiln record: one-shot profiling into a file, the way `perf record` + `flamegraph.pl` are
 * used: the whole host, some pids / cgroups, or a command and its children.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "aggregator/loop.h"
#include "aggregator/mmapwatch.h"
#include "aggregator/pyprocs.h"
#include "aggregator/sampler.h"
#include "aggregator/unwinder.h"
#include "cli/cli_opts.h"
#include "cli/commands.h"
#include "common/cgroup.h"
#include "common/log.h"
#include "common/util.h"
#include "profile/profile.h"
#include "symbolize/symbolize.h"

enum out_format {
	FMT_FOLDED,
	FMT_PPROF,
};

struct record {
	struct sampler *sampler;
	struct symbolizer *sym;
	struct mmapwatch *mw; /* NULL when the kernel refused: mappings from /proc only */
	int mw_err; /* first error reading it */
	struct profile *prof;
	struct sym_frame *frames; /* scratch for one stack */
	uint64_t start_mono;
	uint64_t first_start_ns, last_end_ns;
	uint64_t windows;
	bool progress;
	int err; /* first error while adding samples */
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kiln record [OPTIONS] -o FILE [-- COMMAND [ARGS...]]\n"
		"\n"
		"Samples on-CPU stacks (kernel and user) of the whole host, of the given "
		"processes\n"
		"and cgroups, or of COMMAND and its children until it exits, and writes a "
		"profile.\n"
		"\n"
		"  -o, --output FILE        where to write the profile (required)\n"
		"  -f, --format FMT         folded (flamegraph.pl input, default) or pprof "
		"(gzipped)\n"
		"  -F, --freq HZ            samples per second per CPU (default %u)\n"
		"  -d, --duration SECONDS   stop after this long (default: until Ctrl-C / COMMAND "
		"exits)\n"
		"  -p, --pid PID            profile this process (repeatable)\n"
		"      --cgroup PATH        profile this cgroup v2 and its descendants "
		"(repeatable;\n"
		"                           absolute, or relative to the cgroup2 mount)\n"
		"      --idle               count the idle task too\n"
		"      --window-ms MS       in-kernel aggregation window (default 1000)\n"
		"      --count-map-entries N  entries of each window's count map (default: sized\n"
		"                           from CPUs x HZ x window)\n"
		"      --stack-map-entries N  entries of each window's stack map (likewise)\n"
		"      --unwind fp|tables     user stacks from unwind tables (.eh_frame, the\n"
		"                             default) or from frame pointers only\n"
		"  -v, --verbose            more messages (repeat for debug)\n"
		"  -h, --help               this help\n"
		"\n"
		"Needs root, or CAP_BPF and CAP_PERFMON. Binaries without frame pointers give "
		"short\n"
		"user stacks (most distribution binaries are built without them).\n",
		KILN_DEFAULT_HZ);
}

static int on_window(const struct kiln_window *w, void *ctx)
{
	struct record *r = ctx;
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
	struct record *r = ctx;
	int n = mmapwatch__apply(r->mw, r->sym);

	return n < 0 ? n : 0;
}

static void on_proc(const struct kiln_ev_proc *ev, void *ctx)
{
	struct record *r = ctx;

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

/* How user stacks were walked, why walks stopped early, and the unwind tables' cost. */
static void print_unwind_summary(struct unwinder *uw, const uint64_t *m)
{
	struct unwinder_stats us;

	fprintf(stderr,
		"  user stacks          table walks %llu (complete %llu), frame-pointer walks %llu "
		"(tables not loaded yet), none %llu\n",
		(unsigned long long)m[KILN_M_UW_DWARF], (unsigned long long)m[KILN_M_UW_COMPLETE],
		(unsigned long long)m[KILN_M_UW_FP], (unsigned long long)m[KILN_M_UW_NO_REGS]);
	fprintf(stderr,
		"  unwind stops         truncated %llu, no mapping %llu, pc not covered %llu, "
		"unsupported rule %llu, read fault %llu, bad frame %llu, table error %llu, "
		"stack map full %llu\n",
		(unsigned long long)m[KILN_M_UW_TRUNCATED],
		(unsigned long long)m[KILN_M_UW_NO_MAPPING],
		(unsigned long long)m[KILN_M_UW_NOT_COVERED],
		(unsigned long long)m[KILN_M_UW_UNSUPPORTED],
		(unsigned long long)m[KILN_M_UW_READ_FAULT],
		(unsigned long long)m[KILN_M_UW_BAD_FRAME],
		(unsigned long long)m[KILN_M_UW_TABLE_ERR],
		(unsigned long long)m[KILN_M_UW_STACKS_FULL]);
	fprintf(stderr,
		"  unwind frames        frame-pointer %llu, PLT %llu, signal %llu; mapping "
		"re-reads "
		"asked %llu\n",
		(unsigned long long)m[KILN_M_UW_FP_FRAMES],
		(unsigned long long)m[KILN_M_UW_PLT_FRAMES],
		(unsigned long long)m[KILN_M_UW_SIGNAL_FRAMES],
		(unsigned long long)m[KILN_M_UW_SYNC_SENT]);
	if (!uw)
		return;
	unwinder__stats(uw, &us);
	fprintf(stderr,
		"  unwind tables        %llu files (%llu idle), %llu KiB in kernel maps, %llu "
		"built "
		"in %.1f ms, %llu without .eh_frame, %llu build errors, %llu load errors\n",
		(unsigned long long)us.tables, (unsigned long long)us.tables_idle,
		(unsigned long long)(us.table_bytes >> 10), (unsigned long long)us.builds,
		(double)us.build_ns / 1e6, (unsigned long long)us.no_eh_frame,
		(unsigned long long)us.build_errors, (unsigned long long)us.load_errors);
}

/* CPython: processes detected or refused, the BPF walk's outcomes, code objects named. */
static void print_python_summary(struct record *r)
{
	struct pyprocs *pp = sampler__pyprocs(r->sampler);
	struct symbolizer_stats ss;
	struct pyprocs_stats ps;
	uint64_t m[KILN_PY_C_NR];

	if (!pp || sampler__py_metrics(r->sampler, m))
		return;
	pyprocs__stats(pp, &ps);
	symbolizer__stats(r->sym, &ss);
	fprintf(stderr,
		"  python               detected %llu, refused %llu (version %llu, free-threaded "
		"%llu), detect errors %llu; walks %llu, frames walked %llu, named %llu, unnamed "
		"%llu, inexact merges %llu\n",
		(unsigned long long)ps.py.detect_ok,
		(unsigned long long)(ps.py.refused_version + ps.py.refused_freethreaded),
		(unsigned long long)ps.py.refused_version,
		(unsigned long long)ps.py.refused_freethreaded,
		(unsigned long long)ps.py.detect_errors, (unsigned long long)m[KILN_PY_C_SAMPLES],
		(unsigned long long)m[KILN_PY_C_FRAMES], (unsigned long long)ss.py_frames,
		(unsigned long long)ss.py_unnamed, (unsigned long long)ss.py_inexact);
	fprintf(stderr,
		"  python walk stops    refused samples %llu, no thread state %llu, no frame %llu, "
		"key not set %llu, tls fault %llu, read fault %llu, bad code %llu, truncated %llu\n",
		(unsigned long long)m[KILN_PY_C_REFUSED],
		(unsigned long long)m[KILN_PY_C_NO_TSTATE],
		(unsigned long long)m[KILN_PY_C_NO_FRAME],
		(unsigned long long)m[KILN_PY_C_KEY_UNINIT],
		(unsigned long long)m[KILN_PY_C_TLS_FAULT],
		(unsigned long long)m[KILN_PY_C_READ_FAULT],
		(unsigned long long)m[KILN_PY_C_BAD_CODE],
		(unsigned long long)m[KILN_PY_C_TRUNCATED]);
	fprintf(stderr,
		"  python code objects  announced %llu, named %llu (cached %llu, after exit %llu), "
		"read fault %llu, bad type %llu, bad string %llu, line table errors %llu, no line "
		"%llu; map full %llu\n",
		(unsigned long long)ps.announced, (unsigned long long)ps.py.sym_ok,
		(unsigned long long)ps.py.sym_cache_hits, (unsigned long long)ps.py.sym_after_exit,
		(unsigned long long)ps.py.sym_read_fault, (unsigned long long)ps.py.sym_bad_type,
		(unsigned long long)ps.py.sym_bad_string,
		(unsigned long long)ps.py.sym_linetable_err, (unsigned long long)ps.py.sym_no_line,
		(unsigned long long)ps.map_errors);
}

static void print_summary(struct record *r, const uint64_t *m, uint64_t missed, const char *out,
			  const char *fmt, unsigned int hz)
{
	uint64_t dropped = m[KILN_M_DROP_RINGBUF_FULL];

	if (r->progress)
		fprintf(stderr, "\n");
	fprintf(stderr,
		"kiln record: %.1f s at %u Hz, %llu samples in %llu distinct stacks written to %s "
		"(%s)\n",
		(double)(mono_ns() - r->start_mono) / 1e9, hz,
		(unsigned long long)profile__total(r->prof),
		(unsigned long long)profile__nr_stacks(r->prof), out, fmt);
	fprintf(stderr, "  samples taken        %llu\n", (unsigned long long)m[KILN_M_TAKEN]);
	fprintf(stderr, "    aggregated         %llu\n", (unsigned long long)m[KILN_M_AGGREGATED]);
	fprintf(stderr,
		"    overflowed         %llu  (count map full %llu, stack map full %llu, "
		"stack collision %llu)\n",
		(unsigned long long)m[KILN_M_OVERFLOWED],
		(unsigned long long)m[KILN_M_OVF_COUNT_FULL],
		(unsigned long long)m[KILN_M_OVF_STACK_FULL],
		(unsigned long long)m[KILN_M_OVF_STACK_COLL]);
	fprintf(stderr, "    dropped            %llu  (ring buffer full %llu)\n",
		(unsigned long long)dropped, (unsigned long long)m[KILN_M_DROP_RINGBUF_FULL]);
	fprintf(stderr, "  filtered in kernel   %llu\n", (unsigned long long)m[KILN_M_FILTERED]);
	fprintf(stderr, "  idle skipped         %llu\n", (unsigned long long)m[KILN_M_IDLE]);
	fprintf(stderr, "  missed by kernel     %llu  (another BPF program was running)\n",
		(unsigned long long)missed);
	fprintf(stderr,
		"  stack errors         efault %llu, eexist %llu, enomem %llu, other %llu\n",
		(unsigned long long)m[KILN_M_STACK_ERR_EFAULT],
		(unsigned long long)m[KILN_M_STACK_ERR_EEXIST],
		(unsigned long long)m[KILN_M_STACK_ERR_ENOMEM],
		(unsigned long long)m[KILN_M_STACK_ERR_OTHER]);
	fprintf(stderr,
		"  process events       exec %llu, exit %llu, fork %llu, first-seen %llu, lost "
		"%llu\n",
		(unsigned long long)m[KILN_M_EV_EXEC], (unsigned long long)m[KILN_M_EV_EXIT],
		(unsigned long long)m[KILN_M_EV_FORK], (unsigned long long)m[KILN_M_EV_SEEN],
		(unsigned long long)m[KILN_M_EV_DROPPED]);
	if (r->mw) {
		struct symbolizer_stats ss;
		struct mmapwatch_stats ms;

		mmapwatch__stats(r->mw, &ms);
		symbolizer__stats(r->sym, &ss);
		fprintf(stderr,
			"  mapping events       %llu read, lost %llu, malformed %llu; mappings "
			"added %llu\n",
			(unsigned long long)ms.records, (unsigned long long)ms.lost,
			(unsigned long long)ms.bad, (unsigned long long)ss.mappings_added);
	} else {
		fprintf(stderr, "  mapping events       unavailable (mappings read from /proc)\n");
	}
	print_unwind_summary(sampler__unwinder(r->sampler), m);
	print_python_summary(r);
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

/* Whether PATH can be written (or created) by this process. Returns 0 or -errno. */
static int check_writable(const char *path)
{
	char dir[PATH_MAX];
	const char *slash;

	if (access(path, F_OK) == 0)
		return access(path, W_OK) ? -errno : 0;
	if (errno != ENOENT)
		return -errno;
	slash = strrchr(path, '/');
	if (!slash)
		return access(".", W_OK | X_OK) ? -errno : 0;
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path) ? (int)(slash - path) : 1, path);
	return access(dir, W_OK | X_OK) ? -errno : 0;
}

int cmd_record(int argc, char **argv)
{
	enum {
		OPT_CGROUP = 256,
		OPT_IDLE,
		OPT_WINDOW,
		OPT_COUNT,
		OPT_STACK,
		OPT_UNWIND
	};
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "format", required_argument, NULL, 'f' },
		{ "freq", required_argument, NULL, 'F' },
		{ "duration", required_argument, NULL, 'd' },
		{ "pid", required_argument, NULL, 'p' },
		{ "cgroup", required_argument, NULL, OPT_CGROUP },
		{ "idle", no_argument, NULL, OPT_IDLE },
		{ "window-ms", required_argument, NULL, OPT_WINDOW },
		{ "count-map-entries", required_argument, NULL, OPT_COUNT },
		{ "stack-map-entries", required_argument, NULL, OPT_STACK },
		{ "unwind", required_argument, NULL, OPT_UNWIND },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct sampler_opts sopts = { .sz = sizeof(sopts), .freq_hz = KILN_DEFAULT_HZ };
	struct drain_loop_opts lopts = { .sz = sizeof(lopts), .child_pidfd = -1 };
	struct symbolizer_opts symopts = { .sz = sizeof(symopts) };
	struct record r = { 0 };
	const char *out = NULL, *fmt_name = "folded";
	enum out_format fmt = FMT_FOLDED;
	uint32_t *pids = NULL;
	uint64_t *cgroups = NULL, v, m[KILN_M_NR] = { 0 }, missed;
	const char **cgpaths = NULL;
	size_t nr_pids = 0, nr_cgroups = 0, i;
	enum drain_loop_stop why = 0;
	int opt, err, ret = 1, go_fd = -1, exec_fd = -1, verbose = 0, status, exec_errno = 0;
	pid_t child = -1;
	FILE *f = NULL;

	pids = calloc((size_t)argc, sizeof(*pids));
	cgroups = calloc((size_t)argc, sizeof(*cgroups));
	cgpaths = calloc((size_t)argc, sizeof(*cgpaths));
	if (!pids || !cgroups || !cgpaths) {
		log_error("out of memory");
		goto cleanup;
	}
	/* '+': stop at the first non-option, so COMMAND's own flags are left alone. */
	while ((opt = getopt_long(argc, argv, "+o:f:F:d:p:vh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'o':
			out = optarg;
			break;
		case 'f':
			if (!strcmp(optarg, "folded")) {
				fmt = FMT_FOLDED;
			} else if (!strcmp(optarg, "pprof")) {
				fmt = FMT_PPROF;
			} else {
				log_error("--format '%s': expected 'folded' or 'pprof'", optarg);
				ret = EXIT_USAGE;
				goto cleanup;
			}
			fmt_name = optarg;
			break;
		case 'F':
			if (cli_parse_freq("--freq", optarg, &sopts.freq_hz)) {
				ret = EXIT_USAGE;
				goto cleanup;
			}
			break;
		case 'd':
			if (cli_parse_num("--duration", optarg, 1, 365 * 86400ull, "whole seconds",
					  &v)) {
				ret = EXIT_USAGE;
				goto cleanup;
			}
			lopts.duration_ns = v * 1000000000ull;
			break;
		case 'p':
			if (parse_u64(optarg, 1, 4194304, &v)) {
				log_error("--pid '%s': expected a process id", optarg);
				ret = EXIT_USAGE;
				goto cleanup;
			}
			if (kill((pid_t)v, 0) && errno == ESRCH) {
				log_error("--pid %llu: no such process", (unsigned long long)v);
				ret = EXIT_USAGE;
				goto cleanup;
			}
			pids[nr_pids++] = (uint32_t)v;
			break;
		case OPT_CGROUP:
			err = cgroup_id_of_path(optarg, &v);
			if (err) {
				log_error("--cgroup '%s': %s", optarg,
					  err == -EINVAL ? "not a cgroup v2 directory"
							 : strerror(-err));
				ret = EXIT_USAGE;
				goto cleanup;
			}
			cgpaths[nr_cgroups] = optarg;
			cgroups[nr_cgroups++] = v;
			break;
		case OPT_IDLE:
			sopts.include_idle = true;
			break;
		case OPT_WINDOW:
			if (cli_parse_num("--window-ms", optarg, 10, 60000, "milliseconds", &v)) {
				ret = EXIT_USAGE;
				goto cleanup;
			}
			lopts.window_ms = (unsigned int)v;
			break;
		case OPT_COUNT:
			if (cli_parse_num("--count-map-entries", optarg, 1, 1u << 24, "entries",
					  &v)) {
				ret = EXIT_USAGE;
				goto cleanup;
			}
			sopts.count_map_entries = (uint32_t)v;
			break;
		case OPT_UNWIND:
			if (strcmp(optarg, "fp") && strcmp(optarg, "tables")) {
				log_error("--unwind '%s': expected 'fp' or 'tables'", optarg);
				ret = EXIT_USAGE;
				goto cleanup;
			}
			sopts.no_unwind = !strcmp(optarg, "fp");
			break;
		case OPT_STACK:
			if (cli_parse_num("--stack-map-entries", optarg, 1, 1u << 24, "entries",
					  &v)) {
				ret = EXIT_USAGE;
				goto cleanup;
			}
			sopts.stack_map_entries = (uint32_t)v;
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			usage(stdout);
			ret = 0;
			goto cleanup;
		default:
			usage(stderr);
			ret = EXIT_USAGE;
			goto cleanup;
		}
	}
	log_set_level(verbose >= 2 ? LOG_LEVEL_DEBUG : verbose ? LOG_LEVEL_INFO : LOG_LEVEL_WARN);
	if (!out) {
		log_error("missing -o FILE: where to write the profile");
		usage(stderr);
		ret = EXIT_USAGE;
		goto cleanup;
	}
	if (optind < argc && (nr_pids || nr_cgroups))
		log_info("profiling COMMAND as well as the given pids / cgroups");

	/*
	 * Fail on an unwritable output now, not after minutes of profiling, without creating
	 * or truncating it: an earlier profile stays intact if this run fails.
	 */
	err = check_writable(out);
	if (err) {
		log_error("-o '%s': cannot open for writing: %s", out, strerror(-err));
		goto cleanup;
	}

	sopts.follow_children = optind < argc;
	sopts.window_ms = lopts.window_ms;
	r.sampler = sampler__new(&sopts);
	if (!r.sampler) {
		err = errno;
		if (err == EACCES && geteuid() == 0)
			log_error("loading the BPF sampler failed: the kernel's verifier refused a "
				  "program (%s; -v shows the verifier log, docs/deployment.md the "
				  "kernels kiln runs on)",
				  strerror(err));
		else if (err == EPERM || err == EACCES)
			log_error("loading the BPF sampler was refused (%s): kiln record needs "
				  "root, "
				  "or CAP_BPF and CAP_PERFMON",
				  strerror(err));
		else
			log_error("loading the BPF sampler failed: %s (-v shows the verifier log)",
				  strerror(err));
		goto cleanup;
	}
	r.sym = symbolizer__new(&symopts);
	r.prof = profile__new(sampler__period_ns(r.sampler));
	r.frames = calloc(2 * KILN_MAX_FRAMES, sizeof(*r.frames));
	if (!r.sym || !r.prof || !r.frames) {
		log_error("setting up the symbolizer / profile: %s", strerror(errno));
		goto cleanup;
	}
	symbolizer__set_python(r.sym, sampler__python, r.sampler);
	/* Before COMMAND is forked: its exec and first mappings are events too. */
	err = mmapwatch__new(&r.mw, NULL);
	if (err) {
		log_warn("mapping events unavailable (%s): short-lived processes may go "
			 "unsymbolized",
			 strerror(-err));
		r.mw = NULL;
	} else {
		/* Libraries mapped after a process's start get their unwind tables at once. */
		mmapwatch__set_observer(r.mw, sampler__mapped, sampler__flush_mapped, r.sampler);
	}
	r.progress = isatty(STDERR_FILENO) && log_get_level() < LOG_LEVEL_INFO;
	sampler__set_proc_fn(r.sampler, on_proc, &r);

	for (i = 0; i < nr_pids; i++) {
		err = sampler__select_tgid(r.sampler, pids[i]);
		if (err) {
			log_error("selecting pid %u: %s", pids[i], strerror(-err));
			goto cleanup;
		}
	}
	for (i = 0; i < nr_cgroups; i++) {
		err = sampler__select_cgroup(r.sampler, cgroups[i]);
		if (err) {
			log_error("selecting cgroup: %s", strerror(-err));
			goto cleanup;
		}
		prepare_cgroup(r.sampler, cgpaths[i]);
	}
	if (optind < argc) {
		child = spawn_command(argv + optind, &go_fd, &exec_fd);
		if (child < 0) {
			log_error("starting '%s': %s", argv[optind], strerror((int)-child));
			goto cleanup;
		}
		err = sampler__select_tgid(r.sampler, (uint32_t)child);
		if (!err) {
			lopts.child_pidfd = (int)syscall(SYS_pidfd_open, child, 0);
			if (lopts.child_pidfd < 0)
				err = -errno;
		}
		if (err) {
			log_error("watching '%s': %s", argv[optind], strerror(-err));
			goto cleanup;
		}
	}
	err = sampler__attach(r.sampler);
	if (err) {
		log_error("attaching the sampler: %s", strerror(-err));
		goto cleanup;
	}
	r.start_mono = mono_ns();
	if (child > 0) {
		/* Release the command; a failed exec reports its errno through EXEC_FD. */
		if (write(go_fd, "g", 1) != 1) {
			log_error("starting '%s': %s", argv[optind], strerror(errno));
			goto cleanup;
		}
		close(go_fd);
		go_fd = -1;
		if (read(exec_fd, &exec_errno, sizeof(exec_errno)) == sizeof(exec_errno)) {
			log_error("cannot run '%s': %s", argv[optind], strerror(exec_errno));
			goto cleanup;
		}
	}

	lopts.on_window = on_window;
	lopts.ctx = &r;
	if (r.mw) {
		lopts.on_watch = on_watch;
		lopts.watch_fd = mmapwatch__fd(r.mw);
	}
	err = drain_loop__run(r.sampler, &lopts, &why, NULL);
	if (err) {
		log_error("sampling stopped: %s", strerror(-err));
		/* Keep going: what was collected so far is still written. */
	}
	sampler__metrics(r.sampler, m);
	missed = sampler__missed(r.sampler);
	profile__set_time(r.prof, r.first_start_ns, r.last_end_ns - r.first_start_ns);

	if (fmt == FMT_FOLDED) {
		f = fopen(out, "w");
		err = f ? profile__write_folded(r.prof, f) : -errno;
		if (!err && fflush(f))
			err = -errno;
	} else {
		err = profile__write_pprof(r.prof, out);
	}
	if (err) {
		log_error("writing '%s': %s", out, strerror(-err));
		goto cleanup;
	}
	print_summary(&r, m, missed, out, fmt_name, sopts.freq_hz);
	if (child > 0 && why == DRAIN_STOP_CHILD && waitpid(child, &status, 0) == child) {
		child = -1;
		if (WIFEXITED(status) && WEXITSTATUS(status))
			fprintf(stderr, "  command exited with status %d\n", WEXITSTATUS(status));
		else if (WIFSIGNALED(status))
			fprintf(stderr, "  command killed by signal %d\n", WTERMSIG(status));
	}
	ret = r.err ? 1 : 0;
cleanup:
	if (child > 0) {
		/* Stopped early (signal, duration, error): do not leave the command behind. */
		kill(child, SIGTERM);
		waitpid(child, NULL, 0);
	}
	if (go_fd >= 0)
		close(go_fd);
	if (exec_fd >= 0)
		close(exec_fd);
	if (lopts.child_pidfd >= 0)
		close(lopts.child_pidfd);
	if (f)
		fclose(f);
	free(r.frames);
	profile__free(r.prof);
	mmapwatch__free(r.mw);
	symbolizer__free(r.sym);
	sampler__free(r.sampler);
	free(pids);
	free(cgroups);
	free(cgpaths);
	return ret;
}
