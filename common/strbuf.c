// SPDX-License-Identifier: Apache-2.0
#include "common/strbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int reserve(struct strbuf *b, size_t more)
{
	size_t cap;
	char *nb;

	if (b->err)
		return b->err;
	if (b->len + more + 1 <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + more + 1)
		cap *= 2;
	nb = realloc(b->buf, cap);
	if (!nb) {
		b->err = -ENOMEM;
		return b->err;
	}
	b->buf = nb;
	b->cap = cap;
	return 0;
}

void strbuf__append(struct strbuf *b, const char *s, size_t len)
{
	if (reserve(b, len))
		return;
	memcpy(b->buf + b->len, s, len);
	b->len += len;
	b->buf[b->len] = 0;
}

void strbuf__printf(struct strbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->err)
		return;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->buf + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at S (1..4), or 0 when S does not start one. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	/* The NUL terminator fails the continuation test, so this never reads past it. */
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and values past U+10FFFF are not valid UTF-8. */
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

/*
 * The escaper: hands each piece of S's JSON form (without the quotes) to EMIT. One function
 * for both the buffer and FILE writers, so they cannot disagree.
 */
static void json_escape(const char *s, void (*emit)(void *ctx, const char *p, size_t n), void *ctx)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	char esc[8];
	size_t n;

	while (*p) {
		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			emit(ctx, esc, 2);
			p++;
		} else if (*p < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
			emit(ctx, esc, 6);
			p++;
		} else if ((n = utf8_len(p))) {
			emit(ctx, (const char *)p, n);
			p += n;
		} else {
			emit(ctx, "\xef\xbf\xbd", 3);
			p++;
		}
	}
}

static void emit_buf(void *ctx, const char *p, size_t n)
{
	strbuf__append(ctx, p, n);
}

static void emit_file(void *ctx, const char *p, size_t n)
{
	fwrite(p, 1, n, ctx);
}

void strbuf__json_str(struct strbuf *b, const char *s)
{
	strbuf__append(b, "\"", 1);
	json_escape(s, emit_buf, b);
	strbuf__append(b, "\"", 1);
}

void json_fputs(FILE *f, const char *s)
{
	fputc('"', f);
	json_escape(s, emit_file, f);
	fputc('"', f);
}

char *strbuf__take(struct strbuf *b, size_t *len)
{
	char *r = b->err ? NULL : b->buf;

	if (!r && !b->err)
		r = calloc(1, 1);
	if (len)
		*len = r ? b->len : 0;
	if (b->err)
		free(b->buf);
	b->buf = NULL;
	b->len = b->cap = 0;
	b->err = 0;
	return r;
}

void strbuf__reset(struct strbuf *b)
{
	b->len = 0;
	if (b->buf)
		b->buf[0] = 0;
}

void strbuf__release(struct strbuf *b)
{
	free(b->buf);
	b->buf = NULL;
	b->len = b->cap = 0;
	b->err = 0;
}
