// SPDX-License-Identifier: Apache-2.0
/*
 * The YAML configuration (common/config.h documents the shape). libyaml builds the document
 * tree; this file walks it against the schema below and turns every mistake into one line
 * that names the file, the line, the key path and what was expected.
 *
 * The walk is driven by the schema, not by the document: it only descends where the schema
 * has a child, so its depth is bounded whatever the input (aliases may make libyaml's tree
 * cyclic, e.g. `&a [*a]`; a schema-driven walk never follows such a cycle more than once).
 */
#include "common/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yaml.h>

#include "common/util.h"

#define NS_PER_SEC 1000000000ull
#define PATH_LEN 256

#define MAX_HZ 100000u
#define RING_MIN (64ull << 10)
#define RING_MAX (1ull << 31)
#define RING_NAME_MAX 64

struct pctx {
	yaml_document_t *doc;
	const char *file;
	char *err;
	size_t errlen;
};

/* ---- durations and sizes ---- */

static const struct unit {
	const char *suffix;
	uint64_t mult;
} dur_units[] = {
	{ "ns", 1 },
	{ "us", 1000 },
	{ "µs", 1000 },
	{ "ms", 1000000 },
	{ "s", NS_PER_SEC },
	{ "m", 60 * NS_PER_SEC },
	{ "h", 3600 * NS_PER_SEC },
};

static const struct unit size_units[] = {
	{ "B", 1 },	      { "K", 1ull << 10 },
	{ "KB", 1000 },	      { "kB", 1000 },
	{ "Ki", 1ull << 10 }, { "KiB", 1ull << 10 },
	{ "M", 1ull << 20 },  { "MB", 1000000 },
	{ "Mi", 1ull << 20 }, { "MiB", 1ull << 20 },
	{ "G", 1ull << 30 },  { "GB", 1000000000 },
	{ "Gi", 1ull << 30 }, { "GiB", 1ull << 30 },
	{ "T", 1ull << 40 },  { "TB", 1000000000000ull },
	{ "Ti", 1ull << 40 }, { "TiB", 1ull << 40 },
};

/*
 * One "NUMBER[.FRACTION]UNIT" term. Fractions are done in integers (not strtod) so that
 * "0.1s" is exactly 100000000 ns. Returns the characters consumed, 0 on a syntax error or
 * -1 on overflow; *HAD_UNIT tells whether a suffix was there.
 */
static int parse_term(const char *s, const struct unit *units, size_t nr_units, bool unit_needed,
		      uint64_t bare_mult, uint64_t *val, bool *had_unit)
{
	uint64_t whole = 0, frac = 0, frac_div = 1, mult = 0;
	unsigned __int128 f;
	const char *p = s;
	size_t best = 0, i, l;

	if (!isdigit((unsigned char)*p))
		return 0;
	while (isdigit((unsigned char)*p)) {
		if (whole > (UINT64_MAX - 9) / 10)
			return -1;
		whole = whole * 10 + (uint64_t)(*p++ - '0');
	}
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return 0;
		while (isdigit((unsigned char)*p)) {
			/* Digits past 1e-12 cannot change a ns or byte count. */
			if (frac_div < 1000000000000ull) {
				frac = frac * 10 + (uint64_t)(*p - '0');
				frac_div *= 10;
			}
			p++;
		}
	}
	/* The longest matching suffix wins: "ms" before "m". */
	for (i = 0; i < nr_units; i++) {
		l = strlen(units[i].suffix);
		if (l > best && !strncmp(p, units[i].suffix, l)) {
			best = l;
			mult = units[i].mult;
		}
	}
	*had_unit = best > 0;
	if (!best) {
		if (unit_needed)
			return 0;
		mult = bare_mult;
	}
	p += best;
	if (whole && mult > UINT64_MAX / whole)
		return -1;
	*val = whole * mult;
	f = (unsigned __int128)frac * mult / frac_div;
	if (f > UINT64_MAX - *val)
		return -1;
	*val += (uint64_t)f;
	return (int)(p - s);
}

/*
 * A sum of terms ("1m30s") when MULTI, else one term; a bare number (BARE_MULT units) only
 * alone, since "1m30" is ambiguous.
 */
static int parse_quantity(const char *s, const struct unit *units, size_t nr_units,
			  uint64_t bare_mult, bool multi, uint64_t *out)
{
	uint64_t total = 0, v = 0;
	bool first = true, had_unit = false;
	int n;

	if (!s || !*s)
		return -EINVAL;
	while (*s) {
		n = parse_term(s, units, nr_units, !first, bare_mult, &v, &had_unit);
		if (n == 0)
			return -EINVAL;
		if (n < 0 || total > UINT64_MAX - v)
			return -ERANGE;
		total += v;
		s += n;
		if (*s && (!multi || !had_unit))
			return -EINVAL;
		first = false;
	}
	*out = total;
	return 0;
}

int kiln_parse_duration(const char *s, uint64_t *ns)
{
	/* Go-style sums ("1m30s") are accepted because Helm values often carry them. */
	return parse_quantity(s, dur_units, ARRAY_SIZE(dur_units), NS_PER_SEC, true, ns);
}

int kiln_parse_size(const char *s, uint64_t *bytes)
{
	return parse_quantity(s, size_units, ARRAY_SIZE(size_units), 1, false, bytes);
}

/* ---- defaults ---- */

static char *xstrdup(const char *s)
{
	return strdup(s ? s : "");
}

/* The spool lives in /var/lib when root, else in the XDG state directory. */
static char *default_spool_dir(void)
{
	const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	char buf[PATH_MAX];

	if (geteuid() == 0)
		return xstrdup("/var/lib/kiln/spool");
	if (state && state[0] == '/')
		snprintf(buf, sizeof(buf), "%s/kiln/spool", state);
	else if (home && *home)
		snprintf(buf, sizeof(buf), "%s/.local/state/kiln/spool", home);
	else
		return xstrdup("/tmp/kiln-spool");
	return xstrdup(buf);
}

/*
 * File destinations are resolved against the working directory once, at load time, so a
 * daemon that later changes directory still writes where the user meant.
 */
