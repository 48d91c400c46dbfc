// SPDX-License-Identifier: Apache-2.0
/* kiln ui: per-workload slots, JSON API, /metrics, OTLP receiver and the embedded web page. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_opts.h"
#include "commands.h"
#include "common/config.h"
#include "common/log.h"
#include "common/util.h"
#include "shm/shm.h"
#include "ui/ui.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	/* A second signal while shutting down exits at once. */
	if (stop)
		_exit(0);
	stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kiln ui [--ring NAME] [--listen ADDR:PORT] [--token-file FILE]\n"
		"               [--allow-host NAME[:PORT]]... [--insecure-listen] [--config FILE] "
		"[-v]\n"
		"\n"
		"Serves the live per-workload view: a web page with a flame graph and a symbols\n"
		"table, its JSON API (/api/...), Prometheus /metrics, and an OTLP receiver\n"
		"(POST /v1development/profiles) so exporters on other nodes can feed it.\n"
		"Reads window records from the shared-memory ring written by `kiln agent`.\n"
		"\n"
		"  -r, --ring NAME        ring name (/dev/shm/kiln-NAME) or absolute path\n"
		"                         (default: the config's ring.name, else %s)\n"
		"  -l, --listen ADDR:PORT address to serve on (default: the config's\n"
		"                         profiling.ui.listen, else %s); IPv6 as [::1]:7070;\n"
		"                         port 0 picks a free port (printed at start)\n"
		"      --token-file FILE  access token (first line; at least 16 characters of\n"
		"                         [A-Za-z0-9._~-], e.g. `openssl rand -hex 32`); every\n"
		"                         request but /healthz must carry it: Authorization:\n"
		"                         Bearer TOKEN, or open /?token=TOKEN once in the "
		"browser.\n"
		"                         Default: the environment's KILN_UI_TOKEN, if set\n"
		"      --allow-host NAME[:PORT]  also serve requests for this Host (a DNS name\n"
		"                         of this machine, a proxy); others get 421\n"
		"      --insecure-listen  allow a non-loopback --listen without a token\n"
		"  -c, --config FILE      kiln YAML configuration\n"
		"  -v, --verbose          more logging (twice: debug)\n"
		"  -h, --help             show this help\n"
		"\n"
		"Slot buffer (environment, as the Odigos UI):\n"
		"  PROFILES_MAX_SLOTS (24), PROFILES_SLOT_TTL_SECONDS (120),\n"
		"  PROFILES_SLOT_MAX_BYTES (8388608), PROFILES_CLEANUP_INTERVAL_SECONDS (15)\n"
		"\n"
		"Runs unprivileged: it only needs to be in the ring's group. A non-loopback\n"
		"--listen needs --token-file / KILN_UI_TOKEN or --insecure-listen.\n",
		SHM_DEFAULT_NAME, UI_DEFAULT_LISTEN);
}

/* A token travels in a URL and a cookie: URL-safe characters only, and long enough. */
static int check_token(const char *t, const char *from)
{
	size_t n = strlen(t);

	if (n < 16 || strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~"
				"-") != n) {
		/* Names the source, never the value. */
		log_error("access token from %s: expected at least 16 characters of "
			  "[A-Za-z0-9._~-] (e.g. `openssl rand -hex 32`), got %zu characters%s",
			  from, n, n >= 16 ? " with others among them" : "");
		return -EINVAL;
	}
	return 0;
}

/* Reads the token from FILE (its first line), else KILN_UI_TOKEN. Returns 0 or EXIT_USAGE. */
static int load_token(const char *file, char **out)
{
	const char *env = getenv("KILN_UI_TOKEN");
	size_t len;
	int err;

	*out = NULL;
	if (file) {
		err = read_file(file, out, &len);
		if (err) {
			log_error("--token-file %s: %s", file, strerror(-err));
			return EXIT_USAGE;
		}
		(*out)[strcspn(*out, "\r\n")] = 0;
	} else if (env && *env) {
		*out = strdup(env);
		if (!*out)
			return 1;
	} else {
		return 0;
	}
	if (check_token(*out, file ? file : "KILN_UI_TOKEN")) {
		explicit_bzero(*out, strlen(*out));
		free(*out);
		*out = NULL;
		return EXIT_USAGE;
	}
	return 0;
}

