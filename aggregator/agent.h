/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `kiln agent`: the node agent. Runs the sampler's drain loop, symbolizes each window,
 * attributes every sample to a workload and writes one window record per workload, in
 * place, into the shared-memory ring. The only privileged kiln process.
 */
#ifndef KILN_AGGREGATOR_AGENT_H
#define KILN_AGGREGATOR_AGENT_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"

struct agent;

struct agent_opts {
	size_t sz; /* sizeof(struct agent_opts) */
	const char *config_path; /* reloaded on SIGHUP; NULL: none */
	long ring_gid; /* group of the ring files; -1: the agent's own */
	uint32_t count_map_entries; /* 0: sampler default */
	uint32_t stack_map_entries; /* 0: sampler default */
	uint64_t duration_ns; /* stop after this long; 0: until a signal */
	const char *proc_root; /* "/proc" when NULL (tests) */
	const char *cgroup_root; /* cgroup2 mount when NULL (tests) */
	const char *pod_log_root; /* "/var/log/pods" when NULL (tests) */
	const uint32_t *pids; /* --pid: sample only these processes (not the config's sources) */
	size_t nr_pids; /* the caller keeps PIDS until agent__free() */
};

/*
 * Loads the sampler with CFG's settings (frequency, window, sources), creates or takes
 * over the ring and prepares the symbolizer. The agent keeps its own copy of what it needs
 * from CFG, which the caller still owns. Returns 0 and *OUT, or -errno (-EPERM without
 * the privileges BPF needs) with a message logged.
 */
int agent__new(struct agent **out, const struct kiln_config *cfg, const struct agent_opts *opts);

/*
 * Runs until SIGINT/SIGTERM (the current window is flushed into the ring first) or the
 * duration. SIGHUP reloads the config file; a reload error is logged and the old config
 * stays. Returns 0 or -errno.
 */
int agent__run(struct agent *a);

/* Prints the exit summary (samples, records, drops) to stderr. */
void agent__print_summary(struct agent *a);

/* Frees A (detaches, leaves the ring for consumers to finish); NULL is a no-op. */
void agent__free(struct agent *a);

#endif
