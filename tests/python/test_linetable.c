// SPDX-License-Identifier: Apache-2.0
/*
 * The location-table decoder against CPython's own co_positions() and co_lines(): every code
 * unit of every code object of ~30 stdlib modules (plus edge cases), dumped by pyhelper.py
 * under the interpreter given as argv[1]. Exits 77 when that interpreter is not installed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "python/python.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int main(int argc, char **argv)
{
	uint64_t units = 0, mismatches = 0, codes = 0, no_line = 0;
	uint8_t *tab = NULL;
	size_t tab_len = 0, cap = 0;
	int first = 0, nunits = 0;
	char *line = NULL, cmd[4096];
	size_t line_cap = 0;
	FILE *f;
	int status;

	if (argc != 3) {
		fprintf(stderr, "usage: %s PYTHON PYHELPER\n", argv[0]);
		return 2;
	}
	if (access(argv[1], X_OK)) {
		printf("SKIP: interpreter %s not installed on this machine\n", argv[1]);
		return 77;
	}
	snprintf(cmd, sizeof(cmd), "'%s' '%s' lines", argv[1], argv[2]);
	f = popen(cmd, "r");
	if (!f) {
		perror("popen");
		return 1;
	}
	while (getline(&line, &line_cap, f) > 0) {
		char *p = line + 2, *end;
		int u, err, got, want;

		line[strcspn(line, "\n")] = 0;
		if (line[0] == 'C') {
			char *hex;

			codes++;
			first = (int)strtol(p, &end, 10);
			nunits = (int)strtol(end, &hex, 10);
			hex++;
			tab_len = strlen(hex) / 2;
			if (tab_len + 1 > cap) {
				cap = tab_len + 1;
				tab = realloc(tab, cap);
				if (!tab)
					return 1;
			}
			for (size_t i = 0; i < tab_len; i++)
				tab[i] =
					(uint8_t)(hexval(hex[2 * i]) << 4 | hexval(hex[2 * i + 1]));
			continue;
		}
		if (line[0] != 'P' && line[0] != 'L')
			continue;
		for (u = 0; u < nunits; u++) {
			want = (int)strtol(p, &end, 10);
			if (end == p) {
				fprintf(stderr, "short %c line for a code object\n", line[0]);
				return 1;
			}
			p = end;
			got = -1;
			err = python_linetable_line(tab, tab_len, first, (uint32_t)u, &got);
			if (err && err != -ENOENT) {
				got = -2;
			}
			units++;
			if (want == -1)
				no_line++;
			if (got != want) {
				if (mismatches < 10)
					fprintf(stderr,
						"%c mismatch: first line %d unit %d: %d, CPython "
						"%d\n",
						line[0], first, u, got, want);
				mismatches++;
			}
		}
	}
	status = pclose(f);
	free(line);
	free(tab);
	printf("%s: %llu code objects, %llu units checked (%llu without a line), %llu mismatches\n",
	       argv[1], (unsigned long long)codes, (unsigned long long)units,
	       (unsigned long long)no_line, (unsigned long long)mismatches);
	if (status) {
		fprintf(stderr, "the helper failed (status %d)\n", status);
		return 1;
	}
	if (units < 100000) {
		fprintf(stderr, "too few units to mean anything\n");
		return 1;
	}
	return mismatches ? 1 : 0;
}
