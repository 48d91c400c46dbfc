// SPDX-License-Identifier: Apache-2.0
/*
 * The configuration's defaults, the environment variables that override them, freeing, and
 * the duration and size syntax ("1m30s", "64MiB") shared with the command-line flags.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config_internal.h"
#include "common/util.h"

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

/* The agent's state lives in /var/lib when root, else in the XDG state directory. */
static char *default_state_dir(const char *leaf)
{
	const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	char buf[PATH_MAX];

	if (geteuid() == 0)
		snprintf(buf, sizeof(buf), "/var/lib/kiln/%s", leaf);
	else if (state && state[0] == '/')
		snprintf(buf, sizeof(buf), "%s/kiln/%s", state, leaf);
	else if (home && *home)
		snprintf(buf, sizeof(buf), "%s/.local/state/kiln/%s", home, leaf);
	else
		snprintf(buf, sizeof(buf), "/tmp/kiln-%s", leaf);
	return xstrdup(buf);
}

static char *default_spool_dir(void)
{
	return default_state_dir("spool");
}

/*
 * File destinations are resolved against the working directory once, at load time, so a
 * daemon that later changes directory still writes where the user meant.
 */
char *config_absolute_dir(const char *path)
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

void config_free_dests(struct kiln_config *c)
{
	size_t i;

	for (i = 0; i < c->nr_dests; i++)
		dest_free(&c->dests[i]);
	free(c->dests);
	c->dests = NULL;
	c->nr_dests = 0;
}

void config_free_sources(struct kiln_config *c)
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
	config_free_dests(c);
	config_free_sources(c);
	free(c->debuginfod.urls);
	free(c->debuginfod.cache_dir);
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
	/*
	 * 32 MiB: enough for the symbol tables of a node's busy binaries (at the density bench's
	 * 2,000 processes the cache held 12 MiB); 64 MiB, the old default, filled within 25
	 * minutes of a soak beside a CI run (the agent names everything on the host) and put
	 * kiln over its 100 MiB memory goal (kiln-bench soak).
	 */
	c->symbol_cache_bytes = 32ull << 20;
	c->debuginfod.urls = xstrdup("");
	c->debuginfod.cache_dir = default_state_dir("debuginfod");
	c->debuginfod.cache_max_bytes = 2ull << 30;
	c->debuginfod.cache_max_age_ns = 7 * 86400 * NS_PER_SEC;
	c->debuginfod.timeout_ns = 30 * NS_PER_SEC;
	c->debuginfod.retry_ns = 600 * NS_PER_SEC;
	c->debuginfod.concurrency = 2;
	c->dests = calloc(1, sizeof(*c->dests));
	if (!c->debuginfod.urls || !c->debuginfod.cache_dir || !c->exporter.spool_dir ||
	    !c->exporter.metrics_listen || !c->ui.listen || !c->ring_name || !c->ring_group ||
	    !c->user || !c->dests)
		goto cleanup;
	c->nr_dests = 1;
	d = &c->dests[0];
	d->name = xstrdup("local");
	d->type = KILN_DEST_FILE;
	d->url = config_absolute_dir("./profiles");
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
