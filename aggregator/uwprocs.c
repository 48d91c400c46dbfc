// SPDX-License-Identifier: Apache-2.0
/*
 * The unwinder's processes: each one's executable mappings read from /proc, entered in the
 * LPM trie (tgid, address) -> table, kept in step on exec, dlopen and exit, and swept when
 * gone unannounced.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "aggregator/unwinder_int.h"
#include "common/log.h"
#include "common/util.h"

/*
 * Enters (or, with VAL NULL, removes) [START, END) of TGID in the LPM trie as the aligned
 * power-of-two blocks that make it up. Returns 0 or -errno of the first failed update.
 */
static int lpm_range(struct unwinder *u, uint32_t tgid, uint64_t start, uint64_t end,
		     const struct kiln_uw_mapping *val)
{
	struct kiln_uw_map_key k = { .tgid_be = htobe32(tgid) };
	uint64_t size;
	int bits, err = 0;

	while (start < end) {
		size = start ? start & -start : 1ull << 62;
		while (size > end - start)
			size >>= 1;
		bits = __builtin_ctzll(size);
		k.prefixlen = 32 + 64 - bits;
		k.addr_be = htobe64(start);
		if (val) {
			if (bpf_map_update_elem(u->m.mappings_fd, &k, val, BPF_ANY) && !err)
				err = -errno;
			else
				u->st.prefixes++;
		} else if (!bpf_map_delete_elem(u->m.mappings_fd, &k)) {
			u->st.prefixes--;
		}
		start += size;
	}
	return err;
}

static void pmap_remove(struct unwinder *u, struct proc *p, struct pmap *pm)
{
	lpm_range(u, p->tgid, pm->start, pm->end, NULL);
	uw_table_put(u, pm->t);
	u->st.mappings--;
}

static bool proc_eq(uint64_t val, const void *key, void *ctx)
{
	(void)ctx;
	return ((const struct proc *)(uintptr_t)val)->tgid == *(const uint32_t *)key;
}

static struct proc *proc_find(struct unwinder *u, uint32_t tgid)
{
	uint64_t v;

	if (htab__find(&u->procs, htab_hash_u64(tgid, 0), proc_eq, &tgid, NULL, &v))
		return (struct proc *)(uintptr_t)v;
	return NULL;
}

/* One executable mapping of /proc/PID/maps; false for other lines. */
static bool parse_exec_line(char *line, struct pmap *pm, char **path)
{
	unsigned long long start, end, off;
	char perms[8];
	int n = 0;

	if (sscanf(line, "%llx-%llx %7s %llx %*s %*s%n", &start, &end, perms, &off, &n) < 4 ||
	    perms[2] != 'x')
		return false;
	line += n;
	while (*line == ' ')
		line++;
	line[strcspn(line, "\n")] = '\0';
	pm->start = start;
	pm->end = end;
	pm->pgoff = off;
	pm->t = NULL;
	*path = line;
	return true;
}

/*
 * PROCMAP_QUERY (Linux 6.11, include/uapi/linux/fs.h), declared here for older headers: one
 * ioctl on /proc/PID/maps returns the next VMA with the wanted permissions, so a sync
 * formats only the executable ones (a path each) instead of every VMA's text line.
 */
struct uw_procmap_query {
	__u64 size;
	__u64 query_flags;
	__u64 query_addr;
	__u64 vma_start;
	__u64 vma_end;
	__u64 vma_flags;
	__u64 vma_page_size;
	__u64 vma_offset;
	__u64 inode;
	__u32 dev_major;
	__u32 dev_minor;
	__u32 vma_name_size;
	__u32 build_id_size;
	__u64 vma_name_addr;
	__u64 build_id_addr;
};

_Static_assert(sizeof(struct uw_procmap_query) == 104, "struct procmap_query of Linux 6.11");
#define UW_PROCMAP_QUERY _IOWR('f', 17, struct uw_procmap_query)
#define UW_QUERY_VMA_EXECUTABLE 0x04
#define UW_QUERY_COVERING_OR_NEXT_VMA 0x10

/* The executable mappings of one process, by PROCMAP_QUERY or else from the text. */
struct exec_iter {
	int fd;
	FILE *f; /* the text, when the kernel lacks the query */
	uint64_t next; /* the query's next address */
	bool done;
	char *line;
	size_t cap;
	char name[PATH_MAX];
};

