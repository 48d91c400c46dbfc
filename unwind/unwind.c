// SPDX-License-Identifier: Apache-2.0
/*
 * Unwind tables from .eh_frame (unwind.h says what a table is; bpf/unwind.h how the walker
 * applies its rows).
 *
 * Why libdw rather than our own CFA interpreter: the part of .eh_frame that is easy to get
 * subtly wrong is running the CFA program (DW_CFA_* opcodes, the CIE's initial state,
 * DW_CFA_restore to it, remember/restore_state stacks, the ABI's default rules for registers
 * no instruction mentions, expression blocks of any length). elfutils has run that code over
 * every distribution's binaries for years and is fuzzed; a second interpreter here would be
 * one more thing to keep correct, for nothing the walker needs. libdw hands back each row
 * with its [start, end) range and the rules as DWARF op arrays, which this file classifies
 * into the few shapes the BPF walker can apply.
 *
 * What libdw does not offer and this file does itself: enumerating FDEs gives only their
 * raw bytes (dwarf_next_cfi), so the FDE's encoded pc_begin / pc_range are decoded here
 * (the CIE's 'R' pointer encoding); and dwarf_next_cfi needs the .eh_frame bytes, which,
 * when section headers are stripped, are found here through PT_GNU_EH_FRAME ->
 * .eh_frame_hdr -> eh_frame_ptr (dwarf_getcfi_elf does the same internally but does not
 * expose the data).
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
#include "unwind/unwind.h"

/* Gaps between FDEs up to this many bytes are alignment padding, not ends of code. */
#define UW_MAX_PAD 15

/*
 * Rows one FDE may have. libdw runs an FDE's program from its start for every row asked
 * for, so an FDE costs rows^2 / 2 instruction steps: a crafted file with one huge FDE would
 * stall the agent. The largest FDEs measured have 574 rows (libLLVM-14), 552 (postgres).
 */
#define UW_MAX_FDE_ROWS 4096

/* DWARF x86-64 register of the return address (rip). */
#define UW_REG_RA 16

/* The CFA of glibc's __restore_rt: the interrupted rsp, uc_mcontext slot 15 at rsp+40. */
#define UW_SIGFRAME_RSP_OFF 160

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

/* One FDE with code: where its converted rows are in builder.rows. */
struct fde_span {
	uint64_t lo, hi;
	size_t first, count;
	bool signal; /* its rows are the SIGNAL command */
};

struct builder {
	Elf *elf;
	const unsigned char *ident; /* e_ident, as dwarf_next_cfi wants it */
	Dwarf_CFI *cfi;
	Elf_Data *eh; /* the .eh_frame bytes */
	uint64_t eh_vaddr;
	struct uw_row *rows; /* converted rows, FDE by FDE */
	size_t nr_rows, cap_rows;
	struct fde_span *spans;
	size_t nr_spans, cap_spans;
	struct uw_table_stats stats;
	/* the last CIE looked at (an FDE's CIE is nearly always the previous one) */
	Dwarf_Off cie_off;
	uint8_t cie_enc;
	bool cie_ok;
};

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

static int read_uleb(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
	return read_leb(p, end, false, out);
}

static int read_sleb(const uint8_t **p, const uint8_t *end, int64_t *out)
{
	uint64_t v;
	int err = read_leb(p, end, true, &v);

	if (!err)
		*out = (int64_t)v;
	return err;
}

