/* SPDX-License-Identifier: Apache-2.0 */
/* Request body compression: none, gzip (zlib) or zstd (libzstd). */
#ifndef KILN_EXPORTER_COMPRESS_H
#define KILN_EXPORTER_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"

/* The Content-Encoding value for C, or NULL for none. */
const char *compress__encoding(enum kiln_compression c);

/* Parses "none", "gzip" or "zstd". Returns 0 or -EINVAL. */
int compress__parse(const char *s, enum kiln_compression *c);

/*
 * Compresses N bytes at IN with C into a malloc'd *OUT of *OUTLEN bytes (caller frees;
 * for none, a copy). Returns 0, -ENOMEM or -EIO (library failure).
 */
int compress__run(enum kiln_compression c, const void *in, size_t n, uint8_t **out, size_t *outlen);

/*
 * Reverses compress__run() for ENCODING (NULL/"" none, "gzip", "zstd"), refusing output
 * above MAX bytes. Returns 0 with a malloc'd *OUT, or -EINVAL / -EFBIG / -ENOMEM / -EIO.
 */
int compress__undo(const char *encoding, const void *in, size_t n, size_t max, uint8_t **out,
		   size_t *outlen);

#endif
