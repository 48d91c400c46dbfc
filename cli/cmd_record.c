// SPDX-License-Identifier: Apache-2.0
/*
 * kiln record: one-shot profiling into a file, the way `perf record` + `flamegraph.pl` are
 * used: the whole host, some pids / cgroups, or a command and its children. The flags and
 * the output are here; the recording itself is aggregator/record.c.
 */
#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aggregator/record.h"
#include "aggregator/sampler.h"
#include "cli/cli_opts.h"
#include "cli/commands.h"
#include "common/cgroup.h"
#include "common/log.h"
#include "common/util.h"
#include "profile/profile.h"

enum {
	OPT_CGROUP = 256,
	OPT_IDLE,
	OPT_WINDOW,
	OPT_COUNT,
	OPT_STACK,
	OPT_UNWIND,
};

enum out_format {
	FMT_FOLDED,
	FMT_PPROF,
	FMT_HTML,
	FMT_SVG,
	FMT_SPEEDSCOPE,
};

static const char *const format_names[] = {
	[FMT_FOLDED] = "folded", [FMT_PPROF] = "pprof",		  [FMT_HTML] = "html",
	[FMT_SVG] = "svg",	 [FMT_SPEEDSCOPE] = "speedscope",
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kiln record [OPTIONS] -o FILE [-- COMMAND [ARGS...]]\n"
		"\n"
		"Samples on-CPU stacks (kernel and user) of the whole host, of the given processes\n"
		"and cgroups, or of COMMAND and its children until it exits, and writes a profile.\n"
		"\n"
		"  -o, --output FILE        where to write the profile (required)\n"
		"  -f, --format FMT         folded   flamegraph.pl input (default)\n"
		"                           pprof    gzipped profile.proto (go tool pprof)\n"
		"                           html     one self-contained page: flame graph, symbols\n"
		"                                    table (Self/Total), search and zoom; opens\n"
		"                                    offline in any browser\n"
		"                           svg      a static flame graph (tooltips on each frame)\n"
		"                           speedscope  speedscope's JSON file format\n"
		"  -F, --freq HZ            samples per second per CPU (default %u: a recording of a\n"
		"                           few seconds at the agent's %u Hz has too few samples for\n"
		"                           its shares to mean much)\n"
		"  -d, --duration SECONDS   stop after this long (default: until Ctrl-C / COMMAND exits)\n"
		"  -p, --pid PID            profile this process (repeatable)\n"
		"      --cgroup PATH        profile this cgroup v2 and its descendants (repeatable;\n"
		"                           absolute, or relative to the cgroup2 mount)\n"
		"      --idle               count the idle task too\n"
		"      --window-ms MS       in-kernel aggregation window (default 1000)\n"
		"      --count-map-entries N  distinct stacks counted per window, each with a\n"
		"                           user stack slot (default: from CPUs x HZ x window)\n"
		"      --stack-map-entries N  entries of each window's kernel stack map (likewise)\n"
		"      --unwind fp|tables     user stacks from unwind tables (.eh_frame, the\n"
		"                             default) or from frame pointers only\n"
		"  -v, --verbose            more messages (repeat for debug)\n"
		"  -h, --help               this help\n"
		"\n"
		"Needs root, or CAP_BPF and CAP_PERFMON.\n",
		KILN_RECORD_DEFAULT_HZ, KILN_DEFAULT_HZ);
}

static int parse_format(const char *s, enum out_format *fmt)
{
	size_t i;

	for (i = 0; i < sizeof(format_names) / sizeof(format_names[0]); i++) {
		if (!strcmp(s, format_names[i])) {
			*fmt = (enum out_format)i;
			return 0;
		}
	}
	log_error("--format '%s': expected folded, pprof, html, svg or speedscope", s);
	return -EINVAL;
}

/* The title of the HTML / SVG / speedscope outputs: what was profiled. */
static void describe(char *buf, size_t len, char **command, size_t nr_pids, size_t nr_cgroups)
{
	if (command)
		snprintf(buf, len, "kiln record -- %s", command[0]);
	else if (nr_pids || nr_cgroups)
		snprintf(buf, len, "kiln record: %zu processes, %zu cgroups", nr_pids, nr_cgroups);
	else
		snprintf(buf, len, "kiln record: the whole host");
}

