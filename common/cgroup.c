// SPDX-License-Identifier: Apache-2.0
#include "common/cgroup.h"

#include <errno.h>
#include <limits.h>
#include <mntent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

int cgroup2_mount(char *buf, size_t len)
{
	struct mntent *m;
	FILE *f;
	int err = -ENOENT;

	f = setmntent("/proc/self/mounts", "re");
	if (!f)
		return -errno;
	while ((m = getmntent(f))) {
		if (strcmp(m->mnt_type, "cgroup2"))
			continue;
		if (strlen(m->mnt_dir) >= len) {
			err = -ENAMETOOLONG;
			break;
		}
		strcpy(buf, m->mnt_dir);
		err = 0;
		break;
	}
	endmntent(f);
	return err;
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
