// SPDX-License-Identifier: Apache-2.0
/*
 * Writes kiln record's pictures of a made-up profile whose names try to break them: markup
 * that would close the HTML page's script element, XML and JSON specials, bytes that are
 * not UTF-8, control characters, a multi-byte name. test_formats.py (case hostile) checks
 * that every output still parses and carries each name, unchanged or with U+FFFD.
 *
 *   render_feed DIR    writes DIR/out.html, out.svg, out.speedscope.json, out.folded
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "profile/profile.h"

static const char *const names[] = {
	"</script><script>window.pwned=1</script>",
	"a&b<c>\"d\" 'e' \\f",
	"bad\xff\xfe utf8 \xc3",
	"ctl\x01\x1f\x7f",
	"\xe6\xbc\xa2\xe5\xad\x97_\xf0\x9f\x94\xa5", /* two CJK characters and an emoji */
	"leaf",
};

static int write_one(const struct profile *p, const char *dir, const char *name,
		     int (*fn)(const struct profile *, FILE *, const char *))
{
	char path[4096];
	FILE *f;
	int err;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "we");
	if (!f)
		return -errno;
	err = fn(p, f, "hostile </title> & \xff names");
	if (fclose(f) && !err)
		err = -errno;
	return err;
}

static int folded(const struct profile *p, FILE *f, const char *title)
{
	(void)title;
	return profile__write_folded(p, f);
}

int main(int argc, char **argv)
{
	struct sym_frame fr[8] = { 0 };
	size_t n = sizeof(names) / sizeof(names[0]), i;
	struct profile *p;
	int err = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: render_feed DIR\n");
		return 2;
	}
	p = profile__new(1000000);
	if (!p)
		return 1;
	/* Leaf first: "leaf" under every other name; 3 samples, and 1 of a kernel frame. */
	for (i = 0; i < n; i++) {
		fr[i].kind = SYM_FRAME_NATIVE;
		fr[i].name = names[n - 1 - i];
		fr[i].module = "/usr/lib/lib<x>&.so";
		fr[i].addr = fr[i].elf_vaddr = 0x1000 + i;
	}
	err = profile__add(p, fr, n, "comm\"<x>", 1, 1, 3);
	fr[0] = (struct sym_frame){ .kind = SYM_FRAME_KERNEL,
				    .name = "do_syscall_64",
				    .module = "[kernel.kallsyms]",
				    .addr = 0xffffffff81000000 };
	if (!err)
		err = profile__add(p, fr, 1, "comm\"<x>", 1, 1, 1);
	if (!err)
		err = write_one(p, argv[1], "out.html", profile__write_html);
	if (!err)
		err = write_one(p, argv[1], "out.svg", profile__write_svg);
	if (!err)
		err = write_one(p, argv[1], "out.speedscope.json", profile__write_speedscope);
	if (!err)
		err = write_one(p, argv[1], "out.folded", folded);
	profile__free(p);
	if (err)
		fprintf(stderr, "render_feed: %s\n", strerror(-err));
	return err ? 1 : 0;
}
