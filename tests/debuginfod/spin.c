// SPDX-License-Identifier: Apache-2.0
/*
 * The stripped program of tests/debuginfod: built by the test without frame pointers, its
 * debug file split off (objcopy --only-keep-debug) and served by a debuginfod server. It
 * spins in spin_leaf() under spin_middle() under main() until killed, so a profile's leaf is
 * spin_leaf once its debug file is known, [spin+0x...] before.
 */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

/* Another value (-DSPIN_N=...) builds another program: another build id. */
#ifndef SPIN_N
#define SPIN_N 200000
#endif

static volatile uint64_t sink;

__attribute__((noinline)) static uint64_t spin_leaf(uint64_t n)
{
	uint64_t x = 0, i;

	for (i = 0; i < n; i++)
		x += (i * i) ^ (x >> 3);
	return x;
}

__attribute__((noinline)) static void spin_middle(void)
{
	sink += spin_leaf(SPIN_N);
}

int main(int argc, char **argv)
{
	/* argv[1]: seconds to run (0 or none: until killed). */
	double limit = argc > 1 ? atof(argv[1]) : 0;
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		spin_middle();
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (limit > 0 &&
		    (double)(t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 > limit)
			return 0;
	}
}
