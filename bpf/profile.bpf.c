// SPDX-License-Identifier: (Apache-2.0 OR GPL-2.0-only)
/*
 * kiln's sampler: a perf_event program on the software CPU clock that counts stacks in the
 * kernel, plus process exec/fork/exit tracepoints that feed the symbolizer.
 *
 * Windows: user space advances `window` (a generation) at each tick, then drains the window
 * that closed without racing the programs. A sample goes to half W = window & 1 of the
 * slot arrays and to stack map W, under a count key that carries the generation.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#include "profile.h"
#include "python.h"
#include "unwind.h"

/*
 * libbpf's BPF_PROG() hands every program an unused `ctx` and the tracepoints' unused
 * arguments: -Wextra's unused-parameter warning says nothing useful here.
 */
#pragma clang diagnostic ignored "-Wunused-parameter"

#define EEXIST 17
#define ENOMEM 12
#define EFAULT 14

#define PF_KTHREAD 0x00200000 /* include/linux/sched.h */
#define USER32_CS 0x23 /* a 32-bit task's user code segment: not walked */

/*
 * Frames per run of the walk program and the tail calls it may make: 5 x 26 covers
 * KILN_MAX_FRAMES, and each run stays small for the verifier (the kernel allows 33).
 */
#define KILN_UW_FRAMES_PER_PROG 5
#define KILN_UW_MAX_TAIL_CALLS 26

/* The deepest cgroup level the selection filter looks at for ancestors. */
#define KILN_MAX_CGROUP_LEVEL 16

/* Set before load. */
const volatile bool include_idle = false;
const volatile bool follow_children = false;
/*
 * false: user stacks are walked by frame pointers only (`unwind: fp`): no table lookup at
 * all, so the cost of the table walk can be compared with the frame-pointer walk's on the
 * same binary, and users whose code keeps frame pointers pay nothing for tables.
 */
const volatile bool unwind_tables = true;
/*
 * The kernel has bpf_find_vma (5.17): a mapping the agent has not read yet is looked up in
 * the process's own list, and walked with its file's table if one is loaded (uw_files).
 * Without it, such a walk falls back to frame pointers as before; the verifier never sees
 * the call (a known-false constant prunes the branch).
 */
const volatile bool have_find_vma = false;

/*
 * Set by user space at run time through the mmapped .bss: the generation of the window
 * samples go to (its low bit picks the half of each pair of window maps), and whether each
 * selection map holds entries (so the unfiltered case costs no lookup).
 */
__u32 window = 0;
__u32 filter_tgids = 0;
__u32 filter_cgroups = 0;

/* Kernel stacks; user stacks are walked by kiln and kept in ustacks. */
struct stack_map {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, KILN_MAX_FRAMES * sizeof(__u64));
	__uint(max_entries, 16384);
};

/*
 * Counts live in slots of an mmapable array (cslots) that user space reads in place; the
 * count map only finds a key's slot in the current window. Keys stay across windows (a
 * thread running the same stacks again takes a new slot, not a new key), and the map is
 * never drained: an LRU hash evicts the keys nobody samples as new ones are inserted.
 * Draining two per-window hashes by batch lookup-and-delete was about a sixth of the
 * agent's CPU at density (a bucket lock, a checked copy and a free per key), and every
 * window inserted every key again.
 * A shared map, not a per-CPU one: a per-CPU hash saves the atomic add but touches a
 * per-CPU value area besides the element, and measured ~10 % slower per sample here.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct kiln_count_key);
	__type(value, __u64); /* SLOT_REF(): the window it last counted in, its slot there */
	__uint(max_entries, 2 * 16384);
} counts SEC(".maps");

/*
 * Window W's keys take slots W * slot_half .. of cslots (and of ustacks, for their user
 * stack), in turn (slots_used[W]). User space reads both arrays through mappings
 * (BPF_F_MMAPABLE) once the window is closed, and only resets the window's slot count. A
 * stack is kept once per count key rather than once per window (two threads with the same
 * stack store it twice).
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct kiln_count_slot);
	__uint(max_entries, 2 * 16384);
	__uint(map_flags, BPF_F_MMAPABLE);
} cslots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct kiln_ustack);
	__uint(max_entries, 2 * 16384);
	__uint(map_flags, BPF_F_MMAPABLE);
} ustacks SEC(".maps");

/* Set by user space before load: the slots of one window (the arrays hold two windows'). */
const volatile __u32 slot_half = 16384;
/* Slots taken in each window (may run past slot_half: the extra ones overflowed). */
__u32 slots_used[2] = {};
struct stack_map stacks0 SEC(".maps");
struct stack_map stacks1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

