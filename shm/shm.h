/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Named shared-memory rings: the segment that carries ringbuf/ between the agent (one
 * producer) and its consumers (exporter, UI, top). Two files per ring NAME:
 *
 *   /dev/shm/kiln-NAME       header + ring data, mode 0640: only the producer writes it, so
 *                            no consumer can corrupt what the others read
 *   /dev/shm/kiln-NAME.cons  consumer slots and the wake-up word, mode 0660: each consumer
 *                            writes its own cursor and counters there
 *
 * Both get the group chosen by the producer; group members attach without privileges.
 * Layout: shm/FORMAT.md. Consumers read through shm/reader.h, not this header's consumer
 * calls directly.
 */
#ifndef KILN_SHM_SHM_H
#define KILN_SHM_SHM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ringbuf/ringbuf.h"

#define SHM_MAGIC 0x474e49524e4c494bull /* "KILNRING" little-endian */
#define SHM_CONS_MAGIC 0x534e4f434e4c494bull /* "KILNCONS" little-endian */
/* 2: a header of 8 KiB with 160 counters (version 1 had 4 KiB and 64). */
#define SHM_VERSION 2
#define SHM_HDR_SIZE 8192 /* data starts here */
#define SHM_MAX_CONSUMERS 16
#define SHM_NUM_COUNTERS 160
#define SHM_COUNTER_NAME 24
#define SHM_DEFAULT_NAME "default"
#define SHM_DEFAULT_SIZE (16ull << 20)
#define SHM_NAME_MAX 64

/* A named counter the producer exports for `kiln status`; empty name = unused. */
struct shm_counter {
	char name[SHM_COUNTER_NAME];
	_Atomic uint64_t value;
};

/* The first SHM_HDR_SIZE bytes of the segment file. */
struct shm_hdr {
	uint64_t magic; /* SHM_MAGIC, stored last when created */
	uint32_t version; /* SHM_VERSION */
	uint32_t hdr_size; /* SHM_HDR_SIZE */
	uint64_t data_offset; /* SHM_HDR_SIZE */
	uint64_t data_size; /* ring bytes, power of two */
	uint32_t max_consumers; /* SHM_MAX_CONSUMERS */
	uint32_t gid; /* group given at creation, or (uint32_t)-1 */
	_Atomic int32_t producer_pid; /* 0 once the producer detached cleanly */
	uint32_t reserved0;
	_Atomic uint64_t producer_start_ns; /* wall clock of the current producer's start */
	uint64_t created_ns;
	_Atomic uint64_t heartbeat_ns; /* wall clock of the producer's last sign of life */
	uint64_t reserved1[7];
	struct ring_ctl ctl __attribute__((aligned(64)));
	struct shm_counter counters[SHM_NUM_COUNTERS] __attribute__((aligned(64)));
};

/*
 * What a consumer is, published in its slot so that `kiln status` can name its counters.
 * Values are part of the format (shm/FORMAT.md).
 */
enum shm_kind {
	SHM_KIND_OTHER = 0, /* no counters published (kiln top, tests, older consumers) */
	SHM_KIND_EXPORT = 1,
	SHM_KIND_UI = 2,
	SHM_KIND_NR,
};

/* Per-consumer counters in each slot; their meaning depends on the slot's kind. */
#define SHM_SLOT_STATS 8
/* Two more in the slot's once-reserved words 48..63 (stats_ext): index 8 and 9. */
#define SHM_SLOT_STATS_EXT 2
#define SHM_SLOT_STATS_ALL (SHM_SLOT_STATS + SHM_SLOT_STATS_EXT)

/* kiln export: totals over all its destinations. */
enum shm_export_stat {
	SHM_EXP_SENT, /* batches delivered (HTTP 2xx, or written for a file destination) */
	SHM_EXP_FAILURES, /* delivery attempts that failed (transport error or HTTP error) */
	SHM_EXP_RETRIES, /* attempts repeated after a failure */
	SHM_EXP_BYTES_SENT, /* request bytes delivered, as sent (compressed) */
	SHM_EXP_SAMPLES_SENT, /* samples in delivered batches */
	SHM_EXP_SPOOL_BYTES, /* gauge: bytes in the disk spool now */
	SHM_EXP_SPOOL_FILES, /* gauge: batches in the disk spool now */
	SHM_EXP_DROPPED, /* records lost for good: refused, queue or spool overflow */
	/* In stats_ext: samples outside a destination's ingestion window, not sent to it. */
	SHM_EXP_EXPIRED = SHM_SLOT_STATS, /* all of them */
	SHM_EXP_EXPIRED_KEPT, /* of those, the samples a file destination keeps */
};

