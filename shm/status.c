// SPDX-License-Identifier: Apache-2.0
/*
 * A ring's status read once (shm/status.h): header, producer counters, consumer slots and
 * kiln run's state file, copied out so that what is shown is one consistent picture.
 */
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "shm/counters.h"
#include "shm/runstate.h"
#include "shm/shm.h"
#include "shm/status.h"

const char *const shm_status_ring_names[8] = { "records", "bytes",   "pads",	  "flushes",
					       "wakeups", "too_big", "recovered", "reset" };

/* Display order: samples, drops and errors, then the other groups. */
static int group_rank(int g)
{
	return g == SHM_STATUS_PROBLEMS ? 1 : g == KILN_CG_SAMPLES ? 0 : g + 2;
}

/* kill(pid, 0): EPERM means the process exists under another user, so it is alive. */
static bool pid_alive(int32_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

static uint64_t ld(const _Atomic uint64_t *v)
{
	/* Relaxed: a snapshot for display; values move while we read. */
	return atomic_load_explicit(v, memory_order_relaxed);
}

static int cmp_pc(const void *a, const void *b)
{
	const struct shm_status_counter *x = a, *y = b;

	if (x->g != y->g)
		return group_rank(x->g) < group_rank(y->g) ? -1 : 1;
	return x->order - y->order;
}

static void read_producer_counters(struct shm_status *s, const struct shm_hdr *h)
{
	struct shm_counter_entry e;
	int pos = 0;

	while (shm_counters__next(h, &pos, &e)) {
		struct shm_status_counter *p = &s->pc[s->nr_pc++];

		memcpy(p->name, e.name, sizeof(p->name));
		p->value = e.value;
		p->problem = e.problem;
		p->g = e.problem ? SHM_STATUS_PROBLEMS : (int)e.group;
		p->order = e.info ? (int)e.info->id : KILN_C_NR + pos;
	}
	qsort(s->pc, (size_t)s->nr_pc, sizeof(s->pc[0]), cmp_pc);
}

static void read_consumers(struct shm_status *s, const struct shm_cons *cons)
{
	int i;

	s->claims = ld(&cons->claims);
	s->reclaimed = ld(&cons->reclaimed);
	for (i = 0; i < SHM_MAX_CONSUMERS; i++) {
		const struct shm_slot *sl = &cons->slots[i];
		const struct ring_cursor *c = &sl->cursor;
		struct shm_status_consumer *o = &s->cs[s->nr_cs];
		uint64_t owner = ld(&sl->owner), pos;
		int k;

		if (!owner)
			continue;
		o->slot = i;
		o->pid = shm_slot__pid(owner);
		o->alive = pid_alive(o->pid);
		memcpy(o->comm, sl->comm, sizeof(sl->comm));
		o->comm[sizeof(sl->comm)] = 0;
		o->kind = atomic_load_explicit(&sl->kind, memory_order_relaxed);
		if (o->kind >= SHM_KIND_NR)
			o->kind = SHM_KIND_OTHER; /* a newer kiln's consumer: counters unknown */
		o->attach_ns = ld(&sl->attach_ns);
		o->active_ns = ld(&sl->active_ns);
		pos = ld(&c->pos);
		o->lag = s->head > pos ? s->head - pos : 0;
		o->consumed = ld(&c->consumed);
		o->bytes = ld(&c->bytes);
		o->lost = ld(&c->lost);
		o->lapped = ld(&c->lapped);
		o->corrupt = ld(&c->corrupt);
		o->generations = ld(&c->generations);
		o->waits = ld(&c->waits);
		for (k = 0; k < SHM_SLOT_STATS_ALL; k++)
			o->stats[k] = ld(shm_slot__stat(sl, k));
		s->nr_cs++;
	}
}

static void read_runstate(struct shm_status *s)
{
	int i;

	s->run_err = runstate__path(s->name, s->run_path, sizeof(s->run_path));
	if (!s->run_err)
		s->run_err = runstate__read(s->run_path, &s->run);
	if (s->run_err)
		return;
	s->sup_alive = pid_alive(s->run.supervisor_pid);
	for (i = 0; i < s->run.nr_children; i++)
		s->child_alive[i] = pid_alive(s->run.children[i].pid);
}

void shm_status__read(struct shm_status *s, const struct shm_view *v)
{
	const struct shm_hdr *h = shm_view__hdr(v);
	const struct ring_ctl *ctl = &h->ctl;
	const _Atomic uint64_t *ring[8] = { &ctl->records,   &ctl->bytes,   &ctl->pads,
					    &ctl->flushes,   &ctl->wakeups, &ctl->too_big,
					    &ctl->recovered, &ctl->reset };
	struct group *g;
	int i;

	s->now = wall_ns();
	snprintf(s->path, sizeof(s->path), "%s", shm_view__path(v));
	s->version = h->version;
	s->max_consumers = h->max_consumers;
	s->gid = h->gid;
	s->data_size = h->data_size;
	s->created_ns = h->created_ns;
	g = h->gid != (uint32_t)-1 ? getgrgid(h->gid) : NULL;
	snprintf(s->group, sizeof(s->group), "%s", g ? g->gr_name : "");
	s->ppid = atomic_load_explicit(&h->producer_pid, memory_order_relaxed);
	s->palive = pid_alive(s->ppid);
	s->generation = ld(&ctl->generation);
	s->pstart_ns = ld(&h->producer_start_ns);
	s->heartbeat_ns = ld(&h->heartbeat_ns);
	s->head = ld(&ctl->head);
	s->tail = ld(&ctl->tail);
	s->next_seq = ld(&ctl->next_seq);
	for (i = 0; i < 8; i++)
		s->ring[i] = ld(ring[i]);
	read_producer_counters(s, h);
	read_consumers(s, shm_view__cons(v));
	read_runstate(s);
}