/*
 * One per-CPU slot whose value is the counter array indexed by enum kiln_metric: a single
 * lookup per program run instead of one per counter (the lookups were a measurable share
 * of the per-sample cost).
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct kiln_metrics);
	__uint(max_entries, 1);
} metrics SEC(".maps");

/* Selections are usually empty or small: allocate entries on demand, not up front. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u8);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} sel_tgids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u64);
	__type(value, __u8);
	__uint(max_entries, 8192);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} sel_cgroups SEC(".maps");

/*
 * Processes that already had a sample since their exec. The first sample of any other one
 * sends a KILN_EV_SEEN event, so user space reads its mappings while it still runs: a
 * process that lives 50 ms is gone by the time its window is drained. LRU: a forgotten
 * entry costs one more event, never a wrong result.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u32);
	__type(value, __u8);
	__uint(max_entries, 16384);
} seen_tgids SEC(".maps");

/* Where a process's executable mappings are and which table each one uses (bpf/unwind.h). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct kiln_uw_map_key);
	__type(value, struct kiln_uw_mapping);
	__uint(max_entries, 1 << 20);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} uw_mappings SEC(".maps");

/*
 * 64 KiB pages of every loaded table -> their deltas in uw_deltas: 16384 pages are 1 GiB
 * of code (python3.11 has 45, libLLVM-14 771). Preallocated, as perf_event programs need.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct kiln_uw_page_key);
	__type(value, struct kiln_uw_page);
	__uint(max_entries, 16384);
} uw_pages SEC(".maps");

/*
 * The deltas of every loaded table, in ranges user space allocates. An array element takes
 * 8 bytes whatever its size, so 2^20 deltas are 8 MiB: libc has 23 k, python3.11 59 k,
 * libLLVM-14 818 k. A table that does not fit evicts idle ones, else is counted and its
 * mappings walk frame pointers. Mmapable: user space writes a table's deltas with a copy
 * instead of one element update each inside the batch syscall (cc1's 436 k deltas).
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct kiln_uw_delta);
	__uint(max_entries, 1 << 20);
	__uint(map_flags, BPF_F_MMAPABLE);
} uw_deltas SEC(".maps");

/* De-duplicated rules of every table (a few hundred per file). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct kiln_uw_rule);
	__uint(max_entries, KILN_UW_MAX_RULES);
} uw_rules SEC(".maps");

/* Last KILN_EV_UNWIND_SYNC per process, to send at most one a second. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 4096);
} uw_sync_sent SEC(".maps");

/*
 * Files whose table is loaded, by the kernel's identity of the inode (bpf/unwind.h): user
 * space adds one when a table is loaded and removes it when the table is freed. Sized for
 * every table the agent can hold at once (live ones plus its 512 idle ones).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct kiln_uw_file_key);
	__type(value, struct kiln_uw_file);
	__uint(max_entries, 4096);
} uw_files SEC(".maps");

/*
 * Mappings of a process found through bpf_find_vma, until the agent has read its own
 * (uwprocs.c deletes the entry after each read of the process's mappings, and the exec and
 * fork programs at a new image or a reused tgid). Needed because a sample can make only
 * one bpf_find_vma call: in a perf event's interrupt the helper leaves the mm's unlock to
 * a per-CPU irq_work, and a second call finds it busy (-EBUSY). So each sample of a new
 * process learns at most one mapping, and reuses those its earlier samples learned.
 */
#define KILN_UW_VMA_CACHE 4

struct vma_cache {
	__u32 next; /* slot the next mapping learned goes to, round robin */
	__u32 reserved;
	struct kiln_uw_mapping m[KILN_UW_VMA_CACHE];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u32);
	__type(value, struct vma_cache);
	__uint(max_entries, 4096);
} uw_vma_cache SEC(".maps");

/* A new entry's value (too big for the stack of a program with tail calls and callbacks). */
static const struct vma_cache vma_cache_zero;

