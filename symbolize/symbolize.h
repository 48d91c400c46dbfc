/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Address -> symbol. Kernel addresses through /proc/kallsyms; user addresses through
 * /proc/PID/maps to file-backed mappings and their ELF symbol tables (libelf), separate
 * debug files (build-id tree, .gnu_debuglink), Go's .gopclntab, and perf map files for JIT
 * code. C++ and Rust names are demangled (libiberty). ELF data is cached by GNU build id
 * (else device, inode and mtime) within a memory budget.
 */
#ifndef KILN_SYMBOLIZE_H
#define KILN_SYMBOLIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct symbolizer;

struct symbolizer_opts {
	size_t sz; /* sizeof(struct symbolizer_opts), for forward compatibility */
	const char *proc_root; /* "/proc" when NULL; tests point it elsewhere */
	const char *kallsyms; /* "/proc/kallsyms" when NULL */
	/*
	 * Root of separate debug files, "/usr/lib/debug" when NULL: DEBUG_ROOT/.build-id/xx/
	 * rest.debug and DEBUG_ROOT/DIR/LINK. Looked up inside the process's root first
	 * (/proc/PID/root), then on the host.
	 */
	const char *debug_root;
	/*
	 * Budget for cached ELF symbol tables, mappings and perf maps, 32 MiB when 0. Unused ELF
	 * entries are evicted least recently used first when over it; tables that live
	 * processes still use are never evicted, so the total may exceed it.
	 */
	size_t cache_bytes;
	/*
	 * CLOCK_MONOTONIC in ns when NULL. The re-read and sweep limits are in time; tests
	 * pass a clock of their own so they can step it instead of sleeping.
	 */
	uint64_t (*clock_ns)(void *ctx);
	void *clock_ctx;
};

enum sym_frame_kind {
	SYM_FRAME_KERNEL = 1,
	SYM_FRAME_NATIVE = 2,
	SYM_FRAME_GO = 3, /* from a Go binary */
	SYM_FRAME_JIT = 4, /* named by a perf map (/tmp/perf-PID.map); module "[jit]" */
	SYM_FRAME_PYTHON = 5, /* a CPython frame: name (co_qualname), file and line */
};

/*
 * A resolved frame. Every string is owned by the symbolizer and stays valid until
 * symbolizer__free(); NULL where unknown.
 */
struct sym_frame {
	enum sym_frame_kind kind;
	const char *name; /* function name (demangled), NULL when no symbol covers the address */
	const char *module; /* mapped file path, "[kernel.kallsyms]" or "[MODULE]" */
	const char *build_id; /* lowercase hex GNU build id of the module, or NULL */
	uint64_t addr; /* the address as sampled */
	uint64_t elf_vaddr; /* user: ELF virtual address within module; kernel: addr */
	uint64_t sym_offset; /* addr - symbol start, 0 when no symbol */
	uint64_t map_start; /* mapping [start, limit) and its file offset; 0 for kernel */
	uint64_t map_limit;
	uint64_t map_offset;
	const char *system_name; /* name as in the binary (mangled); == name when not mangled */
	const char *file; /* source file (Python frames), NULL when unknown */
	uint32_t line; /* source line, 0 when unknown */
};

/*
 * Sets *OUT to a frame of KIND at ADDR with nothing else known. Field by field, not
 * memset(): gcc turns a 100-byte memset into `rep stos`, whose start-up cost was 4 % of
 * the agent's CPU at density (every frame of every stack starts here). A new field of
 * struct sym_frame must be added here too.
 */
static inline void sym_frame_init(struct sym_frame *out, enum sym_frame_kind kind, uint64_t addr)
{
	out->kind = kind;
	out->name = NULL;
	out->module = NULL;
	out->build_id = NULL;
	out->addr = addr;
	out->elf_vaddr = 0;
	out->sym_offset = 0;
	out->map_start = 0;
	out->map_limit = 0;
	out->map_offset = 0;
	out->system_name = NULL;
	out->file = NULL;
	out->line = 0;
}

