/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The native user-stack walk, include-only for bpf/profile.bpf.c (after its maps, walk_state,
 * count(), push_frame() and finish_native()): the user registers of the sample, the mapping
 * and unwind-table lookups, one step per frame by table rule, PLT command, signal frame or
 * frame pointer, and kiln_walk(), the tail-called program that runs the steps.
 * A file of its own so that each concern stays readable on its own (issue 12's size rules).
 */
#ifndef KILN_BPF_WALK_BPF_H
#define KILN_BPF_WALK_BPF_H

/*
 * The user registers of the interrupted thread into ST. A sample that interrupted user
 * mode has them in CTX; one that interrupted the kernel (a syscall, a page fault) finds
 * them saved at the top of the task's kernel stack. Returns false for kernel threads and
 * 32-bit tasks, which have no user stack to walk.
 */
static __always_inline bool user_regs(struct bpf_perf_event_data *ctx, struct walk_state *st)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs;
	__u64 cs;

	if (task->flags & PF_KTHREAD)
		return false;
	if (st->user_mode) {
		st->pc = ctx->regs.ip;
		st->sp = ctx->regs.sp;
		st->bp = ctx->regs.bp;
		return true;
	}
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	if (!regs)
		return false;
	cs = BPF_CORE_READ(regs, cs);
	if ((cs & 3) != 3 || cs == USER32_CS)
		return false;
	st->pc = BPF_CORE_READ(regs, ip);
	st->sp = BPF_CORE_READ(regs, sp);
	st->bp = BPF_CORE_READ(regs, bp);
	return true;
}

static __always_inline struct kiln_uw_mapping *find_mapping(__u32 tgid, __u64 pc)
{
	struct kiln_uw_map_key k = {
		.prefixlen = 96,
		.tgid_be = bpf_htonl(tgid),
		.addr_be = bpf_cpu_to_be64(pc),
	};

	return bpf_map_lookup_elem(&uw_mappings, &k);
}

/* Asks user space, at most once a second per process, to re-read the process's mappings. */
static __always_inline void request_sync(struct kiln_metrics *mt, struct walk_state *st)
{
	struct kiln_ev_proc *ev;
	__u64 now = bpf_ktime_get_ns(), *last;

	last = bpf_map_lookup_elem(&uw_sync_sent, &st->tgid);
	if (last && now - *last < 1000000000ull)
		return;
	bpf_map_update_elem(&uw_sync_sent, &st->tgid, &now, BPF_ANY);
	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		count(mt, KILN_M_EV_DROPPED);
		return;
	}
	ev->type = KILN_EV_UNWIND_SYNC;
	ev->tgid = st->tgid;
	ev->pid = st->pid;
	ev->ppid = 0;
	ev->cgroup_id = 0;
	ev->time_ns = now;
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	bpf_ringbuf_submit(ev, BPF_RB_FORCE_WAKEUP);
	count(mt, KILN_M_UW_SYNC_SENT);
}

/* VM_EXEC of include/linux/mm.h (a macro, so not in vmlinux.h). */
#define KILN_VM_EXEC 0x4

/* What vma_found() reads of the mapping that holds a pc. */
struct vma_info {
	__u64 start, end, pgoff, dev, ino;
	__u32 found;
};

/* bpf_find_vma's callback: an executable file mapping's range, offset and inode. */
static long vma_found(struct task_struct *task, struct vm_area_struct *vma, void *data)
{
	struct vma_info *vi = data;
	/* VMA is a trusted pointer here: its fields are read directly (CO-RE relocated). */
	struct file *f = vma->vm_file;

	if (!f || !(vma->vm_flags & KILN_VM_EXEC))
		return 0;
	vi->start = vma->vm_start;
	vi->end = vma->vm_end;
	vi->pgoff = vma->vm_pgoff << 12;
	vi->ino = BPF_CORE_READ(f, f_inode, i_ino);
	vi->dev = BPF_CORE_READ(f, f_inode, i_sb, s_dev);
	vi->found = 1;
	return 0;
}

/*
 * The mapping of PC from the kernel's list of the current process's mappings, when its
 * file has a table loaded (uw_files), into st->map. For mappings the agent has not read
 * yet: a process in its first milliseconds, a library just dlopen'd. Mappings learned by
 * earlier samples come from uw_vma_cache; a new one costs the sample's one bpf_find_vma.
 * Returns false when the kernel lacks the helper, the sample made its call already, the
 * mm is busy, or the file has no table.
 */
