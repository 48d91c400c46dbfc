// SPDX-License-Identifier: Apache-2.0
/* kiln agent: the privileged node agent; flags override the YAML config. */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggregator/agent.h"
#include "aggregator/sampler.h"
#include "cli/cli_opts.h"
#include "cli/commands.h"
#include "common/config.h"
#include "common/log.h"
#include "common/util.h"

#define AGENT_MAX_PIDS 1024

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kiln agent [OPTIONS]\n"
		"\n"
		"Samples the selected workloads (the whole host by default), symbolizes each "
		"window\n"
		"and writes one window record per workload into a shared-memory ring that `kiln\n"
		"export`, `kiln ui` and `kiln top` read. SIGHUP reloads the config file; SIGINT /\n"
		"SIGTERM flush the current window and exit.\n"
		"\n"
		"  -c, --config FILE        YAML configuration (see docs/configuration.md)\n"
		"  -r, --ring NAME          ring name (/dev/shm/kiln-NAME) or absolute path\n"
		"      --ring-size SIZE     ring bytes, a power of two (e.g. 64MiB)\n"
		"  -g, --group GROUP        group allowed to attach to the ring (name or gid)\n"
		"  -p, --pid PID[,PID...]   sample only these processes, all their threads (like\n"
		"                           perf -p; repeatable, up to %d); replaces the config's\n"
		"                           sources, also across SIGHUP reloads\n"
		"  -F, --freq HZ            samples per second per CPU (default %u)\n"
		"      --window-ms MS       aggregation window (default 1000)\n"
		"  -d, --duration SECONDS   stop after this long (default: until a signal)\n"
		"      --count-map-entries N, --stack-map-entries N   in-kernel map sizes\n"
		"  -v, --verbose            more messages (repeat for debug)\n"
		"  -h, --help               this help\n"
		"\n"
		"Needs root, or CAP_BPF, CAP_PERFMON and CAP_SYS_PTRACE.\n",
		AGENT_MAX_PIDS, KILN_DEFAULT_HZ);
}

/*
 * Adds the comma-separated process ids of ARG to PIDS (*NR of them so far, at most
 * AGENT_MAX_PIDS), each a live process's id (not a thread's). Returns 0 or -EINVAL after
 * logging what was wrong.
 */
static int parse_pids(const char *arg, uint32_t *pids, size_t *nr)
{
	char tok[32], path[64], line[128];
	const char *p = arg, *end;
	unsigned long tgid;
	uint64_t v;
	size_t n;
	FILE *f;

	do {
		end = strchr(p, ',');
		n = end ? (size_t)(end - p) : strlen(p);
		if (n < sizeof(tok)) {
			memcpy(tok, p, n);
			tok[n] = 0;
		}
		if (n >= sizeof(tok) || parse_u64(tok, 1, INT32_MAX, &v)) {
			log_error("--pid '%s': expected process ids separated by commas, such as "
				  "1234,5678",
				  arg);
			return -EINVAL;
		}
		/* /proc/PID/status names the process a thread id belongs to, and whether it exists. */
		snprintf(path, sizeof(path), "/proc/%llu/status", (unsigned long long)v);
		f = fopen(path, "re");
		if (!f) {
			log_error("--pid %llu: no such process", (unsigned long long)v);
			return -EINVAL;
		}
		tgid = 0;
		while (fgets(line, sizeof(line), f) && sscanf(line, "Tgid: %lu", &tgid) != 1)
			;
		fclose(f);
		if (tgid && tgid != v) {
			log_error("--pid %llu: a thread of process %lu; expected a process id",
				  (unsigned long long)v, tgid);
			return -EINVAL;
		}
		if (*nr == AGENT_MAX_PIDS) {
			log_error("--pid: at most %d processes", AGENT_MAX_PIDS);
			return -EINVAL;
		}
		pids[(*nr)++] = (uint32_t)v;
		p = end ? end + 1 : NULL;
	} while (p);
	return 0;
}

/* Resolves a group name or number. Returns 0 and *GID, or -ENOENT. */
static int parse_group(const char *s, long *gid)
{
	struct group *g;
	uint64_t v;

	if (parse_u64(s, 0, 0x7fffffff, &v) == 0) {
		*gid = (long)v;
		return 0;
	}
	g = getgrnam(s);
	if (!g)
		return -ENOENT;
	*gid = (long)g->gr_gid;
	return 0;
}

enum {
	OPT_RING_SIZE = 256,
	OPT_WINDOW,
	OPT_COUNT,
	OPT_STACK
};

/* kiln agent's flags that override the config file. */
struct agent_args {
	const char *ring, *group, *freq, *window, *ring_size;
	uint32_t *pids;
	size_t nr_pids;
	int verbose;
};

/*
 * Applies option OPT (getopt_long's value, argument in optarg) to AO and A. Returns 0, 1
 * after --help was printed, -EINVAL (message printed) or -ENOMEM.
 */
