/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CUnit main every C test shares: one suite of named cases, an optional case filter, and
 * one exit code for "the environment refuses this test" that CTest reports as skipped.
 */
#ifndef KILN_TEST_H
#define KILN_TEST_H

#include <stddef.h>

#include <CUnit/Basic.h>

/* CTest's SKIP_RETURN_CODE for every kiln test (tests/CMakeLists.txt). */
#define KILN_TEST_SKIP 77

struct kiln_test_case {
	const char *name;
	CU_TestFunc fn;
};

/*
 * Runs the cases of SUITE whose name contains the filter (argv[1], else $KILN_TEST_CASE; all
 * when neither is given) and returns the process exit code: 0 when every run case passed, 1
 * otherwise, 2 when the filter matches no case (a typo must not pass silently).
 */
int kiln_test_main(int argc, char **argv, const char *suite, const struct kiln_test_case *cases,
		   size_t nr_cases);

/* Prints "SKIP: " and the reason to stdout and exits KILN_TEST_SKIP. */
__attribute__((noreturn, format(printf, 1, 2))) void kiln_test_skip(const char *fmt, ...);

#define KILN_TEST_MAIN(suite, ...)                                                                 \
	int main(int argc, char **argv)                                                            \
	{                                                                                          \
		static const struct kiln_test_case cases[] = { __VA_ARGS__ };                      \
		return kiln_test_main(argc, argv, suite, cases, sizeof(cases) / sizeof(cases[0])); \
	}

#endif