static char *absolute_dir(const char *path)
{
	char cwd[PATH_MAX], *out;
	size_t n;

	if (!strncmp(path, "file://", 7))
		path += 7;
	if (path[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		return xstrdup(path);
	if (!strncmp(path, "./", 2))
		path += 2;
	n = strlen(cwd) + strlen(path) + 2;
	out = malloc(n);
	if (out)
		snprintf(out, n, "%s%s%s", cwd, strcmp(cwd, "/") ? "/" : "", path);
	return out;
}

static void dest_free(struct kiln_destination *d)
{
	size_t i;

	free(d->name);
	free(d->url);
	free(d->format);
	for (i = 0; i < d->nr_headers; i++) {
		free(d->headers[i].name);
		free(d->headers[i].value);
	}
	free(d->headers);
	free(d->bearer_token_env);
	free(d->bearer_token_file);
	free(d->basic_user);
	free(d->basic_password_env);
	free(d->basic_password_file);
	free(d->ca_file);
	memset(d, 0, sizeof(*d));
}

static void source_free(struct kiln_source *s)
{
	free(s->k8s_namespace);
	free(s->k8s_kind);
	free(s->k8s_name);
	free(s->unit);
	free(s->container_id);
	free(s->executable);
	memset(s, 0, sizeof(*s));
}

static void free_dests(struct kiln_config *c)
{
	size_t i;

	for (i = 0; i < c->nr_dests; i++)
		dest_free(&c->dests[i]);
	free(c->dests);
	c->dests = NULL;
	c->nr_dests = 0;
}

static void free_sources(struct kiln_config *c)
{
	size_t i;

	for (i = 0; i < c->nr_sources; i++)
		source_free(&c->sources[i]);
	free(c->sources);
	c->sources = NULL;
	c->nr_sources = 0;
}

void kiln_config__free(struct kiln_config *c)
{
	if (!c)
		return;
	free(c->exporter.spool_dir);
	free(c->exporter.metrics_listen);
	free(c->ui.listen);
	free(c->ring_name);
	free(c->ring_group);
	free(c->user);
	free_dests(c);
	free_sources(c);
	free(c);
}

struct kiln_config *kiln_config__defaults(void)
{
	struct kiln_config *c = calloc(1, sizeof(*c));
	struct kiln_destination *d;

	if (!c)
		return NULL;
	c->profiling_enabled = true;
	c->sampling_hz = 19;
	c->window_ns = NS_PER_SEC;
	c->exporter.compression = KILN_COMPRESS_GZIP;
	c->exporter.timeout_ns = 5 * NS_PER_SEC;
	c->exporter.batch_timeout_ns = 5 * NS_PER_SEC;
	c->exporter.batch_max_bytes = 4ull << 20;
	c->exporter.queue_max_batches = 64;
	c->exporter.retry = (struct kiln_retry){
		.enabled = true,
		.initial_ns = 5 * NS_PER_SEC,
		.max_interval_ns = 30 * NS_PER_SEC,
		.max_elapsed_ns = 300 * NS_PER_SEC,
		.multiplier = 1.5,
		.randomization = 0.5,
	};
	c->exporter.spool_enabled = true;
	c->exporter.spool_dir = default_spool_dir();
	c->exporter.spool_max_bytes = 256ull << 20;
	c->exporter.metrics_listen = xstrdup("");
	c->ui.enabled = true;
	c->ui.listen = xstrdup("127.0.0.1:7070");
	c->ui.max_slots = 24;
	c->ui.slot_ttl_s = 120;
	c->ui.slot_max_bytes = 8388608;
	c->ui.cleanup_interval_s = 15;
	/* The ring's own default name (SHM_DEFAULT_NAME): /dev/shm/kiln-default. */
	c->ring_name = xstrdup("default");
	c->ring_size = 16ull << 20;
	c->ring_group = xstrdup("");
	c->user = xstrdup("");
	c->dests = calloc(1, sizeof(*c->dests));
	if (!c->exporter.spool_dir || !c->exporter.metrics_listen || !c->ui.listen ||
	    !c->ring_name || !c->ring_group || !c->user || !c->dests)
		goto cleanup;
	c->nr_dests = 1;
	d = &c->dests[0];
	d->name = xstrdup("local");
	d->type = KILN_DEST_FILE;
	d->url = absolute_dir("./profiles");
	d->profiles = true;
	d->format = xstrdup("otlp");
	d->max_bytes = KILN_FILE_DEST_MAX_BYTES;
	if (!d->name || !d->url || !d->format)
		goto cleanup;
	return c;
cleanup:
	kiln_config__free(c);
	return NULL;
}

/* ---- error reporting ---- */

static bool is_null(const yaml_node_t *n)
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
static const char *describe(const yaml_node_t *n, char *buf, size_t len)
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
	if (is_null(n))
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

static int __attribute__((format(printf, 4, 5)))
fail(struct pctx *p, const yaml_node_t *n, const char *path, const char *fmt, ...)
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

static int expected(struct pctx *p, const yaml_node_t *n, const char *path, const char *what)
{
	char buf[128];

	return fail(p, n, path, "expected %s, got %s", what, describe(n, buf, sizeof(buf)));
}

/* ---- mappings ---- */

static const char *scalar(const yaml_node_t *n)
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
static void join_path(char *out, const char *prefix, const char *key)
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
static int check_keys(struct pctx *p, const yaml_node_t *n, const char *path,
		      const char *const *keys)
{
	yaml_node_pair_t *pair, *other;
	size_t best_d = SIZE_MAX, d, i, off;
	const char *best = NULL;
	char kpath[PATH_LEN], list[256];

	if (n->type != YAML_MAPPING_NODE)
		return expected(p, n, path && *path ? path : "(top level)", "a mapping");
	for (pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(p->doc, pair->key);

		if (!k || k->type != YAML_SCALAR_NODE)
			return expected(p, k, path && *path ? path : "(top level)", "a key name");
		join_path(kpath, path, scalar(k));
		for (other = n->data.mapping.pairs.start; other < pair; other++) {
			yaml_node_t *ok = yaml_document_get_node(p->doc, other->key);

			if (ok && ok->type == YAML_SCALAR_NODE && !strcmp(scalar(ok), scalar(k)))
				return fail(p, k, kpath, "duplicate key (first set on line %zu)",
					    line_of(ok));
		}
		if (!keys)
			continue;
		for (i = 0; keys[i]; i++)
			if (!strcmp(keys[i], scalar(k)))
				break;
		if (keys[i])
			continue;
		best = NULL;
		best_d = SIZE_MAX;
		for (i = 0; keys[i]; i++) {
			d = edit_distance(scalar(k), keys[i]);
			if (d < best_d) {
				best_d = d;
				best = keys[i];
			}
		}
		if (best && best_d <= (strlen(best) >= 6 ? strlen(best) / 3 : 1))
			return fail(p, k, kpath, "unknown key, did you mean '%s'?", best);
		off = 0;
		list[0] = 0;
		for (i = 0; keys[i] && off < sizeof(list); i++)
			off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s",
						i ? ", " : "", keys[i]);
		return fail(p, k, kpath, "unknown key, expected one of: %s", list);
	}
	return 0;
}

/* The value for KEY in mapping N (already checked), or NULL. */
static yaml_node_t *get(struct pctx *p, const yaml_node_t *n, const char *key)
{
	yaml_node_pair_t *pair;

	for (pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(p->doc, pair->key);

		if (k && k->type == YAML_SCALAR_NODE && !strcmp(scalar(k), key))
			return yaml_document_get_node(p->doc, pair->value);
	}
	return NULL;
}

/* ---- typed values ---- */

static int get_bool(struct pctx *p, const yaml_node_t *n, const char *path, bool *out)
{
	/* Only true/false: a quoted "false" is a string, and truthy in too many places. */
	if (n->type == YAML_SCALAR_NODE && !is_quoted(n)) {
		if (!strcasecmp(scalar(n), "true")) {
			*out = true;
			return 0;
		}
		if (!strcasecmp(scalar(n), "false")) {
			*out = false;
			return 0;
		}
	}
	return expected(p, n, path, "true or false");
}

static int get_str(struct pctx *p, const yaml_node_t *n, const char *path, bool allow_empty,
		   char **out)
{
	char *s;

	if (n->type != YAML_SCALAR_NODE)
		return expected(p, n, path, "a string");
	if (is_null(n) || !*scalar(n)) {
		if (!allow_empty)
			return expected(p, n, path, "a non-empty string");
		s = strdup("");
	} else {
		if (strlen(scalar(n)) != n->data.scalar.length)
			return expected(p, n, path, "a string without NUL characters");
		s = strdup(scalar(n));
	}
	if (!s)
		return -ENOMEM;
	free(*out);
	*out = s;
	return 0;
}

static int get_uint(struct pctx *p, const yaml_node_t *n, const char *path, uint64_t min,
		    uint64_t max, const char *what, uint64_t *out)
{
	if (n->type != YAML_SCALAR_NODE || is_quoted(n) || parse_u64(scalar(n), min, max, out))
		return expected(p, n, path, what);
	return 0;
}

static int get_duration(struct pctx *p, const yaml_node_t *n, const char *path, uint64_t min,
			uint64_t *out)
{
	uint64_t v;
	char buf[128];

	if (n->type != YAML_SCALAR_NODE || kiln_parse_duration(scalar(n), &v))
		return expected(p, n, path, "a duration such as 5s");
	if (v < min) {
		if (min % NS_PER_SEC)
			return fail(p, n, path, "expected a duration of at least %llums, got %s",
				    (unsigned long long)(min / 1000000),
				    describe(n, buf, sizeof(buf)));
		return fail(p, n, path, "expected a duration of at least %llus, got %s",
			    (unsigned long long)(min / NS_PER_SEC), describe(n, buf, sizeof(buf)));
	}
	*out = v;
	return 0;
}

static int get_size(struct pctx *p, const yaml_node_t *n, const char *path, uint64_t min,
		    const char *what, uint64_t *out)
{
	uint64_t v;

	if (n->type != YAML_SCALAR_NODE || kiln_parse_size(scalar(n), &v) || v < min)
		return expected(p, n, path, what);
	*out = v;
	return 0;
}

/* "host:port" or "[v6]:port" with a port in 1..65535; the host may be empty (all addresses). */
static bool valid_hostport(const char *s, bool need_host)
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

static int get_listen(struct pctx *p, const yaml_node_t *n, const char *path, bool allow_empty,
		      char **out)
{
	if (n->type == YAML_SCALAR_NODE &&
	    ((allow_empty && (is_null(n) || !*scalar(n))) || valid_hostport(scalar(n), false)))
		return get_str(p, n, path, allow_empty, out);
	return expected(p, n, path, "an address such as 127.0.0.1:7070");
}

/* ---- sections ---- */

static int parse_retry(struct pctx *p, const yaml_node_t *n, const char *path, struct kiln_retry *r)
{
	static const char *const keys[] = { "enabled", "initialInterval", "maxInterval",
					    "maxElapsedTime", NULL };
	char kp[PATH_LEN];
	yaml_node_t *v;
	int err;

	if (is_null(n))
		return 0;
	err = check_keys(p, n, path, keys);
	if (err)
		return err;
	if ((v = get(p, n, "enabled"))) {
		join_path(kp, path, "enabled");
		if ((err = get_bool(p, v, kp, &r->enabled)))
			return err;
	}
	if ((v = get(p, n, "initialInterval"))) {
		join_path(kp, path, "initialInterval");
		if ((err = get_duration(p, v, kp, 1000000, &r->initial_ns)))
			return err;
	}
	if ((v = get(p, n, "maxInterval"))) {
		join_path(kp, path, "maxInterval");
		if ((err = get_duration(p, v, kp, 1000000, &r->max_interval_ns)))
			return err;
	}
	if ((v = get(p, n, "maxElapsedTime"))) {
		join_path(kp, path, "maxElapsedTime");
		/* 0 means retry forever, as in the OpenTelemetry exporters. */
		if ((err = get_duration(p, v, kp, 0, &r->max_elapsed_ns)))
			return err;
	}
	if (r->max_interval_ns < r->initial_ns) {
		char buf[128];

		v = get(p, n, "maxInterval") ?: get(p, n, "initialInterval");
		join_path(kp, path, get(p, n, "maxInterval") ? "maxInterval" : "initialInterval");
		return fail(p, v, kp, "expected maxInterval to be at least initialInterval, got %s",
			    describe(v, buf, sizeof(buf)));
	}
	return 0;
}

static int parse_spool(struct pctx *p, const yaml_node_t *n, const char *path,
		       struct kiln_config *c)
{
	static const char *const keys[] = { "enabled", "directory", "maxBytes", NULL };
	char kp[PATH_LEN];
	yaml_node_t *v;
	int err;

	if (is_null(n))
		return 0;
	if ((err = check_keys(p, n, path, keys)))
		return err;
	if ((v = get(p, n, "enabled"))) {
		join_path(kp, path, "enabled");
		if ((err = get_bool(p, v, kp, &c->exporter.spool_enabled)))
			return err;
	}
	if ((v = get(p, n, "directory"))) {
		join_path(kp, path, "directory");
		if (v->type != YAML_SCALAR_NODE || is_null(v) || scalar(v)[0] != '/')
			return expected(p, v, kp, "an absolute directory path");
		if ((err = get_str(p, v, kp, false, &c->exporter.spool_dir)))
			return err;
	}
	if ((v = get(p, n, "maxBytes"))) {
		join_path(kp, path, "maxBytes");
		if ((err = get_size(p, v, kp, 1ull << 20, "a size of at least 1MiB such as 256MiB",
				    &c->exporter.spool_max_bytes)))
			return err;
	}
	return 0;
}

static int parse_exporter(struct pctx *p, const yaml_node_t *n, struct kiln_config *c)
{
	static const char *const keys[] = {
		"enableDataCompression",
		"compression",
		"timeout",
		"batchTimeout",
		"batchMaxBytes",
		"queueMaxBatches",
		"retryOnFailure",
		"spool",
		"metricsListen",
		NULL,
	};
	const char *path = "profiling.exporter";
	uint64_t q;
	char kp[PATH_LEN];
	yaml_node_t *v;
	bool b;
	int err;

	if (is_null(n))
		return 0;
	if ((err = check_keys(p, n, path, keys)))
		return err;
	if ((v = get(p, n, "enableDataCompression"))) {
		if ((err = get_bool(p, v, "profiling.exporter.enableDataCompression", &b)))
			return err;
		c->exporter.compression = b ? KILN_COMPRESS_GZIP : KILN_COMPRESS_NONE;
	}
	/* Set after enableDataCompression, whatever the order in the file: it is the finer knob. */
	if ((v = get(p, n, "compression"))) {
		const char *s = v->type == YAML_SCALAR_NODE ? scalar(v) : "";

		if (!strcmp(s, "gzip"))
			c->exporter.compression = KILN_COMPRESS_GZIP;
		else if (!strcmp(s, "zstd"))
			c->exporter.compression = KILN_COMPRESS_ZSTD;
		else if (!strcmp(s, "none"))
			c->exporter.compression = KILN_COMPRESS_NONE;
		else
			return expected(p, v, "profiling.exporter.compression",
					"one of gzip, zstd, none");
	}
	if ((v = get(p, n, "timeout")) && (err = get_duration(p, v, "profiling.exporter.timeout",
							      1000000, &c->exporter.timeout_ns)))
		return err;
	if ((v = get(p, n, "batchTimeout")) &&
	    (err = get_duration(p, v, "profiling.exporter.batchTimeout", 1000000,
				&c->exporter.batch_timeout_ns)))
		return err;
	if ((v = get(p, n, "batchMaxBytes")) &&
	    (err = get_size(p, v, "profiling.exporter.batchMaxBytes", 4096,
			    "a size of at least 4KiB such as 4MiB", &c->exporter.batch_max_bytes)))
		return err;
	if ((v = get(p, n, "queueMaxBatches"))) {
		if ((err = get_uint(p, v, "profiling.exporter.queueMaxBatches", 1, 1000000,
				    "a whole number between 1 and 1000000", &q)))
			return err;
		c->exporter.queue_max_batches = q;
	}
	if ((v = get(p, n, "retryOnFailure"))) {
		join_path(kp, path, "retryOnFailure");
		if ((err = parse_retry(p, v, kp, &c->exporter.retry)))
			return err;
	}
	if ((v = get(p, n, "spool"))) {
		join_path(kp, path, "spool");
		if ((err = parse_spool(p, v, kp, c)))
			return err;
	}
	if ((v = get(p, n, "metricsListen")) &&
	    (err = get_listen(p, v, "profiling.exporter.metricsListen", true,
			      &c->exporter.metrics_listen)))
		return err;
	return 0;
}

static int parse_profiling(struct pctx *p, const yaml_node_t *n, struct kiln_config *c)
{
	static const char *const keys[] = {
		"enabled", "samplingFrequency", "windowSeconds", "exporter", "ui", "unwind", NULL
	};
	static const char *const ui_keys[] = { "enabled", "listen", NULL };
	yaml_node_t *v, *u;
	uint64_t hz;
	int err;

	if (is_null(n))
		return 0;
	if ((err = check_keys(p, n, "profiling", keys)))
		return err;
	if ((v = get(p, n, "enabled")) &&
	    (err = get_bool(p, v, "profiling.enabled", &c->profiling_enabled)))
		return err;
	if ((v = get(p, n, "samplingFrequency"))) {
		if ((err = get_uint(p, v, "profiling.samplingFrequency", 1, MAX_HZ,
				    "a frequency in Hz between 1 and 100000", &hz)))
			return err;
		c->sampling_hz = (unsigned int)hz;
	}
	if ((v = get(p, n, "windowSeconds"))) {
		uint64_t ns;

		/* Whole or fractional seconds, or a duration; the kernel flips at most 10/s. */
		if (v->type != YAML_SCALAR_NODE || kiln_parse_duration(scalar(v), &ns) ||
		    ns < NS_PER_SEC / 10 || ns > 60 * NS_PER_SEC)
			return expected(p, v, "profiling.windowSeconds",
					"a number of seconds between 0.1 and 60");
		c->window_ns = ns;
	}
	if ((v = get(p, n, "unwind"))) {
		if (v->type != YAML_SCALAR_NODE ||
		    (strcmp(scalar(v), "fp") && strcmp(scalar(v), "tables")))
			return expected(p, v, "profiling.unwind", "'tables' or 'fp'");
		c->unwind_fp = !strcmp(scalar(v), "fp");
	}
	if ((v = get(p, n, "exporter")) && (err = parse_exporter(p, v, c)))
		return err;
	if ((v = get(p, n, "ui")) && !is_null(v)) {
		if ((err = check_keys(p, v, "profiling.ui", ui_keys)))
			return err;
		if ((u = get(p, v, "enabled")) &&
		    (err = get_bool(p, u, "profiling.ui.enabled", &c->ui.enabled)))
			return err;
		if ((u = get(p, v, "listen")) &&
		    (err = get_listen(p, u, "profiling.ui.listen", false, &c->ui.listen)))
			return err;
	}
	return 0;
}

static bool valid_ring_name(const char *s)
{
	size_t n = strlen(s);

	/* The same rule as shm__path(): it becomes a file name in /dev/shm. */
	if (!n || n > RING_NAME_MAX || s[0] == '.')
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
			return false;
	return true;
}

static int parse_ring(struct pctx *p, const yaml_node_t *n, struct kiln_config *c)
{
	static const char *const keys[] = { "name", "size", "group", NULL };
	yaml_node_t *v;
	int err;

	if (is_null(n))
		return 0;
	if ((err = check_keys(p, n, "ring", keys)))
		return err;
	if ((v = get(p, n, "name"))) {
		if (v->type != YAML_SCALAR_NODE || !valid_ring_name(scalar(v)))
			return expected(p, v, "ring.name",
					"a name of letters, digits, '-', '_' or '.' (at most 64)");
		if ((err = get_str(p, v, "ring.name", false, &c->ring_name)))
			return err;
	}
	if ((v = get(p, n, "size"))) {
		uint64_t sz;

		if (v->type != YAML_SCALAR_NODE || kiln_parse_size(scalar(v), &sz) ||
		    sz < RING_MIN || sz > RING_MAX || (sz & (sz - 1)))
			return expected(p, v, "ring.size",
					"a power of two between 64KiB and 2GiB such as 64MiB");
		c->ring_size = sz;
	}
	if ((v = get(p, n, "group")) && (err = get_str(p, v, "ring.group", true, &c->ring_group)))
		return err;
	return 0;
}

static const char *const dest_types[] = {
	[KILN_DEST_FILE] = "file", [KILN_DEST_OTLP] = "otlp", [KILN_DEST_PYROSCOPE] = "pyroscope"
};

static int check_dest_url(struct pctx *p, const yaml_node_t *v, const char *kp,
			  struct kiln_destination *d)
{
	const char *u = d->url, *rest;

	switch (d->type) {
	case KILN_DEST_PYROSCOPE:
		/* Pyroscope takes host:port; kiln adds the scheme and /v1development/profiles. */
		if (strstr(u, "://") || !valid_hostport(u, true))
			return expected(p, v, kp,
					"host:port such as pyroscope:4040 (no scheme, no path)");
		break;
	case KILN_DEST_OTLP:
		if (!strncmp(u, "http://", 7))
			rest = u + 7;
		else if (!strncmp(u, "https://", 8))
			rest = u + 8;
		else
			return expected(p, v, kp,
					"a URL starting with http:// or https:// such as "
					"http://collector:4318");
		if (!*rest || *rest == '/')
			return expected(p, v, kp,
					"a URL with a host such as http://collector:4318");
		break;
	case KILN_DEST_FILE:
		if (strstr(u, "://") && strncmp(u, "file://", 7))
			return expected(p, v, kp,
					"a directory path such as /var/lib/kiln/profiles");
		break;
	}
	return 0;
}

static int parse_headers(struct pctx *p, const yaml_node_t *n, const char *path,
			 struct kiln_destination *d)
{
	yaml_node_pair_t *pair;
	char kp[PATH_LEN];
	size_t nr;
	int err;

	if (is_null(n))
		return 0;
	if ((err = check_keys(p, n, path, NULL)))
		return err;
	nr = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	d->headers = calloc(nr ? nr : 1, sizeof(*d->headers));
	if (!d->headers)
		return -ENOMEM;
	for (pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(p->doc, pair->key);
		yaml_node_t *v = yaml_document_get_node(p->doc, pair->value);
		struct kiln_header *h = &d->headers[d->nr_headers];

		join_path(kp, path, scalar(k));
		if (!*scalar(k))
			return expected(p, k, path, "a header name");
		for (const char *c = scalar(k); *c; c++)
			if (*c <= ' ' || *c == ':' || *c == 0x7f)
				return expected(p, k, path, "a header name without spaces or ':'");
		if ((err = get_str(p, v, kp, true, &h->value)))
			return err;
		/* Counted now, so that kiln_config__free() frees the value on the errors below. */
		d->nr_headers++;
		if (strpbrk(h->value, "\r\n"))
			return expected(p, v, kp, "a header value on one line");
		h->name = strdup(scalar(k));
		if (!h->name)
			return -ENOMEM;
	}
	return 0;
}

static int parse_auth(struct pctx *p, const yaml_node_t *n, const char *path,
		      struct kiln_destination *d)
{
	static const char *const keys[] = { "bearerTokenEnv", "bearerTokenFile", "basic", NULL };
	static const char *const bkeys[] = { "username", "passwordEnv", "passwordFile", NULL };
	char kp[PATH_LEN], bp[PATH_LEN];
	yaml_node_t *v, *b;
	int err;

	if (is_null(n))
		return 0;
	if ((err = check_keys(p, n, path, keys)))
		return err;
	if ((v = get(p, n, "bearerTokenEnv"))) {
		join_path(kp, path, "bearerTokenEnv");
		if ((err = get_str(p, v, kp, false, &d->bearer_token_env)))
			return err;
	}
	if ((v = get(p, n, "bearerTokenFile"))) {
		join_path(kp, path, "bearerTokenFile");
		if (d->bearer_token_env)
			return fail(p, v, kp,
				    "expected either bearerTokenEnv or bearerTokenFile, "
				    "got both");
		if ((err = get_str(p, v, kp, false, &d->bearer_token_file)))
			return err;
	}
	if ((b = get(p, n, "basic")) && !is_null(b)) {
		join_path(bp, path, "basic");
		if (d->bearer_token_env || d->bearer_token_file)
			return fail(p, b, bp, "expected either a bearer token or basic, got both");
		if ((err = check_keys(p, b, bp, bkeys)))
			return err;
		join_path(kp, bp, "username");
		if (!(v = get(p, b, "username")))
			return fail(p, b, kp, "expected a user name, got nothing");
		if ((err = get_str(p, v, kp, false, &d->basic_user)))
			return err;
		if ((v = get(p, b, "passwordEnv"))) {
			join_path(kp, bp, "passwordEnv");
			if ((err = get_str(p, v, kp, false, &d->basic_password_env)))
				return err;
		}
		if ((v = get(p, b, "passwordFile"))) {
			join_path(kp, bp, "passwordFile");
			if (d->basic_password_env)
				return fail(p, v, kp,
					    "expected either passwordEnv or passwordFile, "
					    "got both");
			if ((err = get_str(p, v, kp, false, &d->basic_password_file)))
				return err;
		}
	}
	return 0;
}

static int parse_signals(struct pctx *p, const yaml_node_t *n, const char *path,
			 struct kiln_destination *d)
{
	static const char *const known[] = { "PROFILES", "TRACES", "METRICS", "LOGS" };
	yaml_node_item_t *it;
	char kp[PATH_LEN + 24];
	size_t i;

	if (n->type != YAML_SEQUENCE_NODE)
		return expected(p, n, path, "a list such as [PROFILES]");
	d->profiles = false;
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		yaml_node_t *s = yaml_document_get_node(p->doc, *it);

		snprintf(kp, sizeof(kp), "%s[%zu]", path,
			 (size_t)(it - n->data.sequence.items.start));
		if (!s || s->type != YAML_SCALAR_NODE)
			return expected(p, s, kp, "one of PROFILES, TRACES, METRICS, LOGS");
		for (i = 0; i < ARRAY_SIZE(known); i++)
			if (!strcasecmp(scalar(s), known[i]))
				break;
		if (i == ARRAY_SIZE(known))
			return expected(p, s, kp, "one of PROFILES, TRACES, METRICS, LOGS");
		if (i == 0)
			d->profiles = true;
	}
	return 0;
}

