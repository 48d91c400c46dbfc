// SPDX-License-Identifier: Apache-2.0
/*
 * Unwind tables from hand-written CFI (fixtures/cfi.S, linked as UW_FIXTURE): the whole
 * table must equal the rows written below from the fixture's source, row for row. Also:
 * the PT_GNU_EH_FRAME path (section headers removed), a file without .eh_frame (-ENOENT),
 * FDEs the builder can't run (UW_SKIP, and malformed ones patched into a copy of it: no
 * rows, counted), DW_CFA_set_loc (patched in the same way), the same tables as the
 * row-by-row reference (libdw) for system binaries,
 * garbage and truncated images (-ENOEXEC), the vDSO from memory and from a file, and that
 * the descriptor's offset neither matters nor moves.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdbool.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unwind/vdso.h"
#include "unwind/unwind.h"
#include "unwind/unwind_libdw.h"
#include "tests/lib/kiln_test.h"

#define RSP KILN_UW_REG_RSP
#define RBP KILN_UW_REG_RBP
#define SAME KILN_UW_RBP_SAME
#define AT KILN_UW_RBP_AT_CFA
#define UNDEF KILN_UW_RBP_UNDEFINED
#define DEREF KILN_UW_F_DEREF

/* One expected row: SYM + OFF, then a rule (CMD 0) or a command. */
struct want {
	const char *sym;
	int64_t off;
	uint16_t cmd;
	uint8_t cfa_reg, rbp_how, flags;
	int32_t cfa_off, rbp_off;
};

#define R(s, o, reg, coff, how, roff)                                                \
	{                                                                            \
		.sym = s, .off = o, .cfa_reg = reg, .cfa_off = coff, .rbp_how = how, \
		.rbp_off = roff                                                      \
	}
#define RD(s, o, reg, coff, how, roff)                                               \
	{                                                                            \
		.sym = s, .off = o, .cfa_reg = reg, .cfa_off = coff, .rbp_how = how, \
		.rbp_off = roff, .flags = DEREF                                      \
	}
#define C(s, o, kind, arg)                                        \
	{                                                         \
		.sym = s, .off = o, .cmd = KILN_UW_CMD(kind, arg) \
	}
#define INVALID(s, o) C(s, o, KILN_UW_CMD_INVALID, 0)
#define UNS(s, o, why) C(s, o, KILN_UW_CMD_UNSUPPORTED, why)

