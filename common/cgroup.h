/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cgroup helpers: where the unified hierarchy is mounted, what a cgroup's id is, and the
 * memory limit that applies to this process.
 */
#ifndef KILN_COMMON_CGROUP_H
#define KILN_COMMON_CGROUP_H

#include <stddef.h>
#include <stdint.h>

/*
 * Finds the cgroup2 mount point from /proc/self/mounts (it is /sys/fs/cgroup on pure v2
 * hosts and /sys/fs/cgroup/unified on hybrid ones: never assume). Returns 0 and writes the
 * path into BUF, or -ENOENT when cgroup2 is not mounted, or another -errno.
 */
int cgroup2_mount(char *buf, size_t len);

/*
 * Resolves PATH (absolute, or relative to the cgroup2 mount) to the cgroup id BPF sees
 * (bpf_get_current_cgroup_id: the kernfs inode number). Returns 0, -ENOENT when the
 * directory does not exist, -ENOTDIR / -EINVAL when it is not a cgroup2 directory.
 */
int cgroup_id_of_path(const char *path, uint64_t *id);

/*
 * The tightest memory limit over this process's memory cgroup and its ancestors: v2
 * memory.max, or v1 memory.limit_in_bytes where the memory controller sits on a v1 hierarchy
 * (hybrid hosts). Kernels since 5.11 charge BPF maps there. Returns 0 with *LIMIT
 * (UINT64_MAX: no limit) and the limit's file in FILE ("" when none), or -ENOENT when no
 * memory cgroup is found, or another -errno.
 */
int cgroup_memory_limit(uint64_t *limit, char *file, size_t len);

#endif
