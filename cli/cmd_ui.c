// SPDX-License-Identifier: Apache-2.0
/* kiln ui: per-workload slots, JSON API, /metrics, OTLP receiver and the embedded web page. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "common/config.h"
#include "common/log.h"
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
		"usage: kiln ui [--ring NAME] [--listen ADDR:PORT] [--config FILE] [-v]\n"
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
		"  -c, --config FILE      kiln YAML configuration\n"
		"  -v, --verbose          more logging (twice: debug)\n"
		"  -h, --help             show this help\n"
		"\n"
		"Slot buffer (environment, as the Odigos UI):\n"
		"  PROFILES_MAX_SLOTS (24), PROFILES_SLOT_TTL_SECONDS (120),\n"
		"  PROFILES_SLOT_MAX_BYTES (8388608), PROFILES_CLEANUP_INTERVAL_SECONDS (15)\n"
		"\n"
		"Runs unprivileged: it only needs to be in the ring's group.\n",
		SHM_DEFAULT_NAME, UI_DEFAULT_LISTEN);
}

int cmd_ui(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ring", required_argument, NULL, 'r' },
		{ "listen", required_argument, NULL, 'l' },
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *ring = NULL, *listen = NULL, *config = NULL;
	struct kiln_config *cfg = NULL;
	struct sigaction sa = { 0 };
	struct ui_opts uo = { 0 };
	struct ui *u = NULL;
	int c, verbose = 0, err, ret = 1;
	char msg[512];

	while ((c = getopt_long(argc, argv, "r:l:c:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			ring = optarg;
			break;
		case 'l':
			listen = optarg;
			break;
		case 'c':
			config = optarg;
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kiln ui: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	log_set_level(verbose >= 2 ? LOG_LEVEL_DEBUG : verbose ? LOG_LEVEL_INFO : LOG_LEVEL_WARN);
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
	fflush(stdout);
	err = ui__run(u, &stop);
	ret = err ? 1 : 0;
	if (err)
		log_error("%s", strerror(-err));
cleanup:
	ui__free(u);
	kiln_config__free(cfg);
	return ret;
}
