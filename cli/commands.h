/* SPDX-License-Identifier: Apache-2.0 */
/* Entry points of the kiln subcommands; each parses its own flags with getopt_long. */
#ifndef KILN_CLI_COMMANDS_H
#define KILN_CLI_COMMANDS_H

/*
 * Every command takes argv with argv[0] set to "kiln NAME" and returns the process exit
 * status: 0 on success, 1 on a runtime failure, 2 on a usage error.
 */
int cmd_agent(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_record(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_ui(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_top(int argc, char **argv);

#define EXIT_USAGE 2

#endif