/* The walk of the sample being taken on this CPU: registers, frames, where it goes. */
struct walk_state {
	__u64 pc, sp, bp;
	__u64 hash; /* of the frames pushed so far */
	__u64 cgid; /* 0 until read */
	__u32 tgid, pid, w;
	__u32 gen; /* the window's generation: `window` when the sample began */
	__s32 kstack_id;
	__s32 ustack_err;
	__u32 tail_calls;
	__u8 user_mode; /* the sample interrupted user mode */
	__u8 is_ret; /* pc is a return address (look up pc - 1) */
	__u8 done;
	__u8 pg_valid; /* pg_* hold the last page found */
	__u8 unloaded; /* the process has no tables loaded yet: walked through bpf_find_vma */
	__u8 want_vma; /* the next run of kiln_walk looks up vma_pc's mapping first */
	__u8 vma_used; /* this sample made its one bpf_find_vma call */
	__u64 vma_pc; /* the last pc whose mapping was asked of bpf_find_vma */
	/* The last mapping and table page found: callers are mostly in their callee's. */
	struct kiln_uw_mapping map;
	__u32 pg_table, pg_page, pg_first, pg_count;
	__u64 pair[2]; /* saved rbp and return address, read together (walk.bpf.h) */
	struct kiln_ustack stack;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct walk_state);
	__uint(max_entries, 1);
} walk_scratch SEC(".maps");

/* The stack buffer the Python walk appends to: the user stack of walk_state. */
#define KILN_PY_OUT_WORDS KILN_MAX_FRAMES
#include "pywalk.bpf.h"

/* CPython processes (bpf/python.h): where their frames are, from their interpreter. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct kiln_py_info);
	__uint(max_entries, 4096);
} py_procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct kiln_py_scratch);
	__uint(max_entries, 1);
} py_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct kiln_py_counters);
	__uint(max_entries, 1);
} py_counters SEC(".maps");

/*
 * Code objects lately announced to user space, one slot per hash of (tgid, code): a code
 * object is read (name, file, line table) when first seen, while its process lives, so a
 * process that exits before its window is drained still has named Python frames. A slot
 * overwritten by another code object costs one more announcement, never a wrong name.
 */
#define KILN_PY_SEEN_SLOTS 16384
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, KILN_PY_SEEN_SLOTS);
} py_code_seen SEC(".maps");

int kiln_walk(struct bpf_perf_event_data *ctx);
int kiln_pywalk(struct bpf_perf_event_data *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	/* Sizes, not BTF types: program arrays take no BTF for their key. */
	__uint(key_size, sizeof(__u32));
	__array(values, int(void *));
} walk_progs SEC(".maps") = {
	/*
	 * Slot 1 (kiln_pywalk) is set by user space once loaded (features__loaded): a kernel
	 * without bpf_loop does not load that program, and libbpf refuses a static slot whose
	 * program is not loaded.
	 */
	.values = { [0] = (void *)&kiln_walk },
};

/*
 * Never read by the programs. User space updates its one slot after advancing `window`:
 * the kernel waits for every running non-sleepable BPF program to finish before a
 * map-in-map update returns (synchronize_rcu), so once it returns no sample can still be
 * writing into the window that is about to be drained.
 */
struct sync_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 1);
} window_sync_inner SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__type(key, __u32);
	__uint(max_entries, 1);
	__array(values, struct sync_inner);
} window_sync SEC(".maps") = {
	.values = { &window_sync_inner },
};

static __always_inline struct kiln_metrics *metrics_slot(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&metrics, &zero);
}

/*
 * Per-CPU counters: a program does not nest with itself on one CPU, and the tracepoint
 * programs touch only their own counters, so plain increments are exact.
 */
static __always_inline void count(struct kiln_metrics *mt, enum kiln_metric m)
{
	if (mt && m < KILN_M_NR)
		mt->c[m] += 1;
}

static __always_inline void count_stack_err(struct kiln_metrics *mt, long err)
{
	if (err == -EFAULT)
		count(mt, KILN_M_STACK_ERR_EFAULT);
	else if (err == -EEXIST)
		count(mt, KILN_M_STACK_ERR_EEXIST);
	else if (err == -ENOMEM)
		count(mt, KILN_M_STACK_ERR_ENOMEM);
	else
		count(mt, KILN_M_STACK_ERR_OTHER);
}

