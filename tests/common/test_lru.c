// SPDX-License-Identifier: Apache-2.0
/* common/lru: touch order, removal, the oldest, walking from the oldest. */
#include "common/lru.h"
#include "tests/lib/kiln_test.h"

struct item {
	int v;
	struct lru_node node;
};

static int oldest_v(const struct lru *l)
{
	struct lru_node *n = lru__oldest(l);

	return n ? lru_entry(n, struct item, node)->v : -1;
}

static void test_order(void)
{
	struct item it[4] = { { .v = 0 }, { .v = 1 }, { .v = 2 }, { .v = 3 } };
	struct lru l;
	struct lru_node *n;
	int i, seen[4], k = 0;

	lru__init(&l);
	CU_ASSERT_TRUE(lru__empty(&l));
	CU_ASSERT_PTR_NULL(lru__oldest(&l));
	CU_ASSERT_FALSE(lru_node__linked(&it[0].node));
	for (i = 0; i < 4; i++)
		lru__touch(&l, &it[i].node);
	CU_ASSERT_EQUAL(oldest_v(&l), 0);
	/* Using 0 again makes 1 the oldest; the order is now 1 2 3 0 from the oldest. */
	lru__touch(&l, &it[0].node);
	CU_ASSERT_EQUAL(oldest_v(&l), 1);
	for (n = lru__oldest(&l); n && k < 4; n = lru__newer(&l, n))
		seen[k++] = lru_entry(n, struct item, node)->v;
	CU_ASSERT_EQUAL_FATAL(k, 4);
	CU_ASSERT(seen[0] == 1 && seen[1] == 2 && seen[2] == 3 && seen[3] == 0);
	/* Removal from the middle and the end, twice (the second is a no-op). */
	lru__remove(&it[2].node);
	lru__remove(&it[2].node);
	CU_ASSERT_FALSE(lru_node__linked(&it[2].node));
	lru__remove(&it[1].node);
	CU_ASSERT_EQUAL(oldest_v(&l), 3);
	lru__remove(&it[3].node);
	lru__remove(&it[0].node);
	CU_ASSERT_TRUE(lru__empty(&l));
	CU_ASSERT_EQUAL(oldest_v(&l), -1);
}

KILN_TEST_MAIN("lru", { "order", test_order })
