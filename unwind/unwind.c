// SPDX-License-Identifier: Apache-2.0
/*
 * Unwind tables from .eh_frame (unwind.h says what a table is; bpf/unwind.h how the walker
 * applies its rows).
 *
 * What libdw does here: it enumerates the CIEs and FDEs (dwarf_next_cfi: entry lengths,
 * 32/64-bit formats, CIE versions, the augmentation string, the code/data alignment
 * factors, the return-address column, each CIE's initial instructions and each FDE's raw
 * bytes), and libelf reads the file. What this file does itself: decodes each FDE's
 * encoded pc_begin / pc_range and skips its augmentation block (the CIE's 'z'/'R'); finds
 * .eh_frame through PT_GNU_EH_FRAME -> .eh_frame_hdr when section headers are stripped;
 * lays the rows out into the table. cfa.c runs each FDE's CFA program, once, front to back,
 * producing every row of the FDE in that single pass, and classifies each row into the few
 * shapes the BPF walker can apply.
 *
 * Why not libdw's CFA interpreter any more: its only entry point is a per-address query
 * (dwarf_cfi_addrframe), which finds the FDE again (a search tree, then .eh_frame_hdr's
 * table) and re-runs the FDE's program from its first instruction up to that address, so
 * an FDE of R rows costs R lookups and ~R^2/2 instruction steps. Building tables that way
 * was 13.5 % of the agent's CPU at density (35 % under a heavy build), 13 % of that in
 * libc's __tfind under the lookup. One pass is linear in the FDE's size: libc 7.9 -> 2.1
 * ms, postgres 31 -> 8.4 ms, libLLVM-15 281 -> 69 ms (medians of 5).
 *
 * libdw's interpreter was chosen for correctness (the opcodes, the CIE's initial state and
 * DW_CFA_restore to it, remember/restore_state, the ABI's default rules). That is now held
 * by checks rather than by reuse: the interpreter is small, because the walker needs three
 * rules (CFA, return address, rbp) and recognizes three expression shapes without
 * evaluating any; every table equals the row-by-row one byte for byte on the fixtures and
 * the system's big binaries (unwind_libdw.c keeps that path for test_unwind and
 * kiln-bench), and readelf's rows (test_unwind_oracle). They differ on malformed input
 * only: an operand cut by the FDE's end or remember_state nested deeper than 32 leave the
 * FDE out here, and an expression libdw can't parse is an unsupported row here instead of
 * a lost FDE; and where FDEs overlap, each one's rows now come from its own program (libdw
 * answered by address, from whichever FDE its lookup found). A malformed .eh_frame_hdr no
 * longer fails a file whose .eh_frame has a section header (nothing here reads it then).
 */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <errno.h>
#include <gelf.h>
#include <libelf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/util.h"
#include "unwind/uw_internal.h"

/* Gaps between FDEs up to this many bytes are alignment padding, not ends of code. */
#define UW_MAX_PAD 15

/* DW_EH_PE pointer encodings (.eh_frame, .eh_frame_hdr). */
#define PE_OMIT 0xff
#define PE_FMT_MASK 0x0f
#define PE_APP_MASK 0x70
#define PE_INDIRECT 0x80
#define PE_ABSPTR 0x00
#define PE_ULEB128 0x01
#define PE_UDATA2 0x02
#define PE_UDATA4 0x03
#define PE_UDATA8 0x04
#define PE_SLEB128 0x09
#define PE_SDATA2 0x0a
#define PE_SDATA4 0x0b
#define PE_SDATA8 0x0c
#define PE_PCREL 0x10
#define PE_DATAREL 0x30

static uint64_t uw_mono_ns(void)
{
	struct timespec ts;

	/* Not common/util's mono_ns: this library links libdw/libelf alone (fuzz build). */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	size_t ncap;
	void *n;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 256;
	while (ncap < need)
		ncap *= 2;
	n = realloc(*arr, ncap * elem);
	if (!n)
		return -ENOMEM;
	*arr = n;
	*cap = ncap;
	return 0;
}

/* LEB128 at *p (sign-extended when is_signed); -ENOEXEC when it runs past end. */
static int read_leb(const uint8_t **p, const uint8_t *end, bool is_signed, uint64_t *out)
{
	uint64_t v = 0;
	unsigned int shift = 0;

	while (*p < end) {
		uint8_t b = *(*p)++;

		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
		if (!(b & 0x80)) {
			if (is_signed && shift < 64 && (b & 0x40))
				v |= ~0ULL << shift;
			*out = v;
			return 0;
		}
	}
	return -ENOEXEC;
}