static __always_inline bool selected(__u32 tgid, __u64 cgid)
{
	int level;

	if (!filter_tgids && !filter_cgroups)
		return true;
	if (filter_tgids && bpf_map_lookup_elem(&sel_tgids, &tgid))
		return true;
	if (!filter_cgroups)
		return false;
	if (bpf_map_lookup_elem(&sel_cgroups, &cgid))
		return true;
	/* A selected cgroup covers its descendants: walk the ancestors from the root down. */
	for (level = 1; level < KILN_MAX_CGROUP_LEVEL; level++) {
		__u64 anc = bpf_get_current_ancestor_cgroup_id(level);

		if (!anc || anc == cgid)
			break;
		if (bpf_map_lookup_elem(&sel_cgroups, &anc))
			return true;
	}
	return false;
}

/* Whether the interrupted context was user mode: then there is no kernel stack to walk. */
static __always_inline bool in_user_mode(struct bpf_perf_event_data *ctx)
{
#if defined(__TARGET_ARCH_x86)
	/*
	 * The verifier allows only whole 8-byte loads of the saved registers, and newer kernels
	 * make cs a u16 inside a union: load its whole slot. The privilege level is in bits 0-1.
	 */
	__u64 cs = *(volatile __u64 *)((char *)ctx +
				       __builtin_offsetof(struct bpf_perf_event_data, regs.cs));

	return (cs & 3) == 3;
#else
	return false; /* let bpf_get_stackid find out */
#endif
}

/* Called only when a sample creates a new count-map key, so the lookup is off the hot path. */
static __always_inline void note_first_sample(struct kiln_metrics *mt, __u32 tgid, __u32 pid,
					      __u64 cgid)
{
	struct kiln_ev_proc *ev;
	__u8 one = 1;

	if (bpf_map_lookup_elem(&seen_tgids, &tgid))
		return;
	if (bpf_map_update_elem(&seen_tgids, &tgid, &one, BPF_NOEXIST))
		return;
	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		count(mt, KILN_M_EV_DROPPED);
		return;
	}
	ev->type = KILN_EV_SEEN;
	ev->tgid = tgid;
	ev->pid = pid;
	ev->ppid = 0;
	ev->cgroup_id = cgid;
	ev->time_ns = bpf_ktime_get_ns();
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	bpf_ringbuf_submit(ev, BPF_RB_FORCE_WAKEUP); /* as proc_event() */
	count(mt, KILN_M_EV_SEEN);
}

/* Copies the sample's frames into the ring buffer: the path for what the maps can't hold. */
static __always_inline void overflow(struct bpf_perf_event_data *ctx, struct kiln_metrics *mt,
				     struct walk_state *st)
{
	struct kiln_ev_sample *ev;
	long n;

	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		count(mt, KILN_M_DROP_RINGBUF_FULL);
		return;
	}
	ev->type = KILN_EV_SAMPLE;
	ev->window = st->w;
	ev->tgid = st->tgid;
	ev->pid = st->pid;
	ev->cgroup_id = st->cgid ? st->cgid : bpf_get_current_cgroup_id();
	ev->time_ns = bpf_ktime_get_ns();
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	/* As in aggregate(): a sample in user mode has no kernel stack, skip the helper. */
	n = st->user_mode ? -EFAULT : bpf_get_stack(ctx, ev->kframes, sizeof(ev->kframes), 0);
	ev->nr_kframes = n < 0 ? n : n / sizeof(__u64);
	if (st->ustack_err) {
		ev->nr_uframes = st->ustack_err;
	} else {
		ev->nr_uframes = st->stack.len;
		ev->nr_pywords = KILN_USTACK_PY_WORDS(st->stack.flags);
		bpf_probe_read_kernel(ev->uframes, sizeof(ev->uframes), st->stack.pc);
	}
	/* Drained at the window tick: no need to wake user space for each one. */
	bpf_ringbuf_submit(ev, BPF_RB_NO_WAKEUP);
	count(mt, KILN_M_OVERFLOWED);
}

/* A 64-bit mix per frame (multiply, xor-shift): the user stack's key, built as it is walked. */
static __always_inline __u64 hash_step(__u64 h, __u64 v)
{
	const __u64 m = 0xc6a4a7935bd1e995ull;

	v *= m;
	v ^= v >> 47;
	v *= m;
	h ^= v;
	return h * m;
}

