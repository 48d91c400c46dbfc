/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helper: a copy of this process's vDSO image (the same for every process of the
 * running kernel), as the agent will read it. Header-only: used by uw_dump and test_unwind.
 */
#ifndef KILN_TESTS_UNWIND_VDSO_H
#define KILN_TESTS_UNWIND_VDSO_H

#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

/*
 * Copies the vDSO into a malloc'd buffer: its extent is the [vdso] line of /proc/self/maps;
 * the program and section headers must lie inside it. Returns 0 with *IMG (caller frees)
 * and *SIZE, or -errno (-ENOENT: no vDSO).
 */
static inline int vdso_image(void **img, size_t *size)
{
	uintptr_t base = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)base;
	uint64_t lo = 0, hi = 0, need;
	char line[512];
	FILE *f;

	if (!base)
		return -ENOENT;
	f = fopen("/proc/self/maps", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, "[vdso]") && sscanf(line, "%" SCNx64 "-%" SCNx64, &lo, &hi) == 2)
			break;
		lo = hi = 0;
	}
	fclose(f);
	if (lo != base || hi <= lo)
		return -ENOENT;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
		return -ENOEXEC;
	/* the headers the table builder reads must be in the mapping */
	need = eh->e_shoff + (uint64_t)eh->e_shnum * eh->e_shentsize;
	for (int i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *ph =
			(const Elf64_Phdr *)(base + eh->e_phoff + (uint64_t)i * eh->e_phentsize);

		if (ph->p_offset + ph->p_filesz > need)
			need = ph->p_offset + ph->p_filesz;
	}
	if (need > hi - lo)
		return -ERANGE;
	*img = malloc(hi - lo);
	if (!*img)
		return -ENOMEM;
	memcpy(*img, (const void *)base, hi - lo);
	*size = hi - lo;
	return 0;
}

#endif