static int read_fixed(const uint8_t **p, const uint8_t *end, size_t n, uint64_t *out)
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
		return read_fixed(p, end, 8, out);
	case PE_UDATA2:
		return read_fixed(p, end, 2, out);
	case PE_UDATA4:
		return read_fixed(p, end, 4, out);
	case PE_SDATA2:
		err = read_fixed(p, end, 2, &u);
		*out = (uint64_t)(int64_t)(int16_t)u;
		return err;
	case PE_SDATA4:
		err = read_fixed(p, end, 4, &u);
		*out = (uint64_t)(int64_t)(int32_t)u;
		return err;
	case PE_ULEB128:
		return read_uleb(p, end, out);
	case PE_SLEB128:
		err = read_sleb(p, end, &s);
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
static int read_pe_addr(const uint8_t **p, const uint8_t *end, uint8_t enc, uint64_t field_vaddr,
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
 * Decodes an FDE's [pc_begin, pc_begin + pc_range). Returns 0, or -ENOEXEC when its CIE or
 * its encoding cannot be read.
 */
static int fde_range(struct builder *b, const Dwarf_FDE *fde, uint64_t *lo, uint64_t *hi)
{
	const uint8_t *base = b->eh->d_buf;
	const uint8_t *end = fde->end;
	const uint8_t *p = fde->start;
	uint64_t begin, range;

	if (!b->cie_ok || b->cie_off != fde->CIE_pointer) {
		Dwarf_CFI_Entry ce;
		Dwarf_Off next;

		b->cie_off = fde->CIE_pointer;
		b->cie_ok = dwarf_next_cfi(b->ident, b->eh, true, fde->CIE_pointer, &next, &ce) ==
				    0 &&
			    dwarf_cfi_cie_p(&ce) && cie_fde_encoding(&ce.cie, &b->cie_enc) == 0;
		if (!b->cie_ok)
			return -ENOEXEC;
	}
	if (read_pe_addr(&p, end, b->cie_enc, b->eh_vaddr + (uint64_t)(p - base), 0, &begin))
		return -ENOEXEC;
	/* the range is a length: the format of the encoding without its application */
	if (read_pe_value(&p, end, b->cie_enc & PE_FMT_MASK, &range))
		return -ENOEXEC;
	if (begin + range < begin)
		return -ENOEXEC;
	*lo = begin;
	*hi = begin + range;
	return 0;
}

static bool fits_s32(int64_t v)
{
	return v >= INT32_MIN && v <= INT32_MAX;
}

/* The return address / rbp saved at CFA + *OFF ("offset(N)" comes back as cfa; plus_uconst N). */
static bool at_cfa(const Dwarf_Op *ops, size_t n, int64_t *off)
{
	if (n < 1 || n > 2 || ops[0].atom != DW_OP_call_frame_cfa)
		return false;
	if (n == 1) {
		*off = 0;
		return true;
	}
	if (ops[1].atom != DW_OP_plus_uconst)
		return false;
	*off = (int64_t)ops[1].number;
	return true;
}

/*
 * The canonical PLT CFA: breg7 8; breg16 0; lit15; and; litN; ge; lit3; shl; plus, i.e.
 * rsp + 8 + 8 * ((rip & 15) >= N). Returns N, or -1 for any other expression.
 */
static int plt_threshold(const Dwarf_Op *ops, size_t n)
{
	if (n != 9 || ops[0].atom != DW_OP_breg7 || ops[0].number != 8 ||
	    ops[1].atom != DW_OP_breg16 || ops[1].number != 0 || ops[2].atom != DW_OP_lit15 ||
	    ops[3].atom != DW_OP_and || ops[4].atom < DW_OP_lit0 || ops[4].atom > DW_OP_lit15 ||
	    ops[5].atom != DW_OP_ge || ops[6].atom != DW_OP_lit3 || ops[7].atom != DW_OP_shl ||
	    ops[8].atom != DW_OP_plus)
		return -1;
	return ops[4].atom - DW_OP_lit0;
}

static bool is_sigframe_cfa(const Dwarf_Op *ops, size_t n)
{
	return n == 2 && ops[0].atom == DW_OP_breg7 &&
	       (int64_t)ops[0].number == UW_SIGFRAME_RSP_OFF && ops[1].atom == DW_OP_deref;
}

static uint16_t unsupported(uint8_t why)
{
	return KILN_UW_CMD(KILN_UW_CMD_UNSUPPORTED, why);
}

/*
 * Converts the row FR into a rule (returns 0, *RULE set) or a command (returns it; *RULE is
 * then meaningless). The order is the walker's: a signal frame needs nothing else; an
 * undefined return address ends the walk whatever the CFA; then the CFA, the return
 * address and rbp in that order, the first one the walker can't apply naming the reason.
 * Returns -1 when libdw can't report the row (the FDE is then dropped).
 */
static int convert_row(Dwarf_Frame *fr, bool signal, struct kiln_uw_rule *rule)
{
	Dwarf_Op *cfa, *ra, *rbp;
	Dwarf_Op ra_mem[3], rbp_mem[3];
	size_t ncfa, nra, nrbp;
	int64_t off, raoff;
	int plt = -1;

	memset(rule, 0, sizeof(*rule));
	if (dwarf_frame_cfa(fr, &cfa, &ncfa) != 0 ||
	    dwarf_frame_register(fr, UW_REG_RA, ra_mem, &ra, &nra) != 0 ||
	    dwarf_frame_register(fr, KILN_UW_REG_RBP, rbp_mem, &rbp, &nrbp) != 0)
		return -1;

	if (signal && is_sigframe_cfa(cfa, ncfa))
		return KILN_UW_CMD(KILN_UW_CMD_SIGNAL, 0);
	/* nops 0 with ops pointing at our array: "undefined" (ops NULL would be same_value) */
	if (nra == 0 && ra == ra_mem)
		return KILN_UW_CMD(KILN_UW_CMD_STOP, 0);

	if (ncfa == 1 && cfa[0].atom == DW_OP_bregx) {
		/* def_cfa reg, off comes back as one bregx op */
		if (cfa[0].number != KILN_UW_REG_RSP && cfa[0].number != KILN_UW_REG_RBP)
			return unsupported(KILN_UW_UNS_CFA_REG);
		off = (int64_t)cfa[0].number2;
		rule->cfa_reg = (uint8_t)cfa[0].number;
	} else if (ncfa == 2 && (cfa[0].atom == DW_OP_breg6 || cfa[0].atom == DW_OP_breg7) &&
		   cfa[1].atom == DW_OP_deref) {
		off = (int64_t)cfa[0].number;
		rule->cfa_reg = cfa[0].atom == DW_OP_breg7 ? KILN_UW_REG_RSP : KILN_UW_REG_RBP;
		rule->flags = KILN_UW_F_DEREF;
	} else {
		/* an undefined CFA (no ops) is no more usable than an unknown expression */
		plt = plt_threshold(cfa, ncfa);
		if (plt < 0)
			return unsupported(KILN_UW_UNS_CFA_EXPR);
		off = 0;
	}
	/* an offset the rule can't hold: no reason fits better than "not an expression of ours" */
	if (!fits_s32(off))
		return unsupported(KILN_UW_UNS_CFA_EXPR);
	rule->cfa_off = (int32_t)off;

	if (!at_cfa(ra, nra, &raoff) || raoff != -8)
		return unsupported(KILN_UW_UNS_RA);

	if (nrbp == 0) {
		rule->rbp_how = rbp ? KILN_UW_RBP_UNDEFINED : KILN_UW_RBP_SAME;
	} else if (at_cfa(rbp, nrbp, &off) && fits_s32(off)) {
		rule->rbp_how = KILN_UW_RBP_AT_CFA;
		rule->rbp_off = (int32_t)off;
	} else {
		return unsupported(KILN_UW_UNS_RBP);
	}

	if (plt >= 0) {
		/* the PLT command leaves rbp as it is: a PLT row that moves rbp is not applied */
		if (rule->rbp_how != KILN_UW_RBP_SAME)
			return unsupported(KILN_UW_UNS_RBP);
		return KILN_UW_CMD(KILN_UW_CMD_PLT, plt);
	}
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

/*
 * Appends the rows of the FDE covering [LO, HI), row by row as libdw's [start, end) ranges
 * give them. Returns 0, 1 when the FDE is unusable (libdw can't read it, or it has more than
 * UW_MAX_FDE_ROWS rows: its rows are taken back, the range is then covered by no FDE), or
 * -ENOMEM.
 */
static int add_fde(struct builder *b, uint64_t lo, uint64_t hi)
{
	struct uw_table_stats st = { 0 };
	size_t first = b->nr_rows;
	bool signal_fde = false;
	uint64_t addr = lo;
	int err;

	while (addr < hi) {
		Dwarf_Frame *fr = NULL;
		Dwarf_Addr start, end;
		bool signal = false;
		struct kiln_uw_rule rule;
		struct uw_row *row;
		int cmd;

		if (b->nr_rows - first >= UW_MAX_FDE_ROWS ||
		    dwarf_cfi_addrframe(b->cfi, addr, &fr) != 0)
			goto unusable;
		/*
		 * The row in force at ADDR runs to END. Its START is ADDR (the previous row's
		 * end), but libdw may report an earlier one: DW_CFA_restore_state brings back
		 * the start saved with the remembered state, and only the next advance below
		 * ADDR would correct it. The rules it reports are right.
		 */
		if (dwarf_frame_info(fr, &start, &end, &signal) < 0 || start > addr ||
		    end <= addr) {
			free(fr);
			goto unusable;
		}
		/* an advance past the FDE's end makes no row beyond it */
		if (end > hi)
			end = hi;
		err = grow((void **)&b->rows, &b->cap_rows, b->nr_rows + 1, sizeof(*b->rows));
		if (err) {
			free(fr);
			return err;
		}
		cmd = convert_row(fr, signal, &rule);
		free(fr);
		if (cmd < 0)
			goto unusable;
		row = &b->rows[b->nr_rows];
		memset(row, 0, sizeof(*row)); /* padding too: tables compare with memcmp */
		row->vaddr = addr;
		row->cmd = (uint16_t)cmd;
		if (!cmd)
			row->rule = rule;
		if (row->cmd == KILN_UW_CMD(KILN_UW_CMD_SIGNAL, 0))
			signal_fde = true;
		b->nr_rows++;
		st.cfa_rows++;
		count_cmd(&st, row->cmd);
		addr = end;
	}

	err = grow((void **)&b->spans, &b->cap_spans, b->nr_spans + 1, sizeof(*b->spans));
	if (err)
		return err;
	b->spans[b->nr_spans++] = (struct fde_span){ .lo = lo,
						     .hi = hi,
						     .first = first,
						     .count = b->nr_rows - first,
						     .signal = signal_fde };
	b->stats.cfa_rows += st.cfa_rows;
	b->stats.unsupported += st.unsupported;
	b->stats.plt += st.plt;
	b->stats.signal += st.signal;
	b->stats.stop += st.stop;
	return 0;

unusable:
	b->nr_rows = first;
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
	if (read_pe_addr(&p, end, ((const uint8_t *)hdr->d_buf)[1], hdr_ph.p_vaddr + 4,
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

/* Builds the table of ELF (SIZE bytes); T0: when the caller started (for build_ns). */
static int build(Elf *elf, uint64_t size, uint64_t t0, struct uw_table **out)
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
	b.cfi = dwarf_getcfi_elf(elf);
	if (!b.cfi) {
		err = -ENOEXEC;
		goto cleanup;
	}

	for (;;) {
		Dwarf_CFI_Entry e;
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
		if (fde_range(&b, &e.fde, &lo, &hi)) {
			b.stats.skipped_fdes++;
			continue;
		}
		if (lo == hi)
			continue; /* an empty FDE covers nothing */
		r = add_fde(&b, lo, hi);
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

int uw_table__from_fd(int fd, struct uw_table **out)
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
	err = build(elf, (uint64_t)st.st_size, t0, out);
	elf_end(elf);
	return err;
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
	err = build(elf, size, t0, out);

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
