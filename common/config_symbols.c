// SPDX-License-Identifier: Apache-2.0
/*
 * The `symbols` section: debug files of stripped binaries fetched by build id
 * (symbols.debuginfod.*, docs/configuration.md). Off unless URLs are given: build ids leave
 * the node.
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
		return get_str(p, n, path, true, out);
	if (n->type != YAML_SEQUENCE_NODE)
		return expected(p, n, path, "a URL or a list of URLs");
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		yaml_node_t *u = yaml_document_get_node(p->doc, *it);

		if (!u || u->type != YAML_SCALAR_NODE || is_null(u) ||
		    (strncmp(scalar(u), "http://", 7) && strncmp(scalar(u), "https://", 8)))
			return expected(p, u, path, "a list of http:// or https:// URLs");
		len += strlen(scalar(u)) + 1;
	}
	s = calloc(1, len);
	if (!s)
		return -ENOMEM;
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		if (*s)
			strcat(s, " ");
		strcat(s, scalar(yaml_document_get_node(p->doc, *it)));
	}
	free(*out);
	*out = s;
	return 0;
}

int parse_symbols(struct pctx *p, const yaml_node_t *n, struct kiln_config *c)
{
	static const char *const keys[] = { "debuginfod", NULL };
	static const char *const dkeys[] = { "urls",	    "cacheDir", "cacheMaxBytes",
					     "cacheMaxAge", "timeout",	"retryInterval",
					     "concurrency", NULL };
	const char *path = "symbols.debuginfod";
	char kp[PATH_LEN];
	yaml_node_t *v, *d;
	int err;

	if (is_null(n))
		return 0;
	if ((err = check_keys(p, n, "symbols", keys)))
		return err;
	d = get(p, n, "debuginfod");
	if (!d || is_null(d))
		return 0;
	if ((err = check_keys(p, d, path, dkeys)))
		return err;
	if ((v = get(p, d, "urls"))) {
		join_path(kp, path, "urls");
		if ((err = get_urls(p, v, kp, &c->debuginfod.urls)))
			return err;
	}
	if ((v = get(p, d, "cacheDir"))) {
		join_path(kp, path, "cacheDir");
		if (v->type != YAML_SCALAR_NODE || is_null(v) || scalar(v)[0] != '/')
			return expected(p, v, kp, "an absolute directory path");
		if ((err = get_str(p, v, kp, false, &c->debuginfod.cache_dir)))
			return err;
	}
	if ((v = get(p, d, "cacheMaxBytes"))) {
		join_path(kp, path, "cacheMaxBytes");
		if ((err = get_size(p, v, kp, 1ull << 20, "a size of at least 1MiB such as 2GiB",
				    &c->debuginfod.cache_max_bytes)))
			return err;
	}
	if ((v = get(p, d, "cacheMaxAge"))) {
		join_path(kp, path, "cacheMaxAge");
		if ((err = get_duration(p, v, kp, NS_PER_SEC, &c->debuginfod.cache_max_age_ns)))
			return err;
	}
	if ((v = get(p, d, "timeout"))) {
		join_path(kp, path, "timeout");
		if ((err = get_duration(p, v, kp, 100000000ull, &c->debuginfod.timeout_ns)))
			return err;
	}
	if ((v = get(p, d, "retryInterval"))) {
		join_path(kp, path, "retryInterval");
		if ((err = get_duration(p, v, kp, NS_PER_SEC, &c->debuginfod.retry_ns)))
			return err;
	}
	if ((v = get(p, d, "concurrency"))) {
		join_path(kp, path, "concurrency");
		if ((err = get_uint(p, v, kp, 1, 16, "a number of fetches at once from 1 to 16",
				    &c->debuginfod.concurrency)))
			return err;
	}
	return 0;
}