/* The table of fixtures/cfi.S, from its source (the comments there give the same rows). */
/* One row per line, as in the fixture's comments. */
/* clang-format off */
static const struct want fixture_rows[] = {
	R("uwf_basic", 0, RSP, 8, SAME, 0),
	R("uwf_basic", 1, RSP, 16, AT, -16),
	R("uwf_basic", 4, RBP, 16, AT, -16),
	R("uwf_basic", 12, RSP, 8, SAME, 0),
	INVALID("uwf_basic", 16), /* gap 20 */

	R("uwf_state", 0, RSP, 8, SAME, 0),
	R("uwf_state", 1, RSP, 16, AT, -16),
	R("uwf_state", 2, RSP, 8, SAME, 0),
	R("uwf_state", 3, RSP, 16, AT, -16), /* restore_state; then gap 15: no INVALID */

	R("uwf_stop", 0, RSP, 8, SAME, 0),
	R("uwf_stop", 1, RSP, 8, UNDEF, 0),
	C("uwf_stop", 2, KILN_UW_CMD_STOP, 0),
	INVALID("uwf_stop", 4), /* gap 16 */

	R("uwf_reg", 0, RSP, 8, SAME, 0),
	UNS("uwf_reg", 2, KILN_UW_UNS_RBP),
	R("uwf_reg", 4, RSP, 8, SAME, 0),
	UNS("uwf_reg", 5, KILN_UW_UNS_RA),
	UNS("uwf_reg", 6, KILN_UW_UNS_CFA_REG),

	R("uwf_plt11", 0, RSP, 16, SAME, 0),
	R("uwf_plt11", 6, RSP, 24, SAME, 0),
	C("uwf_plt11", 16, KILN_UW_CMD_PLT, 11),
	C("uwf_plt10", 0, KILN_UW_CMD_PLT, 10),

	R("uwf_deref", 0, RSP, 8, SAME, 0),
	RD("uwf_deref", 1, RBP, -8, SAME, 0),
	RD("uwf_deref", 3, RBP, -8, AT, -16),
	UNS("uwf_deref", 5, KILN_UW_UNS_CFA_EXPR),
	UNS("uwf_deref", 7, KILN_UW_UNS_RBP),

	R("uwf_big", 0, RSP, 8, SAME, 0),
	R("uwf_big", 1, RSP, 40008, SAME, 0),
	R("uwf_big", 101, RSP, 8, SAME, 0),
	R("uwf_big", 1101, RSP, 1048720, SAME, 0),
	R("uwf_big", 71101, RSP, 8, SAME, 0),
	UNS("uwf_big", 71104, KILN_UW_UNS_CFA_EXPR),

	R("uwf_leaf", 0, RSP, 8, SAME, 0),
	INVALID("uwf_leaf", 5), /* gap 40 */

	/* the handler returns to uwf_sigtramp, looked up at -1: the table adds that byte */
	C("uwf_sigtramp", -1, KILN_UW_CMD_SIGNAL, 0),

	R("uwf_sigplain", 0, RSP, 8, SAME, 0),
	R("uwf_sigplain", 2, RSP, 16, SAME, 0),

	R("uwf_nest", 0, RSP, 8, SAME, 0),
	R("uwf_nest", 1, RSP, 16, AT, -16),
	R("uwf_nest", 2, RSP, 24, AT, -16),
	R("uwf_nest", 3, RSP, 32, SAME, 0),
	R("uwf_nest", 4, RSP, 24, AT, -16),
	R("uwf_nest", 5, RSP, 16, AT, -16),
	R("uwf_nest", 6, RSP, 24, AT, -16),
	R("uwf_nest", 7, RSP, 24, AT, 24),
	R("uwf_nest", 8, RSP, 24, AT, 16),
	UNS("uwf_nest", 9, KILN_UW_UNS_RBP),
	UNS("uwf_nest", 10, KILN_UW_UNS_RA),
	C("uwf_nest", 11, KILN_UW_CMD_STOP, 0),
	R("uwf_nest", 12, RSP, 24, UNDEF, 0),
	R("uwf_nest", 13, RSP, 16, UNDEF, 0),
	INVALID("uwf_nest", 14), /* the last FDE */
};
/* clang-format on */
/* clang-format on */

static char tmpdir[] = "/tmp/kiln-test-unwind-XXXXXX";

static int read_whole(const char *path, uint8_t **buf, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int err = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || !(*buf = malloc(st.st_size ? st.st_size : 1))) {
		close(fd);
		return -ENOMEM;
	}
	if (read(fd, *buf, st.st_size) != st.st_size)
		err = -EIO;
	*len = st.st_size;
	close(fd);
	return err;
}

/* Address of symbol NAME in the .symtab of PATH, or 0. */
static uint64_t sym_addr(const char *path, const char *name)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	Elf_Scn *scn = NULL;
	uint64_t addr = 0;
	Elf *elf;

	if (fd < 0)
		return 0;
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ, NULL);
	while (elf && !addr && (scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB || !sh.sh_entsize)
			continue;
		d = elf_getdata(scn, NULL);
		for (size_t i = 0; d && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym s;
			const char *n;

			if (!gelf_getsym(d, (int)i, &s))
				break;
			n = elf_strptr(elf, sh.sh_link, s.st_name);
			if (n && !strcmp(n, name)) {
				addr = s.st_value;
				break;
			}
		}
	}
	elf_end(elf);
	close(fd);
	return addr;
}

static struct uw_table *table_of_file(const char *path, int *err)
{
	struct uw_table *t = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		*err = -errno;
		return NULL;
	}
	*err = uw_table__from_fd(fd, &t);
	close(fd);
	return t;
}

