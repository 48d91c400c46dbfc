/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-bench unwind's table-build rows (bench/unwind_build.c). */
#ifndef KILN_BENCH_UNWIND_BUILD_H
#define KILN_BENCH_UNWIND_BUILD_H

#include <stdbool.h>

/*
 * Prints, for each big system binary present (libc, python3.11, nginx, redis-server,
 * postgres, libLLVM-15), its table build time (one pass and the row-by-row reference, median
 * of 3 in-process builds), its rows, and the ratio to readelf's frames-interp wall time
 * measured in the same run. SHORT_MODE (--short): one build of each, libLLVM left out.
 */
void bench_unwind_builds(bool short_mode);

#endif
