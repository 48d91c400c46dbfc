/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared between bpf/profile.bpf.c and user space: fixed-width types only.
 * User space includes <linux/types.h> before this header; BPF includes vmlinux.h.
 */
#ifndef KILN_BPF_PROFILE_H
#define KILN_BPF_PROFILE_H

/* perf_event_max_stack's default; bpf_get_stack/stackid never return more frames. */
#ifndef KILN_MAX_FRAMES
#define KILN_MAX_FRAMES 127
#endif
#ifndef KILN_COMM_LEN
#define KILN_COMM_LEN 16
#endif

/*
 * Key of the in-kernel count map (an LRU hash): one entry per distinct (thread, stacks),
 * kept across windows; its value says which window it last counted in and its slot there
 * (bpf/profile.bpf.c, SLOT_REF). Keys nobody samples any more are evicted as new ones come,
 * so nothing is ever deleted. The cgroup is not part of the key: reading it costs several dependent loads per sample
 * (task -> css_set -> cgroup -> kernfs node), so it is read once, when the key is inserted.
 */
struct kiln_count_key {
	__u32 tgid;
	__u32 pid;
	__s32 kstack_id; /* id in the window's kernel stack map, or -errno when no stack */
	__s32 ustack_err; /* -errno when there is no user stack (kernel thread), else 0 */
	__u64 ustack_hash; /* hash of the user stack's frames; 0 when there is none */
};

/*
 * A user stack as the walker stores it (leaf first), keyed by a 64-bit hash of its frames.
 * Frames are raw pcs: the leaf exact, the others return addresses, except:
 * - KILN_UFRAME_INTERRUPTED | pc: a pc interrupted by a signal, not a return address (the
 *   symbolizer must not look up pc - 1);
 * - KILN_UFRAME_MARKER | reason: the walk stopped early for REASON (enum kiln_uw_stop);
 *   always the last (outermost) frame.
 * User addresses are below 2^47, so neither collides with a real pc.
 */
#define KILN_UFRAME_INTERRUPTED (1ull << 63)
#define KILN_UFRAME_MARKER 0xffffffffffffff00ull
#define KILN_UFRAME_IS_MARKER(f) (((f)&KILN_UFRAME_MARKER) == KILN_UFRAME_MARKER)

enum kiln_uw_stop {
	KILN_UW_STOP_TRUNCATED = 1, /* deeper than KILN_MAX_FRAMES or the tail-call budget */
	KILN_UW_STOP_NO_MAPPING = 2, /* pc in no executable mapping known for the process */
	KILN_UW_STOP_NOT_COVERED = 3, /* pc in a mapped file, but no unwind row covers it */
	KILN_UW_STOP_UNSUPPORTED = 4, /* the row's rule is one the walker can't apply */
	KILN_UW_STOP_READ_FAULT = 5, /* reading the stack faulted (paged out, unmapped) */
	KILN_UW_STOP_BAD_FRAME = 6, /* the CFA did not grow, or a nonsense return address */
	KILN_UW_STOP_TABLE = 7, /* inconsistent tables (bad rule index): a kiln bug */
	KILN_UW_STOP_NR,
};

/* struct kiln_ustack.flags */
#define KILN_USTACK_DWARF 0x1 /* walked with unwind tables (else the frame-pointer walk) */
#define KILN_USTACK_COMPLETE 0x2 /* reached the outermost frame */
/*
 * Bits 16-23: how many of the stack's last words are Python words (bpf/python.h), appended
 * after the native frames. Only those are read as Python words: a native "frame" the
 * frame-pointer walk took from garbage can have any bit pattern.
 */
#define KILN_USTACK_PY_SHIFT 16
#define KILN_USTACK_PY_WORDS(flags) (((flags) >> KILN_USTACK_PY_SHIFT) & 0xff)

struct kiln_ustack {
	__u32 len;
	__u32 flags;
	__u64 pc[KILN_MAX_FRAMES];
};

/*
 * A count key's slot in its window's half of the cslots array (the key's value points at
 * it while the window is open). User space reads the slots in place through a mapping of the array once
 * the window is closed; the user stack, if any, is in the ustacks slot of the same index.
 */
struct kiln_count_slot {
	__u64 count; /* 0: a slot left unused (another CPU inserted the same key first) */
	__u64 cgroup_id; /* v2 cgroup of the thread at the first sample of this key */
	__u32 tgid;
	__u32 pid;
	__s32 kstack_id; /* as in the key */
	__s32 ustack_err; /* as in the key */
	char comm[KILN_COMM_LEN]; /* thread name at the first sample of this key */
	__u32 has_ustack; /* the ustacks slot of the same index holds the key's user stack */
	__u32 pad;
	__u64 pad_line; /* 64 bytes: a slot per cache line (see bpf/profile.bpf.c, cslots) */
};

/* Records in the BPF ring buffer, told apart by their first field. */
enum kiln_event_type {
	KILN_EV_SAMPLE = 1, /* a sample that did not fit the count or stack maps */
	KILN_EV_EXEC = 2,
	KILN_EV_EXIT = 3,
	KILN_EV_FORK = 4,
	KILN_EV_SEEN = 5, /* first sample of a process (since its exec): capture it now */
	/* a walk met a pc in no mapping known for the process (dlopen, JIT): re-read them */
	KILN_EV_UNWIND_SYNC = 6,
	/* a Python code object not seen lately: read it while the process still lives */
	KILN_EV_PY_CODE = 7,
};

struct kiln_ev_code {
	__u32 type; /* KILN_EV_PY_CODE */
	__u32 tgid;
	__u64 code; /* the code object's address */
};

struct kiln_ev_sample {
	__u32 type; /* KILN_EV_SAMPLE */
	__u32 window;
	__u32 tgid;
	__u32 pid;
	__u64 cgroup_id;
	__u64 time_ns; /* bpf_ktime_get_ns() */
	char comm[KILN_COMM_LEN];
	__s32 nr_kframes; /* frames, or -errno from bpf_get_stack */
	__s32 nr_uframes;
	__u32 nr_pywords; /* the last NR_PYWORDS user frames are Python words */
	__u32 reserved;
	__u64 kframes[KILN_MAX_FRAMES]; /* leaf first */
	__u64 uframes[KILN_MAX_FRAMES];
};

struct kiln_ev_proc {
	__u32 type; /* KILN_EV_EXEC, _EXIT, _FORK, _SEEN or _UNWIND_SYNC */
	__u32 tgid;
	__u32 pid;
	__u32 ppid; /* parent tgid for FORK, else 0 */
	__u64 cgroup_id;
	__u64 time_ns;
	char comm[KILN_COMM_LEN];
};

/* Per-CPU counters, indexed by this enum; user space sums over CPUs. common/counters.def. */
enum kiln_metric {
#define KILN_COUNTER(src, id, name, type, group, problem, help) KILN_COUNTER_##src(id)
#define KILN_COUNTER_BPF(id) KILN_M_##id,
#define KILN_COUNTER_AGENT(id)
#include "../common/counters.def"
#undef KILN_COUNTER_BPF
#undef KILN_COUNTER_AGENT
	KILN_M_NR,
};

/* The value of the per-CPU metrics map's one entry. */
struct kiln_metrics {
	__u64 c[KILN_M_NR];
};

#endif
