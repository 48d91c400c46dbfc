/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An intrusive least-recently-used list: the caller embeds a struct lru_node in its entries
 * and keeps a struct lru (a sentinel) beside its index; the list only orders, it owns
 * nothing. Most recently used first, so eviction takes lru__oldest().
 */
#ifndef KILN_COMMON_LRU_H
#define KILN_COMMON_LRU_H

#include <stdbool.h>
#include <stddef.h>

struct lru_node {
	struct lru_node *prev, *next; /* both NULL while not on a list */
};

struct lru {
	struct lru_node head; /* sentinel: head.next is the newest, head.prev the oldest */
};

/* The entry of type TYPE whose member MEMBER is NODE. */
#define lru_entry(node, type, member) ((type *)((char *)(node)-offsetof(type, member)))

/* Makes L empty. */
static inline void lru__init(struct lru *l)
{
	l->head.prev = l->head.next = &l->head;
}

static inline bool lru__empty(const struct lru *l)
{
	return l->head.next == &l->head;
}

/* True when N is on a list. */
static inline bool lru_node__linked(const struct lru_node *n)
{
	return n->next != NULL;
}

/* Takes N off its list (no-op when it is on none). */
static inline void lru__remove(struct lru_node *n)
{
	if (!n->next)
		return;
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = NULL;
}

/* Puts N first (most recently used), taking it off its place if it was on L already. */
static inline void lru__touch(struct lru *l, struct lru_node *n)
{
	lru__remove(n);
	n->next = l->head.next;
	n->prev = &l->head;
	l->head.next->prev = n;
	l->head.next = n;
}

/* The least recently used node, or NULL when L is empty. */
static inline struct lru_node *lru__oldest(const struct lru *l)
{
	return lru__empty(l) ? NULL : l->head.prev;
}

/* The node used after N (towards the newest), or NULL when N is the newest. */
static inline struct lru_node *lru__newer(const struct lru *l, const struct lru_node *n)
{
	return n->prev == &l->head ? NULL : n->prev;
}

#endif
