// SPDX-License-Identifier: Apache-2.0
/* Summaries of repeated measurements and the result rows every suite prints. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench/stats.h"
#include "common/strbuf.h"

struct row {
	char *suite;
	char *name;
	char *unit;
	char *goal;
	char *na; /* why it was not measured, or NULL */
	struct bench_summary s;
	enum bench_verdict verdict;
	int decimals; /* as printed, for the summary */
};

static struct row *rows;
static size_t nrows, cap_rows;

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int bench_summarize(const double *v, int n, struct bench_summary *out)
{
	double *sorted;

	if (n < 1)
		return -EINVAL;
	sorted = malloc(sizeof(*sorted) * (size_t)n);
	if (!sorted)
		return -ENOMEM;
	memcpy(sorted, v, sizeof(*sorted) * (size_t)n);
	qsort(sorted, (size_t)n, sizeof(*sorted), cmp_double);
	out->n = n;
	out->min = sorted[0];
	out->max = sorted[n - 1];
	out->median = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
	free(sorted);
	return 0;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Keeps a copy of a row for the JSON file; a row that cannot be kept is still printed. */
static void keep(const char *suite, const char *name, const struct bench_summary *s,
		 const char *unit, int decimals, const char *goal, enum bench_verdict verdict,
		 const char *na)
{
	struct row *r, *grown;

	if (nrows == cap_rows) {
		size_t cap = cap_rows ? cap_rows * 2 : 16;

		grown = realloc(rows, cap * sizeof(*rows));
		if (!grown)
			return;
		rows = grown;
		cap_rows = cap;
	}
	r = &rows[nrows++];
	memset(r, 0, sizeof(*r));
	r->suite = dup_or_null(suite);
	r->name = dup_or_null(name);
	r->unit = dup_or_null(unit);
	r->goal = dup_or_null(goal);
	r->na = dup_or_null(na);
	if (s)
		r->s = *s;
	r->verdict = verdict;
	r->decimals = decimals;
}

static const char *verdict_str(enum bench_verdict v)
{
	return v == BENCH_PASS ? "pass" : v == BENCH_MISS ? "miss" : "";
}

void bench_header(const char *suite, const char *title)
{
	printf("== %s: %s\n", suite, title);
	printf("%-34s %-30s %-8s %-10s %s\n", "name", "median (min..max)", "unit", "goal", "");
}

void bench_row(const char *suite, const char *name, const struct bench_summary *s, const char *unit,
	       int decimals, const char *goal, enum bench_verdict verdict)
{
	char value[96];

	if (s->n > 1)
		snprintf(value, sizeof(value), "%.*f (%.*f..%.*f)", decimals, s->median, decimals,
			 s->min, decimals, s->max);
	else
		snprintf(value, sizeof(value), "%.*f", decimals, s->median);
	printf("%-34s %-30s %-8s %-10s %s\n", name, value, unit, goal ? goal : "",
	       verdict_str(verdict));
	fflush(stdout);
	keep(suite, name, s, unit, decimals, goal, verdict, NULL);
}

void bench_row_na(const char *suite, const char *name, const char *why)
{
	printf("%-34s n/a (%s)\n", name, why);
	fflush(stdout);
	keep(suite, name, NULL, NULL, 0, NULL, BENCH_NO_GOAL, why);
}

/* Writes S as a JSON string (quotes, escapes), or null. */
static void json_str(FILE *f, const char *s)
{
	if (!s) {
		fputs("null", f);
		return;
	}
	json_fputs(f, s);
}

static void json_num(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, "%.6g", v);
	else
		fputs("null", f);
}

