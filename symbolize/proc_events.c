// SPDX-License-Identifier: Apache-2.0
/*
 * Processes and mappings reported by events (fork, exec, mmap, exit) rather than read from
 * /proc: a child inherits its parent's mappings, a new mapping is cut into the sorted list.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "symbolize/symbolize_internal.h"

void symbolizer__process_exec(struct symbolizer *s, uint32_t tgid)
{
	struct proc *p = find_proc(s, tgid);

	/* The next capture or lookup reads the new image's mappings. */
	if (p && !p->by_events)
		release_proc(s, p);
}

/* A new, empty process entry for TGID (none exists). Returns it or NULL. */
static struct proc *new_proc(struct symbolizer *s, uint32_t tgid)
{
	struct proc *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->tgid = tgid;
	p->nspid = tgid;
	p->jit_size = -1;
	if (htab__insert(&s->procs, proc_hash(tgid), (uintptr_t)p)) {
		free(p);
		return NULL;
	}
	proc_account(s, p);
	return p;
}

int symbolizer__process_born(struct symbolizer *s, uint32_t tgid, uint32_t parent)
{
	struct proc *p = find_proc(s, tgid), *pp = parent ? find_proc(s, parent) : NULL;
	struct umap *maps = NULL;
	size_t i;

	/* Whatever was cached under this number (a previous image or process) is stale. */
	if (p)
		release_proc(s, p);
	if (parent && !pp)
		return 0;
	if (pp && pp->nr_maps) {
		maps = malloc(pp->nr_maps * sizeof(*maps));
		if (!maps)
			return -ENOMEM;
		memcpy(maps, pp->maps, pp->nr_maps * sizeof(*maps));
		for (i = 0; i < pp->nr_maps; i++)
			if (maps[i].elf)
				elf_ref(maps[i].elf);
	}
	p = new_proc(s, tgid);
	if (!p) {
		for (i = 0; maps && i < pp->nr_maps; i++)
			if (maps[i].elf)
				elf_unref(s, maps[i].elf);
		free(maps);
		return -ENOMEM;
	}
	p->maps = maps;
	p->nr_maps = maps ? pp->nr_maps : 0;
	/* A child of a process read from /proc may lack what /proc would show: re-read on misses. */
	proc_set_by_events(s, p, pp ? pp->by_events : true);
	proc_account(s, p);
	return 0;
}

/*
 * Puts NM into P's sorted mappings; what it overlaps is cut away (a mapping over existing
 * ones replaces them there, as MAP_FIXED does). Returns 0 or -ENOMEM.
 */
static int insert_map(struct symbolizer *s, struct proc *p, const struct umap *nm)
{
	struct umap *maps, o;
	size_t i, n = 0;
	bool placed = false;

	/* Each old mapping gives at most two pieces, and only one can surround NM. */
	maps = malloc((p->nr_maps + 2) * sizeof(*maps));
	if (!maps)
		return -ENOMEM;
	for (i = 0; i < p->nr_maps; i++) {
		o = p->maps[i];
		if (!placed && o.start >= nm->start) {
			maps[n++] = *nm;
			placed = true;
		}
		if (o.end <= nm->start || o.start >= nm->end) {
			maps[n++] = o;
			continue;
		}
		if (o.start < nm->start) {
			maps[n] = o;
			maps[n++].end = nm->start;
		}
		if (!placed) {
			maps[n++] = *nm;
			placed = true;
		}
		if (o.end > nm->end) {
			maps[n] = o;
			maps[n].offset += nm->end - o.start;
			maps[n++].start = nm->end;
		}
		/* Refs follow the pieces: one kept piece keeps the ref, two take another. */
		if (o.elf) {
			int kept = (o.start < nm->start) + (o.end > nm->end);

			if (kept == 2)
				elf_ref(o.elf);
			else if (!kept)
				elf_unref(s, o.elf);
		}
	}
	if (!placed)
		maps[n++] = *nm;
	free(p->maps);
	p->maps = maps;
	p->nr_maps = n;
	proc_account(s, p);
	return 0;
}

int symbolizer__add_mapping(struct symbolizer *s, uint32_t tgid, const struct sym_mapping *m)
{
	char hex[2 * 64 + 1];
	struct umap nm = { 0 };
	const struct umap *old;
	struct proc *p;
	size_t i;
	int err;

	if (m->end <= m->start || !m->path)
		return -EINVAL;
	p = find_proc(s, tgid);
	if (!p) {
		/*
		 * Not seen born: it predates the events, so /proc has the rest of its
		 * mappings. They are read at its first sample (capture, or a lookup's miss),
		 * not now: most such processes are never sampled, and reading them all (ELF
		 * files included) for every mmap of JIT code on the host cost more than it
		 * saved.
		 */
		p = new_proc(s, tgid);
		if (!p)
			return -ENOMEM;
		p->partial = true;
	}
	nm.start = m->start;
	nm.end = m->end;
	nm.offset = m->pgoff;
	nm.dev = m->dev;
	nm.ino = m->ino;
	nm.events = true;
	nm.path = intern(s, m->path[0] ? m->path : "//anon");
	if (!nm.path)
		return -ENOMEM;
	if (m->build_id && m->build_id_size && m->build_id_size <= 64) {
		for (i = 0; i < m->build_id_size; i++)
			snprintf(hex + 2 * i, 3, "%02x", m->build_id[i]);
		nm.bid = intern(s, hex);
		if (!nm.bid)
			return -ENOMEM;
	}
	/*
	 * Already known as such: JIT runtimes flip their code between writable and executable
	 * (mprotect), and each flip to executable is reported again. Copying a large process's
	 * mapping list for each of those kept the agent from reading its rings.
	 */
	old = find_map(p, nm.start);
	if (old && nm.end <= old->end && old->path == nm.path && old->ino == nm.ino &&
	    old->bid == nm.bid && old->offset + (nm.start - old->start) == nm.offset)
		return 0;
	err = insert_map(s, p, &nm);
	if (err)
		return err;
	s->mappings_added++;
	/* Twice what the last re-read found, so a process that truly maps that much is not read per record. */
	if (p->nr_maps > EVENT_MAPS_MAX && p->nr_maps > 2 * p->reread_nr && !p->exited) {
		err = read_maps(s, p);
		if (err == -ESRCH)
			err = 0;
		p->reread_nr = p->nr_maps;
	}
	return err;
}

void symbolizer__events_lost(struct symbolizer *s)
{
	size_t i;

	for (i = 0; s->procs.slots && i <= s->procs.mask; i++)
		if (s->procs.slots[i].hash)
			((struct proc *)(uintptr_t)s->procs.slots[i].val)->by_events = false;
	s->nr_by_events = 0;
}

void symbolizer__process_exit(struct symbolizer *s, uint32_t tgid)
{
	struct proc *p = find_proc(s, tgid);

	if (p)
		proc_mark_exited(s, p);
}
