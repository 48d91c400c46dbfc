// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer harness for the mapping events: any bytes, read as a perf ring's records, must be
 * parsed or counted as malformed, never crash, leak or read out of bounds; what parses is
 * applied to a symbolizer (exec, fork, overlapping mappings, exit) and looked up. Process ids
 * are moved beyond PID_MAX_LIMIT and file paths to anonymous memory, so no input reaches
 * /proc or opens a file: each run depends on its bytes alone.
 */
#include <stdint.h>
#include <string.h>

#include "aggregator/mmapwatch.h"
#include "symbolize/symbolize.h"

#define FAKE_BASE 4194400u

static struct symbolizer *sym;

static void apply(const struct mmapwatch_rec *r, void *ctx)
{
	struct mmapwatch_rec c = *r;
	struct sym_frame f;

	(void)ctx;
	c.pid = FAKE_BASE + r->pid % 8;
	c.ppid = FAKE_BASE + r->ppid % 8;
	c.tid = r->tid == r->pid ? c.pid : c.pid + 8;
	if (c.filename)
		c.filename = "//anon";
	mmapwatch__to_symbolizer(&c, sym);
	if (r->type == MMAPWATCH_MMAP) {
		symbolizer__user(sym, c.pid, r->addr, &f);
		symbolizer__user(sym, c.pid, r->addr + r->len / 2, &f);
		symbolizer__user(sym, c.pid, r->addr - 1, &f);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mmapwatch_opts o = { .sz = sizeof(o), .offline = true };
	struct symbolizer_opts so = { .sz = sizeof(so), .kallsyms = "/dev/null" };
	struct mmapwatch_stats st;
	struct mmapwatch *w = NULL;
	int n;

	if (mmapwatch__new(&w, &o))
		return 0;
	sym = symbolizer__new(&so);
	if (!sym) {
		mmapwatch__free(w);
		return 0;
	}
	n = mmapwatch__feed(w, data, size, apply, NULL);
	mmapwatch__stats(w, &st);
	/* Every record delivered was counted as read, by type. */
	if (n >= 0 && (uint64_t)n > st.records)
		__builtin_trap();
	if (n >= 0 && (uint64_t)n != st.mmaps + st.execs + st.forks + st.exits)
		__builtin_trap();
	symbolizer__sweep(sym);
	symbolizer__sweep(sym);
	symbolizer__free(sym);
	sym = NULL;
	mmapwatch__free(w);
	return 0;
}
