// SPDX-License-Identifier: Apache-2.0
/*
 * A static flame graph as one SVG file: the root at the bottom, each frame as wide as its
 * share of the samples, coloured by kind (kernel, native, Python, ...), a <title> on each
 * (a browser shows it as the tooltip) with its samples and share. Frames narrower than a
 * tenth of a pixel are left out with their callees: they could not be seen or pointed at.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "profile/calltree.h"

#define SVG_WIDTH 1200.0
#define SVG_ROW 17
#define SVG_PAD 10.0
#define SVG_TOP 50 /* title and legend */
#define SVG_CHAR_PX 6.6 /* average advance of an 11 px monospace character */
#define SVG_MIN_PX 0.1

/* Writes S as XML text: the names are valid UTF-8 already (calltree), only markup is left. */
static void put_xml(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '&':
			fputs("&amp;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		default:
			fputc(*s, f);
		}
	}
}

/* Up to MAX bytes of S, cut on a character boundary, with ".." when cut. */
static void put_xml_cut(FILE *f, const char *s, size_t max)
{
	char buf[512];
	size_t n = strlen(s);

	if (n <= max) {
		put_xml(f, s);
		return;
	}
	if (max > sizeof(buf) - 3)
		max = sizeof(buf) - 3;
	n = max >= 2 ? max - 2 : 0;
	/* Do not cut a multi-byte character. */
	while (n && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	memcpy(buf, s, n);
	memcpy(buf + n, "..", 3);
	put_xml(f, buf);
}

/* A colour per kind, its shade from the name, so neighbours differ and reruns agree. */
static void colour(const struct calltree_frame *fr, char *buf, size_t len)
{
	unsigned int h = 0, hue, sat = 80, light;
	const char *c;

	for (c = fr->name; *c; c++)
		h = h * 31 + (unsigned char)*c;
	light = 55 + (h >> 8) % 15;
	switch (fr->kind) {
	case CALLTREE_KIND_PROCESS:
		hue = 210;
		sat = 10;
		break;
	case SYM_FRAME_KERNEL:
		hue = 36 + h % 14; /* amber */
		break;
	case SYM_FRAME_PYTHON:
		hue = 180 + h % 35; /* teal to blue */
		break;
	case SYM_FRAME_JIT:
		hue = 95 + h % 30; /* green */
		break;
	case SYM_FRAME_GO:
		hue = 270 + h % 30; /* violet */
		break;
	default:
		hue = (352 + h % 20) % 360; /* red */
		break;
	}
	snprintf(buf, len, "hsl(%u,%u%%,%u%%)", hue, sat, light);
}

static void put_frame(FILE *f, const struct calltree *t, const struct calltree_node *n, double x,
		      double w, double y, uint64_t all)
{
	const struct calltree_frame *fr = n->frame == UINT32_MAX ? NULL : &t->frames[n->frame];
	const char *name = fr ? fr->name : "all";
	char fill[32] = "hsl(0,0%,80%)";

	if (fr)
		colour(fr, fill, sizeof(fill));
	fprintf(f, "<g class=\"f\" data-kind=\"%s\"><title>",
		fr ? calltree_kind_name(fr->kind) : "all");
	put_xml(f, name);
	if (fr && fr->module[0]) {
		fputs(" (", f);
		put_xml(f, fr->module);
		fputc(')', f);
	}
	fprintf(f, "\n%llu samples, %.2f %%; self %llu</title>", (unsigned long long)n->total,
		100.0 * (double)n->total / (double)all, (unsigned long long)n->self);
	fprintf(f, "<rect x=\"%.2f\" y=\"%.0f\" width=\"%.2f\" height=\"%d\" fill=\"%s\"/>", x, y,
		w, SVG_ROW - 1, fill);
	if (w >= 3 * SVG_CHAR_PX) {
		fprintf(f, "<text x=\"%.2f\" y=\"%.0f\">", x + 3, y + SVG_ROW - 5);
		put_xml_cut(f, name, (size_t)((w - 6) / SVG_CHAR_PX));
		fputs("</text>", f);
	}
	fputs("</g>\n", f);
}

/* One key per kind of frame present. */
static void put_legend(FILE *f, const struct calltree *t)
{
	static const struct {
		uint8_t kind;
		const char *label;
	} keys[] = {
		{ CALLTREE_KIND_PROCESS, "process" },
		{ SYM_FRAME_NATIVE, "native" },
		{ SYM_FRAME_KERNEL, "kernel" },
		{ SYM_FRAME_PYTHON, "Python" },
		{ SYM_FRAME_GO, "Go" },
		{ SYM_FRAME_JIT, "JIT" },
	};
	struct calltree_frame fr = { .name = "" };
	bool seen[256] = { false };
	double kx = SVG_PAD;
	char fill[32];
	size_t i;

	for (i = 0; i < t->nr_frames; i++)
		seen[t->frames[i].kind] = true;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (!seen[keys[i].kind])
			continue;
		fr.kind = keys[i].kind;
		colour(&fr, fill, sizeof(fill));
		fprintf(f,
			"<rect x=\"%.0f\" y=\"30\" width=\"12\" height=\"12\" fill=\"%s\"/>"
			"<text x=\"%.0f\" y=\"40\">%s</text>\n",
			kx, fill, kx + 16, keys[i].label);
		kx += 90;
	}
}

