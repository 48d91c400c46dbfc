// SPDX-License-Identifier: Apache-2.0
/*
 * Each FDE's CFA program, run once, front to back, into the FDE's rows (uw_internal.h);
 * unwind.c says why this file exists rather than a per-row query.
 *
 * The interpreter keeps the rules of the CFA, the return address (16) and rbp (6) only:
 * the walker uses nothing else, and every other instruction is still decoded in full (its
 * operands, register-number bound and block lengths checked) so a malformed program is
 * caught wherever it is malformed. The state each row starts from is x86-64's default (rbp
 * and the return address "same value", no CFA) with the CIE's initial instructions run on
 * it; DW_CFA_restore returns a register to that state. A program this file can't run (an
 * unknown opcode, an instruction cut short, restore_state with nothing remembered,
 * remember_state nested deeper than UW_MAX_STATE_DEPTH, an advance or restore in a CIE, more
 * than UW_MAX_FDE_ROWS rows) makes its FDE unusable: no row, counted in skipped_fdes.
 *
 * A row starts where an advance first moves the location past the previous row's start
 * (advances of 0, and set_loc backwards, make none) and holds the rules in force after
 * every instruction before that advance; the last row runs to the FDE's end, and an advance
 * to or past the end stops the program (what follows never applies to the FDE's code).
 */
#include <dwarf.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "unwind/uw_internal.h"

/*
 * remember_state levels one FDE may nest. Compilers nest one or two (a state per branch
 * that leaves the function early); each level costs a copy of the three rules.
 */
#define UW_MAX_STATE_DEPTH 32

/*
 * Register numbers from this one on are malformed: x86-64 numbers fewer than 130, and
 * elfutils stops at the same bound, so tables built either way agree on such input.
 */
#define UW_MAX_REGNO (INT32_MAX / 8)

struct cfa_run {
	const struct uw_cie *cie;
	bool in_cie; /* running the CIE's initial instructions: no advance, no restore */
	struct uw_cfa_state st;
	struct uw_cfa_state saved[UW_MAX_STATE_DEPTH];
	size_t depth;
	uint64_t loc;
	bool moved; /* the last instruction moved loc */
	const uint8_t *sec; /* .eh_frame, at sec_vaddr (set_loc's pc-relative base) */
	uint64_t sec_vaddr;
};

static int set_rule(struct cfa_run *r, uint64_t reg, uint8_t how, uint64_t off, const uint8_t *expr,
		    uint64_t len)
{
	struct uw_reg_rule *rr = NULL;

	if (reg >= UW_MAX_REGNO)
		return -ENOEXEC;
	if (reg == UW_REG_RA)
		rr = &r->st.ra;
	else if (reg == KILN_UW_REG_RBP)
		rr = &r->st.rbp;
	if (rr)
		*rr = (struct uw_reg_rule){
			.how = how, .off = (int64_t)off, .expr = expr, .len = len
		};
	return 0;
}

static int restore_rule(struct cfa_run *r, uint64_t reg)
{
	if (r->in_cie || reg >= UW_MAX_REGNO)
		return -ENOEXEC;
	if (reg == UW_REG_RA)
		r->st.ra = r->cie->init.ra;
	else if (reg == KILN_UW_REG_RBP)
		r->st.rbp = r->cie->init.rbp;
	return 0;
}

static int advance(struct cfa_run *r, uint64_t delta)
{
	if (r->in_cie)
		return -ENOEXEC;
	/* unsigned: a crafted factor wraps, as the location arithmetic does everywhere */
	r->loc += delta * r->cie->code_align;
	r->moved = true;
	return 0;
}

/* A register operand then a factored offset (uleb, or sleb when SF); *OFF is unfactored. */
static int reg_and_off(const uint8_t **p, const uint8_t *end, const struct cfa_run *r, bool sf,
		       uint64_t *reg, uint64_t *off)
{
	int64_t s;

	if (uw_read_uleb(p, end, reg))
		return -ENOEXEC;
	if (sf) {
		if (uw_read_sleb(p, end, &s))
			return -ENOEXEC;
		*off = (uint64_t)s;
	} else if (uw_read_uleb(p, end, off)) {
		return -ENOEXEC;
	}
	*off *= (uint64_t)r->cie->data_align;
	return 0;
}

/* A register operand then a uleb-sized block: *EXPR, *LEN. */
static int reg_and_block(const uint8_t **p, const uint8_t *end, uint64_t *reg, const uint8_t **expr,
			 uint64_t *len)
{
	if (uw_read_uleb(p, end, reg) || uw_read_uleb(p, end, len) || *len > (uint64_t)(end - *p))
		return -ENOEXEC;
	*expr = *p;
	*p += *len;
	return 0;
}

