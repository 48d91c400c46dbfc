/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CPython frame walk, include-only for BPF programs (after vmlinux.h, the libbpf
 * headers and bpf/python.h). One entry point, kiln_py_walk(): from the sampled thread's
 * PyThreadState along _PyInterpreterFrame.previous, appending one word per Python frame
 * (encoding in bpf/python.h) to the caller's stack buffer.
 *
 * Frames are read through a window of user memory (see struct kiln_py_scratch): at most one
 * read per frame, usually one per page of frames.
 *
 * The thread state comes from the interpreter's own pthread key (the gilstate TSS key), read
 * through the thread's TLS at task->thread.fsbase, not from the "current thread state"
 * globals: those name only the thread holding the GIL, so a thread running C code with the
 * GIL released (hashing, compression, I/O) would lose its Python callers.
 *
 * The frame loop runs under bpf_loop(): its body has data-dependent branches (shims,
 * markers), and a plain bounded loop with such a body multiplies verifier states per
 * iteration (it exceeds the 1M-instruction limit on 6.18 at 30 iterations). The verifier
 * explores the callback until its states converge, which they do after a few iterations as
 * long as nothing it tracks exactly changes per frame (see the word count in kiln_py_walk()):
 * the test program verifies in ~13,000 instructions.
 *
 * The includer may define, before including:
 *   KILN_PY_OUT_WORDS  the capacity (in u64) of the stack buffer passed as `out`
 *   KILN_PY_MAX_WALK   the most frames (shims included) one walk visits
 */
#ifndef KILN_BPF_PYWALK_BPF_H
#define KILN_BPF_PYWALK_BPF_H

#ifndef KILN_PY_OUT_WORDS
#define KILN_PY_OUT_WORDS 128
#endif
#ifndef KILN_PY_MAX_WALK
#define KILN_PY_MAX_WALK 256
#endif

/*
 * Scratch for the walk: must live in a map value (the walk indexes it with per-process
 * offsets, and variable-offset stack access is not something to rely on). It holds a window
 * of user memory: from the start of a frame's page up to the frame's end. Frames of one
 * thread are mostly consecutive in its data stack (callers below callees), so one read
 * brings a frame and the callers that share its page: a read costs about the same for 72
 * bytes and for 4 KiB (~120 vs ~180 ns here), so this divides the cost of deep stacks by the
 * frames per page. The window never starts below the frame's page, which is mapped, so the
 * read cannot fault on a neighbouring unmapped page (a faulting read costs ~850 ns).
 * 8 KiB so that a word index masked with 1023 is always in bounds.
 */
#define KILN_PY_WIN_WORDS 1024
struct kiln_py_scratch {
	__u64 win[KILN_PY_WIN_WORDS];
	__u32 n; /* see kiln_py_walk() */
	__u32 pad;
};

struct kiln_py_loop {
	__u64 frame; /* next frame to read, 0 at the end of the chain */
	__u64 win_lo, win_hi; /* user addresses the window holds; empty when equal */
	__u64 *out;
	__u64 *win;
	struct kiln_py_counters *ctr;
	__u32 n; /* words in out */
	__u32 emitted; /* 1 when the last word this walk put in out is a Python frame */
	__u32 fault; /* a frame read failed */
	__u32 code_adaptive;
	__u32 code_idx, prev_idx, instr_idx;
	__u32 owner_idx, owner_shift, entry_idx, entry_shift;
	__u32 flags, cstack;
};

static __always_inline void kiln_py_count(struct kiln_py_counters *ctr, __u32 which)
{
	/* per-CPU value: no atomic needed */
	if (which < KILN_PY_C_NR)
		ctr->v[which]++;
}

