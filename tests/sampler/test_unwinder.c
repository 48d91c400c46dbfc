// SPDX-License-Identifier: Apache-2.0
/*
 * The unwinder's process sweep on real BPF maps of the shapes the sampler gives it: a
 * process read from a fake /proc (its maps file naming a real executable, its root "/")
 * is loaded (its marker in the LPM trie); once its /proc directory is gone without any
 * exit event, unwinder__sweep() finds it, removes its entries and counts it.
 * Exits 77 only when the kernel refuses to create BPF maps.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
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

/* A fake /proc/FAKE_TGID: maps with one executable mapping of PATH, root -> "/". */
static void make_proc_of(const char *path)
{
	char exe[PATH_MAX], line[PATH_MAX + 64];

	/* coreutils' text is at file offset 0x2000 or so; the table needs the offset only. */
	snprintf(line, sizeof(line), "55d000000000-55d000004000 r-xp 00002000 08:01 1234 %s\n",
		 realpath(path, exe) ? exe : path);
	kiln_test_fake_proc_maps(root, FAKE_TGID, line);
}

static void make_proc(void)
{
	make_proc_of("/bin/true");
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

/* The entry of PATH (by the kernel's dev encoding and inode) in files map FD; 0 when found. */
static int file_entry(int fd, const char *path, struct kiln_uw_file *v)
{
	struct kiln_uw_file_key k;
	struct stat sb;

	CU_ASSERT_FATAL(stat(path, &sb) == 0);
	k.dev = ((uint64_t)major(sb.st_dev) << 20) | minor(sb.st_dev);
	k.ino = sb.st_ino;
	return bpf_map_lookup_elem(fd, &k, v);
}

/*
 * A table loaded for a process's mapping enters its file in the files map (the walk's way to
 * it before the process is read): its table, and a code segment whose bias rule gives the
 * same bias as the one the unwinder computed for the process's mapping. When the table is
 * evicted (one idle table kept here, and a second file goes idle), the file leaves the map.
 * Maps of its own: the other case's unwinder left its tables in the shared ones.
 */
static void test_files_map(void)
{
	struct kiln_uw_map_key k = { .prefixlen = 96,
				     .tgid_be = htobe32(FAKE_TGID),
				     .addr_be = htobe64(0x55d000001000ull) };
	struct unwinder_maps fm;
	struct unwinder *u;
	struct kiln_uw_mapping m;
	struct kiln_uw_file v;
	struct unwinder_stats st;
	char exe[PATH_MAX];
	uint32_t i;
	bool covered = false;

	CU_ASSERT_FATAL(kiln_test_uw_maps__create(&fm, 1, false) == 0);
	u = unwinder__new(&fm, root);
	CU_ASSERT_FATAL(u != NULL);
	CU_ASSERT_FATAL(realpath("/bin/true", exe) != NULL);
	make_proc();
	CU_ASSERT_EQUAL_FATAL(unwinder__sync_process(u, FAKE_TGID), 0);
	CU_ASSERT_EQUAL_FATAL(bpf_map_lookup_elem(fm.mappings_fd, &k, &m), 0);
	CU_ASSERT_EQUAL_FATAL(file_entry(fm.files_fd, exe, &v), 0);
	CU_ASSERT_EQUAL(v.table_id, m.table_id);
	CU_ASSERT(v.nr_loads >= 1 && v.nr_loads <= KILN_UW_FILE_LOADS);
	/* The mapping's file offset (0x2000) is in one code segment; its rule gives m.bias. */
	for (i = 0; i < v.nr_loads && i < KILN_UW_FILE_LOADS; i++) {
		if (0x2000 >= v.loads[i].off_lo && 0x2000 < v.loads[i].off_hi) {
			covered = true;
			CU_ASSERT_EQUAL(0x55d000000000ull - 0x2000 + (uint64_t)v.loads[i].delta,
					m.bias);
		}
	}
	CU_ASSERT(covered);
	unwinder__stats(u, &st);
	CU_ASSERT_EQUAL(st.files, 1);

	/* Idle, it stays: a new process of the same program finds it by inode. */
	unwinder__remove_process(u, FAKE_TGID);
	CU_ASSERT_EQUAL(file_entry(fm.files_fd, exe, &v), 0);
	/* A second file going idle evicts the first: its entry goes with its table. */
	remove_proc();
	make_proc_of("/bin/false");
	CU_ASSERT_EQUAL_FATAL(unwinder__sync_process(u, FAKE_TGID), 0);
	unwinder__remove_process(u, FAKE_TGID);
	CU_ASSERT_NOT_EQUAL(file_entry(fm.files_fd, exe, &v), 0);
	CU_ASSERT_FATAL(realpath("/bin/false", exe) != NULL);
	CU_ASSERT_EQUAL(file_entry(fm.files_fd, exe, &v), 0);
	unwinder__stats(u, &st);
	CU_ASSERT_EQUAL(st.files, 1);
	remove_proc();
	unwinder__free(u);
	kiln_test_uw_maps__close(&fm);
}

/* The rule (or command) the loaded table TABLE_ID applies at file address VADDR, or -1. */
static int rule_at(const struct unwinder_maps *m, uint32_t table_id, uint64_t vaddr)
{
	struct kiln_uw_page_key pk = { .table_id = table_id, .page = vaddr >> KILN_UW_PAGE_BITS };
	struct kiln_uw_page pg;
	struct kiln_uw_delta d;
	int rule = -1;
	uint32_t i;

	if (bpf_map_lookup_elem(m->pages_fd, &pk, &pg))
		return -1;
	for (i = pg.first; i < pg.first + pg.count; i++) {
		if (bpf_map_lookup_elem(m->deltas_fd, &i, &d) ||
		    d.addr_low > (vaddr & KILN_UW_PAGE_MASK))
			break;
		rule = d.rule;
	}
	return rule;
}

/*
 * Debian's ld.so has no FDE for its entry point (_start, assembly without CFI), where every
 * dynamically linked process starts: the walk must end there as at an outermost frame, not
 * stop at "pc not covered". The return address of its `call _dl_start` is entry + 8.
 */
static void test_entry_stop(void)
{
	const char *ld = "/lib64/ld-linux-x86-64.so.2";
	struct kiln_uw_map_key k = { .prefixlen = 96,
				     .tgid_be = htobe32(FAKE_TGID),
				     .addr_be = htobe64(0x55d000001000ull) };
	struct unwinder_maps fm;
	struct kiln_uw_mapping m;
	struct unwinder *u;
	GElf_Ehdr eh;
	Elf *elf;
	int fd;

	fd = open(ld, O_RDONLY);
	if (fd < 0) {
		printf("(no %s here) ", ld);
		return;
	}
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ, NULL);
	CU_ASSERT_FATAL(elf && gelf_getehdr(elf, &eh));
	elf_end(elf);
	close(fd);
	CU_ASSERT_FATAL(kiln_test_uw_maps__create(&fm, 1, false) == 0);
	u = unwinder__new(&fm, root);
	CU_ASSERT_FATAL(u != NULL);
	remove_proc();
	make_proc_of(ld);
	CU_ASSERT_EQUAL_FATAL(unwinder__sync_process(u, FAKE_TGID), 0);
	CU_ASSERT_EQUAL_FATAL(bpf_map_lookup_elem(fm.mappings_fd, &k, &m), 0);
	CU_ASSERT_EQUAL(rule_at(&fm, m.table_id, eh.e_entry + 7), KILN_UW_CMD(KILN_UW_CMD_STOP, 0));
	CU_ASSERT_EQUAL(rule_at(&fm, m.table_id, eh.e_entry), KILN_UW_CMD(KILN_UW_CMD_STOP, 0));
	remove_proc();
	unwinder__free(u);
	kiln_test_uw_maps__close(&fm);
}

int main(int argc, char **argv)
{
	static const struct kiln_test_case cases[] = {
		{ "sweep of processes gone unannounced", test_sweep },
		{ "loaded tables' files by inode, for the walk", test_files_map },
		{ "ld.so's entry point without CFI ends the stack", test_entry_stop },
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
