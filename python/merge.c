// SPDX-License-Identifier: Apache-2.0
/* Merging native and Python frames of one sample (python/python.h: python_merge()). */
#include "python/python.h"

static size_t put(struct python_merge_slot *out, size_t cap, size_t n, bool python, size_t index)
{
	if (n < cap) {
		out[n].python = python;
		out[n].index = (uint32_t)index;
	}
	return n + 1;
}

/* One past the end of the run starting at J: after its entry frame, or at the end. */
static size_t run_end(const uint64_t *py, size_t np, size_t j)
{
	for (; j < np; j++)
		if (KILN_PY_IS_ENTRY(py[j]))
			return j + 1;
	return np;
}

static bool has_frame(const uint64_t *py, size_t from, size_t to)
{
	for (; from < to; from++)
		if (KILN_PY_IS_FRAME(py[from]))
			return true;
	return false;
}

size_t python_merge(const uint64_t *native, size_t nn, const uint64_t *py, size_t np,
		    python_in_eval_fn in_eval, void *ctx, struct python_merge_slot *out, size_t cap,
		    bool *exact)
{
	size_t evals = 0, runs = 0, i, j, e, k = 0, n = 0;

	for (i = 0; i < nn; i++)
		evals += in_eval(ctx, native[i]);
	/* a trailing slice of markers only (truncated, fault) belongs to the last run */
	for (j = 0; j < np; j = e) {
		e = run_end(py, np, j);
		runs += !runs || has_frame(py, j, e);
	}
	*exact = evals == runs || !evals;
	if (evals && evals == runs) {
		j = 0;
		for (i = 0; i < nn; i++) {
			if (!in_eval(ctx, native[i])) {
				n = put(out, cap, n, false, i);
				continue;
			}
			e = ++k == runs ? np : run_end(py, np, j);
			for (; j < e; j++)
				n = put(out, cap, n, true, j);
		}
		return n < cap ? n : cap;
	}
	for (i = 0; i < nn && !in_eval(ctx, native[i]); i++)
		n = put(out, cap, n, false, i);
	for (j = 0; j < np; j++)
		n = put(out, cap, n, true, j);
	return n < cap ? n : cap;
}