/* Writes P to OUT as FMT. Returns 0 or -errno. */
static int write_profile(const struct profile *p, const char *out, enum out_format fmt,
			 const char *title)
{
	FILE *f;
	int err;

	if (fmt == FMT_PPROF)
		return profile__write_pprof(p, out);
	f = fopen(out, "we");
	if (!f)
		return -errno;
	switch (fmt) {
	case FMT_HTML:
		err = profile__write_html(p, f, title);
		break;
	case FMT_SVG:
		err = profile__write_svg(p, f, title);
		break;
	case FMT_SPEEDSCOPE:
		err = profile__write_speedscope(p, f, title);
		break;
	default:
		err = profile__write_folded(p, f);
		break;
	}
	if (fclose(f) && !err)
		err = -errno;
	return err;
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

/* The flags that take a number or a choice; pids and cgroups are checked by the caller. */
static int parse_flag(int opt, const char *arg, struct recorder_opts *ro, enum out_format *fmt)
{
	uint64_t v;

	switch (opt) {
	case 'f':
		return parse_format(arg, fmt);
	case 'F':
		return cli_parse_freq("--freq", arg, &ro->freq_hz);
	case 'd':
		if (cli_parse_num("--duration", arg, 1, 365 * 86400ull, "whole seconds", &v))
			return -EINVAL;
		ro->duration_ns = v * 1000000000ull;
		return 0;
	case OPT_WINDOW:
		if (cli_parse_num("--window-ms", arg, 10, 60000, "milliseconds", &v))
			return -EINVAL;
		ro->window_ms = (unsigned int)v;
		return 0;
	case OPT_COUNT:
		if (cli_parse_num("--count-map-entries", arg, 1, 1u << 24, "entries", &v))
			return -EINVAL;
		ro->count_map_entries = (uint32_t)v;
		return 0;
	case OPT_STACK:
		if (cli_parse_num("--stack-map-entries", arg, 1, 1u << 24, "entries", &v))
			return -EINVAL;
		ro->stack_map_entries = (uint32_t)v;
		return 0;
	case OPT_UNWIND:
		if (strcmp(arg, "fp") && strcmp(arg, "tables")) {
			log_error("--unwind '%s': expected 'fp' or 'tables'", arg);
			return -EINVAL;
		}
		ro->no_unwind = !strcmp(arg, "fp");
		return 0;
	default:
		return -EINVAL;
	}
}

static int parse_pid(const char *arg, uint32_t *pid)
{
	uint64_t v;

	if (parse_u64(arg, 1, 4194304, &v)) {
		log_error("--pid '%s': expected a process id", arg);
		return -EINVAL;
	}
	if (kill((pid_t)v, 0) && errno == ESRCH) {
		log_error("--pid %llu: no such process", (unsigned long long)v);
		return -ESRCH;
	}
	*pid = (uint32_t)v;
	return 0;
}

static int parse_cgroup(const char *arg, uint64_t *id)
{
	int err = cgroup_id_of_path(arg, id);

	if (err)
		log_error("--cgroup '%s': %s", arg,
			  err == -EINVAL ? "not a cgroup v2 directory" : strerror(-err));
	return err;
}

int cmd_record(int argc, char **argv)
{
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
	struct recorder_opts ro = { .sz = sizeof(ro) };
	struct recorder *rec = NULL;
	const char *out = NULL;
	enum out_format fmt = FMT_FOLDED;
	uint32_t *pids = NULL;
	uint64_t *cgroups = NULL;
	const char **cgpaths = NULL;
	size_t nr_pids = 0, nr_cgroups = 0;
	int opt, err, ret = 1, verbose = 0;
	char title[PATH_MAX];

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
		case 'p':
			err = parse_pid(optarg, &pids[nr_pids]);
			nr_pids++;
			break;
		case OPT_CGROUP:
			err = parse_cgroup(optarg, &cgroups[nr_cgroups]);
			cgpaths[nr_cgroups++] = optarg;
			break;
		case OPT_IDLE:
			ro.include_idle = true;
			err = 0;
			break;
		case 'v':
		case 'h':
		case '?':
			err = cli_opt_common(opt, &verbose, usage);
			if (err) {
				ret = err > 0 ? 0 : EXIT_USAGE;
				goto cleanup;
			}
			break;
		default:
			err = parse_flag(opt, optarg, &ro, &fmt);
			break;
		}
		if (err) {
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

	ro.pids = pids;
	ro.nr_pids = nr_pids;
	ro.cgroup_ids = cgroups;
	ro.cgroup_paths = cgpaths;
	ro.nr_cgroups = nr_cgroups;
	ro.command = optind < argc ? argv + optind : NULL;
	if (recorder__new(&ro, &rec) || recorder__run(rec))
		goto cleanup;
	describe(title, sizeof(title), ro.command ? argv + optind : NULL, nr_pids, nr_cgroups);
	err = write_profile(recorder__profile(rec), out, fmt, title);
	if (err) {
		log_error("writing '%s': %s", out, strerror(-err));
		goto cleanup;
	}
	recorder__print_summary(rec, stderr, out, format_names[fmt]);
	ret = recorder__error(rec) ? 1 : 0;
cleanup:
	recorder__free(rec);
	free(pids);
	free(cgroups);
	free(cgpaths);
	return ret;
}
