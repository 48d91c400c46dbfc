// SPDX-License-Identifier: Apache-2.0
/* Merged tree, node cap with "other", symbols with recursion, JSON escaping, routing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "tests/lib/kiln_test.h"

#include "ui/flame.h"
#include "otlp/otlp.h"
#include "ui/route.h"
#include "common/strbuf.h"

static void test_tree_merge(void)
{
	const char *a[] = { "alpha", "work", "main" }; /* leaf first */
	const char *b[] = { "beta", "work", "main" };
	struct flame *f = flame__new();
	struct strbuf out = { 0 };
	size_t n = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_EQUAL(flame__add_stack(f, a, 3, 70), 0);
	CU_ASSERT_EQUAL(flame__add_stack(f, b, 3, 30), 0);
	CU_ASSERT_EQUAL(flame__add_stack(f, NULL, 0, 5), 0); /* no frames: root's self */
	CU_ASSERT_EQUAL(flame__total(f), 105);
	CU_ASSERT_EQUAL(flame__nr_nodes(f), 5);
	CU_ASSERT_EQUAL(flame__write_tree(f, &out, 2048, &n), 0);
	CU_ASSERT_EQUAL(n, 5);
	CU_ASSERT_STRING_EQUAL(out.buf, "{\"name\":\"all\",\"self\":5,\"total\":105,\"children\":["
					"{\"name\":\"main\",\"self\":0,\"total\":100,\"children\":["
					"{\"name\":\"work\",\"self\":0,\"total\":100,\"children\":["
					"{\"name\":\"alpha\",\"self\":70,\"total\":70,\"children\":"
					"[]},"
					"{\"name\":\"beta\",\"self\":30,\"total\":30,\"children\":["
					"]}]}]}]}");
	strbuf__release(&out);
	CU_ASSERT_EQUAL(flame__write_symbols(f, &out, FLAME_SORT_SELF, 1, &n), 0);
	CU_ASSERT_EQUAL(n, 4);
	CU_ASSERT_STRING_EQUAL(out.buf,
			       "[{\"name\":\"alpha\",\"module\":\"\",\"self\":70,\"total\":70,"
			       "\"self_percent\":66.667,\"total_percent\":66.667}]");
	strbuf__release(&out);
	flame__free(f);
}

/* Past the cap, the heaviest nodes stay and each cut set of children becomes one "other". */
static void test_node_cap(void)
{
	struct flame *f = flame__new();
	struct strbuf out = { 0 };
	char name[32];
	const char *st[2];
	size_t n = 0;
	int i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	st[1] = "main";
	for (i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		st[0] = name;
		CU_ASSERT_EQUAL(flame__add_stack(f, st, 2, (uint64_t)(10 + i)), 0);
	}
	CU_ASSERT_EQUAL(flame__nr_nodes(f), 12);
	CU_ASSERT_EQUAL(flame__write_tree(f, &out, 1, &n), -EINVAL);
	/* all, main, f9, f8 + one "other" for f0..f7 = 5 nodes */
	CU_ASSERT_EQUAL(flame__write_tree(f, &out, 5, &n), 0);
	CU_ASSERT_EQUAL(n, 5);
	CU_ASSERT_PTR_NOT_NULL(strstr(out.buf, "\"name\":\"f9\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(out.buf, "\"name\":\"f8\""));
	CU_ASSERT_PTR_NULL(strstr(out.buf, "\"name\":\"f7\""));
	/* f0..f7 = 10+..+17 = 108 samples */
	CU_ASSERT_PTR_NOT_NULL(strstr(out.buf, "{\"name\":\"other\",\"self\":108,\"total\":108,"
					       "\"children\":[]}"));
	strbuf__release(&out);
	/* Cap 2: the root and one "other" holding everything. */
	CU_ASSERT_EQUAL(flame__write_tree(f, &out, 2, &n), 0);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_STRING_EQUAL(out.buf, "{\"name\":\"all\",\"self\":0,\"total\":145,\"children\":["
					"{\"name\":\"other\",\"self\":145,\"total\":145,"
					"\"children\":[]}]}");
	strbuf__release(&out);
	flame__free(f);
}

/* a;b;a;b;leaf: Total counts a function once per stack, so never above 100 %. */
static void test_recursion(void)
{
	const char *st[] = { "leaf", "b", "a", "b", "a" };
	struct flame *f = flame__new();
	struct strbuf out = { 0 };
	size_t n;

	CU_ASSERT_EQUAL(flame__add_stack(f, st, 5, 10), 0);
	CU_ASSERT_EQUAL(flame__write_symbols(f, &out, FLAME_SORT_TOTAL, 0, &n), 0);
	CU_ASSERT_EQUAL(n, 3);
	CU_ASSERT_PTR_NOT_NULL(strstr(out.buf,
				      "{\"name\":\"a\",\"module\":\"\",\"self\":0,\"total\":10,"
				      "\"self_percent\":0.000,\"total_percent\":100."
				      "000}"));
	CU_ASSERT_PTR_NOT_NULL(
		strstr(out.buf, "{\"name\":\"leaf\",\"module\":\"\",\"self\":10,\"total\":10,"));
	strbuf__release(&out);
	flame__free(f);
}