static bool row_equal(const struct uw_row *a, const struct uw_row *b)
{
	return a->vaddr == b->vaddr && a->cmd == b->cmd &&
	       memcmp(&a->rule, &b->rule, sizeof(a->rule)) == 0;
}

static bool rows_equal(const struct uw_table *a, const struct uw_table *b)
{
	if (a->nr_rows != b->nr_rows)
		return false;
	for (size_t i = 0; i < a->nr_rows; i++)
		if (!row_equal(&a->rows[i], &b->rows[i]))
			return false;
	return true;
}

static void print_row(const char *what, const struct uw_row *r)
{
	fprintf(stderr, "  %s: %#lx cmd %#x cfa %u%+d rbp %u%+d flags %u\n", what,
		(unsigned long)r->vaddr, r->cmd, r->rule.cfa_reg, r->rule.cfa_off, r->rule.rbp_how,
		r->rule.rbp_off, r->rule.flags);
}

static void test_fixture_rows(void)
{
	const size_t n = sizeof(fixture_rows) / sizeof(fixture_rows[0]);
	struct uw_table *t;
	int err;

	t = table_of_file(UW_FIXTURE, &err);
	CU_ASSERT_EQUAL_FATAL(err, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	if (t->nr_rows != n)
		fprintf(stderr, "  %zu rows, want %zu\n", t->nr_rows, n);
	CU_ASSERT_EQUAL(t->nr_rows, n);
	for (size_t i = 0; i < n && i < t->nr_rows; i++) {
		const struct want *w = &fixture_rows[i];
		uint64_t base = sym_addr(UW_FIXTURE, w->sym);
		struct uw_row want = { .vaddr = base + (uint64_t)w->off, .cmd = w->cmd };

		CU_ASSERT_NOT_EQUAL_FATAL(base, 0);
		if (!w->cmd)
			want.rule = (struct kiln_uw_rule){ .cfa_reg = w->cfa_reg,
							   .rbp_how = w->rbp_how,
							   .flags = w->flags,
							   .cfa_off = w->cfa_off,
							   .rbp_off = w->rbp_off };
		if (!row_equal(&want, &t->rows[i])) {
			fprintf(stderr, "  row %zu (%s%+ld):\n", i, w->sym, (long)w->off);
			print_row("want", &want);
			print_row("got ", &t->rows[i]);
			CU_FAIL("row differs");
		}
	}
	/* 12 FDEs; rows as readelf -wF counts them: 4+4+3+5+3+1+5+6+1+1+2+14 */
	CU_ASSERT_EQUAL(t->stats.fdes, 12);
	CU_ASSERT_EQUAL(t->stats.cfa_rows, 49);
	CU_ASSERT_EQUAL(t->stats.unsupported, 8);
	CU_ASSERT_EQUAL(t->stats.plt, 2);
	CU_ASSERT_EQUAL(t->stats.signal, 1);
	CU_ASSERT_EQUAL(t->stats.stop, 2);
	CU_ASSERT_EQUAL(t->stats.skipped_fdes, 0);
	CU_ASSERT(t->stats.build_ns > 0);
	uw_table__free(t);
}

static void test_lookup(void)
{
	uint64_t basic = sym_addr(UW_FIXTURE, "uwf_basic");
	uint64_t state = sym_addr(UW_FIXTURE, "uwf_state");
	uint64_t sig = sym_addr(UW_FIXTURE, "uwf_sigtramp");
	uint64_t plain = sym_addr(UW_FIXTURE, "uwf_sigplain");
	const struct uw_row *r;
	struct uw_table *t;
	int err;

	t = table_of_file(UW_FIXTURE, &err);
	CU_ASSERT_EQUAL_FATAL(err, 0);
	CU_ASSERT_PTR_NULL(uw_table__lookup(t, 0));
	CU_ASSERT_PTR_NULL(uw_table__lookup(t, basic - 1));
	r = uw_table__lookup(t, basic + 3); /* inside the +1 row */
	CU_ASSERT_FATAL(r != NULL);
	CU_ASSERT_EQUAL(r->vaddr, basic + 1);
	r = uw_table__lookup(t, basic + 35); /* last byte of the 20-byte gap */
	CU_ASSERT_EQUAL(r->cmd, KILN_UW_CMD(KILN_UW_CMD_INVALID, 0));
	r = uw_table__lookup(t, state + 8 + 14); /* padding after uwf_state: its last row */
	CU_ASSERT_EQUAL(r->vaddr, state + 3);
	r = uw_table__lookup(t, sig - 1);
	CU_ASSERT_EQUAL(r->cmd, KILN_UW_CMD(KILN_UW_CMD_SIGNAL, 0));
	r = uw_table__lookup(t, sig - 2);
	CU_ASSERT_EQUAL(r->cmd, KILN_UW_CMD(KILN_UW_CMD_INVALID, 0));
	r = uw_table__lookup(t, sig + 8);
	CU_ASSERT_EQUAL(r->cmd, KILN_UW_CMD(KILN_UW_CMD_SIGNAL, 0));
	r = uw_table__lookup(t, plain + 3);
	CU_ASSERT_EQUAL(r->rule.cfa_off, 16);
	r = uw_table__lookup(t, UINT64_MAX);
	CU_ASSERT_EQUAL(r->cmd, KILN_UW_CMD(KILN_UW_CMD_INVALID, 0));
	uw_table__free(t);
}

/* Without section headers .eh_frame is found through PT_GNU_EH_FRAME: the same table. */
static void test_no_section_headers(void)
{
	struct uw_table *a, *b = NULL;
	Elf64_Ehdr *eh;
	uint8_t *img;
	size_t len;
	int err;

	a = table_of_file(UW_FIXTURE, &err);
	CU_ASSERT_EQUAL_FATAL(err, 0);
	CU_ASSERT_EQUAL_FATAL(read_whole(UW_FIXTURE, &img, &len), 0);
	eh = (Elf64_Ehdr *)img;
	/* the section headers' bytes too, so nothing could find them */
	CU_ASSERT_FATAL(eh->e_shoff + (uint64_t)eh->e_shnum * eh->e_shentsize <= len);
	memset(img + eh->e_shoff, 0, (size_t)eh->e_shnum * eh->e_shentsize);
	eh->e_shoff = 0;
	eh->e_shnum = 0;
	eh->e_shstrndx = 0;
	err = uw_table__from_mem(img, len, &b);
	CU_ASSERT_EQUAL(err, 0);
	if (b) {
		CU_ASSERT(rows_equal(a, b));
		CU_ASSERT_EQUAL(b->stats.fdes, a->stats.fdes);
		CU_ASSERT_EQUAL(b->stats.cfa_rows, a->stats.cfa_rows);
	}
	uw_table__free(a);
	uw_table__free(b);
	free(img);
}

static void test_no_eh_frame(void)
{
	struct uw_table *t = NULL;
	uint8_t *img;
	size_t len;
	int err;

	t = table_of_file(UW_NOEH, &err);
	CU_ASSERT_EQUAL(err, -ENOENT);
	CU_ASSERT_PTR_NULL(t);
	CU_ASSERT_EQUAL_FATAL(read_whole(UW_NOEH, &img, &len), 0);
	CU_ASSERT_EQUAL(uw_table__from_mem(img, len, &t), -ENOENT);
	CU_ASSERT_PTR_NULL(t);
	free(img);
}

/* FDEs the builder can't run, or too long, leave no row (their code is INVALID); counted. */
static void test_skipped_fde(void)
{
	static const char *const skipped[] = { "uwf_bad", "uwf_huge", "uwf_deep", "uwf_badcfa" };
	uint64_t good = sym_addr(UW_SKIP, "uwf_good"), bad = sym_addr(UW_SKIP, "uwf_bad");
	uint64_t huge = sym_addr(UW_SKIP, "uwf_huge"), patch = sym_addr(UW_SKIP, "uwf_patch");
	const struct uw_row *r;
	struct uw_table *t;
	int err;

	CU_ASSERT_FATAL(good && bad == good + 4 && huge == bad + 4 && patch);
	t = table_of_file(UW_SKIP, &err);
	CU_ASSERT_EQUAL_FATAL(err, 0);
	CU_ASSERT_EQUAL(t->stats.fdes, 6);
	CU_ASSERT_EQUAL(t->stats.skipped_fdes, 4);
	CU_ASSERT_EQUAL(t->stats.cfa_rows, 2);
	CU_ASSERT_EQUAL_FATAL(t->nr_rows, 4);
	CU_ASSERT_EQUAL(t->rows[0].vaddr, good);
	CU_ASSERT_EQUAL(t->rows[0].cmd, 0);
	CU_ASSERT_EQUAL(t->rows[0].rule.cfa_off, 8);
	for (size_t i = 0; i < sizeof(skipped) / sizeof(skipped[0]); i++) {
		uint64_t at = sym_addr(UW_SKIP, skipped[i]);

		CU_ASSERT_FATAL(at != 0);
		r = uw_table__lookup(t, at + 2);
		CU_ASSERT_EQUAL(r->vaddr, good + 4);
		CU_ASSERT_EQUAL(r->cmd, KILN_UW_CMD(KILN_UW_CMD_INVALID, 0));
	}
	r = uw_table__lookup(t, huge + 4000);
	CU_ASSERT_EQUAL(r->vaddr, good + 4);
	CU_ASSERT_EQUAL(t->rows[2].vaddr, patch);
	CU_ASSERT_EQUAL(t->rows[2].rule.cfa_off, 8);
	uw_table__free(t);
}

/*
 * Malformed CFA programs ld would refuse to link, made in a copy of UW_SKIP by overwriting
 * uwf_patch's 7 bytes of instructions (the FDE ends right after them): each makes the FDE
 * unusable. A well-formed replacement first, so a patch that missed would show.
 */
static void test_malformed(void)
{
	static const uint8_t marker[7] = { 0x2e, 0x6b, 0x2e, 0x6c, 0x2e, 0x6d, 0x00 };
	static const struct {
		const char *what;
		uint8_t insns[7];
	} bad[] = {
		{ "unknown opcode (DW_CFA_lo_user)", { 0x1c } },
		{ "block longer than the FDE", { 0x0f, 0x7f, 0x77 } },
		{ "ULEB128 cut by the FDE's end", { 0, 0, 0, 0, 0, 0x0e, 0x90 } },
		{ "advance_loc4 cut by the FDE's end", { 0, 0, 0, 0, 0x04, 0x01, 0x02 } },
		{ "restore_state with nothing remembered", { 0x0b } },
		{ "register number beyond 2^28", { 0x07, 0xff, 0xff, 0xff, 0xff, 0x01 } },
	};
	static const uint8_t good[7] = { 0x0e, 0x10 }; /* def_cfa_offset 16 */
	uint64_t patch = sym_addr(UW_SKIP, "uwf_patch");
	struct uw_table *t = NULL;
	const struct uw_row *r;
	uint8_t *img, *at;
	size_t len;

	CU_ASSERT_FATAL(patch != 0);
	CU_ASSERT_EQUAL_FATAL(read_whole(UW_SKIP, &img, &len), 0);
	at = memmem(img, len, marker, sizeof(marker));
	CU_ASSERT_FATAL(at != NULL);
	CU_ASSERT_FATAL(memmem(at + 1, len - (size_t)(at + 1 - img), marker, sizeof(marker)) ==
			NULL);
	memcpy(at, good, sizeof(good));
	CU_ASSERT_EQUAL_FATAL(uw_table__from_mem(img, len, &t), 0);
	r = uw_table__lookup(t, patch + 1);
	CU_ASSERT_EQUAL(r->vaddr, patch);
	CU_ASSERT_EQUAL(r->rule.cfa_off, 16);
	CU_ASSERT_EQUAL(t->stats.skipped_fdes, 4);
	uw_table__free(t);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		t = NULL;
		memcpy(at, bad[i].insns, sizeof(bad[i].insns));
		CU_ASSERT_EQUAL_FATAL(uw_table__from_mem(img, len, &t), 0);
		r = uw_table__lookup(t, patch + 1);
		if (t->stats.skipped_fdes != 5 || r->cmd != KILN_UW_CMD(KILN_UW_CMD_INVALID, 0)) {
			fprintf(stderr, "  %s: the FDE was used\n", bad[i].what);
			CU_FAIL("malformed FDE used");
		}
		uw_table__free(t);
	}
	free(img);
}

