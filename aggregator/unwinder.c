// SPDX-License-Identifier: Apache-2.0
#include "aggregator/unwinder.h"
#include "aggregator/unwinder_int.h"

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
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
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

int uw_grow(void **v, size_t *cap, size_t need, size_t elem)
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
	if (uw_grow((void **)&u->free, &u->free_cap, u->nr_free + 1, sizeof(*u->free)))
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
	if (uw_grow((void **)&u->rule_vals, &u->rules_cap, u->nr_rules + 1, sizeof(*u->rule_vals)))
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
		/*
		 * The page opens with the rule in force at its start, unless a row of its own
		 * starts exactly there (or nothing is in force and the page has rows).
		 */
		if (cur != KILN_UW_CMD(KILN_UW_CMD_INVALID, 0) &&
		    (!has_rows || (ut->rows[i].vaddr & KILN_UW_PAGE_MASK) != 0)) {
			err = uw_grow((void **)&d, &cap, n + 1, sizeof(*d));
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
			err = uw_grow((void **)&d, &cap, n + 1, sizeof(*d));
			if (err)
				goto cleanup;
			d[n].addr_low = r->vaddr & KILN_UW_PAGE_MASK;
			d[n].rule = code;
			n++;
			cur = code;
		}
		err = uw_grow((void **)&pg, &pcap, np + 1, sizeof(*pg));
		if (!err)
			err = uw_grow((void **)&pf, &pfcap, np + 1, sizeof(*pf));
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

/*
 * Writes N deltas D at index FIRST through a mapping of the delta array (BPF_F_MMAPABLE):
 * a copy per delta, where the batch update costs a checked user copy and an element update
 * each. Mapped for the write only, so the agent's resident memory does not hold the array a
 * second time. Returns 0, or -errno when the array cannot be mapped.
 */
static int write_deltas_mapped(struct unwinder *u, uint32_t first, const struct kiln_uw_delta *d,
			       size_t n)
{
	/* An array element takes 8 bytes whatever its value's size (kernel: elem_size). */
	const uint64_t stride = 8, page = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t lo = (uint64_t)first * stride, off = lo & ~(page - 1);
	size_t len = (size_t)(lo + n * stride - off), i;
	char *m;

	_Static_assert(sizeof(*d) <= 8, "a delta fits an 8-byte array element");
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, u->m.deltas_fd,
		 (off_t)off);
	if (m == MAP_FAILED)
		return -errno;
	for (i = 0; i < n; i++)
		memcpy(m + (lo - off) + i * stride, &d[i], sizeof(d[i]));
	munmap(m, len);
	return 0;
}

static int write_deltas(struct unwinder *u, uint32_t first, const struct kiln_uw_delta *d, size_t n)
{
	DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, bopts);
	uint32_t *keys, cnt, i;
	int err = 0;

	if (!n)
		return 0;
	if (!u->no_mmap) {
		err = write_deltas_mapped(u, first, d, n);
		if (!err) {
			u->st.deltas_mapped += n;
			return 0;
		}
		/* An array created without BPF_F_MMAPABLE (tests, older objects): syscalls. */
		log_debug("unwind: delta array not mappable (%s): written by map updates",
			  strerror(-err));
		u->no_mmap = true;
		err = 0;
	}
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

/* The files map's key of T: the inode as the kernel names it (s_dev is MAJOR << 20 | MINOR). */
static struct kiln_uw_file_key file_key(const struct table *t)
{
	struct kiln_uw_file_key k = {
		.dev = ((uint64_t)major((dev_t)t->dev) << 20) | minor((dev_t)t->dev),
		.ino = t->ino,
	};

	return k;
}

/*
 * Enters T's file in the files map once its pages are in (the walker reaches the deltas
 * through them), with the bias rule of each code segment: a process that maps the file
 * before the agent reads its mappings is walked with T from its first sample. Without
 * room the file is simply not entered: its mappings wait for the agent, as before.
 */