int uw_read_uleb(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
	return read_leb(p, end, false, out);
}

int uw_read_sleb(const uint8_t **p, const uint8_t *end, int64_t *out)
{
	uint64_t v;
	int err = read_leb(p, end, true, &v);

	if (!err)
		*out = (int64_t)v;
	return err;
}

int uw_read_fixed(const uint8_t **p, const uint8_t *end, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if ((size_t)(end - *p) < n)
		return -ENOEXEC;
	/* little-endian: the ELF class and machine were checked to be x86-64 */
	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)(*p)[i] << (8 * i);
	*p += n;
	*out = v;
	return 0;
}

/*
 * Reads the value of a pointer in encoding ENC's format at *P (the application bits are the
 * caller's business). Returns 0 or -ENOEXEC.
 */
static int read_pe_value(const uint8_t **p, const uint8_t *end, uint8_t enc, uint64_t *out)
{
	uint64_t u = 0;
	int64_t s = 0;
	int err;

	switch (enc & PE_FMT_MASK) {
	case PE_ABSPTR:
	case PE_UDATA8:
	case PE_SDATA8:
		return uw_read_fixed(p, end, 8, out);
	case PE_UDATA2:
		return uw_read_fixed(p, end, 2, out);
	case PE_UDATA4:
		return uw_read_fixed(p, end, 4, out);
	case PE_SDATA2:
		err = uw_read_fixed(p, end, 2, &u);
		*out = (uint64_t)(int64_t)(int16_t)u;
		return err;
	case PE_SDATA4:
		err = uw_read_fixed(p, end, 4, &u);
		*out = (uint64_t)(int64_t)(int32_t)u;
		return err;
	case PE_ULEB128:
		return uw_read_uleb(p, end, out);
	case PE_SLEB128:
		err = uw_read_sleb(p, end, &s);
		*out = (uint64_t)s;
		return err;
	default:
		return -ENOEXEC;
	}
}

/*
 * Reads an encoded address at *P whose own address is FIELD_VADDR; DATA_BASE is what
 * datarel is relative to (.eh_frame_hdr's start; 0 where it is not allowed). Indirect and
 * the other bases never occur in x86-64 .eh_frame address fields.
 */
int uw_read_pe_addr(const uint8_t **p, const uint8_t *end, uint8_t enc, uint64_t field_vaddr,
		    uint64_t data_base, uint64_t *out)
{
	uint64_t v;
	int err;

	if (enc == PE_OMIT || (enc & PE_INDIRECT))
		return -ENOEXEC;
	err = read_pe_value(p, end, enc, &v);
	if (err)
		return err;
	switch (enc & PE_APP_MASK) {
	case 0:
		break;
	case PE_PCREL:
		v += field_vaddr;
		break;
	case PE_DATAREL:
		if (!data_base)
			return -ENOEXEC;
		v += data_base;
		break;
	default:
		return -ENOEXEC;
	}
	*out = v;
	return 0;
}

/* The FDE pointer encoding a CIE's augmentation declares ('R'), absptr without one. */
static int cie_fde_encoding(const Dwarf_CIE *cie, uint8_t *enc)
{
	const char *aug = cie->augmentation;
	const uint8_t *p = cie->augmentation_data;
	const uint8_t *end = p ? p + cie->augmentation_data_size : NULL;
	uint64_t skip;

	*enc = PE_ABSPTR;
	if (!aug || !aug[0])
		return 0;
	if (aug[0] != 'z' || !p)
		return -ENOEXEC; /* pre-'z' augmentations: the FDE layout is unknown */
	for (aug++; *aug; aug++) {
		switch (*aug) {
		case 'R':
			if (p >= end)
				return -ENOEXEC;
			*enc = *p++;
			return 0;
		case 'P':
			if (p >= end)
				return -ENOEXEC;
			{
				uint8_t penc = *p++;

				if (read_pe_value(&p, end, penc, &skip))
					return -ENOEXEC;
			}
			break;
		case 'L':
			if (p >= end)
				return -ENOEXEC;
			p++;
			break;
		case 'S':
		case 'B':
		case 'G':
			break; /* no data */
		default:
			/* 'z' says the data's size, but not where 'R' sits after an unknown letter */
			return -ENOEXEC;
		}
	}
	return 0;
}

