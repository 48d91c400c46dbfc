// SPDX-License-Identifier: Apache-2.0
/*
 * bench/libkiln-burn.so: the library `workload --dlopen` loads after it started, built like a
 * distribution's library (-O2, no frame pointers, .eh_frame only), so a profiler must find its
 * unwind tables in a mapping that appeared after the process did. The expected stack inside it
 * is ... -> alpha -> dl_burn -> dl_spin.
 */
#include <stdint.h>

#if defined(__clang__)
#define KEEP_FRAME __attribute__((noinline))
#else
#define KEEP_FRAME __attribute__((noinline, noclone))
#endif

volatile uint64_t dl_calls;

/* The leaf: ITERS rounds of arithmetic on X. Returns the new X. */
KEEP_FRAME static uint64_t dl_spin(uint64_t iters, uint64_t x, uint64_t salt)
{
	uint64_t i;

	for (i = 0; i < iters; i++)
		x = (x ^ (x >> 27)) * 0x94d049bb133111ebull + salt;
	return x;
}

/*
 * Burns ITERS rounds starting from X, mixing in SALT. Returns the new X. The counter update
 * after the call keeps dl_spin from being a tail call, so dl_burn stays on the stack.
 */
KEEP_FRAME uint64_t dl_burn(uint64_t iters, uint64_t x, uint64_t salt)
{
	x = dl_spin(iters, x, salt);
	dl_calls++;
	return x;
}