static __always_inline bool vma_mapping(struct walk_state *st, __u64 pc)
{
	struct vma_cache *c;
	struct vma_info vi = {};
	struct kiln_uw_file_key fk;
	struct kiln_uw_file *f;
	__u32 i;

	if (!have_find_vma)
		return false;
	c = bpf_map_lookup_elem(&uw_vma_cache, &st->tgid);
	if (c) {
		for (i = 0; i < KILN_UW_VMA_CACHE; i++) {
			if (pc >= c->m[i].start && pc < c->m[i].end) {
				st->map = c->m[i];
				return true;
			}
		}
	}
	if (st->vma_used)
		return false;
	st->vma_used = 1;
	if (bpf_find_vma(bpf_get_current_task_btf(), pc, vma_found, &vi, 0) || !vi.found)
		return false;
	fk.dev = vi.dev;
	fk.ino = vi.ino;
	f = bpf_map_lookup_elem(&uw_files, &fk);
	if (!f)
		return false;
	for (i = 0; i < KILN_UW_FILE_LOADS; i++) {
		if (i >= f->nr_loads)
			return false;
		if (vi.pgoff >= f->loads[i].off_lo && vi.pgoff < f->loads[i].off_hi)
			break;
	}
	if (i >= KILN_UW_FILE_LOADS)
		return false;
	st->map.table_id = f->table_id;
	st->map.flags = 0;
	st->map.bias = vi.start - vi.pgoff + f->loads[i].delta;
	st->map.start = vi.start;
	st->map.end = vi.end;
	if (!c) {
		bpf_map_update_elem(&uw_vma_cache, &st->tgid, &vma_cache_zero, BPF_NOEXIST);
		c = bpf_map_lookup_elem(&uw_vma_cache, &st->tgid);
	}
	if (c) {
		i = c->next & (KILN_UW_VMA_CACHE - 1);
		c->m[i] = st->map;
		c->next = i + 1;
	}
	return true;
}

/* Ends the walk early for REASON: the stack keeps its frames and ends in a marker frame. */
static __always_inline void stop(struct kiln_metrics *mt, struct walk_state *st, __u32 reason,
				 enum kiln_metric m)
{
	count(mt, m);
	if (st->stack.len >= KILN_MAX_FRAMES)
		st->stack.len = KILN_MAX_FRAMES - 1;
	push_frame(st, KILN_UFRAME_MARKER | reason);
	st->done = 1;
}

static __always_inline int read_u64(__u64 addr, __u64 *v)
{
	return bpf_probe_read_user(v, sizeof(*v), (const void *)addr);
}

/*
 * One frame-pointer step (code without tables: JIT, files without .eh_frame): the caller's
 * rbp and return address sit at rbp and rbp + 8. Only an rbp that looks like a frame of
 * this stack is followed (at or above sp, 8-aligned, within 8 MiB: redis has 1 MiB
 * frames); right after `push rbp; mov rbp, rsp` and a call, rbp equals the callee's CFA.
 */
static __always_inline int fp_step(struct walk_state *st)
{
	__u64 bp = st->bp, next_bp, ra;

	if (bp < st->sp || bp - st->sp > (8u << 20) || (bp & 7))
		return -1;
	if (read_u64(bp, &next_bp) || read_u64(bp + 8, &ra))
		return -2;
	st->sp = bp + 16;
	st->bp = next_bp;
	st->pc = ra;
	return 0;
}

/*
 * The delta in force at OFF in TABLE_ID's page, or NULL when no row covers OFF. The page
 * found last is kept in ST: a caller in the same 64 KiB of the same file (most of them)
 * costs no hash lookup.
 */
static __always_inline struct kiln_uw_delta *find_delta(struct walk_state *st, __u32 table_id,
							__u64 off)
{
	struct kiln_uw_page_key pk = { .table_id = table_id, .page = off >> KILN_UW_PAGE_BITS };
	struct kiln_uw_page *pg;
	struct kiln_uw_delta *d;
	__u32 lo, hi, mid, low = off & KILN_UW_PAGE_MASK;
	int i;

	if (!st->pg_valid || st->pg_table != pk.table_id || st->pg_page != pk.page) {
		pg = bpf_map_lookup_elem(&uw_pages, &pk);
		if (!pg)
			return NULL;
		st->pg_table = pk.table_id;
		st->pg_page = pk.page;
		st->pg_first = pg->first;
		st->pg_count = pg->count;
		st->pg_valid = 1;
	}
	lo = st->pg_first;
	hi = st->pg_first + st->pg_count;
	/* The last delta with addr_low <= LOW; the page's first delta is at 0. */
	for (i = 0; i < KILN_UW_BSEARCH_STEPS && lo < hi; i++) {
		mid = lo + (hi - lo) / 2;
		d = bpf_map_lookup_elem(&uw_deltas, &mid);
		if (!d)
			return NULL;
		if (d->addr_low <= low)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo <= st->pg_first)
		return NULL;
	lo -= 1;
	return bpf_map_lookup_elem(&uw_deltas, &lo);
}

