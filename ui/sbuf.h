/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A growable text buffer for the UI's JSON and Prometheus answers. Appends never fail
 * visibly: the first allocation failure latches ->err and later appends do nothing, so a
 * writer checks once at the end instead of after every field.
 */
#ifndef KILN_UI_SBUF_H
#define KILN_UI_SBUF_H

#include <stddef.h>
#include <stdint.h>

struct sbuf {
	char *buf; /* NUL-terminated while err == 0; owned, free with sbuf__release() */
	size_t len, cap;
	int err; /* 0 or -ENOMEM */
};

/* Appends printf-style text. */
void sbuf__printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends LEN raw bytes. */
void sbuf__append(struct sbuf *b, const char *s, size_t len);

/*
 * Appends S as a quoted JSON string: escapes quotes, backslashes and control characters,
 * and replaces bytes that are not valid UTF-8 with U+FFFD, so any symbol name read from a
 * record or a request yields valid JSON.
 */
void sbuf__json_str(struct sbuf *b, const char *s);

/* Takes the buffer: returns it (caller frees) and leaves B empty; NULL after an error. */
char *sbuf__take(struct sbuf *b, size_t *len);

/* Frees the buffer; B is left empty and reusable. */
void sbuf__release(struct sbuf *b);

#endif
