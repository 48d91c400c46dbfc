/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Window records: one self-contained, versioned profile of one workload over one window,
 * as the agent writes it into the shared-memory ring (ring record type RING_TYPE_WINDOW)
 * and as every consumer (exporter, UI, top) reads it. The byte layout, with every rule
 * wrec__parse() checks, is written out in shm/FORMAT.md ("Window record"); these structs
 * are that layout.
 *
 * A record carries its own tables (strings, mappings, functions, locations, stacks) and its
 * samples, shaped like the OTLP Profiles dictionary: index 0 of every table is the zero
 * entry and means "unset". A consumer that attaches late or restarts needs nothing else.
 */
#ifndef KILN_PROFILE_WREC_H
#define KILN_PROFILE_WREC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "profile/profile.h"

#define WREC_MAGIC 0x3152574bu /* "KWR1" */
#define WREC_VERSION 1
/*
 * The largest record wrec__parse() accepts. The agent's own bound is lower: a record must
 * fit the ring (ring__max_payload()); a larger window is dropped and counted
 * (records_too_big), not split.
 */
#define WREC_MAX_SIZE (64u << 20)

/* Identity fields: string indices in the record's string table (0 = unknown). */
enum wrec_id_field {
	WREC_ID_KEY = 0, /* stable workload key, e.g. "k8s/NS/deployment/NAME" */
	WREC_ID_NAME, /* display / service.name, e.g. "api" or "nginx.service" */
	WREC_ID_KIND, /* "host", "process", "unit", "container", "pod" */
	WREC_ID_HOST, /* host.name */
	WREC_ID_EXE_NAME, /* process.executable.name (one process, or the main one) */
	WREC_ID_EXE_PATH, /* process.executable.path */
	WREC_ID_CONTAINER_ID, /* container.id (full hex id) */
	WREC_ID_UNIT, /* systemd unit, e.g. "nginx.service" */
	WREC_ID_K8S_NAMESPACE, /* k8s.namespace.name */
	WREC_ID_K8S_POD, /* k8s.pod.name */
	WREC_ID_K8S_POD_UID, /* k8s.pod.uid */
	WREC_ID_K8S_CONTAINER, /* k8s.container.name */
	WREC_ID_K8S_WL_KIND, /* "deployment", "statefulset", "daemonset", "job", ... */
	WREC_ID_K8S_WL_NAME, /* the workload's name */
	WREC_ID_CGROUP, /* cgroup v2 path, relative to the cgroup2 mount */
	WREC_ID_NR = 16,
};

/* Record tables, in the order they follow the header. */
enum wrec_table {
	WREC_T_STRINGS = 0, /* u32 end offsets[count], then the NUL-terminated bytes */
	WREC_T_MAPPINGS, /* struct wrec_mapping[count] */
	WREC_T_FUNCTIONS, /* struct wrec_function[count] */
	WREC_T_LOCATIONS, /* struct wrec_location[count] */
	WREC_T_STACK_LOCS, /* u32 location indices[count], stacks point into it */
	WREC_T_STACKS, /* struct wrec_stack[count] */
	WREC_T_SAMPLES, /* struct wrec_sample[count] */
	WREC_T_NR,
};

struct wrec_table_ref {
	uint32_t off; /* from the start of the record, 8-byte aligned */
	uint32_t count; /* entries; for STRINGS the number of strings */
};

struct wrec_header {
	uint32_t magic; /* WREC_MAGIC */
	uint16_t version; /* WREC_VERSION */
	uint16_t header_size; /* sizeof(struct wrec_header) */
	uint32_t size; /* the whole record in bytes */
	uint32_t flags; /* WREC_F_* */
	uint64_t window_seq; /* agent's window number */
	uint64_t start_ns; /* window start, ns since the Unix epoch */
	uint64_t duration_ns; /* window length */
	uint64_t period_ns; /* sampling period: 1e9 / Hz */
	uint64_t total; /* sum of the samples' counts */
	uint64_t cgroup_id; /* the workload's cgroup v2 id, 0 if none */
	uint32_t identity[WREC_ID_NR];
	struct wrec_table_ref tables[WREC_T_NR];
	uint32_t reserved[2];
};

/* Reserved: part of a larger window split by its producer. The agent never sets it. */
#define WREC_F_PARTIAL 0x1u

struct wrec_mapping {
	uint64_t start, limit, offset;
	uint32_t file; /* string index: path, or "[kernel.kallsyms]" / "[module]" */
	uint32_t build_id; /* string index: lowercase hex GNU build id */
	uint32_t flags; /* WREC_MAP_KERNEL */
	uint32_t pad;
};
#define WREC_MAP_KERNEL 0x1u

