// SPDX-License-Identifier: Apache-2.0
/*
 * The YAML walk's tools: reading typed values from libyaml's nodes, checking a mapping's keys
 * against the schema, and one error line naming the file, the line, the key path and what was
 * expected.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config_internal.h"
#include "common/util.h"

/* ---- error reporting ---- */

bool config_is_null(const yaml_node_t *n)
{
	const char *v;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	v = (const char *)n->data.scalar.value;
	return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
	       !strcmp(v, "NULL");
}

static bool is_quoted(const yaml_node_t *n)
{
	return n->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
	       n->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
}

/* What the user wrote, for "got ...": the value (shortened, control characters masked). */
const char *config_describe(const yaml_node_t *n, char *buf, size_t len)
{
	const unsigned char *v;
	size_t i, o = 0, max;
	bool q;

	if (!n)
		return "nothing";
	if (n->type == YAML_MAPPING_NODE)
		return "a mapping";
	if (n->type == YAML_SEQUENCE_NODE)
		return "a list";
	if (config_is_null(n))
		return "nothing";
	v = n->data.scalar.value;
	q = is_quoted(n);
	max = len > 60 ? 48 : len / 2;
	buf[o++] = '\'';
	if (q)
		buf[o++] = '"';
	for (i = 0; i < n->data.scalar.length && o + 8 < len; i++) {
		if (i == max) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		buf[o++] = (v[i] < 0x20 || v[i] == 0x7f) ? '?' : (char)v[i];
	}
	if (q)
		buf[o++] = '"';
	buf[o++] = '\'';
	buf[o] = 0;
	return buf;
}

static size_t line_of(const yaml_node_t *n)
{
	return n ? n->start_mark.line + 1 : 1;
}

int __attribute__((format(printf, 4, 5)))
config_fail(struct pctx *p, const yaml_node_t *n, const char *path, const char *fmt, ...)
{
	va_list ap;
	int o;

	o = snprintf(p->err, p->errlen, "%s:%zu: %s: ", p->file, line_of(n), path);
	if (o >= 0 && (size_t)o < p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->err + o, p->errlen - (size_t)o, fmt, ap);
		va_end(ap);
	}
	/* Keys may be quoted strings with newlines in them: the message stays one line. */
	for (char *c = p->err; *c; c++)
		if ((unsigned char)*c < 0x20)
			*c = '?';
	return -EINVAL;
}

int config_expected(struct pctx *p, const yaml_node_t *n, const char *path, const char *what)
{
	char buf[128];

	return config_fail(p, n, path, "expected %s, got %s", what,
			   config_describe(n, buf, sizeof(buf)));
}

/* ---- mappings ---- */

const char *config_scalar(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

/*
 * Case-insensitive edit distance counting a swap of neighbours as one edit (the usual
 * typos: "unti", "samplingFrequncy"). Keys are short: longer strings are "far".
 */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j, c;
	uint8_t d[48][48];

	if (la >= ARRAY_SIZE(d) || lb >= ARRAY_SIZE(d))
		return SIZE_MAX;
	for (i = 0; i <= la; i++)
		d[i][0] = (uint8_t)i;
	for (j = 0; j <= lb; j++)
		d[0][j] = (uint8_t)j;
	for (i = 1; i <= la; i++) {
		for (j = 1; j <= lb; j++) {
			c = d[i - 1][j - 1] +
			    (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
			if (d[i - 1][j] + 1u < c)
				c = d[i - 1][j] + 1u;
			if (d[i][j - 1] + 1u < c)
				c = d[i][j - 1] + 1u;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1u < c)
				c = d[i - 2][j - 2] + 1u;
			d[i][j] = (uint8_t)c;
		}
	}
	return d[la][lb];
}

/* OUT (PATH_LEN bytes) = PREFIX.KEY; an overlong path is cut and marked with "...". */
void config_join_path(char *out, const char *prefix, const char *key)
{
	int n;

	if (prefix && *prefix)
		n = snprintf(out, PATH_LEN, "%s.%s", prefix, key);
	else
		n = snprintf(out, PATH_LEN, "%s", key);
	if (n >= PATH_LEN)
		memcpy(out + PATH_LEN - 4, "...", 4);
}

/*
 * Checks that N is a mapping whose keys are all in KEYS (NULL-terminated), each at most
 * once. An unknown key is named with the closest known one, since the usual cause is a typo
 * or a wrong case ("samplingfrequency").
 */
