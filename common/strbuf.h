/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A growable text buffer, and the one JSON string escaper (UTF-8-safe) every JSON writer of
 * kiln uses. Appends never fail visibly: the first allocation failure latches ->err and later
 * appends do nothing, so a writer checks once at the end instead of after every field.
 */
#ifndef KILN_COMMON_STRBUF_H
#define KILN_COMMON_STRBUF_H

#include <stddef.h>
#include <stdio.h>

/* Zero-initialised is empty and ready. */
struct strbuf {
	char *buf; /* NUL-terminated while err == 0 (NULL while empty); owned */
	size_t len, cap;
	int err; /* 0 or -ENOMEM */
};

/* Appends printf-style text. */
void strbuf__printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends LEN raw bytes. */
void strbuf__append(struct strbuf *b, const char *s, size_t len);

/*
 * Appends S (NULL: "") as a quoted JSON string: escapes quotes, backslashes and control
 * characters, and replaces bytes that are not valid UTF-8 with U+FFFD, so any name read from
 * a record, a file or a request yields valid JSON.
 */
void strbuf__json_str(struct strbuf *b, const char *s);

/* Takes the buffer: returns it (caller frees; "" when empty) and leaves B empty; NULL after an error. */
char *strbuf__take(struct strbuf *b, size_t *len);

/* Empties B, keeping its memory for the next text (and a latched error). */
void strbuf__reset(struct strbuf *b);

/* Frees the buffer; B is left empty and reusable. */
void strbuf__release(struct strbuf *b);

/* Writes S (NULL: "") to F as a quoted JSON string, escaped as strbuf__json_str() does. */
void json_fputs(FILE *f, const char *s);

#endif
