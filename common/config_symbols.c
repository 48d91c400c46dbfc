// SPDX-License-Identifier: Apache-2.0
/*
 * The `symbols` section: the in-memory symbol cache's budget (symbols.cacheMaxBytes) and
 * debug files of stripped binaries fetched by build id (symbols.debuginfod.*,
 * docs/configuration.md). debuginfod is off unless URLs are given: build ids leave the node.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/config_internal.h"

/* symbols.debuginfod.urls: a string of space-separated URLs or a list of them. */
static int get_urls(struct pctx *p, const yaml_node_t *n, const char *path, char **out)
{
	yaml_node_item_t *it;
	size_t len = 1;
	char *s;

	if (n->type == YAML_SCALAR_NODE)
		return config_get_str(p, n, path, true, out);
	if (n->type != YAML_SEQUENCE_NODE)
		return config_expected(p, n, path, "a URL or a list of URLs");
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		yaml_node_t *u = yaml_document_get_node(p->doc, *it);

		if (!u || u->type != YAML_SCALAR_NODE || config_is_null(u) ||
		    (strncmp(config_scalar(u), "http://", 7) &&
		     strncmp(config_scalar(u), "https://", 8)))
			return config_expected(p, u, path, "a list of http:// or https:// URLs");
		len += strlen(config_scalar(u)) + 1;
	}
	s = calloc(1, len);
	if (!s)
		return -ENOMEM;
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		if (*s)
			strcat(s, " ");
		strcat(s, config_scalar(yaml_document_get_node(p->doc, *it)));
	}
	free(*out);
	*out = s;
	return 0;
}

int config_parse_symbols(struct pctx *p, const yaml_node_t *n, struct kiln_config *c)
{
	static const char *const keys[] = { "cacheMaxBytes", "debuginfod", NULL };
	static const char *const dkeys[] = { "urls",	    "cacheDir", "cacheMaxBytes",
					     "cacheMaxAge", "timeout",	"retryInterval",
					     "concurrency", NULL };
	const char *path = "symbols.debuginfod";
	char kp[PATH_LEN];
	yaml_node_t *v, *d;
	int err;

	if (config_is_null(n))
		return 0;
	if ((err = config_check_keys(p, n, "symbols", keys)))
		return err;
	if ((v = config_get(p, n, "cacheMaxBytes")) &&
	    (err = config_get_size(p, v, "symbols.cacheMaxBytes", 1ull << 20,
				   "a size of at least 1MiB such as 32MiB",
				   &c->symbol_cache_bytes)))
		return err;
	d = config_get(p, n, "debuginfod");
	if (!d || config_is_null(d))
		return 0;
	if ((err = config_check_keys(p, d, path, dkeys)))
		return err;
	if ((v = config_get(p, d, "urls"))) {
		config_join_path(kp, path, "urls");
		if ((err = get_urls(p, v, kp, &c->debuginfod.urls)))
			return err;
	}
	if ((v = config_get(p, d, "cacheDir"))) {
		config_join_path(kp, path, "cacheDir");
		if (v->type != YAML_SCALAR_NODE || config_is_null(v) || config_scalar(v)[0] != '/')
			return config_expected(p, v, kp, "an absolute directory path");
		if ((err = config_get_str(p, v, kp, false, &c->debuginfod.cache_dir)))
			return err;
	}
	if ((v = config_get(p, d, "cacheMaxBytes"))) {
		config_join_path(kp, path, "cacheMaxBytes");
		if ((err = config_get_size(p, v, kp, 1ull << 20,
					   "a size of at least 1MiB such as 2GiB",
					   &c->debuginfod.cache_max_bytes)))
			return err;
	}
	if ((v = config_get(p, d, "cacheMaxAge"))) {
		config_join_path(kp, path, "cacheMaxAge");
		if ((err = config_get_duration(p, v, kp, NS_PER_SEC,
					       &c->debuginfod.cache_max_age_ns)))
			return err;
	}
	if ((v = config_get(p, d, "timeout"))) {
		config_join_path(kp, path, "timeout");
		if ((err = config_get_duration(p, v, kp, 100000000ull, &c->debuginfod.timeout_ns)))
			return err;
	}
	if ((v = config_get(p, d, "retryInterval"))) {
		config_join_path(kp, path, "retryInterval");
		if ((err = config_get_duration(p, v, kp, NS_PER_SEC, &c->debuginfod.retry_ns)))
			return err;
	}
	if ((v = config_get(p, d, "concurrency"))) {
		config_join_path(kp, path, "concurrency");
		if ((err = config_get_uint(p, v, kp, 1, 16,
					   "a number of fetches at once from 1 to 16",
					   &c->debuginfod.concurrency)))
			return err;
	}
	return 0;
}
