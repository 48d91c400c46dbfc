// SPDX-License-Identifier: Apache-2.0
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "exporter/spool.h"

#define SPOOL_MAGIC 0x4c5053484b4c494bull /* "KILNSPL" little-endian */
#define SPOOL_VERSION 1

struct spool_hdr {
	uint64_t magic;
	uint32_t version;
	uint32_t crc; /* crc32 of the body */
	uint64_t id, ring_id, first_seq, last_seq, records, samples, len;
};

struct entry {
	uint64_t id, ring_id, first_seq, last_seq, samples, bytes, records;
};

struct spool {
	char *dir;
	int dfd;
	uint64_t max_bytes, bytes;
	struct entry *e; /* sorted by id */
	size_t n, cap;
};

static void name_of(uint64_t id, char *buf, size_t len)
{
	snprintf(buf, len, "%016" PRIx64 ".spool", id);
}

static int read_hdr(int dfd, const char *name, struct spool_hdr *h, off_t *size)
{
	struct stat st;
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || pread(fd, h, sizeof(*h), 0) != (ssize_t)sizeof(*h))
		err = -EBADMSG;
	else if (h->magic != SPOOL_MAGIC || h->version != SPOOL_VERSION ||
		 h->len != (uint64_t)st.st_size - sizeof(*h))
		err = -EBADMSG;
	*size = st.st_size;
	close(fd);
	return err;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static int add_entry(struct spool *s, const struct entry *e)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct entry *p = realloc(s->e, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		s->e = p;
		s->cap = cap;
	}
	s->e[s->n++] = *e;
	s->bytes += e->bytes;
	return 0;
}

int spool__open(struct spool **out, const char *dir, uint64_t max_bytes)
{
	return spool__openat(out, AT_FDCWD, dir, max_bytes);
}

