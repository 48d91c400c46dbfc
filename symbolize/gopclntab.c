// SPDX-License-Identifier: Apache-2.0
/*
 * Layout (Go 1.18+, src/runtime/symtab.go pcHeader, and debug/gosym):
 *   u32 magic; u8 pad1, pad2, minLC, ptrSize;
 *   then ptrSize-wide words: nfunc, nfiles, textStart, funcnameOffset, cuOffset,
 *   filetabOffset, pctabOffset, pclnOffset (offsets from the start of the header).
 * At pclnOffset: the functab, nfunc + 1 pairs of u32 (entryoff, funcoff), the last entryoff
 * being the end of the text; entryoff is relative to textStart, funcoff to the functab.
 * At functab + funcoff: a _func whose second u32 (nameOff) indexes funcnametab, where names
 * are NUL-terminated. Everything is bounds-checked: the section is input from any binary.
 */
#include <errno.h>
#include <string.h>

#include "common/log.h"
#include "symbolize/gopclntab.h"

#define GO118_MAGIC 0xfffffff0u
#define GO120_MAGIC 0xfffffff1u
#define GO116_MAGIC 0xfffffffau
#define GO12_MAGIC 0xfffffffbu

struct rd {
	const unsigned char *p;
	size_t len;
	bool be;
};

/* Reads a W-byte (4 or 8) unsigned at OFF into *OUT; false when out of bounds. */
static bool rd_uint(const struct rd *r, uint64_t off, unsigned int w, uint64_t *out)
{
	uint64_t v = 0;
	unsigned int i;

	if (off > r->len || r->len - off < w)
		return false;
	for (i = 0; i < w; i++) {
		unsigned int b = r->be ? i : w - 1 - i;

		v = (v << 8) | r->p[off + b];
	}
	*out = v;
	return true;
}

int gopclntab__walk(const void *data, size_t len, bool big_endian, uint64_t text_start,
		    gopclntab_fn fn, void *ctx)
{
	struct rd r = { data, len, big_endian };
	uint64_t magic, nfunc, text, nameoff, functab, i, entry, next, funcoff, name;
	const char *np;
	unsigned int ps;
	int err;

	if (!rd_uint(&r, 0, 4, &magic) || len < 8)
		return -EINVAL;
	if (magic == GO116_MAGIC || magic == GO12_MAGIC) {
		log_debug(".gopclntab: Go 1.2-1.17 layout (magic %#llx) is not supported",
			  (unsigned long long)magic);
		return -ENOTSUP;
	}
	if (magic != GO118_MAGIC && magic != GO120_MAGIC)
		return -EINVAL;
	ps = r.p[7];
	if (r.p[4] || r.p[5] || (ps != 4 && ps != 8))
		return -EINVAL;
	if (!rd_uint(&r, 8, ps, &nfunc) || !rd_uint(&r, 8 + 2 * ps, ps, &text) ||
	    !rd_uint(&r, 8 + 3 * ps, ps, &nameoff) || !rd_uint(&r, 8 + 7 * ps, ps, &functab))
		return -EINVAL;
	if (!text)
		text = text_start;
	/* nfunc + 1 functab pairs must fit; this also bounds the loop by the input size. */
	if (functab > len || nfunc >= (len - functab) / 8)
		return -EINVAL;
	for (i = 0; i < nfunc; i++) {
		if (!rd_uint(&r, functab + i * 8, 4, &entry) ||
		    !rd_uint(&r, functab + i * 8 + 4, 4, &funcoff) ||
		    !rd_uint(&r, functab + (i + 1) * 8, 4, &next))
			return -EINVAL;
		/* The _func's own entryoff comes first; its nameOff second. */
		if (!rd_uint(&r, functab + funcoff + 4, 4, &name))
			continue;
		if (next <= entry || nameoff > len || name >= len - nameoff)
			continue;
		np = (const char *)r.p + nameoff + name;
		if (!memchr(np, '\0', len - nameoff - name) || !*np)
			continue;
		err = fn(ctx, text + entry, next - entry, np);
		if (err)
			return err;
	}
	return 0;
}
