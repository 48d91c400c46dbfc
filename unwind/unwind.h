/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unwind tables of one ELF file, built from its .eh_frame in user space: for every address
 * an FDE covers, how to find the caller's frame (bpf/unwind.h says how the walker applies
 * it). Built once per file and shared by every process that maps it.
 */
#ifndef KILN_UNWIND_H
#define KILN_UNWIND_H

#include <stddef.h>
#include <stdint.h>

#include <linux/types.h>

#include "bpf/unwind.h"

/*
 * One row: from VADDR up to the next row's VADDR, RULE applies (when CMD is 0) or the
 * command CMD (KILN_UW_CMD(...)). Rows are sorted by VADDR with no two consecutive rows
 * equal; a KILN_UW_CMD_INVALID row ends every run of covered code that the next FDE does
 * not continue (gaps of alignment padding, <= 15 bytes, are not ends). A signal
 * trampoline's SIGNAL row also covers the byte before its FDE when no other FDE does (the
 * walker looks the handler's return address, the trampoline, up at pc - 1).
 */
struct uw_row {
	uint64_t vaddr; /* ELF virtual address (file-relative, as in the symbol table) */
	struct kiln_uw_rule rule; /* meaningful only when cmd == 0; zeroed otherwise */
	uint16_t cmd;
};

struct uw_table_stats {
	uint32_t fdes; /* FDEs read */
	uint32_t cfa_rows; /* rows of the interpreted CFA program (as readelf -wF prints) */
	uint32_t unsupported; /* rows that became KILN_UW_CMD_UNSUPPORTED */
	uint32_t plt, signal, stop; /* rows that became these commands */
	/*
	 * FDEs left out (counted in fdes too): an entry or encoding that can't be read, a CFA
	 * program the builder can't run (unwind/cfa.c says which), or more than 4,096 rows.
	 * Their code is covered by no row, as if they were absent (frame-pointer fallback).
	 */
	uint32_t skipped_fdes;
	uint64_t build_ns; /* time to build the table */
};

struct uw_table {
	struct uw_row *rows;
	size_t nr_rows;
	struct uw_table_stats stats;
};

/*
 * Builds the table of the ELF file open at FD (not consumed; any offset): .eh_frame found
 * through its section, or through PT_GNU_EH_FRAME -> .eh_frame_hdr when sections are
 * stripped. Returns 0 with *OUT set (free with uw_table__free), -ENOENT when the file has
 * no .eh_frame, or no FDE in it that covers code (the caller falls back to frame pointers),
 * -ENOEXEC when it is not a usable ELF file (not x86-64 ET_EXEC/ET_DYN, truncated), or
 * another -errno.
 */
int uw_table__from_fd(int fd, struct uw_table **out);

/* As uw_table__from_fd, for an ELF image in memory (the vDSO): IMAGE is not kept. */
int uw_table__from_mem(const void *image, size_t size, struct uw_table **out);

/*
 * The row in force at VADDR: the last row whose vaddr <= VADDR, or NULL when VADDR is
 * before the first row.
 */
const struct uw_row *uw_table__lookup(const struct uw_table *t, uint64_t vaddr);

/* Frees T; NULL is a no-op. */
void uw_table__free(struct uw_table *t);

#endif
