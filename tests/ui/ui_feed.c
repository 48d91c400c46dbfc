// SPDX-License-Identifier: Apache-2.0
/*
 * Test producer for `kiln ui`: writes window records with known shares into a named
 * shared-memory ring, standing in for the agent.
 *
 *   ui_feed --ring NAME --key KEY [--name NAME] [--kind KIND] [--mix alpha=70,beta=30]
 *           [--recursive] [--samples N] [--windows N] [--interval-ms MS]
 *           [--mix-after W:alpha=30,beta=70] [--shared] [--stacks N] [--ring-mb MB]
 *
 * Stacks are main;work;FUNC (root first) with FUNC's share of N samples per window;
 * --recursive adds main;a;b;a;b;leaf. --mix-after W:MIX switches to MIX from window W on,
 * or on SIGUSR1 (W "usr1"), and prints "switch MS" (the first such window's start, ms
 * since the epoch).
 * --shared adds a function called from two places, with a kernel leaf and a Python caller:
 * main;left;shared;__x64_sys_read (20 % of N) and main;right;app.py:handler;shared;
 * __x64_sys_read (10 % of N). --stacks N adds N distinct stacks main;g_I/256;h_I of one
 * sample each (a large ring: --ring-mb). A ring has one producer: a test that needs several
 * workloads passes several --key options to one ui_feed.
 * Runs until SIGTERM/SIGINT or --windows records per key were written; prints
 * "window N" after each flush so tests can follow without sleeping.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "profile/profile.h"
#include "profile/wrec.h"
#include "shm/shm.h"

#define MAX_KEYS 8
#define MAX_FUNCS 8

static volatile sig_atomic_t stop, switch_mix;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		switch_mix = 1;
	else
		stop = 1;
}

struct func {
	char name[64];
	unsigned int pct;
};

static void frame(struct sym_frame *f, const char *name)
{
	memset(f, 0, sizeof(*f));
	/* Kinds by name, so that the page's colours have every kind to show. */
	f->kind = !strncmp(name, "__x64_", 6) ? SYM_FRAME_KERNEL
		  : strstr(name, ".py:")      ? SYM_FRAME_PYTHON
					      : SYM_FRAME_NATIVE;
	f->name = name;
	f->module = "/usr/bin/feed";
	f->build_id = "feedfeed";
	f->addr = 0x401000 + strlen(name) * 16;
	f->elf_vaddr = f->addr - 0x400000;
	f->map_start = 0x400000;
	f->map_limit = 0x500000;
}

static int add(struct profile *p, const char *const *names, size_t nr, uint64_t count)
{
	struct sym_frame f[16];
	size_t i;

	/* NAMES are root first; profiles take leaf first. */
	for (i = 0; i < nr; i++)
		frame(&f[nr - 1 - i], names[i]);
	return profile__add(p, f, nr, "feed", 4242, 4242, count);
}

/* Parses "alpha=70,beta=30" (modified in place) into FUNCS. Returns how many, -1 on error. */
static int parse_mix(char *mix, struct func *funcs)
{
	char *tok, *save = NULL, *eq;
	int n = 0;

	for (tok = strtok_r(mix, ",", &save); tok && n < MAX_FUNCS;
	     tok = strtok_r(NULL, ",", &save)) {
		eq = strchr(tok, '=');
		if (!eq)
			return -1;
		*eq = 0;
		snprintf(funcs[n].name, sizeof(funcs[n].name), "%s", tok);
		funcs[n++].pct = (unsigned int)atoi(eq + 1);
	}
	return n;
}

/* The --shared and --stacks extras of one window. Returns 0 or -errno. */
static int add_extras(struct profile *p, bool shared, uint64_t stacks, uint64_t samples)
{
	char g[32], h[32];
	uint64_t i;
	int err = 0;

	if (shared) {
		const char *l[] = { "main", "left", "shared", "__x64_sys_read" };
		const char *r[] = { "main", "right", "app.py:handler", "shared", "__x64_sys_read" };

		err = add(p, l, 4, samples / 5);
		if (!err)
			err = add(p, r, 5, samples / 10);
	}
	for (i = 0; !err && i < stacks; i++) {
		const char *st[] = { "main", g, h };

		snprintf(g, sizeof(g), "g_%llu", (unsigned long long)(i / 256));
		snprintf(h, sizeof(h), "h_%llu", (unsigned long long)i);
		err = add(p, st, 3, 1);
	}
	return err;
}

/* The command line. */
struct feed {
	const char *ring, *keys[MAX_KEYS], *name, *kind;
	struct func funcs[MAX_FUNCS], after[MAX_FUNCS];
	size_t nr_keys, nr_funcs, nr_after;
	uint64_t after_w, stacks, samples, windows, interval_ms;
	bool shared, recursive;
	uint64_t ring_size;
};

/* Parses the mix options once getopt is done. Returns 0, or 2 (usage). */
static int parse_mixes(struct feed *o, char *mix, char *mix_after)
{
	int c;

	if (mix && (c = parse_mix(mix, o->funcs)) >= 0)
		o->nr_funcs = (size_t)c;
	else if (mix)
		return 2;
	if (mix_after) {
		char *colon = strchr(mix_after, ':');

		if (!colon || (c = parse_mix(colon + 1, o->after)) < 0)
			return 2;
		*colon = 0;
		o->after_w = strcmp(mix_after, "usr1") ? strtoull(mix_after, NULL, 10) : UINT64_MAX;
		o->nr_after = (size_t)c;
	}
	return 0;
}

