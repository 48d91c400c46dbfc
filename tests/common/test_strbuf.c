// SPDX-License-Identifier: Apache-2.0
/* common/strbuf: appends, growth, the latched error, taking, and the JSON escaper. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strbuf.h"
#include "tests/lib/kiln_test.h"

static void test_append_grow(void)
{
	struct strbuf b = { 0 };
	size_t len, i;
	char *s;

	for (i = 0; i < 1000; i++)
		strbuf__printf(&b, "%03zu,", i);
	strbuf__append(&b, "end", 3);
	CU_ASSERT_EQUAL(b.err, 0);
	CU_ASSERT_EQUAL(b.len, 4003);
	CU_ASSERT_EQUAL(strlen(b.buf), 4003);
	CU_ASSERT_NSTRING_EQUAL(b.buf, "000,001,", 8);
	strbuf__reset(&b);
	CU_ASSERT_EQUAL(b.len, 0);
	CU_ASSERT_STRING_EQUAL(b.buf, "");
	for (i = 0; i < 1000; i++)
		strbuf__printf(&b, "%03zu,", i);
	strbuf__append(&b, "end", 3);
	s = strbuf__take(&b, &len);
	CU_ASSERT_EQUAL(len, 4003);
	CU_ASSERT_STRING_EQUAL(s + 3996, "999,end");
	CU_ASSERT_PTR_NULL(b.buf);
	CU_ASSERT_EQUAL(b.len, 0);
	free(s);
}

static void test_take_empty_and_error(void)
{
	struct strbuf b = { 0 };
	size_t len = 7;
	char *s;

	s = strbuf__take(&b, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_STRING_EQUAL(s, "");
	CU_ASSERT_EQUAL(len, 0);
	free(s);
	/* A latched error: appends do nothing, take says so and leaves B reusable. */
	strbuf__append(&b, "x", 1);
	b.err = -12;
	strbuf__append(&b, "y", 1);
	CU_ASSERT_EQUAL(b.len, 1);
	CU_ASSERT_PTR_NULL(strbuf__take(&b, &len));
	CU_ASSERT_EQUAL(len, 0);
	CU_ASSERT_EQUAL(b.err, 0);
	strbuf__append(&b, "z", 1);
	CU_ASSERT_STRING_EQUAL(b.buf, "z");
	strbuf__release(&b);
	strbuf__release(&b);
}

/* S escaped into a buffer and into a FILE, which must agree; returns the buffer's copy. */
static char *both(const char *s)
{
	struct strbuf b = { 0 };
	char *mem = NULL, *out;
	size_t sz = 0;
	FILE *f = open_memstream(&mem, &sz);

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	json_fputs(f, s);
	fclose(f);
	strbuf__json_str(&b, s);
	out = strbuf__take(&b, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_STRING_EQUAL(out, mem);
	free(mem);
	return out;
}

static void test_json(void)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "plain", "\"plain\"" },
		{ "q\"b\\", "\"q\\\"b\\\\\"" },
		{ "tab\tnl\n\x01", "\"tab\\u0009nl\\u000a\\u0001\"" },
		{ "функция €", "\"функция €\"" },
		{ "bad \xff byte", "\"bad \xef\xbf\xbd byte\"" },
		{ "overlong \xc0\xaf", "\"overlong \xef\xbf\xbd\xef\xbf\xbd\"" },
		{ "surrogate \xed\xa0\x80", "\"surrogate \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"" },
		{ "cut \xe2\x82", "\"cut \xef\xbf\xbd\xef\xbf\xbd\"" },
		{ "", "\"\"" },
	};
	size_t i;
	char *s;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		s = both(cases[i].in);
		CU_ASSERT_STRING_EQUAL(s, cases[i].want);
		free(s);
	}
	s = both(NULL);
	CU_ASSERT_STRING_EQUAL(s, "\"\"");
	free(s);
}

KILN_TEST_MAIN("strbuf", { "append_grow", test_append_grow },
	       { "take_empty_and_error", test_take_empty_and_error }, { "json", test_json })
