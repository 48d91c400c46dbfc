// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer harness for the YAML configuration loader: any bytes must give either a config
 * or a one-line error, never a crash, a leak or a read out of bounds. The loader reads
 * files, so each input goes through a memfd (no disk I/O per run).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	struct kiln_config *c = NULL;
	char path[64], err[512];
	int ret;

	if (fd < 0) {
		fd = memfd_create("kiln-fuzz.yaml", 0);
		if (fd < 0)
			return 0;
	}
	if (ftruncate(fd, 0) || pwrite(fd, data, size, 0) != (ssize_t)size)
		return 0;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ret = kiln_config__load(path, &c, err, sizeof(err));
	/* The contract: success with a config, or failure with a message and no config. */
	if ((ret == 0) != (c != NULL) || (ret && !err[0]))
		__builtin_trap();
	if (ret && strchr(err, '\n'))
		__builtin_trap();
	kiln_config__free(c);
	return 0;
}