/* Every byte and count of two tables (but build_ns). */
static bool tables_identical(const struct uw_table *a, const struct uw_table *b)
{
	struct uw_table_stats sa = a->stats, sb = b->stats;

	sa.build_ns = sb.build_ns = 0;
	return a->nr_rows == b->nr_rows &&
	       memcmp(a->rows, b->rows, a->nr_rows * sizeof(*a->rows)) == 0 &&
	       memcmp(&sa, &sb, sizeof(sa)) == 0;
}

/* The row-by-row reference's table of PATH in *OUT. Returns what the builder returns. */
static int table_of_file_libdw(const char *path, struct uw_table **out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int err;

	*out = NULL;
	if (fd < 0)
		return -errno;
	err = uw_table__from_fd_libdw(fd, out);
	close(fd);
	return err;
}

/* The row-by-row reference builds the same table as T from PATH. */
static void check_libdw_equal(const char *path, const struct uw_table *t)
{
	struct uw_table *ref = NULL;

	CU_ASSERT_EQUAL(table_of_file_libdw(path, &ref), 0);
	CU_ASSERT(ref && tables_identical(t, ref));
	uw_table__free(ref);
}

/* The virtual address of file offset OFF in the ELF image IMG (its PT_LOAD), or 0. */
static uint64_t vaddr_of(uint8_t *img, size_t len, uint64_t off)
{
	Elf *elf = elf_memory((char *)img, len);
	uint64_t va = 0;
	size_t n = 0;

	if (elf && elf_getphdrnum(elf, &n) == 0)
		for (size_t i = 0; i < n && !va; i++) {
			GElf_Phdr ph;

			if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD &&
			    off >= ph.p_offset && off - ph.p_offset < ph.p_filesz)
				va = ph.p_vaddr + (off - ph.p_offset);
		}
	elf_end(elf);
	return va;
}