static __always_inline void push_frame(struct walk_state *st, __u64 pc)
{
	__u32 len = st->stack.len;

	if (len < KILN_MAX_FRAMES) {
		st->stack.pc[len] = pc;
		st->stack.len = len + 1;
		st->hash = hash_step(st->hash, pc);
	}
}

/* A count key's value: the window generation it last counted in, and its slot there. */
#define SLOT_REF(gen, idx) (((__u64)(gen) << 32) | (idx))
#define SLOT_REF_GEN(ref) ((__u32)((ref) >> 32))
#define SLOT_REF_IDX(ref) ((__u32)(ref))

/* Adds one to the count of REF's slot if REF is of window GEN; false otherwise. */
static __always_inline bool count_into(__u64 ref, __u32 gen)
{
	__u32 idx = SLOT_REF_IDX(ref);
	struct kiln_count_slot *cs;

	if (SLOT_REF_GEN(ref) != gen)
		return false;
	cs = bpf_map_lookup_elem(&cslots, &idx);
	if (!cs)
		return false;
	__sync_fetch_and_add(&cs->count, 1);
	return true;
}

/*
 * Takes the next slot of the sample's window and fills it, count 1, with the sample's
 * thread and stacks. Returns it (*IDX its index), or NULL when the window's slots are all
 * taken.
 */
static __always_inline struct kiln_count_slot *take_slot(struct walk_state *st, bool ustack,
							 __u32 *idx, struct kiln_metrics *mt)
{
	__u32 w = st->w & 1, i = __sync_fetch_and_add(&slots_used[w], 1);
	struct kiln_count_slot *cs;
	struct kiln_ustack *us;

	if (i >= slot_half)
		return NULL;
	i += w * slot_half;
	cs = bpf_map_lookup_elem(&cslots, &i);
	if (!cs)
		return NULL;
	if (!st->cgid)
		st->cgid = bpf_get_current_cgroup_id();
	cs->cgroup_id = st->cgid;
	cs->tgid = st->tgid;
	cs->pid = st->pid;
	cs->kstack_id = st->kstack_id;
	cs->ustack_err = st->ustack_err;
	bpf_get_current_comm(cs->comm, sizeof(cs->comm));
	cs->has_ustack = 0;
	if (ustack) {
		us = bpf_map_lookup_elem(&ustacks, &i);
		if (us) {
			__builtin_memcpy(us, &st->stack, sizeof(*us));
			cs->has_ustack = 1;
		} else {
			count(mt, KILN_M_UW_STACKS_FULL);
		}
	}
	cs->count = 1;
	*idx = i;
	return cs;
}

/*
 * Counts the sample under (thread, kernel stack, user stack) in its window: into the slot
 * its key has in this window, else into a new slot that the key then points at. A key
 * outlives its window (a thread that keeps running the same stacks needs no new key, only
 * a new slot each window); keys nobody samples age out of the LRU. What does not fit goes
 * to the ring buffer.
 */
static __always_inline int finish(struct bpf_perf_event_data *ctx, struct kiln_metrics *mt,
				  struct walk_state *st)
{
	struct kiln_count_key key = {};
	struct kiln_count_slot *cs;
	__u64 *ref, old, want;
	__u32 idx = 0, gen = st->gen;
	__u64 h = 0;
	/*
	 * int, not long: 6.1 hands a helper's negative errno back zero-extended from 32 bits
	 * (0x00000000ffffffef for -EEXIST), so a long never equals -EEXIST there and every
	 * key already counted was taken for a full map.
	 */
	int err;

	if (!st->ustack_err) {
		h = hash_step(st->hash, ((__u64)st->stack.flags << 32) | st->stack.len);
		h = h ? h : 1; /* 0 means "no user stack" */
	}
	if (st->kstack_id == -EEXIST || st->kstack_id == -ENOMEM) {
		if (st->kstack_id == -ENOMEM)
			count(mt, KILN_M_OVF_STACK_FULL);
		else
			count(mt, KILN_M_OVF_STACK_COLL);
		overflow(ctx, mt, st);
		return 0;
	}

