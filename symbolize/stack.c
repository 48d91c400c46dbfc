// SPDX-License-Identifier: Apache-2.0
/*
 * Whole stacks: kernel frames, native user frames (return addresses, signal frames, the
 * walker's stop markers) and Python frames merged in where the interpreter's eval loop ran.
 */
#include <string.h>

#include <linux/types.h>

#include "bpf/profile.h"
#include "bpf/python.h"
#include "common/util.h"
#include "python/python.h"
#include "symbolize/symbolize_internal.h"

/* Fills OUT for an address that could not be resolved: its kind and address only. */
static void unresolved(bool kernel, uint64_t pc, struct sym_frame *out)
{
	sym_frame_init(out, kernel ? SYM_FRAME_KERNEL : SYM_FRAME_NATIVE, pc);
	out->elf_vaddr = pc;
}

/*
 * The frame that ends a user stack the walker cut short (bpf/profile.h), named after the
 * reason so that partial stacks stay visible and say why they are partial.
 */
static void marker_frame(uint64_t frame, struct sym_frame *out)
{
	static const char *const names[KILN_UW_STOP_NR] = {
		[KILN_UW_STOP_TRUNCATED] = "[truncated]",
		[KILN_UW_STOP_NO_MAPPING] = "[unwind: no mapping]",
		[KILN_UW_STOP_NOT_COVERED] = "[unwind: pc not covered]",
		[KILN_UW_STOP_UNSUPPORTED] = "[unwind: unsupported rule]",
		[KILN_UW_STOP_READ_FAULT] = "[unwind: read fault]",
		[KILN_UW_STOP_BAD_FRAME] = "[unwind: bad frame]",
		[KILN_UW_STOP_TABLE] = "[unwind: table error]",
	};
	uint64_t reason = frame & ~KILN_UFRAME_MARKER;

	sym_frame_init(out, SYM_FRAME_NATIVE, frame);
	out->elf_vaddr = frame;
	out->name = reason < KILN_UW_STOP_NR && names[reason] ? names[reason] : "[unwind: error]";
	out->system_name = out->name;
}

void symbolizer__set_python(struct symbolizer *s, symbolizer_python_fn fn, void *ctx)
{
	s->py_lookup = fn;
	s->py_ctx = ctx;
}

/* One native user frame: UFRAMES[I] of NU, leaf first (I == 0 is the sampled pc). */
static void native_frame(struct symbolizer *s, struct proc *p, const uint64_t *uframes, uint32_t nu,
			 uint32_t i, bool leaf, struct sym_frame *out)
{
	bool sigframe;
	uint64_t pc;

	if (KILN_UFRAME_IS_MARKER(uframes[i])) {
		marker_frame(uframes[i], out);
		return;
	}
	/*
	 * A pc a signal interrupted is exact, not a return address; so is the one before it,
	 * the signal trampoline the handler returns to (its code starts right at that address).
	 */
	sigframe = i + 1 < nu && (uframes[i + 1] & KILN_UFRAME_INTERRUPTED) &&
		   !KILN_UFRAME_IS_MARKER(uframes[i + 1]);
	if (uframes[i] & KILN_UFRAME_INTERRUPTED)
		pc = uframes[i] & ~KILN_UFRAME_INTERRUPTED;
	else
		pc = leaf || sigframe ? uframes[i] : uframes[i] - 1;
	sym_frame_init(out, SYM_FRAME_NATIVE, pc);
	if (!p || user_lookup(s, p, pc, out))
		unresolved(false, pc, out);
	/* libc's trampoline (__restore_rt) is a local symbol, absent from .dynsym. */
	if (sigframe && !out->name)
		out->name = out->system_name = "[signal frame]";
}

/*
 * One Python word of the walk (bpf/python.h) as a frame of PY's process: function, file
 * and line, or a marker frame saying why there are none. Strings are interned, so they
 * live as long as the symbolizer.
 */
static void python_frame(struct symbolizer *s, struct python_proc *py, uint64_t w,
			 struct sym_frame *out)
{
	struct python_frame f;
	char buf[96];