/*
 * DW_CFA_set_loc (compilers emit advances instead): uwf_patch's 7 bytes become "set_loc
 * uwf_patch+2 (the CIE's pc-relative sdata4); def_cfa_offset 16", so rsp+8 up to +2 and
 * rsp+16 from there; the row-by-row reference agrees on the same bytes written to a file.
 */
static void test_set_loc(void)
{
	static const uint8_t marker[7] = { 0x2e, 0x6b, 0x2e, 0x6c, 0x2e, 0x6d, 0x00 };
	uint64_t patch = sym_addr(UW_SKIP, "uwf_patch"), field;
	char path[sizeof(tmpdir) + 16];
	struct uw_table *t = NULL, *ref = NULL;
	const struct uw_row *r;
	uint8_t *img, *at;
	int32_t rel;
	size_t len;
	FILE *f;

	CU_ASSERT_FATAL(patch != 0);
	CU_ASSERT_EQUAL_FATAL(read_whole(UW_SKIP, &img, &len), 0);
	at = memmem(img, len, marker, sizeof(marker));
	CU_ASSERT_FATAL(at != NULL);
	elf_version(EV_CURRENT);
	field = vaddr_of(img, len, (uint64_t)(at + 1 - img));
	CU_ASSERT_FATAL(field != 0);
	rel = (int32_t)(patch + 2 - field);
	at[0] = 0x01; /* DW_CFA_set_loc */
	memcpy(at + 1, &rel, sizeof(rel));
	at[5] = 0x0e; /* DW_CFA_def_cfa_offset 16 */
	at[6] = 0x10;
	CU_ASSERT_EQUAL_FATAL(uw_table__from_mem(img, len, &t), 0);
	r = uw_table__lookup(t, patch + 1);
	CU_ASSERT_EQUAL(r->vaddr, patch);
	CU_ASSERT_EQUAL(r->rule.cfa_off, 8);
	r = uw_table__lookup(t, patch + 3);
	CU_ASSERT_EQUAL(r->vaddr, patch + 2);
	CU_ASSERT_EQUAL(r->rule.cfa_off, 16);
	snprintf(path, sizeof(path), "%s/setloc.so", tmpdir);
	f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT_EQUAL(fwrite(img, 1, len, f), len);
	CU_ASSERT_EQUAL(fclose(f), 0);
	/*
	 * The rule at each address, not the whole table: the reference also takes uwf_deep,
	 * which this builder leaves out (and whose last row then merges with uwf_patch's first).
	 */
	CU_ASSERT_EQUAL_FATAL(table_of_file_libdw(path, &ref), 0);
	for (uint64_t a = patch; a < patch + 5; a++) {
		const struct uw_row *x = uw_table__lookup(t, a), *y = uw_table__lookup(ref, a);

		CU_ASSERT(x && y && x->cmd == y->cmd &&
			  memcmp(&x->rule, &y->rule, sizeof(x->rule)) == 0);
	}
	uw_table__free(ref);
	uw_table__free(t);
	free(img);
}

