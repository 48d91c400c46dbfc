// SPDX-License-Identifier: Apache-2.0
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum log_level cur_level = LOG_LEVEL_WARN;
static const char *cur_name = "kiln";

void log_set_level(enum log_level level)
{
	cur_level = level;
}

enum log_level log_get_level(void)
{
	return cur_level;
}

void log_set_name(const char *name)
{
	cur_name = name;
}

void log_vprint(enum log_level level, const char *fmt, va_list ap)
{
	static const char *const tags[] = { "error", "warning", "info", "debug" };
	char small[1024], *buf = small, *big = NULL;
	va_list again;
	int len;
	size_t n;

	if (level > cur_level)
		return;
	va_copy(again, ap);
	len = vsnprintf(small, sizeof(small), fmt, ap);
	/* Verifier logs arrive as one message of many kilobytes: never cut them. */
	if (len >= (int)sizeof(small)) {
		big = malloc((size_t)len + 1);
		if (big) {
			vsnprintf(big, (size_t)len + 1, fmt, again);
			buf = big;
		}
	}
	va_end(again);
	n = strlen(buf);
	while (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	/* One fprintf per message so that lines of concurrent processes do not interleave. */
	fprintf(stderr, "%s: %s: %s\n", cur_name, tags[level], buf);
	free(big);
}

void log_print(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vprint(level, fmt, ap);
	va_end(ap);
}
