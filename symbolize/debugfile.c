// SPDX-License-Identifier: Apache-2.0
/*
 * Separate debug files of stripped binaries: DEBUG_ROOT/.build-id/xx/rest.debug by build id,
 * then the .gnu_debuglink name (checked by its CRC32) next to the binary, in its .debug/ and
 * under DEBUG_ROOT; inside the process's root first, then on the host.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <zlib.h>

#include "symbolize/symbolize_internal.h"

/*
 * Reads the .symtab of the debug file open on FD into E. WANT_BID: the binary's build id
 * ("" if none), which the debug file must carry too. Returns 0 when symbols were added,
 * -ENOENT when the file is not a matching debug file, or -ENOMEM.
 */
int read_debug_file(int fd, const char *want_bid, struct elf_file *e, size_t *cap)
{
	char bid[2 * 64 + 1];
	Elf_Scn *scn = NULL;
	size_t before = e->nr_syms;
	GElf_Shdr sh;
	Elf *elf;
	int err = 0;

	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF) {
		err = -ENOENT;
		goto cleanup;
	}
	read_build_id(elf, bid);
	if (*want_bid && strcmp(bid, want_bid)) {
		err = -ENOENT;
		goto cleanup;
	}
	while ((scn = elf_nextscn(elf, scn))) {
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB)
			continue;
		err = read_symtab(elf, scn, &sh, e, cap);
		if (err)
			goto cleanup;
	}
	if (e->nr_syms == before)
		err = -ENOENT;
cleanup:
	elf_end(elf);
	return err;
}

/*
 * Opens regular file PATH for reading as seen from ROOT ("" for the host; else a process's
 * /proc/PID/root). Inside a process root, symlinks are resolved within it (RESOLVE_IN_ROOT):
 * a plain open would follow an absolute link planted in a container's /tmp or debug
 * directory out to the agent's own files. Returns an fd or -errno.
 */
int open_in_root(const char *root, const char *path)
{
	struct open_how how = { .flags = O_RDONLY | O_CLOEXEC,
				.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	char full[PATH_MAX];
	int rfd = -1, fd, n;
	struct stat st;

	if (!*root) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		fd = fd < 0 ? -errno : fd;
		goto check;
	}
	rfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rfd < 0) {
		fd = -errno;
		goto check;
	}
	fd = (int)syscall(SYS_openat2, rfd, path, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS) {
		/* Before Linux 5.6: the plain path, which is what older profilers do. */
		n = snprintf(full, sizeof(full), "%s%s", root, path);
		fd = n > 0 && (size_t)n < sizeof(full) ? open(full, O_RDONLY | O_CLOEXEC) : -1;
	}
	fd = fd < 0 ? -errno : fd;
	close(rfd);
check:
	if (fd >= 0 && (fstat(fd, &st) || !S_ISREG(st.st_mode))) {
		close(fd);
		fd = -EINVAL;
	}
	return fd;
}

/* CRC32 (the one zlib computes, as .gnu_debuglink specifies) of the file open on FD. */
static int file_crc32(int fd, uint32_t *out)
{
	unsigned char buf[65536];
	uLong crc = crc32(0L, Z_NULL, 0);
	off_t off = 0;
	ssize_t n;

	while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
		crc = crc32(crc, buf, (uInt)n);
		off += n;
	}
	if (n < 0)
		return -errno;
	*out = (uint32_t)crc;
	return 0;
}

/*
 * Finds the separate debug file of a binary seen at PATH under ROOT ("/proc/PID/root", or
 * "" for the host) and reads its symbols into E: DEBUG_ROOT/.build-id/xx/rest.debug by build
 * id, then the debuglink name in the binary's directory, its .debug/ and DEBUG_ROOT/DIR/.
 * Returns 0 when found, -ENOENT, or -ENOMEM.
 */
int find_debug_in(struct symbolizer *s, const char *root, const char *path, const char *bid,
		  const struct debug_ref *ref, struct elf_file *e, size_t *cap)
{
	char cand[PATH_MAX], dir[PATH_MAX];
	const char *slash;
	uint32_t crc = 0;
	int fd, err, n, i;

	if (strlen(bid) > 2) {
		n = snprintf(cand, sizeof(cand), "%s/.build-id/%.2s/%s.debug", s->debug_root, bid,
			     bid + 2);
		fd = n > 0 && (size_t)n < sizeof(cand) ? open_in_root(root, cand) : -1;
		if (fd >= 0) {
			err = read_debug_file(fd, bid, e, cap);
			close(fd);
			if (err != -ENOENT)
				return err;
		}
	}
	slash = strrchr(path, '/');
	if (!ref->link[0] || !slash || (size_t)(slash - path) >= sizeof(dir))
		return -ENOENT;
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	for (i = 0; i < 3; i++) {
		if (i == 0)
			n = snprintf(cand, sizeof(cand), "%s/%s", dir, ref->link);
		else if (i == 1)
			n = snprintf(cand, sizeof(cand), "%s/.debug/%s", dir, ref->link);
		else
			n = snprintf(cand, sizeof(cand), "%s%s/%s", s->debug_root, dir, ref->link);
		if (n <= 0 || (size_t)n >= sizeof(cand))
			continue;
		fd = open_in_root(root, cand);
		if (fd < 0)
			continue;
		/* The CRC tells the debug file of this build from a stale one of that name. */
		err = file_crc32(fd, &crc);
		if (!err && crc == ref->crc)
			err = read_debug_file(fd, bid, e, cap);
		else
			err = -ENOENT;
		close(fd);
		if (err != -ENOENT)
			return err;
	}
	return -ENOENT;
}
