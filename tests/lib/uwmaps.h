/* SPDX-License-Identifier: Apache-2.0 */
/* Real BPF maps of the shapes the sampler hands the unwinder, for tests without a program. */
#ifndef KILN_TEST_UWMAPS_H
#define KILN_TEST_UWMAPS_H

#include <stdbool.h>
#include <stdint.h>

#include "aggregator/unwinder.h"

/*
 * Creates the unwinder's four maps into M (4096 mappings and pages, 1 << 20 deltas, every
 * rule; IDLE_MAX idle tables kept, 0: the unwinder's default); the delta array mmapable, as the
 * agent's is, when MMAPABLE (else the unwinder writes it by map updates). Returns 0, or
 * -errno with nothing left open (-EPERM: the kernel refuses BPF maps).
 */
int kiln_test_uw_maps__create(struct unwinder_maps *m, uint32_t idle_max, bool mmapable);

/* Closes M's maps. */
void kiln_test_uw_maps__close(struct unwinder_maps *m);

#endif