/* Opens TGID's mappings under U's proc root into IT. Returns 0 or -errno (-ESRCH: gone). */
static int exec_iter_open(struct unwinder *u, uint32_t tgid, struct exec_iter *it)
{
	char path[300];

	memset(it, 0, sizeof(*it));
	snprintf(path, sizeof(path), "%s/%u/maps", u->proc_root, tgid);
	it->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (it->fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	if (!u->no_query)
		return 0;
	it->f = fdopen(it->fd, "re");
	if (!it->f) {
		close(it->fd);
		return -errno;
	}
	return 0;
}

/*
 * The next executable mapping into *PM and its path (owned by IT; "" when anonymous, as in
 * the text). Returns false at the end. The first query that the kernel refuses as unknown
 * (ENOTTY: before 6.11; a file that is no maps file, as in tests) switches U to the text.
 */
static bool exec_iter_next(struct unwinder *u, struct exec_iter *it, struct pmap *pm, char **path)
{
	struct uw_procmap_query q;

	while (!it->f && !it->done) {
		memset(&q, 0, sizeof(q));
		q.size = sizeof(q);
		q.query_flags = UW_QUERY_VMA_EXECUTABLE | UW_QUERY_COVERING_OR_NEXT_VMA;
		q.query_addr = it->next;
		q.vma_name_addr = (__u64)(uintptr_t)it->name;
		q.vma_name_size = sizeof(it->name);
		if (ioctl(it->fd, UW_PROCMAP_QUERY, &q)) {
			if ((errno == ENOTTY || errno == EINVAL) && !it->next) {
				u->no_query = true;
				it->f = fdopen(it->fd, "re");
				if (it->f)
					break;
			}
			it->done = true; /* ENOENT: no more; ESRCH: the process is gone */
			return false;
		}
		if (q.vma_end <= it->next) {
			it->done = true;
			return false;
		}
		it->next = q.vma_end;
		pm->start = q.vma_start;
		pm->end = q.vma_end;
		pm->pgoff = q.vma_offset;
		pm->t = NULL;
		if (!q.vma_name_size)
			it->name[0] = '\0';
		*path = it->name;
		u->st.queried++;
		return true;
	}
	while (it->f && getline(&it->line, &it->cap, it->f) > 0) {
		if (parse_exec_line(it->line, pm, path))
			return true;
	}
	return false;
}

static void exec_iter_close(struct exec_iter *it)
{
	free(it->line);
	if (it->f)
		fclose(it->f); /* closes the fd too */
	else if (it->fd >= 0)
		close(it->fd);
}

static bool same_mapping(const struct pmap *a, const struct pmap *b)
{
	return a->start == b->start && a->end == b->end && a->pgoff == b->pgoff;
}

int unwinder__sync_process(struct unwinder *u, uint32_t tgid)
{
	struct kiln_uw_map_key mk = { .prefixlen = 32, .tgid_be = htobe32(tgid) };
	struct kiln_uw_mapping marker = { .flags = KILN_UW_MAP_MARKER };
	struct pmap *next = NULL, pm;
	size_t nr = 0, cap = 0, i, j;
	struct exec_iter it;
	char *file;
	struct proc *p;
	uint64_t t0 = mono_ns();
	int err = 0;

	u->st.syncs++;
	err = exec_iter_open(u, tgid, &it);
	if (err)
		return err;
	p = proc_find(u, tgid);
	while (exec_iter_next(u, &it, &pm, &file)) {
		memset(&pm.v, 0, sizeof(pm.v));
		pm.kept = false;
		for (j = 0; p && j < p->nr_maps; j++) {
			if (p->maps[j].t != (void *)1 && same_mapping(&p->maps[j], &pm)) {
				pm.t = p->maps[j].t;
				p->maps[j].t = (void *)1; /* taken over: not removed below */
				pm.kept = true;
				break;
			}
		}
		if (!pm.kept) {
			if (!strcmp(file, "[vdso]")) {
				pm.t = uw_vdso_table(u);
			} else if (file[0] == '/') {
				if (strstr(file, " (deleted)"))
					continue;
				pm.t = uw_file_table(u, tgid, file);
			} else if (file[0] == '[') {
				continue; /* [vsyscall], [uprobes]: nothing to walk */
			}
			/* Anonymous executable memory (JIT) or a file without tables: rbp chain. */
			if (!pm.t || pm.t->no_table ||
			    !uw_mapping_bias(pm.t, pm.start, pm.pgoff, &pm.v.bias))
				pm.v.flags = KILN_UW_MAP_NO_TABLE;
			else
				pm.v.table_id = pm.t->id;
			pm.v.start = pm.start;
			pm.v.end = pm.end;
			uw_table_get(u, pm.t);
		}
		if (uw_grow((void **)&next, &cap, nr + 1, sizeof(*next))) {
			if (!pm.kept)
				uw_table_put(u, pm.t);
			err = -ENOMEM;
			break;
		}
		next[nr++] = pm;
	}
	exec_iter_close(&it);
	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p || htab__insert(&u->procs, htab_hash_u64(tgid, 0), (uintptr_t)p)) {
			free(p);
			for (i = 0; i < nr; i++)
				uw_table_put(u, next[i].t);
			free(next);
			return -ENOMEM;
		}
		p->tgid = tgid;
		u->st.processes++;
	}
	/*
	 * Mappings that are gone (munmap, dlclose, a range split by mprotect) leave the trie
	 * first: a new mapping over the same addresses has the same prefixes, which a later
	 * removal would take away.
	 */
	for (j = 0; j < p->nr_maps; j++) {
		if (p->maps[j].t != (void *)1)
			pmap_remove(u, p, &p->maps[j]);
	}
	for (i = 0; i < nr; i++) {
		if (next[i].kept)
			continue;
		if (lpm_range(u, tgid, next[i].start, next[i].end, &next[i].v))
			u->st.load_errors++;
		u->st.mappings++;
		u->st.mappings_added++;
	}
	free(p->maps);
	p->maps = next;
	p->nr_maps = nr;
	/* Last: from here on the walker takes this process's samples. */
	if (bpf_map_update_elem(u->m.mappings_fd, &mk, &marker, BPF_ANY)) {
		u->st.load_errors++;
		if (!err)
			err = -errno;
	}
	/*
	 * The mappings the walker learned by itself until now are in the trie (or gone):
	 * dropped, so that none outlives an unmap the next read will see.
	 */
	if (u->m.files_max)
		bpf_map_delete_elem(u->m.vma_cache_fd, &tgid);
	log_debug("unwind: process %u: %zu executable mappings in %.2f ms", tgid, nr,
		  (double)(mono_ns() - t0) / 1e6);
	return err;
}

