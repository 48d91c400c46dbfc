// SPDX-License-Identifier: Apache-2.0
/*
 * The unwinder's table cache against real BPF maps (created here, no program): processes
 * come from a fake /proc whose maps files name libraries this test itself maps, so tables
 * are built from real files. Covers the idle-table bound: a table that goes idle, is used
 * again and goes idle once more must be kept while older idle tables are evicted (it used
 * to be freed by its own eviction, a use after free the agent hit at density).
 */
#include <bpf/bpf.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aggregator/unwinder.h"
#include "aggregator/unwinder_int.h"
#include "bpf/unwind.h"
#include "tests/lib/fake_fs.h"
#include "tests/lib/kiln_test.h"
#include "tests/lib/uwmaps.h"

#define NR_LIBS 3

static char proc_dir[] = "/tmp/kiln-test-unwinder-XXXXXX";
static char lib_line[NR_LIBS][PATH_MAX + 160];

/* Executable mappings of three different libraries this process maps, as maps lines. */
static int find_libs(void)
{
	char line[PATH_MAX + 128], seen[NR_LIBS][PATH_MAX];
	FILE *f = fopen("/proc/self/maps", "re");
	int n = 0, i;

	if (!f)
		return -errno;
	while (n < NR_LIBS && fgets(line, sizeof(line), f)) {
		char *path = strchr(line, '/');

		if (!strstr(line, " r-xp ") || !path || !strstr(path, ".so"))
			continue;
		path[strcspn(path, "\n")] = 0;
		for (i = 0; i < n && strcmp(seen[i], path); i++)
			;
		if (i < n)
			continue;
		snprintf(seen[n], sizeof(seen[n]), "%s", path);
		snprintf(lib_line[n], sizeof(lib_line[n]), "%s\n", line);
		n++;
	}
	fclose(f);
	return n == NR_LIBS ? 0 : -ENOENT;
}

/* Makes fake /proc/PID with a maps file of the library LIB and a root link to "/". */
static void fake_proc(unsigned int pid, int lib)
{
	kiln_test_fake_proc_maps(proc_dir, pid, lib_line[lib]);
}

static void test_idle_reuse(void)
{
	struct unwinder_maps m;
	struct unwinder_stats st;
	struct unwinder *u;

	CU_ASSERT_FATAL(!kiln_test_uw_maps__create(&m, 2, false));
	u = unwinder__new(&m, proc_dir);
	CU_ASSERT_FATAL(u != NULL);
	/* Table A goes idle, then is used again: its first idle spell is over. */
	fake_proc(101, 0);
	CU_ASSERT_EQUAL_FATAL(unwinder__sync_process(u, 101), 0);
	unwinder__remove_process(u, 101);
	fake_proc(102, 0);
	CU_ASSERT_EQUAL_FATAL(unwinder__sync_process(u, 102), 0);
	/* B and C go idle: the idle bound (2) is reached. */
	fake_proc(103, 1);
	CU_ASSERT_EQUAL_FATAL(unwinder__sync_process(u, 103), 0);
	unwinder__remove_process(u, 103);
	fake_proc(104, 2);
	CU_ASSERT_EQUAL_FATAL(unwinder__sync_process(u, 104), 0);
	unwinder__remove_process(u, 104);
	unwinder__stats(u, &st);
	CU_ASSERT_EQUAL(st.builds, 3);
	CU_ASSERT_EQUAL(st.tables_idle, 2);
	/* A goes idle again: B, the oldest idle table, makes room, not A itself. */
	unwinder__remove_process(u, 102);
	unwinder__stats(u, &st);
	CU_ASSERT_EQUAL(st.tables, 2);
	CU_ASSERT_EQUAL(st.tables_idle, 2);
	/* A is still loaded: a new process of A costs no build. */
	fake_proc(105, 0);
	CU_ASSERT_EQUAL_FATAL(unwinder__sync_process(u, 105), 0);
	unwinder__stats(u, &st);
	CU_ASSERT_EQUAL(st.builds, 3);
	CU_ASSERT_EQUAL(st.tables_idle, 1);
	/* B was evicted: mapping it again builds it again. */
	fake_proc(106, 1);
	CU_ASSERT_EQUAL_FATAL(unwinder__sync_process(u, 106), 0);
	unwinder__stats(u, &st);
	CU_ASSERT_EQUAL(st.builds, 4);
	unwinder__free(u);
	kiln_test_uw_maps__close(&m);
}

/*
 * The agent's delta array is mmapable and written through a mapping; the tests' arrays
 * without the flag by map updates. Both ways must leave the same deltas in the array.
 */
