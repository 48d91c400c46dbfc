/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Growable arrays: the caller keeps the pointer, the count and the capacity in its own struct
 * (typed, no macros hiding control flow); array_reserve() is the one place that grows them.
 */
#ifndef KILN_COMMON_ARRAY_H
#define KILN_COMMON_ARRAY_H

#include <stddef.h>

/*
 * Makes room in the array at *ARRP (ARRP: the address of a T * holding *CAP elements of SIZE
 * bytes) for at least NEED elements: the capacity doubles, starting from MIN (at least 1),
 * until it holds NEED. Returns 0, or -ENOMEM with the array and *CAP unchanged.
 */
int array_reserve(void *arrp, size_t *cap, size_t need, size_t size, size_t min);

#endif
