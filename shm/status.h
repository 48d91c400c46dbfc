/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A ring's status, as `kiln status` shows it: the header, the producer's counters grouped as
 * common/counters.def says, every consumer slot with its lag, losses and own counters, and
 * the `kiln run` state file. Read once (shm_status__read()) so that the text and the JSON
 * say the same; needs only read access to the ring, never attaches as a consumer.
 */
#ifndef KILN_SHM_STATUS_H
#define KILN_SHM_STATUS_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "shm/counters.h"
#include "shm/runstate.h"
#include "shm/shm.h"

/*
 * Producer counters are shown by their group of common/counters.def, except that every
 * counter whose table entry says "problem" is shown with the drops and errors.
 */
#define SHM_STATUS_PROBLEMS KILN_CG_NR /* one more group, shown after "samples" */
#define SHM_STATUS_GROUPS (KILN_CG_NR + 1)

/* A producer counter copied out of the header. */
struct shm_status_counter {
	char name[SHM_COUNTER_NAME];
	uint64_t value;
	int g; /* enum kiln_counter_group, or SHM_STATUS_PROBLEMS */
	bool problem; /* from the table: a non-zero value is a problem */
	int order; /* table index, or KILN_C_NR + header position for unknown names */
};

/* A consumer slot copied out of the .cons file. */
struct shm_status_consumer {
	int slot;
	int32_t pid;
	bool alive;
	char comm[17];
	uint32_t kind;
	uint64_t attach_ns, active_ns, lag;
	uint64_t consumed, bytes, lost, lapped, corrupt, generations, waits;
	uint64_t stats[SHM_SLOT_STATS_ALL];
};

/* Everything status reports, read once so that text and JSON say the same. */
struct shm_status {
	const char *name;
	char path[PATH_MAX];
	uint64_t now;
	uint32_t version, max_consumers, gid;
	uint64_t data_size, created_ns;
	char group[64];
	int32_t ppid;
	bool palive;
	uint64_t generation, pstart_ns, heartbeat_ns;
	uint64_t head, tail, next_seq;
	uint64_t ring[8]; /* records, bytes, pads, flushes, wakeups, too_big, recovered, reset */
	struct shm_status_counter pc[SHM_NUM_COUNTERS];
	int nr_pc;
	struct shm_status_consumer cs[SHM_MAX_CONSUMERS];
	int nr_cs;
	uint64_t claims, reclaimed;
	/* kiln run */
	char run_path[PATH_MAX];
	int run_err; /* runstate__read(): 0, -ENOENT (no supervisor) or another -errno */
	struct runstate run;
	bool sup_alive;
	bool child_alive[RUNSTATE_MAX_CHILDREN];
};

/* Names of shm_status.ring[]: records, bytes, pads, flushes, wakeups, too_big, ... */
extern const char *const shm_status_ring_names[8];

/*
 * Fills S (zeroed, with s->name set to the ring's name or NULL for the default) from the
 * ring open in V, its consumer slots and its kiln run state file. Cannot fail: what cannot
 * be read is recorded (s->run_err).
 */
void shm_status__read(struct shm_status *s, const struct shm_view *v);

#endif
