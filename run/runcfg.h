/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `kiln run` hands its children the effective configuration (the file plus the flags) as
 * a YAML file of its own: the user's file may be unreadable to the unprivileged children,
 * and it carries every key (headers, auth, sources) that flags could not.
 */
#ifndef KILN_RUN_RUNCFG_H
#define KILN_RUN_RUNCFG_H

#include <stdio.h>

#include "common/config.h"

/*
 * Writes C to F as YAML that kiln_config__load() reads back to the same values (durations
 * in ns, sizes in bytes, strings double-quoted). Returns 0, -ENOMEM or -EIO.
 */
int runcfg__write(const struct kiln_config *c, FILE *f);

/* The parts of the effective config, by the child that reads them. */
#define RUNCFG_AGENT \
	1u /* profiling.enabled, samplingFrequency, windowSeconds, ring, user, sources */
#define RUNCFG_EXPORT 2u /* profiling.exporter, destinations */
#define RUNCFG_UI 4u /* profiling.ui */

/*
 * Which parts differ between A and B as written by runcfg__write(): a mask of RUNCFG_*
 * (0: none), or -ENOMEM / -EIO.
 */
int runcfg__diff(const struct kiln_config *a, const struct kiln_config *b);

#endif
