/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Executable mappings as the kernel creates them: one perf software event per online CPU
 * (PERF_COUNT_SW_DUMMY, system-wide) that samples nothing and only reports mmap of
 * executable memory (PERF_RECORD_MMAP2), exec (PERF_RECORD_COMM with the exec flag), fork
 * and exit. The symbolizer then knows a process's mappings without reading /proc/PID/maps,
 * so a process that lived 20 ms is symbolized however late its samples are drained.
 */
#ifndef KILN_AGGREGATOR_MMAPWATCH_H
#define KILN_AGGREGATOR_MMAPWATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mmapwatch;

struct mmapwatch_opts {
	size_t sz; /* sizeof(struct mmapwatch_opts) */
	unsigned int ring_pages; /* data pages per CPU ring, a power of two; 0: from 8 MiB */
	/*
	 * No perf events are opened: records come only through mmapwatch__feed() (tests and
	 * fuzzing of the parser).
	 */
	bool offline;
};

enum mmapwatch_type {
	MMAPWATCH_MMAP = 1, /* an executable file (or anonymous) mapping was created */
	MMAPWATCH_EXEC, /* PID exec'd: its old mappings are gone */
	MMAPWATCH_FORK, /* PID was created by PPID */
	MMAPWATCH_EXIT, /* thread TID of PID exited */
};

/* One record, valid only during the callback it is passed to. */
struct mmapwatch_rec {
	enum mmapwatch_type type;
	uint32_t pid, tid; /* process (tgid) and thread */
	uint32_t ppid, ptid; /* FORK and EXIT: the parent process and thread */
	uint64_t time_ns; /* CLOCK_MONOTONIC, as BPF's ktime */
	/* MMAPWATCH_MMAP */
	uint64_t addr, len, pgoff;
	uint32_t maj, min; /* 0 when the kernel gave a build id instead */
	uint64_t ino;
	uint8_t build_id[20];
	uint8_t build_id_size; /* 0 when none was given */
	uint32_t prot, flags; /* PROT_* and MAP_* of the mapping */
	const char *filename; /* "//anon" for anonymous memory, "[vdso]" ... */
	const char *comm; /* MMAPWATCH_EXEC: the new command name */
};

typedef void (*mmapwatch_fn)(const struct mmapwatch_rec *rec, void *ctx);

struct mmapwatch_stats {
	uint64_t records; /* records read from the rings (every type) */
	uint64_t lost; /* records the kernel dropped, as its PERF_RECORD_LOST say */
	uint64_t bad; /* truncated or malformed records (skipped; the rest of a stream too) */
	uint64_t mmaps, execs, forks, exits; /* delivered to the callback, by type */
};

/*
 * Opens the per-CPU events and maps their rings (nothing with opts->offline). Returns 0 and
 * *OUT (caller frees with mmapwatch__free), or -errno (-EACCES/-EPERM without
 * CAP_PERFMON, -ENOENT/-EINVAL where the kernel lacks these records) with nothing logged.
 */
int mmapwatch__new(struct mmapwatch **out, const struct mmapwatch_opts *opts);

/*
 * An epoll fd that is readable when some ring has passed its watermark (a quarter full), or
 * -1 for an offline watch. Owned by W.
 */
int mmapwatch__fd(const struct mmapwatch *w);

/*
 * Reads every ring empty and calls FN for each record of interest, oldest first across
 * CPUs. Returns the number of records delivered or -errno.
 */
int mmapwatch__read(struct mmapwatch *w, mmapwatch_fn fn, void *ctx);

/*
 * Parses LEN bytes of back-to-back perf records as a ring holds them (header, body,
 * sample_id trailer of pid, tid and time) and calls FN for each of interest, oldest first.
 * Malformed records are counted in stats.bad: a record whose size is impossible ends the
 * stream, one whose body does not fit its type is skipped. Returns the number delivered.
 */
int mmapwatch__feed(struct mmapwatch *w, const void *buf, size_t len, mmapwatch_fn fn, void *ctx);

/* Fills *OUT with W's counters. */
void mmapwatch__stats(const struct mmapwatch *w, struct mmapwatch_stats *out);

/* True when the kernel reports build ids instead of device and inode (5.12 and later). */
bool mmapwatch__build_ids(const struct mmapwatch *w);

struct symbolizer;

/*
 * An mmapwatch_fn that applies REC to the symbolizer CTX (see mmapwatch__apply): for
 * mmapwatch__feed() in tests and tools.
 */
void mmapwatch__to_symbolizer(const struct mmapwatch_rec *rec, void *ctx);

/*
 * mmapwatch__read() into symbolizer SYM: exec and fork start a process's mappings afresh
 * (symbolizer__process_born), executable mappings are added, a process's exit is marked;
 * records lost since the last call make SYM distrust what it has (symbolizer__events_lost).
 * Returns the number of records delivered or -errno.
 */
int mmapwatch__apply(struct mmapwatch *w, struct symbolizer *sym);

/*
 * Also tells MAPPED(CTX, tgid, path) of every executable file mapping mmapwatch__apply()
 * delivers, then FLUSH(CTX) once the call has read what there was: the sampler loads the
 * unwind tables of a library a process maps after its start (dlopen) this way.
 */
void mmapwatch__set_observer(struct mmapwatch *w,
			     void (*mapped)(void *ctx, uint32_t tgid, const char *path),
			     void (*flush)(void *ctx), void *ctx);

/* Closes the events and frees W; NULL is a no-op. */
void mmapwatch__free(struct mmapwatch *w);

#endif
