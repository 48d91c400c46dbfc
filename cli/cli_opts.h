/* SPDX-License-Identifier: Apache-2.0 */
/* Flag values shared by several subcommands, parsed with one wording for every error. */
#ifndef KILN_CLI_OPTS_H
#define KILN_CLI_OPTS_H

#include <stdint.h>
#include <stdio.h>

/*
 * Parses a sampling frequency for FLAG (e.g. "--freq"): 1 up to the kernel's
 * perf_event_max_sample_rate. Returns 0 and *HZ, or -EINVAL after logging why.
 */
int cli_parse_freq(const char *flag, const char *arg, unsigned int *hz);

/*
 * Parses a whole number in [MIN, MAX] for FLAG; WHAT names it in the error ("whole
 * seconds", "entries"). Returns 0 and *OUT, or -EINVAL after logging why.
 */
int cli_parse_num(const char *flag, const char *arg, uint64_t min, uint64_t max, const char *what,
		  uint64_t *out);

/*
 * The end of every subcommand's option switch: -v counts into *VERBOSE (when VERBOSE is not
 * NULL), -h prints USAGE on stdout, anything else (getopt's '?') prints USAGE on stderr.
 * Returns 0 after -v, 1 after -h (the command exits 0), -EINVAL otherwise (exit 2).
 */
int cli_opt_common(int opt, int *verbose, void (*usage)(FILE *f));

/* Sets the log level from the count of -v flags: warnings, then info (-v), then debug (-vv). */
void cli_set_verbosity(int verbose);

#endif
