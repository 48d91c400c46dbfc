/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CPython processes on the host side: detection (is this process a CPython 3.11-3.13, where
 * is its runtime, which offsets), the info the BPF walk needs (bpf/python.h), and
 * symbolization of the Python frame words the walk emits: (code object, instruction offset)
 * -> qualified name, file name and line, read from the process's memory.
 */
#ifndef KILN_PYTHON_PYTHON_H
#define KILN_PYTHON_PYTHON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/types.h>

#include "bpf/python.h"

/* Counters of every outcome; shared by the processes detected with the same stats. */
struct python_stats {
	/* detection */
	uint64_t detect_ok; /* supported CPython found */
	uint64_t detect_not_python; /* no mapping exports the CPython runtime */
	uint64_t refused_version; /* CPython of an unsupported version (< 3.11, > 3.13, pre-release) */
	uint64_t refused_freethreaded; /* free-threaded build */
	uint64_t detect_errors; /* maps or ELF unreadable, malformed debug offsets */
	/* symbolization */
	uint64_t sym_ok; /* frames resolved */
	uint64_t sym_cache_hits; /* of which from the code cache (after re-validation) */
	uint64_t sym_read_fault; /* process memory unreadable (gone, unmapped) */
	uint64_t sym_after_exit; /* resolved from the cache: the process exited, or freed the code */
	uint64_t sym_bad_type; /* the address does not hold a code object (freed, reused) */
	uint64_t sym_bad_string; /* name or file name not a readable str */
	uint64_t sym_linetable_err; /* location table unreadable or malformed */
	uint64_t sym_no_line; /* instruction without a line (no-location entry, no offset) */
};

struct python_proc;

/*
 * Looks for CPython in process TGID: an executable mapping (main executable or any library)
 * that defines `Py_GetVersion` is CPython; a supported one (3.11-3.13, final releases, GIL
 * builds) also defines `_PyRuntime` and `Py_Version`. Returns 0 and a new process in *OUT
 * (owned by the caller, python_proc__free()) for supported AND refused CPython (check
 * python_proc__refusal(): a refused process still gets an info entry so that its stacks carry
 * a "refused" marker); -ENOENT when the process is not CPython (or not yet: its interpreter
 * may be mapped later, by the loader or a dlopen, so a caller retries with a backoff);
 * -ESRCH when it is gone; another -errno when it cannot be read. ST (may be NULL) gets the counts and is kept by the process for symbolization.
 */
int python_proc__detect(uint32_t tgid, struct python_stats *st, struct python_proc **out);

/*
 * A process forked from PARENT without exec (multiprocessing, pre-fork servers): same
 * mappings, same addresses, so same info; the code cache starts empty. Returns 0 or
 * -ENOMEM.
 */
int python_proc__fork(const struct python_proc *parent, uint32_t child_tgid,
		      struct python_proc **out);

void python_proc__free(struct python_proc *p);

/*
 * True when ADDR (a native return address or pc in the process) lies in the interpreter's
 * _PyEval_EvalFrameDefault as its dynamic symbol gives it: one native frame per eval-loop
 * activation, the frames a merged stack replaces with Python frames. The compiler's split-off
 * ".cold" part is not covered (it is only named in full symbol tables; it holds error paths,
 * rarely a return address).
 */
bool python_proc__in_eval(const struct python_proc *p, uint64_t addr);

/* The process's id. */
uint32_t python_proc__tgid(const struct python_proc *p);

/* NULL for a supported process, else why it is refused (static or owned by P). */
const char *python_proc__refusal(const struct python_proc *p);

/* The interpreter's version as 0xMMmm (e.g. 0x030b), 0 when unknown. */
uint16_t python_proc__version(const struct python_proc *p);

/* The path (as the process sees it) of the module holding the runtime. Owned by P. */
const char *python_proc__module(const struct python_proc *p);

/* Fills the value of the BPF per-process map (key: tgid). */
void python_proc__info(const struct python_proc *p, struct kiln_py_info *out);

struct python_frame {
	const char *function; /* co_qualname, e.g. "Klass.method"; owned by P's cache */
	const char *file; /* co_filename as the process sees it; owned by P's cache */
	int line; /* line of the instruction; the first line when none (no_line set) */
	int first_line; /* co_firstlineno */
	bool no_line; /* the instruction has no location, or the walk had no offset */
};

/*
 * Resolves the Python frame (CODE, INSTR) (KILN_PY_FRAME_CODE/INSTR of a frame word; INSTR
 * may be KILN_PY_INSTR_NONE) of process P. The code object is re-read on every call to check
 * it is still the one cached (type, first line, name and table pointers), so call it while
 * the process still runs, soon after the sample. Returns 0 and fills *OUT (strings valid
 * until the next call on P or its free), -ESRCH/-EFAULT when the memory is unreadable,
 * -EINVAL when the address holds no code object or its strings or table are malformed.
 */
int python_proc__symbolize(struct python_proc *p, uint64_t code, uint32_t instr,
			   struct python_frame *out);

/*
 * The one name of a Python frame in outputs that have a single string per frame (folded
 * stacks, kiln top): "<file's base name>:<qualified name>", e.g. "kat.py:Runner.method";
 * outputs with separate fields (pprof, OTLP, the UI's symbols) carry function, file and
 * line as they are. Writes into BUF (always NUL-terminated); returns BUF.
 */
char *python_frame_name(const struct python_frame *f, char *buf, size_t size);

/* A marker word's text, e.g. "[python: truncated]", into BUF (always NUL-terminated). */
void python_marker_text(uint64_t word, char *buf, size_t size);

/* One entry of a merged stack: a native frame or a Python word, by index in its array. */
struct python_merge_slot {
	bool python; /* index into the Python words, else into the native frames */
	uint32_t index;
};

/* True when ADDR is a native frame of the interpreter's eval loop (python_proc__in_eval()). */
typedef bool (*python_in_eval_fn)(void *ctx, uint64_t addr);

/*
 * Merges one sample's native user frames NATIVE[NN] and Python words PY[NP] (both leaf
 * first) into OUT (room for CAP; NN + NP always suffices), leaf first. Python frames stand
 * where the interpreter's C frames were: the Python words are cut into runs, each ending at
 * an entry frame (KILN_PY_IS_ENTRY) or at the end; the k-th native frame (from the leaf) for
 * which IN_EVAL holds is replaced by the k-th run, so native frames of C extensions and libc
 * stay at the leaf and C frames between Python frames (a C function calling back into
 * Python) stay in their place. When the counts differ (a native stack cut short, an eval
 * frame not recognized), the native frames up to the first eval frame are followed by all
 * Python words, and the native frames past it are left out: *EXACT is then false. No eval
 * frame at all (native unwinding stopped at the leaf) is the same layout and still exact.
 * Returns the number of slots written.
 */
size_t python_merge(const uint64_t *native, size_t nn, const uint64_t *py, size_t np,
		    python_in_eval_fn in_eval, void *ctx, struct python_merge_slot *out, size_t cap,
		    bool *exact);

/*
 * The 3.11+ location table decoder (co_linetable; CPython's Objects/locations.md): the line
 * of the code unit INSTR in a code object whose first line is FIRSTLINENO. Returns 0 and
 * *LINE, -ENOENT when the unit has no location (or is past the table), -EINVAL when the
 * table is malformed.
 */
int python_linetable_line(const uint8_t *tab, size_t len, int firstlineno, uint32_t instr,
			  int *line);

#endif
