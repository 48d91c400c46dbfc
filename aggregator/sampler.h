/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The kernel sampler's user-space side: loads bpf/profile.bpf.c, attaches it to the CPU
 * clock of every online CPU and to the process tracepoints, sets the in-kernel filter, and
 * drains finished windows into struct kiln_window.
 */
#ifndef KILN_AGGREGATOR_SAMPLER_H
#define KILN_AGGREGATOR_SAMPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/types.h>

#include "bpf/profile.h"
#include "bpf/python.h"
#include "aggregator/window.h"

struct sampler;

struct sampler_opts {
	size_t sz; /* sizeof(struct sampler_opts) */
	unsigned int freq_hz; /* sampling frequency per CPU; 0 means KILN_DEFAULT_HZ */
	bool include_idle; /* count the idle task (pid 0) too */
	bool follow_children; /* selected tgids' new child processes are selected too */
	uint32_t count_map_entries; /* per window; 0: sized from CPUs x Hz x window */
	uint32_t stack_map_entries; /* per window; 0: sized from CPUs x Hz x window */
	uint32_t window_ms; /* window length the maps are sized for; 0 means 1000 */
	uint32_t ringbuf_bytes; /* power of two, page multiple; 0 means default */
	/* Walk user stacks by frame pointers only: no unwind tables are loaded (tests, benches). */
	bool no_unwind;
	const char *proc_root; /* "/proc" when NULL: where process mappings are read */
	bool no_python; /* no CPython frames: processes are not looked at (tests, benches) */
};

/*
 * 19 Hz by default: a prime, so sampling does not run in lockstep with periodic work on
 * 10 ms / 100 Hz / 1 kHz timers (which would over- or under-count it), and slow enough to
 * run always on every node at a cost nobody notices. `kiln record` users raise it with -F.
 */
#define KILN_DEFAULT_HZ 19

/*
 * Called for each process event (exec, fork, exit) as it is read from the ring buffer;
 * EV is valid only during the call.
 */
typedef void (*sampler_proc_fn)(const struct kiln_ev_proc *ev, void *ctx);

/*
 * Checks FREQ_HZ against the kernel's perf_event_max_sample_rate. Returns 0, or -EINVAL
 * with *MAX set to the limit when it is out of range.
 */
int sampler__check_freq(unsigned int freq_hz, uint64_t *max);

/*
 * Opens and loads the BPF object. Returns a sampler (free with sampler__free) or NULL with
 * errno set: EPERM when the caller lacks CAP_BPF/CAP_PERFMON (or root), other errnos when
 * the kernel refuses the program.
 */
struct sampler *sampler__new(const struct sampler_opts *opts);

/* Detaches and frees everything; NULL is a no-op. */
void sampler__free(struct sampler *s);

/* Routes process events to FN. Call before sampler__attach(). */
void sampler__set_proc_fn(struct sampler *s, sampler_proc_fn fn, void *ctx);

/*
 * Adds TGID / a cgroup (v2 id) to the in-kernel selection. A selected TGID that runs gets
 * its unwind tables and CPython state loaded at once. Returns 0 or -errno.
 */
int sampler__select_tgid(struct sampler *s, uint32_t tgid);
int sampler__select_cgroup(struct sampler *s, uint64_t cgroup_id);

/*
 * Loads TGID's unwind tables and CPython state now rather than at its first sample, so
 * that sample and those right after it are walked with them too (for processes picked
 * by id or cgroup; a process that is gone is skipped).
 */
void sampler__prepare_process(struct sampler *s, uint32_t tgid);

/* Removes TGID from the selection (the filter stays on). Returns 0 or -errno. */
int sampler__unselect_tgid(struct sampler *s, uint32_t tgid);

/*
 * Turns the filter on even while both selection maps are empty: a selection that matches
 * nothing yet samples nothing (not the whole host). Returns 0.
 */
int sampler__filter_on(struct sampler *s);

/* Empties both selection maps and turns the filter off (the whole host is sampled). */
int sampler__reset_selection(struct sampler *s);

/* Whether TGID is currently in the in-kernel selection (follow mode adds children). */
bool sampler__tgid_selected(struct sampler *s, uint32_t tgid);

/*
 * Opens a perf event per online CPU on the software CPU clock and attaches the programs.
 * Returns 0 or -errno.
 */
int sampler__attach(struct sampler *s);

/*
 * Stops sampling (detaches every program). A sampler__drain() afterwards returns all that
 * was sampled, so the metrics then add up exactly. Returns 0.
 */
int sampler__detach(struct sampler *s);

/* The BPF ring buffer's epoll fd: readable when events are waiting. */
int sampler__events_fd(struct sampler *s);

/* Reads waiting ring-buffer records (process events now, overflow samples kept for their
 * window). Returns the number read or -errno. */
int sampler__poll_events(struct sampler *s);

/*
 * Flips the window, waits until no program still writes the old one, drains it (counts and
 * user stacks read in place, kernel stacks), merges its overflow samples and
 * calls FN once with the result. WALL_START_NS/DURATION_NS describe the window.
 * Returns FN's return value, or -errno from the drain.
 */
int sampler__drain(struct sampler *s, int (*fn)(const struct kiln_window *w, void *ctx), void *ctx);

/* Sums the per-CPU metrics into OUT[KILN_M_NR]. Returns 0 or -errno. */
int sampler__metrics(struct sampler *s, uint64_t out[KILN_M_NR]);

/*
 * Samples the kernel did not run the program for because another BPF program was running
 * on that CPU (bpf_prog_info.recursion_misses). Returns the count, 0 when unknown.
 */
uint64_t sampler__missed(struct sampler *s);

/* Name of metric M for summaries and /metrics (e.g. "aggregated"). */
const char *sampler__metric_name(enum kiln_metric m);

/* Distinct stacks drained so far (kernel and user stacks counted separately). */
uint64_t sampler__stacks_total(struct sampler *s);

/* The native unwinder's state (tables loaded, memory, failures), or NULL when it is off. */
struct unwinder *sampler__unwinder(struct sampler *s);

/*
 * Process TGID mapped the executable file PATH (from mapping events, mmapwatch): the
 * tables of a library mapped after the process's first sample (dlopen) are loaded at the
 * next sampler__flush_mapped(). CTX is the sampler (the mmapwatch observer's form).
 */
void sampler__mapped(void *ctx, uint32_t tgid, const char *path);

/* Loads the tables of what sampler__mapped() reported since the last call. */
void sampler__flush_mapped(void *ctx);

/* The CPython processes of the sampler, or NULL when Python frames are off. */
struct pyprocs *sampler__pyprocs(struct sampler *s);

/*
 * TGID's CPython state (for symbolizer__set_python(): S is the sampler), or NULL when TGID
 * is not a CPython process the sampler knows.
 */
struct python_proc *sampler__python(void *s, uint32_t tgid);

/* Sums the Python walk's per-CPU counters (enum kiln_py_counter). Returns 0 or -errno. */
int sampler__py_metrics(struct sampler *s, uint64_t out[KILN_PY_C_NR]);

/* The sampling period in nanoseconds (1e9 / frequency). */
uint64_t sampler__period_ns(struct sampler *s);

#endif
