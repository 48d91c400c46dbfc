/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Exponential backoff as the OpenTelemetry Collector's retryOnFailure: the n-th wait is
 * initial * multiplier^n capped at max_interval, randomized by ±randomization, and retries
 * stop once max_elapsed has passed since the first attempt.
 */
#ifndef KILN_EXPORTER_BACKOFF_H
#define KILN_EXPORTER_BACKOFF_H

#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"

struct backoff {
	struct kiln_retry cfg;
	uint64_t current_ns; /* un-randomized interval of the next wait */
	uint64_t start_ns; /* monotonic time of the first attempt */
	uint64_t rng;
};

/* Starts a new series of attempts at NOW_NS (monotonic). */
void backoff__start(struct backoff *b, const struct kiln_retry *cfg, uint64_t now_ns);

/*
 * The wait before the next attempt, given that the receiver asked for RETRY_AFTER_NS (0: no
 * Retry-After). Returns false when retries are disabled or the wait would end after
 * max_elapsed (the batch then goes to the spool); otherwise true with *WAIT_NS.
 */
bool backoff__next(struct backoff *b, uint64_t now_ns, uint64_t retry_after_ns, uint64_t *wait_ns);

#endif