	sym_frame_init(out, SYM_FRAME_PYTHON, w);
	out->elf_vaddr = w;
	if (KILN_PY_IS_MARKER(w)) {
		python_marker_text(w, buf, sizeof(buf));
		out->kind = SYM_FRAME_NATIVE;
		out->name = out->system_name = intern(s, buf);
		return;
	}
	if (!py || python_proc__symbolize(py, KILN_PY_FRAME_CODE(w),
					  (uint32_t)KILN_PY_FRAME_INSTR(w), &f)) {
		s->py_unnamed++;
		out->kind = SYM_FRAME_NATIVE;
		out->name = out->system_name = py ? "[python: code object unreadable]"
						  : "[python: process unknown]";
		return;
	}
	s->py_frames++;
	out->name = out->system_name = intern(s, f.function);
	out->file = intern(s, f.file);
	out->line = f.line > 0 ? (uint32_t)f.line : 0;
}

static bool in_eval(void *ctx, uint64_t addr)
{
	return ctx && python_proc__in_eval(ctx, addr & ~KILN_UFRAME_INTERRUPTED);
}

/*
 * User frames with Python words: Python frames stand where the interpreter's eval-loop
 * frames were (python_merge()), native frames of C extensions and libc at the leaf and
 * between Python frames stay in place. Returns the frames written to OUT.
 */
static size_t merged_frames(struct symbolizer *s, struct proc *p, uint32_t tgid,
			    const uint64_t *uframes, uint32_t nu, uint32_t npy, bool leaf_exact,
			    struct sym_frame *out)
{
	uint64_t nat[KILN_MAX_FRAMES], py[KILN_MAX_FRAMES];
	struct python_merge_slot slots[2 * KILN_MAX_FRAMES];
	struct python_proc *pp = s->py_lookup ? s->py_lookup(s->py_ctx, tgid) : NULL;
	uint32_t nn = 0, np = 0, i;
	size_t ns, n = 0;
	bool exact = true;

	for (i = 0; i < nu && i < KILN_MAX_FRAMES; i++) {
		if (i >= nu - npy && KILN_PY_IS_WORD(uframes[i]))
			py[np++] = uframes[i];
		else
			nat[nn++] = uframes[i];
	}
	ns = python_merge(nat, nn, py, np, in_eval, pp, slots, ARRAY_SIZE(slots), &exact);
	if (!exact)
		s->py_inexact++;
	for (i = 0; i < ns && n < nu; i++, n++) {
		if (slots[i].python)
			python_frame(s, pp, py[slots[i].index], &out[n]);
		else
			native_frame(s, p, nat, nn, slots[i].index,
				     leaf_exact && slots[i].index == 0, &out[n]);
	}
	return n;
}

size_t symbolizer__stack(struct symbolizer *s, uint32_t tgid, const uint64_t *kframes, uint32_t nk,
			 const uint64_t *uframes, uint32_t nu, struct sym_frame *out)
{
	return symbolizer__stack_py(s, tgid, kframes, nk, uframes, nu, 0, out);
}

size_t symbolizer__stack_py(struct symbolizer *s, uint32_t tgid, const uint64_t *kframes,
			    uint32_t nk, const uint64_t *uframes, uint32_t nu, uint32_t npy,
			    struct sym_frame *out)
{
	struct proc *p = NULL;
	size_t n = 0;
	uint64_t pc;
	uint32_t i;
	int err = 0;

	/* Below the leaf, addresses are return addresses: the call site is the one before. */
	for (i = 0; i < nk; i++, n++) {
		pc = n == 0 ? kframes[i] : kframes[i] - 1;
		if (symbolizer__kernel(s, pc, &out[n]))
			unresolved(true, pc, &out[n]);
	}
	/* One process lookup per stack, not per frame: lookups never release a process. */
	if (nu)
		p = proc_of(s, tgid, &err);
	if (npy && npy <= nu)
		return n + merged_frames(s, p, tgid, uframes, nu, npy, n == 0, out + n);
	for (i = 0; i < nu; i++, n++)
		native_frame(s, p, uframes, nu, i, n == 0, &out[n]);
	return n;
}
