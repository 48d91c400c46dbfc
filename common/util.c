// SPDX-License-Identifier: Apache-2.0
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>

uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

size_t upper_bound_u64(const void *base, size_t n, size_t stride, size_t key_off, uint64_t key)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint64_t k;

		/* memcpy: a key inside a packed or odd-strided element may be unaligned */
		memcpy(&k, (const uint8_t *)base + mid * stride + key_off, sizeof(k));
		if (k <= key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!s || !*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (*end)
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int read_file(const char *path, char **buf, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *b = NULL, *nb;
	ssize_t r;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	b = malloc(cap);
	if (!b) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (;;) {
		if (n + 1 >= cap) {
			cap *= 2;
			nb = realloc(b, cap);
			if (!nb) {
				err = -ENOMEM;
				goto cleanup;
			}
			b = nb;
		}
		r = read(fd, b + n, cap - n - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			goto cleanup;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	b[n] = '\0';
	*buf = b;
	if (len)
		*len = n;
	b = NULL;
cleanup:
	free(b);
	close(fd);
	return err;
}

char *next_line(char **cursor)
{
	char *line = *cursor, *nl;

	if (!line || !*line)
		return NULL;
	nl = strchr(line, '\n');
	if (nl) {
		*nl = '\0';
		*cursor = nl + 1;
	} else {
		*cursor = line + strlen(line);
	}
	return line;
}

int read_u64_file(const char *path, uint64_t *out)
{
	char *buf = NULL;
	int err;

	err = read_file(path, &buf, NULL);
	if (err)
		return err;
	buf[strcspn(buf, "\n")] = '\0';
	err = parse_u64(buf, 0, UINT64_MAX, out);
	free(buf);
	return err;
}

int write_file_str(const char *path, const char *str)
{
	size_t len = strlen(str);
	int fd, err = 0;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, str, len) != (ssize_t)len)
		err = errno ? -errno : -EIO;
	close(fd);
	return err;
}

int possible_cpus(void)
{
	return libbpf_num_possible_cpus();
}

int online_cpus(bool **mask, int *nr)
{
	char *buf = NULL, *p, *end;
	bool *m = NULL, *nm;
	long a, b, i;
	int n = 0, err;

	err = read_file("/sys/devices/system/cpu/online", &buf, NULL);
	if (err)
		return err;
	/* The format is a list of ranges: "0-3,5,7-8\n". */
	for (p = buf; *p && *p != '\n';) {
		a = strtol(p, &end, 10);
		if (end == p || a < 0) {
			err = -EINVAL;
			goto cleanup;
		}
		b = a;
		p = end;
		if (*p == '-') {
			b = strtol(p + 1, &end, 10);
			if (end == p + 1 || b < a) {
				err = -EINVAL;
				goto cleanup;
			}
			p = end;
		}
		if (b >= n) {
			nm = realloc(m, (size_t)(b + 1) * sizeof(*m));
			if (!nm) {
				err = -ENOMEM;
				goto cleanup;
			}
			memset(nm + n, 0, (size_t)(b + 1 - n) * sizeof(*m));
			m = nm;
			n = (int)b + 1;
		}
		for (i = a; i <= b; i++)
			m[i] = true;
		if (*p == ',')
			p++;
	}
	*mask = m;
	*nr = n;
	m = NULL;
cleanup:
	free(m);
	free(buf);
	return err;
}