/*
 * Decodes an FDE's [pc_begin, pc_begin + pc_range) and where its CFA instructions start
 * (*INSNS, NULL when the augmentation block before them runs past the FDE: the FDE is then
 * unusable, but counted as such only when it covers code). Returns 0, or -ENOEXEC when its
 * CIE or its range cannot be read.
 */
static int fde_range(struct builder *b, const Dwarf_FDE *fde, uint64_t *lo, uint64_t *hi,
		     const uint8_t **insns)
{
	const uint8_t *base = b->eh->d_buf;
	const uint8_t *end = fde->end;
	const uint8_t *p = fde->start;
	uint64_t begin, range, aug_len;

	if (!b->cie_ok || b->cie_off != fde->CIE_pointer) {
		Dwarf_CFI_Entry ce;
		Dwarf_Off next;

		b->cie_off = fde->CIE_pointer;
		b->cie_ok = dwarf_next_cfi(b->ident, b->eh, true, fde->CIE_pointer, &next, &ce) ==
				    0 &&
			    dwarf_cfi_cie_p(&ce) && cie_fde_encoding(&ce.cie, &b->cie.fde_enc) == 0;
		if (!b->cie_ok)
			return -ENOEXEC;
		uw_cie_init(b, &ce.cie, &b->cie);
	}
	if (uw_read_pe_addr(&p, end, b->cie.fde_enc, b->eh_vaddr + (uint64_t)(p - base), 0, &begin))
		return -ENOEXEC;
	/* the range is a length: the format of the encoding without its application */
	if (read_pe_value(&p, end, b->cie.fde_enc & PE_FMT_MASK, &range))
		return -ENOEXEC;
	if (begin + range < begin)
		return -ENOEXEC;
	*lo = begin;
	*hi = begin + range;
	*insns = p;
	if (b->cie.sized_aug && (uw_read_uleb(&p, end, &aug_len) || aug_len > (uint64_t)(end - p)))
		*insns = NULL;
	else if (b->cie.sized_aug)
		*insns = p + aug_len;
	return 0;
}

static void count_cmd(struct uw_table_stats *st, uint16_t cmd)
{
	if (!cmd)
		return;
	switch (KILN_UW_CMD_KIND(cmd)) {
	case KILN_UW_CMD_STOP:
		st->stop++;
		break;
	case KILN_UW_CMD_PLT:
		st->plt++;
		break;
	case KILN_UW_CMD_SIGNAL:
		st->signal++;
		break;
	case KILN_UW_CMD_UNSUPPORTED:
		st->unsupported++;
		break;
	default:
		break;
	}
}

void uw_fde_begin(struct builder *b)
{
	b->fde_first = b->nr_rows;
	memset(&b->fde_st, 0, sizeof(b->fde_st));
	b->fde_signal = false;
}

int uw_fde_row(struct builder *b, uint64_t addr, uint16_t cmd, const struct kiln_uw_rule *rule)
{
	struct uw_row *row;
	int err;

	if (b->nr_rows - b->fde_first >= UW_MAX_FDE_ROWS)
		return 1;
	err = grow((void **)&b->rows, &b->cap_rows, b->nr_rows + 1, sizeof(*b->rows));
	if (err)
		return err;
	row = &b->rows[b->nr_rows++];
	memset(row, 0, sizeof(*row)); /* padding too: tables compare with memcmp */
	row->vaddr = addr;
	row->cmd = cmd;
	if (!cmd)
		row->rule = *rule;
	if (cmd == KILN_UW_CMD(KILN_UW_CMD_SIGNAL, 0))
		b->fde_signal = true;
	b->fde_st.cfa_rows++;
	count_cmd(&b->fde_st, cmd);
	return 0;
}

int uw_fde_end(struct builder *b, uint64_t lo, uint64_t hi)
{
	const struct uw_table_stats *st = &b->fde_st;
	int err;

	err = grow((void **)&b->spans, &b->cap_spans, b->nr_spans + 1, sizeof(*b->spans));
	if (err)
		return err;
	b->spans[b->nr_spans++] = (struct fde_span){ .lo = lo,
						     .hi = hi,
						     .first = b->fde_first,
						     .count = b->nr_rows - b->fde_first,
						     .signal = b->fde_signal };
	b->stats.cfa_rows += st->cfa_rows;
	b->stats.unsupported += st->unsupported;
	b->stats.plt += st->plt;
	b->stats.signal += st->signal;
	b->stats.stop += st->stop;
	return 0;
}

