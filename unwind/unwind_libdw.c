// SPDX-License-Identifier: Apache-2.0
/*
 * The row-by-row reference: each row of an FDE asked of libdw (dwarf_cfi_addrframe at the
 * row's address), the way the table builder worked before cfa.c ran each program once.
 * Tests (test_unwind's equality over system files) and kiln-bench unwind use it to show
 * that both give the same tables, and what the one pass saves; the agent never links it.
 */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "unwind/unwind_libdw.h"
#include "unwind/uw_internal.h"

static bool ref_fits_s32(int64_t v)
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
	int plt = -1, how;

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
	if (!ref_fits_s32(off))
		return unsupported(KILN_UW_UNS_CFA_EXPR);
	rule->cfa_off = (int32_t)off;

	if (!at_cfa(ra, nra, &raoff) || raoff != -8)
		return unsupported(KILN_UW_UNS_RA);

	off = 0;
	if (nrbp == 0)
		how = rbp ? KILN_UW_RBP_UNDEFINED : KILN_UW_RBP_SAME;
	else
		how = at_cfa(rbp, nrbp, &off) ? KILN_UW_RBP_AT_CFA : -1;
	return uw_rule_finish(rule, how, off, plt);
}

/*
 * Appends the rows of the FDE covering [LO, HI), row by row as libdw's [start, end) ranges
 * give them (INSNS unused: libdw finds the FDE by address). Returns 0, 1 when the FDE is
 * unusable, or -ENOMEM / -ENOEXEC (the file has no CFI libdw can open).
 */
static int add_fde_libdw(struct builder *b, const Dwarf_FDE *fde, const uint8_t *insns,
			 const uint8_t *insns_end, uint64_t lo, uint64_t hi)
{
	uint64_t addr = lo;
	int err;

	(void)fde;
	(void)insns;
	(void)insns_end;
	if (!b->cfi)
		b->cfi = dwarf_getcfi_elf(b->elf);
	if (!b->cfi)
		return -ENOEXEC;
	while (addr < hi) {
		Dwarf_Frame *fr = NULL;
		Dwarf_Addr start, end;
		bool signal = false;
		struct kiln_uw_rule rule;
		int cmd;

		if (dwarf_cfi_addrframe(b->cfi, addr, &fr) != 0)
			return uw_fde_drop(b);
		/*
		 * The row in force at ADDR runs to END. Its START is ADDR (the previous row's
		 * end), but libdw may report an earlier one: DW_CFA_restore_state brings back
		 * the start saved with the remembered state. The rules it reports are right.
		 */
		if (dwarf_frame_info(fr, &start, &end, &signal) < 0 || start > addr ||
		    end <= addr) {
			free(fr);
			return uw_fde_drop(b);
		}
		/* an advance past the FDE's end makes no row beyond it */
		if (end > hi)
			end = hi;
		cmd = convert_row(fr, signal, &rule);
		free(fr);
		if (cmd < 0)
			return uw_fde_drop(b);
		err = uw_fde_row(b, addr, (uint16_t)cmd, &rule);
		if (err)
			return err < 0 ? err : uw_fde_drop(b);
		addr = end;
	}
	return uw_fde_end(b, lo, hi);
}

int uw_table__from_fd_libdw(int fd, struct uw_table **out)
{
	return uw_table_build_fd(fd, add_fde_libdw, out);
}