void unwinder__preload(struct unwinder *u)
{
	char path[300], *line = NULL, *file;
	size_t cap = 0;
	struct pmap pm;
	FILE *f;

	uw_vdso_table(u);
	snprintf(path, sizeof(path), "%s/self/maps", u->proc_root);
	f = fopen(path, "re");
	if (!f)
		return;
	while (getline(&line, &cap, f) > 0) {
		struct table *t;
		const char *base;

		if (!parse_exec_line(line, &pm, &file) || file[0] != '/')
			continue;
		base = strrchr(file, '/') + 1;
		if (strncmp(base, "libc.so", 7) && strncmp(base, "ld-linux", 8) &&
		    strncmp(base, "libm.so", 7) && strncmp(base, "libstdc++.so", 12))
			continue;
		/* Built now and left idle: the first process that maps it finds it loaded. */
		t = uw_file_table(u, (uint32_t)getpid(), file);
		if (t && !t->refs && !t->idle_since) {
			t->idle_since = ++u->idle_clock;
			u->st.tables_idle++;
		}
	}
	free(line);
	fclose(f);
}

void unwinder__remove_process(struct unwinder *u, uint32_t tgid)
{
	struct kiln_uw_map_key mk = { .prefixlen = 32, .tgid_be = htobe32(tgid) };
	struct proc *p = proc_find(u, tgid);
	size_t i;

	if (u->m.files_max)
		bpf_map_delete_elem(u->m.vma_cache_fd, &tgid);
	if (!p)
		return;
	/* The marker first: the walker falls back to frame pointers, never a stale table. */
	bpf_map_delete_elem(u->m.mappings_fd, &mk);
	for (i = 0; i < p->nr_maps; i++)
		pmap_remove(u, p, &p->maps[i]);
	htab__remove(&u->procs, htab_hash_u64(tgid, 0), (uintptr_t)p);
	free(p->maps);
	free(p);
	u->st.processes--;
}

int unwinder__sweep(struct unwinder *u, size_t budget)
{
	uint32_t gone[64];
	char path[300];
	size_t n = 0, i, slot;
	struct proc *p;

	/* Collected first: removing moves entries of the table being walked. */
	for (i = 0; u->procs.slots && i < budget && i <= u->procs.mask && n < 64; i++) {
		slot = u->sweep_pos++ & u->procs.mask;
		if (!u->procs.slots[slot].hash)
			continue;
		p = (struct proc *)(uintptr_t)u->procs.slots[slot].val;
		snprintf(path, sizeof(path), "%s/%u", u->proc_root, p->tgid);
		if (access(path, F_OK) && errno == ENOENT)
			gone[n++] = p->tgid;
	}
	for (i = 0; i < n; i++)
		unwinder__remove_process(u, gone[i]);
	u->st.swept += n;
	return (int)n;
}

bool unwinder__knows(const struct unwinder *u, uint32_t tgid)
{
	return proc_find((struct unwinder *)u, tgid) != NULL;
}
