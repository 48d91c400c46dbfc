// SPDX-License-Identifier: Apache-2.0
#include "cli/cli_opts.h"

#include <errno.h>

#include "aggregator/sampler.h"
#include "common/log.h"
#include "common/util.h"

int cli_parse_freq(const char *flag, const char *arg, unsigned int *hz)
{
	uint64_t v, max;

	if (parse_u64(arg, 0, UINT32_MAX, &v) || sampler__check_freq((unsigned int)v, &max)) {
		sampler__check_freq(1, &max);
		log_error("%s '%s': expected a frequency from 1 to %llu Hz (the kernel's "
			  "perf_event_max_sample_rate)",
			  flag, arg, (unsigned long long)max);
		return -EINVAL;
	}
	*hz = (unsigned int)v;
	return 0;
}

int cli_parse_num(const char *flag, const char *arg, uint64_t min, uint64_t max, const char *what,
		  uint64_t *out)
{
	if (parse_u64(arg, min, max, out)) {
		log_error("%s '%s': expected %s from %llu to %llu", flag, arg, what,
			  (unsigned long long)min, (unsigned long long)max);
		return -EINVAL;
	}
	return 0;
}

void cli_set_verbosity(int verbose)
{
	log_set_level(verbose >= 2 ? LOG_LEVEL_DEBUG : verbose ? LOG_LEVEL_INFO : LOG_LEVEL_WARN);
}

int cli_opt_common(int opt, int *verbose, void (*usage)(FILE *f))
{
	if (opt == 'v' && verbose) {
		(*verbose)++;
		return 0;
	}
	if (opt == 'h') {
		usage(stdout);
		return 1;
	}
	usage(stderr);
	return -EINVAL;
}
