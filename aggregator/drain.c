// SPDX-License-Identifier: Apache-2.0
/*
 * Draining a finished window: the flip, the wait for running programs, the count slots and
 * user stacks the window's keys took (read in place), the kernel stacks they refer to, and
 * the window's overflow samples, merged into one struct kiln_window.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "aggregator/pyprocs.h"
#include "aggregator/sampler_int.h"
#include "aggregator/unwinder.h"
#include "common/log.h"
#include "common/util.h"

/* The kernel's ENOTSUPP (include/linux/errno.h): "operation not supported", not in libc. */
#define ENOTSUP_KERNEL 524

/* Makes sure no program still runs against the window it read before the flip. */
static int wait_for_programs(struct sampler *s)
{
	uint32_t zero = 0;
	int inner = bpf_map__fd(s->skel->maps.window_sync_inner);

	if (bpf_map_update_elem(bpf_map__fd(s->skel->maps.window_sync), &zero, &inner, BPF_ANY))
		return -errno;
	return 0;
}

/* Fetches (once per drain) the frames of stack ID; *N is 0 for a missing stack. */
static int resolve_stack(struct sampler *s, int map_fd, int32_t id, size_t *off, uint32_t *n)
{
	struct stack_slot *slot;
	uint32_t i, key = (uint32_t)id;
	int err;

	*n = 0;
	*off = 0;
	if (id < 0 || (size_t)id >= s->nr_slots)
		return 0;
	slot = &s->slots[id];
	if (slot->gen == s->seq + 1) {
		*off = slot->off;
		*n = slot->n;
		return 0;
	}
	slot->gen = s->seq + 1;
	slot->n = 0;
	/*
	 * Read and deleted (the stack map must be empty again when this window is reused) in
	 * one syscall where the kernel can, else two.
	 */
	if (!s->no_stack_lad && bpf_map_lookup_and_delete_elem(map_fd, &key, s->stack_buf)) {
		if (errno == ENOENT)
			return 0;
		if (errno != EINVAL && errno != EOPNOTSUPP && errno != ENOTSUP_KERNEL)
			return -errno;
		log_info("kernel lacks lookup-and-delete on stack maps (%s): two calls per stack",
			 strerror(errno));
		s->no_stack_lad = true;
	}
	if (s->no_stack_lad) {
		if (bpf_map_lookup_elem(map_fd, &key, s->stack_buf))
			return errno == ENOENT ? 0 : -errno;
		bpf_map_delete_elem(map_fd, &key);
	}
	s->stacks_total++;
	for (i = 0; i < KILN_MAX_FRAMES && s->stack_buf[i]; i++)
		;
	err = sampler_u64_append(&s->frames, s->stack_buf, i, &slot->off);
	if (err)
		return err;
	slot->n = i;
	*off = slot->off;
	*n = i;
	return 0;
}

/*
 * Deletes stacks nobody referenced (ids taken by samples that then overflowed). The ids are
 * collected first: a stack map's get_next_key restarts its bucket scan from 0 when the key
 * it is given is gone, so deleting while walking scanned all buckets once per leftover
 * stack (quadratic in a big map). Collecting walks the buckets once.
 */
static void sweep_stacks(struct sampler *s, int fd)
{
	uint32_t key, next;
	size_t n = 0, i;

	if (bpf_map_get_next_key(fd, NULL, &next) == 0) {
		do {
			if (sampler_vec_reserve((void **)&s->sweep, &s->sweep_cap, n + 1,
						sizeof(*s->sweep)))
				break; /* out of memory: the rest waits for the next drain */
			s->sweep[n++] = next;
			key = next;
		} while (bpf_map_get_next_key(fd, &key, &next) == 0);
	}
	for (i = 0; i < n; i++)
		bpf_map_delete_elem(fd, &s->sweep[i]);
}

static int add_sample(struct sampler *s, size_t *n, const struct kiln_raw_sample *src)
{
	int err;

	err = sampler_vec_reserve((void **)&s->samples, &s->samples_cap, *n + 1,
				  sizeof(*s->samples));
	if (err)
		return err;
	s->samples[(*n)++] = *src;
	return 0;
}

/*
 * Processes whose exit event was lost (a full event ring) would stay loaded forever, so the
 * unwinder's table is swept for them, a slice per window: SWEEP_SLOW slots normally (a full
 * table in about a minute; each slot is a path lookup, and 512 a window were 5 % of the
 * agent's CPU at 2000 processes), SWEEP_FAST for SWEEP_FAST_WINDOWS windows after events
 * were lost.
 */
#define SWEEP_SLOW 64
#define SWEEP_FAST 1024
#define SWEEP_FAST_WINDOWS 8
static void sweep_processes(struct sampler *s)
{
	uint64_t m[KILN_M_NR];

	if (!sampler__metrics(s, m) && m[KILN_M_EV_DROPPED] != s->ev_lost_seen) {
		s->ev_lost_seen = m[KILN_M_EV_DROPPED];
		s->sweep_fast = SWEEP_FAST_WINDOWS;
	}
	if (s->sweep_fast) {
		s->sweep_fast--;
		unwinder__sweep(s->uw, SWEEP_FAST);
		return;
	}
	unwinder__sweep(s->uw, SWEEP_SLOW);
}

