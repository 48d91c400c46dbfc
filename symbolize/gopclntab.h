/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Go's .gopclntab function table: PC -> function name for Go binaries stripped of .symtab
 * (go build -ldflags=-s keeps .gopclntab, since the Go runtime needs it for tracebacks).
 * Hand-written: no Debian C library reads it (only Go's own debug/gosym does).
 */
#ifndef KILN_SYMBOLIZE_GOPCLNTAB_H
#define KILN_SYMBOLIZE_GOPCLNTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Called once per function; a nonzero return stops the walk and is returned. */
typedef int (*gopclntab_fn)(void *ctx, uint64_t start, uint64_t size, const char *name);

/*
 * Walks the function table of the .gopclntab section contents DATA/LEN (Go 1.18+ layouts,
 * magics 0xfffffff0 and 0xfffffff1), calling FN with ELF virtual addresses. TEXT_START is
 * the address of the .text section, used when the header's own (unrelocated in PIE) is 0.
 * BIG_ENDIAN is the ELF file's byte order. Returns 0, -ENOTSUP for older Go layouts,
 * -EINVAL for a malformed table, or FN's nonzero return.
 */
int gopclntab__walk(const void *data, size_t len, bool big_endian, uint64_t text_start,
		    gopclntab_fn fn, void *ctx);

#endif
