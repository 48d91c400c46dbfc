// SPDX-License-Identifier: Apache-2.0
/*
 * kiln record -f html: the page of profile/html (style and script inlined at build time by
 * profile/html/embed.cmake) with the profile as JSON in place of its data marker:
 *
 *   { "title", "total" (samples), "period_ns", "duration_ns",
 *     "frames": [[name, module, kind], ...],
 *     "nodes": { "f": [frame], "p": [parent], "t": [total], "s": [self] },
 *     "symbols": [[name, module, self, total], ...] }
 *
 * Nodes are the call tree in depth-first order, children by name, node 0 the root "all"
 * (frame -1); a node's parent comes before it, so the page rebuilds the tree in one pass.
 * The symbols are profile/symtotal's Self / Total rows, sorted by Total: the same model as
 * `kiln top` and the UI's table.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "profile/calltree.h"
#include "profile/symtotal.h"
#include "common/strbuf.h"

extern const unsigned char profile_html_page[];
extern const size_t profile_html_page_len;

static const char data_marker[] = "/*@DATA@*/";

static void put_frames(struct strbuf *b, const struct calltree *t)
{
	size_t i;

	strbuf__printf(b, "\"frames\":[");
	for (i = 0; i < t->nr_frames; i++) {
		strbuf__printf(b, "%s[", i ? "," : "");
		strbuf__json_str(b, t->frames[i].name);
		strbuf__printf(b, ",");
		strbuf__json_str(b, t->frames[i].module);
		strbuf__printf(b, ",\"%s\"]", calltree_kind_name(t->frames[i].kind));
	}
	strbuf__printf(b, "]");
}

/* The nodes in depth-first order (children by name), renumbered in that order. */
static int put_nodes(struct strbuf *b, const struct calltree *t)
{
	uint32_t *order = NULL, *newid = NULL, *stack = NULL, c, top = 0, k;
	size_t n = 0, i;
	int err = 0;

	order = malloc(t->nr_nodes * sizeof(*order));
	newid = malloc(t->nr_nodes * sizeof(*newid));
	stack = malloc(t->nr_nodes * sizeof(*stack));
	if (!order || !newid || !stack) {
		err = -ENOMEM;
		goto cleanup;
	}
	stack[top++] = 0;
	while (top) {
		c = stack[--top];
		newid[c] = (uint32_t)n;
		order[n++] = c;
		/* Pushed last child first, so the first child is visited first. */
		k = top;
		for (c = t->nodes[c].child; c; c = t->nodes[c].next)
			stack[top++] = c;
		for (i = 0; i < (top - k) / 2; i++) {
			c = stack[k + i];
			stack[k + i] = stack[top - 1 - i];
			stack[top - 1 - i] = c;
		}
	}
	strbuf__printf(b, "\"nodes\":{\"f\":[");
	for (i = 0; i < n; i++)
		strbuf__printf(b, "%s%d", i ? "," : "",
			       t->nodes[order[i]].frame == UINT32_MAX
				       ? -1
				       : (int)t->nodes[order[i]].frame);
	strbuf__printf(b, "],\"p\":[");
	for (i = 0; i < n; i++)
		strbuf__printf(b, "%s%d", i ? "," : "",
			       i ? (int)newid[t->nodes[order[i]].parent] : -1);
	strbuf__printf(b, "],\"t\":[");
	for (i = 0; i < n; i++)
		strbuf__printf(b, "%s%llu", i ? "," : "",
			       (unsigned long long)t->nodes[order[i]].total);
	strbuf__printf(b, "],\"s\":[");
	for (i = 0; i < n; i++)
		strbuf__printf(b, "%s%llu", i ? "," : "",
			       (unsigned long long)t->nodes[order[i]].self);
	strbuf__printf(b, "]}");
cleanup:
	free(order);
	free(newid);
	free(stack);
	return err;
}