	key.tgid = st->tgid;
	key.pid = st->pid;
	key.kstack_id = st->kstack_id;
	key.ustack_err = st->ustack_err;
	key.ustack_hash = h;
	ref = bpf_map_lookup_elem(&counts, &key);
	if (ref && count_into(*ref, gen)) {
		count(mt, KILN_M_AGGREGATED);
		return 0;
	}
	cs = take_slot(st, h != 0, &idx, mt);
	if (!cs) {
		count(mt, KILN_M_OVF_COUNT_FULL);
		overflow(ctx, mt, st);
		return 0;
	}
	want = SLOT_REF(gen, idx);
	if (!ref) {
		/*
		 * The slot is whole before the key points at it: a CPU that finds the key counts
		 * into a filled slot. User space reads the window only once every program that
		 * wrote to it is done.
		 */
		err = (int)bpf_map_update_elem(&counts, &key, &want, BPF_NOEXIST);
		if (!err) {
			count(mt, KILN_M_AGGREGATED);
			note_first_sample(mt, st->tgid, st->pid, st->cgid);
			return 0;
		}
		/* Another CPU inserted the key since our lookup: move it to our slot, or count. */
		ref = err == -EEXIST ? bpf_map_lookup_elem(&counts, &key) : NULL;
	}
	if (ref) {
		/* A key of an earlier window: point it at our slot unless a CPU just did. */
		old = *ref;
		if (SLOT_REF_GEN(old) != gen &&
		    __sync_val_compare_and_swap(ref, old, want) == old) {
			count(mt, KILN_M_AGGREGATED);
			return 0;
		}
		/* Never published, so nobody else counts into it: user space skips a count of 0. */
		cs->count = 0;
		if (count_into(*ref, gen)) {
			count(mt, KILN_M_AGGREGATED);
			return 0;
		}
	}
	cs->count = 0;
	count(mt, KILN_M_OVF_COUNT_FULL);
	overflow(ctx, mt, st);
	return 0;
}

/*
 * The native walk is done: a CPython process's Python frames come next (kiln_pywalk, a
 * program of its own so that each stays within the verifier's budget), else the sample is
 * counted now.
 */
static __always_inline int finish_native(struct bpf_perf_event_data *ctx, struct kiln_metrics *mt,
					 struct walk_state *st)
{
	if (!st->ustack_err && bpf_map_lookup_elem(&py_procs, &st->tgid))
		bpf_tail_call(ctx, &walk_progs, 1);
	return finish(ctx, mt, st);
}

#include "walk.bpf.h"

/* Tells user space about code object CODE of TGID unless its slot says it did lately. */
static __always_inline void announce_code(struct kiln_metrics *mt, __u32 tgid, __u64 code)
{
	__u64 id = ((__u64)tgid << 44) | ((code >> 3) & ((1ull << 44) - 1));
	__u32 slot = (__u32)((id * 0x9e3779b97f4a7c15ull) >> 50) & (KILN_PY_SEEN_SLOTS - 1);
	struct kiln_ev_code *ev;
	__u64 *seen = bpf_map_lookup_elem(&py_code_seen, &slot);

	if (!seen || *seen == id)
		return;
	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		count(mt, KILN_M_EV_DROPPED);
		return;
	}
	*seen = id;
	ev->type = KILN_EV_PY_CODE;
	ev->tgid = tgid;
	ev->code = code;
	/* Read soon, while the process lives, but no wake-up per code object. */
	bpf_ringbuf_submit(ev, 0);
}

struct py_post {
	struct walk_state *st;
	struct kiln_metrics *mt;
	__u32 i, n;
};

/* One Python word: into the stack's hash, and its code object announced if new. */
static long py_post_step(__u32 idx, void *data)
{
	struct py_post *c = data;
	__u32 i = c->i;
	__u64 w;

	if (i >= c->n || i >= KILN_MAX_FRAMES)
		return 1;
	w = c->st->stack.pc[i];
	c->st->hash = hash_step(c->st->hash, w);
	if (KILN_PY_IS_FRAME(w))
		announce_code(c->mt, c->st->tgid, KILN_PY_FRAME_CODE(w));
	c->i = i + 1;
	return 0;
}

/*
 * Appends a CPython process's Python frames (bpf/pywalk.bpf.h) to the native stack just
 * walked, announces code objects user space has not read yet, then counts the sample.
 */