static void file_enter(struct unwinder *u, struct table *t)
{
	struct kiln_uw_file_key k = file_key(t);
	struct kiln_uw_file v = { .table_id = t->id };
	int i;

	if (!u->m.files_max || !t->ino || t->no_table || !t->nr_pages)
		return;
	for (i = 0; i < t->nr_loads && v.nr_loads < KILN_UW_FILE_LOADS; i++) {
		const struct load_seg *l = &t->loads[i];

		if (!(l->flags & PF_X))
			continue;
		v.loads[v.nr_loads].off_lo = l->offset & ~0xfffull;
		v.loads[v.nr_loads].off_hi = l->offset + l->filesz;
		v.loads[v.nr_loads].delta = (int64_t)(l->offset - l->vaddr);
		v.nr_loads++;
	}
	if (!v.nr_loads || bpf_map_update_elem(u->m.files_fd, &k, &v, BPF_ANY))
		return;
	t->file_entered = true;
	u->st.files++;
}

/* Takes T's file out of the files map, unless a newer table of the same inode replaced it. */
static void file_leave(struct unwinder *u, struct table *t)
{
	struct kiln_uw_file_key k = file_key(t);
	struct kiln_uw_file v;

	if (!t->file_entered)
		return;
	t->file_entered = false;
	u->st.files--;
	if (!bpf_map_lookup_elem(u->m.files_fd, &k, &v) && v.table_id == t->id)
		bpf_map_delete_elem(u->m.files_fd, &k);
}

static void unload_table(struct unwinder *u, struct table *t)
{
	struct kiln_uw_page_key k = { .table_id = t->id };
	size_t i;

	/* First: the walker must not reach the pages through the file while they go. */
	file_leave(u, t);

	for (i = 0; i < t->nr_pages; i++) {
		k.page = t->pages[i];
		bpf_map_delete_elem(u->m.pages_fd, &k);
	}
	for (i = 0; i < t->nr_ext; i++)
		extent_free(u, t->ext[i].start, t->ext[i].len);
	free(t->ext);
	t->ext = NULL;
	t->nr_ext = 0;
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

/* Entries of the delta array the loaded tables hold. */
static uint32_t deltas_used(const struct unwinder *u)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < u->nr_tables; i++)
		n += u->tables[i]->nr_deltas;
	return (uint32_t)n;
}

/* Entries of the page map the loaded tables hold. */
static size_t pages_used(const struct unwinder *u)
{
	size_t i, n = 0;

	for (i = 0; i < u->nr_tables; i++)
		n += u->tables[i]->nr_pages;
	return n;
}

/* Records [START, START + LEN) of the delta array as T's. Returns 0 or -ENOMEM. */
static int table_extent_add(struct table *t, uint32_t start, uint32_t len)
{
	struct extent *e;

	if (t->nr_ext && t->ext[t->nr_ext - 1].start + t->ext[t->nr_ext - 1].len == start) {
		t->ext[t->nr_ext - 1].len += len;
		return 0;
	}
	e = realloc(t->ext, (t->nr_ext + 1) * sizeof(*e));
	if (!e)
		return -ENOMEM;
	t->ext = e;
	t->ext[t->nr_ext].start = start;
	t->ext[t->nr_ext++].len = len;
	return 0;
}

/* One range of LEN deltas for T, evicting idle tables while there is none. */
static int table_extent(struct unwinder *u, struct table *t, uint32_t len, uint32_t *start)
{
	int err;

	while ((err = extent_alloc(u, len, start)) == -ENOSPC && evict_idle(u))
		;
	if (err)
		return err;
	err = table_extent_add(t, *start, len);
	if (err)
		extent_free(u, *start, len);
	return err;
}

/*
 * Writes T's N deltas D (pages of it starting at PAGE_FIRST[0..NR_PAGES)) into the delta
 * array, and sets PAGE_AT[i] to where page i's first delta went. The whole table goes into one
 * range when there is one; else page by page into whatever ranges are free: a page's
 * deltas are all the walker needs together, and a big table (cc1: 436,000 deltas) found
 * no contiguous room in an array fragmented by the tables of running processes.
 */