static int parse_opt(int opt, struct agent_opts *ao, struct agent_args *a)
{
	uint64_t v;

	switch (opt) {
	case 'c':
		ao->config_path = optarg;
		break;
	case 'r':
		a->ring = optarg;
		break;
	case OPT_RING_SIZE:
		a->ring_size = optarg;
		break;
	case 'g':
		a->group = optarg;
		break;
	case 'p':
		if (!a->pids && !(a->pids = calloc(AGENT_MAX_PIDS, sizeof(*a->pids)))) {
			log_error("out of memory");
			return -ENOMEM;
		}
		if (parse_pids(optarg, a->pids, &a->nr_pids))
			return -EINVAL;
		break;
	case 'F':
		a->freq = optarg;
		break;
	case OPT_WINDOW:
		a->window = optarg;
		break;
	case 'd':
		if (parse_u64(optarg, 1, 365 * 86400ull, &v)) {
			log_error("--duration '%s': expected whole seconds, at least 1", optarg);
			return -EINVAL;
		}
		ao->duration_ns = v * 1000000000ull;
		break;
	case OPT_COUNT:
	case OPT_STACK:
		if (parse_u64(optarg, 1, 1u << 24, &v)) {
			log_error("--%s '%s': expected 1 to %u entries",
				  opt == OPT_COUNT ? "count-map-entries" : "stack-map-entries",
				  optarg, 1u << 24);
			return -EINVAL;
		}
		if (opt == OPT_COUNT)
			ao->count_map_entries = (uint32_t)v;
		else
			ao->stack_map_entries = (uint32_t)v;
		break;
	default:
		return cli_opt_common(opt, &a->verbose, usage);
	}
	return 0;
}

/*
 * Flags override the file: A's onto CFG, the ring's group into AO. Returns 0, or the exit
 * status after the message was printed (EXIT_USAGE for a bad flag, 1 for a bad file).
 */
static int apply_flags(const struct agent_args *a, struct kiln_config *cfg, struct agent_opts *ao)
{
	uint64_t v;

	if (a->ring) {
		free(cfg->ring_name);
		cfg->ring_name = strdup(a->ring);
	}
	if (a->ring_size && (kiln_parse_size(a->ring_size, &cfg->ring_size) || !cfg->ring_size ||
			     (cfg->ring_size & (cfg->ring_size - 1)))) {
		log_error("--ring-size '%s': expected a power of two such as 64MiB", a->ring_size);
		return EXIT_USAGE;
	}
	if (a->freq && cli_parse_freq("--freq", a->freq, &cfg->sampling_hz))
		return EXIT_USAGE;
	if (a->window) {
		if (cli_parse_num("--window-ms", a->window, 10, 60000, "milliseconds", &v))
			return EXIT_USAGE;
		cfg->window_ns = v * 1000000ull;
	}
	if (a->group && parse_group(a->group, &ao->ring_gid)) {
		log_error("--group '%s': no such group", a->group);
		return EXIT_USAGE;
	}
	if (!a->group && cfg->ring_group && cfg->ring_group[0] &&
	    parse_group(cfg->ring_group, &ao->ring_gid)) {
		log_error("ring.group '%s': no such group", cfg->ring_group);
		return 1;
	}
	return 0;
}

int cmd_agent(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "ring", required_argument, NULL, 'r' },
		{ "ring-size", required_argument, NULL, OPT_RING_SIZE },
		{ "group", required_argument, NULL, 'g' },
		{ "pid", required_argument, NULL, 'p' },
		{ "freq", required_argument, NULL, 'F' },
		{ "window-ms", required_argument, NULL, OPT_WINDOW },
		{ "duration", required_argument, NULL, 'd' },
		{ "count-map-entries", required_argument, NULL, OPT_COUNT },
		{ "stack-map-entries", required_argument, NULL, OPT_STACK },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct agent_opts ao = { .sz = sizeof(ao), .ring_gid = -1 };
	struct kiln_config *cfg = NULL;
	struct agent_args args = { 0 };
	struct agent *a = NULL;
	int opt, ret = EXIT_USAGE, err;
	char msg[512];

	while ((opt = getopt_long(argc, argv, "c:r:g:p:F:d:vh", longopts, NULL)) != -1) {
		err = parse_opt(opt, &ao, &args);
		if (err) {
			ret = err > 0 ? 0 : err == -ENOMEM ? 1 : EXIT_USAGE;
			goto cleanup;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument '%s'", argv[optind]);
		goto cleanup;
	}
	cli_set_verbosity(args.verbose);

	if (ao.config_path)
		err = kiln_config__load(ao.config_path, &cfg, msg, sizeof(msg));
	else
		err = (cfg = kiln_config__defaults()) ? 0 : -ENOMEM;
	if (err) {
		log_error("%s", ao.config_path ? msg : strerror(-err));
		ret = 1;
		goto cleanup;
	}
	ret = apply_flags(&args, cfg, &ao);
	if (ret)
		goto cleanup;
	if (!cfg->profiling_enabled) {
		log_warn("profiling.enabled is false: nothing to do");
		ret = 0;
		goto cleanup;
	}

	ao.pids = args.pids;
	ao.nr_pids = args.nr_pids;
	if (args.nr_pids && cfg->nr_sources)
		log_warn("--pid replaces the %zu source(s) of the config file", cfg->nr_sources);
	ret = 1;
	err = agent__new(&a, cfg, &ao);
	if (err)
		goto cleanup;
	err = agent__run(a);
	agent__print_summary(a);
	if (err) {
		log_error("stopped: %s", strerror(-err));
		goto cleanup;
	}
	ret = 0;
cleanup:
	agent__free(a);
	kiln_config__free(cfg);
	free(args.pids);
	return ret;
}