int cmd_ui(int argc, char **argv)
{
	enum {
		OPT_TOKEN_FILE = 256,
		OPT_ALLOW_HOST,
		OPT_INSECURE
	};
	static const struct option opts[] = {
		{ "token-file", required_argument, NULL, OPT_TOKEN_FILE },
		{ "allow-host", required_argument, NULL, OPT_ALLOW_HOST },
		{ "insecure-listen", no_argument, NULL, OPT_INSECURE },
		{ "ring", required_argument, NULL, 'r' },
		{ "listen", required_argument, NULL, 'l' },
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *ring = NULL, *listen = NULL, *config = NULL, *token_file = NULL;
	const char *allow[16];
	size_t nr_allow = 0;
	bool insecure = false;
	char *token = NULL;
	struct kiln_config *cfg = NULL;
	struct sigaction sa = { 0 };
	struct ui_opts uo = { 0 };
	struct ui *u = NULL;
	int c, verbose = 0, err, ret = 1;
	char msg[512];

	while ((c = getopt_long(argc, argv, "r:l:c:vh", opts, NULL)) != -1) {
		switch (c) {
		case OPT_TOKEN_FILE:
			token_file = optarg;
			break;
		case OPT_ALLOW_HOST:
			if (nr_allow == sizeof(allow) / sizeof(allow[0])) {
				fprintf(stderr, "kiln ui: at most 16 --allow-host\n");
				return EXIT_USAGE;
			}
			allow[nr_allow++] = optarg;
			break;
		case OPT_INSECURE:
			insecure = true;
			break;
		case 'r':
			ring = optarg;
			break;
		case 'l':
			listen = optarg;
			break;
		case 'c':
			config = optarg;
			break;
		default:
			err = cli_opt_common(c, &verbose, usage);
			if (err)
				return err > 0 ? 0 : EXIT_USAGE;
			break;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kiln ui: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	cli_set_verbosity(verbose);
	if (config) {
		err = kiln_config__load(config, &cfg, msg, sizeof(msg));
		if (err) {
			log_error("%s", msg);
			return EXIT_USAGE;
		}
	} else {
		cfg = kiln_config__defaults();
		if (!cfg) {
			log_error("out of memory");
			return 1;
		}
	}
	/* Invalid limits stop the start with the variable's name, as the seed product does. */
	if (kiln_config__apply_env(cfg, msg, sizeof(msg))) {
		log_error("%s", msg);
		ret = EXIT_USAGE;
		goto cleanup;
	}
	ret = load_token(token_file, &token);
	if (ret)
		goto cleanup;
	ret = 1;
	uo.token = token;
	uo.insecure_listen = insecure;
	uo.allow_hosts = allow;
	uo.nr_allow_hosts = nr_allow;
	uo.listen = listen ? listen : cfg->ui.listen;
	uo.ring = ring ? ring : cfg->ring_name;
	uo.slots.max_slots = cfg->ui.max_slots;
	uo.slots.ttl_ns = cfg->ui.slot_ttl_s * 1000000000ull;
	uo.slots.max_bytes = cfg->ui.slot_max_bytes;
	uo.cleanup_ns = cfg->ui.cleanup_interval_s * 1000000000ull;

	/* No SA_RESTART: the signal must interrupt the ring wait so the loop sees STOP. */
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	err = ui__new(&u, &uo, msg, sizeof(msg));
	if (err) {
		log_error("%s", msg);
		goto cleanup;
	}
	/* stdout, flushed: scripts and tests read the address, e.g. after --listen ...:0. */
	printf("kiln ui: listening on http://%s/ (ring %s; slots: max %llu, ttl %llus, "
	       "%llu bytes each)\n",
	       ui__address(u), uo.ring ? uo.ring : SHM_DEFAULT_NAME,
	       (unsigned long long)cfg->ui.max_slots, (unsigned long long)cfg->ui.slot_ttl_s,
	       (unsigned long long)cfg->ui.slot_max_bytes);
	/* One line, said every start: who can reach the profiles. */
	if (token)
		printf("kiln ui: access token required (Authorization: Bearer, or open "
		       "/?token=TOKEN once)\n");
	else if (!ui__loopback(u))
		printf("kiln ui: WARNING: --insecure-listen: anyone who can reach %s can read "
		       "every profile\n",
		       ui__address(u));
	fflush(stdout);
	err = ui__run(u, &stop);
	ret = err ? 1 : 0;
	if (err)
		log_error("%s", strerror(-err));
cleanup:
	if (token)
		explicit_bzero(token, strlen(token));
	free(token);
	ui__free(u);
	kiln_config__free(cfg);
	return ret;
}