int profile__write_svg(const struct profile *p, FILE *f, const char *title)
{
	struct calltree *t = NULL;
	double *x = NULL, scale, cx, w;
	char *clean = NULL;
	size_t hidden = 0;
	uint32_t i, c;
	int err, height;

	err = calltree__new(p, &t);
	if (err)
		goto cleanup;
	x = malloc(t->nr_nodes * sizeof(*x));
	clean = calltree_clean_name(title);
	if (!x || !clean) {
		err = -ENOMEM;
		goto cleanup;
	}
	/* Negative: not placed, under a frame too narrow to draw. */
	for (i = 0; i < t->nr_nodes; i++)
		x[i] = -1;
	height = SVG_TOP + (int)(t->max_depth + 1) * SVG_ROW + 10;
	fprintf(f,
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%d\" "
		"viewBox=\"0 0 %.0f %d\" font-family=\"monospace\" font-size=\"11\">\n"
		"<rect width=\"100%%\" height=\"100%%\" fill=\"#fafafa\"/>\n<text x=\"%.0f\" "
		"y=\"20\" font-size=\"15\">",
		SVG_WIDTH, height, SVG_WIDTH, height, SVG_PAD);
	put_xml(f, clean);
	fprintf(f, " (%llu samples)</text>\n", (unsigned long long)t->nodes[0].total);
	put_legend(f, t);
	scale = t->nodes[0].total ? (SVG_WIDTH - 2 * SVG_PAD) / (double)t->nodes[0].total : 0;
	x[0] = SVG_PAD;
	/* A node's index is above its parent's: one pass places every node after its parent. */
	for (i = 0; i < t->nr_nodes; i++) {
		const struct calltree_node *n = &t->nodes[i];

		w = (double)n->total * scale;
		if (w < SVG_MIN_PX || x[i] < 0) {
			hidden++;
			continue;
		}
		put_frame(f, t, n, x[i], w, height - 10 - (double)(n->depth + 1) * SVG_ROW,
			  t->nodes[0].total);
		for (cx = x[i], c = n->child; c; c = t->nodes[c].next) {
			x[c] = cx;
			cx += (double)t->nodes[c].total * scale;
		}
	}
	/* Said, not silent: how many call paths were too narrow to draw. */
	fprintf(f,
		"<text class=\"hidden\" x=\"%.0f\" y=\"20\" text-anchor=\"end\">%zu of %zu "
		"frames narrower than %.1f px not drawn</text>\n</svg>\n",
		SVG_WIDTH - SVG_PAD, hidden, t->nr_nodes, SVG_MIN_PX);
	if (fflush(f) || ferror(f))
		err = -EIO;
cleanup:
	free(clean);
	free(x);
	calltree__free(t);
	return err;
}