/* The CFA instructions that set the CFA rule. Returns 0, -ENOEXEC, or 1 for another opcode. */
static int step_cfa(struct cfa_run *r, uint8_t op, const uint8_t **p, const uint8_t *end)
{
	struct uw_cfa_state *st = &r->st;
	uint64_t reg, off, v;
	int64_t s;

	switch (op) {
	case DW_CFA_def_cfa:
	case DW_CFA_def_cfa_sf:
		if (op == DW_CFA_def_cfa ? uw_read_uleb(p, end, &reg) || uw_read_uleb(p, end, &off)
					 : reg_and_off(p, end, r, true, &reg, &off))
			return -ENOEXEC;
		st->cfa_how = UW_CFA_REG;
		st->cfa_reg = reg;
		st->cfa_off = off;
		return 0;
	case DW_CFA_def_cfa_register:
	case DW_CFA_def_cfa_offset:
	case DW_CFA_def_cfa_offset_sf:
		/* V: the new register, or the new offset */
		if (op == DW_CFA_def_cfa_offset_sf) {
			if (uw_read_sleb(p, end, &s))
				return -ENOEXEC;
			v = (uint64_t)s * (uint64_t)r->cie->data_align;
		} else if (uw_read_uleb(p, end, &v)) {
			return -ENOEXEC;
		}
		/* half of a register rule applied to an expression (or to none) is no rule */
		if (st->cfa_how != UW_CFA_REG)
			st->cfa_how = UW_CFA_INVALID;
		else if (op == DW_CFA_def_cfa_register)
			st->cfa_reg = v;
		else
			st->cfa_off = v;
		return 0;
	case DW_CFA_def_cfa_expression:
		if (uw_read_uleb(p, end, &off) || off > (uint64_t)(end - *p))
			return -ENOEXEC;
		st->cfa_how = UW_CFA_EXPR;
		st->cfa_expr = *p;
		st->cfa_len = off;
		*p += off;
		return 0;
	default:
		return 1;
	}
}

/* The instructions that set a register's rule. Returns 0, -ENOEXEC, or 1 for another opcode. */
static int step_reg(struct cfa_run *r, uint8_t op, const uint8_t **p, const uint8_t *end)
{
	const uint8_t *expr;
	uint64_t reg, off, len;
	bool val;

	switch (op) {
	case DW_CFA_undefined:
	case DW_CFA_same_value:
		if (uw_read_uleb(p, end, &reg))
			return -ENOEXEC;
		return set_rule(r, reg, op == DW_CFA_undefined ? UW_REG_UNDEFINED : UW_REG_SAME, 0,
				NULL, 0);
	case DW_CFA_offset_extended:
	case DW_CFA_offset_extended_sf:
	case DW_CFA_GNU_negative_offset_extended:
	case DW_CFA_val_offset:
	case DW_CFA_val_offset_sf:
		val = op == DW_CFA_val_offset || op == DW_CFA_val_offset_sf;
		if (reg_and_off(p, end, r,
				op == DW_CFA_offset_extended_sf || op == DW_CFA_val_offset_sf, &reg,
				&off))
			return -ENOEXEC;
		if (op == DW_CFA_GNU_negative_offset_extended)
			off = -off; /* the obsolete spelling of a negative offset_extended_sf */
		return set_rule(r, reg, val ? UW_REG_VAL_OFFSET : UW_REG_OFFSET, off, NULL, 0);
	case DW_CFA_register:
		if (uw_read_uleb(p, end, &reg) || uw_read_uleb(p, end, &off))
			return -ENOEXEC;
		return set_rule(r, reg, UW_REG_REGISTER, off, NULL, 0);
	case DW_CFA_expression:
	case DW_CFA_val_expression:
		if (reg_and_block(p, end, &reg, &expr, &len))
			return -ENOEXEC;
		return set_rule(r, reg, op == DW_CFA_expression ? UW_REG_EXPR : UW_REG_VAL_EXPR, 0,
				expr, len);
	case DW_CFA_restore_extended:
		if (uw_read_uleb(p, end, &reg))
			return -ENOEXEC;
		return restore_rule(r, reg);
	default:
		return 1;
	}
}

