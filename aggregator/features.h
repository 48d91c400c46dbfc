/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KILN_AGGREGATOR_FEATURES_H
#define KILN_AGGREGATOR_FEATURES_H

#include <stdbool.h>

struct bpf_object;

/*
 * What the running kernel offers of what kiln's BPF sampler uses, probed once per process
 * (small programs and maps loaded and freed; needs the same privileges as the sampler).
 */
enum kiln_feature {
	KILN_F_BTF, /* /sys/kernel/btf/vmlinux: the sampler is CO-RE */
	KILN_F_PERF_EVENT, /* BPF programs on perf events */
	KILN_F_RINGBUF, /* BPF ring buffer map and bpf_ringbuf_reserve */
	KILN_F_LPM_TRIE, /* the unwinder's address ranges */
	KILN_F_LRU_HASH,
	KILN_F_PERCPU_ARRAY,
	KILN_F_STACK_TRACE, /* stack map and bpf_get_stackid */
	KILN_F_MAP_IN_MAP, /* array of maps: the window flip's barrier */
	KILN_F_TAIL_CALL, /* program array and bpf_tail_call: the native walk's chain */
	KILN_F_GET_STACK, /* bpf_get_stack, BPF_F_USER_STACK */
	KILN_F_CGROUP_ID, /* bpf_get_current_cgroup_id */
	KILN_F_PROBE_READ_USER, /* bpf_probe_read_user / _kernel */
	KILN_F_TASK_BTF, /* bpf_get_current_task_btf (and with it tp_btf programs) */
	KILN_F_TASK_PT_REGS, /* bpf_task_pt_regs: user registers of a sample in the kernel */
	KILN_F_BPF_LOOP, /* bpf_loop: the Python walk's post-processing */
	KILN_F_FIND_VMA, /* bpf_find_vma: tables for mappings the agent has not read yet */
	KILN_F_IO_URING, /* the agent's event loop (read, poll: 5.6); seccomp may forbid it */
	KILN_F_NR,
};

struct kiln_features {
	bool have[KILN_F_NR];
	bool hidden[KILN_F_NR]; /* absent because KILN_HIDE_FEATURES named it */
};

/*
 * Probes the kernel into F. KILN_HIDE_FEATURES (a comma-separated list of feature names,
 * a test hook: see docs/deployment.md) makes the named ones read as absent. A probe the
 * kernel refuses for lack of privilege counts the feature as present (loading the sampler
 * then reports the privilege). Returns 0, or -EINVAL for an unknown name in
 * KILN_HIDE_FEATURES (logged, naming the valid ones).
 */
int features__probe(struct kiln_features *f);

/* The feature's name as KILN_HIDE_FEATURES and the messages spell it; static storage. */
const char *features__name(enum kiln_feature id);

/* The first Linux version offering the feature ("5.17"); static storage. */
const char *features__kernel(enum kiln_feature id);

/*
 * Called by the sampler between opening and loading OBJ: probes the kernel once per process
 * and adapts. No bpf_loop: the Python walk program is not loaded and *NO_PYTHON is set
 * (native stacks stay whole).
 * *HAVE_FIND_VMA says whether the walk may look up mappings the agent has not read yet
 * (without it a new process's first samples are walked by frame pointers, said in one line).
 * Each fallback and each missing required feature is logged once per process, in one
 * message naming the feature and the kernel that has it. Returns 0, -EOPNOTSUPP when a
 * required feature is missing (the sampler cannot load), or features__probe's error.
 */
int features__prepare(struct bpf_object *obj, bool *no_python, bool *have_find_vma);

/* True once features__prepare refused to load for a missing feature (and said which). */
bool features__refused(void);

/*
 * Called by the sampler once OBJ is loaded: puts the Python walk program, if it was loaded,
 * into its tail-call slot. Returns 0 or -errno of the map update.
 */
int features__loaded(struct bpf_object *obj);

#endif
