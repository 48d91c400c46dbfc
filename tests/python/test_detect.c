// SPDX-License-Identifier: Apache-2.0
/*
 * Detection and symbolization against a live interpreter (argv[1]) running pyhelper.py
 * target: a supported one must be found with its version, and every code object the helper
 * names must resolve to its qualified name (non-ASCII included), file name (a UCS4 one
 * included), first line and the line of a unit; a cached second lookup must agree; an
 * address inside a code object must be refused as not a code object. An unsupported one
 * (argv[3] = refused) must be refused with its version in the reason. Exits 77 when the
 * interpreter is not installed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>

#include "python/python.h"
#include "tests/python/pychild.h"

#define CHECK(cond, ...)                                                                \
	do {                                                                            \
		if (!(cond)) {                                                          \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                   \
			fprintf(stderr, "\n");                                          \
			failures++;                                                     \
		}                                                                       \
	} while (0)

struct known {
	uint64_t code;
	int first, unit, line;
	char qual[256], file[256];
};

static int failures;

/* The X.Y in an interpreter path like .../python3.10 as 0xMMmm. */
static uint16_t version_of_path(const char *path)
{
	const char *s = strrchr(path, '/');
	unsigned int maj, min;

	s = strstr(s ? s : path, "python");
	if (!s || sscanf(s, "python%u.%u", &maj, &min) != 2)
		return 0;
	return (uint16_t)(maj << 8 | min);
}

static void check_supported(struct python_proc *p, struct known *k, int nk, struct python_stats *st)
{
	struct python_frame fr;
	struct kiln_py_info info;
	int i, err, pass;

	python_proc__info(p, &info);
	CHECK(info.tss_addr != 0, "no TSS key address");
	CHECK(info.code_adaptive >= 184 && info.code_adaptive <= 200, "code_adaptive %u",
	      info.code_adaptive);
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < nk; i++) {
			memset(&fr, 0, sizeof(fr));
			err = python_proc__symbolize(p, k[i].code, (uint32_t)k[i].unit, &fr);
			CHECK(!err, "symbolize %s: %s", k[i].qual, strerror(-err));
			if (err)
				continue;
			CHECK(!strcmp(fr.function, k[i].qual), "function '%s', expected '%s'",
			      fr.function, k[i].qual);
			CHECK(!strcmp(fr.file, k[i].file), "file '%s', expected '%s'", fr.file,
			      k[i].file);
			CHECK(fr.first_line == k[i].first, "first line %d, expected %d",
			      fr.first_line, k[i].first);
			CHECK(fr.line == k[i].line && !fr.no_line, "%s line %d, expected %d",
			      k[i].qual, fr.line, k[i].line);
			err = python_proc__symbolize(p, k[i].code, KILN_PY_INSTR_NONE, &fr);
			CHECK(!err && fr.no_line && fr.line == k[i].first,
			      "no offset: err %d line %d", err, fr.line);
		}
	}
	CHECK(st->sym_cache_hits >= (uint64_t)(3 * nk), "cache hits %llu",
	      (unsigned long long)st->sym_cache_hits);
	/* the eval loop is where the process maps its interpreter's code, a large function */
	CHECK(!python_proc__in_eval(p, 0) && !python_proc__in_eval(p, k[0].code), "eval range "
										  "holds a null or "
										  "heap address");
	/* a forked copy (same mappings) resolves the same frames with its own, empty cache */
	{
		struct python_proc *q = NULL;
		uint64_t hits = st->sym_cache_hits;

		err = python_proc__fork(p, (uint32_t)python_proc__tgid(p), &q);
		CHECK(!err, "fork: %d", err);
		if (!err) {
			err = python_proc__symbolize(q, k[0].code, (uint32_t)k[0].unit, &fr);
			CHECK(!err && !strcmp(fr.function, k[0].qual) && st->sym_cache_hits == hits,
			      "forked: err %d", err);
			CHECK(python_proc__version(q) == python_proc__version(p), "forked version");
			python_proc__free(q);
		}
	}
	/* inside a code object: its type pointer is not at +8 */
	err = python_proc__symbolize(p, k[0].code + 16, 0, &fr);
	CHECK(err == -EINVAL && st->sym_bad_type == 1, "inner address: err %d, bad_type %llu", err,
	      (unsigned long long)st->sym_bad_type);
}

