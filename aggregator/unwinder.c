// SPDX-License-Identifier: Apache-2.0
#include "aggregator/unwinder.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <limits.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/types.h>
#include <bpf/bpf.h>

#include "bpf/unwind.h"
#include "common/log.h"
#include "common/util.h"
#include "symbolize/htab.h"
#include "unwind/unwind.h"

/*
 * Loaded tables nobody maps kept for reuse (short-lived processes map the same libc, a build
 * runs cc1 and as again and again). They cost no memory the maps do not already hold (the
 * maps are preallocated), and the oldest is evicted whenever a new table needs its room, so
 * the bound is only on the user-space bookkeeping: with 64, a host running many different
 * programs rebuilt evicted tables ~10 times a second (615 builds of 161 files in a minute).
 */
#define MAX_IDLE_TABLES 512
#define MAX_LOADS 8

struct load_seg {
	uint64_t offset, vaddr, filesz;
};

/* A file's table as loaded into the maps. */
struct table {
	uint32_t id; /* never reused: a stale page key can't reach a new table */
	uint32_t refs; /* mappings that use it */
	bool no_table; /* the file has no usable .eh_frame: its mappings walk frame pointers */
	uint64_t dev, ino, size, mtime_ns; /* the file it was built from */
	char build_id[41]; /* hex, "" when the file has none */
	struct load_seg loads[MAX_LOADS];
	int nr_loads;
	uint32_t first, nr_deltas; /* its range in the delta array */
	uint32_t *pages; /* page numbers entered in the page map */
	size_t nr_pages;
	uint64_t idle_since; /* order of going idle, for eviction */
};

struct pmap {
	uint64_t start, end, pgoff;
	struct table *t; /* NULL for anonymous executable memory (JIT) */
	struct kiln_uw_mapping v; /* its LPM value */
	bool kept; /* during a sync: already entered by an earlier one */
};

struct proc {
	uint32_t tgid;
	struct pmap *maps;
	size_t nr_maps;
};

/* A free range of the delta array. */
struct extent {
	uint32_t start, len;
};

struct unwinder {
	struct unwinder_maps m;
	char proc_root[256];
	struct table **tables;
	size_t nr_tables, tables_cap;
	struct htab procs; /* tgid hash -> struct proc * */
	struct htab rules; /* rule hash -> rule index */
	struct kiln_uw_rule *rule_vals;
	size_t rules_cap;
	uint32_t nr_rules;
	struct extent *free; /* sorted by start, coalesced */
	size_t nr_free, free_cap;
	uint32_t next_id;
	uint64_t idle_clock;
	struct table *vdso;
	bool vdso_tried;
	size_t sweep_pos; /* next slot of procs unwinder__sweep looks at */
	struct unwinder_stats st;
};

static int grow(void **v, size_t *cap, size_t need, size_t elem)
{
	size_t n = *cap ? *cap : 8;
	void *p;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	p = realloc(*v, n * elem);
	if (!p)
		return -ENOMEM;
	*v = p;
	*cap = n;
	return 0;
}

/* Delta array ranges: first fit over a sorted free list. */
static int extent_alloc(struct unwinder *u, uint32_t len, uint32_t *start)
{
	size_t i;

	for (i = 0; i < u->nr_free; i++) {
		if (u->free[i].len < len)
			continue;
		*start = u->free[i].start;
		u->free[i].start += len;
		u->free[i].len -= len;
		if (!u->free[i].len) {
			memmove(&u->free[i], &u->free[i + 1],
				(u->nr_free - i - 1) * sizeof(*u->free));
			u->nr_free--;
		}
		return 0;
	}
	return -ENOSPC;
}

static void extent_free(struct unwinder *u, uint32_t start, uint32_t len)
{
	size_t i = 0;

	if (!len)
		return;
	while (i < u->nr_free && u->free[i].start < start)
		i++;
	/* Merge with the neighbours where they touch. */
	if (i > 0 && u->free[i - 1].start + u->free[i - 1].len == start) {
		u->free[i - 1].len += len;
		if (i < u->nr_free && start + len == u->free[i].start) {
			u->free[i - 1].len += u->free[i].len;
			memmove(&u->free[i], &u->free[i + 1],
				(u->nr_free - i - 1) * sizeof(*u->free));
			u->nr_free--;
		}
		return;
	}
	if (i < u->nr_free && start + len == u->free[i].start) {
		u->free[i].start = start;
		u->free[i].len += len;
		return;
	}
	if (grow((void **)&u->free, &u->free_cap, u->nr_free + 1, sizeof(*u->free)))
		return; /* out of memory: the range is leaked, never reused */
	memmove(&u->free[i + 1], &u->free[i], (u->nr_free - i) * sizeof(*u->free));
	u->free[i].start = start;
	u->free[i].len = len;
	u->nr_free++;
}

