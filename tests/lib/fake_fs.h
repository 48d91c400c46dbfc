/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fake /proc and cgroup trees for the tests of the agent's readers: folders and files under a
 * temporary root, shaped like the kernel's, so a test controls every byte the reader sees.
 * A failure is a fatal CUnit assertion of the calling case, but for kiln_test_mkdirs.
 */
#ifndef KILN_TEST_FAKE_FS_H
#define KILN_TEST_FAKE_FS_H

#include <stdint.h>

/*
 * Creates PATH and each missing folder above it (mode 0755), as `mkdir -p`. Returns 0 (PATH
 * exists) or -errno; asserts nothing, so a suite's setup may call it outside a case.
 */
int kiln_test_mkdirs(const char *path);

/* Writes TEXT to PATH (created or truncated). */
void kiln_test_put(const char *path, const char *text);

/*
 * A fake process PID under the fake /proc PROC: its cgroup file (CGROUP), cmdline and comm
 * (EXE and its base name), and an exe link to EXE. EXE NULL: a kernel thread (empty cmdline,
 * comm kworker/0:1, no exe link).
 */
void kiln_test_fake_proc(const char *proc, unsigned int pid, const char *cgroup, const char *exe);

/*
 * A fake process PID under the fake /proc PROC as the unwinder reads it: a root link to "/"
 * and a maps file holding MAPS (lines of /proc/PID/maps).
 */
void kiln_test_fake_proc_maps(const char *proc, unsigned int pid, const char *maps);

/* The inode number (the cgroup id, under a fake cgroup2 root) of ROOT/PATH, 0 when absent. */
uint64_t kiln_test_ino(const char *root, const char *path);

#endif
