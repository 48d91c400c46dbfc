/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `kiln export`: reads window records from a shared-memory ring and delivers them to every
 * configured destination as OTLP Profiles requests. One worker thread per destination, each
 * with a bounded in-memory queue, retry with backoff and a disk spool, so a dead destination
 * never delays another and nothing is lost through outages and restarts.
 *
 * Restart: the ring cannot hand a restarted consumer its old slot, so each destination
 * keeps, in its spool directory, the highest record seq below which everything is delivered,
 * spooled or finally refused ("cursor"); a restarted exporter reads from the oldest record
 * still in the ring and skips those, and those inside spooled batches.
 */
#ifndef KILN_EXPORTER_EXPORTER_H
#define KILN_EXPORTER_EXPORTER_H

#include <signal.h>
#include <stdbool.h>

#include "common/config.h"

#define EXPORTER_MAX_DIRFDS 8

/* A directory this process was handed open (kiln run --dir-fd): used instead of its path. */
struct exporter_dirfd {
	const char *path; /* as configured: a file destination's url or the spool directory */
	int fd;
};

struct exporter_opts {
	const struct kiln_config *cfg; /* ring name, exporter section, destinations */
	bool once; /* drain what the ring holds, deliver, exit */
	volatile sig_atomic_t *stop; /* set by the signal handler: flush and exit */
	struct exporter_dirfd dirfds[EXPORTER_MAX_DIRFDS];
	int nr_dirfds;
};

/*
 * Runs until *opts->stop is set (or, with once, the ring is drained and every batch is
 * delivered, refused or spooled). Prints a summary on stderr. Returns 0, or -errno when it
 * could not start (ring missing in once mode, no permission, bad destination), after
 * logging why.
 */
int exporter__run(const struct exporter_opts *opts);

#endif
