// SPDX-License-Identifier: Apache-2.0
/*
 * kiln-bench outage: the exporter through full-length outages of a loopback receiver that
 * stores each profile by its id: 60 s of 503 with Retry-After, 2 minutes of connection
 * refused, and a SIGKILL of the exporter during 60 s of 503 (--short: 4 / 8 / 4 s). For
 * each: samples written and delivered, profiles stored twice, and the time from recovery
 * until everything written was delivered, with the production retry defaults (initial 5 s,
 * max interval 30 s). The scenarios are driven by bench/outage.py with the test helpers
 * exp_producer (writes window records) and exp_check (decodes every body).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "bench/proc.h"
#include "bench/stats.h"

#define SUITE "outage"

#ifndef KILN_BENCH_DIR
#define KILN_BENCH_DIR "bench"
#endif

/* One ROW line of outage.py as result rows. */
static void rows(const char *line)
{
	char name[64], what[96];
	double written, got, dups, drain;
	struct bench_summary s;

	if (sscanf(line, "ROW %63s %lf %lf %lf %lf", name, &written, &got, &dups, &drain) != 5)
		return;
	snprintf(what, sizeof(what), "%s samples delivered / written", name);
	bench_summarize(&(double){ written ? got / written : 0 }, 1, &s);
	bench_row(SUITE, what, &s, "ratio", 4, "== 1", got == written ? BENCH_PASS : BENCH_MISS);
	snprintf(what, sizeof(what), "%s profiles stored twice", name);
	bench_summarize(&dups, 1, &s);
	bench_row(SUITE, what, &s, "", 0, "== 0", dups == 0 ? BENCH_PASS : BENCH_MISS);
	snprintf(what, sizeof(what), "%s drain after recovery", name);
	if (drain < 0) {
		bench_row_na(SUITE, what, "never drained within the bound");
		return;
	}
	bench_summarize(&drain, 1, &s);
	bench_row(SUITE, what, &s, "s", 1, NULL, BENCH_NO_GOAL);
}

int bench_outage(const struct bench_opts *o, int argc, char **argv)
{
	char kiln[4096], prod[4096], check[4096], script[4096], line[512];
	char *args[8];
	FILE *f;
	int n = 0, err;

	(void)argc, (void)argv;
	if (bench_sibling(o, "../kiln", kiln, sizeof(kiln)) ||
	    bench_sibling(o, "../tests/export/exp_producer", prod, sizeof(prod)) ||
	    bench_sibling(o, "../tests/export/exp_check", check, sizeof(check))) {
		bench_row_na(SUITE, "outages", "kiln, exp_producer or exp_check not built");
		return 1;
	}
	snprintf(script, sizeof(script), "%s/outage.py", KILN_BENCH_DIR);
	bench_header(SUITE, "delivery through full-length outages (loopback receiver)");
	args[n++] = "python3";
	args[n++] = script;
	args[n++] = kiln;
	args[n++] = prod;
	args[n++] = check;
	if (o->short_mode)
		args[n++] = "--short";
	args[n] = NULL;
	{
		/* The driver prints a line per scenario as it ends: rows appear as they come. */
		char cmd[16384];
		size_t len = 0;

		for (int i = 0; i < n; i++)
			len += (size_t)snprintf(cmd + len, sizeof(cmd) - len, "'%s' ", args[i]);
		f = popen(cmd, "r");
	}
	if (!f) {
		bench_row_na(SUITE, "outages", "cannot run bench/outage.py");
		return 1;
	}
	while (fgets(line, sizeof(line), f)) {
		fputs(line, stdout);
		rows(line);
	}
	err = pclose(f);
	return err ? 1 : 0;
}