static int kiln_py_step(__u32 index, void *vctx)
{
	struct kiln_py_loop *c = vctx;
	__u64 *win = c->win, *out = c->out;
	__u64 code, prev, instr, d, w, lo, len, base;
	__u32 n = c->n, last, owner;

	(void)index;
	if (!c->frame || n >= KILN_PY_OUT_WORDS)
		return 1;
	if (c->frame < c->win_lo || c->frame + KILN_PY_FRAME_READ > c->win_hi) {
		lo = c->frame & ~4095ull;
		len = c->frame + KILN_PY_FRAME_READ - lo;
		if (len > 4096 + KILN_PY_FRAME_READ || (c->frame & 7) ||
		    bpf_probe_read_user(win, len & 8191, (void *)lo)) {
			c->fault = 1;
			return 1;
		}
		c->win_lo = lo;
		c->win_hi = lo + len;
		kiln_py_count(c->ctr, KILN_PY_C_READS);
	}
	base = (c->frame - c->win_lo) >> 3;
	code = win[(base + c->code_idx) & (KILN_PY_WIN_WORDS - 1)];
	prev = win[(base + c->prev_idx) & (KILN_PY_WIN_WORDS - 1)];
	instr = win[(base + c->instr_idx) & (KILN_PY_WIN_WORDS - 1)];
	owner = (win[(base + c->owner_idx) & (KILN_PY_WIN_WORDS - 1)] >> (c->owner_shift & 63)) &
		0xff;
	c->frame = prev;

	if ((c->flags & KILN_PY_F_CSTACK) && owner == c->cstack) {
		/* The shim is older than the first frame of its eval-loop activation. */
		last = n - 1;
		if (c->emitted && last < KILN_PY_OUT_WORDS)
			out[last] |= KILN_PY_ENTRY_BIT;
		kiln_py_count(c->ctr, KILN_PY_C_SHIMS);
		return 0;
	}
	if (!code || (code & 7) || code >= (1ull << 47)) {
		out[n] = KILN_PY_MARKER(KILN_PY_MK_BAD_CODE, 0);
		c->n = n + 1;
		c->emitted = 0; /* a later shim must not flag the marker */
		kiln_py_count(c->ctr, KILN_PY_C_BAD_CODE);
		return 0;
	}
	/* A frame before its first instruction points before the bytecode: no offset. */
	d = instr - code - c->code_adaptive;
	if ((__s64)d < 0 || (d >> 1) >= KILN_PY_INSTR_NONE) {
		d = KILN_PY_INSTR_NONE << 1;
		kiln_py_count(c->ctr, KILN_PY_C_INSTR_NONE);
	}
	w = KILN_PY_FRAME(code, d >> 1);
	if ((c->flags & KILN_PY_F_IS_ENTRY) &&
	    ((win[(base + c->entry_idx) & (KILN_PY_WIN_WORDS - 1)] >> (c->entry_shift & 63)) &
	     0xff))
		w |= KILN_PY_ENTRY_BIT;
	out[n] = w;
	c->n = n + 1;
	c->emitted = 1;
	kiln_py_count(c->ctr, KILN_PY_C_FRAMES);
	return 0;
}

/*
 * Reads the thread's PyThreadState through the interpreter's TSS key into *TS (0 when the
 * thread has none). Returns 0, or 1 when it cannot tell (counted: key not set up yet, TLS
 * unreadable).
 */
static __always_inline int kiln_py_tstate(struct task_struct *task, const struct kiln_py_info *info,
					  struct kiln_py_counters *ctr, __u64 *ts)
{
	struct {
		__s32 initialized;
		__s32 key;
	} tss;
	__u64 fs, slot, blk;

	if (bpf_probe_read_user(&tss, sizeof(tss), (void *)info->tss_addr)) {
		kiln_py_count(ctr, KILN_PY_C_TLS_FAULT);
		return 1;
	}
	if (!tss.initialized) {
		kiln_py_count(ctr, KILN_PY_C_KEY_UNINIT);
		return 1;
	}
	fs = BPF_CORE_READ(task, thread.fsbase);
	if (!fs || tss.key < 0 || tss.key >= 1024)
		goto fault;
	if (info->tsd_kind == KILN_PY_TSD_MUSL) {
		if (bpf_probe_read_user(&blk, sizeof(blk), (void *)(fs + info->tsd_off)))
			goto fault;
		slot = blk + 8 * (__u64)tss.key;
	} else if (tss.key < 32) {
		/* struct pthread_key_data {uintptr_t seq; void *data;} specific_1stblock[32] */
		slot = fs + info->tsd_off + 16 * (__u64)tss.key + 8;
	} else {
		/* specific[32] pointers to further blocks follow the first block */
		if (bpf_probe_read_user(&blk, sizeof(blk),
					(void *)(fs + info->tsd_off + 32 * 16 + 8 * (tss.key >> 5))))
			goto fault;
		slot = blk + 16 * (__u64)(tss.key & 31) + 8;
	}
	if (!slot || bpf_probe_read_user(ts, sizeof(*ts), (void *)slot))
		goto fault;
	return 0;
fault:
	kiln_py_count(ctr, KILN_PY_C_TLS_FAULT);
	return 1;
}