static int place_deltas(struct unwinder *u, struct table *t, const struct kiln_uw_delta *d,
			size_t n, size_t nr_pages, const uint32_t *page_first, uint32_t *page_at)
{
	uint32_t start, len, base;
	size_t i;
	int err;

	t->nr_deltas = (uint32_t)n;
	if (!extent_alloc(u, (uint32_t)n, &start)) {
		if (table_extent_add(t, start, (uint32_t)n)) {
			extent_free(u, start, (uint32_t)n);
			return -ENOMEM;
		}
		for (i = 0; i < nr_pages; i++)
			page_at[i] = start + page_first[i];
		return write_deltas(u, start, d, n);
	}
	for (i = 0; i < nr_pages; i++) {
		base = page_first[i];
		len = (uint32_t)((i + 1 < nr_pages ? page_first[i + 1] : n) - base);
		err = table_extent(u, t, len, &start);
		if (!err)
			err = write_deltas(u, start, d + base, len);
		if (err)
			return err;
		page_at[i] = start;
	}
	return 0;
}

/* Encodes UT and enters it into the maps as T. Returns 0 or -errno. */
static int load_table(struct unwinder *u, struct table *t, const struct uw_table *ut)
{
	struct kiln_uw_delta *d = NULL;
	uint32_t *pages = NULL, *page_first = NULL, *page_at = NULL;
	struct kiln_uw_page_key k;
	struct kiln_uw_page v;
	size_t nr_pages = 0, n = 0, i;
	int err;

	err = encode(u, ut, &d, &pages, &nr_pages, &page_first, &n);
	if (err)
		goto cleanup;
	page_at = calloc(nr_pages + 1, sizeof(*page_at));
	if (!page_at) {
		err = -ENOMEM;
		goto cleanup;
	}
	err = place_deltas(u, t, d, n, nr_pages, page_first, page_at);
	if (err)
		goto cleanup;
	/* The page map is bounded too: room is made the same way before entering the pages. */
	while (pages_used(u) + nr_pages > u->m.pages_max && evict_idle(u))
		;
	/* Pages last: the walker reaches the deltas only through them. */
	k.table_id = t->id;
	for (i = 0; i < nr_pages; i++) {
		k.page = pages[i];
		v.first = page_at[i];
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
	free(page_at);
	return err;
}

/* PT_LOAD segments, the entry point and the GNU build id of ELF. Returns 0 or -ENOEXEC. */
static int read_elf_info(Elf *elf, struct table *t)
{
	GElf_Ehdr eh;
	GElf_Phdr ph;
	size_t n, i;

	if (elf_kind(elf) != ELF_K_ELF || elf_getphdrnum(elf, &n) || !gelf_getehdr(elf, &eh))
		return -ENOEXEC;
	t->entry = eh.e_entry;
	for (i = 0; i < n && t->nr_loads < MAX_LOADS; i++) {
		if (!gelf_getphdr(elf, (int)i, &ph))
			return -ENOEXEC;
		if (ph.p_type == PT_LOAD) {
			t->loads[t->nr_loads].offset = ph.p_offset;
			t->loads[t->nr_loads].vaddr = ph.p_vaddr;
			t->loads[t->nr_loads].filesz = ph.p_filesz;
			t->loads[t->nr_loads].flags = ph.p_flags;
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
	if (uw_grow((void **)&u->tables, &u->tables_cap, u->nr_tables + 1, sizeof(*u->tables))) {
		free(t);
		return NULL;
	}
	t->id = ++u->next_id;
	u->tables[u->nr_tables++] = t;
	return t;
}

/*
 * The entry point's code is the outermost frame of every process that starts there, but
 * Debian's ld.so has no FDE for its _start (glibc's RTLD_START is assembly without CFI): a
 * walk through a program's dynamic loading stopped at "[unwind: pc not covered]" there (8.9 %
 * of cc1's samples under a build, kiln-bench churn). When no row covers ENTRY, the gap from
 * it to the next row (at most 256 bytes) becomes the end of the stack. Returns 0 or -ENOMEM.
 */
static int mark_entry(struct uw_table *ut, uint64_t entry)
{
	const uint16_t invalid = KILN_UW_CMD(KILN_UW_CMD_INVALID, 0);
	size_t lo = 0, hi = ut->nr_rows, add;
	uint64_t end = entry + 256;
	struct uw_row *rows;

	if (!entry || !ut->nr_rows)
		return 0;
	/* The first row after ENTRY; the one before it is in force at ENTRY. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ut->rows[mid].vaddr <= entry)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo > 0 && (ut->rows[lo - 1].cmd != invalid || ut->rows[lo - 1].vaddr == entry))
		return 0; /* covered (or a row of its own starts there) */
	if (lo < ut->nr_rows && ut->rows[lo].vaddr < end)
		end = ut->rows[lo].vaddr;
	add = lo < ut->nr_rows && ut->rows[lo].vaddr == end ? 1 : 2;
	rows = realloc(ut->rows, (ut->nr_rows + add) * sizeof(*rows));
	if (!rows)
		return -ENOMEM;
	ut->rows = rows;
	memmove(&rows[lo + add], &rows[lo], (ut->nr_rows - lo) * sizeof(*rows));
	memset(&rows[lo], 0, add * sizeof(*rows));
	rows[lo].vaddr = entry;
	rows[lo].cmd = KILN_UW_CMD(KILN_UW_CMD_STOP, 0);
	if (add == 2) {
		rows[lo + 1].vaddr = end;
		rows[lo + 1].cmd = invalid;
	}
	ut->nr_rows += add;
	ut->stats.stop++;
	return 0;
}

/* Builds and loads the table of the ELF image in T (from FD, or from IMAGE when FD < 0). */
static int build_into(struct unwinder *u, struct table *t, int fd, const void *image, size_t size,
		      const char *what)
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
	if (!err)
		err = mark_entry(ut, t->entry);
	if (err) {
		uw_table__free(ut);
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
		log_info(
			"unwind: no room for the table of %s (%zu rows, %u of %u deltas in use: %s); "
			"walked by frame pointers",
			what, (size_t)ut->nr_rows, deltas_used(u), u->m.deltas_max, strerror(-err));
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
struct table *uw_file_table(struct unwinder *u, uint32_t tgid, const char *path)
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
	err = build_into(u, t, fd, NULL, 0, path);
	if (err) {
		table_free(u, t);
		t = NULL;
	} else {
		file_enter(u, t);
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
struct table *uw_vdso_table(struct unwinder *u)
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
	if (build_into(u, t, -1, image, size, "[vdso]")) {
		table_free(u, t);
		return NULL;
	}
	u->vdso = t;
	return t;
}

/* The bias of a mapping of T at START with file offset PGOFF: file vaddr = pc - bias. */
bool uw_mapping_bias(const struct table *t, uint64_t start, uint64_t pgoff, __u64 *bias)
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

void uw_table_put(struct unwinder *u, struct table *t)
{
	if (!t || --t->refs || t == u->vdso)
		return;
	/*
	 * Not a candidate for the eviction below: an idle_since left from an earlier idle spell
	 * would make T look the oldest idle table, and it would be freed under our feet.
	 */
	t->idle_since = 0;
	/* Keep a bounded number of idle tables: the oldest goes first. */
	while (u->st.tables_idle >= u->idle_max && evict_idle(u))
		;
	t->idle_since = ++u->idle_clock;
	u->st.tables_idle++;
}

void uw_table_get(struct unwinder *u, struct table *t)
{
	if (t && table_idle(u, t))
		u->st.tables_idle--;
	if (t) {
		t->refs++;
		t->idle_since = 0; /* in use: idle again only from its next table_put */
	}
}

struct unwinder *unwinder__new(const struct unwinder_maps *maps, const char *proc_root)
{
	struct unwinder *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	u->m = *maps;
	u->idle_max = maps->idle_max ? maps->idle_max : MAX_IDLE_TABLES;
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
		free(u->tables[i]->ext);
		free(u->tables[i]);
	}
	free(u->tables);
	free(u->rule_vals);
	free(u->free);
	free(u);
}

uint64_t unwinder__mappings_added(const struct unwinder *u)
{
	return u->st.mappings_added;
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
