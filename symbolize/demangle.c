// SPDX-License-Identifier: Apache-2.0
/*
 * C++ and Rust demangling through libiberty (binutils' own demangler, Debian libiberty-dev):
 * one library for Itanium C++, Rust legacy and Rust v0, where libstdc++'s __cxa_demangle
 * knows C++ only. Its own file because libiberty's headers define macros (ARRAY_SIZE) that
 * clash with common/util.h.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <libiberty/demangle.h>

#include "symbolize/symbolize.h"

char *symbolizer__demangle(const char *name)
{
	char *d;

	/* Itanium C++ and Rust legacy names start with _Z, Rust v0 ones with _R. */
	if (!name || name[0] != '_' || (name[1] != 'Z' && name[1] != 'R'))
		return NULL;
	/*
	 * Auto style: C++, then Rust legacy (its "17h<hash>E" dropped) and v0. Not DMGL_RUST:
	 * that selects Rust only and refuses C++. libiberty's recursion limit stays on, since
	 * names come from untrusted binaries.
	 */
	d = cplus_demangle(name, DMGL_PARAMS | DMGL_ANSI);
	if (d && !*d) {
		free(d);
		d = NULL;
	}
	return d;
}

/* Length of a trailing ".N" (digits) at P, 0 when none. */
static size_t digits_suffix(const char *p)
{
	size_t i = 1;

	if (p[0] != '.' || p[1] < '0' || p[1] > '9')
		return 0;
	while (p[i] >= '0' && p[i] <= '9')
		i++;
	return i;
}

/*
 * Length of the piece marker that starts at P, 0 when there is none: ".cold", ".cold.N",
 * ".part.N", ".constprop.N", ".isra.N", or libiberty's rendering of them after a demangled
 * name (" [clone .cold]"). Only at the very end counts (the caller checks).
 */
static size_t piece_marker(const char *p)
{
	size_t n;

	if (!strncmp(p, ".cold", 5))
		return 5 + digits_suffix(p + 5);
	if (!strncmp(p, ".part", 5) && (n = digits_suffix(p + 5)))
		return 5 + n;
	/* Clones specialised for constant arguments or with scalarised ones: still foo. */
	if (!strncmp(p, ".constprop", 10) && (n = digits_suffix(p + 10)))
		return 10 + n;
	if (!strncmp(p, ".isra", 5) && (n = digits_suffix(p + 5)))
		return 5 + n;
	if (!strncmp(p, " [clone ", 8)) {
		n = piece_marker(p + 8);
		if (n && p[8 + n] == ']')
			return 8 + n + 1;
	}
	return 0;
}

size_t symbolizer__function_len(const char *name)
{
	size_t len = strlen(name), i, n;
	bool found;

	/* Markers chain ("foo.part.0.cold"): strip from the end, one at a time. */
	do {
		found = false;
		for (i = 1; i < len; i++) {
			n = piece_marker(name + i);
			if (n && i + n == len) {
				len = i;
				found = true;
				break;
			}
		}
	} while (found && len);
	return len;
}
