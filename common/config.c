// SPDX-License-Identifier: Apache-2.0
/*
 * The YAML configuration (common/config.h documents the shape). libyaml builds the document
 * tree; this file walks it against the schema below and turns every mistake into one line
 * that names the file, the line, the key path and what was expected
 * (config_yaml.c reads the values and words the errors; config_defaults.c has the defaults).
 *
 * The walk is driven by the schema, not by the document: it only descends where the schema
 * has a child, so its depth is bounded whatever the input (aliases may make libyaml's tree
 * cyclic, e.g. `&a [*a]`; a schema-driven walk never follows such a cycle more than once).
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yaml.h>

#include "common/config_internal.h"
#include "common/util.h"

#define MAX_HZ 100000u
#define RING_MIN (64ull << 10)
#define RING_MAX (1ull << 31)
#define RING_NAME_MAX 64

/* ---- sections ---- */

static int parse_retry(struct pctx *p, const yaml_node_t *n, const char *path, struct kiln_retry *r)
{
	static const char *const keys[] = { "enabled", "initialInterval", "maxInterval",
					    "maxElapsedTime", NULL };
	char kp[PATH_LEN];
	yaml_node_t *v;
	int err;

	if (config_is_null(n))
		return 0;
	err = config_check_keys(p, n, path, keys);
	if (err)
		return err;
	if ((v = config_get(p, n, "enabled"))) {
		config_join_path(kp, path, "enabled");
		if ((err = config_get_bool(p, v, kp, &r->enabled)))
			return err;
	}
	if ((v = config_get(p, n, "initialInterval"))) {
		config_join_path(kp, path, "initialInterval");
		if ((err = config_get_duration(p, v, kp, 1000000, &r->initial_ns)))
			return err;
	}
	if ((v = config_get(p, n, "maxInterval"))) {
		config_join_path(kp, path, "maxInterval");
		if ((err = config_get_duration(p, v, kp, 1000000, &r->max_interval_ns)))
			return err;
	}
	if ((v = config_get(p, n, "maxElapsedTime"))) {
		config_join_path(kp, path, "maxElapsedTime");
		/* 0 means retry forever, as in the OpenTelemetry exporters. */
		if ((err = config_get_duration(p, v, kp, 0, &r->max_elapsed_ns)))
			return err;
	}
	if (r->max_interval_ns < r->initial_ns) {
		char buf[128];

		v = config_get(p, n, "maxInterval") ?: config_get(p, n, "initialInterval");
		config_join_path(kp, path,
				 config_get(p, n, "maxInterval") ? "maxInterval"
								 : "initialInterval");
		return config_fail(p, v, kp,
				   "expected maxInterval to be at least initialInterval, got %s",
				   config_describe(v, buf, sizeof(buf)));
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

	if (config_is_null(n))
		return 0;
	if ((err = config_check_keys(p, n, path, keys)))
		return err;
	if ((v = config_get(p, n, "enabled"))) {
		config_join_path(kp, path, "enabled");
		if ((err = config_get_bool(p, v, kp, &c->exporter.spool_enabled)))
			return err;
	}
	if ((v = config_get(p, n, "directory"))) {
		config_join_path(kp, path, "directory");
		if (v->type != YAML_SCALAR_NODE || config_is_null(v) || config_scalar(v)[0] != '/')
			return config_expected(p, v, kp, "an absolute directory path");
		if ((err = config_get_str(p, v, kp, false, &c->exporter.spool_dir)))
			return err;
	}
	if ((v = config_get(p, n, "maxBytes"))) {
		config_join_path(kp, path, "maxBytes");
		if ((err = config_get_size(p, v, kp, 1ull << 20,
					   "a size of at least 1MiB such as 256MiB",
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

	if (config_is_null(n))
		return 0;
	if ((err = config_check_keys(p, n, path, keys)))
		return err;
	if ((v = config_get(p, n, "enableDataCompression"))) {
		if ((err = config_get_bool(p, v, "profiling.exporter.enableDataCompression", &b)))
			return err;
		c->exporter.compression = b ? KILN_COMPRESS_GZIP : KILN_COMPRESS_NONE;
	}
	/* Set after enableDataCompression, whatever the order in the file: it is the finer knob. */
	if ((v = config_get(p, n, "compression"))) {
		const char *s = v->type == YAML_SCALAR_NODE ? config_scalar(v) : "";

		if (!strcmp(s, "gzip"))
			c->exporter.compression = KILN_COMPRESS_GZIP;
		else if (!strcmp(s, "zstd"))
			c->exporter.compression = KILN_COMPRESS_ZSTD;
		else if (!strcmp(s, "none"))
			c->exporter.compression = KILN_COMPRESS_NONE;
		else
			return config_expected(p, v, "profiling.exporter.compression",
					       "one of gzip, zstd, none");
	}
	if ((v = config_get(p, n, "timeout")) &&
	    (err = config_get_duration(p, v, "profiling.exporter.timeout", 1000000,
				       &c->exporter.timeout_ns)))
		return err;
	if ((v = config_get(p, n, "batchTimeout")) &&
	    (err = config_get_duration(p, v, "profiling.exporter.batchTimeout", 1000000,
				       &c->exporter.batch_timeout_ns)))
		return err;
	if ((v = config_get(p, n, "batchMaxBytes")) &&
	    (err = config_get_size(p, v, "profiling.exporter.batchMaxBytes", 4096,
				   "a size of at least 4KiB such as 4MiB",
				   &c->exporter.batch_max_bytes)))
		return err;
	if ((v = config_get(p, n, "queueMaxBatches"))) {
		if ((err = config_get_uint(p, v, "profiling.exporter.queueMaxBatches", 1, 1000000,
					   "a whole number between 1 and 1000000", &q)))
			return err;
		c->exporter.queue_max_batches = q;
	}
	if ((v = config_get(p, n, "retryOnFailure"))) {
		config_join_path(kp, path, "retryOnFailure");
		if ((err = parse_retry(p, v, kp, &c->exporter.retry)))
			return err;
	}
	if ((v = config_get(p, n, "spool"))) {
		config_join_path(kp, path, "spool");
		if ((err = parse_spool(p, v, kp, c)))
			return err;
	}
	if ((v = config_get(p, n, "metricsListen")) &&
	    (err = config_get_listen(p, v, "profiling.exporter.metricsListen", true,
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

	if (config_is_null(n))
		return 0;
	if ((err = config_check_keys(p, n, "profiling", keys)))
		return err;
	if ((v = config_get(p, n, "enabled")) &&
	    (err = config_get_bool(p, v, "profiling.enabled", &c->profiling_enabled)))
		return err;
	if ((v = config_get(p, n, "samplingFrequency"))) {
		if ((err = config_get_uint(p, v, "profiling.samplingFrequency", 1, MAX_HZ,
					   "a frequency in Hz between 1 and 100000", &hz)))
			return err;
		c->sampling_hz = (unsigned int)hz;
	}
	if ((v = config_get(p, n, "windowSeconds"))) {
		uint64_t ns;

		/* Whole or fractional seconds, or a duration; the kernel flips at most 10/s. */
		if (v->type != YAML_SCALAR_NODE || kiln_parse_duration(config_scalar(v), &ns) ||
		    ns < NS_PER_SEC / 10 || ns > 60 * NS_PER_SEC)
			return config_expected(p, v, "profiling.windowSeconds",
					       "a number of seconds between 0.1 and 60");
		c->window_ns = ns;
	}
	if ((v = config_get(p, n, "unwind"))) {
		if (v->type != YAML_SCALAR_NODE ||
		    (strcmp(config_scalar(v), "fp") && strcmp(config_scalar(v), "tables")))
			return config_expected(p, v, "profiling.unwind", "'tables' or 'fp'");
		c->unwind_fp = !strcmp(config_scalar(v), "fp");
	}
	if ((v = config_get(p, n, "exporter")) && (err = parse_exporter(p, v, c)))
		return err;
	if ((v = config_get(p, n, "ui")) && !config_is_null(v)) {
		if ((err = config_check_keys(p, v, "profiling.ui", ui_keys)))
			return err;
		if ((u = config_get(p, v, "enabled")) &&
		    (err = config_get_bool(p, u, "profiling.ui.enabled", &c->ui.enabled)))
			return err;
		if ((u = config_get(p, v, "listen")) &&
		    (err = config_get_listen(p, u, "profiling.ui.listen", false, &c->ui.listen)))
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

	if (config_is_null(n))
		return 0;
	if ((err = config_check_keys(p, n, "ring", keys)))
		return err;
	if ((v = config_get(p, n, "name"))) {
		if (v->type != YAML_SCALAR_NODE || !valid_ring_name(config_scalar(v)))
			return config_expected(
				p, v, "ring.name",
				"a name of letters, digits, '-', '_' or '.' (at most 64)");
		if ((err = config_get_str(p, v, "ring.name", false, &c->ring_name)))
			return err;
	}
	if ((v = config_get(p, n, "size"))) {
		uint64_t sz;

		if (v->type != YAML_SCALAR_NODE || kiln_parse_size(config_scalar(v), &sz) ||
		    sz < RING_MIN || sz > RING_MAX || (sz & (sz - 1)))
			return config_expected(
				p, v, "ring.size",
				"a power of two between 64KiB and 2GiB such as 64MiB");
		c->ring_size = sz;
	}
	if ((v = config_get(p, n, "group")) &&
	    (err = config_get_str(p, v, "ring.group", true, &c->ring_group)))
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
		if (strstr(u, "://") || !config_valid_hostport(u, true))
			return config_expected(
				p, v, kp, "host:port such as pyroscope:4040 (no scheme, no path)");
		break;
	case KILN_DEST_OTLP:
		if (!strncmp(u, "http://", 7))
			rest = u + 7;
		else if (!strncmp(u, "https://", 8))
			rest = u + 8;
		else
			return config_expected(p, v, kp,
					       "a URL starting with http:// or https:// such as "
					       "http://collector:4318");
		if (!*rest || *rest == '/')
			return config_expected(p, v, kp,
					       "a URL with a host such as http://collector:4318");
		break;
	case KILN_DEST_FILE:
		if (strstr(u, "://") && strncmp(u, "file://", 7))
			return config_expected(p, v, kp,
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

	if (config_is_null(n))
		return 0;
	if ((err = config_check_keys(p, n, path, NULL)))
		return err;
	nr = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	d->headers = calloc(nr ? nr : 1, sizeof(*d->headers));
	if (!d->headers)
		return -ENOMEM;
	for (pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(p->doc, pair->key);
		yaml_node_t *v = yaml_document_get_node(p->doc, pair->value);
		struct kiln_header *h = &d->headers[d->nr_headers];

		config_join_path(kp, path, config_scalar(k));
		if (!*config_scalar(k))
			return config_expected(p, k, path, "a header name");
		for (const char *c = config_scalar(k); *c; c++)
			if (*c <= ' ' || *c == ':' || *c == 0x7f)
				return config_expected(p, k, path,
						       "a header name without spaces or ':'");
		if ((err = config_get_str(p, v, kp, true, &h->value)))
			return err;
		/* Counted now, so that kiln_config__free() frees the value on the errors below. */
		d->nr_headers++;
		if (strpbrk(h->value, "\r\n"))
			return config_expected(p, v, kp, "a header value on one line");
		h->name = strdup(config_scalar(k));
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

	if (config_is_null(n))
		return 0;
	if ((err = config_check_keys(p, n, path, keys)))
		return err;
	if ((v = config_get(p, n, "bearerTokenEnv"))) {
		config_join_path(kp, path, "bearerTokenEnv");
		if ((err = config_get_str(p, v, kp, false, &d->bearer_token_env)))
			return err;
	}
	if ((v = config_get(p, n, "bearerTokenFile"))) {
		config_join_path(kp, path, "bearerTokenFile");
		if (d->bearer_token_env)
			return config_fail(p, v, kp,
					   "expected either bearerTokenEnv or bearerTokenFile, "
					   "got both");
		if ((err = config_get_str(p, v, kp, false, &d->bearer_token_file)))
			return err;
	}
	if ((b = config_get(p, n, "basic")) && !config_is_null(b)) {
		config_join_path(bp, path, "basic");
		if (d->bearer_token_env || d->bearer_token_file)
			return config_fail(p, b, bp,
					   "expected either a bearer token or basic, got both");
		if ((err = config_check_keys(p, b, bp, bkeys)))
			return err;
		config_join_path(kp, bp, "username");
		if (!(v = config_get(p, b, "username")))
			return config_fail(p, b, kp, "expected a user name, got nothing");
		if ((err = config_get_str(p, v, kp, false, &d->basic_user)))
			return err;
		if ((v = config_get(p, b, "passwordEnv"))) {
			config_join_path(kp, bp, "passwordEnv");
			if ((err = config_get_str(p, v, kp, false, &d->basic_password_env)))
				return err;
		}
		if ((v = config_get(p, b, "passwordFile"))) {
			config_join_path(kp, bp, "passwordFile");
			if (d->basic_password_env)
				return config_fail(p, v, kp,
						   "expected either passwordEnv or passwordFile, "
						   "got both");
			if ((err = config_get_str(p, v, kp, false, &d->basic_password_file)))
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
		return config_expected(p, n, path, "a list such as [PROFILES]");
	d->profiles = false;
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		yaml_node_t *s = yaml_document_get_node(p->doc, *it);

		snprintf(kp, sizeof(kp), "%s[%zu]", path,
			 (size_t)(it - n->data.sequence.items.start));
		if (!s || s->type != YAML_SCALAR_NODE)
			return config_expected(p, s, kp, "one of PROFILES, TRACES, METRICS, LOGS");
		for (i = 0; i < ARRAY_SIZE(known); i++)
			if (!strcasecmp(config_scalar(s), known[i]))
				break;
		if (i == ARRAY_SIZE(known))
			return config_expected(p, s, kp, "one of PROFILES, TRACES, METRICS, LOGS");
		if (i == 0)
			d->profiles = true;
	}
	return 0;
}

/* A destination's file-only keys (format, maxFiles, maxBytes), refused on other types. */
static int parse_dest_file(struct pctx *p, const yaml_node_t *n, const char *path,
			   struct kiln_destination *d)
{
	static const char *const file_only[] = { "format", "maxFiles", "maxBytes" };
	char kp[PATH_LEN];
	yaml_node_t *v;
	size_t i;
	int err;

	for (i = 0; i < ARRAY_SIZE(file_only); i++) {
		if (d->type != KILN_DEST_FILE && (v = config_get(p, n, file_only[i]))) {
			config_join_path(kp, path, file_only[i]);
			return config_fail(p, v, kp, "only applies to type file, not %s",
					   dest_types[d->type]);
		}
	}
	d->format = strdup("otlp");
	if (!d->format)
		return -ENOMEM;
	if ((v = config_get(p, n, "format"))) {
		config_join_path(kp, path, "format");
		if (v->type != YAML_SCALAR_NODE ||
		    (strcmp(config_scalar(v), "otlp") && strcmp(config_scalar(v), "pprof")))
			return config_expected(p, v, kp, "one of otlp, pprof");
		if ((err = config_get_str(p, v, kp, false, &d->format)))
			return err;
	}
	if ((v = config_get(p, n, "maxFiles"))) {
		config_join_path(kp, path, "maxFiles");
		if ((err = config_get_uint(p, v, kp, 0, UINT32_MAX, "a whole number (0: unlimited)",
					   &d->max_files)))
			return err;
	}
	if ((v = config_get(p, n, "maxBytes"))) {
		config_join_path(kp, path, "maxBytes");
		if ((err = config_get_size(p, v, kp, 0, "a size such as 1GiB (0: unlimited)",
					   &d->max_bytes)))
			return err;
	}
	return 0;
}

/* How a destination is delivered to: retryOn500, profilesPerRequest, ingestionWindow. */
static int parse_dest_delivery(struct pctx *p, const yaml_node_t *n, const char *path,
			       struct kiln_destination *d)
{
	static const char *const window_keys[] = { "past", "future", NULL };
	char kp[PATH_LEN];
	yaml_node_t *v, *t;
	int err;

	if ((v = config_get(p, n, "retryOn500"))) {
		config_join_path(kp, path, "retryOn500");
		if ((err = config_get_bool(p, v, kp, &d->retry_500)))
			return err;
	}
	if ((v = config_get(p, n, "profilesPerRequest"))) {
		config_join_path(kp, path, "profilesPerRequest");
		if ((err = config_get_uint(p, v, kp, 0, UINT32_MAX, "a whole number (0: no limit)",
					   &d->profiles_per_request)))
			return err;
		d->per_request_set = true;
	}
	if ((v = config_get(p, n, "ingestionWindow")) && !config_is_null(v)) {
		config_join_path(kp, path, "ingestionWindow");
		if ((err = config_check_keys(p, v, kp, window_keys)))
			return err;
		d->window_set = true;
		if ((t = config_get(p, v, "past"))) {
			config_join_path(kp, path, "ingestionWindow.past");
			if ((err = config_get_duration(p, t, kp, 0, &d->window_past_ns)))
				return err;
		}
		if ((t = config_get(p, v, "future"))) {
			config_join_path(kp, path, "ingestionWindow.future");
			if ((err = config_get_duration(p, t, kp, 0, &d->window_future_ns)))
				return err;
		}
	}
	return 0;
}

static int parse_dest(struct pctx *p, const yaml_node_t *n, size_t idx, struct kiln_destination *d)
{
	static const char *const keys[] = { "name",
					    "type",
					    "url",
					    "signals",
					    "format",
					    "maxFiles",
					    "maxBytes",
					    "headers",
					    "auth",
					    "tls",
					    "pidAttributes",
					    "retryOn500",
					    "profilesPerRequest",
					    "ingestionWindow",
					    NULL };
	static const char *const tls_keys[] = { "caFile", NULL };
	char path[PATH_LEN], kp[PATH_LEN];
	yaml_node_t *v, *t;
	size_t i;
	int err;

	snprintf(path, sizeof(path), "destinations[%zu]", idx);
	if ((err = config_check_keys(p, n, path, keys)))
		return err;
	config_join_path(kp, path, "type");
	if (!(v = config_get(p, n, "type")))
		return config_fail(p, n, kp, "expected one of file, otlp, pyroscope, got nothing");
	for (i = 1; i < ARRAY_SIZE(dest_types); i++)
		if (v->type == YAML_SCALAR_NODE && !strcmp(config_scalar(v), dest_types[i]))
			break;
	if (i == ARRAY_SIZE(dest_types))
		return config_expected(p, v, kp, "one of file, otlp, pyroscope");
	d->type = (enum kiln_dest_type)i;
	d->profiles = true; /* signals left out: a profiler's destination carries profiles */

	config_join_path(kp, path, "name");
	if ((v = config_get(p, n, "name"))) {
		if ((err = config_get_str(p, v, kp, false, &d->name)))
			return err;
	} else {
		/* Unnamed destinations are named after their type; duplicates are caught later. */
		d->name = strdup(dest_types[d->type]);
		if (!d->name)
			return -ENOMEM;
	}

	config_join_path(kp, path, "url");
	if (!(v = config_get(p, n, "url")))
		return config_fail(
			p, n, kp, "expected %s, got nothing",
			d->type == KILN_DEST_PYROSCOPE ? "host:port such as pyroscope:4040"
			: d->type == KILN_DEST_OTLP    ? "a URL such as http://collector:4318"
						       : "a directory path");
	if ((err = config_get_str(p, v, kp, false, &d->url)))
		return err;
	if ((err = check_dest_url(p, v, kp, d)))
		return err;
	if (d->type == KILN_DEST_FILE) {
		char *abs = config_absolute_dir(d->url);

		/* A profiler left running on a node must not fill its disk by default. */
		d->max_bytes = KILN_FILE_DEST_MAX_BYTES;
		if (!abs)
			return -ENOMEM;
		free(d->url);
		d->url = abs;
	}

	if ((v = config_get(p, n, "signals"))) {
		config_join_path(kp, path, "signals");
		if ((err = parse_signals(p, v, kp, d)))
			return err;
		if (!d->profiles)
			return config_fail(p, v, kp, "destination '%s' does not carry PROFILES",
					   d->name);
	}

	if ((err = parse_dest_file(p, n, path, d)))
		return err;
	if ((v = config_get(p, n, "headers"))) {
		config_join_path(kp, path, "headers");
		if ((err = parse_headers(p, v, kp, d)))
			return err;
	}
	if ((v = config_get(p, n, "auth"))) {
		config_join_path(kp, path, "auth");
		if ((err = parse_auth(p, v, kp, d)))
			return err;
	}
	if ((v = config_get(p, n, "tls")) && !config_is_null(v)) {
		config_join_path(kp, path, "tls");
		if ((err = config_check_keys(p, v, kp, tls_keys)))
			return err;
		if ((t = config_get(p, v, "caFile"))) {
			config_join_path(kp, path, "tls.caFile");
			if ((err = config_get_str(p, t, kp, false, &d->ca_file)))
				return err;
		}
	}
	if ((v = config_get(p, n, "pidAttributes"))) {
		config_join_path(kp, path, "pidAttributes");
		if ((err = config_get_bool(p, v, kp, &d->pid_attributes)))
			return err;
	}
	return parse_dest_delivery(p, n, path, d);
}

static int parse_dests(struct pctx *p, const yaml_node_t *n, struct kiln_config *c)
{
	yaml_node_item_t *it;
	size_t nr, i, j;
	int err;

	config_free_dests(c);
	if (config_is_null(n))
		return 0;
	if (n->type != YAML_SEQUENCE_NODE)
		return config_expected(p, n, "destinations", "a list of destinations");
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
				yaml_node_t *nn = config_get(p, d, "name") ?: d;

				snprintf(path, sizeof(path), "destinations[%zu].name", i);
				return config_fail(
					p, nn, path,
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
	if ((err = config_check_keys(p, n, path, keys)))
		return err;
	if (!n->data.mapping.pairs.top || n->data.mapping.pairs.top == n->data.mapping.pairs.start)
		return config_fail(p, n, path,
				   "expected a selector (namespace/kind/name, unit, containerId or "
				   "executable), got an empty mapping");
	if (config_get(p, n, "namespace") || config_get(p, n, "kind") || config_get(p, n, "name"))
		groups[ng++] = "namespace/kind/name";
	if (config_get(p, n, "unit"))
		groups[ng++] = "unit";
	if (config_get(p, n, "containerId"))
		groups[ng++] = "containerId";
	if (config_get(p, n, "executable"))
		groups[ng++] = "executable";
	if (ng > 1)
		return config_fail(p, n, path,
				   "expected one kind of selector, got %s and %s (use two "
				   "sources to select both)",
				   groups[0], groups[1]);

#define SRC_STR(key, field)                                                     \
	do {                                                                    \
		if ((v = config_get(p, n, key))) {                              \
			config_join_path(kp, path, key);                        \
			if ((err = config_get_str(p, v, kp, false, &s->field))) \
				return err;                                     \
		}                                                               \
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
			config_join_path(kp, path, "kind");
			return config_expected(
				p, config_get(p, n, "kind"), kp,
				"one of deployment, statefulset, daemonset, job, cronjob, "
				"replicaset, pod");
		}
	}
	if ((v = config_get(p, n, "containerId"))) {
		config_join_path(kp, path, "containerId");
		/* A prefix of the hex id, as `docker ps` shows it (12) or longer. */
		if (v->type != YAML_SCALAR_NODE || strlen(config_scalar(v)) < 4 ||
		    strlen(config_scalar(v)) > 64 ||
		    strspn(config_scalar(v), "0123456789abcdef") != strlen(config_scalar(v)))
			return config_expected(p, v, kp,
					       "a hex container id (or a prefix of 4+ digits)");
		if ((err = config_get_str(p, v, kp, false, &s->container_id)))
			return err;
	}
	return 0;
}

static int parse_sources(struct pctx *p, const yaml_node_t *n, struct kiln_config *c)
{
	yaml_node_item_t *it;
	size_t nr, i;
	int err;

	config_free_sources(c);
	if (config_is_null(n))
		return 0;
	if (n->type != YAML_SEQUENCE_NODE)
		return config_expected(p, n, "sources", "a list of sources");
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
	static const char *const keys[] = { "profiling", "ring",    "user", "destinations",
					    "sources",	 "symbols", NULL };
	yaml_node_t *v;
	int err;

	if (!root || config_is_null(root))
		return 0; /* an empty file: every default */
	if ((err = config_check_keys(p, root, "", keys)))
		return err;
	if ((v = config_get(p, root, "profiling")) && (err = parse_profiling(p, v, c)))
		return err;
	if ((v = config_get(p, root, "ring")) && (err = parse_ring(p, v, c)))
		return err;
	if ((v = config_get(p, root, "user")) &&
	    (err = config_get_str(p, v, "user", true, &c->user)))
		return err;
	if ((v = config_get(p, root, "destinations")) && (err = parse_dests(p, v, c)))
		return err;
	if ((v = config_get(p, root, "sources")) && (err = parse_sources(p, v, c)))
		return err;
	if ((v = config_get(p, root, "symbols")) && (err = config_parse_symbols(p, v, c)))
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
