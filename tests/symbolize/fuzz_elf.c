// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer harness for the ELF path: each input is written to a file and parsed the way a
 * mapped binary is (headers, symbol tables, build-id note, debuglink, .gopclntab), then a
 * few addresses are resolved in it. Debug files are looked up under an empty directory so
 * that runs do not depend on the host's /usr/lib/debug.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "symbolize/symbolize.h"

static char path[] = "/tmp/kiln-fuzz-elf-XXXXXX";
static char debug_root[] = "/tmp/kiln-fuzz-elf-debug-XXXXXX";
static int fd = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct symbolizer_opts opts = { .sz = sizeof(opts), .debug_root = debug_root };
	static const uint64_t addrs[] = { 0, 0x40, 0x1000, 0x1130, 0x401000, 0x45f000 };
	struct symbolizer *s;
	struct sym_frame f;
	uint64_t tail = 0;
	size_t i;

	if (fd < 0) {
		fd = mkstemp(path);
		if (fd < 0 || !mkdtemp(debug_root))
			abort();
	}
	if (ftruncate(fd, 0) || (size && pwrite(fd, data, size, 0) != (ssize_t)size))
		abort();
	s = symbolizer__new(&opts);
	if (!s)
		abort();
	if (size >= 8)
		memcpy(&tail, data + size - 8, 8);
	for (i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++)
		if (!symbolizer__elf_probe(s, path, addrs[i], &f) && f.name)
			(void)strlen(f.name);
	(void)symbolizer__elf_probe(s, path, tail, &f);
	symbolizer__free(s);
	return 0;
}
