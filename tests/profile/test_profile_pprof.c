// SPDX-License-Identifier: Apache-2.0
/*
 * profile__write_pprof() checked by the real Go pprof: totals per sample type, function
 * names, labels and the period. Exits 77 (skipped) when the pprof tool is not installed.
 */
#include <CUnit/Basic.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "profile/profile.h"
#include "tests/lib/kiln_test.h"

#define PERIOD_NS 10000000ULL /* 100 Hz */

static const char *pprof_tool;
static char out_path[] = "/tmp/kiln-test-pprof-XXXXXX";

/* Runs pprof with ARGS on the written profile; returns its stdout+stderr (caller frees). */
static char *run_pprof(const char *args)
{
	char cmd[PATH_MAX * 2 + 256], *buf = NULL;
	size_t len = 0, n;
	char chunk[4096];
	FILE *f, *m;
	int status;

	snprintf(cmd, sizeof(cmd), "'%s' %s '%s' 2>&1", pprof_tool, args, out_path);
	f = popen(cmd, "r");
	CU_ASSERT_FATAL(f != NULL);
	m = open_memstream(&buf, &len);
	CU_ASSERT_FATAL(m != NULL);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fwrite(chunk, 1, n, m);
	fclose(m);
	status = pclose(f);
	if (status)
		fprintf(stderr, "%s exited with %d:\n%s\n", cmd, status, buf);
	CU_ASSERT_EQUAL(status, 0);
	return buf;
}

/* The flat value pprof -top shows for function NAME, or -1. */
static long long top_flat(const char *top, const char *name)
{
	const char *line = top;
	char fn[256];
	long long flat;

	while (line && *line) {
		if (sscanf(line, "%lld %*s %*s %*s %*s %255s", &flat, fn) == 2 && !strcmp(fn, name))
			return flat;
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return -1;
}

static void build_and_write(void)
{
	struct profile *p = profile__new(PERIOD_NS);
	struct sym_frame alpha[3], beta[4];
	int i;

	CU_ASSERT_FATAL(p != NULL);
	for (i = 0; i < 3; i++) {
		memset(&alpha[i], 0, sizeof(alpha[i]));
		alpha[i].kind = SYM_FRAME_NATIVE;
		alpha[i].module = "/opt/workload";
		alpha[i].build_id = "00112233445566778899aabbccddeeff00112233";
		alpha[i].map_start = 0x555555554000ULL;
		alpha[i].map_limit = 0x555555556000ULL;
		alpha[i].map_offset = 0;
	}
	alpha[0].name = "alpha";
	alpha[0].elf_vaddr = 0x1140;
	alpha[1].name = "worker";
	alpha[1].elf_vaddr = 0x1200;
	alpha[2].name = "main";
	alpha[2].elf_vaddr = 0x1300;
	for (i = 0; i < 3; i++)
		alpha[i].addr = alpha[i].map_start + alpha[i].elf_vaddr;

	/* beta: one kernel frame over the same user stack with beta as the user leaf. */
	memset(&beta[0], 0, sizeof(beta[0]));
	beta[0].kind = SYM_FRAME_KERNEL;
	beta[0].name = "__x64_sys_getpid";
	beta[0].module = "[kernel.kallsyms]";
	beta[0].addr = beta[0].elf_vaddr = 0xffffffff81234567ULL;
	beta[1] = alpha[0];
	beta[1].name = "beta";
	beta[1].elf_vaddr = 0x1180;
	beta[1].addr = beta[1].map_start + beta[1].elf_vaddr;
	beta[2] = alpha[1];
	beta[3] = alpha[2];

	/* 70 alpha samples over two threads, 30 beta. */
	CU_ASSERT_EQUAL(profile__add(p, alpha, 3, "workload", 4000, 4001, 40), 0);
	CU_ASSERT_EQUAL(profile__add(p, alpha, 3, "workload", 4000, 4002, 30), 0);
	CU_ASSERT_EQUAL(profile__add(p, beta, 4, "workload", 4000, 4001, 30), 0);
	profile__set_time(p, 1700000000000000000ULL, 5000000000ULL);
	CU_ASSERT_EQUAL(profile__total(p), 100);
	CU_ASSERT_EQUAL_FATAL(profile__write_pprof(p, out_path), 0);
	profile__free(p);
}

static void test_pprof_top(void)
{
	char *out;

	build_and_write();
	out = run_pprof("-top -sample_index=samples");
	CU_ASSERT_PTR_NOT_NULL_FATAL(strstr(out, "of 100 total"));
	CU_ASSERT_EQUAL(top_flat(out, "alpha"), 70);
	CU_ASSERT_EQUAL(top_flat(out, "beta"), 0);
	CU_ASSERT_EQUAL(top_flat(out, "__x64_sys_getpid"), 30);
	free(out);

	/* 100 samples at 10 ms each. */
	out = run_pprof("-top -sample_index=cpu");
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "of 1000ms total"));
	free(out);

	/* Focus on one thread label: its 30 alpha samples, out of 100 all the same. */
	out = run_pprof("-top -sample_index=samples -tagfocus=tid=4002");
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "of 100 total"));
	CU_ASSERT_EQUAL(top_flat(out, "alpha"), 30);
	free(out);
}

static void test_pprof_raw(void)
{
	char *out = run_pprof("-raw");

	CU_ASSERT_PTR_NOT_NULL(strstr(out, "PeriodType: cpu nanoseconds"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "Period: 10000000"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "samples/count cpu/nanoseconds"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "comm:[workload]"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "pid:[4000]"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "tid:[4002]"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "/opt/workload"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "00112233445566778899aabbccddeeff00112233"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "[kernel.kallsyms]"));
	if (CU_get_number_of_failures())
		fprintf(stderr, "%s\n", out);
	free(out);
}

int main(int argc, char **argv)
{
	static const struct kiln_test_case cases[] = {
		{ "top", test_pprof_top },
		{ "raw", test_pprof_raw },
	};
	const char *env = getenv("KILN_PPROF");
	int rc;
	int fd;

	pprof_tool = env && *env ? env : "/var/tmp/kiln-tools/pprof";
	if (access(pprof_tool, X_OK)) {
		printf("skip: no Go pprof at %s (set KILN_PPROF, or build it with "
		       "`GOPATH=/usr/share/gocode GO111MODULE=off go build -o "
		       "/var/tmp/kiln-tools/pprof github.com/google/pprof`)\n",
		       pprof_tool);
		return 77;
	}
	fd = mkstemp(out_path);
	if (fd < 0) {
		perror("mkstemp");
		return 1;
	}
	close(fd);
	rc = kiln_test_main(argc, argv, "profile_pprof", cases, sizeof(cases) / sizeof(cases[0]));
	/* KILN_KEEP=1 leaves the file behind for a look with pprof. */
	if (!getenv("KILN_KEEP"))
		unlink(out_path);
	return rc;
}