struct symbolizer_stats {
	uint64_t cache_bytes; /* ELF tables, mappings, perf maps and interned strings */
	uint64_t elf_entries; /* cached ELF files (each one parsed once) */
	uint64_t elf_hits; /* ELF lookups served from the cache (by inode or build id) */
	uint64_t elf_misses; /* ELF files opened and parsed */
	uint64_t elf_evictions;
	uint64_t processes; /* processes tracked, exited ones not yet released included */
	uint64_t name_hits; /* user frames whose symbol's names were already interned */
	uint64_t name_misses; /* user frames that interned (and demangled) their symbol's names */
	uint64_t maps_rereads; /* a process's mappings re-read for an address they lacked */
	uint64_t mappings_added; /* mappings recorded by symbolizer__add_mapping() */
	uint64_t procs_by_events; /* processes whose mappings came from events, not /proc */
	uint64_t py_frames; /* Python frames named */
	uint64_t py_unnamed; /* Python frames left as a marker (code unreadable, process unknown) */
	uint64_t py_inexact; /* stacks whose Python and eval-loop frames did not pair up */
	uint64_t debuginfo_reloads; /* cached ELF files re-read when their debug file landed */
	uint64_t files_denied; /* mapped files the process may not open (capabilities) */
};

/* Returns a new symbolizer (caller frees with symbolizer__free) or NULL with errno set. */
struct symbolizer *symbolizer__new(const struct symbolizer_opts *opts);

/* Frees S and everything it returned; NULL is a no-op. */
void symbolizer__free(struct symbolizer *s);

/*
 * Resolves a kernel address into *OUT. Returns 0 (out->name may still be NULL when no
 * symbol covers it) or -errno (kallsyms unreadable).
 */
int symbolizer__kernel(struct symbolizer *s, uint64_t addr, struct sym_frame *out);

/*
 * Resolves a user address of process TGID into *OUT. Returns 0 when the address fell into a
 * known mapping (out->name NULL if no symbol), -ENOENT when no mapping covers it or the
 * process is gone and was never seen, or another -errno.
 */
int symbolizer__user(struct symbolizer *s, uint32_t tgid, uint64_t addr, struct sym_frame *out);

/*
 * Starts loading into the CPU's caches what naming a stack of TGID reads first, in three
 * steps that a caller issues for the samples 3, 2 and 1 ahead of the one it names (STEP 0,
 * 1, 2): the process table's slot, the process, its mappings. Each step reads only what the
 * step before loaded. Nothing is looked up for real, captured or changed.
 */
void symbolizer__prefetch(const struct symbolizer *s, uint32_t tgid, unsigned int step);

/*
 * Reads and caches what is needed to symbolize TGID later (its mappings and their ELF
 * files), so that samples of a process that has exited can still be resolved.
 * Cheap when TGID is already cached and alive (nothing is re-read; lookups re-read the
 * mappings themselves on a miss, at most once a second, backing off to once in 8 s while
 * re-reads do not map the missing address); a TGID marked exited is read afresh, as a new
 * process reusing the number.
 * Returns 0 or -errno (e.g. -ESRCH when it is already gone).
 */
int symbolizer__capture(struct symbolizer *s, uint32_t tgid);

/*
 * Resolves one sampled stack of process TGID into OUT (room for NK + NU frames): kernel
 * frames KFRAMES first, then user frames UFRAMES, both leaf first, as a stack reads from
 * the leaf. Below the leaf the addresses are return addresses, so the call site
 * (address - 1) is looked up. A frame that cannot be resolved keeps its kind and address
 * with no name. Returns the number of frames written.
 */
size_t symbolizer__stack(struct symbolizer *s, uint32_t tgid, const uint64_t *kframes, uint32_t nk,
			 const uint64_t *uframes, uint32_t nu, struct sym_frame *out);

/*
 * symbolizer__stack(), where the last NPY of the NU user frames are the Python walk's
 * words (bpf/python.h; struct kiln_raw_sample.nr_pywords): they are named through the
 * symbolizer__set_python() lookup and merged into the native frames. OUT needs room for
 * NK + NU frames.
 */
size_t symbolizer__stack_py(struct symbolizer *s, uint32_t tgid, const uint64_t *kframes,
			    uint32_t nk, const uint64_t *uframes, uint32_t nu, uint32_t npy,
			    struct sym_frame *out);

struct python_proc;

/* TGID's CPython state (python/python.h) or NULL: how the symbolizer names Python frames. */
typedef struct python_proc *(*symbolizer_python_fn)(void *ctx, uint32_t tgid);