int main(int argc, char **argv)
{
	struct python_stats st = { 0 };
	struct python_proc *p = NULL;
	struct pychild c;
	struct known k[8];
	char line[1024];
	bool want_ok;
	int nk = 0, err;
	uint16_t want_ver;
	pid_t c_pid;

	if (argc != 4) {
		fprintf(stderr, "usage: %s PYTHON PYHELPER supported|refused\n", argv[0]);
		return 2;
	}
	if (access(argv[1], X_OK)) {
		printf("SKIP: interpreter %s not installed on this machine\n", argv[1]);
		return 77;
	}
	want_ok = !strcmp(argv[3], "supported");
	want_ver = version_of_path(argv[1]);
	err = pychild_start(&c, (char *const[]){ argv[1], argv[2], "target", NULL });
	if (err) {
		fprintf(stderr, "spawn %s: %s\n", argv[1], strerror(-err));
		return 1;
	}
	err = pychild_line(&c, line, sizeof(line), 20000);
	if (err || strcmp(line, "ready")) {
		fprintf(stderr, "%s: no ready line (%d)\n", argv[1], err);
		pychild_stop(&c);
		return 1;
	}
	while (!(err = pychild_line(&c, line, sizeof(line), 20000)) && strcmp(line, "end")) {
		char *tab;

		if (nk == 8 || line[0] != 'K')
			continue;
		if (sscanf(line, "K %lx %d %d %d %255[^\t]", &k[nk].code, &k[nk].first, &k[nk].unit,
			   &k[nk].line, k[nk].qual) != 5)
			continue;
		tab = strchr(line, '\t');
		snprintf(k[nk].file, sizeof(k[nk].file), "%s", tab ? tab + 1 : "");
		nk++;
	}
	CHECK(!err, "helper output ended early");

	c_pid = c.pid;
	err = python_proc__detect((uint32_t)c.pid, &st, &p);
	CHECK(!err, "detect %s: %s", argv[1], strerror(-err));
	if (!err) {
		const char *why = python_proc__refusal(p);
		char vtext[16];

		snprintf(vtext, sizeof(vtext), "%u.%u", want_ver >> 8, want_ver & 0xff);
		printf("%s: module %s, version %x, %s\n", argv[1], python_proc__module(p),
		       python_proc__version(p), why ? why : "supported");
		CHECK(python_proc__version(p) == want_ver, "version %x, expected %x",
		      python_proc__version(p), want_ver);
		if (want_ok) {
			CHECK(!why, "refused: %s", why);
			CHECK(st.detect_ok == 1, "detect_ok %llu",
			      (unsigned long long)st.detect_ok);
			CHECK(nk == 6, "%d known code objects", nk);
			if (!why && nk)
				check_supported(p, k, nk, &st);
		} else {
			CHECK(why && strstr(why, vtext), "reason '%s' lacks %s", why ? why : "",
			      vtext);
			CHECK(st.refused_version == 1, "refused_version %llu",
			      (unsigned long long)st.refused_version);
			CHECK(python_proc__symbolize(p, 0x1000, 0, &(struct python_frame){}) ==
				      -EINVAL,
			      "a refused process symbolizes");
		}
	}
	python_proc__free(p);
	/* our own process is not CPython */
	p = NULL;
	err = python_proc__detect((uint32_t)getpid(), &st, &p);
	CHECK(err == -ENOENT && !p && st.detect_not_python == 1, "self: %d", err);
	pychild_stop(&c);
	/* the child is reaped: its id names no process now (unless reused within this test) */
	p = NULL;
	err = python_proc__detect((uint32_t)c_pid, &st, &p);
	CHECK(err == -ESRCH || !kill(c_pid, 0), "gone: %d", err);
	python_proc__free(p);
	printf("%s\n", failures ? "FAILED" : "OK");
	return failures ? 1 : 0;
}
