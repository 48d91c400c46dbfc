// SPDX-License-Identifier: Apache-2.0
/*
 * LD_PRELOAD helper: takes 40 pthread keys before the interpreter starts, so that its own
 * gilstate key is >= 32 and glibc keeps its values in a second-level block, which the BPF
 * walk must follow.
 */
#include <pthread.h>

__attribute__((constructor)) static void take_keys(void)
{
	pthread_key_t k;
	int i;

	for (i = 0; i < 40; i++)
		pthread_key_create(&k, NULL);
}
