// SPDX-License-Identifier: Apache-2.0
/* The effective configuration of `kiln run` as YAML: see runcfg.h. */
#include "run/runcfg.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

struct ydoc {
	yaml_document_t d;
	bool ok;
};

static int y_node(struct ydoc *y, int id)
{
	if (!id)
		y->ok = false;
	return id;
}

static int y_str(struct ydoc *y, const char *s)
{
	/* Double-quoted: the loader reads quoted scalars as strings, never as null or bool. */
	return y_node(y, yaml_document_add_scalar(&y->d, NULL, (yaml_char_t *)(s ? s : ""), -1,
						  YAML_DOUBLE_QUOTED_SCALAR_STYLE));
}

static int __attribute__((format(printf, 2, 3))) y_plain(struct ydoc *y, const char *fmt, ...)
{
	char buf[64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return y_node(y, yaml_document_add_scalar(&y->d, NULL, (yaml_char_t *)buf, -1,
						  YAML_PLAIN_SCALAR_STYLE));
}

static int y_map(struct ydoc *y)
{
	return y_node(y, yaml_document_add_mapping(&y->d, NULL, YAML_BLOCK_MAPPING_STYLE));
}

static int y_seq(struct ydoc *y)
{
	return y_node(y, yaml_document_add_sequence(&y->d, NULL, YAML_BLOCK_SEQUENCE_STYLE));
}

static void y_put(struct ydoc *y, int map, const char *key, int value)
{
	int k = y_node(y, yaml_document_add_scalar(&y->d, NULL, (yaml_char_t *)key, -1,
						   YAML_PLAIN_SCALAR_STYLE));

	if (!map || !k || !value || !yaml_document_append_mapping_pair(&y->d, map, k, value))
		y->ok = false;
}

static void y_put_str(struct ydoc *y, int map, const char *key, const char *s)
{
	if (s)
		y_put(y, map, key, y_str(y, s));
}

static void y_append(struct ydoc *y, int seq, int item)
{
	if (!seq || !item || !yaml_document_append_sequence_item(&y->d, seq, item))
		y->ok = false;
}

static int y_bool(struct ydoc *y, bool b)
{
	return y_plain(y, "%s", b ? "true" : "false");
}

static int y_ns(struct ydoc *y, uint64_t ns)
{
	return y_plain(y, "%lluns", (unsigned long long)ns);
}

static int y_u64(struct ydoc *y, uint64_t v)
{
	return y_plain(y, "%llu", (unsigned long long)v);
}

static int emit_exporter(struct ydoc *y, const struct kiln_config *c)
{
	int e = y_map(y), r = y_map(y), sp = y_map(y);
	static const char *const comp[] = { "none", "gzip", "zstd" };

	y_put(y, e, "compression", y_str(y, comp[c->exporter.compression % 3]));
	y_put(y, e, "timeout", y_ns(y, c->exporter.timeout_ns));
	y_put(y, e, "batchTimeout", y_ns(y, c->exporter.batch_timeout_ns));
	y_put(y, e, "batchMaxBytes", y_u64(y, c->exporter.batch_max_bytes));
	y_put(y, e, "queueMaxBatches", y_u64(y, c->exporter.queue_max_batches));
	y_put(y, r, "enabled", y_bool(y, c->exporter.retry.enabled));
	y_put(y, r, "initialInterval", y_ns(y, c->exporter.retry.initial_ns));
	y_put(y, r, "maxInterval", y_ns(y, c->exporter.retry.max_interval_ns));
	y_put(y, r, "maxElapsedTime", y_ns(y, c->exporter.retry.max_elapsed_ns));
	y_put(y, e, "retryOnFailure", r);
	y_put(y, sp, "enabled", y_bool(y, c->exporter.spool_enabled));
	if (c->exporter.spool_dir && c->exporter.spool_dir[0] == '/')
		y_put_str(y, sp, "directory", c->exporter.spool_dir);
	y_put(y, sp, "maxBytes", y_u64(y, c->exporter.spool_max_bytes));
	y_put(y, e, "spool", sp);
	y_put_str(y, e, "metricsListen", c->exporter.metrics_listen);
	return e;
}

static int emit_dest(struct ydoc *y, const struct kiln_destination *d)
{
	static const char *const types[] = {
		[KILN_DEST_FILE] = "file", [KILN_DEST_OTLP] = "otlp", [KILN_DEST_PYROSCOPE] = "pyroscope"
	};
	int m = y_map(y), sig = y_seq(y);
	size_t i;

	y_put_str(y, m, "name", d->name);
	y_put_str(y, m, "type", types[d->type]);
	y_put_str(y, m, "url", d->url);
	y_append(y, sig, y_str(y, "PROFILES"));
	y_put(y, m, "signals", sig);
	if (d->type == KILN_DEST_FILE) {
		y_put_str(y, m, "format", d->format);
		y_put(y, m, "maxFiles", y_u64(y, d->max_files));
		y_put(y, m, "maxBytes", y_u64(y, d->max_bytes));
	}
	if (d->nr_headers) {
		int h = y_map(y);

		for (i = 0; i < d->nr_headers; i++)
			y_put(y, h, d->headers[i].name, y_str(y, d->headers[i].value));
		y_put(y, m, "headers", h);
	}
	if (d->bearer_token_env || d->bearer_token_file || d->basic_user) {
		int a = y_map(y);

		y_put_str(y, a, "bearerTokenEnv", d->bearer_token_env);
		y_put_str(y, a, "bearerTokenFile", d->bearer_token_file);
		if (d->basic_user) {
			int b = y_map(y);

			y_put_str(y, b, "username", d->basic_user);
			y_put_str(y, b, "passwordEnv", d->basic_password_env);
			y_put_str(y, b, "passwordFile", d->basic_password_file);
			y_put(y, a, "basic", b);
		}
		y_put(y, m, "auth", a);
	}
	if (d->ca_file) {
		int t = y_map(y);

		y_put_str(y, t, "caFile", d->ca_file);
		y_put(y, m, "tls", t);
	}
	y_put(y, m, "pidAttributes", y_bool(y, d->pid_attributes));
	return m;
}

static int emit_source(struct ydoc *y, const struct kiln_source *s)
{
	int m = y_map(y);

	y_put_str(y, m, "namespace", s->k8s_namespace);
	y_put_str(y, m, "kind", s->k8s_kind);
	y_put_str(y, m, "name", s->k8s_name);
	y_put_str(y, m, "unit", s->unit);
	y_put_str(y, m, "containerId", s->container_id);
	y_put_str(y, m, "executable", s->executable);
	return m;
}

/* The agent's symbols section: its cache budget and debuginfod's settings. */
static int emit_symbols(struct ydoc *y, const struct kiln_config *c)
{
	int m = y_map(y), d = y_map(y);

	y_put(y, m, "cacheMaxBytes", y_u64(y, c->symbol_cache_bytes));
	y_put_str(y, d, "urls", c->debuginfod.urls);
	/* A relative default (HOME relative) is left to the child to work out again. */
	if (c->debuginfod.cache_dir[0] == '/')
		y_put_str(y, d, "cacheDir", c->debuginfod.cache_dir);
	y_put(y, d, "cacheMaxBytes", y_u64(y, c->debuginfod.cache_max_bytes));
	y_put(y, d, "cacheMaxAge", y_ns(y, c->debuginfod.cache_max_age_ns));
	y_put(y, d, "timeout", y_ns(y, c->debuginfod.timeout_ns));
	y_put(y, d, "retryInterval", y_ns(y, c->debuginfod.retry_ns));
	y_put(y, d, "concurrency", y_u64(y, c->debuginfod.concurrency));
	y_put(y, m, "debuginfod", d);
	return m;
}

/* Writes the PARTS (RUNCFG_*) of C to F as one YAML document. Returns 0, -ENOMEM or -EIO. */
static int write_parts(const struct kiln_config *c, FILE *f, unsigned int parts)
{
	struct ydoc y = { .ok = true };
	yaml_emitter_t em;
	int root, prof, ui, ring, dests, srcs;
	bool have_em = false;
	size_t i;
	int err = -ENOMEM;

	if (!yaml_document_initialize(&y.d, NULL, NULL, NULL, 1, 1))
		return -ENOMEM;
	root = y_map(&y);
	prof = y_map(&y);
	if (parts & RUNCFG_AGENT) {
		y_put(&y, prof, "enabled", y_bool(&y, c->profiling_enabled));
		y_put(&y, prof, "samplingFrequency", y_u64(&y, c->sampling_hz));
		y_put(&y, prof, "windowSeconds", y_ns(&y, c->window_ns));
	}
	if (parts & RUNCFG_EXPORT)
		y_put(&y, prof, "exporter", emit_exporter(&y, c));
	if (parts & RUNCFG_UI) {
		ui = y_map(&y);
		y_put(&y, ui, "enabled", y_bool(&y, c->ui.enabled));
		y_put_str(&y, ui, "listen", c->ui.listen);
		y_put(&y, prof, "ui", ui);
	}
	y_put(&y, root, "profiling", prof);
	if (parts & RUNCFG_AGENT) {
		ring = y_map(&y);
		y_put_str(&y, ring, "name", c->ring_name);
		y_put(&y, ring, "size", y_u64(&y, c->ring_size));
		y_put_str(&y, ring, "group", c->ring_group);
		y_put(&y, root, "ring", ring);
		y_put_str(&y, root, "user", c->user);
	}
	if (parts & RUNCFG_EXPORT) {
		dests = y_seq(&y);
		for (i = 0; i < c->nr_dests; i++)
			y_append(&y, dests, emit_dest(&y, &c->dests[i]));
		y_put(&y, root, "destinations", dests);
	}
	if (parts & RUNCFG_AGENT) {
		srcs = y_seq(&y);
		for (i = 0; i < c->nr_sources; i++)
			y_append(&y, srcs, emit_source(&y, &c->sources[i]));
		y_put(&y, root, "sources", srcs);
		y_put(&y, root, "symbols", emit_symbols(&y, c));
	}
	if (!y.ok)
		goto cleanup;
	if (!yaml_emitter_initialize(&em))
		goto cleanup;
	have_em = true;
	yaml_emitter_set_output_file(&em, f);
	yaml_emitter_set_unicode(&em, 1);
	yaml_emitter_set_width(&em, -1);
	/* yaml_emitter_dump() takes the document over, even when it fails. */
	err = yaml_emitter_dump(&em, &y.d) && yaml_emitter_close(&em) && !fflush(f) ? 0 : -EIO;
	yaml_emitter_delete(&em);
	return err;
cleanup:
	if (have_em)
		yaml_emitter_delete(&em);
	yaml_document_delete(&y.d);
	return err;
}

int runcfg__write(const struct kiln_config *c, FILE *f)
{
	return write_parts(c, f, RUNCFG_AGENT | RUNCFG_EXPORT | RUNCFG_UI);
}

/* PART of C as YAML text into *OUT (free it). Returns 0 or -errno. */
static int part_text(const struct kiln_config *c, unsigned int part, char **out, size_t *len)
{
	FILE *f = open_memstream(out, len);
	int err;

	if (!f)
		return -errno;
	err = write_parts(c, f, part);
	if (fclose(f) && !err)
		err = -EIO;
	if (err) {
		free(*out);
		*out = NULL;
	}
	return err;
}

int runcfg__diff(const struct kiln_config *a, const struct kiln_config *b)
{
	static const unsigned int parts[] = { RUNCFG_AGENT, RUNCFG_EXPORT, RUNCFG_UI };
	char *ta = NULL, *tb = NULL;
	size_t la = 0, lb = 0, i;
	int err, diff = 0;

	/* The YAML each child would read: equal text, equal settings (secrets included). */
	for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		err = part_text(a, parts[i], &ta, &la);
		if (!err)
			err = part_text(b, parts[i], &tb, &lb);
		if (!err && (la != lb || memcmp(ta, tb, la)))
			diff |= (int)parts[i];
		free(ta);
		free(tb);
		ta = tb = NULL;
		if (err)
			return err;
	}
	return diff;
}
