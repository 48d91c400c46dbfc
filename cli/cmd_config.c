// SPDX-License-Identifier: Apache-2.0
/* `kiln config check FILE`: validates a configuration file and explains what it does. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli_opts.h"
#include "commands.h"
#include "common/config.h"

#define PROFILES_PATH "/v1development/profiles"

static void usage(FILE *f)
{
	fprintf(f, "usage: kiln config check [--env] FILE\n"
		   "\n"
		   "Validates a kiln YAML configuration and explains what it does: sampling,\n"
		   "windows, where profiles go (with the URLs kiln will post to) and which\n"
		   "workloads are profiled. Exits 0 when the file is valid, 1 with the error\n"
		   "(FILE:LINE: KEY: expected ..., got ...) when it is not.\n"
		   "\n"
		   "options:\n"
		   "  -e, --env    also apply the PROFILES_* environment variables\n"
		   "  -h, --help   show this help\n"
		   "\n"
		   "docs/configuration.md lists every key and its default.\n");
}

static const char *compression_name(enum kiln_compression c)
{
	switch (c) {
	case KILN_COMPRESS_GZIP:
		return "gzip";
	case KILN_COMPRESS_ZSTD:
		return "zstd";
	default:
		return "none";
	}
}

/* Prints N ns the way a user writes it: "5s", "300ms", "1.5s". */
static void print_duration(uint64_t ns)
{
	if (ns % 1000000000ull == 0)
		printf("%llus", (unsigned long long)(ns / 1000000000ull));
	else if (ns % 1000000ull == 0)
		printf("%llums", (unsigned long long)(ns / 1000000ull));
	else
		printf("%lluns", (unsigned long long)ns);
}

static void print_size(uint64_t b)
{
	if (b && b % (1ull << 30) == 0)
		printf("%lluGiB", (unsigned long long)(b >> 30));
	else if (b && b % (1ull << 20) == 0)
		printf("%lluMiB", (unsigned long long)(b >> 20));
	else if (b && b % (1ull << 10) == 0)
		printf("%lluKiB", (unsigned long long)(b >> 10));
	else
		printf("%lluB", (unsigned long long)b);
}

/*
 * The URL a destination posts to, as the exporter resolves it: pyroscope host:port gets
 * http:// and the OTLP profiles path (Pyroscope serves it with no /otlp prefix); an otlp
 * base URL without a path gets the path appended, one with a path is used as written.
 */
static void print_endpoint(const struct kiln_destination *d)
{
	const char *u = d->url, *host, *slash;

	switch (d->type) {
	case KILN_DEST_PYROSCOPE:
		printf("POST http://%s%s", u, PROFILES_PATH);
		break;
	case KILN_DEST_OTLP:
		host = strstr(u, "://") + 3;
		slash = strchr(host, '/');
		if (!slash || !strcmp(slash, "/"))
			printf("POST %.*s%s", (int)(slash ? slash - u : (long)strlen(u)), u,
			       PROFILES_PATH);
		else
			printf("POST %s", u);
		break;
	case KILN_DEST_FILE:
		printf("write %s files into %s/", !strcmp(d->format, "pprof") ? "pprof" : "OTLP",
		       u);
		break;
	}
}

