// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include <linux/types.h>

#include "bpf/profile.h"
#include "shm/counters.h"

/* The SRC column of counters.def as the .bpf flag. */
#define SRC_BPF true
#define SRC_AGENT false
#define TYPE_GAUGE true
#define TYPE_COUNTER false

static const struct kiln_counter_info table[KILN_C_NR] = {
#define KILN_COUNTER(src, x, n, t, g, p, h)    \
	[KILN_C_##x] = { .id = KILN_C_##x,     \
			 .name = n,            \
			 .group = KILN_CG_##g, \
			 .problem = p,         \
			 .gauge = TYPE_##t,    \
			 .bpf = SRC_##src,     \
			 .help = h },
#include "common/counters.def"
};

/* The header stores names in SHM_COUNTER_NAME bytes, NUL included. */
#define KILN_COUNTER(src, id, n, t, g, p, h) \
	_Static_assert(sizeof(n) <= SHM_COUNTER_NAME, "counter name too long: " n);
#include "common/counters.def"

/* The BPF counters come first, so that one index serves both enums (see counters.def). */
#define KILN_COUNTER(src, id, n, t, g, p, h) KILN_SAME_INDEX_##src(id)
#define KILN_SAME_INDEX_BPF(id) \
	_Static_assert((int)KILN_C_##id == (int)KILN_M_##id, "counters.def: BPF counters first");
#define KILN_SAME_INDEX_AGENT(id)
#include "common/counters.def"

static const char *const titles[KILN_CG_NR] = {
	[KILN_CG_SAMPLES] = "samples",	       [KILN_CG_KERNEL] = "kernel (BPF program)",
	[KILN_CG_RECORDS] = "window records",  [KILN_CG_SYMBOLS] = "symbolization",
	[KILN_CG_UNWIND] = "native unwinding", [KILN_CG_PYTHON] = "python frames",
	[KILN_CG_CONFIG] = "configuration",    [KILN_CG_OTHER] = "other counters",
};

static const char *const keys[KILN_CG_NR] = {
	[KILN_CG_SAMPLES] = "samples", [KILN_CG_KERNEL] = "kernel",
	[KILN_CG_RECORDS] = "records", [KILN_CG_SYMBOLS] = "symbolization",
	[KILN_CG_UNWIND] = "unwind",   [KILN_CG_PYTHON] = "python",
	[KILN_CG_CONFIG] = "config",   [KILN_CG_OTHER] = "other",
};

const struct kiln_counter_info *kiln_counter__info(enum kiln_counter id)
{
	return (unsigned int)id < KILN_C_NR ? &table[id] : NULL;
}

const struct kiln_counter_info *kiln_counter__by_name(const char *name)
{
	int i;

	for (i = 0; i < KILN_C_NR; i++)
		if (!strcmp(table[i].name, name))
			return &table[i];
	return NULL;
}

const char *kiln_counter_group__title(enum kiln_counter_group g)
{
	return (unsigned int)g < KILN_CG_NR ? titles[g] : titles[KILN_CG_OTHER];
}

const char *kiln_counter_group__key(enum kiln_counter_group g)
{
	return (unsigned int)g < KILN_CG_NR ? keys[g] : keys[KILN_CG_OTHER];
}

int shm_counters__get_name(const struct shm_hdr *h, const char *name, uint64_t *v)
{
	int i;

	if (!h)
		return -ENOENT;
	for (i = 0; i < SHM_NUM_COUNTERS; i++) {
		if (!strncmp(h->counters[i].name, name, SHM_COUNTER_NAME)) {
			/* Relaxed: each value is consistent on its own, none orders another. */
			*v = atomic_load_explicit(&h->counters[i].value, memory_order_relaxed);
			return 0;
		}
	}
	return -ENOENT;
}

int shm_counters__get(const struct shm_hdr *h, enum kiln_counter id, uint64_t *v)
{
	const struct kiln_counter_info *info = kiln_counter__info(id);

	return info ? shm_counters__get_name(h, info->name, v) : -ENOENT;
}

uint64_t shm_counters__value(const struct shm_hdr *h, enum kiln_counter id)
{
	uint64_t v = 0;

	return shm_counters__get(h, id, &v) ? 0 : v;
}

int shm_counters__next(const struct shm_hdr *h, int *pos, struct shm_counter_entry *e)
{
	for (; h && *pos < SHM_NUM_COUNTERS; (*pos)++) {
		const struct shm_counter *c = &h->counters[*pos];

		/* A name is written once, before its slot is used; copy it bounded anyway. */
		memcpy(e->name, c->name, sizeof(e->name));
		e->name[sizeof(e->name) - 1] = 0;
		if (!e->name[0])
			continue;
		e->value = atomic_load_explicit(&c->value, memory_order_relaxed);
		e->info = kiln_counter__by_name(e->name);
		e->group = e->info ? e->info->group : KILN_CG_OTHER;
		e->problem = e->info && e->info->problem;
		(*pos)++;
		return 1;
	}
	return 0;
}

int kiln_counters__write_prometheus(FILE *f, const char *prefix, const uint64_t v[KILN_C_NR],
				    const bool have[KILN_C_NR])
{
	const char *suffix;
	int i;

	for (i = 0; i < KILN_C_NR; i++) {
		if (!have[i])
			continue;
		suffix = table[i].gauge ? "" : "_total";
		fprintf(f, "# HELP %s%s%s %s\n# TYPE %s%s%s %s\n%s%s%s %llu\n", prefix,
			table[i].name, suffix, table[i].help, prefix, table[i].name, suffix,
			table[i].gauge ? "gauge" : "counter", prefix, table[i].name, suffix,
			(unsigned long long)v[i]);
	}
	return ferror(f) ? -EIO : 0;
}