int uw_fde_drop(struct builder *b)
{
	b->nr_rows = b->fde_first;
	return 1;
}
/* The .eh_frame bytes and their address, by section name (any type: libLLVM's is
 * SHT_X86_64_UNWIND). Returns 0, -ENOENT without one, -ENOEXEC when unreadable. */
static int find_eh_frame_section(struct builder *b)
{
	size_t shstrndx;
	Elf_Scn *scn = NULL;

	if (elf_getshdrstrndx(b->elf, &shstrndx) != 0)
		return -ENOENT; /* no section headers: PT_GNU_EH_FRAME is the way */
	while ((scn = elf_nextscn(b->elf, scn))) {
		GElf_Shdr sh;
		const char *name;

		if (!gelf_getshdr(scn, &sh))
			return -ENOEXEC;
		name = elf_strptr(b->elf, shstrndx, sh.sh_name);
		if (!name || strcmp(name, ".eh_frame") != 0)
			continue;
		if (sh.sh_type == SHT_NOBITS || sh.sh_size == 0)
			return -ENOENT; /* a debug file's placeholder, or code without tables */
		b->eh = elf_getdata(scn, NULL);
		if (!b->eh)
			return -ENOEXEC;
		b->eh_vaddr = sh.sh_addr;
		return 0;
	}
	return -ENOENT;
}

/*
 * Without section headers: PT_GNU_EH_FRAME -> .eh_frame_hdr, whose eh_frame_ptr gives the
 * address of .eh_frame; its bytes run at most to the end of the PT_LOAD that holds it
 * (dwarf_next_cfi stops at the zero terminator). Returns 0, -ENOENT, or -ENOEXEC.
 */
static int find_eh_frame_phdr(struct builder *b)
{
	GElf_Phdr hdr_ph = { 0 }, ph;
	size_t phnum;
	bool found = false;
	Elf_Data *hdr;
	const uint8_t *p, *end;
	uint64_t ptr;

	if (elf_getphdrnum(b->elf, &phnum) != 0)
		return -ENOEXEC;
	for (size_t i = 0; i < phnum; i++) {
		if (!gelf_getphdr(b->elf, (int)i, &ph))
			return -ENOEXEC;
		if (ph.p_type == PT_GNU_EH_FRAME) {
			hdr_ph = ph;
			found = true;
			break;
		}
	}
	if (!found)
		return -ENOENT;
	hdr = elf_getdata_rawchunk(b->elf, (int64_t)hdr_ph.p_offset, hdr_ph.p_filesz, ELF_T_BYTE);
	if (!hdr || hdr->d_size < 4)
		return -ENOEXEC;
	p = hdr->d_buf;
	end = p + hdr->d_size;
	if (p[0] != 1) /* version */
		return -ENOEXEC;
	p += 4;
	if (uw_read_pe_addr(&p, end, ((const uint8_t *)hdr->d_buf)[1], hdr_ph.p_vaddr + 4,
			    hdr_ph.p_vaddr, &ptr))
		return -ENOEXEC;
	for (size_t i = 0; i < phnum; i++) {
		if (!gelf_getphdr(b->elf, (int)i, &ph))
			return -ENOEXEC;
		if (ph.p_type != PT_LOAD || ptr < ph.p_vaddr || ptr - ph.p_vaddr >= ph.p_filesz)
			continue;
		b->eh = elf_getdata_rawchunk(b->elf, (int64_t)(ph.p_offset + (ptr - ph.p_vaddr)),
					     ph.p_filesz - (ptr - ph.p_vaddr), ELF_T_BYTE);
		if (!b->eh)
			return -ENOEXEC;
		b->eh_vaddr = ptr;
		return 0;
	}
	return -ENOEXEC;
}

static int span_cmp(const void *a, const void *b)
{
	const struct fde_span *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	if (x->hi != y->hi)
		return x->hi < y->hi ? -1 : 1;
	return x->first < y->first ? -1 : x->first > y->first;
}