/*
 * Appends the Python frames of TASK (the current task of a sample of the process INFO
 * describes) to OUT, leaf first, starting at index N (the words already there, e.g. native
 * frames); OUT holds KILN_PY_OUT_WORDS words and, like SCRATCH, must be map memory.
 * Returns the new number of words. A thread not running Python, or whose thread state cannot
 * be found (key not set up, TLS unreadable), adds nothing; a refused process, a truncated
 * walk or a frame read fault adds one marker word (the last word is
 * overwritten by the truncation marker when OUT is full). Every outcome is counted in CTR
 * (a per-CPU map value).
 */
static __always_inline __u32 kiln_py_walk(struct task_struct *task, const struct kiln_py_info *info,
					  __u64 *out, __u32 n, struct kiln_py_scratch *scratch,
					  struct kiln_py_counters *ctr)
{
	struct kiln_py_loop c = {};
	__u64 ts = 0, cf, frame = 0;
	__u64 marker = 0;

	kiln_py_count(ctr, KILN_PY_C_SAMPLES);
	if (n >= KILN_PY_OUT_WORDS)
		return n;
	if (info->refused) {
		kiln_py_count(ctr, KILN_PY_C_REFUSED);
		out[n] = KILN_PY_MARKER(KILN_PY_MK_REFUSED, info->version);
		return n + 1;
	}
	if (kiln_py_tstate(task, info, ctr, &ts))
		return n;
	if (!ts) {
		/* a thread that never ran Python (or before its first call): no frames, no error */
		kiln_py_count(ctr, KILN_PY_C_NO_TSTATE);
		return n;
	}
	if (info->flags & KILN_PY_F_CFRAME) {
		if (bpf_probe_read_user(&cf, sizeof(cf), (void *)(ts + info->ts_frame)) || !cf ||
		    bpf_probe_read_user(&frame, sizeof(frame), (void *)(cf + info->cframe_frame)))
			frame = 0;
	} else if (bpf_probe_read_user(&frame, sizeof(frame), (void *)(ts + info->ts_frame))) {
		frame = 0;
	}
	if (!frame) {
		kiln_py_count(ctr, KILN_PY_C_NO_FRAME);
		return n;
	}

	c.frame = frame;
	c.out = out;
	c.win = scratch->win;
	c.ctr = ctr;
	/*
	 * bpf_loop callbacks are verified like loops, until their states converge: a word count
	 * the verifier knows exactly (a caller's constant) would make every iteration a new
	 * state. Passing it through map memory leaves only its bounds known.
	 */
	*(volatile __u32 *)&scratch->n = n;
	c.n = *(volatile __u32 *)&scratch->n;
	c.code_adaptive = info->code_adaptive;
	c.code_idx = info->fr_code >> 3;
	c.prev_idx = info->fr_previous >> 3;
	c.instr_idx = info->fr_instr >> 3;
	c.owner_idx = info->fr_owner >> 3;
	c.owner_shift = (info->fr_owner & 7) * 8;
	c.entry_idx = info->fr_is_entry >> 3;
	c.entry_shift = (info->fr_is_entry & 7) * 8;
	c.flags = info->flags;
	c.cstack = info->owner_cstack;
	bpf_loop(KILN_PY_MAX_WALK, kiln_py_step, &c, 0);

	n = c.n;
	if (c.fault) {
		kiln_py_count(ctr, KILN_PY_C_READ_FAULT);
		marker = KILN_PY_MARKER(KILN_PY_MK_READ_FAULT, 0);
	} else if (c.frame) {
		kiln_py_count(ctr, KILN_PY_C_TRUNCATED);
		marker = KILN_PY_MARKER(KILN_PY_MK_TRUNCATED, 0);
	}
	if (marker) {
		if (n >= KILN_PY_OUT_WORDS)
			n = KILN_PY_OUT_WORDS - 1;
		if (n < KILN_PY_OUT_WORDS) {
			out[n] = marker;
			n++;
		}
	}
	return n;
}

#endif