static void explain(const struct kiln_config *c)
{
	size_t i;

	if (!c->profiling_enabled) {
		printf("  profiling is disabled: the agent starts but samples nothing\n");
	} else {
		printf("  sampling: %u Hz on every CPU, aggregated in ", c->sampling_hz);
		print_duration(c->window_ns);
		printf(" windows\n");
	}
	printf("  ring: /dev/shm/kiln-%s, ", c->ring_name);
	print_size(c->ring_size);
	if (*c->ring_group)
		printf(", readable by group %s", c->ring_group);
	printf("\n");
	if (c->ui.enabled)
		printf("  ui: http://%s/ (%llu slots, %llus TTL, ", c->ui.listen,
		       (unsigned long long)c->ui.max_slots, (unsigned long long)c->ui.slot_ttl_s);
	else
		printf("  ui: disabled (buffer: %llu slots, %llus TTL, ",
		       (unsigned long long)c->ui.max_slots, (unsigned long long)c->ui.slot_ttl_s);
	print_size(c->ui.slot_max_bytes);
	printf(" per slot)\n");
	printf("  export: %s compression, timeout ", compression_name(c->exporter.compression));
	print_duration(c->exporter.timeout_ns);
	printf(", batches of up to ");
	print_size(c->exporter.batch_max_bytes);
	printf(" or ");
	print_duration(c->exporter.batch_timeout_ns);
	if (c->exporter.retry.enabled) {
		printf(", retry every ");
		print_duration(c->exporter.retry.initial_ns);
		printf(" to ");
		print_duration(c->exporter.retry.max_interval_ns);
		printf(" for ");
		if (c->exporter.retry.max_elapsed_ns)
			print_duration(c->exporter.retry.max_elapsed_ns);
		else
			printf("ever");
	} else {
		printf(", no retry");
	}
	printf("\n");
	if (c->exporter.spool_enabled) {
		printf("  spool: %s (up to ", c->exporter.spool_dir);
		print_size(c->exporter.spool_max_bytes);
		printf(") while a destination is down\n");
	}
	if (!c->nr_dests)
		printf("  destinations: none (profiles only reach the UI)\n");
	for (i = 0; i < c->nr_dests; i++) {
		const struct kiln_destination *d = &c->dests[i];

		printf("  destination %s (%s): ", d->name,
		       d->type == KILN_DEST_FILE   ? "file"
		       : d->type == KILN_DEST_OTLP ? "otlp"
						   : "pyroscope");
		print_endpoint(d);
		if (d->nr_headers)
			printf(", %zu header%s", d->nr_headers, d->nr_headers == 1 ? "" : "s");
		if (d->bearer_token_env || d->bearer_token_file)
			printf(", bearer token");
		if (d->basic_user)
			printf(", basic auth as %s", d->basic_user);
		printf("\n");
	}
	if (!c->nr_sources)
		printf("  sources: the whole host (every process)\n");
	for (i = 0; i < c->nr_sources; i++) {
		const struct kiln_source *s = &c->sources[i];

		printf("  source #%zu: ", i + 1);
		if (s->unit)
			printf("systemd unit %s\n", s->unit);
		else if (s->container_id)
			printf("container %s\n", s->container_id);
		else if (s->executable)
			printf("processes running %s\n", s->executable);
		else
			printf("Kubernetes %s %s in namespace %s\n",
			       s->k8s_kind ? s->k8s_kind : "workloads",
			       s->k8s_name ? s->k8s_name : "(any name)",
			       s->k8s_namespace ? s->k8s_namespace : "(any)");
	}
}

int cmd_config(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "env", no_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct kiln_config *c = NULL;
	bool env = false;
	char err[512];
	int opt, ret;

	/* "check" comes first; getopt would otherwise take it for the file. */
	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (argc < 2 || strcmp(argv[1], "check")) {
		if (argc >= 2)
			fprintf(stderr, "kiln config: unknown action '%s'\n", argv[1]);
		usage(stderr);
		return EXIT_USAGE;
	}
	argc--;
	argv++;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "eh", opts, NULL)) != -1) {
		switch (opt) {
		case 'e':
			env = true;
			break;
		default:
			return cli_opt_common(opt, NULL, usage) > 0 ? 0 : EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return EXIT_USAGE;
	}
	ret = kiln_config__load(argv[optind], &c, err, sizeof(err));
	if (!ret && env)
		ret = kiln_config__apply_env(c, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "%s\n", err);
		kiln_config__free(c);
		return 1;
	}
	printf("%s: ok\n", argv[optind]);
	explain(c);
	kiln_config__free(c);
	return 0;
}