/*
 * Unwinds one frame: from (pc, sp, bp) of a frame to its caller's, pushing the caller's pc.
 * Sets st->done when the walk ends (outermost frame, or an error with its marker).
 */
static __always_inline void step(struct kiln_metrics *mt, struct walk_state *st)
{
	struct kiln_uw_mapping *m;
	struct kiln_uw_delta *d;
	struct kiln_uw_rule *r;
	__u64 cfa, ra, off, pc = st->pc, regs[7];
	__u32 rule, idx;

	if (pc >= st->map.start && pc < st->map.end) {
		m = &st->map;
	} else {
		m = find_mapping(st->tgid, pc);
		if (m)
			st->map = *m;
	}
	if (!m || (m->flags & KILN_UW_MAP_MARKER)) {
		/* A process not loaded at all is loaded on its first-sample event already. */
		if (!st->unloaded)
			request_sync(mt, st);
		/*
		 * The kernel's own list may know the mapping (vma_mapping): looked up at the
		 * start of the next run of kiln_walk, once, outside the unrolled steps (in
		 * each of them it made the program too complex for the verifier). This pc is
		 * stepped again then, by its table when the lookup found one.
		 */
		if (have_find_vma && st->vma_pc != pc) {
			st->vma_pc = pc;
			st->want_vma = 1;
			return;
		}
	}
	if (!m || (m->flags & (KILN_UW_MAP_MARKER | KILN_UW_MAP_NO_TABLE))) {
		/* No table: a frame-pointer step, which is what JIT code keeps. */
		if (fp_step(st)) {
			stop(mt, st,
			     m && (m->flags & KILN_UW_MAP_NO_TABLE) ? KILN_UW_STOP_BAD_FRAME
								    : KILN_UW_STOP_NO_MAPPING,
			     m && (m->flags & KILN_UW_MAP_NO_TABLE) ? KILN_M_UW_BAD_FRAME
								    : KILN_M_UW_NO_MAPPING);
			return;
		}
		count(mt, KILN_M_UW_FP_FRAMES);
		goto next;
	}
	/* Below the leaf a pc is a return address: the call it returns from is at pc - 1. */
	off = pc - m->bias - (st->is_ret ? 1 : 0);
	d = find_delta(st, m->table_id, off);
	if (!d) {
		stop(mt, st, KILN_UW_STOP_NOT_COVERED, KILN_M_UW_NOT_COVERED);
		return;
	}
	rule = d->rule;
	if (rule & KILN_UW_CMD_FLAG) {
		switch (KILN_UW_CMD_KIND(rule)) {
		case KILN_UW_CMD_STOP:
			count(mt, KILN_M_UW_COMPLETE);
			st->stack.flags |= KILN_USTACK_COMPLETE;
			st->done = 1;
			return;
		case KILN_UW_CMD_PLT:
			cfa = st->sp + 8 + ((pc & 15) >= KILN_UW_CMD_ARG(rule) ? 8 : 0);
			if (read_u64(cfa - 8, &ra)) {
				stop(mt, st, KILN_UW_STOP_READ_FAULT, KILN_M_UW_READ_FAULT);
				return;
			}
			count(mt, KILN_M_UW_PLT_FRAMES);
			st->sp = cfa;
			st->pc = ra;
			goto next;
		case KILN_UW_CMD_SIGNAL:
			/*
			 * __restore_rt: sp points at the ucontext the kernel pushed; its
			 * sigcontext (at +40) holds the interrupted rbp, rsp and rip in slots
			 * 10, 15 and 16 (read together: slots 10-16).
			 */
			if (bpf_probe_read_user(regs, sizeof(regs), (void *)(st->sp + 40 + 80))) {
				stop(mt, st, KILN_UW_STOP_READ_FAULT, KILN_M_UW_READ_FAULT);
				return;
			}
			count(mt, KILN_M_UW_SIGNAL_FRAMES);
			st->bp = regs[0];
			st->sp = regs[5];
			st->pc = regs[6];
			st->is_ret = 0;
			/* An interrupted pc, not a return address: marked for the symbolizer. */
			if (st->stack.len >= KILN_MAX_FRAMES - 1) {
				stop(mt, st, KILN_UW_STOP_TRUNCATED, KILN_M_UW_TRUNCATED);
				return;
			}
			push_frame(st, st->pc | KILN_UFRAME_INTERRUPTED);
			return;
		case KILN_UW_CMD_UNSUPPORTED:
			stop(mt, st, KILN_UW_STOP_UNSUPPORTED, KILN_M_UW_UNSUPPORTED);
			return;
		default: /* INVALID: a gap between functions */
			stop(mt, st, KILN_UW_STOP_NOT_COVERED, KILN_M_UW_NOT_COVERED);
			return;
		}
	}
	idx = rule;
	r = bpf_map_lookup_elem(&uw_rules, &idx);
	if (!r) {
		stop(mt, st, KILN_UW_STOP_TABLE, KILN_M_UW_TABLE_ERR);
		return;
	}
	cfa = (r->cfa_reg == KILN_UW_REG_RBP ? st->bp : st->sp) + (__s64)r->cfa_off;
	if ((r->flags & KILN_UW_F_DEREF) && read_u64(cfa, &cfa)) {
		stop(mt, st, KILN_UW_STOP_READ_FAULT, KILN_M_UW_READ_FAULT);
		return;
	}
	if (r->rbp_how == KILN_UW_RBP_AT_CFA && r->rbp_off == -16) {
		/*
		 * The usual frame with rbp saved (push rbp first): the saved rbp right below the
		 * return address, both in one read. Each user read is a helper call with its
		 * fault handling; two per frame made the walk on rbp-based code ~1.5x the cost
		 * of the same depth on code without frame pointers.
		 */
		if (bpf_probe_read_user(&st->pair, sizeof(st->pair), (const void *)(cfa - 16))) {
			stop(mt, st, KILN_UW_STOP_READ_FAULT, KILN_M_UW_READ_FAULT);
			return;
		}
		st->bp = st->pair[0];
		ra = st->pair[1];
	} else {
		if (read_u64(cfa - 8, &ra)) {
			stop(mt, st, KILN_UW_STOP_READ_FAULT, KILN_M_UW_READ_FAULT);
			return;
		}
		if (r->rbp_how == KILN_UW_RBP_AT_CFA) {
			if (read_u64(cfa + (__s64)r->rbp_off, &st->bp)) {
				stop(mt, st, KILN_UW_STOP_READ_FAULT, KILN_M_UW_READ_FAULT);
				return;
			}
		} else if (r->rbp_how == KILN_UW_RBP_UNDEFINED) {
			st->bp = 0;
		}
	}
	/* Stacks grow down: a caller's frame is above its callee's, or the walk would loop. */
	if (cfa <= st->sp) {
		stop(mt, st, KILN_UW_STOP_BAD_FRAME, KILN_M_UW_BAD_FRAME);
		return;
	}
	st->sp = cfa;
	st->pc = ra;
next:
	/* A zero return address ends the stack (the ABI's outermost frame). */
	if (st->pc == 0) {
		count(mt, KILN_M_UW_COMPLETE);
		st->stack.flags |= KILN_USTACK_COMPLETE;
		st->done = 1;
		return;
	}
	if (st->pc < 0x1000 || st->pc >= (1ull << 47)) {
		stop(mt, st, KILN_UW_STOP_BAD_FRAME, KILN_M_UW_BAD_FRAME);
		return;
	}
	st->is_ret = 1;
	if (st->stack.len >= KILN_MAX_FRAMES - 1) {
		/* Room is kept for the marker: a cut stack still says it was cut. */
		stop(mt, st, KILN_UW_STOP_TRUNCATED, KILN_M_UW_TRUNCATED);
		return;
	}
	push_frame(st, st->pc);
}

