// SPDX-License-Identifier: Apache-2.0
#include "log.h"

#include <stdio.h>
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
	char buf[2048];
	size_t n;

	if (level > cur_level)
		return;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	/* One fprintf per line so that lines of concurrent processes do not interleave. */
	fprintf(stderr, "%s: %s: %s\n", cur_name, tags[level], buf);
}

void log_print(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vprint(level, fmt, ap);
	va_end(ap);
}