static bool row_eq(const struct uw_row *a, const struct uw_row *b)
{
	return a->cmd == b->cmd && memcmp(&a->rule, &b->rule, sizeof(a->rule)) == 0;
}

/* Appends ROW to OUT (room was reserved), dropping what it makes redundant. */
static void emit(struct uw_row *out, size_t *n, const struct uw_row *row)
{
	/* a later row at the same or an earlier address (overlapping FDEs) wins from there on */
	while (*n && out[*n - 1].vaddr >= row->vaddr)
		(*n)--;
	if (*n && row_eq(&out[*n - 1], row))
		return;
	out[(*n)++] = *row;
}

/*
 * Lays the FDEs' rows out by address into the table: consecutive equal rows merged, an
 * INVALID row where covered code ends (the next FDE starts more than UW_MAX_PAD bytes
 * later, or none follows).
 */
static int assemble(struct builder *b, struct uw_table *t)
{
	struct uw_row *out;
	size_t n = 0;
	uint64_t cover_end = 0;

	qsort(b->spans, b->nr_spans, sizeof(*b->spans), span_cmp);
	/* every row, one INVALID per span and one early SIGNAL row per span at most */
	out = calloc(b->nr_rows + 2 * b->nr_spans + 1, sizeof(*out));
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < b->nr_spans; i++) {
		const struct fde_span *s = &b->spans[i];

		if (s->signal && s->lo > 0 && (i == 0 || cover_end < s->lo)) {
			/*
			 * The walker looks a return address up at pc - 1, and the handler returns to
			 * the trampoline's first byte: glibc starts the FDE one byte early (a nop) for
			 * that; a trampoline without that byte gets it here, when no other FDE
			 * covers it.
			 */
			struct uw_row early;

			memcpy(&early, &b->rows[s->first], sizeof(early));
			early.vaddr = s->lo - 1;
			emit(out, &n, &early);
		}
		for (size_t r = 0; r < s->count; r++)
			emit(out, &n, &b->rows[s->first + r]);
		if (s->hi > cover_end)
			cover_end = s->hi;
		if (i + 1 == b->nr_spans || (b->spans[i + 1].lo > cover_end &&
					     b->spans[i + 1].lo - cover_end > UW_MAX_PAD)) {
			struct uw_row inv;

			memset(&inv, 0, sizeof(inv));
			inv.vaddr = cover_end;
			inv.cmd = KILN_UW_CMD(KILN_UW_CMD_INVALID, 0);
			emit(out, &n, &inv);
		}
	}
	t->rows = out;
	t->nr_rows = n;
	return 0;
}

static bool in_file(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

/*
 * Whether the headers and loaded segments of an image of SIZE bytes lie inside it: libelf
 * accepts some truncated files (it may ignore section headers past the end), but a cut
 * file's table could describe code that is not there.
 */
static bool complete(Elf *elf, const GElf_Ehdr *eh, uint64_t size)
{
	/*
	 * The header's counts, not elf_getphdrnum/elf_getshdrnum: those quietly say 0 for a
	 * table that runs past the end. Only the extended counts (kept in section 0) need them.
	 */
	size_t phnum = eh->e_phnum, shnum = eh->e_shnum;

	if (eh->e_shoff && (shnum == 0 || phnum == PN_XNUM)) {
		if (!in_file(eh->e_shoff, eh->e_shentsize, size) ||
		    elf_getshdrnum(elf, &shnum) != 0 || elf_getphdrnum(elf, &phnum) != 0)
			return false;
	}
	if (!in_file(eh->e_phoff, (uint64_t)phnum * eh->e_phentsize, size) ||
	    (eh->e_shoff && !in_file(eh->e_shoff, (uint64_t)shnum * eh->e_shentsize, size)))
		return false;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, (int)i, &ph))
			return false;
		if (ph.p_type == PT_LOAD && !in_file(ph.p_offset, ph.p_filesz, size))
			return false;
	}
	return true;
}

/*
 * Builds the table of ELF (SIZE bytes), each FDE's rows from ROWS; T0: when the caller
 * started (for build_ns).
 */
