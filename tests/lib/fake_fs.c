// SPDX-License-Identifier: Apache-2.0
#include "tests/lib/fake_fs.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

int kiln_test_mkdirs(const char *path)
{
	char p[PATH_MAX * 2], *s;

	snprintf(p, sizeof(p), "%s", path);
	for (s = p + 1; *s; s++) {
		if (*s == '/') {
			*s = 0;
			mkdir(p, 0755);
			*s = '/';
		}
	}
	return mkdir(p, 0755) && errno != EEXIST ? -errno : 0;
}

void kiln_test_put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(text, f);
	fclose(f);
}

void kiln_test_fake_proc(const char *proc, unsigned int pid, const char *cgroup, const char *exe)
{
	char p[PATH_MAX * 2];

	snprintf(p, sizeof(p), "%s/%u", proc, pid);
	kiln_test_mkdirs(p);
	snprintf(p, sizeof(p), "%s/%u/cgroup", proc, pid);
	kiln_test_put(p, cgroup);
	snprintf(p, sizeof(p), "%s/%u/cmdline", proc, pid);
	kiln_test_put(p, exe ? exe : "");
	snprintf(p, sizeof(p), "%s/%u/comm", proc, pid);
	kiln_test_put(p, exe ? strrchr(exe, '/') + 1 : "kworker/0:1");
	if (exe) {
		snprintf(p, sizeof(p), "%s/%u/exe", proc, pid);
		CU_ASSERT_EQUAL(symlink(exe, p), 0);
	}
}

void kiln_test_fake_proc_maps(const char *proc, unsigned int pid, const char *maps)
{
	char p[PATH_MAX * 2];

	snprintf(p, sizeof(p), "%s/%u", proc, pid);
	CU_ASSERT_FATAL(!mkdir(p, 0755));
	snprintf(p, sizeof(p), "%s/%u/root", proc, pid);
	CU_ASSERT_FATAL(!symlink("/", p));
	snprintf(p, sizeof(p), "%s/%u/maps", proc, pid);
	kiln_test_put(p, maps);
}

uint64_t kiln_test_ino(const char *root, const char *path)
{
	char p[PATH_MAX * 2];
	struct stat st;

	snprintf(p, sizeof(p), "%s%s", root, path);
	return stat(p, &st) ? 0 : st.st_ino;
}
