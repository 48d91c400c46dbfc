/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A minimal protobuf wire writer over a growable byte buffer, used by the OTLP encoder.
 * Hand-written rather than protobuf-c's packer because the encoder deduplicates dictionary
 * entries by their encoded bytes and needs to append and roll back entries in place.
 * Every put returns 0 or -ENOMEM; a failed put leaves LEN unchanged.
 */
#ifndef KILN_EXPORTER_PBW_H
#define KILN_EXPORTER_PBW_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct pbw {
	uint8_t *p;
	size_t len, cap;
};

enum {
	PB_VARINT = 0,
	PB_I64 = 1,
	PB_LEN = 2
};

/* Makes room for N more bytes. Returns 0 or -ENOMEM. */
static inline int pbw__reserve(struct pbw *b, size_t n)
{
	size_t cap;
	uint8_t *p;

	if (b->len + n <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + n)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

static inline void pbw__free(struct pbw *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

static inline size_t pb_varint_size(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* Caller reserved 10 bytes. */
static inline void pbw__raw_varint(struct pbw *b, uint64_t v)
{
	while (v >= 0x80) {
		b->p[b->len++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	b->p[b->len++] = (uint8_t)v;
}

static inline int pbw__varint(struct pbw *b, uint32_t field, uint64_t v)
{
	if (pbw__reserve(b, 20))
		return -ENOMEM;
	pbw__raw_varint(b, (uint64_t)field << 3 | PB_VARINT);
	pbw__raw_varint(b, v);
	return 0;
}

/* A proto3 scalar: zero is the default and is not written. */
static inline int pbw__varint_nz(struct pbw *b, uint32_t field, uint64_t v)
{
	return v ? pbw__varint(b, field, v) : 0;
}

static inline int pbw__fixed64(struct pbw *b, uint32_t field, uint64_t v)
{
	if (pbw__reserve(b, 18))
		return -ENOMEM;
	pbw__raw_varint(b, (uint64_t)field << 3 | PB_I64);
	for (int i = 0; i < 8; i++)
		b->p[b->len++] = (uint8_t)(v >> (8 * i));
	return 0;
}

/* A length-delimited field: string, bytes or an already encoded sub-message. */
static inline int pbw__bytes(struct pbw *b, uint32_t field, const void *data, size_t n)
{
	if (pbw__reserve(b, 20 + n))
		return -ENOMEM;
	pbw__raw_varint(b, (uint64_t)field << 3 | PB_LEN);
	pbw__raw_varint(b, n);
	if (n)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	return 0;
}

static inline int pbw__str(struct pbw *b, uint32_t field, const char *s)
{
	return pbw__bytes(b, field, s, strlen(s));
}

/* A packed repeated varint field (int32 indices, int64 values) of N entries. */
static inline int pbw__packed(struct pbw *b, uint32_t field, const uint64_t *v, size_t n)
{
	size_t sz = 0, i;

	if (!n)
		return 0;
	for (i = 0; i < n; i++)
		sz += pb_varint_size(v[i]);
	if (pbw__reserve(b, 20 + sz))
		return -ENOMEM;
	pbw__raw_varint(b, (uint64_t)field << 3 | PB_LEN);
	pbw__raw_varint(b, sz);
	for (i = 0; i < n; i++)
		pbw__raw_varint(b, v[i]);
	return 0;
}

#endif
