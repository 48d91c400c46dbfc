// SPDX-License-Identifier: Apache-2.0
#include "common/array.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int array_reserve(void *arrp, size_t *cap, size_t need, size_t size, size_t min)
{
	size_t ncap;
	void *arr, *grown;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap : min ? min : 1;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2)
			return -ENOMEM;
		ncap *= 2;
	}
	if (size && ncap > SIZE_MAX / size)
		return -ENOMEM;
	/* ARRP points to a T *: read and write it as the object pointer it is. */
	memcpy(&arr, arrp, sizeof(arr));
	grown = realloc(arr, ncap * size);
	if (!grown)
		return -ENOMEM;
	memcpy(arrp, &grown, sizeof(grown));
	*cap = ncap;
	return 0;
}