static bool rule_eq(uint64_t val, const void *key, void *ctx)
{
	const struct unwinder *u = ctx;

	return memcmp(&u->rule_vals[val], key, sizeof(struct kiln_uw_rule)) == 0;
}

/* The index of RULE in the global rule array, added on first use. Returns 0 or -errno. */
static int rule_index(struct unwinder *u, const struct kiln_uw_rule *rule, uint16_t *out)
{
	uint64_t h = htab_hash_bytes(rule, sizeof(*rule), 0), idx;
	uint32_t key;

	if (htab__find(&u->rules, h, rule_eq, rule, u, &idx)) {
		*out = (uint16_t)idx;
		return 0;
	}
	if (u->nr_rules >= u->m.rules_max || u->nr_rules >= KILN_UW_CMD_FLAG)
		return -ENOSPC;
	if (grow((void **)&u->rule_vals, &u->rules_cap, u->nr_rules + 1, sizeof(*u->rule_vals)))
		return -ENOMEM;
	key = u->nr_rules;
	if (bpf_map_update_elem(u->m.rules_fd, &key, rule, BPF_ANY))
		return -errno;
	u->rule_vals[key] = *rule;
	if (htab__insert(&u->rules, h, key))
		return -ENOMEM;
	u->nr_rules++;
	*out = (uint16_t)key;
	return 0;
}

/*
 * Rows -> deltas cut into 64 KiB pages. Each page that holds code starts with a delta at
 * addr_low 0 carrying the rule in force there, so the walker's search never leaves its
 * page; pages where no row applies (an INVALID row in force, no rows) get no entry.
 */
static int encode(struct unwinder *u, const struct uw_table *ut, struct kiln_uw_delta **out,
		  uint32_t **pages, size_t *nr_pages, uint32_t **page_first, size_t *nr_out)
{
	struct kiln_uw_delta *d = NULL;
	uint32_t *pg = NULL, *pf = NULL;
	size_t n = 0, cap = 0, np = 0, pcap = 0, pfcap = 0, i = 0;
	uint16_t cur = KILN_UW_CMD(KILN_UW_CMD_INVALID, 0), code = 0;
	uint64_t page, last_page;
	int err = 0;

	if (!ut->nr_rows)
		goto done;
	page = ut->rows[0].vaddr >> KILN_UW_PAGE_BITS;
	last_page = ut->rows[ut->nr_rows - 1].vaddr >> KILN_UW_PAGE_BITS;
	for (; page <= last_page; page++) {
		size_t before = n;
		bool has_rows = i < ut->nr_rows && (ut->rows[i].vaddr >> KILN_UW_PAGE_BITS) == page;

		if (!has_rows && cur == KILN_UW_CMD(KILN_UW_CMD_INVALID, 0))
			continue;
		if (has_rows && (ut->rows[i].vaddr & KILN_UW_PAGE_MASK) != 0 &&
		    cur != KILN_UW_CMD(KILN_UW_CMD_INVALID, 0)) {
			err = grow((void **)&d, &cap, n + 1, sizeof(*d));
			if (err)
				goto cleanup;
			d[n].addr_low = 0;
			d[n].rule = cur;
			n++;
		} else if (!has_rows) {
			err = grow((void **)&d, &cap, n + 1, sizeof(*d));
			if (err)
				goto cleanup;
			d[n].addr_low = 0;
			d[n].rule = cur;
			n++;
		}
		for (; i < ut->nr_rows && (ut->rows[i].vaddr >> KILN_UW_PAGE_BITS) == page; i++) {
			const struct uw_row *r = &ut->rows[i];

			if (r->cmd) {
				code = r->cmd;
			} else {
				err = rule_index(u, &r->rule, &code);
				if (err)
					goto cleanup;
			}
			err = grow((void **)&d, &cap, n + 1, sizeof(*d));
			if (err)
				goto cleanup;
			d[n].addr_low = r->vaddr & KILN_UW_PAGE_MASK;
			d[n].rule = code;
			n++;
			cur = code;
		}
		err = grow((void **)&pg, &pcap, np + 1, sizeof(*pg));
		if (!err)
			err = grow((void **)&pf, &pfcap, np + 1, sizeof(*pf));
		if (err)
			goto cleanup;
		pg[np] = (uint32_t)page;
		pf[np] = (uint32_t)before;
		np++;
	}
done:
	*out = d;
	*pages = pg;
	*page_first = pf;
	*nr_pages = np;
	*nr_out = n;
	return 0;
cleanup:
	free(d);
	free(pg);
	free(pf);
	return err;
}