SEC("perf_event")
int kiln_pywalk(struct bpf_perf_event_data *ctx)
{
	struct kiln_metrics *mt = metrics_slot();
	struct walk_state *st = walk_state();
	struct kiln_py_scratch *scratch;
	struct kiln_py_counters *ctr;
	struct kiln_py_info *info;
	struct py_post post = {};
	__u32 zero = 0, n0, n;

	if (!st || !mt) /* as in kiln_walk */
		return 0;
	info = bpf_map_lookup_elem(&py_procs, &st->tgid);
	scratch = bpf_map_lookup_elem(&py_scratch, &zero);
	ctr = bpf_map_lookup_elem(&py_counters, &zero);
	if (!info || !scratch || !ctr)
		return finish(ctx, mt, st);
	n0 = st->stack.len;
	if (n0 > KILN_MAX_FRAMES)
		n0 = KILN_MAX_FRAMES;
	n = kiln_py_walk(bpf_get_current_task_btf(), info, st->stack.pc, n0, scratch, ctr);
	/* A callback verified once: a loop over data-dependent words would not fit the budget. */
	post.st = st;
	post.mt = mt;
	post.i = n0;
	post.n = n;
	bpf_loop(KILN_MAX_FRAMES, py_post_step, &post, 0);
	st->stack.len = n;
	if (n > n0)
		st->stack.flags |= (n - n0) << KILN_USTACK_PY_SHIFT;
	return finish(ctx, mt, st);
}

SEC("perf_event")
int kiln_sample(struct bpf_perf_event_data *ctx)
{
	struct kiln_metrics *mt = metrics_slot();
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, pid = (__u32)id;
	struct kiln_uw_mapping *m;
	struct walk_state *st;
	__u64 cgid = 0;
	long n;

	if (!mt) /* as in kiln_walk */
		return 0;
	count(mt, KILN_M_SEEN);
	if (pid == 0 && !include_idle) {
		count(mt, KILN_M_IDLE);
		return 0;
	}
	/* Only the cgroup filter needs the cgroup on every sample; otherwise it is read on insert. */
	if (filter_cgroups)
		cgid = bpf_get_current_cgroup_id();
	if (!selected(tgid, cgid)) {
		count(mt, KILN_M_FILTERED);
		return 0;
	}
	count(mt, KILN_M_TAKEN);
	st = walk_state();
	if (!st)
		return 0;
	st->gen = window;
	st->w = st->gen & 1;
	st->tgid = tgid;
	st->pid = pid;
	st->cgid = cgid;
	st->user_mode = in_user_mode(ctx);
	st->done = 0;
	st->is_ret = 0;
	st->tail_calls = 0;
	st->unloaded = 0;
	st->want_vma = 0;
	st->vma_used = 0;
	st->vma_pc = 0;
	st->ustack_err = 0;
	st->hash = 0x9e3779b97f4a7c15ull;
	st->stack.len = 0;
	st->stack.flags = 0;
	/*
	 * A sample that interrupted user mode has no kernel stack: skipping the walk saves a
	 * helper call and gives the -EFAULT the helper would return.
	 */
	if (st->user_mode)
		st->kstack_id = -EFAULT;
	else if (st->w)
		st->kstack_id = bpf_get_stackid(ctx, &stacks1, 0);
	else
		st->kstack_id = bpf_get_stackid(ctx, &stacks0, 0);
	if (st->kstack_id < 0)
		count_stack_err(mt, st->kstack_id);

	if (!user_regs(ctx, st)) {
		count(mt, KILN_M_UW_NO_REGS);
		st->ustack_err = -EFAULT;
		return finish(ctx, mt, st);
	}
	/*
	 * The leaf's mapping, which also says whether the process's tables are loaded: a
	 * process with no entry has none yet, one with only its marker (prefix 32) is known.
	 */
	m = unwind_tables ? find_mapping(tgid, st->pc) : NULL;
	/*
	 * Not loaded yet, but the file of its leaf has a table (libc, a program run before):
	 * walked by tables from this first sample on, without waiting for the agent.
	 */
	if (!m && unwind_tables && vma_mapping(st, st->pc)) {
		count(mt, KILN_M_UW_VMA);
		st->unloaded = 1;
		m = &st->map;
	}
	if (m) {
		/* The process's tables are loaded: walk them, starting from this mapping. */
		if (m != &st->map)
			st->map = *m;
		st->pg_valid = 0;
		count(mt, KILN_M_UW_DWARF);
		st->stack.flags = KILN_USTACK_DWARF;
		push_frame(st, st->pc);
		bpf_tail_call(ctx, &walk_progs, 0);
		/* Only when the walk program is missing: the leaf alone, cut. */
		stop(mt, st, KILN_UW_STOP_TRUNCATED, KILN_M_UW_TRUNCATED);
		return finish(ctx, mt, st);
	}
	/*
	 * Not loaded yet (its first samples; user space loads it on the KILN_EV_SEEN event):
	 * the kernel's frame-pointer walk, as exact as the binary's frame pointers.
	 */
	count(mt, KILN_M_UW_FP);
	n = bpf_get_stack(ctx, st->stack.pc, sizeof(st->stack.pc), BPF_F_USER_STACK);
	if (n < 0) {
		count_stack_err(mt, n);
		st->ustack_err = n;
		return finish(ctx, mt, st);
	}
	st->stack.len = n / sizeof(__u64);
	for (__u32 i = 0; i < KILN_MAX_FRAMES; i++) {
		if (i >= st->stack.len)
			break;
		st->hash = hash_step(st->hash, st->stack.pc[i]);
	}
	return finish_native(ctx, mt, st);
}

