// SPDX-License-Identifier: Apache-2.0
/*
 * Test helper: builds the unwind table of a file (or of this process's vDSO) and answers
 * lookups for the oracle test (test_unwind_oracle.py).
 *
 *   uw_dump FILE             table of FILE (uw_table__from_fd)
 *   uw_dump --vdso OUT       table of this process's vDSO (uw_table__from_mem); the image is
 *                            also written to OUT so readelf can read it
 *   options: --rows          print every row of the table
 *            --libdw         build FILE's table row by row through libdw (the reference the
 *                            one-pass builder must equal; unwind_libdw.h)
 *
 * Prints "stats ..." first; then, for every hex address read from stdin, one line
 * "ADDR KIND ARG CFA_REG RBP_HOW FLAGS CFA_OFF RBP_OFF" (KIND rule|invalid|stop|plt|signal|
 * unsupported|none) from uw_table__lookup. Exit status 0, or 1 with the reason on stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unwind/vdso.h"
#include "unwind/unwind.h"
#include "unwind/unwind_libdw.h"

static const char *kind_name(uint16_t cmd)
{
	static const char *const names[] = { "invalid", "stop", "plt", "signal", "unsupported" };

	if (!cmd)
		return "rule";
	if (KILN_UW_CMD_KIND(cmd) < sizeof(names) / sizeof(names[0]))
		return names[KILN_UW_CMD_KIND(cmd)];
	return "?";
}

static void print_row(uint64_t addr, const struct uw_row *r)
{
	if (!r) {
		printf("%" PRIx64 " none\n", addr);
		return;
	}
	printf("%" PRIx64 " %s %u %u %u %u %d %d\n", addr, kind_name(r->cmd),
	       r->cmd ? KILN_UW_CMD_ARG(r->cmd) : 0, r->rule.cfa_reg, r->rule.rbp_how,
	       r->rule.flags, r->rule.cfa_off, r->rule.rbp_off);
}

int main(int argc, char **argv)
{
	struct uw_table *t = NULL;
	const char *vdso_out = NULL, *file = NULL;
	int rows = 0, libdw = 0, err, i;
	char line[128];

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--rows"))
			rows = 1;
		else if (!strcmp(argv[i], "--libdw"))
			libdw = 1;
		else if (!strcmp(argv[i], "--vdso") && i + 1 < argc)
			vdso_out = argv[++i];
		else
			file = argv[i];
	}
	if (!!vdso_out == !!file) {
		fprintf(stderr, "usage: uw_dump [--rows] [--libdw] FILE | --vdso OUT\n");
		return 1;
	}
	if (vdso_out) {
		void *img = NULL;
		size_t size = 0;
		FILE *f;

		err = vdso_image(&img, &size);
		if (err) {
			fprintf(stderr, "uw_dump: vDSO image: %s\n", strerror(-err));
			return 1;
		}
		f = fopen(vdso_out, "w");
		if (!f || fwrite(img, 1, size, f) != size || fclose(f)) {
			fprintf(stderr, "uw_dump: writing %s: %s\n", vdso_out, strerror(errno));
			return 1;
		}
		err = uw_table__from_mem(img, size, &t);
		free(img);
	} else {
		int fd = open(file, O_RDONLY | O_CLOEXEC);

		if (fd < 0) {
			fprintf(stderr, "uw_dump: %s: %s\n", file, strerror(errno));
			return 1;
		}
		err = libdw ? uw_table__from_fd_libdw(fd, &t) : uw_table__from_fd(fd, &t);
		close(fd);
	}
	if (err) {
		fprintf(stderr, "uw_dump: %s: no table: %s\n", file ? file : "vDSO",
			strerror(-err));
		return 1;
	}
	printf("stats fdes=%u cfa_rows=%u rows=%zu unsupported=%u plt=%u signal=%u stop=%u "
	       "skipped_fdes=%u build_ns=%" PRIu64 "\n",
	       t->stats.fdes, t->stats.cfa_rows, t->nr_rows, t->stats.unsupported, t->stats.plt,
	       t->stats.signal, t->stats.stop, t->stats.skipped_fdes, t->stats.build_ns);
	if (rows)
		for (size_t r = 0; r < t->nr_rows; r++)
			print_row(t->rows[r].vaddr, &t->rows[r]);
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		char *end;
		uint64_t addr = strtoull(line, &end, 16);

		if (end == line)
			continue;
		print_row(addr, uw_table__lookup(t, addr));
	}
	uw_table__free(t);
	return 0;
}
