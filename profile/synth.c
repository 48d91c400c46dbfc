// SPDX-License-Identifier: Apache-2.0
/* Synthetic window records: see synth.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile/profile.h"
#include "profile/synth.h"
#include "profile/wrec.h"

#define USER_FUNCS 400 /* 0..299 the app, 300..359 libc, 360..399 libssl */
#define KERNEL_FUNCS 150
#define NAME_LEN 96

/* splitmix64: deterministic, so every run and every machine sees the same records. */
static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static const char *const verbs[] = { "handle", "parse",	   "encode", "lookup", "alloc",
				     "hash",   "compress", "send",   "recv",   "dispatch" };
static const char *const kverbs[] = { "sys",   "vfs", "tcp",   "ext4",	"mm",
				      "sched", "irq", "futex", "epoll", "skb" };

/* One user frame: function FN of workload W, at call-site variant V (a distinct address). */
static void user_frame(struct sym_frame *f, char *name, unsigned int w, unsigned int fn,
		       unsigned int v)
{
	memset(f, 0, sizeof(*f));
	f->kind = SYM_FRAME_NATIVE;
	if (fn < 300) {
		snprintf(name, NAME_LEN, "shop::svc%u::%s_%u(Request const&, Context*)", w,
			 verbs[fn % 10], fn);
		f->module = "/app/server";
		f->build_id = "4f1c0e9d2b7a6c5d8e3f1a0b9c8d7e6f5a4b3c2d";
	} else if (fn < 360) {
		snprintf(name, NAME_LEN, "__libc_%s_%u", verbs[fn % 10], fn);
		f->module = "/usr/lib/x86_64-linux-gnu/libc.so.6";
		f->build_id = "7b1c4e1f0d2a3b5c6d7e8f9a0b1c2d3e4f5a6b7c";
	} else {
		snprintf(name, NAME_LEN, "ssl3_%s_record_%u", verbs[fn % 10], fn);
		f->module = "/usr/lib/x86_64-linux-gnu/libssl.so.3";
		f->build_id = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678";
	}
	f->name = name;
	f->system_name = name;
	f->map_start = fn < 300	  ? 0x555555554000ull
		       : fn < 360 ? 0x7f0000000000ull
				  : 0x7f1000000000ull;
	f->map_limit = f->map_start + 0x4000000;
	f->elf_vaddr = 0x1000 + (uint64_t)fn * 0x400 + v * 0x18;
	f->addr = f->map_start + f->elf_vaddr;
}

static void kernel_frame(struct sym_frame *f, char *name, unsigned int fn, unsigned int v)
{
	memset(f, 0, sizeof(*f));
	f->kind = SYM_FRAME_KERNEL;
	snprintf(name, NAME_LEN, "%s_%s_%u", kverbs[fn % 10], fn % 3 ? "do" : "__x64", fn);
	f->name = name;
	f->system_name = name;
	f->module = "[kernel.kallsyms]";
	f->addr = f->elf_vaddr = 0xffffffff81000000ull + (uint64_t)fn * 0x800 + v * 0x10;
}

/*
 * Frames of stack U of workload W into F (leaf first), their names into NAMES. The stack is
 * a function of (W, U) only, so a stack looks the same in every window that shows it.
 */
static size_t make_stack(const struct wrec_synth_opts *o, unsigned int u, struct sym_frame *f,
			 char (*names)[NAME_LEN])
{
	static const unsigned int roots[] = { 300, 301, 0, 1, 2 };
	unsigned int w = o->workload, fn = 2, kfn, kv;
	uint64_t s = (uint64_t)w * 1000003 + u;
	size_t depth = o->min_depth + rnd(&s) % (o->max_depth - o->min_depth + 1), k, i, nk = 0;

	if (rnd(&s) % 10 < 3)
		nk = 3 + rnd(&s) % 4;
	/* the outermost frame is always the program's own */
	if (nk > depth - 1)
		nk = depth - 1;
	/* K counts from the outermost frame; a stack is stored leaf first */
	for (k = 0; k < depth; k++) {
		i = depth - 1 - k;
		if (k >= depth - nk) {
			/*
			 * Call site first, then function: the order GCC evaluated these in when
			 * they were two arguments of one call, kept so records stay the same.
			 */
			kv = (unsigned int)(rnd(&s) % 2);
			kfn = (unsigned int)(rnd(&s) % KERNEL_FUNCS);
			kernel_frame(&f[i], names[i], kfn, kv);
		} else if (k < 5) {
			fn = roots[k];
			user_frame(&f[i], names[i], w, fn, 0);
		} else {
			/* a few callees per function: stacks branch, and share what they branched from */
			fn = (fn * 37 + 11 + (unsigned int)(rnd(&s) % 4) * 101) % USER_FUNCS;
			user_frame(&f[i], names[i], w, fn, (unsigned int)(rnd(&s) % 4));
		}
	}
	/* an address no symbol covered: the caller of the leaf, as a stripped library shows */
	if (o->unnamed_every && depth > 1 && u % o->unnamed_every == o->unnamed_every - 1)
		f[1].name = f[1].system_name = NULL;
	return depth;
}