static int parse_dest(struct pctx *p, const yaml_node_t *n, size_t idx, struct kiln_destination *d)
{
	static const char *const keys[] = { "name",   "type",	  "url",	   "signals",
					    "format", "maxFiles", "maxBytes",	   "headers",
					    "auth",   "tls",	  "pidAttributes", NULL };
	static const char *const tls_keys[] = { "caFile", NULL };
	static const char *const file_only[] = { "format", "maxFiles", "maxBytes" };
	char path[PATH_LEN], kp[PATH_LEN];
	yaml_node_t *v, *t;
	size_t i;
	int err;

	snprintf(path, sizeof(path), "destinations[%zu]", idx);
	if ((err = check_keys(p, n, path, keys)))
		return err;
	join_path(kp, path, "type");
	if (!(v = get(p, n, "type")))
		return fail(p, n, kp, "expected one of file, otlp, pyroscope, got nothing");
	for (i = 1; i < ARRAY_SIZE(dest_types); i++)
		if (v->type == YAML_SCALAR_NODE && !strcmp(scalar(v), dest_types[i]))
			break;
	if (i == ARRAY_SIZE(dest_types))
		return expected(p, v, kp, "one of file, otlp, pyroscope");
	d->type = (enum kiln_dest_type)i;
	d->profiles = true; /* signals left out: a profiler's destination carries profiles */

	join_path(kp, path, "name");
	if ((v = get(p, n, "name"))) {
		if ((err = get_str(p, v, kp, false, &d->name)))
			return err;
	} else {
		/* Unnamed destinations are named after their type; duplicates are caught later. */
		d->name = strdup(dest_types[d->type]);
		if (!d->name)
			return -ENOMEM;
	}

	join_path(kp, path, "url");
	if (!(v = get(p, n, "url")))
		return fail(p, n, kp, "expected %s, got nothing",
			    d->type == KILN_DEST_PYROSCOPE ? "host:port such as pyroscope:4040"
			    : d->type == KILN_DEST_OTLP	   ? "a URL such as http://collector:4318"
							   : "a directory path");
	if ((err = get_str(p, v, kp, false, &d->url)))
		return err;
	if ((err = check_dest_url(p, v, kp, d)))
		return err;
	if (d->type == KILN_DEST_FILE) {
		char *abs = absolute_dir(d->url);

		/* A profiler left running on a node must not fill its disk by default. */
		d->max_bytes = KILN_FILE_DEST_MAX_BYTES;
		if (!abs)
			return -ENOMEM;
		free(d->url);
		d->url = abs;
	}

	if ((v = get(p, n, "signals"))) {
		join_path(kp, path, "signals");
		if ((err = parse_signals(p, v, kp, d)))
			return err;
		if (!d->profiles)
			return fail(p, v, kp, "destination '%s' does not carry PROFILES", d->name);
	}

	for (i = 0; i < ARRAY_SIZE(file_only); i++) {
		if (d->type != KILN_DEST_FILE && (v = get(p, n, file_only[i]))) {
			join_path(kp, path, file_only[i]);
			return fail(p, v, kp, "only applies to type file, not %s",
				    dest_types[d->type]);
		}
	}
	d->format = strdup("otlp");
	if (!d->format)
		return -ENOMEM;
	if ((v = get(p, n, "format"))) {
		join_path(kp, path, "format");
		if (v->type != YAML_SCALAR_NODE ||
		    (strcmp(scalar(v), "otlp") && strcmp(scalar(v), "pprof")))
			return expected(p, v, kp, "one of otlp, pprof");
		if ((err = get_str(p, v, kp, false, &d->format)))
			return err;
	}
	if ((v = get(p, n, "maxFiles"))) {
		join_path(kp, path, "maxFiles");
		if ((err = get_uint(p, v, kp, 0, UINT32_MAX, "a whole number (0: unlimited)",
				    &d->max_files)))
			return err;
	}
	if ((v = get(p, n, "maxBytes"))) {
		join_path(kp, path, "maxBytes");
		if ((err = get_size(p, v, kp, 0, "a size such as 1GiB (0: unlimited)",
				    &d->max_bytes)))
			return err;
	}
	if ((v = get(p, n, "headers"))) {
		join_path(kp, path, "headers");
		if ((err = parse_headers(p, v, kp, d)))
			return err;
	}
	if ((v = get(p, n, "auth"))) {
		join_path(kp, path, "auth");
		if ((err = parse_auth(p, v, kp, d)))
			return err;
	}
	if ((v = get(p, n, "tls")) && !is_null(v)) {
		join_path(kp, path, "tls");
		if ((err = check_keys(p, v, kp, tls_keys)))
			return err;
		if ((t = get(p, v, "caFile"))) {
			join_path(kp, path, "tls.caFile");
			if ((err = get_str(p, t, kp, false, &d->ca_file)))
				return err;
		}
	}
	if ((v = get(p, n, "pidAttributes"))) {
		join_path(kp, path, "pidAttributes");
		if ((err = get_bool(p, v, kp, &d->pid_attributes)))
			return err;
	}
	return 0;
}

