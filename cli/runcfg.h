/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `kiln run` hands its children the effective configuration (the file plus the flags) as
 * a YAML file of its own: the user's file may be unreadable to the unprivileged children,
 * and it carries every key (headers, auth, sources) that flags could not.
 */
#ifndef KILN_CLI_RUNCFG_H
#define KILN_CLI_RUNCFG_H

#include <stdio.h>

#include "common/config.h"

/*
 * Writes C to F as YAML that kiln_config__load() reads back to the same values (durations
 * in ns, sizes in bytes, strings double-quoted). Returns 0, -ENOMEM or -EIO.
 */
int runcfg__write(const struct kiln_config *c, FILE *f);

#endif