static int write_deltas(struct unwinder *u, uint32_t first, const struct kiln_uw_delta *d, size_t n)
{
	DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, bopts);
	uint32_t *keys, cnt, i;
	int err = 0;

	keys = malloc(n * sizeof(*keys) + 1);
	if (!keys)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		keys[i] = first + i;
	cnt = (uint32_t)n;
	/* One syscall for the whole table where the kernel has batch updates (>= 5.6). */
	if (n && bpf_map_update_batch(u->m.deltas_fd, keys, d, &cnt, &bopts)) {
		for (i = 0; i < n; i++) {
			if (bpf_map_update_elem(u->m.deltas_fd, &keys[i], &d[i], BPF_ANY)) {
				err = -errno;
				break;
			}
		}
	}
	free(keys);
	return err;
}

static void unload_table(struct unwinder *u, struct table *t)
{
	struct kiln_uw_page_key k = { .table_id = t->id };
	size_t i;

	for (i = 0; i < t->nr_pages; i++) {
		k.page = t->pages[i];
		bpf_map_delete_elem(u->m.pages_fd, &k);
	}
	extent_free(u, t->first, t->nr_deltas);
	free(t->pages);
	t->pages = NULL;
	t->nr_pages = 0;
	t->nr_deltas = 0;
}

static void table_free(struct unwinder *u, struct table *t)
{
	size_t i;

	unload_table(u, t);
	for (i = 0; i < u->nr_tables; i++) {
		if (u->tables[i] == t) {
			u->tables[i] = u->tables[--u->nr_tables];
			break;
		}
	}
	if (u->vdso == t)
		u->vdso = NULL;
	free(t);
}

/*
 * Idle: loaded, mapped by no process, and not the one being built right now (a new table
 * has no idle_since until its last user goes).
 */
static bool table_idle(const struct unwinder *u, const struct table *t)
{
	return !t->refs && t->idle_since && t != u->vdso;
}

/* Frees the idle table that went idle first. Returns false when none is idle. */
static bool evict_idle(struct unwinder *u)
{
	struct table *oldest = NULL;
	size_t i;

	for (i = 0; i < u->nr_tables; i++) {
		struct table *t = u->tables[i];

		if (table_idle(u, t) && (!oldest || t->idle_since < oldest->idle_since))
			oldest = t;
	}
	if (!oldest)
		return false;
	table_free(u, oldest);
	u->st.tables_idle--;
	return true;
}

/* Entries of the page map the loaded tables hold. */
static size_t pages_used(const struct unwinder *u)
{
	size_t i, n = 0;

	for (i = 0; i < u->nr_tables; i++)
		n += u->tables[i]->nr_pages;
	return n;
}

/* Encodes UT and enters it into the maps as T. Returns 0 or -errno. */
static int load_table(struct unwinder *u, struct table *t, const struct uw_table *ut)
{
	struct kiln_uw_delta *d = NULL;
	uint32_t *pages = NULL, *page_first = NULL;
	struct kiln_uw_page_key k;
	struct kiln_uw_page v;
	size_t nr_pages = 0, n = 0, i;
	int err;

	err = encode(u, ut, &d, &pages, &nr_pages, &page_first, &n);
	if (err)
		goto cleanup;
	while ((err = extent_alloc(u, (uint32_t)n, &t->first)) == -ENOSPC && evict_idle(u))
		;
	if (err)
		goto cleanup;
	/* The page map is bounded too: room is made the same way before entering the pages. */
	while (pages_used(u) + nr_pages > u->m.pages_max && evict_idle(u))
		;
	t->nr_deltas = (uint32_t)n;
	err = write_deltas(u, t->first, d, n);
	if (err)
		goto cleanup;
	/* Pages last: the walker reaches the deltas only through them. */
	k.table_id = t->id;
	for (i = 0; i < nr_pages; i++) {
		k.page = pages[i];
		v.first = t->first + page_first[i];
		v.count = (uint32_t)((i + 1 < nr_pages ? page_first[i + 1] : n) - page_first[i]);
		if (bpf_map_update_elem(u->m.pages_fd, &k, &v, BPF_NOEXIST)) {
			err = -errno;
			t->pages = pages;
			t->nr_pages = i;
			pages = NULL;
			goto cleanup;
		}
	}
	t->pages = pages;
	t->nr_pages = nr_pages;
	pages = NULL;
cleanup:
	if (err)
		unload_table(u, t);
	free(d);
	free(pages);
	free(page_first);
	return err;
}