/*
 * The one-pass builder against the row-by-row reference (each row asked of libdw): the
 * same table, byte for byte, for the fixture and the system's big binaries (those present;
 * libc always is).
 */
static void test_same_as_libdw(void)
{
	static const char *const files[] = {
		UW_FIXTURE,
		"/lib/x86_64-linux-gnu/libc.so.6",
		"/usr/bin/python3.11",
		"/usr/sbin/nginx",
		"/usr/bin/redis-server",
		"/usr/lib/postgresql/15/bin/postgres",
	};
	size_t compared = 0;

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct uw_table *a, *b = NULL;
		int err;

		if (access(files[i], R_OK) != 0) {
			printf("\n  %s: absent, not compared", files[i]);
			continue;
		}
		a = table_of_file(files[i], &err);
		CU_ASSERT_EQUAL(err, 0);
		CU_ASSERT_EQUAL(table_of_file_libdw(files[i], &b), 0);
		if (a && b) {
			if (!tables_identical(a, b)) {
				fprintf(stderr, "  %s: %zu rows one pass, %zu row by row\n",
					files[i], a->nr_rows, b->nr_rows);
				CU_FAIL("tables differ");
			}
			printf("\n  %s: %zu rows, identical; %.2f ms one pass, %.2f ms row by row",
			       files[i], a->nr_rows, a->stats.build_ns / 1e6,
			       b->stats.build_ns / 1e6);
			compared++;
		}
		uw_table__free(a);
		uw_table__free(b);
	}
	printf("\n");
	CU_ASSERT(compared >= 2); /* the fixture and libc at least */
}