/* Everything else: location moves, the state stack, no-ops. Returns 0 or -ENOEXEC. */
static int step_other(struct cfa_run *r, uint8_t op, const uint8_t **p, const uint8_t *end)
{
	static const uint8_t adv_len[] = { [DW_CFA_advance_loc1] = 1,
					   [DW_CFA_advance_loc2] = 2,
					   [DW_CFA_advance_loc4] = 4,
					   [DW_CFA_MIPS_advance_loc8] = 8 };
	uint64_t v;

	switch (op) {
	case DW_CFA_nop:
	case DW_CFA_GNU_window_save: /* SPARC's register windows: no rule of ours */
		return 0;
	case DW_CFA_advance_loc1:
	case DW_CFA_advance_loc2:
	case DW_CFA_advance_loc4:
	case DW_CFA_MIPS_advance_loc8:
		if (uw_read_fixed(p, end, adv_len[op], &v))
			return -ENOEXEC;
		return advance(r, v);
	case DW_CFA_set_loc:
		/* the FDE's own address encoding; the result is an address, not a delta */
		if (r->in_cie || uw_read_pe_addr(p, end, r->cie->fde_enc,
						 r->sec_vaddr + (uint64_t)(*p - r->sec), 0, &v))
			return -ENOEXEC;
		r->loc = v;
		r->moved = true;
		return 0;
	case DW_CFA_remember_state:
		if (r->depth == UW_MAX_STATE_DEPTH)
			return -ENOEXEC;
		r->saved[r->depth++] = r->st;
		return 0;
	case DW_CFA_restore_state:
		if (!r->depth)
			return -ENOEXEC;
		r->st = r->saved[--r->depth];
		return 0;
	case DW_CFA_GNU_args_size:
		return uw_read_uleb(p, end, &v);
	default:
		return -ENOEXEC; /* an opcode this file does not know */
	}
}

/* Runs the instruction at *P (advancing it). Returns 0 or -ENOEXEC. */
static int step(struct cfa_run *r, const uint8_t **p, const uint8_t *end)
{
	uint8_t op = *(*p)++;
	uint64_t off;
	int err;

	r->moved = false;
	/* the three opcodes with an operand in their low six bits */
	switch (op & 0xc0) {
	case DW_CFA_advance_loc:
		return advance(r, op & 0x3f);
	case DW_CFA_offset:
		if (uw_read_uleb(p, end, &off))
			return -ENOEXEC;
		return set_rule(r, op & 0x3f, UW_REG_OFFSET, off * (uint64_t)r->cie->data_align,
				NULL, 0);
	case DW_CFA_restore:
		return restore_rule(r, op & 0x3f);
	default:
		break;
	}
	err = step_cfa(r, op, p, end);
	if (err <= 0)
		return err;
	err = step_reg(r, op, p, end);
	if (err <= 0)
		return err;
	return step_other(r, op, p, end);
}

static bool expr_op(const uint8_t **p, const uint8_t *end, uint8_t atom)
{
	if (*p >= end || **p != atom)
		return false;
	(*p)++;
	return true;
}

/* An expression op with one sleb operand (DW_OP_bregN). */
static bool expr_op_sleb(const uint8_t **p, const uint8_t *end, uint8_t atom, int64_t *v)
{
	return expr_op(p, end, atom) && uw_read_sleb(p, end, v) == 0;
}

/* CFA expression "bregx REG OFF" alone: the same as def_cfa REG, OFF. */
static bool expr_bregx(const uint8_t *p, uint64_t len, uint64_t *reg, int64_t *off)
{
	const uint8_t *end = p + len;

	return expr_op(&p, end, DW_OP_bregx) && !uw_read_uleb(&p, end, reg) &&
	       !uw_read_sleb(&p, end, off) && p == end;
}

/* CFA expression "breg7|breg6 OFF; deref": the CFA is loaded from rsp|rbp + OFF. */
static bool expr_deref(const uint8_t *p, uint64_t len, uint8_t *reg, int64_t *off)
{
	const uint8_t *end = p + len;
	uint8_t atom = len ? *p : 0;

	if ((atom != DW_OP_breg6 && atom != DW_OP_breg7) || !expr_op_sleb(&p, end, atom, off) ||
	    !expr_op(&p, end, DW_OP_deref) || p != end)
		return false;
	*reg = atom == DW_OP_breg7 ? KILN_UW_REG_RSP : KILN_UW_REG_RBP;
	return true;
}

/*
 * The canonical PLT CFA: breg7 8; breg16 0; lit15; and; litN; ge; lit3; shl; plus, i.e.
 * rsp + 8 + 8 * ((rip & 15) >= N). Returns N, or -1 for any other expression.
 */
