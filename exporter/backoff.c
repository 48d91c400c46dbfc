// SPDX-License-Identifier: Apache-2.0
#include <time.h>

#include "exporter/backoff.h"

void backoff__start(struct backoff *b, const struct kiln_retry *cfg, uint64_t now_ns)
{
	struct timespec ts;

	b->cfg = *cfg;
	b->current_ns = cfg->initial_ns;
	b->start_ns = now_ns;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	b->rng = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull + (uintptr_t)b + 1;
}

/* Uniform in [0, 1), xorshift64*: jitter only, not security. */
static double uniform(struct backoff *b)
{
	b->rng ^= b->rng >> 12;
	b->rng ^= b->rng << 25;
	b->rng ^= b->rng >> 27;
	return (double)((b->rng * 0x2545f4914f6cdd1dull) >> 11) / 9007199254740992.0;
}

bool backoff__next(struct backoff *b, uint64_t now_ns, uint64_t retry_after_ns, uint64_t *wait_ns)
{
	double cur = (double)b->current_ns, delta = b->cfg.randomization * cur, w;

	if (!b->cfg.enabled)
		return false;
	w = cur - delta + uniform(b) * 2 * delta;
	cur *= b->cfg.multiplier;
	b->current_ns = cur > (double)b->cfg.max_interval_ns ? b->cfg.max_interval_ns
							     : (uint64_t)cur;
	/* The receiver's Retry-After wins over the computed interval (the collector's rule). */
	*wait_ns = retry_after_ns ? retry_after_ns : (uint64_t)w;
	if (b->cfg.max_elapsed_ns && now_ns + *wait_ns - b->start_ns > b->cfg.max_elapsed_ns)
		return false;
	return true;
}
