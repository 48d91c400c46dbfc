// SPDX-License-Identifier: Apache-2.0
/*
 * Test tool, and the smallest consumer of a ring: prints each window record of RING as one
 * JSON line ({"invalid":true} for one that does not parse) until the producer has detached
 * cleanly and everything is read (exit 0), or TIMEOUT_S passes (exit 1).
 *
 *   ringdump RING [TIMEOUT_S]
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "shm/reader.h"

int main(int argc, char **argv)
{
	struct shm_reader_opts o = { .sz = sizeof(o),
				     .start = RING_START_OLDEST,
				     .restart = RING_START_OLDEST };
	struct shm_reader *r = NULL;
	struct shm_record rec;
	uint64_t timeout = 60, deadline;
	bool gone = false;
	int err;

	if (argc < 2 || argc > 3 || (argc == 3 && parse_u64(argv[2], 1, 3600, &timeout))) {
		fprintf(stderr, "usage: ringdump RING [TIMEOUT_S]\n");
		return 2;
	}
	o.name = argv[1];
	deadline = mono_ns() + timeout * 1000000000ull;
	/* The agent may still be creating the ring. */
	err = shm_reader__new(&r, &o);
	if (!err)
		err = shm_reader__attach_wait(r, (int)timeout * 1000, NULL);
	while (!err) {
		err = shm_reader__next(r, &rec);
		if (err == 0) {
			err = wrec_view__write_json(&rec.v, stdout);
		} else if (err == -EBADMSG) {
			err = printf("{\"invalid\":true}\n") < 0 ? -EIO : 0;
		} else if (err == -EAGAIN && !gone) {
			/* Gone: one more pass, for what it published just before saying so. */
			gone = shm_reader__producer_gone(r);
			err = gone ? 0 : shm_reader__wait(r, 200);
			if (err == -ESTALE)
				err = shm_reader__attach_wait(r, 1000, NULL);
			else if (err == 0 || err == -ETIMEDOUT)
				err = mono_ns() > deadline ? -ETIMEDOUT : 0;
		}
	}
	if (err != -EAGAIN)
		fprintf(stderr, "ringdump: %s: %s\n", argv[1], strerror(-err));
	fflush(stdout);
	shm_reader__free(r);
	return err == -EAGAIN ? 0 : 1;
}
