/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CPython processes the sampler walks Python frames for: detected at a process's first
 * sample (python/), entered into the BPF map the walk reads (bpf/python.h), their code
 * objects read as the walk announces them (while the process lives), and kept after exit
 * until the windows that hold their samples are symbolized.
 */
#ifndef KILN_AGGREGATOR_PYPROCS_H
#define KILN_AGGREGATOR_PYPROCS_H

#include <stdint.h>

#include "python/python.h"

struct pyprocs;

struct pyprocs_stats {
	struct python_stats py; /* detection and symbolization outcomes (python/python.h) */
	uint64_t processes; /* CPython processes known now (refused ones included) */
	uint64_t announced; /* code objects the walk announced */
	uint64_t map_errors; /* processes the BPF map had no room for */
	uint64_t forks; /* forked workers set up from their parent, not read again */
	uint64_t not_python_cached; /* processes of a program known not to be CPython */
};

/*
 * Returns a registry that fills the BPF hash map INFO_FD (tgid -> struct kiln_py_info), or
 * NULL with errno set. Free with pyprocs__free.
 */
struct pyprocs *pyprocs__new(int info_fd);

/* Frees P and every process it holds; NULL is a no-op. */
void pyprocs__free(struct pyprocs *p);

/*
 * TGID had its first sample (or its mappings changed): detects CPython once per image
 * (a process found not to be CPython is not looked at again until it execs, unless
 * LIBPYTHON says a libpython was mapped since). Returns 0 or -errno.
 */
int pyprocs__seen(struct pyprocs *p, uint32_t tgid, bool libpython);

/* TGID exec'd: what was known of its old image is dropped. */
void pyprocs__exec(struct pyprocs *p, uint32_t tgid);

/* TGID exited: out of the BPF map now, freed by the second pyprocs__sweep() from now. */
void pyprocs__exit(struct pyprocs *p, uint32_t tgid);

/* Frees the processes that exited before the previous sweep (call once per drain). */
void pyprocs__sweep(struct pyprocs *p);

/* The walk announced code object CODE of TGID: it is read now, while TGID lives. */
void pyprocs__code(struct pyprocs *p, uint32_t tgid, uint64_t code);

/* TGID's CPython state, or NULL when it is not (known to be) a CPython process. */
struct python_proc *pyprocs__get(struct pyprocs *p, uint32_t tgid);

/* Fills *OUT with P's counters. */
void pyprocs__stats(const struct pyprocs *p, struct pyprocs_stats *out);

#endif