static void test_garbage(void)
{
	struct uw_table *t = NULL;
	uint8_t junk[4096];
	uint8_t *img, *copy;
	size_t len;
	unsigned int seed = 12345;

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)rand_r(&seed);
	CU_ASSERT_EQUAL(uw_table__from_mem(junk, sizeof(junk), &t), -ENOEXEC);
	CU_ASSERT_EQUAL(uw_table__from_mem(junk, 0, &t), -ENOEXEC);
	CU_ASSERT_PTR_NULL(t);

	CU_ASSERT_EQUAL_FATAL(read_whole(UW_FIXTURE, &img, &len), 0);
	/* cut inside the ELF header, inside the program headers, and before the section headers */
	CU_ASSERT_EQUAL(uw_table__from_mem(img, 40, &t), -ENOEXEC);
	CU_ASSERT_EQUAL(uw_table__from_mem(img, 100, &t), -ENOEXEC);
	CU_ASSERT_EQUAL(uw_table__from_mem(img, len / 2, &t), -ENOEXEC);
	CU_ASSERT_EQUAL(uw_table__from_mem(img, len - 1, &t), -ENOEXEC);
	CU_ASSERT_PTR_NULL(t);

	/* a valid ELF file for another machine, or a 32-bit one, is not usable either */
	copy = malloc(len);
	CU_ASSERT_FATAL(copy != NULL);
	memcpy(copy, img, len);
	((Elf64_Ehdr *)copy)->e_machine = EM_AARCH64;
	CU_ASSERT_EQUAL(uw_table__from_mem(copy, len, &t), -ENOEXEC);
	memcpy(copy, img, len);
	copy[EI_CLASS] = ELFCLASS32;
	CU_ASSERT_EQUAL(uw_table__from_mem(copy, len, &t), -ENOEXEC);
	memcpy(copy, img, len);
	((Elf64_Ehdr *)copy)->e_type = ET_CORE;
	CU_ASSERT_EQUAL(uw_table__from_mem(copy, len, &t), -ENOEXEC);
	CU_ASSERT_PTR_NULL(t);
	CU_ASSERT_EQUAL(uw_table__from_fd(-1, &t), -EBADF);
	free(copy);
	free(img);
}

