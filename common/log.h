/* SPDX-License-Identifier: Apache-2.0 */
/* Levelled logging shared by every kiln process. */
#ifndef KILN_COMMON_LOG_H
#define KILN_COMMON_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN = 1,
	LOG_LEVEL_INFO = 2,
	LOG_LEVEL_DEBUG = 3,
};

/* Sets the most verbose level that is printed; the default is LOG_LEVEL_WARN. */
void log_set_level(enum log_level level);

/* Returns the current level. */
enum log_level log_get_level(void);

/* Prefixes every line with "kiln NAME: "; NAME is not copied and must outlive its use. */
void log_set_name(const char *name);

/* Prints one line to stderr when LEVEL is enabled; a trailing newline is added if missing. */
void log_print(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* va_list flavour of log_print(), used by the libbpf print callback. */
void log_vprint(enum log_level level, const char *fmt, va_list ap);

#define log_error(...) log_print(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_print(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_print(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_print(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
