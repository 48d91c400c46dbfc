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
 * Key of the in-kernel count maps: one entry per distinct (thread, stacks). The cgroup is
 * not part of the key: reading it costs several dependent loads per sample (task -> css_set
 * -> cgroup -> kernfs node), so it is read once, when the key is inserted.
 */
struct kiln_count_key {
	__u32 tgid;
	__u32 pid;
	__s32 ustack_id; /* id in the window's stack map, or -errno when no user stack */
	__s32 kstack_id; /* likewise for the kernel stack */
};

struct kiln_count_val {
	__u64 count;
	__u64 cgroup_id; /* v2 cgroup of the thread at the first sample of this key */
	char comm[KILN_COMM_LEN]; /* thread name at the first sample of this key */
};

/* Records in the BPF ring buffer, told apart by their first field. */
enum kiln_event_type {
	KILN_EV_SAMPLE = 1, /* a sample that did not fit the count or stack maps */
	KILN_EV_EXEC = 2,
	KILN_EV_EXIT = 3,
	KILN_EV_FORK = 4,
	KILN_EV_SEEN = 5, /* first sample of a process (since its exec): capture it now */
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
	__u64 kframes[KILN_MAX_FRAMES]; /* leaf first */
	__u64 uframes[KILN_MAX_FRAMES];
};

struct kiln_ev_proc {
	__u32 type; /* KILN_EV_EXEC, KILN_EV_EXIT, KILN_EV_FORK or KILN_EV_SEEN */
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