struct wrec_function {
	uint32_t name; /* string index: demangled name */
	uint32_t system_name; /* string index: symbol as in the binary (mangled) */
	uint32_t file; /* string index: source file, 0 when unknown */
	uint32_t pad;
};

enum wrec_frame_kind {
	WREC_FRAME_KERNEL = 1,
	WREC_FRAME_NATIVE = 2,
	WREC_FRAME_GO = 3,
	WREC_FRAME_JIT = 4, /* from a perf map */
	WREC_FRAME_PYTHON = 5, /* CPython: function name, its file, and the location's line */
};

struct wrec_location {
	uint64_t address; /* ELF virtual address in the mapping's file (kernel: address) */
	uint32_t mapping; /* mapping index, 0 = none */
	uint32_t function; /* function index, 0 = unsymbolized */
	uint32_t kind; /* enum wrec_frame_kind */
	uint32_t line; /* source line, 0 when unknown */
};

struct wrec_stack {
	uint32_t first; /* index into STACK_LOCS */
	uint32_t nr; /* locations, leaf first */
};

struct wrec_sample {
	uint32_t stack; /* stack index (>= 1) */
	uint32_t tgid; /* process id */
	uint32_t pid; /* thread id */
	uint32_t thread_name; /* string index: comm */
	uint64_t count; /* samples */
};

/*
 * A validated, read-only view of a record in place (no copy). Every index in it has been
 * checked against its table, every string is NUL-terminated inside the record, so a
 * consumer can follow indices without further checks.
 */
struct wrec_view {
	const struct wrec_header *hdr;
	const uint32_t *str_end; /* str_end[i]: end offset of string i in str_bytes */
	const char *str_bytes;
	uint32_t nr_strs;
	const struct wrec_mapping *maps;
	uint32_t nr_maps;
	const struct wrec_function *funcs;
	uint32_t nr_funcs;
	const struct wrec_location *locs;
	uint32_t nr_locs;
	const uint32_t *stack_locs;
	uint32_t nr_stack_locs;
	const struct wrec_stack *stacks;
	uint32_t nr_stacks;
	const struct wrec_sample *samples;
	uint32_t nr_samples;
};

/* Workload identity as C strings (NULL or "" = unknown), for wrec__encode. */
struct wrec_identity {
	const char *field[WREC_ID_NR];
	uint64_t cgroup_id;
};

struct wrec_window {
	uint64_t seq, start_ns, duration_ns, period_ns;
	uint32_t flags;
};

/*
 * Bytes that wrec__encode() needs for profile P with identity ID. Returns the size (a
 * multiple of 8), or 0 when it would exceed WREC_MAX_SIZE.
 */
size_t wrec__size(const struct profile *p, const struct wrec_identity *id);

/*
 * Writes the record for P, ID and W into BUF (LEN >= wrec__size(), 8-byte aligned), in
 * place: BUF is typically memory reserved in the ring. Returns the bytes written or -errno
 * (-ENOSPC when LEN is too small).
 */
ssize_t wrec__encode(const struct profile *p, const struct wrec_identity *id,
		     const struct wrec_window *w, void *buf, size_t len);

/*
 * Validates the LEN bytes at BUF as a record and fills *V (pointers into BUF). Returns 0,
 * -EBADMSG (bad magic, size or table bounds), -EPROTONOSUPPORT (unknown version) or
 * -EINVAL (an index out of range, a string not terminated). Never reads outside BUF.
 */
int wrec__parse(const void *buf, size_t len, struct wrec_view *v);

/* String I of a parsed record ("" for 0). I must be < v->nr_strs. */
static inline const char *wrec_view__str(const struct wrec_view *v, uint32_t i)
{
	return v->str_bytes + (i ? v->str_end[i - 1] : 0);
}

/* Identity field F of a parsed record ("" when unknown). */
static inline const char *wrec_view__id(const struct wrec_view *v, enum wrec_id_field f)
{
	return wrec_view__str(v, v->hdr->identity[f]);
}

/* Short name of identity field F ("key", "k8s_pod_uid", ...), or NULL when F is unused. */
const char *wrec_id__name(enum wrec_id_field f);

/*
 * Frame display name for location L of a parsed record: the function name, or
 * "[module+0xADDR]", or "[unknown]"; written into BUF (LEN bytes). Returns BUF.
 */
const char *wrec_view__frame_name(const struct wrec_view *v, uint32_t loc, char *buf, size_t len);

/*
 * Writes parsed record V to F as one JSON line: window fields, the identity by
 * wrec_id__name(), and each sample with its frames outermost first (name, kind, module,
 * build_id). The debugging form of a record (tests/agent/ringdump). Returns 0 or -EIO.
 */
int wrec_view__write_json(const struct wrec_view *v, FILE *f);

#endif