static int parse_dests(struct pctx *p, const yaml_node_t *n, struct kiln_config *c)
{
	yaml_node_item_t *it;
	size_t nr, i, j;
	int err;

	free_dests(c);
	if (is_null(n))
		return 0;
	if (n->type != YAML_SEQUENCE_NODE)
		return expected(p, n, "destinations", "a list of destinations");
	nr = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	c->dests = calloc(nr ? nr : 1, sizeof(*c->dests));
	if (!c->dests)
		return -ENOMEM;
	for (it = n->data.sequence.items.start, i = 0; i < nr; it++, i++) {
		yaml_node_t *d = yaml_document_get_node(p->doc, *it);

		c->nr_dests = i + 1;
		if ((err = parse_dest(p, d, i, &c->dests[i])))
			return err;
		for (j = 0; j < i; j++) {
			if (!strcmp(c->dests[j].name, c->dests[i].name)) {
				char path[PATH_LEN];
				yaml_node_t *nn = get(p, d, "name") ?: d;

				snprintf(path, sizeof(path), "destinations[%zu].name", i);
				return fail(p, nn, path,
					    "expected a unique name, got '%s' (destinations[%zu] "
					    "has it too)",
					    c->dests[i].name, j);
			}
		}
	}
	return 0;
}

static const char *const k8s_kinds[] = { "deployment", "statefulset", "daemonset", "job",
					 "cronjob",    "replicaset",  "pod" };

