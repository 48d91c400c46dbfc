/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The selection: which processes the config's `sources` profile, and the in-kernel filter
 * that implements it (cgroup ids for workloads with a cgroup of their own, tgids for the
 * rest), kept current as processes start. No sources means the whole host: no filter.
 * A selection of process ids (kiln agent --pid) is the other kind: exactly those processes,
 * all their threads, by tgid, and never a process that later reuses one of the ids.
 */
#ifndef KILN_AGGREGATOR_SOURCES_H
#define KILN_AGGREGATOR_SOURCES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aggregator/identity.h"
#include "common/config.h"

struct sources;

/* What to add to the in-kernel filter (sampler__select_cgroup / sampler__select_tgid). */
struct sources_filter {
	uint64_t *cgroups;
	size_t nr_cgroups;
	uint32_t *tgids;
	size_t nr_tgids;
	size_t cap_cgroups, cap_tgids; /* internal */
};

/*
 * Copies the N selectors at S (config.h; each one kind: namespace/kind/name, unit,
 * containerId or executable). Returns the selection or NULL with errno set.
 */
struct sources *sources__new(const struct kiln_source *s, size_t n);

/*
 * A selection of the N process ids at PIDS (copied), for `kiln agent --pid`. Returns it or
 * NULL with errno set (EINVAL: N is 0 or an id is 0).
 */
struct sources *sources__new_pids(const uint32_t *pids, size_t n);

/* Frees S; NULL is a no-op. */
void sources__free(struct sources *s);

/* True when there is no selector: profile the whole host, program no filter. */
bool sources__empty(const struct sources *s);

/*
 * Returns the index of the first selector that ID (and the process's executable path or
 * name EXE, may be NULL) matches, or -1. A k8s selector matches pods whose namespace,
 * workload kind (or k8s_kind_alt) and workload name are equal to those it sets (a kind of
 * "pod" matches the pod's own name); unit matches the unit, also without ".service";
 * containerId a prefix of the container id; executable the basename, or the whole path when
 * it contains '/'.
 */
int sources__match(const struct sources *s, const struct workload_id *id, const char *exe);

/*
 * Scans every process under R's proc root once and adds what the selection needs to OUT
 * (cgroup ids when the workload owns its cgroup, else tgids), each item once. Counts
 * matches per selector for sources__unmatched(). Returns 0 or -errno.
 */
int sources__scan(struct sources *s, struct identity_resolver *r, struct sources_filter *out);

/*
 * Evaluates one new process (an exec event) and adds to OUT what is not already in the
 * filter. Returns 1 when TGID is selected, 0 when not, or -errno (-ESRCH: already gone).
 */
int sources__eval_pid(struct sources *s, struct identity_resolver *r, uint32_t tgid,
		      struct sources_filter *out);

/*
 * Forgets TGID (it exited) so that a reused pid is evaluated afresh; a selected process id
 * that exited is never selected again.
 */
void sources__forget_tgid(struct sources *s, uint32_t tgid);

/* Number of selectors (each process id of a pid selection is one). */
size_t sources__count(const struct sources *s);

/*
 * When selector I matched no process in the last scan, writes the warning the agent
 * prints into BUF, e.g. "source #2 {unit: foo.service} matches no running process", and
 * returns true; otherwise returns false.
 */
bool sources__unmatched(const struct sources *s, size_t i, char *buf, size_t len);

/* Empties F (keeps its memory); sources_filter__release frees it. */
void sources_filter__reset(struct sources_filter *f);
void sources_filter__release(struct sources_filter *f);

#endif