/* The descriptor's offset does not matter and does not move. */
static void test_fd_offset(void)
{
	struct uw_table *a, *b = NULL;
	int err, fd;

	a = table_of_file(UW_FIXTURE, &err);
	CU_ASSERT_EQUAL_FATAL(err, 0);
	fd = open(UW_FIXTURE, O_RDONLY | O_CLOEXEC);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(lseek(fd, 1234, SEEK_SET), 1234);
	CU_ASSERT_EQUAL(uw_table__from_fd(fd, &b), 0);
	CU_ASSERT_EQUAL(lseek(fd, 0, SEEK_CUR), 1234);
	if (b)
		CU_ASSERT(rows_equal(a, b));
	close(fd);
	uw_table__free(a);
	uw_table__free(b);
}

/* The vDSO from memory, and the same bytes as a file, give the same table (and libdw's). */
static void test_vdso(void)
{
	struct uw_table *a = NULL, *b = NULL;
	char path[sizeof(tmpdir) + 16];
	void *img = NULL;
	size_t size = 0;
	FILE *f;
	int err;

	err = vdso_image(&img, &size);
	CU_ASSERT_EQUAL_FATAL(err, 0);
	CU_ASSERT_EQUAL(uw_table__from_mem(img, size, &a), 0);
	snprintf(path, sizeof(path), "%s/vdso.so", tmpdir);
	f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT_EQUAL(fwrite(img, 1, size, f), size);
	CU_ASSERT_EQUAL(fclose(f), 0);
	b = table_of_file(path, &err);
	CU_ASSERT_EQUAL(err, 0);
	if (a && b) {
		CU_ASSERT(a->stats.fdes > 0);
		CU_ASSERT(a->nr_rows > 0);
		CU_ASSERT(rows_equal(a, b));
		check_libdw_equal(path, b);
		printf("\n  vDSO: %u FDEs, %u CFA rows, %zu table rows, built in %.3f ms\n",
		       a->stats.fdes, a->stats.cfa_rows, a->nr_rows, a->stats.build_ns / 1e6);
	}
	uw_table__free(a);
	uw_table__free(b);
	free(img);
}

static void test_free_null(void)
{
	uw_table__free(NULL);
}

int main(int argc, char **argv)
{
	static const struct kiln_test_case cases[] = {
		{ "fixture_rows", test_fixture_rows },
		{ "lookup", test_lookup },
		{ "no_section_headers", test_no_section_headers },
		{ "no_eh_frame", test_no_eh_frame },
		{ "skipped_fde", test_skipped_fde },
		{ "malformed", test_malformed },
		{ "set_loc", test_set_loc },
		{ "same_as_libdw", test_same_as_libdw },
		{ "garbage", test_garbage },
		{ "fd_offset", test_fd_offset },
		{ "vdso", test_vdso },
		{ "free_null", test_free_null },
	};
	char cmd[sizeof(tmpdir) + 16];
	int rc;

	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	rc = kiln_test_main(argc, argv, "unwind", cases, sizeof(cases) / sizeof(cases[0]));
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd))
		fprintf(stderr, "could not remove %s\n", tmpdir);
	return rc;
}
