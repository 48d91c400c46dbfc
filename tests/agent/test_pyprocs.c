// SPDX-License-Identifier: Apache-2.0
/*
 * aggregator/pyprocs' exits: a CPython process that exits is kept through the sweep of the
 * window it exited in and dropped by the next one, however many exit in one window; one
 * exec'd or never CPython is dropped at once. Against live /usr/bin/python3.11 children
 * (the case passes saying so when there is none). The BPF map is an invalid fd: its updates
 * fail (pyprocs__seen returns the error and counts it), which the bookkeeping tested here
 * does not depend on.
 */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <unistd.h>

#include "aggregator/pyprocs.h"
#include "tests/lib/kiln_test.h"
#include "tests/python/pychild.h"

#define PY "/usr/bin/python3.11"
#define NR 3

static uint64_t nr_python(const struct pyprocs *p)
{
	struct pyprocs_stats st;

	pyprocs__stats(p, &st);
	return st.processes;
}

/* Every child seen (detected afresh): all CPython. */
static void see_all(struct pyprocs *p, const struct pychild *c)
{
	int i;

	for (i = 0; i < NR; i++) {
		pyprocs__seen(p, (uint32_t)c[i].pid, false);
		CU_ASSERT_PTR_NOT_NULL(pyprocs__get(p, (uint32_t)c[i].pid));
	}
}

static void test_exit_sweeps(void)
{
	char *argv[] = { PY, "-c", "import sys; print('ready', flush=True); sys.stdin.read()",
			 NULL };
	uint32_t self = (uint32_t)getpid();
	struct pychild c[NR];
	struct pyprocs *p;
	char line[64];
	int i;

	if (access(PY, X_OK)) {
		fprintf(stderr, "no %s: exit_sweeps not run\n", PY);
		return;
	}
	p = pyprocs__new(-1);
	CU_ASSERT_FATAL(p != NULL);
	for (i = 0; i < NR; i++) {
		CU_ASSERT_FATAL(pychild_start(&c[i], argv) == 0);
		CU_ASSERT_FATAL(pychild_line(&c[i], line, sizeof(line), 10000) == 0);
	}
	see_all(p, c);
	/* This test is no CPython: an entry without state, dropped at its exit. */
	CU_ASSERT_EQUAL(pyprocs__seen(p, self, false), 0);
	CU_ASSERT_PTR_NULL(pyprocs__get(p, self));
	pyprocs__exit(p, self);
	CU_ASSERT_EQUAL(nr_python(p), NR);

	/* One exit (reported twice): kept through one sweep, dropped by the second. */
	pyprocs__exit(p, (uint32_t)c[0].pid);
	pyprocs__exit(p, (uint32_t)c[0].pid);
	pyprocs__sweep(p);
	CU_ASSERT_PTR_NOT_NULL(pyprocs__get(p, (uint32_t)c[0].pid));
	pyprocs__sweep(p);
	CU_ASSERT_PTR_NULL(pyprocs__get(p, (uint32_t)c[0].pid));
	CU_ASSERT_EQUAL(nr_python(p), NR - 1);

	/* Two exits in one window, one of the numbers exec'd again before the sweeps. */
	pyprocs__exit(p, (uint32_t)c[1].pid);
	pyprocs__exit(p, (uint32_t)c[2].pid);
	pyprocs__exec(p, (uint32_t)c[2].pid);
	CU_ASSERT_PTR_NULL(pyprocs__get(p, (uint32_t)c[2].pid));
	CU_ASSERT_EQUAL(nr_python(p), 1);
	pyprocs__sweep(p);
	CU_ASSERT_PTR_NOT_NULL(pyprocs__get(p, (uint32_t)c[1].pid));
	pyprocs__sweep(p);
	CU_ASSERT_EQUAL(nr_python(p), 0);

	/* All of them exit in one window: one sweep drops every one. */
	see_all(p, c);
	CU_ASSERT_EQUAL(nr_python(p), NR);
	for (i = 0; i < NR; i++)
		pyprocs__exit(p, (uint32_t)c[i].pid);
	pyprocs__sweep(p);
	CU_ASSERT_EQUAL(nr_python(p), NR);
	pyprocs__sweep(p);
	CU_ASSERT_EQUAL(nr_python(p), 0);

	/* Freed with an exited process still waiting for its sweeps. */
	see_all(p, c);
	pyprocs__exit(p, (uint32_t)c[0].pid);
	pyprocs__free(p);
	pyprocs__free(NULL);
	for (i = 0; i < NR; i++)
		pychild_stop(&c[i]);
}

KILN_TEST_MAIN("pyprocs", { "exit_sweeps", test_exit_sweeps })