static void test_json_escape(void)
{
	struct strbuf b = { 0 };

	strbuf__json_str(&b, "a\"b\\c\n\x01 \xc3\xa9 \xff \xe2\x82");
	CU_ASSERT_STRING_EQUAL(b.buf, "\"a\\\"b\\\\c\\u000a\\u0001 \xc3\xa9 \xef\xbf\xbd "
				      "\xef\xbf\xbd\xef\xbf\xbd\"");
	strbuf__release(&b);
}

static void test_route(void)
{
	struct ui_route r;

	CU_ASSERT_EQUAL(ui_route__match("GET", "/", &r), 0);
	CU_ASSERT_EQUAL(r.kind, UI_R_ASSET);
	CU_ASSERT_STRING_EQUAL(r.asset->path, "/index.html");
	CU_ASSERT_EQUAL(ui_route__match("GET", "/app.js", &r), 0);
	CU_ASSERT_EQUAL(ui_route__match("GET", "/nope", &r), 404);
	CU_ASSERT_EQUAL(ui_route__match("POST", "/api/workloads", &r), 405);
	CU_ASSERT_EQUAL(ui_route__match("GET", "/v1development/profiles", &r), 405);
	CU_ASSERT_EQUAL(ui_route__match("POST", "/v1development/profiles", &r), 0);
	CU_ASSERT_EQUAL(r.kind, UI_R_OTLP);
	CU_ASSERT_EQUAL(ui_route__match("POST", "/api/slots/k8s%2Fshop%2Fdeployment%2Fapi", &r), 0);
	CU_ASSERT_EQUAL(r.kind, UI_R_SLOT_ENABLE);
	CU_ASSERT_STRING_EQUAL(r.id, "k8s/shop/deployment/api");
	CU_ASSERT_EQUAL(ui_route__match("GET", "/api/slots/unit%2Fa.service/flamegraph", &r), 0);
	CU_ASSERT_EQUAL(r.kind, UI_R_FLAMEGRAPH);
	CU_ASSERT_STRING_EQUAL(r.id, "unit/a.service");
	/* Raw slashes work too. */
	CU_ASSERT_EQUAL(ui_route__match("GET", "/api/slots/unit/a.service/symbols", &r), 0);
	CU_ASSERT_EQUAL(r.kind, UI_R_SYMBOLS);
	CU_ASSERT_STRING_EQUAL(r.id, "unit/a.service");
	CU_ASSERT_EQUAL(ui_route__match("POST", "/api/slots/x/clear", &r), 0);
	CU_ASSERT_EQUAL(r.kind, UI_R_SLOT_CLEAR);
	CU_ASSERT_EQUAL(ui_route__match("DELETE", "/api/slots/x", &r), 0);
	CU_ASSERT_EQUAL(r.kind, UI_R_SLOT_DISABLE);
	CU_ASSERT_EQUAL(ui_route__match("GET", "/api/slots/x/clear", &r), 405);
	CU_ASSERT_EQUAL(ui_route__match("PUT", "/api/slots/x", &r), 405);
	CU_ASSERT_EQUAL(ui_route__match("POST", "/api/slots/", &r), 400);
	CU_ASSERT_EQUAL(ui_route__match("POST", "/api/slots/a%00b", &r), 400);
	CU_ASSERT_EQUAL(ui_route__match("POST", "/api/slots/a%2", &r), 400);
	CU_ASSERT_EQUAL(ui_route__match("POST", "/api/slots/a%zz", &r), 400);
	CU_ASSERT_PTR_NOT_NULL(r.error);
}

static void test_gunzip_garbage(void)
{
	void *out = NULL;
	size_t len;

	CU_ASSERT_EQUAL(otlp__gunzip("not gzip", 8, 1024, &out, &len), -EBADMSG);
	/* A gzip header with nothing after it: truncated. */
	CU_ASSERT_EQUAL(otlp__gunzip("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", 10, 1024, &out,
				     &len),
			-EBADMSG);
}

KILN_TEST_MAIN("flame", { "tree merge", test_tree_merge }, { "node cap with other", test_node_cap },
	       { "recursion counted once per stack", test_recursion },
	       { "JSON escaping", test_json_escape }, { "routing and id decoding", test_route },
	       { "gunzip refuses garbage", test_gunzip_garbage })
