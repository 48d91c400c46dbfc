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

int main(int argc, char **argv)
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
	const char *ring = NULL, *keys[MAX_KEYS], *name = NULL, *kind = "process";
	struct func funcs[MAX_FUNCS], after[MAX_FUNCS], *cur;
	size_t nr_keys = 0, nr_funcs = 0, nr_after = 0, nr_cur, i, k;
	uint64_t after_w = UINT64_MAX, stacks = 0;
	bool shared = false;
	char *mix_after = NULL;
	uint64_t samples = 1000, windows = 0, interval_ms = 100, seq = 0;
	struct shm_producer_opts po = { .size = 4ull << 20, .gid = -1 };
	struct shm_producer *sp = NULL;
	struct ring_producer *rp;
	bool recursive = false;
	char *mix = NULL;
	int c, err;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			ring = optarg;
			break;
		case 'k':
			if (nr_keys < MAX_KEYS)
				keys[nr_keys++] = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'K':
			kind = optarg;
			break;
		case 'm':
			mix = optarg;
			break;
		case 'R':
			recursive = true;
			break;
		case 's':
			samples = strtoull(optarg, NULL, 10);
			break;
		case 'w':
			windows = strtoull(optarg, NULL, 10);
			break;
		case 'i':
			interval_ms = strtoull(optarg, NULL, 10);
			break;
		case 'A':
			mix_after = optarg;
			break;
		case 'S':
			shared = true;
			break;
		case 'N':
			stacks = strtoull(optarg, NULL, 10);
			break;
		case 'M':
			po.size = strtoull(optarg, NULL, 10) << 20;
			break;
		default:
			return 2;
		}
	}
	if (!ring || !nr_keys) {
		fprintf(stderr, "ui_feed: --ring and --key are required\n");
		return 2;
	}
	if (mix && (c = parse_mix(mix, funcs)) >= 0)
		nr_funcs = (size_t)c;
	else if (mix)
		return 2;
	if (mix_after) {
		char *colon = strchr(mix_after, ':');

		if (!colon || (c = parse_mix(colon + 1, after)) < 0)
			return 2;
		*colon = 0;
		after_w = strcmp(mix_after, "usr1") ? strtoull(mix_after, NULL, 10) : UINT64_MAX;
		nr_after = (size_t)c;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGUSR1, on_signal);
	po.name = ring;
	err = shm_producer__new(&sp, &po);
	if (err) {
		fprintf(stderr, "ui_feed: ring %s: %s\n", ring, strerror(-err));
		return 1;
	}
	rp = shm_producer__ring(sp);
	while (!stop && (!windows || seq < windows)) {
		uint64_t now = wall_ns();

		if (nr_after && (switch_mix || seq == after_w)) {
			after_w = seq;
			switch_mix = 0;
			printf("switch %llu\n",
			       (unsigned long long)((now - interval_ms * 1000000) / 1000000));
		}

		for (k = 0; k < nr_keys; k++) {
			struct wrec_identity id = { .field = { [WREC_ID_KEY] = keys[k],
							       [WREC_ID_NAME] = name ? name
										     : keys[k],
							       [WREC_ID_KIND] = kind,
							       [WREC_ID_HOST] = "testhost",
							       [WREC_ID_EXE_NAME] = "feed" } };
			struct wrec_window w = { .seq = seq,
						 .start_ns = now - interval_ms * 1000000,
						 .duration_ns = interval_ms * 1000000,
						 .period_ns = 1000000000 / 99 };
			struct profile *p = profile__new(w.period_ns);
			size_t len;
			void *buf;

			if (!p)
				return 1;
			cur = seq >= after_w ? after : funcs;
			nr_cur = seq >= after_w ? nr_after : nr_funcs;
			for (i = 0; i < nr_cur; i++) {
				const char *st[] = { "main", "work", cur[i].name };

				add(p, st, 3, samples * cur[i].pct / 100);
			}
			if (add_extras(p, shared, stacks, samples))
				return 1;
			if (recursive) {
				const char *st[] = { "main", "a", "b", "a", "b", "leaf" };

				add(p, st, 6, samples);
			}
			len = wrec__size(p, &id);
			buf = ring_producer__reserve(rp, (uint32_t)len);
			if (!buf || wrec__encode(p, &id, &w, buf, len) < 0) {
				fprintf(stderr, "ui_feed: cannot write a %zu-byte record\n", len);
				return 1;
			}
			ring_producer__commit(rp, RING_TYPE_WINDOW, 0);
			profile__free(p);
		}
		ring_producer__flush(rp);
		printf("window %llu\n", (unsigned long long)seq++);
		fflush(stdout);
		if (interval_ms) {
			struct timespec ts = { (time_t)(interval_ms / 1000),
					       (long)(interval_ms % 1000) * 1000000 };

			nanosleep(&ts, NULL);
		}
	}
	shm_producer__free(sp);
	shm__unlink(ring);
	return 0;
}