/* Fills *O from the command line. Returns 0, or 2 (usage). */
static int parse_args(int argc, char **argv, struct feed *o)
{
	static const struct option opts[] = {
		{ "ring", required_argument, NULL, 'r' },
		{ "key", required_argument, NULL, 'k' },
		{ "name", required_argument, NULL, 'n' },
		{ "kind", required_argument, NULL, 'K' },
		{ "mix", required_argument, NULL, 'm' },
		{ "recursive", no_argument, NULL, 'R' },
		{ "samples", required_argument, NULL, 's' },
		{ "windows", required_argument, NULL, 'w' },
		{ "interval-ms", required_argument, NULL, 'i' },
		{ "mix-after", required_argument, NULL, 'A' },
		{ "shared", no_argument, NULL, 'S' },
		{ "stacks", required_argument, NULL, 'N' },
		{ "ring-mb", required_argument, NULL, 'M' },
		{ NULL, 0, NULL, 0 },
	};
	char *mix = NULL, *mix_after = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			o->ring = optarg;
			break;
		case 'k':
			if (o->nr_keys < MAX_KEYS)
				o->keys[o->nr_keys++] = optarg;
			break;
		case 'n':
			o->name = optarg;
			break;
		case 'K':
			o->kind = optarg;
			break;
		case 'm':
			mix = optarg;
			break;
		case 'R':
			o->recursive = true;
			break;
		case 's':
			o->samples = strtoull(optarg, NULL, 10);
			break;
		case 'w':
			o->windows = strtoull(optarg, NULL, 10);
			break;
		case 'i':
			o->interval_ms = strtoull(optarg, NULL, 10);
			break;
		case 'A':
			mix_after = optarg;
			break;
		case 'S':
			o->shared = true;
			break;
		case 'N':
			o->stacks = strtoull(optarg, NULL, 10);
			break;
		case 'M':
			o->ring_size = strtoull(optarg, NULL, 10) << 20;
			break;
		default:
			return 2;
		}
	}
	if (!o->ring || !o->nr_keys) {
		fprintf(stderr, "ui_feed: --ring and --key are required\n");
		return 2;
	}
	return parse_mixes(o, mix, mix_after);
}

/* Writes window SEQ (ending at NOW) of key K into the ring. Returns 0 or 1. */
static int write_window(const struct feed *o, struct ring_producer *rp, size_t k, uint64_t seq,
			uint64_t now)
{
	struct wrec_identity id = { .field = { [WREC_ID_KEY] = o->keys[k],
					       [WREC_ID_NAME] = o->name ? o->name : o->keys[k],
					       [WREC_ID_KIND] = o->kind,
					       [WREC_ID_HOST] = "testhost",
					       [WREC_ID_EXE_NAME] = "feed" } };
	struct wrec_window w = { .seq = seq,
				 .start_ns = now - o->interval_ms * 1000000,
				 .duration_ns = o->interval_ms * 1000000,
				 .period_ns = 1000000000 / 99 };
	const struct func *cur = seq >= o->after_w ? o->after : o->funcs;
	size_t nr_cur = seq >= o->after_w ? o->nr_after : o->nr_funcs, i, len;
	struct profile *p = profile__new(w.period_ns);
	void *buf;

	if (!p)
		return 1;
	for (i = 0; i < nr_cur; i++) {
		const char *st[] = { "main", "work", cur[i].name };

		add(p, st, 3, o->samples * cur[i].pct / 100);
	}
	if (add_extras(p, o->shared, o->stacks, o->samples))
		return 1;
	if (o->recursive) {
		const char *st[] = { "main", "a", "b", "a", "b", "leaf" };

		add(p, st, 6, o->samples);
	}
	len = wrec__size(p, &id);
	buf = ring_producer__reserve(rp, (uint32_t)len);
	if (!buf || wrec__encode(p, &id, &w, buf, len) < 0) {
		fprintf(stderr, "ui_feed: cannot write a %zu-byte record\n", len);
		return 1;
	}
	ring_producer__commit(rp, RING_TYPE_WINDOW, 0);
	profile__free(p);
	return 0;
}

int main(int argc, char **argv)
{
	static struct feed o = { .kind = "process",
				 .after_w = UINT64_MAX,
				 .samples = 1000,
				 .interval_ms = 100,
				 .ring_size = 4ull << 20 };
	struct shm_producer_opts po = { .gid = -1 };
	struct shm_producer *sp = NULL;
	struct ring_producer *rp;
	uint64_t seq = 0;
	size_t k;
	int err;

	err = parse_args(argc, argv, &o);
	if (err)
		return err;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGUSR1, on_signal);
	po.name = o.ring;
	po.size = o.ring_size;
	err = shm_producer__new(&sp, &po);
	if (err) {
		fprintf(stderr, "ui_feed: ring %s: %s\n", o.ring, strerror(-err));
		return 1;
	}
	rp = shm_producer__ring(sp);
	while (!stop && (!o.windows || seq < o.windows)) {
		uint64_t now = wall_ns();

		if (o.nr_after && (switch_mix || seq == o.after_w)) {
			o.after_w = seq;
			switch_mix = 0;
			printf("switch %llu\n",
			       (unsigned long long)((now - o.interval_ms * 1000000) / 1000000));
		}
		for (k = 0; k < o.nr_keys; k++)
			if (write_window(&o, rp, k, seq, now))
				return 1;
		ring_producer__flush(rp);
		printf("window %llu\n", (unsigned long long)seq++);
		fflush(stdout);
		if (o.interval_ms) {
			struct timespec ts = { (time_t)(o.interval_ms / 1000),
					       (long)(o.interval_ms % 1000) * 1000000 };

			nanosleep(&ts, NULL);
		}
	}
	shm_producer__free(sp);
	shm__unlink(o.ring);
	return 0;
}
