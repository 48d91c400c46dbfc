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
#include "tests/lib/fake_fs.h"
#include "tests/lib/kiln_test.h"
#include "tests/lib/uwmaps.h"

#define FAKE_TGID 4000001u /* above pid_max: no real process can answer for it */

static struct unwinder_maps maps;
static char root[PATH_MAX];

/* A fake /proc/FAKE_TGID: maps with one executable mapping of /bin/true, root -> "/". */
static void make_proc(void)
{
	char exe[PATH_MAX], line[PATH_MAX + 64];

	/* /bin/true's text is at file offset 0x2000 or so; the table needs the offset only. */
	snprintf(line, sizeof(line), "55d000000000-55d000004000 r-xp 00002000 08:01 1234 %s\n",
		 realpath("/bin/true", exe) ? exe : "/bin/true");
	kiln_test_fake_proc_maps(root, FAKE_TGID, line);
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
	make_proc();
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

int main(int argc, char **argv)
{
	static const struct kiln_test_case cases[] = {
		{ "sweep of processes gone unannounced", test_sweep },
	};
	int err, rc;

	snprintf(root, sizeof(root), "/tmp/kiln-test-unwinder-%d", (int)getpid());
	if (mkdir(root, 0755)) {
		perror(root);
		return 1;
	}
	err = kiln_test_uw_maps__create(&maps, 0, false);
	if (err) {
		fprintf(stderr, "SKIP: the kernel refuses BPF maps: %s\n", strerror(-err));
		rmdir(root);
		return err == -EPERM ? KILN_TEST_SKIP : 1;
	}
	rc = kiln_test_main(argc, argv, "unwinder", cases, sizeof(cases) / sizeof(cases[0]));
	kiln_test_uw_maps__close(&maps);
	remove_proc();
	rmdir(root);
	return rc;
}