/* PT_LOAD segments and the GNU build id of ELF. Returns 0 or -ENOEXEC. */
static int read_elf_info(Elf *elf, struct table *t)
{
	GElf_Phdr ph;
	size_t n, i;

	if (elf_kind(elf) != ELF_K_ELF || elf_getphdrnum(elf, &n))
		return -ENOEXEC;
	for (i = 0; i < n && t->nr_loads < MAX_LOADS; i++) {
		if (!gelf_getphdr(elf, (int)i, &ph))
			return -ENOEXEC;
		if (ph.p_type == PT_LOAD) {
			t->loads[t->nr_loads].offset = ph.p_offset;
			t->loads[t->nr_loads].vaddr = ph.p_vaddr;
			t->loads[t->nr_loads].filesz = ph.p_filesz;
			t->nr_loads++;
		} else if (ph.p_type == PT_NOTE) {
			Elf_Data *data =
				elf_getdata_rawchunk(elf, ph.p_offset, ph.p_filesz, ELF_T_NHDR);
			size_t off = 0, name_off, desc_off;
			GElf_Nhdr nh;

			while (data && (off = gelf_getnote(data, off, &nh, &name_off, &desc_off))) {
				if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
				    !memcmp((char *)data->d_buf + name_off, "GNU", 4)) {
					const unsigned char *b =
						(unsigned char *)data->d_buf + desc_off;
					size_t j, len = nh.n_descsz > 20 ? 20 : nh.n_descsz;

					for (j = 0; j < len; j++)
						snprintf(t->build_id + 2 * j, 3, "%02x", b[j]);
				}
			}
		}
	}
	return t->nr_loads ? 0 : -ENOEXEC;
}

static struct table *table_new(struct unwinder *u)
{
	struct table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	if (grow((void **)&u->tables, &u->tables_cap, u->nr_tables + 1, sizeof(*u->tables))) {
		free(t);
		return NULL;
	}
	t->id = ++u->next_id;
	u->tables[u->nr_tables++] = t;
	return t;
}

/* Builds and loads the table of the ELF image in T (from FD, or from IMAGE when FD < 0). */
static int build_into(struct unwinder *u, struct table *t, int fd, const void *image, size_t size)
{
	struct uw_table *ut = NULL;
	bool big;
	int err;

	err = fd >= 0 ? uw_table__from_fd(fd, &ut) : uw_table__from_mem(image, size, &ut);
	/* An .eh_frame without FDEs (code built without unwind tables) is no table either. */
	if (!err && !ut->nr_rows) {
		uw_table__free(ut);
		err = -ENOENT;
	}
	if (err == -ENOENT) {
		u->st.no_eh_frame++;
		t->no_table = true;
		return 0;
	}
	if (err) {
		u->st.build_errors++;
		return err;
	}
	u->st.builds++;
	u->st.build_ns += ut->stats.build_ns;
	err = load_table(u, t, ut);
	if (err) {
		/*
		 * No room in the maps (or they refused): the file stays cached as one without
		 * a table, walked by frame pointers, rather than rebuilt for every process that
		 * maps it (cc1 under a build was rebuilt hundreds of times a minute).
		 */
		u->st.load_errors++;
		t->no_table = true;
		err = 0;
	}
	big = ut->nr_rows > 20000;
	uw_table__free(ut);
	/*
	 * A big file's build takes tens of MiB of short-lived buffers that malloc would keep:
	 * give them back, or the agent's RSS stays at its largest build's.
	 */
	if (big)
		malloc_trim(0);
	return err;
}

