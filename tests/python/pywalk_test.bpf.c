// SPDX-License-Identifier: (Apache-2.0 OR GPL-2.0-only)
/*
 * Test harness for bpf/pywalk.bpf.h: a perf_event program on the CPU clock that, for one
 * process (target_tgid), runs the Python walk after one fake "native" word and sends the
 * words to a ring buffer. The walk is used exactly as the sampler would: info from a hash
 * map keyed by tgid, stack buffer and scratch in a per-CPU map value, per-CPU counters.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "python.h"
#define KILN_PY_OUT_WORDS 128
#include "pywalk.bpf.h"
#include "tests/python/pywalk_test.h"

const volatile __u32 target_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct kiln_py_info);
	__uint(max_entries, 64);
} py_info SEC(".maps");

struct pywalk_scratch {
	struct pywalk_sample sample;
	struct kiln_py_scratch py;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct pywalk_scratch);
	__uint(max_entries, 1);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct kiln_py_counters);
	__uint(max_entries, 1);
} py_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

__u64 ringbuf_drops = 0;
/* time spent in the walk itself (not the ring buffer copy), for the cost per frame */
__u64 walk_ns = 0;
__u64 walk_runs = 0;

SEC("perf_event")
int pywalk_sample(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, zero = 0;
	struct kiln_py_counters *ctr;
	struct kiln_py_info *info;
	struct pywalk_scratch *s;
	__u64 t0;

	(void)ctx;
	if (tgid != target_tgid)
		return 0;
	info = bpf_map_lookup_elem(&py_info, &tgid);
	s = bpf_map_lookup_elem(&scratch, &zero);
	ctr = bpf_map_lookup_elem(&py_counters, &zero);
	if (!info || !s || !ctr)
		return 0;
	s->sample.tgid = tgid;
	s->sample.tid = (__u32)id;
	s->sample.words[0] = PYWALK_TEST_PREFIX;
	t0 = bpf_ktime_get_ns();
	s->sample.n =
		kiln_py_walk(bpf_get_current_task_btf(), info, s->sample.words, 1, &s->py, ctr);
	__sync_fetch_and_add(&walk_ns, bpf_ktime_get_ns() - t0);
	__sync_fetch_and_add(&walk_runs, 1);
	if (bpf_ringbuf_output(&events, &s->sample, sizeof(s->sample), 0))
		__sync_fetch_and_add(&ringbuf_drops, 1);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