/* kiln ui. */
enum shm_ui_stat {
	SHM_UI_RECORDS, /* window records received from the ring */
	SHM_UI_KEPT, /* records copied into a slot */
	SHM_UI_BAD, /* records that failed to parse or had no workload key */
	SHM_UI_SLOTS, /* gauge: slots open now */
	SHM_UI_BYTES, /* gauge: bytes held in all slots */
	SHM_UI_DROPPED, /* chunks dropped (oldest first) to stay under a slot's byte cap */
	SHM_UI_REFUSED, /* chunks larger than a slot's byte cap, refused */
	SHM_UI_EVICTED, /* slots evicted to make room for another (LRU) */
};

/* One consumer slot in the .cons file. */
struct shm_slot {
	/* 0: free; else claim number << 32 | pid (the claim number defeats ABA on reclaim) */
	_Atomic uint64_t owner;
	_Atomic uint64_t attach_ns; /* wall clock */
	_Atomic uint64_t active_ns; /* wall clock of its last wait/poll */
	char comm[16]; /* process name, for status */
	_Atomic uint32_t kind; /* enum shm_kind: how to read stats[] */
	uint32_t reserved0;
	_Atomic uint64_t stats_ext[SHM_SLOT_STATS_EXT]; /* counters SHM_SLOT_STATS.., see kind */
	struct ring_cursor cursor __attribute__((aligned(64)));
	_Atomic uint64_t stats[SHM_SLOT_STATS]; /* the consumer's own counters, see kind */
};

/* The .cons file. */
struct shm_cons {
	uint64_t magic; /* SHM_CONS_MAGIC, stored last when created */
	uint32_t version;
	uint32_t max_consumers;
	_Atomic uint64_t reclaimed; /* slots taken back from dead consumers */
	_Atomic uint64_t claims; /* slot claims, ever */
	struct ring_wake wake;
	uint32_t reserved[6];
	struct shm_slot slots[SHM_MAX_CONSUMERS] __attribute__((aligned(64)));
};

/* Counter K (< SHM_SLOT_STATS_ALL) of slot SL, wherever in the slot it lives. */
static inline _Atomic uint64_t *shm_slot__stat(const struct shm_slot *sl, int k)
{
	/* The slot is shared memory the caller may write: const only for readers' sake. */
	struct shm_slot *w = (struct shm_slot *)sl;

	return k < SHM_SLOT_STATS ? &w->stats[k] : &w->stats_ext[k - SHM_SLOT_STATS];
}

static inline int32_t shm_slot__pid(uint64_t owner)
{
	return (int32_t)(uint32_t)owner;
}

struct shm_producer_opts {
	const char *name; /* NAME (-> /dev/shm/kiln-NAME) or an absolute path; NULL: default */
	uint64_t size; /* ring bytes, power of two; 0: SHM_DEFAULT_SIZE */
	long gid; /* group of both files; -1: the creator's */
	uint64_t publish_bytes; /* see ring_producer_opts; 0: default */
};

struct shm_consumer_opts {
	const char *name;
	enum ring_start start;
};

struct shm_producer;
struct shm_consumer;
struct shm_view;

/*
 * Resolves NAME (NULL: SHM_DEFAULT_NAME) to the segment path in BUF. Returns 0, or -EINVAL
 * (bad characters, relative path) / -ENAMETOOLONG.
 */
int shm__path(const char *name, char *buf, size_t len);

/*
 * Writes into BUF a one-line explanation of ERR (a negative errno from this module) for the
 * ring NAME, naming the group to join on -EACCES. Returns BUF.
 */
const char *shm__strerror(const char *name, int err, char *buf, size_t len);

/* Removes both files of ring NAME. Returns 0 or -errno (-ENOENT when absent). */
int shm__unlink(const char *name);

/*
 * Creates ring NAME, or takes over an existing compatible one (a restart: attached
 * consumers keep their place, the generation changes). An incompatible existing segment is
 * replaced by a new file. Only one producer at a time: a second gets -EBUSY. Returns 0 and
 * sets *out (caller frees), or -errno.
 */
int shm_producer__new(struct shm_producer **out, const struct shm_producer_opts *opts);

