// SPDX-License-Identifier: Apache-2.0
/*
 * Child process for test_symbolize (built with frame pointers, PIE). Prints one address in
 * hex on stdout, then waits for stdin to close:
 *   burn: the address of helper_burn, which it then runs for about 50 ms before exiting,
 *         the life of a short-lived process;
 *   jit:  the start of an anonymous executable mapping, as a JIT runtime would have.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

__attribute__((noinline)) unsigned long helper_burn(uint64_t ns)
{
	volatile unsigned long x = 0;
	uint64_t end = now_ns() + ns;

	while (now_ns() < end)
		x = x * 31 + 7;
	return x;
}

static void wait_stdin_closed(void)
{
	char c;

	while (read(0, &c, 1) > 0)
		;
}

int main(int argc, char **argv)
{
	void *code;

	if (argc == 2 && !strcmp(argv[1], "burn")) {
		printf("%llx\n", (unsigned long long)(uintptr_t)&helper_burn);
		fflush(stdout);
		wait_stdin_closed();
		helper_burn(50 * 1000000ULL);
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "jit")) {
		code = mmap(NULL, 65536, PROT_READ | PROT_WRITE | PROT_EXEC,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (code == MAP_FAILED)
			return 1;
		printf("%llx\n", (unsigned long long)(uintptr_t)code);
		fflush(stdout);
		wait_stdin_closed();
		return 0;
	}
	fprintf(stderr, "usage: %s burn|jit\n", argv[0]);
	return 2;
}
