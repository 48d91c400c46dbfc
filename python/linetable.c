// SPDX-License-Identifier: Apache-2.0
/*
 * CPython 3.11+ location table (co_linetable), decoded as co_lines() does. Entries start
 * with a byte that has bit 7 set: bits 3-6 the kind, bits 0-2 the length in code units
 * minus one. Kinds 0-9 (short form) keep the line and carry one column byte; 10-12 add
 * kind - 10 to the line and carry two column bytes; 13 adds a signed varint; 14 adds a
 * signed varint and carries three unsigned varints (end line, column, end column); 15 means
 * "no location" for its units and leaves the running line as it was, so the next entry's
 * delta applies to the line before it (resetting it is a classic decoder bug that shifts
 * every later line). Varints are 6 bits per byte, least significant first, bit 6 set on
 * all but the last byte; a signed varint keeps the sign in its lowest bit.
 */
#include <errno.h>

#include "python/python.h"

struct lt_cursor {
	const uint8_t *p, *end;
};

static int lt_varint(struct lt_cursor *c, uint32_t *out)
{
	uint32_t val = 0, shift = 0, b;

	do {
		if (c->p >= c->end || shift > 28)
			return -EINVAL;
		b = *c->p++;
		if (b & 0x80)
			return -EINVAL; /* an entry start inside a varint */
		val |= (b & 63) << shift;
		shift += 6;
	} while (b & 64);
	*out = val;
	return 0;
}

static int lt_svarint(struct lt_cursor *c, int32_t *out)
{
	uint32_t u;
	int err = lt_varint(c, &u);

	if (err)
		return err;
	*out = (u & 1) ? -(int32_t)(u >> 1) : (int32_t)(u >> 1);
	return 0;
}

static int lt_skip(struct lt_cursor *c, size_t n)
{
	if ((size_t)(c->end - c->p) < n)
		return -EINVAL;
	c->p += n;
	return 0;
}

int python_linetable_line(const uint8_t *tab, size_t len, int firstlineno, uint32_t instr,
			  int *line)
{
	struct lt_cursor c = { tab, tab + len };
	uint32_t pos = 0, ulen, kind, dummy;
	int32_t delta;
	int64_t cur = firstlineno;
	int err;

	while (c.p < c.end) {
		uint8_t b = *c.p++;

		if (!(b & 0x80))
			return -EINVAL;
		kind = (b >> 3) & 15;
		ulen = (b & 7) + 1;
		delta = 0;
		err = 0;
		if (kind <= 9) {
			err = lt_skip(&c, 1);
		} else if (kind <= 12) {
			delta = (int32_t)kind - 10;
			err = lt_skip(&c, 2);
		} else if (kind == 13) {
			err = lt_svarint(&c, &delta);
		} else if (kind == 14) {
			err = lt_svarint(&c, &delta);
			if (!err)
				err = lt_varint(&c, &dummy);
			if (!err)
				err = lt_varint(&c, &dummy);
			if (!err)
				err = lt_varint(&c, &dummy);
		}
		if (err)
			return err;
		if (kind != 15)
			cur += delta;
		if (instr >= pos && instr < pos + ulen) {
			if (kind == 15)
				return -ENOENT;
			if (cur < 0 || cur > INT32_MAX)
				return -EINVAL;
			*line = (int)cur;
			return 0;
		}
		pos += ulen;
	}
	return -ENOENT;
}
