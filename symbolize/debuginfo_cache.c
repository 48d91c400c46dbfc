// SPDX-License-Identifier: Apache-2.0
/*
 * The debuginfod cache on disk: DIR/BID/debuginfo, the layout libdebuginfod writes, so the
 * library finds what an earlier run fetched. An empty file there is a remembered miss.
 * The last use of a file is its mtime (bumped on every lookup that finds it): atime is often
 * not kept (noatime, relatime).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "symbolize/debuginfod.h"

struct centry {
	char bid[129];
	uint64_t size;
	time_t mtime;
};

static bool valid_bid(const char *s)
{
	size_t n = strlen(s), i;

	if (n < 2 || n > 128 || n % 2)
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static void remove_entry(const char *dir, const char *bid)
{
	char p[4096];

	snprintf(p, sizeof(p), "%s/%s/debuginfo", dir, bid);
	unlink(p);
	snprintf(p, sizeof(p), "%s/%s", dir, bid);
	rmdir(p); /* fails harmlessly when libdebuginfod keeps other files there */
}

static int by_mtime(const void *a, const void *b)
{
	const struct centry *x = a, *y = b;

	return (x->mtime > y->mtime) - (x->mtime < y->mtime);
}

int dbgcache__sweep(const char *dir, uint64_t max_bytes, uint64_t max_age_s, uint64_t retry_s,
		    struct dbgcache_sweep *out)
{
	struct centry *v = NULL, *nv;
	size_t n = 0, cap = 0, i;
	uint64_t total = 0;
	time_t now = time(NULL);
	struct dirent *de;
	DIR *d;
	int err = 0;

	memset(out, 0, sizeof(*out));
	d = opendir(dir);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char p[4096];
		struct stat st;

		if (!valid_bid(de->d_name))
			continue;
		snprintf(p, sizeof(p), "%s/%s/debuginfo", dir, de->d_name);
		if (stat(p, &st) || !S_ISREG(st.st_mode))
			continue;
		if (st.st_size == 0) {
			/* A remembered miss: libdebuginfod asks again once it is older than retry_s. */
			if (now - st.st_mtime > (time_t)retry_s)
				remove_entry(dir, de->d_name);
			continue;
		}
		if (now - st.st_mtime > (time_t)max_age_s) {
			remove_entry(dir, de->d_name);
			out->removed_files++;
			out->removed_bytes += (uint64_t)st.st_size;
			continue;
		}
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				err = -ENOMEM;
				goto cleanup;
			}
			v = nv;
		}
		memcpy(v[n].bid, de->d_name, strlen(de->d_name) + 1); /* valid_bid: <= 128 */
		v[n].size = (uint64_t)st.st_size;
		v[n].mtime = st.st_mtime;
		total += v[n].size;
		n++;
	}
	if (n)
		qsort(v, n, sizeof(*v), by_mtime);
	/* Least recently used first, until the rest fits. */
	for (i = 0; i < n && total > max_bytes; i++) {
		remove_entry(dir, v[i].bid);
		total -= v[i].size;
		out->removed_files++;
		out->removed_bytes += v[i].size;
	}
	out->kept_files = n - i;
	out->kept_bytes = total;
cleanup:
	free(v);
	closedir(d);
	return err;
}

int dbgcache__lookup(const char *dir, const char *bid, char *path, size_t len)
{
	struct stat st;
	int n;

	if (!valid_bid(bid))
		return -EINVAL;
	n = snprintf(path, len, "%s/%s/debuginfo", dir, bid);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	if (stat(path, &st) || !S_ISREG(st.st_mode) || st.st_size == 0)
		return -ENOENT;
	/* Used now: the age and size limits keep what is in use (failure changes nothing). */
	utimensat(AT_FDCWD, path, NULL, 0);
	return 0;
}

/* Lowercase hex of the GNU build id note of ELF, "" when none. */
static void note_build_id(Elf *elf, char *hex, size_t len)
{
	Elf_Scn *scn = NULL;

	hex[0] = '\0';
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		GElf_Nhdr nh;
		size_t off = 0, noff, doff, i;
		Elf_Data *data;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
			continue;
		data = elf_getdata(scn, NULL);
		while (data && (off = gelf_getnote(data, off, &nh, &noff, &doff)) > 0) {
			if (nh.n_type != NT_GNU_BUILD_ID || nh.n_namesz != 4 ||
			    memcmp((const char *)data->d_buf + noff, "GNU", 4) ||
			    2 * nh.n_descsz + 1 > len)
				continue;
			for (i = 0; i < nh.n_descsz; i++)
				snprintf(hex + 2 * i, 3, "%02x",
					 ((const unsigned char *)data->d_buf)[doff + i]);
			return;
		}
	}
}

int dbgcache__validate(int fd, const char *bid)
{
	char hex[129];
	bool syms = false;
	Elf_Scn *scn = NULL;
	Elf *elf;
	size_t shstrndx;
	int err = -EBADMSG;

	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF || elf_getshdrstrndx(elf, &shstrndx))
		goto cleanup;
	note_build_id(elf, hex, sizeof(hex));
	if (strcmp(hex, bid))
		goto cleanup;
	while (!syms && (scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		const char *name;

		if (!gelf_getshdr(scn, &sh))
			continue;
		name = elf_strptr(elf, shstrndx, sh.sh_name);
		syms = sh.sh_type == SHT_SYMTAB || (name && !strcmp(name, ".debug_info"));
	}
	if (syms)
		err = 0;
cleanup:
	elf_end(elf);
	return err;
}