static __always_inline struct walk_state *walk_state(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&walk_scratch, &zero);
}

/*
 * The table walk, KILN_UW_FRAMES_PER_PROG frames per run: it tail-calls itself until the
 * stack ends, then counts the sample. Tail calls keep each program small enough for the
 * verifier of every kernel, where one loop of 127 frames would not be.
 */
SEC("perf_event")
int kiln_walk(struct bpf_perf_event_data *ctx)
{
	struct kiln_metrics *mt = metrics_slot();
	struct walk_state *st = walk_state();
	int i;

	/*
	 * Both checked before any use: clang may compute a counter's address in MT before
	 * count()'s own check, which 6.1 and 6.12's verifiers refuse on a maybe-NULL pointer.
	 */
	if (!st || !mt)
		return 0;
	if (st->want_vma) {
		st->want_vma = 0;
		if (vma_mapping(st, st->vma_pc))
			count(mt, KILN_M_UW_VMA);
	}
	for (i = 0; i < KILN_UW_FRAMES_PER_PROG && !st->done && !st->want_vma; i++)
		step(mt, st);
	if (!st->done) {
		if (st->tail_calls < KILN_UW_MAX_TAIL_CALLS) {
			st->tail_calls++;
			bpf_tail_call(ctx, &walk_progs, 0);
		}
		/* Out of tail calls (or the call failed): the stack is cut here. */
		stop(mt, st, KILN_UW_STOP_TRUNCATED, KILN_M_UW_TRUNCATED);
	}
	return finish_native(ctx, mt, st);
}

#endif /* KILN_BPF_WALK_BPF_H */
