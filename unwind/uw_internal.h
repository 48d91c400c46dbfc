/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside the unwind-table builder: what unwind.c (files, CIEs/FDEs, the table's layout),
 * cfa.c (each FDE's CFA program, run once) and unwind_libdw.c (the row-by-row reference,
 * tests and bench only) share. Not for other modules.
 */
#ifndef KILN_UW_INTERNAL_H
#define KILN_UW_INTERNAL_H

#include <elfutils/libdw.h>
#include <libelf.h>
#include <stdbool.h>
#include <stdint.h>

#include "unwind/unwind.h"

/*
 * Rows one FDE may have (more: the FDE is left out, counted in skipped_fdes). The largest
 * FDEs measured have 574 rows (libLLVM-14), 552 (postgres); the row-by-row reference
 * costs rows^2 / 2 instruction steps per FDE, so a crafted huge FDE would stall it.
 */
#define UW_MAX_FDE_ROWS 4096

/* DWARF x86-64 register of the return address (rip). */
#define UW_REG_RA 16

/* The CFA of glibc's __restore_rt: the interrupted rsp, uc_mcontext slot 15 at rsp+40. */
#define UW_SIGFRAME_RSP_OFF 160

/* A register's rule, as DW_CFA_* instructions set it. */
enum uw_reg_how {
	UW_REG_UNDEFINED,
	UW_REG_SAME,
	UW_REG_OFFSET, /* saved at CFA + off */
	UW_REG_VAL_OFFSET, /* is CFA + off */
	UW_REG_REGISTER, /* in another register */
	UW_REG_EXPR, /* saved at the address expression [expr, expr + len) computes */
	UW_REG_VAL_EXPR, /* is what the expression computes */
};

struct uw_reg_rule {
	uint8_t how; /* enum uw_reg_how */
	int64_t off;
	const uint8_t *expr;
	uint64_t len;
};

enum uw_cfa_how {
	UW_CFA_UNDEFINED, /* no instruction defined it yet */
	UW_CFA_REG, /* reg + off */
	UW_CFA_EXPR, /* [expr, expr + len) */
	UW_CFA_INVALID, /* an offset or register change applied to an expression */
};

/* The rules of one row that the walker can use: the CFA, the return address and rbp. */
struct uw_cfa_state {
	uint8_t cfa_how; /* enum uw_cfa_how */
	uint64_t cfa_reg, cfa_off;
	const uint8_t *cfa_expr;
	uint64_t cfa_len;
	struct uw_reg_rule ra, rbp;
};

/* What an FDE needs from its CIE. */
struct uw_cie {
	uint64_t code_align;
	int64_t data_align;
	uint8_t fde_enc; /* 'R' (DW_EH_PE_*) */
	bool sized_aug; /* 'z': FDEs carry a length-prefixed augmentation block */
	bool signal; /* 'S' */
	/* the initial instructions ran and the return-address column is a usable number */
	bool usable;
	struct uw_cfa_state init; /* the rows' state before the FDE's instructions */
};

/* One FDE with code: where its converted rows are in builder.rows. */
struct fde_span {
	uint64_t lo, hi;
	size_t first, count;
	bool signal; /* its rows are the SIGNAL command */
};

struct builder {
	Elf *elf;
	const unsigned char *ident; /* e_ident, as dwarf_next_cfi wants it */
	Dwarf_CFI *cfi; /* the row-by-row reference's alone */
	Elf_Data *eh; /* the .eh_frame bytes */
	uint64_t eh_vaddr;
	struct uw_row *rows; /* converted rows, FDE by FDE */
	size_t nr_rows, cap_rows;
	struct fde_span *spans;
	size_t nr_spans, cap_spans;
	struct uw_table_stats stats;
	/* the last CIE looked at (an FDE's CIE is nearly always the previous one) */
	Dwarf_Off cie_off;
	bool cie_ok;
	struct uw_cie cie;
	/* the FDE being converted: its first row, counts, whether a row is SIGNAL */
	size_t fde_first;
	struct uw_table_stats fde_st;
	bool fde_signal;
};

/*
 * Appends the rows of one FDE covering [LO, HI): INSNS..END are its CFA instructions
 * (NULL when its augmentation block can't be read), b->cie its CIE. Returns 0, 1 when the
 * FDE is unusable (its rows are taken back), or -ENOMEM.
 */
typedef int (*uw_fde_rows_fn)(struct builder *b, const Dwarf_FDE *fde, const uint8_t *insns,
			      const uint8_t *end, uint64_t lo, uint64_t hi);

/* cfa.c: the one-pass interpreter (uw_fde_rows_fn), and a CIE's initial state. */
int uw_fde_rows(struct builder *b, const Dwarf_FDE *fde, const uint8_t *insns, const uint8_t *end,
		uint64_t lo, uint64_t hi);
void uw_cie_init(struct builder *b, const Dwarf_CIE *ce, struct uw_cie *cie);
/*
 * cfa.c: the end of a row's classification, for both row sources. RBP_HOW: KILN_UW_RBP_*
 * (AT_CFA: saved at CFA + RBP_OFF), or -1 for a rule the walker can't apply; PLT: the PLT
 * threshold, or -1 for no PLT row. Returns 0 (RULE's rbp set) or the command for the row.
 */
int uw_rule_finish(struct kiln_uw_rule *rule, int rbp_how, int64_t rbp_off, int plt);

/* unwind.c: the row sink both row sources feed, FDE by FDE. */
void uw_fde_begin(struct builder *b);
/* Returns 0, 1 when the FDE already has UW_MAX_FDE_ROWS rows, or -ENOMEM. */
int uw_fde_row(struct builder *b, uint64_t addr, uint16_t cmd, const struct kiln_uw_rule *rule);
/* Records the FDE's rows as the span [LO, HI). Returns 0 or -ENOMEM. */
int uw_fde_end(struct builder *b, uint64_t lo, uint64_t hi);
/* Takes the FDE's rows back. Returns 1 (add_fde's "unusable"). */
int uw_fde_drop(struct builder *b);

/* unwind.c: LEB128 and DW_EH_PE readers; 0 or -ENOEXEC (runs past END, bad encoding). */
int uw_read_uleb(const uint8_t **p, const uint8_t *end, uint64_t *out);
int uw_read_sleb(const uint8_t **p, const uint8_t *end, int64_t *out);
int uw_read_fixed(const uint8_t **p, const uint8_t *end, size_t n, uint64_t *out);
int uw_read_pe_addr(const uint8_t **p, const uint8_t *end, uint8_t enc, uint64_t field_vaddr,
		    uint64_t data_base, uint64_t *out);

/* unwind.c: builds the table of the ELF file at FD with ROWS as the row source. */
int uw_table_build_fd(int fd, uw_fde_rows_fn rows, struct uw_table **out);

#endif
