// SPDX-License-Identifier: Apache-2.0
/* `kiln export`: ship profiles from the ring to OTLP / Pyroscope / files. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_opts.h"
#include "commands.h"
#include "common/config.h"
#include "common/util.h"
#include "common/log.h"
#include "shm/shm.h"
#include "exporter/compress.h"
#include "exporter/exporter.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	/* The second signal: exit at once, buffered batches are lost (the spool is not). */
	if (stop)
		_exit(128 + sig);
	stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: kiln export [OPTIONS]\n\n"
		   "Reads window records from a shared-memory ring and ships them as OTLP "
		   "Profiles.\n\n"
		   "  --ring NAME               ring to read (/dev/shm/kiln-NAME; default: "
		   "default)\n"
		   "  --config FILE             YAML configuration (see docs/destinations.md)\n"
		   "  --destination TYPE=URL    pyroscope=HOST:PORT, otlp=URL, file=DIR; "
		   "repeatable,\n"
		   "                            replaces the configured destinations (without "
		   "--config:\n"
		   "                            files in ./profiles, as kiln run writes)\n"
		   "  --compression none|gzip|zstd   request body compression (default gzip)\n"
		   "  --batch-timeout DURATION  send a batch at least this often (default 5s)\n"
		   "  --timeout DURATION        per-request timeout (default 5s)\n"
		   "  --spool-dir DIR           where undeliverable batches wait (\"\" disables;\n"
		   "                            default /var/lib/kiln/spool as root, else "
		   "~/.local/state/kiln/spool)\n"
		   "  --metrics-listen ADDR     serve Prometheus text at http://ADDR/metrics\n"
		   "  --once                    deliver what the ring holds now, then exit\n"
		   "  --dir-fd PATH=FD          directory PATH (a file destination or the spool) "
		   "is\n"
		   "                            open as descriptor FD: used by kiln run when a "
		   "parent\n"
		   "                            of PATH is closed to the exporter's user\n"
		   "  -v, --verbose             more logging (twice: debug, validates every "
		   "batch)\n"
		   "  -h, --help                this help\n\n"
		   "Durations take ns/us/ms/s/m/h. Credentials come from the environment or files "
		   "named\n"
		   "in the configuration and are never logged.\n");
}

static int parse_dest(const char *arg, struct kiln_destination *d)
{
	const char *eq = strchr(arg, '=');
	size_t n = eq ? (size_t)(eq - arg) : 0;

	memset(d, 0, sizeof(*d));
	if (!eq || !eq[1])
		return -EINVAL;
	if (n == 4 && !strncmp(arg, "file", 4))
		d->type = KILN_DEST_FILE;
	else if (n == 4 && !strncmp(arg, "otlp", 4))
		d->type = KILN_DEST_OTLP;
	else if (n == 9 && !strncmp(arg, "pyroscope", 9))
		d->type = KILN_DEST_PYROSCOPE;
	else
		return -EINVAL;
	/* The rest as a configured destination that sets only type and url (config.c). */
	d->url = (char *)eq + 1;
	d->profiles = true;
	d->format = "otlp";
	if (d->type == KILN_DEST_FILE)
		d->max_bytes = KILN_FILE_DEST_MAX_BYTES;
	return 0;
}

/* kiln export's flags that override the config file (values point into argv). */
struct export_args {
	const char *config, *ring, *spool, *metrics;
	const char *compression, *batch_timeout, *timeout;
	struct kiln_destination *dests;
	size_t nr_dests;
	int verbose;
};

/* --dir-fd /PATH=FD into EO. Returns 0 or -EINVAL (message printed). */
static int parse_dirfd(char *arg, struct exporter_opts *eo)
{
	char *eq = strrchr(arg, '=');
	uint64_t fd;

	if (!eq || eq == arg || arg[0] != '/' || parse_u64(eq + 1, 3, INT32_MAX, &fd) ||
	    fcntl((int)fd, F_GETFD) < 0 || eo->nr_dirfds == EXPORTER_MAX_DIRFDS) {
		fprintf(stderr,
			"kiln export: --dir-fd: expected /ABSOLUTE/PATH=FD of an "
			"open "
			"directory descriptor (at most %d), got '%s'\n",
			EXPORTER_MAX_DIRFDS, arg);
		return -EINVAL;
	}
	*eq = 0;
	eo->dirfds[eo->nr_dirfds].path = arg;
	eo->dirfds[eo->nr_dirfds++].fd = (int)fd;
	/* Not handed on to anything this process starts. */
	fcntl((int)fd, F_SETFD, FD_CLOEXEC);
	return 0;
}

/*
 * Applies option OPT (getopt_long's value, argument in optarg) to EO and A. Returns 0, 1
 * after --help was printed, -EINVAL (message printed) or -ENOMEM.
 */