static int build(Elf *elf, uint64_t size, uint64_t t0, uw_fde_rows_fn rows, struct uw_table **out)
{
	struct builder b = { .elf = elf };
	struct uw_table *t = NULL;
	GElf_Ehdr eh;
	Dwarf_Off off = 0, next;
	int err;

	if (elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &eh) ||
	    gelf_getclass(elf) != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh.e_machine != EM_X86_64 || (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) ||
	    !complete(elf, &eh, size)) {
		err = -ENOEXEC;
		goto cleanup;
	}
	b.ident = (const unsigned char *)elf_getident(elf, NULL);
	err = find_eh_frame_section(&b);
	if (err == -ENOENT)
		err = find_eh_frame_phdr(&b);
	if (err)
		goto cleanup;

	for (;;) {
		Dwarf_CFI_Entry e;
		const uint8_t *insns;
		uint64_t lo, hi;
		int r;

		r = dwarf_next_cfi(b.ident, b.eh, true, off, &next, &e);
		if (r == 1)
			break;
		if (r != 0) {
			/*
			 * An entry libdw can't parse, counted as a skipped FDE: skip it when libdw
			 * says where the next one starts, else the rest of the section is lost.
			 */
			b.stats.fdes++;
			b.stats.skipped_fdes++;
			if (next == (Dwarf_Off)-1 || next <= off)
				break;
			off = next;
			continue;
		}
		off = next;
		if (dwarf_cfi_cie_p(&e))
			continue;
		b.stats.fdes++;
		if (fde_range(&b, &e.fde, &lo, &hi, &insns)) {
			b.stats.skipped_fdes++;
			continue;
		}
		if (lo == hi)
			continue; /* an empty FDE covers nothing */
		uw_fde_begin(&b);
		r = rows(&b, &e.fde, insns, e.fde.end, lo, hi);
		if (r < 0) {
			err = r;
			goto cleanup;
		}
		if (r > 0)
			b.stats.skipped_fdes++;
	}
	if (!b.nr_rows) {
		/* no FDE, or none that covers code libdw can read: frame pointers are the way */
		err = -ENOENT;
		goto cleanup;
	}

	t = calloc(1, sizeof(*t));
	if (!t) {
		err = -ENOMEM;
		goto cleanup;
	}
	err = assemble(&b, t);
	if (err)
		goto cleanup;
	t->stats = b.stats;
	t->stats.build_ns = uw_mono_ns() - t0;
	*out = t;
	t = NULL;

cleanup:
	uw_table__free(t);
	if (b.cfi)
		dwarf_cfi_end(b.cfi);
	free(b.rows);
	free(b.spans);
	return err;
}

int uw_table_build_fd(int fd, uw_fde_rows_fn rows, struct uw_table **out)
{
	uint64_t t0 = uw_mono_ns();
	struct stat st;
	Elf *elf;
	int err;

	*out = NULL;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -ENOEXEC;
	/* libelf reads with pread: the descriptor's offset is neither used nor moved */
	if (fstat(fd, &st) != 0)
		return -errno;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf)
		return -ENOEXEC;
	err = build(elf, (uint64_t)st.st_size, t0, rows, out);
	elf_end(elf);
	return err;
}

int uw_table__from_fd(int fd, struct uw_table **out)
{
	return uw_table_build_fd(fd, uw_fde_rows, out);
}

int uw_table__from_mem(const void *image, size_t size, struct uw_table **out)
{
	uint64_t t0 = uw_mono_ns();
	Elf *elf = NULL;
	void *copy;
	int err;

	*out = NULL;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -ENOEXEC;
	/*
	 * elf_memory takes a writable image and may hand out pointers into it for as long as the
	 * Elf lives; a private copy keeps the caller's image const and any alignment right.
	 */
	copy = malloc(size ? size : 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, image, size);
	elf = elf_memory(copy, size);
	if (!elf) {
		err = -ENOEXEC;
		goto cleanup;
	}
	err = build(elf, size, t0, uw_fde_rows, out);

cleanup:
	if (elf)
		elf_end(elf);
	free(copy);
	return err;
}

const struct uw_row *uw_table__lookup(const struct uw_table *t, uint64_t vaddr)
{
	/* first row with vaddr > VADDR; the answer is the one before it */
	size_t lo = upper_bound_u64(t->rows, t->nr_rows, sizeof(*t->rows),
				    offsetof(struct uw_row, vaddr), vaddr);

	return lo ? &t->rows[lo - 1] : NULL;
}

void uw_table__free(struct uw_table *t)
{
	if (!t)
		return;
	free(t->rows);
	free(t);
}