/* Self and Total of every function: each sample's frames, leaf first, process frame out. */
static int count_symbols(const struct calltree *t, const struct profile *p, struct symtotal *st,
			 uint64_t **self, uint64_t **total)
{
	uint32_t *fsym = NULL, *ids = NULL, *leaf = NULL;
	size_t s, n, i, cap = 0;
	int err = 0;

	fsym = malloc((t->nr_frames + 1) * sizeof(*fsym));
	if (!fsym)
		return -ENOMEM;
	for (i = 0; i < t->nr_frames && !err; i++)
		err = symtotal__intern(st, t->frames[i].name, t->frames[i].module, &fsym[i]);
	*self = calloc(symtotal__nr(st) + 1, sizeof(**self));
	*total = calloc(symtotal__nr(st) + 1, sizeof(**total));
	if (!err && (!*self || !*total))
		err = -ENOMEM;
	for (s = 0; s < p->nr_samples && !err; s++) {
		n = p->stacks[p->samples[s].stack].nr + 1;
		if (n > cap) {
			free(ids);
			free(leaf);
			cap = n * 2;
			ids = malloc(cap * sizeof(*ids));
			leaf = malloc(cap * sizeof(*leaf));
			if (!ids || !leaf) {
				err = -ENOMEM;
				break;
			}
		}
		n = calltree__sample_frames(t, p, s, ids);
		/* ids[0] is the process: not a function. */
		for (i = 1; i < n; i++)
			leaf[i - 1] = fsym[ids[n - i]];
		symtotal__count(st, leaf, n - 1, p->samples[s].count, *self, *total);
	}
	free(fsym);
	free(ids);
	free(leaf);
	return err;
}

static int put_symbols(struct strbuf *b, const struct calltree *t, const struct profile *p)
{
	uint64_t *self = NULL, *total = NULL;
	struct symtotal_row *rows = NULL;
	struct symtotal *st = NULL;
	size_t cap = 0;
	long n, i;
	int err;

	err = symtotal__new(&st);
	if (!err)
		err = count_symbols(t, p, st, &self, &total);
	if (err)
		goto cleanup;
	n = symtotal__rows(st, self, total, SYMTOTAL_SORT_TOTAL, &rows, &cap);
	if (n < 0) {
		err = (int)n;
		goto cleanup;
	}
	strbuf__printf(b, "\"symbols\":[");
	for (i = 0; i < n; i++) {
		strbuf__printf(b, "%s[", i ? "," : "");
		strbuf__json_str(b, rows[i].name);
		strbuf__printf(b, ",");
		strbuf__json_str(b, rows[i].module);
		strbuf__printf(b, ",%llu,%llu]", (unsigned long long)rows[i].self,
			       (unsigned long long)rows[i].total);
	}
	strbuf__printf(b, "]");
cleanup:
	free(rows);
	free(self);
	free(total);
	symtotal__free(st);
	return err;
}

/*
 * Writes the JSON into the page's <script type="application/json">: '<' only occurs inside
 * its strings, where \u003c means the same, so no name can close the script element.
 */
static void put_json(FILE *f, const char *json, size_t len)
{
	size_t i, start = 0;

	for (i = 0; i < len; i++) {
		if (json[i] != '<')
			continue;
		fwrite(json + start, 1, i - start, f);
		fputs("\\u003c", f);
		start = i + 1;
	}
	fwrite(json + start, 1, len - start, f);
}

int profile__write_html(const struct profile *p, FILE *f, const char *title)
{
	const char *page = (const char *)profile_html_page, *mark;
	struct calltree *t = NULL;
	struct strbuf b = { 0 };
	char *json = NULL;
	size_t len;
	int err;

	mark = strstr(page, data_marker);
	if (!mark)
		return -EINVAL; /* the build embedded a page without its data marker */
	err = calltree__new(p, &t);
	if (err)
		goto cleanup;
	strbuf__printf(&b, "{\"title\":");
	strbuf__json_str(&b, title);
	strbuf__printf(&b, ",\"total\":%llu,\"period_ns\":%llu,\"duration_ns\":%llu,",
		       (unsigned long long)p->total, (unsigned long long)p->period_ns,
		       (unsigned long long)p->duration_ns);
	put_frames(&b, t);
	strbuf__printf(&b, ",");
	err = put_nodes(&b, t);
	if (!err) {
		strbuf__printf(&b, ",");
		err = put_symbols(&b, t, p);
	}
	if (err)
		goto cleanup;
	strbuf__printf(&b, "}");
	json = strbuf__take(&b, &len);
	if (!json) {
		err = -ENOMEM;
		goto cleanup;
	}
	fwrite(page, 1, (size_t)(mark - page), f);
	put_json(f, json, len);
	fputs(mark + strlen(data_marker), f);
	if (fflush(f) || ferror(f))
		err = -EIO;
cleanup:
	free(json);
	strbuf__release(&b);
	calltree__free(t);
	return err;
}