static int parse_opt(int opt, struct exporter_opts *eo, struct export_args *a)
{
	struct kiln_destination *p;

	switch (opt) {
	case 'r':
		a->ring = optarg;
		break;
	case 'c':
		a->config = optarg;
		break;
	case 'd':
		p = realloc(a->dests, (a->nr_dests + 1) * sizeof(*p));
		if (!p)
			return -ENOMEM;
		a->dests = p;
		if (parse_dest(optarg, &a->dests[a->nr_dests])) {
			fprintf(stderr,
				"kiln export: --destination: expected pyroscope=HOST:PORT, "
				"otlp=URL or file=DIR, got '%s'\n",
				optarg);
			return -EINVAL;
		}
		a->nr_dests++;
		break;
	case 'z':
		a->compression = optarg;
		break;
	case 'b':
		a->batch_timeout = optarg;
		break;
	case 't':
		a->timeout = optarg;
		break;
	case 's':
		a->spool = optarg;
		break;
	case 'm':
		a->metrics = optarg;
		break;
	case 'o':
		eo->once = true;
		break;
	case 'D':
		return parse_dirfd(optarg, eo);
	default:
		return cli_opt_common(opt, &a->verbose, usage);
	}
	return 0;
}

/*
 * Flags override the file: A's onto CFG (pointers into argv; the caller puts the config's own
 * back before freeing it). Returns 0 or -EINVAL (message printed).
 */
static int apply_flags(const struct export_args *a, struct kiln_config *cfg)
{
	if (a->ring)
		cfg->ring_name = (char *)a->ring;
	if (!cfg->ring_name)
		cfg->ring_name = SHM_DEFAULT_NAME;
	if (a->spool) {
		cfg->exporter.spool_dir = (char *)a->spool;
		cfg->exporter.spool_enabled = *a->spool != 0;
	}
	if (a->metrics)
		cfg->exporter.metrics_listen = (char *)a->metrics;
	if (a->compression && compress__parse(a->compression, &cfg->exporter.compression)) {
		fprintf(stderr, "kiln export: --compression: expected none, gzip or zstd\n");
		return -EINVAL;
	}
	if (a->batch_timeout &&
	    kiln_parse_duration(a->batch_timeout, &cfg->exporter.batch_timeout_ns)) {
		fprintf(stderr, "kiln export: --batch-timeout: expected a duration such as 5s\n");
		return -EINVAL;
	}
	if (a->timeout && (kiln_parse_duration(a->timeout, &cfg->exporter.timeout_ns) ||
			   !cfg->exporter.timeout_ns)) {
		fprintf(stderr, "kiln export: --timeout: expected a duration such as 5s\n");
		return -EINVAL;
	}
	if (a->nr_dests) {
		cfg->dests = a->dests;
		cfg->nr_dests = a->nr_dests;
	}
	return 0;
}

int cmd_export(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ring", required_argument, NULL, 'r' },
		{ "config", required_argument, NULL, 'c' },
		{ "destination", required_argument, NULL, 'd' },
		{ "compression", required_argument, NULL, 'z' },
		{ "batch-timeout", required_argument, NULL, 'b' },
		{ "timeout", required_argument, NULL, 't' },
		{ "spool-dir", required_argument, NULL, 's' },
		{ "metrics-listen", required_argument, NULL, 'm' },
		{ "once", no_argument, NULL, 'o' },
		{ "dir-fd", required_argument, NULL, 'D' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kiln_config *cfg = NULL, orig = { 0 };
	struct export_args args = { 0 };
	struct exporter_opts eo = { .stop = &stop };
	struct sigaction sa = { .sa_handler = on_signal };
	int opt, ret = EXIT_USAGE, err;
	char msg[512];

	while ((opt = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		err = parse_opt(opt, &eo, &args);
		if (err) {
			ret = err > 0 ? 0 : err == -ENOMEM ? 1 : EXIT_USAGE;
			goto cleanup;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kiln export: unexpected argument '%s'\n", argv[optind]);
		goto cleanup;
	}
	cli_set_verbosity(args.verbose);
	/* The one set of defaults every command starts from; the file, then flags, override. */
	if (args.config) {
		err = kiln_config__load(args.config, &cfg, msg, sizeof(msg));
		if (err) {
			fprintf(stderr, "kiln export: %s\n", msg);
			goto cleanup;
		}
	} else if (!(cfg = kiln_config__defaults())) {
		fprintf(stderr, "kiln export: %s\n", strerror(ENOMEM));
		ret = 1;
		goto cleanup;
	}
	/* Flag values point into argv: the config's own pointers go back before it is freed. */
	orig = *cfg;
	if (apply_flags(&args, cfg))
		goto cleanup;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	eo.cfg = cfg;
	err = exporter__run(&eo);
	ret = err ? 1 : 0;
cleanup:
	if (cfg) {
		*cfg = orig;
		kiln_config__free(cfg);
	}
	free(args.dests);
	return ret;
}