int spool__openat(struct spool **out, int atfd, const char *dir, uint64_t max_bytes)
{
	struct spool *s;
	struct dirent *d;
	DIR *dp = NULL;
	int err;

	*out = NULL;
	if (mkdirat(atfd, dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->max_bytes = max_bytes;
	s->dir = strdup(dir);
	s->dfd = openat(atfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (!s->dir || s->dfd < 0) {
		err = s->dir ? -errno : -ENOMEM;
		goto cleanup;
	}
	dp = fdopendir(dup(s->dfd));
	if (!dp) {
		err = -errno;
		goto cleanup;
	}
	while ((d = readdir(dp))) {
		struct spool_hdr h;
		struct entry e;
		size_t nl = strlen(d->d_name);
		off_t size = 0;

		if (nl > 4 && !strcmp(d->d_name + nl - 4, ".tmp")) {
			/* A write that never finished: never renamed, so never acknowledged. */
			unlinkat(s->dfd, d->d_name, 0);
			continue;
		}
		if (nl != 22 || strcmp(d->d_name + 16, ".spool"))
			continue;
		if (read_hdr(s->dfd, d->d_name, &h, &size)) {
			unlinkat(s->dfd, d->d_name, 0);
			continue;
		}
		e = (struct entry){ h.id,      h.ring_id,      h.first_seq, h.last_seq,
				    h.samples, (uint64_t)size, h.records };
		err = add_entry(s, &e);
		if (err)
			goto cleanup;
	}
	/* An empty spool has no array yet: qsort must not see NULL. */
	if (s->n)
		qsort(s->e, s->n, sizeof(*s->e), cmp_entry);
	*out = s;
	s = NULL;
	err = 0;
cleanup:
	if (dp)
		closedir(dp);
	spool__free(s);
	return err;
}

int spool__dirfd(const struct spool *s)
{
	return s->dfd;
}

static void drop_oldest(struct spool *s)
{
	char name[32];

	name_of(s->e[0].id, name, sizeof(name));
	unlinkat(s->dfd, name, 0);
	s->bytes -= s->e[0].bytes;
	memmove(s->e, s->e + 1, (s->n - 1) * sizeof(*s->e));
	s->n--;
}

/* Writes all of LEN bytes: a full disk shows as a short write first, without errno. */
static int write_all(int fd, const void *p, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ENOSPC;
		p = (const char *)p + n;
		len -= (size_t)n;
	}
	return 0;
}

int spool__put(struct spool *s, const struct batch *b, uint64_t *dropped_batches,
	       uint64_t *dropped_samples, uint64_t *dropped_records)
{
	struct spool_hdr h = { SPOOL_MAGIC,  SPOOL_VERSION, 0,		b->id,	    b->ring_id,
			       b->first_seq, b->last_seq,   b->records, b->samples, b->len };
	uint64_t need = sizeof(h) + b->len;
	struct entry e = { b->id,      b->ring_id, b->first_seq, b->last_seq,
			   b->samples, need,	   b->records };
	char name[32], tmp[40];
	int fd = -1, err;
	size_t i;

	if (s->max_bytes && need > s->max_bytes)
		return -EFBIG;
	while (s->n && s->max_bytes && s->bytes + need > s->max_bytes) {
		(*dropped_batches)++;
		*dropped_samples += s->e[0].samples;
		*dropped_records += s->e[0].records;
		drop_oldest(s);
	}
	h.crc = (uint32_t)crc32(crc32(0, NULL, 0), b->body, (uInt)b->len);
	name_of(b->id, name, sizeof(name));
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	fd = openat(s->dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	err = write_all(fd, &h, sizeof(h));
	if (!err)
		err = write_all(fd, b->body, b->len);
	if (!err && fsync(fd) < 0)
		err = -errno;
	if (err)
		goto cleanup;
	close(fd);
	fd = -1;
	/* Rename, then the directory's fsync: the name is durable before we say so. */
	if (renameat(s->dfd, tmp, s->dfd, name) < 0 || fsync(s->dfd) < 0) {
		err = -errno;
		goto cleanup;
	}
	/* Keep the index sorted: a batch spooled after a retry series has an older id. */
	for (i = s->n; i > 0 && s->e[i - 1].id > b->id; i--)
		;
	err = add_entry(s, &e);
	if (err)
		goto cleanup;
	memmove(s->e + i + 1, s->e + i, (s->n - 1 - i) * sizeof(*s->e));
	s->e[i] = e;
	return 0;
cleanup:
	if (fd >= 0)
		close(fd);
	unlinkat(s->dfd, tmp, 0);
	return err;
}

int spool__peek(struct spool *s, struct batch *b, uint64_t *corrupt)
{
	struct spool_hdr h;
	char name[32];
	int fd, err;

	while (s->n) {
		name_of(s->e[0].id, name, sizeof(name));
		fd = openat(s->dfd, name, O_RDONLY | O_CLOEXEC);
		err = -EBADMSG;
		memset(b, 0, sizeof(*b));
		if (fd >= 0 && pread(fd, &h, sizeof(h), 0) == (ssize_t)sizeof(h) &&
		    h.magic == SPOOL_MAGIC && h.len < (1ull << 32)) {
			b->body = malloc(h.len ? h.len : 1);
			if (!b->body) {
				close(fd);
				return -ENOMEM;
			}
			if (pread(fd, b->body, h.len, sizeof(h)) == (ssize_t)h.len &&
			    (uint32_t)crc32(crc32(0, NULL, 0), b->body, (uInt)h.len) == h.crc)
				err = 0;
		}
		if (fd >= 0)
			close(fd);
		if (!err) {
			b->id = h.id;
			b->ring_id = h.ring_id;
			b->first_seq = h.first_seq;
			b->last_seq = h.last_seq;
			b->records = h.records;
			b->samples = h.samples;
			b->len = h.len;
			return 0;
		}
		batch__free_body(b);
		(*corrupt)++;
		drop_oldest(s);
	}
	return -ENOENT;
}

int spool__remove(struct spool *s, uint64_t id)
{
	char name[32];
	size_t i;

	for (i = 0; i < s->n && s->e[i].id != id; i++)
		;
	if (i == s->n)
		return -ENOENT;
	name_of(id, name, sizeof(name));
	if (unlinkat(s->dfd, name, 0) < 0 && errno != ENOENT)
		return -errno;
	s->bytes -= s->e[i].bytes;
	memmove(s->e + i, s->e + i + 1, (s->n - i - 1) * sizeof(*s->e));
	s->n--;
	return 0;
}

uint64_t spool__bytes(const struct spool *s)
{
	return s->bytes;
}

uint64_t spool__count(const struct spool *s)
{
	return s->n;
}

uint64_t spool__max_id(const struct spool *s)
{
	return s->n ? s->e[s->n - 1].id : 0;
}

void spool__ranges(const struct spool *s, uint64_t ring_id,
		   void (*fn)(void *arg, uint64_t first, uint64_t last), void *arg)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->e[i].ring_id == ring_id)
			fn(arg, s->e[i].first_seq, s->e[i].last_seq);
}

void spool__free(struct spool *s)
{
	if (!s)
		return;
	if (s->dfd >= 0)
		close(s->dfd);
	free(s->dir);
	free(s->e);
	free(s);
}