static int check_opts(const struct wrec_synth_opts *o, unsigned int universe)
{
	if (!o->stacks || universe < o->stacks || !o->min_depth || o->min_depth > o->max_depth ||
	    o->max_depth > WREC_SYNTH_MAX_DEPTH || (o->samples && o->samples < o->stacks) ||
	    !o->period_ns)
		return -EINVAL;
	return 0;
}

int wrec_synth__record(const struct wrec_synth_opts *o, void **out, size_t *len, uint64_t *total)
{
	static const char *const kinds[] = { "deployment", "statefulset", "daemonset" };
	unsigned int universe = o->universe ? o->universe : o->stacks, w = o->workload, i;
	char name[32], key[96], cid[80], pod[64], comm[16];
	char(*names)[NAME_LEN] = NULL;
	struct wrec_identity id = { 0 };
	struct wrec_window win = { 0 };
	struct sym_frame f[WREC_SYNTH_MAX_DEPTH];
	struct profile *p = NULL;
	uint64_t *counts = NULL, s = 0x6b696c6eull + w * 131 + o->seq, start;
	void *buf = NULL;
	int err;

	*out = NULL;
	err = check_opts(o, universe);
	if (err)
		return err;
	err = -ENOMEM;
	start = (o->seq * 257 + w * 61) % universe;
	names = malloc(WREC_SYNTH_MAX_DEPTH * sizeof(*names));
	counts = malloc(o->stacks * sizeof(*counts));
	p = profile__new(o->period_ns);
	if (!names || !counts || !p)
		goto cleanup;
	snprintf(name, sizeof(name), "svc-%u", w);
	snprintf(key, sizeof(key), "k8s/shop/%s/svc-%u", kinds[w % 3], w);
	snprintf(cid, sizeof(cid), "%064x", w + 1);
	snprintf(pod, sizeof(pod), "svc-%u-7d9f6c5b4-x2k8p", w);
	snprintf(comm, sizeof(comm), "svc%u-worker", w);
	id.field[WREC_ID_KEY] = key;
	id.field[WREC_ID_NAME] = name;
	id.field[WREC_ID_KIND] = "pod";
	id.field[WREC_ID_HOST] = "node-1";
	id.field[WREC_ID_EXE_NAME] = "server";
	id.field[WREC_ID_EXE_PATH] = "/app/server";
	id.field[WREC_ID_CONTAINER_ID] = cid;
	id.field[WREC_ID_K8S_NAMESPACE] = "shop";
	id.field[WREC_ID_K8S_POD] = pod;
	id.field[WREC_ID_K8S_CONTAINER] = "main";
	id.field[WREC_ID_K8S_WL_KIND] = kinds[w % 3];
	id.field[WREC_ID_K8S_WL_NAME] = name;
	if (o->samples) {
		/* every stack seen once, the rest skewed towards a few hot ones (x^3) */
		for (i = 0; i < o->stacks; i++)
			counts[i] = 1;
		for (uint64_t n = o->stacks; n < o->samples; n++) {
			double x = (double)(rnd(&s) % 1000000) / 1e6;

			counts[(unsigned int)(x * x * x * o->stacks)]++;
		}
	} else {
		for (i = 0; i < o->stacks; i++)
			counts[i] = 1 + (o->seq * 31 + w * 7 + i) % 13;
	}
	*total = 0;
	for (i = 0; i < o->stacks; i++) {
		unsigned int u = (start + i) % universe, tgid = 4000 + w * 10;
		size_t depth = make_stack(o, u, f, names);

		if (profile__add(p, f, depth, comm, tgid, tgid + u % 4, counts[i]))
			goto cleanup;
		*total += counts[i];
	}
	win.seq = o->seq;
	win.start_ns = o->start_ns + o->seq * 1000000000ull;
	win.duration_ns = 1000000000ull;
	win.period_ns = o->period_ns;
	*len = wrec__size(p, &id);
	if (!*len) {
		err = -EINVAL;
		goto cleanup;
	}
	buf = aligned_alloc(8, *len);
	if (!buf)
		goto cleanup;
	if (wrec__encode(p, &id, &win, buf, *len) != (ssize_t)*len) {
		free(buf);
		err = -EINVAL;
		goto cleanup;
	}
	*out = buf;
	err = 0;
cleanup:
	profile__free(p);
	free(counts);
	free(names);
	return err;
}