/* The table of the file at PATH in TGID's mount namespace, loaded, or NULL. */
static struct table *file_table(struct unwinder *u, uint32_t tgid, const char *path)
{
	char full[PATH_MAX + 300];
	struct table *t = NULL, *hit = NULL;
	struct stat sb;
	Elf *elf = NULL;
	size_t i;
	int fd, err;

	snprintf(full, sizeof(full), "%s/%u/root%s", u->proc_root, tgid, path);
	fd = open(full, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		u->st.build_errors++;
		return NULL;
	}
	if (fstat(fd, &sb)) {
		u->st.build_errors++;
		goto cleanup;
	}
	for (i = 0; i < u->nr_tables; i++) {
		struct table *c = u->tables[i];

		if (c->dev == sb.st_dev && c->ino == sb.st_ino && c->size == (uint64_t)sb.st_size &&
		    c->mtime_ns ==
			    (uint64_t)sb.st_mtim.tv_sec * 1000000000ull + sb.st_mtim.tv_nsec) {
			hit = c;
			goto cleanup;
		}
	}
	t = table_new(u);
	if (!t)
		goto cleanup;
	t->dev = sb.st_dev;
	t->ino = sb.st_ino;
	t->size = (uint64_t)sb.st_size;
	t->mtime_ns = (uint64_t)sb.st_mtim.tv_sec * 1000000000ull + sb.st_mtim.tv_nsec;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf || read_elf_info(elf, t)) {
		u->st.build_errors++;
		table_free(u, t);
		t = NULL;
		goto cleanup;
	}
	/* The same file seen through another path or container: shared by build id. */
	for (i = 0; t->build_id[0] && i < u->nr_tables; i++) {
		struct table *c = u->tables[i];

		if (c != t && !strcmp(c->build_id, t->build_id) && c->size == t->size) {
			hit = c;
			table_free(u, t);
			t = NULL;
			goto cleanup;
		}
	}
	err = build_into(u, t, fd, NULL, 0);
	if (err) {
		table_free(u, t);
		t = NULL;
	}
	hit = t;
cleanup:
	if (elf)
		elf_end(elf);
	close(fd);
	return hit;
}

/*
 * The vDSO's table. The x86-64 vDSO image is the kernel's, the same in every process, so
 * kiln's own copy stands for all of them.
 */
static struct table *vdso_table(struct unwinder *u)
{
	const void *image = (const void *)getauxval(AT_SYSINFO_EHDR);
	struct table *t;
	GElf_Ehdr eh;
	Elf *elf;
	size_t size = 0, i;
	uint64_t end;

	if (u->vdso || u->vdso_tried)
		return u->vdso;
	u->vdso_tried = true;
	if (!image)
		return NULL;
	t = table_new(u);
	if (!t)
		return NULL;
	/* Its size is unknown to auxv: the program headers say where its segments end. */
	elf = elf_memory((char *)image, 64 << 10);
	if (!elf || read_elf_info(elf, t)) {
		if (elf)
			elf_end(elf);
		table_free(u, t);
		return NULL;
	}
	/* ... and the section headers, which come after them (.eh_frame is found by name). */
	if (gelf_getehdr(elf, &eh))
		size = eh.e_shoff + (uint64_t)eh.e_shnum * eh.e_shentsize;
	elf_end(elf);
	for (i = 0; i < (size_t)t->nr_loads; i++) {
		end = t->loads[i].offset + t->loads[i].filesz;
		if (end > size)
			size = end;
	}
	if (build_into(u, t, -1, image, size)) {
		table_free(u, t);
		return NULL;
	}
	u->vdso = t;
	return t;
}

/* The bias of a mapping of T at START with file offset PGOFF: file vaddr = pc - bias. */
static bool mapping_bias(const struct table *t, uint64_t start, uint64_t pgoff, __u64 *bias)
{
	int i;

	for (i = 0; i < t->nr_loads; i++) {
		const struct load_seg *l = &t->loads[i];

		if (pgoff >= (l->offset & ~0xfffull) && pgoff < l->offset + l->filesz) {
			*bias = start - pgoff + l->offset - l->vaddr;
			return true;
		}
	}
	return false;
}

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

static void table_put(struct unwinder *u, struct table *t)
{
	if (!t || --t->refs || t == u->vdso)
		return;
	/* Keep a bounded number of idle tables: the oldest goes first. */
	while (u->st.tables_idle >= MAX_IDLE_TABLES && evict_idle(u))
		;
	t->idle_since = ++u->idle_clock;
	u->st.tables_idle++;
}

