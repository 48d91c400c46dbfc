// SPDX-License-Identifier: Apache-2.0
/*
 * C++ and Rust demangling through libiberty (binutils' own demangler, Debian libiberty-dev):
 * one library for Itanium C++, Rust legacy and Rust v0, where libstdc++'s __cxa_demangle
 * knows C++ only. Its own file because libiberty's headers define macros (ARRAY_SIZE) that
 * clash with common/util.h.
 */
#include <stdlib.h>

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
