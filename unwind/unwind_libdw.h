/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The unwind-table builder's row-by-row reference (unwind_libdw.c): for tests and
 * kiln-bench only, never the agent.
 */
#ifndef KILN_UNWIND_LIBDW_H
#define KILN_UNWIND_LIBDW_H

#include "unwind/unwind.h"

/*
 * As uw_table__from_fd, each FDE's rows asked of libdw one by one (its CFA program re-run
 * from the start for every row): the same table, at the cost the one-pass builder avoids.
 * Returns what uw_table__from_fd returns (-ENOEXEC also when libdw can't open the CFI).
 */
int uw_table__from_fd_libdw(int fd, struct uw_table **out);

#endif
