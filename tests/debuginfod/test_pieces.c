// SPDX-License-Identifier: Apache-2.0
/*
 * Pieces the compiler split off a function (.cold, .part.N) and its clones (.constprop.N,
 * .isra.N) are named after the function, so its Self and Total add up; the system name keeps
 * the piece's own symbol. Checked on names, and on a real C++ binary's "[clone .cold]".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/kiln_test.h"
#include "symbolize/symbolize.h"

static void test_function_len(void)
{
	static const struct {
		const char *in;
		size_t len;
	} c[] = {
		{ "foo", 3 },
		{ "foo.cold", 3 },
		{ "foo.cold.1", 3 },
		{ "foo.part.0", 3 },
		{ "foo.part.0.cold", 3 },
		{ "foo.constprop.0.isra.0", 3 },
		{ "work(int) [clone .cold]", 9 },
		{ "work(int) [clone .part.0] [clone .cold]", 9 },
		{ ".cold", 5 }, /* nothing left to name: kept */
		{ "foo.colder", 10 },
		{ "foo.part", 8 }, /* .part needs its number */
		{ "foo.part.x", 10 },
		{ "foo.cold.bar", 12 }, /* only at the end */
		{ "", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		size_t got = symbolizer__function_len(c[i].in);

		if (got != c[i].len)
			printf("\n  %s: %zu, want %zu", c[i].in, got, c[i].len);
		CU_ASSERT_EQUAL(got, c[i].len);
	}
}

/* The address of symbol SYM in PATH (nm), 0 when missing. */
static unsigned long long nm_addr(const char *path, const char *sym)
{
	char cmd[1024], line[512], name[400];
	unsigned long long addr, found = 0;
	char type;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "nm '%s'", path);
	f = popen(cmd, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%llx %c %399s", &addr, &type, name) == 3 && !strcmp(name, sym))
			found = addr;
	pclose(f);
	return found;
}

static void test_cold_piece(void)
{
	struct symbolizer_opts o = { .sz = sizeof(o) };
	struct sym_frame f = { 0 };
	unsigned long long cold = nm_addr(COLD_HELPER, "_Z4worki.cold");
	struct symbolizer *s;

	if (!cold) {
		printf("\n  (the compiler made no _Z4worki.cold piece: nothing to check)");
		return;
	}
	s = symbolizer__new(&o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(symbolizer__elf_probe(s, COLD_HELPER, cold + 1, &f), 0);
	CU_ASSERT_STRING_EQUAL(f.name ? f.name : "(null)", "work(int)");
	CU_ASSERT_STRING_EQUAL(f.system_name ? f.system_name : "(null)", "_Z4worki.cold");
	symbolizer__free(s);
}

KILN_TEST_MAIN("pieces", { "function_len", test_function_len }, { "cold_piece", test_cold_piece })
