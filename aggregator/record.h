/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The `kiln record` pipeline: loads the sampler, selects processes / cgroups / a command,
 * drains windows until a signal, a duration or the command's exit, and symbolizes every
 * sample into one in-memory profile. The command line (flags, which writer, exit codes)
 * stays in cli/cmd_record.c; this is what a one-off recording is, whoever asks for one.
 */
#ifndef KILN_AGGREGATOR_RECORD_H
#define KILN_AGGREGATOR_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "profile/profile.h"

/*
 * A one-off recording's default rate. The continuous agent samples at KILN_DEFAULT_HZ
 * (19 Hz, cheap enough to leave on); a recording of a few seconds at 19 Hz has too few
 * samples for its shares to mean much (5 s of one busy thread: 95 samples, a share's
 * standard error near 5 points), so a recording samples at 99 Hz.
 */
#define KILN_RECORD_DEFAULT_HZ 99

struct recorder_opts {
	size_t sz; /* sizeof(struct recorder_opts) */
	unsigned int freq_hz; /* 0 means KILN_RECORD_DEFAULT_HZ */
	unsigned int window_ms; /* in-kernel aggregation window; 0 means 1000 */
	uint64_t duration_ns; /* 0: until a signal or COMMAND's exit */
	bool include_idle;
	uint32_t count_map_entries, stack_map_entries; /* 0: sized by the sampler */
	bool no_unwind; /* --unwind fp: user stacks by frame pointers only, no tables */
	const uint32_t *pids; /* processes to profile */
	size_t nr_pids;
	const uint64_t *cgroup_ids; /* cgroups v2 to profile, with their paths */
	const char *const *cgroup_paths;
	size_t nr_cgroups;
	char *const *command; /* NULL, or argv (NULL-terminated) of a command to run and profile */
};

struct recorder;

/*
 * Loads the sampler and the symbolizer, selects the processes and cgroups and forks the
 * command (held before its exec until recorder__run()). Nothing selected: the whole host.
 * Returns 0 and the recorder in *OUT (free with recorder__free()), or -errno after logging
 * why (a refused BPF load says so, naming the capabilities it needs).
 */
int recorder__new(const struct recorder_opts *opts, struct recorder **out);

/*
 * Attaches the sampler, starts the command and drains windows into the profile until
 * SIGINT/SIGTERM, the duration or the command's exit. Returns 0, or -errno when it could
 * not start; an error while sampling is logged and what was collected is kept (0).
 */
int recorder__run(struct recorder *r);

/* The recorded profile, owned by R. */
struct profile *recorder__profile(struct recorder *r);

/* The sampling rate in use (Hz). */
unsigned int recorder__freq(const struct recorder *r);

/* First error met while adding samples to the profile (samples lost), or 0. */
int recorder__error(const struct recorder *r);

/*
 * Prints the exit summary to F: duration, samples written to OUT as FORMAT, then every
 * counter of the run (samples taken / aggregated / overflowed / dropped, process and
 * mapping events, stack walks, CPython) and how the command ended, if it has.
 */
void recorder__print_summary(struct recorder *r, FILE *f, const char *out, const char *format);

/* Stops the command if it still runs and frees everything; NULL is a no-op. */
void recorder__free(struct recorder *r);

#endif
