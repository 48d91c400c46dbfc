/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CPython frames in kiln's stacks: the per-process info user space gives the BPF walk, the
 * encoding of the words the walk appends to a user stack, and the walk's counters. Shared
 * between bpf/pywalk.bpf.h and user space (python/): fixed-width types only. User space
 * includes <linux/types.h> before this header; BPF includes vmlinux.h.
 *
 * Stack words. A user stack is an array of u64 in which the native unwinder stores return
 * addresses (< 2^47), the same with bit 63 set ("interrupted pc") and error markers
 * 0xFFFFFFFFFFFFFFxx. A word with bit 63 clear and bit 62 set is none of these, so it is
 * kiln's Python word:
 *
 *   63  62  61  60  59 .......... 44  43 .................. 0
 *    0   1   M   E   instr (16 bits)   code object address >> 3
 *
 * One word per Python frame is enough: a code object is a PyObject allocated by CPython's
 * allocator or malloc, both 8-byte aligned at least, and user space on x86-64 is below 2^47
 * (the kernel only maps above it on request, which CPython never makes), so the address
 * fits in 44 bits once shifted; the walk checks both and emits a BAD_CODE marker otherwise.
 * `instr` is the instruction offset in 2-byte code units from the start of the code's
 * bytecode (co_code_adaptive); KILN_PY_INSTR_NONE (0xFFFF) means "no usable offset" (a frame
 * not started yet, or an offset that does not fit), for which the symbolizer reports the
 * function's first line.
 *   M = 0: a frame. E = 1 marks the entry frame of one C-level activation of the eval loop
 *          (3.11: the frame's is_entry; 3.12+: the frame just younger than a C-stack shim),
 *          i.e. the oldest Python frame run by one native _PyEval_EvalFrameDefault frame:
 *          a native/Python merge replaces the k-th eval-loop native frame (from the leaf)
 *          with the k-th run of Python frames that ends at an E frame.
 *   M = 1: a marker; bits 0-15 carry a reason (enum kiln_py_marker), bits 16-31 an argument
 *          (e.g. the refused version as 0xMMmm).
 */
#ifndef KILN_BPF_PYTHON_H
#define KILN_BPF_PYTHON_H

#define KILN_PY_WORD_BIT (1ull << 62)
#define KILN_PY_MARKER_BIT (1ull << 61)
#define KILN_PY_ENTRY_BIT (1ull << 60)
#define KILN_PY_INSTR_SHIFT 44
#define KILN_PY_INSTR_NONE 0xFFFFull
#define KILN_PY_CODE_MASK ((1ull << 44) - 1)

/* True for words the Python walk emitted (frames and markers). */
#define KILN_PY_IS_WORD(w) (((w) >> 62) == 1)
#define KILN_PY_IS_MARKER(w) (KILN_PY_IS_WORD(w) && ((w)&KILN_PY_MARKER_BIT))
#define KILN_PY_IS_FRAME(w) (KILN_PY_IS_WORD(w) && !((w)&KILN_PY_MARKER_BIT))
#define KILN_PY_IS_ENTRY(w) (KILN_PY_IS_FRAME(w) && ((w)&KILN_PY_ENTRY_BIT))
#define KILN_PY_FRAME(code, instr)                                    \
	(KILN_PY_WORD_BIT | ((__u64)(instr) << KILN_PY_INSTR_SHIFT) | \
	 (((__u64)(code) >> 3) & KILN_PY_CODE_MASK))
#define KILN_PY_FRAME_CODE(w) (((w)&KILN_PY_CODE_MASK) << 3)
#define KILN_PY_FRAME_INSTR(w) (((w) >> KILN_PY_INSTR_SHIFT) & 0xFFFF)
#define KILN_PY_MARKER(reason, arg)                                              \
	(KILN_PY_WORD_BIT | KILN_PY_MARKER_BIT | (((__u64)(arg)&0xFFFF) << 16) | \
	 ((__u64)(reason)&0xFFFF))
#define KILN_PY_MARKER_REASON(w) ((w)&0xFFFF)
#define KILN_PY_MARKER_ARG(w) (((w) >> 16) & 0xFFFF)

/* Why a marker stands in a stack (what the symbolizer shows as "[python: ...]"). */
enum kiln_py_marker {
	KILN_PY_MK_REFUSED = 1, /* the process's Python is not supported: arg = 0xMMmm version */
	KILN_PY_MK_TRUNCATED = 2, /* more frames than the walk's limit or the stack's room */
	KILN_PY_MK_READ_FAULT = 3, /* a frame could not be read (paged out, torn) */
	KILN_PY_MK_BAD_CODE = 4, /* a frame's code pointer is not a plausible object address */
};

/* How the process's libc keeps pthread keys (pthread_getspecific), from the thread pointer. */
enum kiln_py_tsd_kind {
	/* glibc x86-64: key < 32 at fs + off + 16 * key + 8; else a second-level block. */
	KILN_PY_TSD_GLIBC = 0,
	/* musl: *(*(fs + off) + 8 * key). */
	KILN_PY_TSD_MUSL = 1,
};

/* Set in kiln_py_info.flags. */
#define KILN_PY_F_CFRAME 0x1 /* tstate -> cframe -> current_frame (3.11, 3.12) */
#define KILN_PY_F_IS_ENTRY 0x2 /* frames have an is_entry byte (3.11) */
#define KILN_PY_F_CSTACK 0x4 /* frames owned by the C stack are shims to skip (3.12+) */

/*
 * One per Python process, in a BPF hash map keyed by tgid. Offsets are in bytes. A refused
 * process (unsupported version, free-threaded build) has `refused` set to a
 * KILN_PY_REFUSED_* reason: the walk then only emits a REFUSED marker, so its stacks say why
 * they have no Python frames instead of silently lacking them.
 */
struct kiln_py_info {
	__u64 tss_addr; /* address of the interpreter's Py_tss_t {int initialized; int key} */
	__u16 version; /* 0xMMmm, e.g. 0x030b */
	__u8 refused; /* 0 or enum kiln_py_refused */
	__u8 flags; /* KILN_PY_F_* */
	__u8 tsd_kind; /* enum kiln_py_tsd_kind */
	__u8 pad0;
	__u16 tsd_off; /* glibc 0x310 (0x510 for the 2nd level is derived), musl 0x80 */
	/* PyThreadState */
	__u16 ts_frame; /* offset of cframe (F_CFRAME) or of current_frame */
	__u16 cframe_frame; /* offset of current_frame in _PyCFrame (F_CFRAME) */
	__u16 code_adaptive; /* offset of the bytecode in a code object */
	/* _PyInterpreterFrame; all below KILN_PY_FRAME_READ */
	__u8 fr_code; /* f_code / f_executable */
	__u8 fr_previous;
	__u8 fr_instr; /* prev_instr / instr_ptr */
	__u8 fr_owner; /* owner byte */
	__u8 fr_is_entry; /* is_entry byte (F_IS_ENTRY) */
	__u8 owner_cstack; /* owner value of C-stack shims (F_CSTACK) */
	__u8 pad1[4];
};

enum kiln_py_refused {
	KILN_PY_REFUSED_NONE = 0,
	KILN_PY_REFUSED_VERSION = 1, /* a version without offsets (< 3.11, > 3.13, pre-release) */
	KILN_PY_REFUSED_FREETHREADED = 2, /* a free-threaded (no-GIL) build */
};

/* The walk needs this many bytes of each _PyInterpreterFrame. */
#define KILN_PY_FRAME_READ 72

/* Counters of the walk, indexes into kiln_py_counters.v (a per-CPU map value). */
enum kiln_py_counter {
	KILN_PY_C_SAMPLES = 0, /* walks started (process has an info entry) */
	KILN_PY_C_REFUSED, /* samples of refused processes */
	KILN_PY_C_TLS_FAULT, /* fsbase, TLS slot or key unreadable */
	KILN_PY_C_KEY_UNINIT, /* the interpreter's TSS key is not set up yet */
	KILN_PY_C_NO_TSTATE, /* thread has no thread state (never ran Python): normal */
	KILN_PY_C_NO_FRAME, /* thread state without a current frame (not running Python) */
	KILN_PY_C_FRAMES, /* Python frames emitted */
	KILN_PY_C_SHIMS, /* C-stack shim frames skipped */
	KILN_PY_C_READ_FAULT, /* a frame read failed */
	KILN_PY_C_BAD_CODE, /* a code pointer misaligned or out of user space */
	KILN_PY_C_INSTR_NONE, /* frames without a usable instruction offset */
	KILN_PY_C_TRUNCATED, /* walks cut by the frame limit or the stack's room */
	KILN_PY_C_READS, /* frame window reads (one per page of frames) */
	KILN_PY_C_NR,
};

struct kiln_py_counters {
	__u64 v[KILN_PY_C_NR];
};

#endif