int sampler__drain(struct sampler *s, int (*fn)(const struct kiln_window *w, void *ctx), void *ctx)
{
	struct kiln_window win = { 0 };
	struct kiln_raw_sample rs;
	struct pending *p;
	uint32_t old = s->gen & 1, nk, nu, npy, used;
	int stacks_fd, err;
	const struct kiln_count_slot *cs, *cbase;
	const struct kiln_ustack *us, *ubase;
	size_t i, koff, n = 0;
	uint64_t now, stacks_before = s->stacks_total;

	/* Advance first: from here on new samples go to the other half, under new keys. */
	s->gen++;
	__atomic_store_n(&s->skel->bss->window, s->gen, __ATOMIC_RELEASE);
	err = wait_for_programs(s);
	if (err)
		return err;
	now = wall_ns();
	/* Every overflow record of the old window was submitted before the wait returned. */
	err = sampler__poll_events(s);
	if (err < 0)
		return err;

	stacks_fd = bpf_map__fd(old ? s->skel->maps.stacks1 : s->skel->maps.stacks0);
	s->frames.n = 0; /* the window's pool of kernel frames */
	/* The window's keys: the slots they took (bpf/profile.bpf.c, cslots), read in place. */
	used = __atomic_load_n(&s->skel->bss->slots_used[old], __ATOMIC_ACQUIRE);
	used = used < s->slot_half ? used : s->slot_half;
	cbase = s->cslots + (size_t)old * s->slot_half;
	ubase = s->ustacks + (size_t)old * s->slot_half;

	for (i = 0; i < used; i++) {
		cs = &cbase[i];
		/* 0: a slot whose key another CPU inserted first (counted in that one's). */
		if (!cs->count)
			continue;
		err = resolve_stack(s, stacks_fd, cs->kstack_id, &koff, &nk);
		if (err)
			return err;
		nu = 0;
		npy = 0;
		us = cs->has_ustack ? &ubase[i] : NULL;
		if (us) {
			/* The slot stays as it is until the window's next turn. */
			s->stacks_total++;
			nu = us->len < KILN_MAX_FRAMES ? us->len : KILN_MAX_FRAMES;
			npy = KILN_USTACK_PY_WORDS(us->flags);
			npy = npy <= nu ? npy : 0;
		}
		memset(&rs, 0, sizeof(rs));
		rs.tgid = cs->tgid;
		rs.pid = cs->pid;
		rs.cgroup_id = cs->cgroup_id;
		memcpy(rs.comm, cs->comm, sizeof(rs.comm));
		rs.comm[sizeof(rs.comm) - 1] = '\0';
		rs.count = cs->count;
		/* An offset now, a pointer below: the pool may still move while it grows. */
		rs.kframes = (const uint64_t *)(uintptr_t)koff;
		rs.uframes = us ? (const uint64_t *)us->pc : NULL;
		rs.nr_kframes = nk;
		rs.nr_uframes = nu;
		rs.nr_pywords = npy;
		rs.kstack_err = cs->kstack_id < 0 ? cs->kstack_id : 0;
		rs.ustack_err = cs->ustack_err ? cs->ustack_err : (us ? 0 : -ENOENT);
		err = add_sample(s, &n, &rs);
		if (err)
			return err;
	}
	sweep_stacks(s, stacks_fd);
	for (i = 0; i < n; i++)
		s->samples[i].kframes = s->frames.v + (uintptr_t)s->samples[i].kframes;

	p = &s->pending[old];
	for (i = 0; i < p->n; i++) {
		const struct ovf_sample *o = &p->s[i];

		memset(&rs, 0, sizeof(rs));
		rs.tgid = o->tgid;
		rs.pid = o->pid;
		rs.cgroup_id = o->cgroup_id;
		memcpy(rs.comm, o->comm, sizeof(rs.comm));
		rs.comm[sizeof(rs.comm) - 1] = '\0';
		rs.count = 1;
		rs.kframes = p->frames.v + o->kframes_off;
		rs.uframes = p->frames.v + o->uframes_off;
		rs.nr_kframes = o->nr_kframes;
		rs.nr_uframes = o->nr_uframes;
		rs.nr_pywords = o->nr_pywords;
		rs.kstack_err = o->kerr;
		rs.ustack_err = o->uerr;
		rs.overflowed = 1;
		err = add_sample(s, &n, &rs);
		if (err)
			return err;
	}

	win.seq = s->seq;
	win.start_ns = s->window_start_ns;
	win.duration_ns = now - s->window_start_ns;
	win.period_ns = sampler__period_ns(s);
	win.nr_samples = n;
	win.samples = s->samples;
	win.nr_stacks = s->stacks_total - stacks_before;
	s->window_start_ns = now;
	err = fn ? fn(&win, ctx) : 0;
	/* The window is symbolized: CPython processes that exited before it can go. */
	if (s->py)
		pyprocs__sweep(s->py);
	if (s->uw)
		sweep_processes(s);
	/*
	 * The overflow samples and slots of OLD are consumed; the half is reused after the
	 * next flip.
	 */
	__atomic_store_n(&s->skel->bss->slots_used[old], 0, __ATOMIC_RELEASE);
	p->n = 0;
	p->frames.n = 0;
	s->seq++;
	return err;
}