static int parse_source(struct pctx *p, const yaml_node_t *n, size_t idx, struct kiln_source *s)
{
	static const char *const keys[] = { "namespace",   "kind",	 "name", "unit",
					    "containerId", "executable", NULL };
	char path[PATH_LEN], kp[PATH_LEN];
	const char *groups[4] = { 0 };
	yaml_node_t *v;
	size_t ng = 0, i;
	int err;

	snprintf(path, sizeof(path), "sources[%zu]", idx);
	if ((err = check_keys(p, n, path, keys)))
		return err;
	if (!n->data.mapping.pairs.top || n->data.mapping.pairs.top == n->data.mapping.pairs.start)
		return fail(p, n, path,
			    "expected a selector (namespace/kind/name, unit, containerId or "
			    "executable), got an empty mapping");
	if (get(p, n, "namespace") || get(p, n, "kind") || get(p, n, "name"))
		groups[ng++] = "namespace/kind/name";
	if (get(p, n, "unit"))
		groups[ng++] = "unit";
	if (get(p, n, "containerId"))
		groups[ng++] = "containerId";
	if (get(p, n, "executable"))
		groups[ng++] = "executable";
	if (ng > 1)
		return fail(p, n, path,
			    "expected one kind of selector, got %s and %s (use two "
			    "sources to select both)",
			    groups[0], groups[1]);

#define SRC_STR(key, field)                                              \
	do {                                                             \
		if ((v = get(p, n, key))) {                              \
			join_path(kp, path, key);                        \
			if ((err = get_str(p, v, kp, false, &s->field))) \
				return err;                              \
		}                                                        \
	} while (0)
	SRC_STR("namespace", k8s_namespace);
	SRC_STR("name", k8s_name);
	SRC_STR("unit", unit);
	SRC_STR("executable", executable);
	SRC_STR("kind", k8s_kind);
#undef SRC_STR
	if (s->k8s_kind) {
		for (char *c = s->k8s_kind; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		for (i = 0; i < ARRAY_SIZE(k8s_kinds); i++)
			if (!strcmp(s->k8s_kind, k8s_kinds[i]))
				break;
		if (i == ARRAY_SIZE(k8s_kinds)) {
			join_path(kp, path, "kind");
			return expected(p, get(p, n, "kind"), kp,
					"one of deployment, statefulset, daemonset, job, cronjob, "
					"replicaset, pod");
		}
	}
	if ((v = get(p, n, "containerId"))) {
		join_path(kp, path, "containerId");
		/* A prefix of the hex id, as `docker ps` shows it (12) or longer. */
		if (v->type != YAML_SCALAR_NODE || strlen(scalar(v)) < 4 ||
		    strlen(scalar(v)) > 64 ||
		    strspn(scalar(v), "0123456789abcdef") != strlen(scalar(v)))
			return expected(p, v, kp, "a hex container id (or a prefix of 4+ digits)");
		if ((err = get_str(p, v, kp, false, &s->container_id)))
			return err;
	}
	return 0;
}

static int parse_sources(struct pctx *p, const yaml_node_t *n, struct kiln_config *c)
{
	yaml_node_item_t *it;
	size_t nr, i;
	int err;

	free_sources(c);
	if (is_null(n))
		return 0;
	if (n->type != YAML_SEQUENCE_NODE)
		return expected(p, n, "sources", "a list of sources");
	nr = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	c->sources = calloc(nr ? nr : 1, sizeof(*c->sources));
	if (!c->sources)
		return -ENOMEM;
	for (it = n->data.sequence.items.start, i = 0; i < nr; it++, i++) {
		c->nr_sources = i + 1;
		if ((err = parse_source(p, yaml_document_get_node(p->doc, *it), i, &c->sources[i])))
			return err;
	}
	return 0;
}

static int parse_root(struct pctx *p, const yaml_node_t *root, struct kiln_config *c)
{
	static const char *const keys[] = { "profiling",    "ring",    "user",
					    "destinations", "sources", NULL };
	yaml_node_t *v;
	int err;

	if (!root || is_null(root))
		return 0; /* an empty file: every default */
	if ((err = check_keys(p, root, "", keys)))
		return err;
	if ((v = get(p, root, "profiling")) && (err = parse_profiling(p, v, c)))
		return err;
	if ((v = get(p, root, "ring")) && (err = parse_ring(p, v, c)))
		return err;
	if ((v = get(p, root, "user")) && (err = get_str(p, v, "user", true, &c->user)))
		return err;
	if ((v = get(p, root, "destinations")) && (err = parse_dests(p, v, c)))
		return err;
	if ((v = get(p, root, "sources")) && (err = parse_sources(p, v, c)))
		return err;
	return 0;
}

int kiln_config__load(const char *path, struct kiln_config **out, char *err, size_t errlen)
{
	struct kiln_config *c = NULL;
	yaml_document_t doc, extra;
	bool have_doc = false;
	yaml_parser_t parser;
	bool have_parser = false;
	struct pctx p = { .doc = &doc, .file = path, .err = err, .errlen = errlen };
	FILE *f = NULL;
	int ret;

	*out = NULL;
	if (errlen)
		err[0] = 0;
	f = fopen(path, "re");
	if (!f) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		goto cleanup;
	}
	c = kiln_config__defaults();
	if (!c || !yaml_parser_initialize(&parser)) {
		ret = -ENOMEM;
		snprintf(err, errlen, "%s: %s", path, strerror(ENOMEM));
		goto cleanup;
	}
	have_parser = true;
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc)) {
		ret = -EINVAL;
		snprintf(err, errlen, "%s:%zu:%zu: invalid YAML: %s%s%s", path,
			 parser.problem_mark.line + 1, parser.problem_mark.column + 1,
			 parser.problem ? parser.problem : "syntax error",
			 parser.context ? " " : "", parser.context ? parser.context : "");
		goto cleanup;
	}
	have_doc = true;
	ret = parse_root(&p, yaml_document_get_root_node(&doc), c);
	if (ret == -ENOMEM)
		snprintf(err, errlen, "%s: %s", path, strerror(ENOMEM));
	if (ret)
		goto cleanup;
	/* A second document would silently be ignored: say so instead. */
	if (!yaml_parser_load(&parser, &extra)) {
		ret = -EINVAL;
		snprintf(err, errlen, "%s:%zu:%zu: invalid YAML: %s", path,
			 parser.problem_mark.line + 1, parser.problem_mark.column + 1,
			 parser.problem ? parser.problem : "syntax error");
		goto cleanup;
	}
	if (yaml_document_get_root_node(&extra)) {
		size_t line = extra.start_mark.line + 1;

		yaml_document_delete(&extra);
		ret = -EINVAL;
		snprintf(err, errlen, "%s:%zu: expected one YAML document, got a second one", path,
			 line);
		goto cleanup;
	}
	yaml_document_delete(&extra);
	*out = c;
	c = NULL;