static void table_get(struct unwinder *u, struct table *t)
{
	if (t && table_idle(u, t))
		u->st.tables_idle--;
	if (t)
		t->refs++;
}

static void pmap_remove(struct unwinder *u, struct proc *p, struct pmap *pm)
{
	lpm_range(u, p->tgid, pm->start, pm->end, NULL);
	table_put(u, pm->t);
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
	char path[300], *line = NULL, *file;
	struct proc *p;
	size_t linecap = 0;
	uint64_t t0 = mono_ns();
	FILE *f;
	int err = 0;

	u->st.syncs++;
	snprintf(path, sizeof(path), "%s/%u/maps", u->proc_root, tgid);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? -ESRCH : -errno;
	p = proc_find(u, tgid);
	while (getline(&line, &linecap, f) > 0) {
		if (!parse_exec_line(line, &pm, &file))
			continue;
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
				pm.t = vdso_table(u);
			} else if (file[0] == '/') {
				if (strstr(file, " (deleted)"))
					continue;
				pm.t = file_table(u, tgid, file);
			} else if (file[0] == '[') {
				continue; /* [vsyscall], [uprobes]: nothing to walk */
			}
			/* Anonymous executable memory (JIT) or a file without tables: rbp chain. */
			if (!pm.t || pm.t->no_table ||
			    !mapping_bias(pm.t, pm.start, pm.pgoff, &pm.v.bias))
				pm.v.flags = KILN_UW_MAP_NO_TABLE;
			else
				pm.v.table_id = pm.t->id;
			pm.v.start = pm.start;
			pm.v.end = pm.end;
			table_get(u, pm.t);
		}
		if (grow((void **)&next, &cap, nr + 1, sizeof(*next))) {
			if (!pm.kept)
				table_put(u, pm.t);
			err = -ENOMEM;
			break;
		}
		next[nr++] = pm;
	}
	free(line);
	fclose(f);
	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p || htab__insert(&u->procs, htab_hash_u64(tgid, 0), (uintptr_t)p)) {
			free(p);
			for (i = 0; i < nr; i++)
				table_put(u, next[i].t);
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

	vdso_table(u);
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
		t = file_table(u, (uint32_t)getpid(), file);
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

struct unwinder *unwinder__new(const struct unwinder_maps *maps, const char *proc_root)
{
	struct unwinder *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	u->m = *maps;
	snprintf(u->proc_root, sizeof(u->proc_root), "%s", proc_root ? proc_root : "/proc");
	elf_version(EV_CURRENT);
	u->free = calloc(1, sizeof(*u->free));
	if (!u->free) {
		free(u);
		errno = ENOMEM;
		return NULL;
	}
	u->free[0].start = 0;
	u->free[0].len = maps->deltas_max;
	u->nr_free = 1;
	u->free_cap = 1;
	return u;
}

void unwinder__free(struct unwinder *u)
{
	size_t i;

	if (!u)
		return;
	for (i = 0; i <= u->procs.mask && u->procs.slots; i++) {
		if (u->procs.slots[i].hash) {
			struct proc *p = (struct proc *)(uintptr_t)u->procs.slots[i].val;

			free(p->maps);
			free(p);
		}
	}
	htab__release(&u->procs);
	htab__release(&u->rules);
	for (i = 0; i < u->nr_tables; i++) {
		free(u->tables[i]->pages);
		free(u->tables[i]);
	}
	free(u->tables);
	free(u->rule_vals);
	free(u->free);
	free(u);
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

void unwinder__stats(const struct unwinder *u, struct unwinder_stats *out)
{
	uint64_t deltas = 0, pages = 0;
	size_t i;

	*out = u->st;
	for (i = 0; i < u->nr_tables; i++) {
		deltas += u->tables[i]->nr_deltas;
		pages += u->tables[i]->nr_pages;
	}
	out->tables = u->nr_tables;
	out->deltas = deltas;
	out->rules = u->nr_rules;
	out->table_bytes = deltas * sizeof(struct kiln_uw_delta) +
			   pages * (sizeof(struct kiln_uw_page_key) + sizeof(struct kiln_uw_page)) +
			   u->nr_rules * sizeof(struct kiln_uw_rule);
}