static int expr_plt(const uint8_t *p, uint64_t len)
{
	const uint8_t *end = p + len;
	int64_t rsp_off, rip_off;
	uint8_t lit;

	if (!expr_op_sleb(&p, end, DW_OP_breg7, &rsp_off) || rsp_off != 8 ||
	    !expr_op_sleb(&p, end, DW_OP_breg16, &rip_off) || rip_off != 0 ||
	    !expr_op(&p, end, DW_OP_lit15) || !expr_op(&p, end, DW_OP_and) || p >= end)
		return -1;
	lit = *p++;
	if (lit < DW_OP_lit0 || lit > DW_OP_lit15 || !expr_op(&p, end, DW_OP_ge) ||
	    !expr_op(&p, end, DW_OP_lit3) || !expr_op(&p, end, DW_OP_shl) ||
	    !expr_op(&p, end, DW_OP_plus) || p != end)
		return -1;
	return lit - DW_OP_lit0;
}

/* Whether R leaves the register unknowable: undefined, or an empty expression. */
static bool rule_unknown(const struct uw_reg_rule *r)
{
	return r->how == UW_REG_UNDEFINED ||
	       ((r->how == UW_REG_EXPR || r->how == UW_REG_VAL_EXPR) && !r->len);
}

/*
 * Whether R says "saved at CFA + *OFF": an offset rule, or an expression that is
 * plus_uconst N alone (an expression rule starts with the CFA on its stack).
 */
static bool saved_at_cfa(const struct uw_reg_rule *r, int64_t *off)
{
	const uint8_t *p = r->expr, *end;
	uint64_t n;

	if (r->how == UW_REG_OFFSET) {
		*off = r->off;
		return true;
	}
	if (r->how != UW_REG_EXPR)
		return false;
	end = p + r->len; /* not before: other rules have no expression (NULL) */
	if (!expr_op(&p, end, DW_OP_plus_uconst) || uw_read_uleb(&p, end, &n) || p != end)
		return false;
	*off = (int64_t)n;
	return true;
}

static bool fits_s32(int64_t v)
{
	return v >= INT32_MIN && v <= INT32_MAX;
}

static int uns(uint8_t why)
{
	return KILN_UW_CMD(KILN_UW_CMD_UNSUPPORTED, why);
}

/* The CFA part of classify: 0 with RULE's CFA set and *PLT (-1: not a PLT row), or a command. */
static int classify_cfa(const struct uw_cfa_state *s, struct kiln_uw_rule *rule, int *plt)
{
	uint64_t reg = s->cfa_reg;
	int64_t off = (int64_t)s->cfa_off;

	*plt = -1;
	if (s->cfa_how == UW_CFA_REG ||
	    (s->cfa_how == UW_CFA_EXPR && expr_bregx(s->cfa_expr, s->cfa_len, &reg, &off))) {
		if (reg != KILN_UW_REG_RSP && reg != KILN_UW_REG_RBP)
			return uns(KILN_UW_UNS_CFA_REG);
		rule->cfa_reg = (uint8_t)reg;
	} else if (s->cfa_how == UW_CFA_EXPR &&
		   expr_deref(s->cfa_expr, s->cfa_len, &rule->cfa_reg, &off)) {
		rule->flags = KILN_UW_F_DEREF;
	} else {
		/* an undefined CFA is no more usable than an unknown expression */
		*plt = s->cfa_how == UW_CFA_EXPR ? expr_plt(s->cfa_expr, s->cfa_len) : -1;
		if (*plt < 0)
			return uns(KILN_UW_UNS_CFA_EXPR);
		off = 0;
	}
	/* an offset the rule can't hold: no reason fits better than "not an expression of ours" */
	if (!fits_s32(off))
		return uns(KILN_UW_UNS_CFA_EXPR);
	rule->cfa_off = (int32_t)off;
	return 0;
}

/*
 * The walker's rule for state S (returns 0, *RULE set) or its command (returned; *RULE
 * zeroed). The walker's order: a signal frame needs nothing else; an unknowable return
 * address ends the walk whatever the CFA; then the CFA, the return address and rbp, the
 * first one the walker can't apply naming the reason. Returns -1 when the CFA rule is
 * invalid (the FDE is then unusable).
 */
