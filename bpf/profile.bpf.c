// SPDX-License-Identifier: (Apache-2.0 OR GPL-2.0-only)
/*
 * kiln's sampler: a perf_event program on the software CPU clock that counts stacks in the
 * kernel, plus process exec/fork/exit tracepoints that feed the symbolizer.
 *
 * Two windows: samples go to counts[W] / stacks[W] where W is `window`, flipped by user
 * space, which then drains the other window without racing the program.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "profile.h"

/*
 * libbpf's BPF_PROG() hands every program an unused `ctx` and the tracepoints' unused
 * arguments: -Wextra's unused-parameter warning says nothing useful here.
 */
#pragma clang diagnostic ignored "-Wunused-parameter"

#define EEXIST 17
#define ENOMEM 12
#define EFAULT 14

/* The deepest cgroup level the selection filter looks at for ancestors. */
#define KILN_MAX_CGROUP_LEVEL 16

/* Set before load. */
const volatile bool include_idle = false;
const volatile bool follow_children = false;

/*
 * Set by user space at run time through the mmapped .bss: the window samples go to, and
 * whether each selection map holds entries (so the unfiltered case costs no lookup).
 */
__u32 window = 0;
__u32 filter_tgids = 0;
__u32 filter_cgroups = 0;

struct stack_map {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, KILN_MAX_FRAMES * sizeof(__u64));
	__uint(max_entries, 16384);
};

/*
 * A shared hash, not a per-CPU one: a per-CPU hash saves the atomic add but touches a
 * per-CPU value area besides the element, and measured ~10 % slower per sample here.
 */
struct count_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct kiln_count_key);
	__type(value, struct kiln_count_val);
	__uint(max_entries, 16384);
};

struct stack_map stacks0 SEC(".maps");
struct stack_map stacks1 SEC(".maps");
struct count_map counts0 SEC(".maps");
struct count_map counts1 SEC(".maps");

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

/*
 * Never read by the programs. User space updates its one slot after flipping `window`:
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

/* Copies the sample's frames into the ring buffer: the path for what the maps can't hold. */
static __always_inline void overflow(struct bpf_perf_event_data *ctx, struct kiln_metrics *mt,
				     __u32 w, __u32 tgid, __u32 pid, __u64 cgid)
{
	struct kiln_ev_sample *ev;
	long n;

	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		count(mt, KILN_M_DROP_RINGBUF_FULL);
		return;
	}
	ev->type = KILN_EV_SAMPLE;
	ev->window = w;
	ev->tgid = tgid;
	ev->pid = pid;
	ev->cgroup_id = cgid;
	ev->time_ns = bpf_ktime_get_ns();
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	/* As in sample(): a sample in user mode has no kernel stack, skip the helper. */
	n = in_user_mode(ctx) ? -EFAULT : bpf_get_stack(ctx, ev->kframes, sizeof(ev->kframes), 0);
	ev->nr_kframes = n < 0 ? n : n / sizeof(__u64);
	n = bpf_get_stack(ctx, ev->uframes, sizeof(ev->uframes), BPF_F_USER_STACK);
	ev->nr_uframes = n < 0 ? n : n / sizeof(__u64);
	/* Drained at the window tick: no need to wake user space for each one. */
	bpf_ringbuf_submit(ev, BPF_RB_NO_WAKEUP);
	count(mt, KILN_M_OVERFLOWED);
}

static __always_inline bool stack_overflows(long id)
{
	/* -EFAULT only means there is no such stack (user mode / kernel thread): not an overflow. */
	return id == -EEXIST || id == -ENOMEM;
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

static __always_inline int sample(struct bpf_perf_event_data *ctx, struct kiln_metrics *mt,
				  void *stacks, void *counts, __u32 w, __u32 tgid, __u32 pid,
				  __u64 cgid)
{
	/* CGID is 0 unless the cgroup filter needed it: then it is read here, off the hot path. */
	struct kiln_count_key key = {};
	struct kiln_count_val init = {}, *val;
	long ks, us, err;

	/*
	 * A sample that interrupted user mode has no kernel stack: skipping the walk saves a
	 * helper call and gives the -EFAULT the helper would return.
	 */
	ks = in_user_mode(ctx) ? -EFAULT : bpf_get_stackid(ctx, stacks, 0);
	us = bpf_get_stackid(ctx, stacks, BPF_F_USER_STACK);
	if (ks < 0)
		count_stack_err(mt, ks);
	if (us < 0)
		count_stack_err(mt, us);
	if (stack_overflows(ks) || stack_overflows(us)) {
		if (ks == -ENOMEM || us == -ENOMEM)
			count(mt, KILN_M_OVF_STACK_FULL);
		else
			count(mt, KILN_M_OVF_STACK_COLL);
		overflow(ctx, mt, w, tgid, pid, cgid ? cgid : bpf_get_current_cgroup_id());
		return 0;
	}

	key.tgid = tgid;
	key.pid = pid;
	key.ustack_id = us;
	key.kstack_id = ks;
	val = bpf_map_lookup_elem(counts, &key);
	if (val) {
		__sync_fetch_and_add(&val->count, 1);
		count(mt, KILN_M_AGGREGATED);
		return 0;
	}
	if (!cgid)
		cgid = bpf_get_current_cgroup_id();
	init.count = 1;
	init.cgroup_id = cgid;
	bpf_get_current_comm(init.comm, sizeof(init.comm));
	err = bpf_map_update_elem(counts, &key, &init, BPF_NOEXIST);
	if (!err) {
		count(mt, KILN_M_AGGREGATED);
		note_first_sample(mt, tgid, pid, cgid);
		return 0;
	}
	if (err == -EEXIST) {
		/* Another CPU inserted the same key between our lookup and update. */
		val = bpf_map_lookup_elem(counts, &key);
		if (val) {
			__sync_fetch_and_add(&val->count, 1);
			count(mt, KILN_M_AGGREGATED);
			return 0;
		}
	}
	count(mt, KILN_M_OVF_COUNT_FULL);
	overflow(ctx, mt, w, tgid, pid, cgid);
	return 0;
}

SEC("perf_event")
int kiln_sample(struct bpf_perf_event_data *ctx)
{
	struct kiln_metrics *mt = metrics_slot();
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, pid = (__u32)id;
	__u64 cgid = 0;
	__u32 w;

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
	w = window & 1;
	/* One call site per window so that each bpf_get_stackid sees a constant map. */
	if (w)
		return sample(ctx, mt, &stacks1, &counts1, w, tgid, pid, cgid);
	return sample(ctx, mt, &stacks0, &counts0, w, tgid, pid, cgid);
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
