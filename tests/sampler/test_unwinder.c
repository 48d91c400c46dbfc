// SPDX-License-Identifier: Apache-2.0
/*
 * The unwinder's process sweep on real BPF maps of the shapes the sampler gives it: a
 * process read from a fake /proc (its maps file naming a real executable, its root "/")
 * is loaded (its marker in the LPM trie); once its /proc directory is gone without any
 * exit event, unwinder__sweep() finds it, removes its entries and counts it.
 * Exits 77 only when the kernel refuses to create BPF maps.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <endian.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <CUnit/Basic.h>

#include "aggregator/unwinder.h"
#include "bpf/unwind.h"

#define FAKE_TGID 4000001u /* above pid_max: no real process can answer for it */

static struct unwinder_maps maps;
static char root[PATH_MAX];

static int create_maps(void)
{
	LIBBPF_OPTS(bpf_map_create_opts, lpm, .map_flags = BPF_F_NO_PREALLOC);

	maps.mappings_fd = bpf_map_create(BPF_MAP_TYPE_LPM_TRIE, "t_uw_map",
					  sizeof(struct kiln_uw_map_key),
					  sizeof(struct kiln_uw_mapping), 4096, &lpm);
	maps.pages_fd = bpf_map_create(BPF_MAP_TYPE_HASH, "t_uw_pages",
				       sizeof(struct kiln_uw_page_key), sizeof(struct kiln_uw_page),
				       4096, NULL);
	maps.deltas_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "t_uw_deltas", sizeof(__u32),
					sizeof(struct kiln_uw_delta), 1 << 20, NULL);
	maps.rules_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "t_uw_rules", sizeof(__u32),
				       sizeof(struct kiln_uw_rule), KILN_UW_MAX_RULES, NULL);
	maps.pages_max = 4096;
	maps.deltas_max = 1 << 20;
	maps.rules_max = KILN_UW_MAX_RULES;
	if (maps.mappings_fd < 0 || maps.pages_fd < 0 || maps.deltas_fd < 0 || maps.rules_fd < 0)
		return -errno;
	return 0;
}

/* A fake /proc/FAKE_TGID: maps with one executable mapping of /bin/true, root -> "/". */
static int make_proc(void)
{
	char path[PATH_MAX + 64];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%u", root, FAKE_TGID);
	if (mkdir(path, 0755))
		return -errno;
	snprintf(path, sizeof(path), "%s/%u/root", root, FAKE_TGID);
	if (symlink("/", path))
		return -errno;
	snprintf(path, sizeof(path), "%s/%u/maps", root, FAKE_TGID);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	/* /bin/true's text is at file offset 0x2000 or so; the table needs the offset only. */
	fprintf(f, "55d000000000-55d000004000 r-xp 00002000 08:01 1234 %s\n",
		realpath("/bin/true", path) ? path : "/bin/true");
	fclose(f);
	return 0;
}

static void remove_proc(void)
{
	char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/%u/maps", root, FAKE_TGID);
	unlink(path);
	snprintf(path, sizeof(path), "%s/%u/root", root, FAKE_TGID);
	unlink(path);
	snprintf(path, sizeof(path), "%s/%u", root, FAKE_TGID);
	rmdir(path);
}

static bool marker_present(void)
{
	struct kiln_uw_map_key k = { .prefixlen = 32, .tgid_be = htobe32(FAKE_TGID) };
	struct kiln_uw_mapping v;

	return bpf_map_lookup_elem(maps.mappings_fd, &k, &v) == 0;
}

static void test_sweep(void)
{
	struct unwinder *u = unwinder__new(&maps, root);
	struct unwinder_stats st;

	CU_ASSERT_FATAL(u != NULL);
	CU_ASSERT_FATAL(make_proc() == 0);
	CU_ASSERT_EQUAL(unwinder__sync_process(u, FAKE_TGID), 0);
	unwinder__stats(u, &st);
	CU_ASSERT_EQUAL(st.processes, 1);
	CU_ASSERT(unwinder__knows(u, FAKE_TGID));
	CU_ASSERT(marker_present());

	/* Still there: a sweep leaves it alone. */
	CU_ASSERT_EQUAL(unwinder__sweep(u, 1u << 20), 0);
	CU_ASSERT(unwinder__knows(u, FAKE_TGID));

	/* Gone without an exit event: the sweep removes it and counts it. */
	remove_proc();
	CU_ASSERT_EQUAL(unwinder__sweep(u, 1u << 20), 1);
	unwinder__stats(u, &st);
	CU_ASSERT_EQUAL(st.processes, 0);
	CU_ASSERT_EQUAL(st.swept, 1);
	CU_ASSERT_EQUAL(st.mappings, 0);
	CU_ASSERT(!unwinder__knows(u, FAKE_TGID));
	CU_ASSERT(!marker_present());
	unwinder__free(u);
}

int main(void)
{
	unsigned int failed;
	int err;

	snprintf(root, sizeof(root), "/tmp/kiln-test-unwinder-%d", (int)getpid());
	if (mkdir(root, 0755)) {
		perror(root);
		return 1;
	}
	err = create_maps();
	if (err) {
		fprintf(stderr, "SKIP: the kernel refuses BPF maps: %s\n", strerror(-err));
		rmdir(root);
		return err == -EPERM ? 77 : 1;
	}
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_add_test(CU_add_suite("unwinder", NULL, NULL), "sweep of processes gone unannounced",
		    test_sweep);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failed = CU_get_number_of_failures();
	CU_cleanup_registry();
	remove_proc();
	rmdir(root);
	return failed ? 1 : 0;
}