/* The ring to write to, owned by P. */
struct ring_producer *shm_producer__ring(struct shm_producer *p);

/* The generation this producer runs as. */
uint64_t shm_producer__generation(const struct shm_producer *p);

/*
 * Returns the counter named NAME in the header (registering it in a free entry the first
 * time), owned by the segment; NULL when all SHM_NUM_COUNTERS are taken.
 */
_Atomic uint64_t *shm_producer__counter(struct shm_producer *p, const char *name);

/*
 * Records that the producer is alive now (heartbeat_ns in the header), for `kiln status`;
 * the agent calls it once per window.
 */
void shm_producer__heartbeat(struct shm_producer *p);

/* Reclaims the slots of consumers whose process is gone. Returns how many. */
int shm_producer__reap(struct shm_producer *p);

/*
 * Sets *POS to the cursor of the slowest attached consumer. Returns 0, or -ENOENT when no
 * consumer is attached. Used for flow control in tests and benches only: the producer
 * itself never waits for consumers.
 */
int shm_producer__min_cursor(struct shm_producer *p, uint64_t *pos);

/* Flushes, marks the producer gone in the header and unmaps. Files stay. NULL is a no-op. */
void shm_producer__free(struct shm_producer *p);

/*
 * Attaches to ring NAME as a consumer: maps the segment read-only and claims a slot (dead
 * consumers' slots are reclaimed first). Returns 0 and sets *out (caller frees), or -ENOENT
 * (no ring), -EACCES (not in its group), -EBADMSG (bad magic or sizes), -EPROTO (other
 * format version), -EUSERS (all slots taken), -EAGAIN (producer still initializing) or
 * another -errno.
 */
int shm_consumer__new(struct shm_consumer **out, const struct shm_consumer_opts *opts);

/* The ring to read from, owned by C. */
struct ring_consumer *shm_consumer__ring(struct shm_consumer *c);

/* This consumer's slot index. */
int shm_consumer__slot(const struct shm_consumer *c);

/*
 * ring_consumer__wait() that also records activity in the slot. Returns what it returns,
 * or -ESTALE when the segment file was replaced by an incompatible producer (reattach).
 */
int shm_consumer__wait(struct shm_consumer *c, int timeout_ms);

/* The generation of the producer now writing. */
uint64_t shm_consumer__generation(const struct shm_consumer *c);

/* The segment's header (read-only mapping), valid until shm_consumer__free(). */
const struct shm_hdr *shm_consumer__hdr(const struct shm_consumer *c);

/*
 * Marks C's slot as a consumer of KIND and returns its SHM_SLOT_STATS counters (indexed by
 * enum shm_export_stat / shm_ui_stat), zeroed at the claim and owned by the mapping: valid
 * until shm_consumer__free(). The consumer stores its totals there (relaxed atomics) for
 * `kiln status`; no one else writes them.
 */
_Atomic uint64_t *shm_consumer__stats(struct shm_consumer *c, enum shm_kind kind);

/* C's slot's SHM_SLOT_STATS_EXT further counters (indexed from SHM_SLOT_STATS). */
_Atomic uint64_t *shm_consumer__stats_ext(struct shm_consumer *c);

/*
 * The name of counter I of a consumer of KIND ("sent", "spool_bytes", ...), or NULL when
 * KIND publishes no counter I. Static strings.
 */
const char *shm_kind__stat_name(uint32_t kind, int i);

/*
 * True when a non-zero counter I of a consumer of KIND means data was lost or something
 * failed (kiln status lists it among the problems).
 */
bool shm_kind__stat_problem(uint32_t kind, int i);

/* "export", "ui" or "other". Static strings. */
const char *shm_kind__name(uint32_t kind);

/* Frees the slot and unmaps. NULL is a no-op. */
void shm_consumer__free(struct shm_consumer *c);

/*
 * Maps ring NAME read-only for inspection (kiln status). Returns 0 and sets *out (caller
 * frees), or the errors of shm_consumer__new().
 */
int shm_view__open(struct shm_view **out, const char *name);

/* The header and the consumer area, valid until shm_view__free(). */
const struct shm_hdr *shm_view__hdr(const struct shm_view *v);
const struct shm_cons *shm_view__cons(const struct shm_view *v);

/* The segment path that was opened. */
const char *shm_view__path(const struct shm_view *v);

/* Unmaps. NULL is a no-op. */
void shm_view__free(struct shm_view *v);

#endif
