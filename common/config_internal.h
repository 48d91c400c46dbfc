/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the configuration's files share, and nothing outside common/config*.c includes:
 * config.c walks the schema's sections, config_yaml.c reads typed values and reports errors,
 * config_defaults.c holds the defaults, the environment overrides and freeing.
 */
#ifndef KILN_CONFIG_INTERNAL_H
#define KILN_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yaml.h>

#include "common/config.h"

#define NS_PER_SEC 1000000000ull
#define PATH_LEN 256

struct pctx {
	yaml_document_t *doc;
	const char *file;
	char *err;
	size_t errlen;
};

/* config_defaults.c */

/*
 * PATH (a file:// prefix dropped) made absolute against the working directory: a malloc'd
 * copy the caller frees, or NULL when out of memory. File destinations are resolved once, at
 * load time, so a daemon that later changes directory still writes where the user meant.
 */
char *config_absolute_dir(const char *path);
/* Frees C's destinations (the array and every entry) and sets their count to 0. */
void config_free_dests(struct kiln_config *c);
/* Frees C's sources (the array and every entry) and sets their count to 0. */
void config_free_sources(struct kiln_config *c);

/* config_yaml.c: errors return -EINVAL with one line in p->err, or -ENOMEM. */

/* True when N is a plain null scalar ("", ~, null). */
bool config_is_null(const yaml_node_t *n);
/* What the user wrote, for "got ...": the value (shortened, control characters masked). */
const char *config_describe(const yaml_node_t *n, char *buf, size_t len);
/* Writes "FILE:LINE: PATH: " and the message into p->err. Returns -EINVAL. */
int __attribute__((format(printf, 4, 5)))
config_fail(struct pctx *p, const yaml_node_t *n, const char *path, const char *fmt, ...);
/* config_fail() with "expected WHAT, got VALUE". Returns -EINVAL. */
int config_expected(struct pctx *p, const yaml_node_t *n, const char *path, const char *what);
/* Scalar N's text (owned by the document). */
const char *config_scalar(const yaml_node_t *n);
/* OUT (PATH_LEN bytes) = PREFIX.KEY; an overlong path is cut and marked with "...". */
void config_join_path(char *out, const char *prefix, const char *key);
/*
 * Checks that N is a mapping whose keys are all in KEYS (NULL-terminated; NULL: any key),
 * each at most once. An unknown key is named with the closest known one. Returns 0 or -EINVAL.
 */
int config_check_keys(struct pctx *p, const yaml_node_t *n, const char *path,
		      const char *const *keys);
/* The value for KEY in mapping N (already checked), or NULL. */
yaml_node_t *config_get(struct pctx *p, const yaml_node_t *n, const char *key);
/* Typed values at PATH: 0 with *OUT set, or -EINVAL (string setters: *OUT replaced, -ENOMEM). */
int config_get_bool(struct pctx *p, const yaml_node_t *n, const char *path, bool *out);
int config_get_str(struct pctx *p, const yaml_node_t *n, const char *path, bool allow_empty,
		   char **out);
int config_get_uint(struct pctx *p, const yaml_node_t *n, const char *path, uint64_t min,
		    uint64_t max, const char *what, uint64_t *out);
int config_get_duration(struct pctx *p, const yaml_node_t *n, const char *path, uint64_t min,
			uint64_t *out);
int config_get_size(struct pctx *p, const yaml_node_t *n, const char *path, uint64_t min,
		    const char *what, uint64_t *out);
/* "host:port" or "[v6]:port" with a port in 1..65535; the host may be empty (all addresses). */
bool config_valid_hostport(const char *s, bool need_host);
int config_get_listen(struct pctx *p, const yaml_node_t *n, const char *path, bool allow_empty,
		      char **out);

/* config_symbols.c: the `symbols` section (N: its mapping). Returns 0 or -EINVAL/-ENOMEM. */
int config_parse_symbols(struct pctx *p, const yaml_node_t *n, struct kiln_config *c);

#endif