static int classify(const struct uw_cfa_state *s, bool signal, struct kiln_uw_rule *rule)
{
	int64_t off;
	uint8_t reg;
	int plt, cmd, rbp_how;

	memset(rule, 0, sizeof(*rule));
	if (s->cfa_how == UW_CFA_INVALID)
		return -1;
	if (signal && s->cfa_how == UW_CFA_EXPR &&
	    expr_deref(s->cfa_expr, s->cfa_len, &reg, &off) && reg == KILN_UW_REG_RSP &&
	    off == UW_SIGFRAME_RSP_OFF)
		return KILN_UW_CMD(KILN_UW_CMD_SIGNAL, 0);
	if (rule_unknown(&s->ra))
		return KILN_UW_CMD(KILN_UW_CMD_STOP, 0);
	cmd = classify_cfa(s, rule, &plt);
	if (cmd)
		return cmd;
	if (!saved_at_cfa(&s->ra, &off) || off != -8)
		return uns(KILN_UW_UNS_RA);
	off = 0;
	if (rule_unknown(&s->rbp))
		rbp_how = KILN_UW_RBP_UNDEFINED;
	else if (s->rbp.how == UW_REG_SAME)
		rbp_how = KILN_UW_RBP_SAME;
	else
		rbp_how = saved_at_cfa(&s->rbp, &off) ? KILN_UW_RBP_AT_CFA : -1;
	return uw_rule_finish(rule, rbp_how, off, plt);
}

int uw_rule_finish(struct kiln_uw_rule *rule, int rbp_how, int64_t rbp_off, int plt)
{
	if (rbp_how < 0 || (rbp_how == KILN_UW_RBP_AT_CFA && !fits_s32(rbp_off)))
		return uns(KILN_UW_UNS_RBP);
	rule->rbp_how = (uint8_t)rbp_how;
	if (rbp_how == KILN_UW_RBP_AT_CFA)
		rule->rbp_off = (int32_t)rbp_off;
	if (plt < 0)
		return 0;
	/* the PLT command leaves rbp as it is: a PLT row that moves rbp is not applied */
	return rbp_how == KILN_UW_RBP_SAME ? KILN_UW_CMD(KILN_UW_CMD_PLT, plt)
					   : uns(KILN_UW_UNS_RBP);
}

static void run_init(struct cfa_run *r, const struct builder *b, const struct uw_cie *cie)
{
	r->cie = cie;
	r->in_cie = false;
	r->depth = 0;
	r->loc = 0;
	r->moved = false;
	r->sec = b->eh->d_buf;
	r->sec_vaddr = b->eh_vaddr;
}

void uw_cie_init(struct builder *b, const Dwarf_CIE *ce, struct uw_cie *cie)
{
	const uint8_t *p = ce->initial_instructions;
	struct cfa_run r;
	bool ok = true;

	cie->code_align = ce->code_alignment_factor;
	cie->data_align = ce->data_alignment_factor;
	cie->sized_aug = ce->augmentation && ce->augmentation[0] == 'z';
	cie->signal = cie->sized_aug && strchr(ce->augmentation, 'S');
	run_init(&r, b, cie);
	r.in_cie = true;
	/* x86-64's rules before any CIE instruction: callee-saved registers keep their value */
	memset(&r.st, 0, sizeof(r.st));
	r.st.cfa_how = UW_CFA_UNDEFINED;
	r.st.ra.how = UW_REG_SAME;
	r.st.rbp.how = UW_REG_SAME;
	while (ok && p < ce->initial_instructions_end)
		ok = step(&r, &p, ce->initial_instructions_end) == 0;
	cie->init = r.st;
	/* the column is reported as an int by the row-by-row path: a negative one failed there */
	cie->usable = ok && (int)ce->return_address_register >= 0;
}

/* Appends the row at ADDR from S. Returns 0, 1 (the FDE is unusable) or -ENOMEM. */
static int add_row(struct builder *b, uint64_t addr, const struct uw_cfa_state *s)
{
	struct kiln_uw_rule rule;
	int cmd = classify(s, b->cie.signal, &rule);

	if (cmd < 0)
		return 1;
	return uw_fde_row(b, addr, (uint16_t)cmd, &rule);
}

int uw_fde_rows(struct builder *b, const Dwarf_FDE *fde, const uint8_t *insns, const uint8_t *end,
		uint64_t lo, uint64_t hi)
{
	const uint8_t *p = insns;
	uint64_t row_at = lo;
	struct cfa_run r;
	int err;

	(void)fde;
	if (!p || !b->cie.usable)
		return uw_fde_drop(b);
	run_init(&r, b, &b->cie);
	r.st = b->cie.init;
	r.loc = lo;
	while (p < end) {
		if (step(&r, &p, end))
			return uw_fde_drop(b);
		if (!r.moved || r.loc <= row_at)
			continue;
		err = add_row(b, row_at, &r.st);
		if (err)
			return err < 0 ? err : uw_fde_drop(b);
		if (r.loc >= hi)
			return uw_fde_end(b, lo, hi);
		row_at = r.loc;
	}
	err = add_row(b, row_at, &r.st);
	if (err)
		return err < 0 ? err : uw_fde_drop(b);
	return uw_fde_end(b, lo, hi);
}
