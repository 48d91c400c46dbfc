/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An in-memory, deduplicated CPU profile: strings, mappings, functions, locations, stacks
 * and samples, in the same shape as pprof / OTLP Profiles tables (index 0 of every table
 * is the empty entry). Built by `kiln record` (and later the agent), written as folded
 * stacks or pprof, and later encoded as window records and OTLP.
 */
#ifndef KILN_PROFILE_H
#define KILN_PROFILE_H

#include <stdint.h>
#include <stdio.h>

#include "symbolize/symbolize.h"

struct profile;

/* Returns a new empty profile sampled every PERIOD_NS, or NULL (errno set). */
struct profile *profile__new(uint64_t period_ns);

/* Frees P; NULL is a no-op. */
void profile__free(struct profile *p);

/* Sets the wall-clock time span covered (for pprof time_nanos / duration_nanos). */
void profile__set_time(struct profile *p, uint64_t start_ns, uint64_t duration_ns);

/*
 * Adds COUNT samples of one stack. FRAMES are resolved frames, leaf first (kernel frames
 * first, then user frames, as a stack reads from the leaf). Samples with the same stack,
 * tgid, pid and comm are merged. The frames' strings are copied.
 * Returns 0 or -errno.
 */
int profile__add(struct profile *p, const struct sym_frame *frames, size_t nr_frames,
		 const char *comm, uint32_t tgid, uint32_t pid, uint64_t count);

/*
 * Promises that the strings of every frame later passed to profile__add() are immutable and
 * outlive P, as the symbolizer's are. A frame seen before is then found by one lookup on
 * its fields and string addresses, instead of hashing and comparing each string again.
 * The comm argument is not covered: it is always compared by content.
 */
void profile__trust_frame_strings(struct profile *p);

/* Total sample count, and number of distinct stacks. */
uint64_t profile__total(const struct profile *p);
uint64_t profile__nr_stacks(const struct profile *p);

/*
 * Writes flamegraph.pl's folded format: one "comm;outermost;...;leaf COUNT" line per
 * distinct (comm, stack). Unknown frames show as "[module+0xoff]" or "[unknown]".
 * Returns 0 or -errno.
 */
int profile__write_folded(const struct profile *p, FILE *f);

/*
 * Writes a gzipped pprof profile.proto to PATH: sample types samples/count and
 * cpu/nanoseconds, period_type cpu/nanoseconds, period = period_ns; labels pid, tid, comm.
 * Returns 0 or -errno.
 */
int profile__write_pprof(const struct profile *p, const char *path);

/*
 * The pictures of kiln record (profile/calltree.c builds the call tree they share; TITLE
 * says what was profiled). Each writes the whole file to F and returns 0 or -errno.
 *
 * profile__write_html: one self-contained page (no network access: style, script and data
 * inline) with the flame graph, the symbols table (Self / Total, profile/symtotal.h),
 * search and zoom.
 * profile__write_svg: a static flame graph, frames coloured by kind, a <title> tooltip on
 * each.
 * profile__write_speedscope: speedscope's JSON file format, one "sampled" profile whose
 * weights are CPU nanoseconds.
 */
int profile__write_html(const struct profile *p, FILE *f, const char *title);
int profile__write_svg(const struct profile *p, FILE *f, const char *title);
int profile__write_speedscope(const struct profile *p, FILE *f, const char *title);

/*
 * The one name a Python frame has in single-string outputs (folded, the UI's flame graph and
 * symbols table, kiln top): "file.py:Qualified.name", the base name of its source file,
 * then its co_qualname. Writes it into BUF (LEN bytes) and returns BUF.
 */
const char *profile_python_name(const char *file, const char *name, char *buf, size_t len);

#endif
