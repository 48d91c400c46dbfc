// SPDX-License-Identifier: Apache-2.0
/*
 * A fixed-address (non-PIE) executable for test_symbolize: prints the runtime address of
 * one of its functions, then waits for stdin to close so the test can symbolize it alive.
 */
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

__attribute__((noinline)) int nopie_marker_function(int x)
{
	return x * 3 + 1;
}

int main(void)
{
	char c;

	printf("%llx\n", (unsigned long long)(uintptr_t)&nopie_marker_function);
	fflush(stdout);
	while (read(0, &c, 1) > 0)
		;
	return nopie_marker_function(0) == 1 ? 0 : 1;
}
