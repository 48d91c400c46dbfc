/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Native unwind tables as the BPF walker reads them: shared between bpf/profile.bpf.c and
 * user space (unwind/, aggregator/unwinder.c). Fixed-width types only.
 *
 * User space turns each executable file's .eh_frame into rows (unwind/unwind.h), then into
 * 4-byte deltas {addr_low, rule} cut into 64 KiB pages of the file's virtual addresses.
 * Every page that holds code starts with a delta at addr_low 0 (the rule in force at the
 * page start), so the walker never looks outside its page. `rule` is an index into the
 * global rule array, or a command when KILN_UW_CMD_FLAG is set.
 */
#ifndef KILN_BPF_UNWIND_H
#define KILN_BPF_UNWIND_H

#define KILN_UW_PAGE_BITS 16
#define KILN_UW_PAGE_MASK ((1u << KILN_UW_PAGE_BITS) - 1)
/* A page holds at most 65536 deltas: the binary search needs at most 17 steps. */
#define KILN_UW_BSEARCH_STEPS 17
#define KILN_UW_MAX_RULES 32768

/* Register numbers (DWARF x86-64) a rule can base the CFA on. */
#define KILN_UW_REG_RSP 7
#define KILN_UW_REG_RBP 6

/* How the caller's rbp is recovered. */
enum kiln_uw_rbp {
	KILN_UW_RBP_SAME = 0, /* unchanged (callee-saved, not touched yet) */
	KILN_UW_RBP_AT_CFA = 1, /* saved at CFA + rbp_off */
	KILN_UW_RBP_UNDEFINED = 2, /* lost: the walk goes on with rbp = 0 */
};

/* Rule flags. */
#define KILN_UW_F_DEREF 0x1 /* CFA = *(base + cfa_off) (DW_OP_bregN off; DW_OP_deref) */

/*
 * One de-duplicated rule: CFA = (cfa_reg == RSP ? rsp : rbp) + cfa_off, the return address
 * at CFA - 8 (the only RA rule the walker supports; anything else is a command), rbp per
 * rbp_how. 12 bytes; offsets are 32-bit (redis has a 1 MiB frame).
 */
struct kiln_uw_rule {
	__u8 cfa_reg;
	__u8 rbp_how;
	__u8 flags;
	__u8 reserved;
	__s32 cfa_off;
	__s32 rbp_off;
};

#define KILN_UW_CMD_FLAG 0x8000
/* Commands: (KILN_UW_CMD_FLAG | kind << 8 | arg). */
enum kiln_uw_cmd_kind {
	KILN_UW_CMD_INVALID = 0, /* no FDE covers the pc (gap between functions) */
	KILN_UW_CMD_STOP = 1, /* the return address is undefined: the outermost frame */
	KILN_UW_CMD_PLT = 2, /* CFA = rsp + 8 + ((pc & 15) >= arg ? 8 : 0) */
	KILN_UW_CMD_SIGNAL = 3, /* __restore_rt: registers from the rt_sigframe at rsp */
	KILN_UW_CMD_UNSUPPORTED = 4, /* a rule the walker can't apply; arg says why */
};
#define KILN_UW_CMD(kind, arg) (KILN_UW_CMD_FLAG | ((kind) << 8) | ((arg)&0xff))
#define KILN_UW_CMD_KIND(rule) (((rule) >> 8) & 0x7f)
#define KILN_UW_CMD_ARG(rule) ((rule)&0xff)

/* Why a rule is unsupported (arg of KILN_UW_CMD_UNSUPPORTED), for counters and tests. */
enum kiln_uw_unsupported {
	KILN_UW_UNS_CFA_REG = 1, /* CFA based on a register other than rsp/rbp */
	KILN_UW_UNS_CFA_EXPR = 2, /* a CFA expression that is neither PLT nor signal */
	KILN_UW_UNS_RA = 3, /* return address not at CFA - 8 */
	KILN_UW_UNS_RBP = 4, /* rbp in a register or an expression */
};

struct kiln_uw_delta {
	__u16 addr_low; /* low 16 bits of the file virtual address where the rule starts */
	__u16 rule;
};

/* Key of the page map: one entry per 64 KiB page of a loaded table. */
struct kiln_uw_page_key {
	__u32 table_id;
	__u32 page; /* file virtual address >> KILN_UW_PAGE_BITS */
};

struct kiln_uw_page {
	__u32 first; /* index of the page's first delta in the global delta array */
	__u32 count;
};

/*
 * Key of the LPM trie that maps (process, address) to a loaded table: the data part is the
 * tgid then the address, both big-endian, so a prefix of 32 + n bits covers an aligned
 * 2^(64 - n)-byte range of one process. Each process also has a marker entry of prefix 32
 * (any address): a lookup that finds only it means "known process, unknown address".
 */
struct kiln_uw_map_key {
	__u32 prefixlen;
	__u32 tgid_be;
	__u64 addr_be;
};

#define KILN_UW_MAP_MARKER 0x1 /* the process marker: no mapping covers the address */
#define KILN_UW_MAP_NO_TABLE 0x2 /* an executable mapping without tables: frame pointers */

struct kiln_uw_mapping {
	__u32 table_id; /* table of the mapped file; meaningful without the flags above */
	__u32 flags;
	__u64 bias; /* file virtual address = pc - bias */
	/*
	 * The whole mapping [start, end) (0, 0 for the marker): the walker keeps the last
	 * mapping it found and looks up the trie only for a pc outside it, since most callers
	 * are in the same file as their callee.
	 */
	__u64 start, end;
};

/*
 * A file with a loaded table, by the identity the kernel sees in a mapping (the inode's
 * superblock device in the kernel's encoding, MAJOR << 20 | MINOR, and its number), so the
 * walk can use the table of a mapping the agent has not read yet (a process in its first
 * milliseconds, a library just dlopen'd): bpf_find_vma gives the mapping's file, start and
 * offset, and the file's PT_LOAD segments give the bias.
 */
struct kiln_uw_file_key {
	__u64 dev;
	__u64 ino;
};

#define KILN_UW_FILE_LOADS 4

struct kiln_uw_file {
	__u32 table_id;
	__u32 nr_loads;
	struct {
		__u64 off_lo; /* the segment's file offset, page-aligned down */
		__u64 off_hi; /* its end in the file */
		__s64 delta; /* p_offset - p_vaddr: bias = start - pgoff + delta */
	} loads[KILN_UW_FILE_LOADS];
};

#endif
