// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>
#include <zstd.h>

#include "exporter/compress.h"

const char *compress__encoding(enum kiln_compression c)
{
	return c == KILN_COMPRESS_GZIP ? "gzip" : c == KILN_COMPRESS_ZSTD ? "zstd" : NULL;
}

int compress__parse(const char *s, enum kiln_compression *c)
{
	if (!strcmp(s, "none"))
		*c = KILN_COMPRESS_NONE;
	else if (!strcmp(s, "gzip"))
		*c = KILN_COMPRESS_GZIP;
	else if (!strcmp(s, "zstd"))
		*c = KILN_COMPRESS_ZSTD;
	else
		return -EINVAL;
	return 0;
}

static int gzip(const void *in, size_t n, uint8_t **out, size_t *outlen)
{
	z_stream z = { 0 };
	uint8_t *buf = NULL;
	size_t cap;
	int err = -EIO;

	/* 15 + 16: a gzip wrapper; level 1, the speed/ratio knee for protobuf bodies. */
	if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	cap = deflateBound(&z, n);
	buf = malloc(cap);
	if (!buf) {
		err = -ENOMEM;
		goto cleanup;
	}
	z.next_in = (Bytef *)in;
	z.avail_in = n;
	z.next_out = buf;
	z.avail_out = cap;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END)
		goto cleanup;
	*out = buf;
	*outlen = z.total_out;
	buf = NULL;
	err = 0;
cleanup:
	deflateEnd(&z);
	free(buf);
	return err;
}

static int zstd(const void *in, size_t n, uint8_t **out, size_t *outlen)
{
	size_t cap = ZSTD_compressBound(n), r;
	uint8_t *buf = malloc(cap);

	if (!buf)
		return -ENOMEM;
	/* Level 1: the exporter shares a core with the node's workloads. */
	r = ZSTD_compress(buf, cap, in, n, 1);
	if (ZSTD_isError(r)) {
		free(buf);
		return -EIO;
	}
	*out = buf;
	*outlen = r;
	return 0;
}

int compress__run(enum kiln_compression c, const void *in, size_t n, uint8_t **out, size_t *outlen)
{
	*out = NULL;
	*outlen = 0;
	switch (c) {
	case KILN_COMPRESS_GZIP:
		return gzip(in, n, out, outlen);
	case KILN_COMPRESS_ZSTD:
		return zstd(in, n, out, outlen);
	default:
		*out = malloc(n ? n : 1);
		if (!*out)
			return -ENOMEM;
		memcpy(*out, in, n);
		*outlen = n;
		return 0;
	}
}

int compress__undo(const char *encoding, const void *in, size_t n, size_t max, uint8_t **out,
		   size_t *outlen)
{
	uint8_t *buf = NULL, *p;
	size_t cap = 1 << 16;
	int err = -EIO;

	*out = NULL;
	*outlen = 0;
	if (!encoding || !*encoding || !strcmp(encoding, "identity"))
		return compress__run(KILN_COMPRESS_NONE, in, n, out, outlen);
	if (!strcmp(encoding, "zstd")) {
		unsigned long long sz = ZSTD_getFrameContentSize(in, n);
		size_t r;

		if (sz == ZSTD_CONTENTSIZE_ERROR || sz == ZSTD_CONTENTSIZE_UNKNOWN)
			return -EINVAL;
		if (sz > max)
			return -EFBIG;
		buf = malloc(sz ? sz : 1);
		if (!buf)
			return -ENOMEM;
		r = ZSTD_decompress(buf, sz, in, n);
		if (ZSTD_isError(r) || r != sz) {
			free(buf);
			return -EINVAL;
		}
		*out = buf;
		*outlen = r;
		return 0;
	}
	if (strcmp(encoding, "gzip"))
		return -EINVAL;
	z_stream z = { 0 };
	if (inflateInit2(&z, 15 + 16) != Z_OK)
		return -ENOMEM;
	z.next_in = (Bytef *)in;
	z.avail_in = n;
	for (;;) {
		int r;

		p = realloc(buf, cap);
		if (!p) {
			err = -ENOMEM;
			goto cleanup;
		}
		buf = p;
		z.next_out = buf + z.total_out;
		z.avail_out = cap - z.total_out;
		r = inflate(&z, Z_FINISH);
		if (r == Z_STREAM_END)
			break;
		if (r != Z_BUF_ERROR && r != Z_OK) {
			err = -EINVAL;
			goto cleanup;
		}
		if (z.avail_in == 0 && z.avail_out != 0) {
			err = -EINVAL; /* truncated */
			goto cleanup;
		}
		if (cap >= max) {
			err = -EFBIG;
			goto cleanup;
		}
		cap *= 2;
	}
	*out = buf;
	*outlen = z.total_out;
	buf = NULL;
	err = 0;
cleanup:
	inflateEnd(&z);
	free(buf);
	return err;
}
