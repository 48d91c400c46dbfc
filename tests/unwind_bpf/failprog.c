// SPDX-License-Identifier: Apache-2.0
/*
 * Burns CPU in code the native unwinder can't walk with tables, one case per argument:
 *   jit    a leaf called from JIT-like code (an anonymous executable mapping, with a frame
 *          pointer and no unwind info), itself called from C;
 *   noeh   a leaf in a shared library built without unwind tables (with frame pointers);
 *   deep   a leaf under 200 frames of recursion (more than a stack holds).
 * Built without frame pointers like distribution code; see test_unwind_bpf.py.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static volatile uint64_t sink;
static double seconds = 2.0;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noinline)) void hot_leaf(void)
{
	uint64_t x = sink;

	for (int i = 0; i < 200000; i++)
		x = x * 6364136223846793005ull + 1;
	sink = x;
}

/* push rbp; mov rbp, rsp; call rdi; pop rbp; ret: a JIT's frame around a call out. */
static const unsigned char jit_code[] = { 0x55, 0x48, 0x89, 0xe5, 0xff, 0xd7, 0x5d, 0xc3 };

__attribute__((noinline)) static void run_jit(void)
{
	void (*fn)(void (*)(void));
	void *mem = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	double end = now() + seconds;

	if (mem == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	memcpy(mem, jit_code, sizeof(jit_code));
	fn = (void (*)(void (*)(void)))mem;
	while (now() < end)
		fn(hot_leaf);
}

__attribute__((noinline)) static void run_noeh(const char *lib)
{
	void *h = dlopen(lib, RTLD_NOW);
	void (*burn)(void);
	double end = now() + seconds;

	if (!h) {
		fprintf(stderr, "dlopen %s: %s\n", lib, dlerror());
		exit(1);
	}
	burn = (void (*)(void))dlsym(h, "noeh_outer");
	if (!burn) {
		fprintf(stderr, "dlsym noeh_outer: %s\n", dlerror());
		exit(1);
	}
	while (now() < end)
		burn();
}

/* Called through a volatile pointer so the compiler can't turn the recursion into a loop. */
static int (*volatile recurse_p)(int);

__attribute__((noinline)) static int recurse(int depth)
{
	if (depth == 0) {
		hot_leaf();
		return 0;
	}
	return recurse_p(depth - 1) + 1;
}

__attribute__((noinline)) static void run_deep(void)
{
	double end = now() + seconds;

	recurse_p = recurse;
	while (now() < end)
		recurse_p(200);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: failprog jit|noeh LIB|deep [SECONDS]\n");
		return 2;
	}
	if (!strcmp(argv[1], "jit")) {
		if (argc > 2)
			seconds = atof(argv[2]);
		run_jit();
	} else if (!strcmp(argv[1], "noeh") && argc > 2) {
		if (argc > 3)
			seconds = atof(argv[3]);
		run_noeh(argv[2]);
	} else if (!strcmp(argv[1], "deep")) {
		if (argc > 2)
			seconds = atof(argv[2]);
		run_deep();
	} else {
		return 2;
	}
	return 0;
}