cleanup:
	if (have_doc)
		yaml_document_delete(&doc);
	if (have_parser)
		yaml_parser_delete(&parser);
	if (f)
		fclose(f);
	kiln_config__free(c);
	return ret;
}

/* ---- environment ---- */

int kiln_config__apply_env(struct kiln_config *c, char *err, size_t errlen)
{
	static const struct {
		const char *name;
		uint64_t min, max;
		const char *what;
		size_t off;
	} vars[] = {
		{ "PROFILES_MAX_SLOTS", 1, 10000, "a whole number of slots between 1 and 10000",
		  offsetof(struct kiln_config, ui.max_slots) },
		{ "PROFILES_SLOT_TTL_SECONDS", 1, 7 * 86400,
		  "a whole number of seconds between 1 and 604800",
		  offsetof(struct kiln_config, ui.slot_ttl_s) },
		{ "PROFILES_SLOT_MAX_BYTES", 4096, 1ull << 32,
		  "a whole number of bytes between 4096 and 4294967296",
		  offsetof(struct kiln_config, ui.slot_max_bytes) },
		{ "PROFILES_CLEANUP_INTERVAL_SECONDS", 1, 86400,
		  "a whole number of seconds between 1 and 86400",
		  offsetof(struct kiln_config, ui.cleanup_interval_s) },
	};
	uint64_t v[ARRAY_SIZE(vars)];
	const char *s;
	size_t i;

	if (errlen)
		err[0] = 0;
	/* Every variable is checked before any is applied: all or nothing. */
	for (i = 0; i < ARRAY_SIZE(vars); i++) {
		memcpy(&v[i], (char *)c + vars[i].off, sizeof(v[i]));
		s = getenv(vars[i].name);
		if (!s)
			continue;
		if (parse_u64(s, vars[i].min, vars[i].max, &v[i])) {
			snprintf(err, errlen, "%s: expected %s, got '%.48s'", vars[i].name,
				 vars[i].what, s);
			return -EINVAL;
		}
	}
	for (i = 0; i < ARRAY_SIZE(vars); i++)
		memcpy((char *)c + vars[i].off, &v[i], sizeof(v[i]));
	return 0;
}
