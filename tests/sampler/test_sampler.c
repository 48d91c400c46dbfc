// SPDX-License-Identifier: Apache-2.0
/*
 * The BPF sampler on the real kernel: load, attach, filter on our own process, burn a known
 * amount of CPU, drain, and check what came out (both drain paths: batch and iteration).
 * Exits 77 only when the kernel refuses BPF / perf events.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "aggregator/sampler.h"
#include "common/util.h"
#include "tests/lib/kiln_test.h"

#define HZ 499
#define BURN_NS 400000000ull /* 400 ms of thread CPU time */

static volatile uint64_t sink;

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Spins partly in user mode (the inner loop) and partly in the kernel (the clock has no
 * vDSO path), so that both kinds of sample are frequent.
 */
__attribute__((noinline)) static void burn(uint64_t ns)
{
	uint64_t end = thread_cpu_ns() + ns;
	int i;

	while (thread_cpu_ns() < end) {
		for (i = 0; i < 500; i++)
			sink++;
	}
}

struct tally {
	uint64_t total, ours, with_burn, windows, overflowed;
	/* Samples whose user leaf is in burn() itself: they interrupted user mode. */
	uint64_t user_leaf, user_leaf_with_kframes;
	/* Samples inside burn()'s clock_gettime syscall (CLOCK_THREAD_CPUTIME_ID has no vDSO). */
	uint64_t with_kframes;
};

static int count_window(const struct kiln_window *w, void *ctx)
{
	struct tally *t = ctx;
	uintptr_t lo = (uintptr_t)burn, hi = lo + 256;
	size_t i, j;

	t->windows++;
	CU_ASSERT_EQUAL(w->period_ns, 1000000000ull / HZ);
	for (i = 0; i < w->nr_samples; i++) {
		const struct kiln_raw_sample *s = &w->samples[i];

		t->total += s->count;
		if (s->overflowed)
			t->overflowed += s->count;
		if (s->tgid != (uint32_t)getpid())
			continue;
		t->ours += s->count;
		/*
		 * A sample taken in user mode has no kernel stack (the program skips that walk);
		 * one taken in the kernel has its user leaf at the syscall, outside burn().
		 */
		if (s->nr_uframes && s->uframes[0] >= lo && s->uframes[0] < hi) {
			t->user_leaf += s->count;
			if (s->nr_kframes || s->kstack_err != -EFAULT)
				t->user_leaf_with_kframes += s->count;
		}
		if (s->nr_kframes)
			t->with_kframes += s->count;
		for (j = 0; j < s->nr_uframes; j++) {
			if (s->uframes[j] >= lo && s->uframes[j] < hi) {
				t->with_burn += s->count;
				break;
			}
		}
	}
	return 0;
}

static void test_drain(void)
{
	/*
	 * The counts here are this process's own samples: without tables or Python detection,
	 * which would do their work (reading its own libraries' .eh_frame) in this process and
	 * be sampled too. The table walk is tested in tests/unwind_bpf and tests/unwind_e2e.
	 */
	struct sampler_opts o = {
		.sz = sizeof(o), .freq_hz = HZ, .no_unwind = true, .no_python = true
	};
	uint64_t m[KILN_M_NR], expect = BURN_NS * HZ / 1000000000ull;
	struct tally t = { 0 };
	struct sampler *s;

	s = sampler__new(&o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(sampler__select_tgid(s, (uint32_t)getpid()), 0);
	CU_ASSERT_EQUAL_FATAL(sampler__attach(s), 0);
	burn(BURN_NS / 2);
	/*
	 * Two windows: what the first drained must not come back in the second, and a key of
	 * the first counted again in the second is counted there (keys carry the window).
	 */
	CU_ASSERT_EQUAL(sampler__drain(s, count_window, &t), 0);
	burn(BURN_NS / 2);
	sampler__detach(s);
	CU_ASSERT_EQUAL(sampler__drain(s, count_window, &t), 0);
	CU_ASSERT_EQUAL(sampler__metrics(s, m), 0);

	printf("\n  %llu samples (expected ~%llu), %llu in burn(), taken %llu filtered %llu\n",
	       (unsigned long long)t.ours, (unsigned long long)expect,
	       (unsigned long long)t.with_burn, (unsigned long long)m[KILN_M_TAKEN],
	       (unsigned long long)m[KILN_M_FILTERED]);
	printf("  user-mode leaf in burn() %llu (with kernel frames %llu), with kernel frames "
	       "%llu\n",
	       (unsigned long long)t.user_leaf, (unsigned long long)t.user_leaf_with_kframes,
	       (unsigned long long)t.with_kframes);
	CU_ASSERT_EQUAL(t.windows, 2);
	/* Only our process is selected, so every sample drained is ours. */
	CU_ASSERT_EQUAL(t.ours, t.total);
	CU_ASSERT_EQUAL(m[KILN_M_TAKEN],
			m[KILN_M_AGGREGATED] + m[KILN_M_OVERFLOWED] + m[KILN_M_DROP_RINGBUF_FULL]);
	CU_ASSERT_EQUAL(t.total, m[KILN_M_AGGREGATED] + m[KILN_M_OVERFLOWED]);
	CU_ASSERT_EQUAL(t.overflowed, m[KILN_M_OVERFLOWED]);
	/* The CPU clock fires every 1/HZ of CPU time spent in us: +-25% for scheduling noise. */
	CU_ASSERT(t.ours >= expect * 3 / 4 && t.ours <= expect * 5 / 4);
	/* Almost every sample is inside burn() (the rest: clock_gettime in the vDSO/kernel). */
	CU_ASSERT(t.with_burn * 10 >= t.ours * 7);
	/* Both kinds occur: burn() spins in user mode and in its clock_gettime syscall. */
	CU_ASSERT(t.user_leaf > 0);
	CU_ASSERT(t.with_kframes > 0);
	/*
	 * A user leaf in burn() with kernel frames is a clock tick that landed while another
	 * interrupt had stopped burn(): rare. The rest skipped the kernel walk and say so.
	 */
	CU_ASSERT(t.user_leaf_with_kframes * 10 <= t.user_leaf);
	CU_ASSERT(m[KILN_M_STACK_ERR_EFAULT] >= t.user_leaf - t.user_leaf_with_kframes);
	sampler__free(s);
}

static void test_bad_freq(void)
{
	uint64_t max = 0;

	CU_ASSERT_EQUAL(sampler__check_freq(0, &max), -EINVAL);
	CU_ASSERT(max > 0);
	CU_ASSERT_EQUAL(sampler__check_freq((unsigned int)max + 1, &max), -EINVAL);
	CU_ASSERT_EQUAL(sampler__check_freq(19, &max), 0);
}

int main(int argc, char **argv)
{
	static const struct kiln_test_case cases[] = {
		{ "two windows drained: every sample counted once", test_drain },
		{ "frequency bounds", test_bad_freq },
	};
	struct sampler_opts o = { .sz = sizeof(o) };
	struct sampler *probe;
	int rc;

	probe = sampler__new(&o);
	if (!probe) {
		int e = errno;

		if (e == EPERM || e == EACCES || e == ENOSYS || e == EOPNOTSUPP) {
			printf("SKIP: the kernel refused the BPF sampler: %s\n", strerror(e));
			return 77;
		}
		printf("FAIL: loading the BPF sampler: %s\n", strerror(e));
		return 1;
	}
	sampler__free(probe);

	rc = kiln_test_main(argc, argv, "sampler", cases, sizeof(cases) / sizeof(cases[0]));
	return rc;
}