int config_check_keys(struct pctx *p, const yaml_node_t *n, const char *path,
		      const char *const *keys)
{
	yaml_node_pair_t *pair, *other;
	size_t best_d = SIZE_MAX, d, i, off;
	const char *best = NULL;
	char kpath[PATH_LEN], list[256];

	if (n->type != YAML_MAPPING_NODE)
		return config_expected(p, n, path && *path ? path : "(top level)", "a mapping");
	for (pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(p->doc, pair->key);

		if (!k || k->type != YAML_SCALAR_NODE)
			return config_expected(p, k, path && *path ? path : "(top level)",
					       "a key name");
		config_join_path(kpath, path, config_scalar(k));
		for (other = n->data.mapping.pairs.start; other < pair; other++) {
			yaml_node_t *ok = yaml_document_get_node(p->doc, other->key);

			if (ok && ok->type == YAML_SCALAR_NODE &&
			    !strcmp(config_scalar(ok), config_scalar(k)))
				return config_fail(p, k, kpath,
						   "duplicate key (first set on line %zu)",
						   line_of(ok));
		}
		if (!keys)
			continue;
		for (i = 0; keys[i]; i++)
			if (!strcmp(keys[i], config_scalar(k)))
				break;
		if (keys[i])
			continue;
		best = NULL;
		best_d = SIZE_MAX;
		for (i = 0; keys[i]; i++) {
			d = edit_distance(config_scalar(k), keys[i]);
			if (d < best_d) {
				best_d = d;
				best = keys[i];
			}
		}
		if (best && best_d <= (strlen(best) >= 6 ? strlen(best) / 3 : 1))
			return config_fail(p, k, kpath, "unknown key, did you mean '%s'?", best);
		off = 0;
		list[0] = 0;
		for (i = 0; keys[i] && off < sizeof(list); i++)
			off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s",
						i ? ", " : "", keys[i]);
		return config_fail(p, k, kpath, "unknown key, expected one of: %s", list);
	}
	return 0;
}

/* The value for KEY in mapping N (already checked), or NULL. */
yaml_node_t *config_get(struct pctx *p, const yaml_node_t *n, const char *key)
{
	yaml_node_pair_t *pair;

	for (pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(p->doc, pair->key);

		if (k && k->type == YAML_SCALAR_NODE && !strcmp(config_scalar(k), key))
			return yaml_document_get_node(p->doc, pair->value);
	}
	return NULL;
}

/* ---- typed values ---- */

int config_get_bool(struct pctx *p, const yaml_node_t *n, const char *path, bool *out)
{
	/* Only true/false: a quoted "false" is a string, and truthy in too many places. */
	if (n->type == YAML_SCALAR_NODE && !is_quoted(n)) {
		if (!strcasecmp(config_scalar(n), "true")) {
			*out = true;
			return 0;
		}
		if (!strcasecmp(config_scalar(n), "false")) {
			*out = false;
			return 0;
		}
	}
	return config_expected(p, n, path, "true or false");
}

int config_get_str(struct pctx *p, const yaml_node_t *n, const char *path, bool allow_empty,
		   char **out)
{
	char *s;

	if (n->type != YAML_SCALAR_NODE)
		return config_expected(p, n, path, "a string");
	if (config_is_null(n) || !*config_scalar(n)) {
		if (!allow_empty)
			return config_expected(p, n, path, "a non-empty string");
		s = strdup("");
	} else {
		if (strlen(config_scalar(n)) != n->data.scalar.length)
			return config_expected(p, n, path, "a string without NUL characters");
		s = strdup(config_scalar(n));
	}
	if (!s)
		return -ENOMEM;
	free(*out);
	*out = s;
	return 0;
}

int config_get_uint(struct pctx *p, const yaml_node_t *n, const char *path, uint64_t min,
		    uint64_t max, const char *what, uint64_t *out)
{
	if (n->type != YAML_SCALAR_NODE || is_quoted(n) ||
	    parse_u64(config_scalar(n), min, max, out))
		return config_expected(p, n, path, what);
	return 0;
}

int config_get_duration(struct pctx *p, const yaml_node_t *n, const char *path, uint64_t min,
			uint64_t *out)
{
	uint64_t v;
	char buf[128];

	if (n->type != YAML_SCALAR_NODE || kiln_parse_duration(config_scalar(n), &v))
		return config_expected(p, n, path, "a duration such as 5s");
	if (v < min) {
		if (min % NS_PER_SEC)
			return config_fail(p, n, path,
					   "expected a duration of at least %llums, got %s",
					   (unsigned long long)(min / 1000000),
					   config_describe(n, buf, sizeof(buf)));
		return config_fail(p, n, path, "expected a duration of at least %llus, got %s",
				   (unsigned long long)(min / NS_PER_SEC),
				   config_describe(n, buf, sizeof(buf)));
	}
	*out = v;
	return 0;
}

int config_get_size(struct pctx *p, const yaml_node_t *n, const char *path, uint64_t min,
		    const char *what, uint64_t *out)
{
	uint64_t v;

	if (n->type != YAML_SCALAR_NODE || kiln_parse_size(config_scalar(n), &v) || v < min)
		return config_expected(p, n, path, what);
	*out = v;
	return 0;
}

/* "host:port" or "[v6]:port" with a port in 1..65535; the host may be empty (all addresses). */
bool config_valid_hostport(const char *s, bool need_host)
{
	const char *colon;
	uint64_t port;

	if (*s == '[') {
		colon = strchr(s, ']');
		if (!colon || colon[1] != ':')
			return false;
		colon++;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return false;
	}
	if (need_host && colon == s)
		return false;
	for (const char *c = s; c < colon; c++)
		if (*c == '/' || isspace((unsigned char)*c))
			return false;
	return !parse_u64(colon + 1, 1, 65535, &port);
}

int config_get_listen(struct pctx *p, const yaml_node_t *n, const char *path, bool allow_empty,
		      char **out)
{
	if (n->type == YAML_SCALAR_NODE &&
	    ((allow_empty && (config_is_null(n) || !*config_scalar(n))) ||
	     config_valid_hostport(config_scalar(n), false)))
		return config_get_str(p, n, path, allow_empty, out);
	return config_expected(p, n, path, "an address such as 127.0.0.1:7070");
}
