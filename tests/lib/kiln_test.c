// SPDX-License-Identifier: Apache-2.0
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln_test.h"

int kiln_test_main(int argc, char **argv, const char *suite, const struct kiln_test_case *cases,
		   size_t nr_cases)
{
	const char *filter = argc > 1 ? argv[1] : getenv("KILN_TEST_CASE");
	unsigned int failed;
	size_t i, added = 0;
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite(suite, NULL, NULL);
	if (!s) {
		CU_cleanup_registry();
		return 1;
	}
	for (i = 0; i < nr_cases; i++) {
		if (filter && *filter && !strstr(cases[i].name, filter))
			continue;
		CU_add_test(s, cases[i].name, cases[i].fn);
		added++;
	}
	if (!added) {
		fprintf(stderr, "%s: no case matches '%s'; the cases are:\n", suite, filter);
		for (i = 0; i < nr_cases; i++)
			fprintf(stderr, "  %s\n", cases[i].name);
		CU_cleanup_registry();
		return 2;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failed = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failed ? 1 : 0;
}

void kiln_test_skip(const char *fmt, ...)
{
	va_list ap;

	fputs("SKIP: ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
	exit(KILN_TEST_SKIP);
}