static void test_mapped_deltas(void)
{
	struct unwinder_maps m[2];
	struct unwinder_stats st[2];
	struct kiln_uw_delta a, b;
	struct unwinder *u[2];
	uint32_t i, differ = 0;
	int k;

	for (k = 0; k < 2; k++) {
		CU_ASSERT_FATAL(!kiln_test_uw_maps__create(&m[k], 2, k == 1));
		u[k] = unwinder__new(&m[k], proc_dir);
		CU_ASSERT_FATAL(u[k] != NULL);
		fake_proc(201 + k, 0);
		CU_ASSERT_EQUAL_FATAL(unwinder__sync_process(u[k], 201 + k), 0);
		unwinder__stats(u[k], &st[k]);
	}
	CU_ASSERT(st[0].deltas > 0);
	CU_ASSERT_EQUAL(st[0].deltas, st[1].deltas);
	CU_ASSERT_EQUAL(st[0].deltas_mapped, 0);
	CU_ASSERT_EQUAL(st[1].deltas_mapped, st[1].deltas);
	/* The one table is the first range of each array: the same indices. */
	for (i = 0; i < st[0].deltas; i++) {
		CU_ASSERT_FATAL(!bpf_map_lookup_elem(m[0].deltas_fd, &i, &a));
		CU_ASSERT_FATAL(!bpf_map_lookup_elem(m[1].deltas_fd, &i, &b));
		differ += a.addr_low != b.addr_low || a.rule != b.rule;
	}
	CU_ASSERT_EQUAL(differ, 0);
	/* Something was written: not every delta is the zero an untouched element holds. */
	for (i = 0; i < st[1].deltas; i++) {
		CU_ASSERT_FATAL(!bpf_map_lookup_elem(m[1].deltas_fd, &i, &b));
		if (b.addr_low || b.rule)
			break;
	}
	CU_ASSERT(i < st[1].deltas);
	for (k = 0; k < 2; k++) {
		unwinder__free(u[k]);
		kiln_test_uw_maps__close(&m[k]);
	}
}

/*
 * This process's executable mappings, found by PROCMAP_QUERY where the kernel has it and from
 * the text of /proc/self/maps: the same mappings and LPM prefixes either way.
 */
static void test_query_matches_text(void)
{
	struct unwinder_maps m[2];
	struct unwinder_stats st[2];
	struct unwinder *u[2];
	int k;

	for (k = 0; k < 2; k++) {
		CU_ASSERT_FATAL(!kiln_test_uw_maps__create(&m[k], 2, true));
		u[k] = unwinder__new(&m[k], "/proc");
		CU_ASSERT_FATAL(u[k] != NULL);
		u[k]->no_query = k == 1; /* the second reads the text, as before 6.11 */
		CU_ASSERT_EQUAL_FATAL(unwinder__sync_process(u[k], (uint32_t)getpid()), 0);
		unwinder__stats(u[k], &st[k]);
	}
	if (u[0]->no_query)
		printf("\n  (this kernel lacks PROCMAP_QUERY: both read the text)\n");
	else
		CU_ASSERT(st[0].queried > 0);
	CU_ASSERT_EQUAL(st[1].queried, 0);
	CU_ASSERT(st[0].mappings > 0);
	CU_ASSERT_EQUAL(st[0].mappings, st[1].mappings);
	CU_ASSERT_EQUAL(st[0].prefixes, st[1].prefixes);
	CU_ASSERT_EQUAL(st[0].tables, st[1].tables);
	for (k = 0; k < 2; k++) {
		unwinder__free(u[k]);
		kiln_test_uw_maps__close(&m[k]);
	}
}

static void setup(void)
{
	int fd;

	if (geteuid())
		kiln_test_skip("not root: BPF maps need CAP_BPF");
	if (find_libs())
		kiln_test_skip("this process maps fewer than %d shared libraries", NR_LIBS);
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "t_probe", 4, 4, 1, NULL);
	if (fd < 0)
		kiln_test_skip("the kernel refuses BPF maps: %s", strerror(errno));
	close(fd);
	if (!mkdtemp(proc_dir)) {
		perror(proc_dir);
		exit(1);
	}
}

static void remove_fake_proc(void)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", proc_dir);
	if (system(cmd))
		fprintf(stderr, "could not remove %s\n", proc_dir);
}

static void test_all(void)
{
	setup();
	test_idle_reuse();
	test_mapped_deltas();
	test_query_matches_text();
	remove_fake_proc();
}

KILN_TEST_MAIN("unwinder", { "idle_reuse", test_all })