/*
 * Names the Python words of user stacks (bpf/python.h) through FN(CTX, tgid): they are
 * merged into the native frames, standing where the interpreter's eval loop was
 * (python/python.h, python_merge()). Without it they become marker frames.
 */
void symbolizer__set_python(struct symbolizer *s, symbolizer_python_fn fn, void *ctx);

/*
 * TGID exec'd: its cached mappings are stale. A no-op for a process whose mappings come
 * from events (symbolizer__process_born): its exec arrives among them, in order.
 */
void symbolizer__process_exec(struct symbolizer *s, uint32_t tgid);

/* One executable mapping as the kernel reported it when it was created. */
struct sym_mapping {
	uint64_t start, end, pgoff;
	uint64_t dev, ino; /* 0, 0 when the kernel gave a build id instead */
	const uint8_t *build_id; /* raw GNU build id, or NULL */
	size_t build_id_size;
	const char *path; /* as the process sees it; "//anon", "[vdso]" ... */
};

/*
 * TGID starts a new image (PARENT 0: exec) or was forked by PARENT (its mappings are
 * copied when PARENT is known). From then on TGID's mappings are what
 * symbolizer__add_mapping() records, without /proc: lookups of an exited process still
 * work. A fork by an unknown parent forgets TGID instead (it is read from /proc when
 * sampled). Returns 0 or -ENOMEM.
 */
int symbolizer__process_born(struct symbolizer *s, uint32_t tgid, uint32_t parent);

/*
 * Records mapping M of TGID (it replaces what overlapped it). A process not seen born
 * predates the events: the rest of its mappings are read from /proc at its first sample
 * (symbolizer__capture or a lookup). The ELF file is opened when first needed
 * (at TGID's first sample or lookup): through /proc/TGID/root while it lives, else by its
 * path on the host, checked against the inode or build id. Returns 0 or -errno.
 */
int symbolizer__add_mapping(struct symbolizer *s, uint32_t tgid, const struct sym_mapping *m);

/*
 * Events were lost: processes whose mappings came from events may lack some, so lookups
 * that miss may read /proc again (as for processes captured from /proc).
 */
void symbolizer__events_lost(struct symbolizer *s);

/* TGID exited: its cached mappings may be released once no window refers to it. */
void symbolizer__process_exit(struct symbolizer *s, uint32_t tgid);

/*
 * Releases the processes marked exited before the previous call, so a caller that sweeps
 * once per window after symbolizing it keeps an exited process for the rest of the window
 * it exited in and the next one. Without calls, exited processes are released about 30 s
 * after their exit (during capture()). Strings already returned stay valid.
 */
void symbolizer__sweep(struct symbolizer *s);

struct dbgfetch;

/*
 * Stripped ELF files (a build id, no .symtab, no local debug file) ask D (not owned; it must
 * outlive S) for their debug file; what landed is collected by symbolizer__sweep(), and
 * the files that asked are re-read then, so the windows after it are named. NULL: off.
 */
void symbolizer__set_debuginfod(struct symbolizer *s, struct dbgfetch *d);

/* Fills *OUT with S's counters. */
void symbolizer__stats(const struct symbolizer *s, struct symbolizer_stats *out);

/*
 * Demangles a C++ (Itanium "_Z...") or Rust (legacy "_ZN...17h<hash>E", hash dropped; v0
 * "_R...") symbol. Returns a malloc'd string the caller frees, or NULL when NAME is not a
 * mangled name (or not a valid one).
 */
char *symbolizer__demangle(const char *name);

/*
 * The length of NAME without the marker of a piece the compiler split off a function
 * or cloned (".cold", ".cold.N", ".part.N", ".constprop.N", ".isra.N", chained, or
 * " [clone .cold]" after a demangled name), so that "foo.cold" is named foo (its system name
 * keeps the marker). strlen(NAME) when it has none.
 */
size_t symbolizer__function_len(const char *name);

/*
 * Test and tooling hook (the fuzz harness uses it): parses the file at PATH afresh, as a
 * mapped binary would be (separate debug files and .gopclntab included, resolved on the
 * host), without caching it, and resolves ELF virtual address VADDR in it into *OUT.
 * Returns 0 (out->name NULL when no symbol covers VADDR), -ENOEXEC when it is not a usable
 * ELF file, or another -errno.
 */
int symbolizer__elf_probe(struct symbolizer *s, const char *path, uint64_t vaddr,
			  struct sym_frame *out);

#endif
