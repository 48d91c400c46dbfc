/* SPDX-License-Identifier: Apache-2.0 */
/* Small helpers shared by every kiln process: clocks, number parsing, files. */
#ifndef KILN_COMMON_UTIL_H
#define KILN_COMMON_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#ifndef KILN_VERSION
#define KILN_VERSION "0.1.0"
#endif

/* Nanoseconds on CLOCK_MONOTONIC. */
uint64_t mono_ns(void);

/* Nanoseconds since the Unix epoch (CLOCK_REALTIME). */
uint64_t wall_ns(void);

/*
 * Parses a whole decimal unsigned number in [min, max] from S. Returns 0 and sets *out,
 * or -EINVAL (not a number, trailing characters) / -ERANGE (out of bounds).
 */
int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/*
 * In an array of N elements of STRIDE bytes sorted by the uint64_t at KEY_OFF of each:
 * the number of leading elements whose key is <= KEY (so element [ret - 1], when ret > 0, is
 * the last one that starts at or before KEY).
 */
size_t upper_bound_u64(const void *base, size_t n, size_t stride, size_t key_off, uint64_t key);

/*
 * Reads a whole (small) file into a NUL-terminated malloc'd buffer. Returns 0 and sets *buf
 * (caller frees) and *len, or -errno.
 */
int read_file(const char *path, char **buf, size_t *len);

/*
 * Cuts the next line off *CURSOR, a writable NUL-terminated buffer such as read_file's: its
 * '\n' becomes NUL and *CURSOR moves past it. Returns the line (without '\n'), or NULL when
 * none is left.
 */
char *next_line(char **cursor);

/* Reads one unsigned decimal number from a file such as a sysctl. Returns 0 or -errno. */
int read_u64_file(const char *path, uint64_t *out);

/* Writes STR to an existing file such as a sysctl. Returns 0 or -errno. */
int write_file_str(const char *path, const char *str);

/* Number of possible CPUs as the kernel counts them for per-CPU maps, or -errno. */
int possible_cpus(void);

/*
 * Parses /sys/devices/system/cpu/online. Returns 0 and a malloc'd mask (caller frees) of
 * *NR entries, true for each online CPU, or -errno.
 */
int online_cpus(bool **mask, int *nr);

#endif
