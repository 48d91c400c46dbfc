/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hash index moved to common/htab.h (it serves symbolize/, profile/, ui/ and the agent).
 * This name stays until the files that include it switch; new code includes common/htab.h.
 */
#ifndef KILN_SYMBOLIZE_HTAB_H
#define KILN_SYMBOLIZE_HTAB_H

#include "common/htab.h"

#endif