void bench_machine_read(struct bench_machine *m)
{
	char line[512];
	struct utsname u;
	time_t now = time(NULL);
	struct tm tm;
	FILE *f;
	long n;

	memset(m, 0, sizeof(*m));
	snprintf(m->cpu, sizeof(m->cpu), "unknown");
	snprintf(m->kernel, sizeof(m->kernel), "unknown");
	f = fopen("/proc/cpuinfo", "r");
	while (f && fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (!strncmp(line, "model name", 10) && colon) {
			colon += 1 + (colon[1] == ' ');
			colon[strcspn(colon, "\n")] = 0;
			snprintf(m->cpu, sizeof(m->cpu), "%s", colon);
			break;
		}
	}
	if (f)
		fclose(f);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	m->vcpus = n > 0 ? (int)n : 0;
	if (!uname(&u))
		snprintf(m->kernel, sizeof(m->kernel), "%.60s %.60s", u.release, u.machine);
	f = fopen("/proc/meminfo", "r");
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long long kib;

		if (sscanf(line, "MemTotal: %llu kB", &kib) == 1) {
			m->mem_gib = (double)kib / (1024.0 * 1024.0);
			break;
		}
	}
	if (f)
		fclose(f);
	if (gmtime_r(&now, &tm))
		strftime(m->date, sizeof(m->date), "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void bench_machine_print(const struct bench_machine *m)
{
	printf("machine: %s, %d vCPUs, kernel %s, %.1f GiB memory; %s\n", m->cpu, m->vcpus,
	       m->kernel, m->mem_gib, m->date);
}

void bench_summary_print(const struct bench_suite_run *suites, size_t nr, double total_s)
{
	size_t i;

	printf("== summary: every row with a goal, and every row that could not be measured\n");
	printf("%-10s %-34s %-30s %-8s %-10s %s\n", "suite", "name", "median (min..max)", "unit",
	       "goal", "");
	for (i = 0; i < nrows; i++) {
		const struct row *r = &rows[i];
		char value[96];

		if (r->na) {
			printf("%-10s %-34s n/a (%s)\n", r->suite, r->name, r->na);
			continue;
		}
		if (!r->goal)
			continue;
		if (r->s.n > 1)
			snprintf(value, sizeof(value), "%.*f (%.*f..%.*f)", r->decimals,
				 r->s.median, r->decimals, r->s.min, r->decimals, r->s.max);
		else
			snprintf(value, sizeof(value), "%.*f", r->decimals, r->s.median);
		printf("%-10s %-34s %-30s %-8s %-10s %s\n", r->suite, r->name, value,
		       r->unit ? r->unit : "", r->goal, verdict_str(r->verdict));
	}
	printf("suites:");
	for (i = 0; i < nr; i++)
		printf(" %s %s (%.0f s)%s", suites[i].name, suites[i].status, suites[i].seconds,
		       i + 1 < nr ? "," : "");
	printf("\ntotal wall time: %.0f s (%.1f min)\n", total_s, total_s / 60);
	fflush(stdout);
}

int bench_json_write(const char *path, const struct bench_machine *m,
		     const struct bench_suite_run *suites, size_t nr, double total_s)
{
	FILE *f;
	size_t i;
	int err = 0;

	f = fopen(path, "w");
	if (!f)
		return -errno;
	fputs("{\n  \"machine\": {\"cpu\": ", f);
	json_str(f, m->cpu);
	fprintf(f, ", \"vcpus\": %d, \"kernel\": ", m->vcpus);
	json_str(f, m->kernel);
	fputs(", \"memory_gib\": ", f);
	json_num(f, m->mem_gib);
	fputs(", \"date\": ", f);
	json_str(f, m->date);
	fputs("},\n  \"suites\": [", f);
	for (i = 0; i < nr; i++) {
		fputs(i ? ", {\"name\": " : "{\"name\": ", f);
		json_str(f, suites[i].name);
		fputs(", \"status\": ", f);
		json_str(f, suites[i].status);
		fputs(", \"seconds\": ", f);
		json_num(f, suites[i].seconds);
		fputs("}", f);
	}
	fputs("],\n  \"total_seconds\": ", f);
	json_num(f, total_s);
	fputs(",\n  \"rows\": [\n", f);
	for (i = 0; i < nrows; i++) {
		const struct row *r = &rows[i];

		fputs("    {\"suite\": ", f);
		json_str(f, r->suite);
		fputs(", \"name\": ", f);
		json_str(f, r->name);
		if (r->na) {
			fputs(", \"na\": ", f);
			json_str(f, r->na);
		} else {
			fputs(", \"median\": ", f);
			json_num(f, r->s.median);
			fputs(", \"min\": ", f);
			json_num(f, r->s.min);
			fputs(", \"max\": ", f);
			json_num(f, r->s.max);
			fprintf(f, ", \"runs\": %d, \"unit\": ", r->s.n);
			json_str(f, r->unit);
			fputs(", \"goal\": ", f);
			json_str(f, r->goal);
			fputs(", \"verdict\": ", f);
			json_str(f, r->verdict == BENCH_NO_GOAL ? NULL : verdict_str(r->verdict));
		}
		fprintf(f, "}%s\n", i + 1 < nrows ? "," : "");
	}
	fputs("  ]\n}\n", f);
	if (ferror(f))
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	return err;
}

size_t bench_rows_count(void)
{
	return nrows;
}

void bench_rows_free(void)
{
	size_t i;

	for (i = 0; i < nrows; i++) {
		free(rows[i].suite);
		free(rows[i].name);
		free(rows[i].unit);
		free(rows[i].goal);
		free(rows[i].na);
	}
	free(rows);
	rows = NULL;
	nrows = cap_rows = 0;
}