static __always_inline void proc_event(enum kiln_event_type type, struct task_struct *task,
				       __u32 ppid, enum kiln_metric m)
{
	struct kiln_metrics *mt = metrics_slot();
	struct kiln_ev_proc *ev;

	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		count(mt, KILN_M_EV_DROPPED);
		return;
	}
	ev->type = type;
	ev->tgid = BPF_CORE_READ(task, tgid);
	ev->pid = BPF_CORE_READ(task, pid);
	ev->ppid = ppid;
	ev->cgroup_id = bpf_get_current_cgroup_id();
	ev->time_ns = bpf_ktime_get_ns();
	BPF_CORE_READ_STR_INTO(&ev->comm, task, comm);
	/*
	 * Wake user space: it must look at the process before the process is gone. Forced:
	 * the adaptive wake-up is skipped whenever unread records (overflow samples, which do
	 * not wake) sit before this one, and process events are rare.
	 */
	bpf_ringbuf_submit(ev, BPF_RB_FORCE_WAKEUP);
	count(mt, m);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(kiln_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	__u8 one = 1;

	/* Threads share the parent's tgid; only new processes matter here. */
	if (ptgid == ctgid)
		return 0;
	/* A new process (perhaps a reused tgid) announces itself at its first sample. */
	bpf_map_delete_elem(&seen_tgids, &ctgid);
	bpf_map_delete_elem(&uw_vma_cache, &ctgid);
	if (!follow_children)
		return 0;
	if (!bpf_map_lookup_elem(&sel_tgids, &ptgid))
		return 0;
	if (bpf_map_update_elem(&sel_tgids, &ctgid, &one, BPF_ANY) == 0)
		count(metrics_slot(), KILN_M_FOLLOWED);
	proc_event(KILN_EV_FORK, child, ptgid, KILN_M_EV_FORK);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(kiln_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tgid = BPF_CORE_READ(p, tgid);

	/* A new image: its first sample announces it again, with its libraries mapped. */
	bpf_map_delete_elem(&seen_tgids, &tgid);
	bpf_map_delete_elem(&uw_vma_cache, &tgid);
	/*
	 * Sent for every process, selected or not: user space decides whether a new image
	 * matches the sources (an executable selector) and extends the filter.
	 */
	proc_event(KILN_EV_EXEC, p, 0, KILN_M_EV_EXEC);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(kiln_exit, struct task_struct *p)
{
	__u32 tgid = BPF_CORE_READ(p, tgid);

	/* The process is gone when its group leader exits; ignore the other threads. */
	/*
	 * The seen entry stays: a sample taken on the way out must not announce the process
	 * again after its exit (user space would then read its mappings once they are gone).
	 * A reused tgid is re-armed at its fork.
	 */
	if ((__u32)BPF_CORE_READ(p, pid) != tgid)
		return 0;
	if (!selected(tgid, bpf_get_current_cgroup_id()))
		return 0;
	proc_event(KILN_EV_EXIT, p, 0, KILN_M_EV_EXIT);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
