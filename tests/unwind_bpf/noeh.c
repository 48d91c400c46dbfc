// SPDX-License-Identifier: Apache-2.0
/* A library built without unwind tables: its .eh_frame holds no FDE. */
#include <stdint.h>

static volatile uint64_t noeh_sink;

static void noeh_store(uint64_t x)
{
	noeh_sink = x;
}

/* Not a leaf to gcc (the call through a volatile pointer), so it keeps its frame pointer. */
static void (*volatile noeh_store_p)(uint64_t) = noeh_store;

__attribute__((noinline)) void noeh_leaf(void)
{
	uint64_t x = noeh_sink;

	for (int i = 0; i < 200000; i++)
		x = x * 6364136223846793005ull + 1;
	noeh_store_p(x);
	__asm__ volatile(""); /* no tail call: this frame stays on the stack */
}

__attribute__((noinline)) void noeh_outer(void)
{
	noeh_leaf();
	__asm__ volatile("");
}
