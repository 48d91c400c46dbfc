// SPDX-License-Identifier: Apache-2.0
/*
 * An embedder that maps libpython late, as uwsgi loads its Python plugin: burns CPU for
 * BURN_MS first (kiln's first samples of it see no interpreter), then dlopen()s LIBPYTHON and
 * runs Py_BytesMain with the remaining arguments.
 * usage: py_embed LIBPYTHON BURN_MS SCRIPT [ARGS...]
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	int (*py_main)(int, char **);
	volatile unsigned long x = 0;
	double end;
	void *lib;

	if (argc < 4) {
		fprintf(stderr, "usage: %s LIBPYTHON BURN_MS SCRIPT [ARGS...]\n", argv[0]);
		return 2;
	}
	end = now_ms() + atof(argv[2]);
	while (now_ms() < end)
		x++;
	lib = dlopen(argv[1], RTLD_NOW | RTLD_GLOBAL);
	if (!lib) {
		fprintf(stderr, "py_embed: %s\n", dlerror());
		return 1;
	}
	*(void **)&py_main = dlsym(lib, "Py_BytesMain");
	if (!py_main) {
		fprintf(stderr, "py_embed: no Py_BytesMain in %s\n", argv[1]);
		return 1;
	}
	/* Py_BytesMain(argc, argv) with argv[0] the program, then SCRIPT and its arguments */
	argv[2] = argv[0];
	return py_main(argc - 2, argv + 2);
}
