// SPDX-License-Identifier: Apache-2.0
/* The single kiln binary: dispatches to one subcommand. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "common/log.h"
#include "common/util.h"

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

static int cmd_version(int argc, char **argv);
static int cmd_help(int argc, char **argv);

static const struct command commands[] = {
	{ "agent", cmd_agent,
	  "the node agent: sample, symbolize, write window records to the ring" },
	{ "config", cmd_config, "check a configuration file" },
	{ "run", cmd_run, "start agent, exporter and UI; restart them; the one-box default" },
	{ "top", cmd_top, "live terminal view of the hottest functions, like perf top" },
	{ "record", cmd_record, "profile the host, some processes or a command into a file" },
	{ "export", cmd_export, "ship profiles from the ring to OTLP / Pyroscope / files" },
	{ "status", cmd_status, "show a shared-memory ring: producer, consumers, counters" },
	{ "ui", cmd_ui, "serve the live flame graph and symbols table" },
	{ "version", cmd_version, "print the version" },
	{ "help", cmd_help, "show this help" },
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: kiln COMMAND [OPTIONS]\n\ncommands:\n");
	for (i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n'kiln COMMAND --help' describes each command.\n");
}

/*
 * `kiln version` and `kiln help` take no arguments but --help, like every other command:
 * returns -1 to go on, else the exit status (0 after --help, EXIT_USAGE for anything else).
 */
static int no_args(int argc, char **argv, const char *usage_line)
{
	if (argc < 2)
		return -1;
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		printf("usage: %s\n", usage_line);
		return 0;
	}
	fprintf(stderr, "%s: unexpected argument '%s'\nusage: %s\n", argv[0], argv[1], usage_line);
	return EXIT_USAGE;
}

static int cmd_version(int argc, char **argv)
{
	int rc = argv ? no_args(argc, argv, "kiln version") : -1;

	if (rc >= 0)
		return rc;
	printf("kiln %s\n", KILN_VERSION);
	return 0;
}

static int cmd_help(int argc, char **argv)
{
	int rc = argv ? no_args(argc, argv, "kiln help") : -1;

	if (rc >= 0)
		return rc;
	usage(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	char name[64];
	size_t i;

	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return cmd_help(0, NULL);
	if (!strcmp(argv[1], "--version"))
		return cmd_version(0, NULL);
	for (i = 0; i < ARRAY_SIZE(commands); i++) {
		if (strcmp(argv[1], commands[i].name))
			continue;
		snprintf(name, sizeof(name), "kiln %s", commands[i].name);
		argv[1] = name;
		log_set_name(name);
		return commands[i].fn(argc - 1, argv + 1);
	}
	fprintf(stderr, "kiln: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
