// SPDX-License-Identifier: Apache-2.0
#include "common/cgroup.h"

#include <errno.h>
#include <limits.h>
#include <mntent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "common/util.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

/*
 * The mount point of the first mount of filesystem TYPE (with mount option OPT unless NULL)
 * in BUF. Returns 0, -ENOENT when there is none, -ENAMETOOLONG, or another -errno.
 */
static int find_mount(const char *type, const char *opt, char *buf, size_t len)
{
	struct mntent *m;
	FILE *f;
	int err = -ENOENT;

	f = setmntent("/proc/self/mounts", "re");
	if (!f)
		return -errno;
	while ((m = getmntent(f))) {
		if (strcmp(m->mnt_type, type) || (opt && !hasmntopt(m, opt)))
			continue;
		err = snprintf(buf, len, "%s", m->mnt_dir) >= (int)len ? -ENAMETOOLONG : 0;
		break;
	}
	endmntent(f);
	return err;
}

int cgroup2_mount(char *buf, size_t len)
{
	return find_mount("cgroup2", NULL, buf, len);
}

int cgroup_id_of_path(const char *path, uint64_t *id)
{
	char root[PATH_MAX], full[PATH_MAX * 2];
	struct statfs sfs;
	struct stat st;
	int err;

	if (path[0] == '/') {
		snprintf(full, sizeof(full), "%s", path);
	} else {
		err = cgroup2_mount(root, sizeof(root));
		if (err)
			return err;
		snprintf(full, sizeof(full), "%s/%s", root, path);
	}
	if (stat(full, &st))
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (statfs(full, &sfs))
		return -errno;
	if (sfs.f_type != CGROUP2_SUPER_MAGIC)
		return -EINVAL;
	*id = st.st_ino;
	return 0;
}

/*
 * The mount point of the v1 hierarchy the memory controller is bound to (its mount options
 * name "memory"). Returns 0 and BUF, -ENOENT when there is none, or another -errno.
 */
static int memcg_v1_mount(char *buf, size_t len)
{
	return find_mount("cgroup", "memory", buf, len);
}

/* True when the comma-separated LIST holds WORD. */
static bool has_word(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (; list; list = strchr(list, ',') ? strchr(list, ',') + 1 : NULL)
		if (!strncmp(list, word, n) && (list[n] == ',' || list[n] == '\0'))
			return true;
	return false;
}

int cgroup_memory_limit(uint64_t *limit, char *file, size_t len)
{
	char *text = NULL, *line, *save = NULL, mnt[PATH_MAX], path[PATH_MAX * 2];
	const char *rel = NULL, *name = NULL;
	uint64_t v;
	size_t n;
	int err;

	*limit = UINT64_MAX;
	if (len)
		file[0] = '\0';
	err = read_file("/proc/self/cgroup", &text, NULL);
	if (err)
		return err;
	/* "ID:CONTROLLERS:PATH": a v1 memory line wins, the controller is bound there */
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *ctl = strchr(line, ':'), *p = ctl ? strchr(ctl + 1, ':') : NULL;

		if (!p)
			continue;
		*p = '\0';
		if (!strcmp(ctl + 1, "") && !name) {
			rel = p + 1;
			name = "memory.max";
		} else if (has_word(ctl + 1, "memory")) {
			rel = p + 1;
			name = "memory.limit_in_bytes";
		}
	}
	if (!name) {
		err = -ENOENT;
		goto cleanup;
	}
	err = strcmp(name, "memory.max") ? memcg_v1_mount(mnt, sizeof(mnt))
					 : cgroup2_mount(mnt, sizeof(mnt));
	if (err)
		goto cleanup;
	/* the tightest limit over the cgroup and its ancestors: each one applies */
	snprintf(path, sizeof(path), "%s%s", mnt, rel);
	for (;;) {
		char lim[PATH_MAX * 2 + 32];

		n = strlen(path);
		while (n > 1 && path[n - 1] == '/')
			path[--n] = '\0';
		snprintf(lim, sizeof(lim), "%s/%s", path, name);
		/* "max" (v2) does not parse: no limit there; v1's "none" is a huge number */
		if (!read_u64_file(lim, &v) && v < (1ull << 62) && v < *limit) {
			*limit = v;
			snprintf(file, len, "%s", lim);
		}
		if (strlen(path) <= strlen(mnt))
			break;
		*strrchr(path, '/') = '\0';
	}
cleanup:
	free(text);
	return err;
}
