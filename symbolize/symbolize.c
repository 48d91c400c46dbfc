// SPDX-License-Identifier: Apache-2.0
/*
 * Minimal symbolizer: kallsyms for the kernel, /proc/PID/maps + ELF .symtab/.dynsym for user
 * space.
 *
 * Lifetimes: every string handed out is interned in a pool that lives as long as the
 * symbolizer, so ELF symbol tables and per-process mapping lists can be released (exit,
 * exec, cache pressure) without invalidating frames a caller still holds. The pool only
 * grows by names that were actually returned, module paths and build ids.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "symbolize/htab.h"
#include "symbolize/symbolize.h"

/* No kernel function is anywhere near this long; beyond it an address is in a gap. */
#define KSYM_MAX_SPAN (4ULL << 20)
/* A live process's mappings are re-read on a miss (dlopen) at most this often. */
#define MAPS_REFRESH_NS 1000000000ULL
/* Without explicit sweeps, exited processes are kept this long for late samples. */
#define EXIT_LINGER_NS (30 * 1000000000ULL)
#define SWEEP_INTERVAL_NS 1000000000ULL
/* Unreferenced ELF files stay cached (the next `ls` reuses libc) until there are this many. */
#define ELF_CACHE_MAX 1024

struct ksym {
	uint64_t addr;
	const char *name; /* points into symbolizer.kbuf */
	const char *module; /* interned */
	size_t order; /* file order, so sorting is stable among aliases */
};

struct load_seg {
	uint64_t offset, vaddr, filesz;
};

struct elf_sym {
	uint64_t start, size;
	size_t name; /* offset into elf_file.names */
	uint8_t binding_rank;
};

struct elf_file {
	uint64_t dev, ino;
	unsigned int refs; /* mappings of cached processes that use it */
	int err; /* parse error: the file is cached as unusable */
	const char *build_id;
	struct load_seg *segs;
	size_t nr_segs;
	struct elf_sym *syms;
	size_t nr_syms;
	char *names;
	size_t names_len, names_cap;
};

struct umap {
	uint64_t start, end, offset, dev, ino;
	const char *path; /* interned; "//anon" for anonymous executable memory */
	struct elf_file *elf; /* NULL when not an ELF file or it could not be opened */
};

struct proc {
	uint32_t tgid;
	bool exited;
	uint64_t exit_ns, exit_gen, refresh_ns;
	struct umap *maps; /* sorted by start, as /proc/PID/maps lists them */
	size_t nr_maps;
};

struct symbolizer {
	char *proc_root;
	char *kallsyms_path;

	const char *kcore; /* "[kernel.kallsyms]" */
	bool kloaded;
	int kerr;
	char *kbuf;
	struct ksym *ksyms;
	size_t nr_ksyms;

	struct htab strs; /* val: char * */
	struct htab elfs; /* val: struct elf_file * */
	struct htab procs; /* val: struct proc * */
	uint64_t sweep_gen, last_sweep_ns;
};

/* String pool. */

static bool str_eq(uint64_t val, const void *key, void *ctx)
{
	(void)ctx;
	return strcmp((const char *)(uintptr_t)val, key) == 0;
}

static const char *intern(struct symbolizer *s, const char *str)
{
	uint64_t hash = htab_hash_bytes(str, strlen(str), 0), val;
	char *copy;

	if (htab__find(&s->strs, hash, str_eq, str, NULL, &val))
		return (const char *)(uintptr_t)val;
	copy = strdup(str);
	if (!copy)
		return NULL;
	if (htab__insert(&s->strs, hash, (uintptr_t)copy)) {
		free(copy);
		return NULL;
	}
	return copy;
}

/* Construction. */

struct symbolizer *symbolizer__new(const struct symbolizer_opts *opts)
{
	struct symbolizer *s = NULL;
	const char *proc_root = "/proc", *kallsyms = NULL;
	int err = 0;

	if (opts && opts->sz >= offsetof(struct symbolizer_opts, proc_root) + sizeof(char *) &&
	    opts->proc_root)
		proc_root = opts->proc_root;
	if (opts && opts->sz >= offsetof(struct symbolizer_opts, kallsyms) + sizeof(char *))
		kallsyms = opts->kallsyms;
	if (elf_version(EV_CURRENT) == EV_NONE) {
		err = -ENOTSUP;
		goto cleanup;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		err = -ENOMEM;
		goto cleanup;
	}
	s->proc_root = strdup(proc_root);
	if (kallsyms)
		s->kallsyms_path = strdup(kallsyms);
	else if (asprintf(&s->kallsyms_path, "%s/kallsyms", proc_root) < 0)
		s->kallsyms_path = NULL;
	s->kcore = intern(s, "[kernel.kallsyms]");
	if (!s->proc_root || !s->kallsyms_path || !s->kcore)
		err = -ENOMEM;
cleanup:
	if (err) {
		symbolizer__free(s);
		errno = -err;
		return NULL;
	}
	return s;
}

static void elf_file__free(struct elf_file *e)
{
	if (!e)
		return;
	free(e->segs);
	free(e->syms);
	free(e->names);
	free(e);
}

static void proc__free(struct proc *p)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; i < p->nr_maps; i++)
		if (p->maps[i].elf)
			p->maps[i].elf->refs--;
	free(p->maps);
	free(p);
}

void symbolizer__free(struct symbolizer *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; s->procs.slots && i <= s->procs.mask; i++)
		if (s->procs.slots[i].hash)
			proc__free((struct proc *)(uintptr_t)s->procs.slots[i].val);
	for (i = 0; s->elfs.slots && i <= s->elfs.mask; i++)
		if (s->elfs.slots[i].hash)
			elf_file__free((struct elf_file *)(uintptr_t)s->elfs.slots[i].val);
	for (i = 0; s->strs.slots && i <= s->strs.mask; i++)
		if (s->strs.slots[i].hash)
			free((char *)(uintptr_t)s->strs.slots[i].val);
	htab__release(&s->procs);
	htab__release(&s->elfs);
	htab__release(&s->strs);
	free(s->ksyms);
	free(s->kbuf);
	free(s->proc_root);
	free(s->kallsyms_path);
	free(s);
}

/* Kernel. */

static int ksym_cmp(const void *a, const void *b)
{
	const struct ksym *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static int load_kallsyms(struct symbolizer *s)
{
	const char *core = s->kcore;
	struct ksym *ks = NULL, *nks;
	size_t nr = 0, cap = 0, len;
	char *line, *next, *end, *name, *mod, type;
	bool any_addr = false;
	uint64_t addr;
	int err;

	err = read_file(s->kallsyms_path, &s->kbuf, &len);
	if (err) {
		log_warn("cannot read %s: %s", s->kallsyms_path, strerror(-err));
		goto cleanup;
	}
	/* Lines are "ADDR TYPE NAME" with "\t[MODULE]" appended for module symbols. */
	for (line = s->kbuf; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		errno = 0;
		addr = strtoull(line, &end, 16);
		if (errno || end == line || *end != ' ' || !end[1] || end[2] != ' ')
			continue;
		type = end[1];
		/* Text symbols only (weak ones included); data symbols would shadow code. */
		if (type != 't' && type != 'T' && type != 'w' && type != 'W')
			continue;
		name = end + 3;
		mod = NULL;
		end = strpbrk(name, " \t");
		if (end) {
			*end++ = '\0';
			end += strspn(end, " \t");
			if (*end == '[') {
				mod = (char *)intern(s, end);
				if (!mod) {
					err = -ENOMEM;
					goto cleanup;
				}
			}
		}
		if (!*name)
			continue;
		if (addr)
			any_addr = true;
		if (nr == cap) {
			cap = cap ? cap * 2 : 65536;
			nks = realloc(ks, cap * sizeof(*ks));
			if (!nks) {
				err = -ENOMEM;
				goto cleanup;
			}
			ks = nks;
		}
		ks[nr].addr = addr;
		ks[nr].name = name;
		ks[nr].module = mod ? mod : core;
		ks[nr].order = nr;
		nr++;
	}
	if (!nr) {
		log_warn("%s has no text symbols", s->kallsyms_path);
		err = -ENOENT;
		goto cleanup;
	}
	if (!any_addr) {
		/* kptr_restrict hides addresses from readers without CAP_SYSLOG. */
		log_warn("%s shows only zero addresses (kernel.kptr_restrict, or not root): "
			 "kernel frames stay unsymbolized",
			 s->kallsyms_path);
		err = -EPERM;
		goto cleanup;
	}
	qsort(ks, nr, sizeof(*ks), ksym_cmp);
	s->ksyms = ks;
	s->nr_ksyms = nr;
	ks = NULL;
cleanup:
	free(ks);
	if (err) {
		free(s->kbuf);
		s->kbuf = NULL;
	}
	return err;
}

int symbolizer__kernel(struct symbolizer *s, uint64_t addr, struct sym_frame *out)
{
	size_t lo = 0, hi;
	const struct ksym *k;

	memset(out, 0, sizeof(*out));
	out->kind = SYM_FRAME_KERNEL;
	out->addr = out->elf_vaddr = addr;
	if (!s->kloaded) {
		s->kerr = load_kallsyms(s);
		s->kloaded = true;
	}
	if (s->kerr)
		return s->kerr;
	out->module = s->kcore;
	/* Last symbol at or below ADDR. */
	hi = s->nr_ksyms;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->ksyms[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return 0;
	k = &s->ksyms[lo - 1];
	if (addr - k->addr > KSYM_MAX_SPAN)
		return 0;
	out->name = k->name;
	out->module = k->module;
	out->sym_offset = addr - k->addr;
	return 0;
}

/* ELF files. */

struct elf_key {
	uint64_t dev, ino;
};

static uint64_t elf_key_hash(uint64_t dev, uint64_t ino)
{
	return htab_hash_u64(ino, dev);
}

static bool elf_eq(uint64_t val, const void *key, void *ctx)
{
	const struct elf_file *e = (const struct elf_file *)(uintptr_t)val;
	const struct elf_key *k = key;

	(void)ctx;
	return e->dev == k->dev && e->ino == k->ino;
}

static int add_name(struct elf_file *e, const char *name, size_t *off)
{
	size_t len = strlen(name) + 1, ncap;
	char *nn;

	if (e->names_len + len > e->names_cap) {
		ncap = e->names_cap ? e->names_cap : 4096;
		while (ncap < e->names_len + len)
			ncap *= 2;
		nn = realloc(e->names, ncap);
		if (!nn)
			return -ENOMEM;
		e->names = nn;
		e->names_cap = ncap;
	}
	memcpy(e->names + e->names_len, name, len);
	*off = e->names_len;
	e->names_len += len;
	return 0;
}

static size_t leading_underscores(const char *n)
{
	size_t i = 0;

	while (n[i] == '_')
		i++;
	return i;
}

/*
 * Among aliases at one address (getpid / __getpid, memcpy / __memcpy_avx_unaligned) prefer
 * what a person would call the function: fewer leading underscores, then global over weak
 * over local, then the shorter name.
 */
static int elf_sym_cmp(const void *a, const void *b, void *ctx)
{
	const struct elf_sym *x = a, *y = b;
	const char *names = ctx, *nx = names + x->name, *ny = names + y->name;
	size_t ux, uy, lx, ly;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	ux = leading_underscores(nx);
	uy = leading_underscores(ny);
	if (ux != uy)
		return ux < uy ? -1 : 1;
	if (x->binding_rank != y->binding_rank)
		return x->binding_rank < y->binding_rank ? -1 : 1;
	lx = strlen(nx);
	ly = strlen(ny);
	if (lx != ly)
		return lx < ly ? -1 : 1;
	return strcmp(nx, ny);
}

static int read_symtab(Elf *elf, Elf_Scn *scn, const GElf_Shdr *sh, struct elf_file *e, size_t *cap)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	struct elf_sym *ns;
	size_t i, n;
	GElf_Sym sym;
	const char *name;
	int type, bind, err;

	if (!data || !sh->sh_entsize)
		return 0;
	n = sh->sh_size / sh->sh_entsize;
	for (i = 0; i < n; i++) {
		if (!gelf_getsym(data, (int)i, &sym))
			break;
		type = GELF_ST_TYPE(sym.st_info);
		if (type != STT_FUNC && type != STT_GNU_IFUNC)
			continue;
		if (sym.st_shndx == SHN_UNDEF || !sym.st_size || !sym.st_value)
			continue;
		name = elf_strptr(elf, sh->sh_link, sym.st_name);
		if (!name || !*name)
			continue;
		if (e->nr_syms == *cap) {
			*cap = *cap ? *cap * 2 : 1024;
			ns = realloc(e->syms, *cap * sizeof(*ns));
			if (!ns)
				return -ENOMEM;
			e->syms = ns;
		}
		ns = &e->syms[e->nr_syms];
		ns->start = sym.st_value;
		ns->size = sym.st_size;
		bind = GELF_ST_BIND(sym.st_info);
		ns->binding_rank = bind == STB_GLOBAL ? 0 : bind == STB_WEAK ? 1 : 2;
		err = add_name(e, name, &ns->name);
		if (err)
			return err;
		e->nr_syms++;
	}
	return 0;
}

static int read_build_id(struct symbolizer *s, Elf_Scn *scn, struct elf_file *e)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	size_t off = 0, next, name_off, desc_off, i;
	char hex[2 * 64 + 1];
	const uint8_t *desc;
	GElf_Nhdr nh;

	if (!data || !data->d_buf)
		return 0;
	while (off < data->d_size &&
	       (next = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
		if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
		    !memcmp((const char *)data->d_buf + name_off, "GNU", 4) && nh.n_descsz &&
		    nh.n_descsz <= 64) {
			desc = (const uint8_t *)data->d_buf + desc_off;
			for (i = 0; i < nh.n_descsz; i++)
				snprintf(hex + 2 * i, 3, "%02x", desc[i]);
			e->build_id = intern(s, hex);
			return e->build_id ? 0 : -ENOMEM;
		}
		off = next;
	}
	return 0;
}

/* Fills E from the ELF file open on FD. Returns 0, -ENOEXEC (not a usable ELF) or -ENOMEM. */
static int parse_elf(struct symbolizer *s, int fd, struct elf_file *e)
{
	Elf *elf = NULL;
	Elf_Scn *scn = NULL;
	GElf_Ehdr eh;
	GElf_Phdr ph;
	GElf_Shdr sh;
	size_t nph = 0, i, cap = 0, w;
	int err = 0;

	/* ELF_C_READ, not mmap: a file truncated under us must not SIGBUS the agent. */
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &eh) ||
	    elf_getphdrnum(elf, &nph)) {
		err = -ENOEXEC;
		goto cleanup;
	}
	if (nph) {
		e->segs = calloc(nph, sizeof(*e->segs));
		if (!e->segs) {
			err = -ENOMEM;
			goto cleanup;
		}
	}
	for (i = 0; i < nph; i++) {
		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		e->segs[e->nr_segs].offset = ph.p_offset;
		e->segs[e->nr_segs].vaddr = ph.p_vaddr;
		e->segs[e->nr_segs].filesz = ph.p_filesz;
		e->nr_segs++;
	}
	while ((scn = elf_nextscn(elf, scn))) {
		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_SYMTAB || sh.sh_type == SHT_DYNSYM)
			err = read_symtab(elf, scn, &sh, e, &cap);
		else if (sh.sh_type == SHT_NOTE && !e->build_id)
			err = read_build_id(s, scn, e);
		if (err)
			goto cleanup;
	}
	if (e->nr_syms) {
		qsort_r(e->syms, e->nr_syms, sizeof(*e->syms), elf_sym_cmp, e->names);
		/* .symtab and .dynsym repeat each other: keep the best name per address. */
		for (i = 1, w = 1; i < e->nr_syms; i++)
			if (e->syms[i].start != e->syms[w - 1].start)
				e->syms[w++] = e->syms[i];
		e->nr_syms = w;
	}
cleanup:
	elf_end(elf);
	return err;
}

/* Opens the file of M as process TGID sees it. Returns an fd or -errno. */
static int open_mapped_file(struct symbolizer *s, uint32_t tgid, const struct umap *m)
{
	char path[PATH_MAX];
	const char *deleted;
	struct stat st;
	int fd, n;

	/* Through the process's root first: the path is relative to its mount namespace. */
	deleted = strstr(m->path, " (deleted)");
	if (!deleted || deleted[10]) {
		n = snprintf(path, sizeof(path), "%s/%u/root%s", s->proc_root, tgid, m->path);
		if (n > 0 && (size_t)n < sizeof(path)) {
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd >= 0) {
				/*
				 * The file at that path may have been replaced since it was
				 * mapped; overlayfs reports another device, so compare inodes.
				 */
				if (!fstat(fd, &st) && (!m->ino || st.st_ino == m->ino))
					return fd;
				close(fd);
			}
		}
	}
	/* map_files opens exactly the mapped file, even deleted, but needs CAP_SYS_ADMIN. */
	n = snprintf(path, sizeof(path), "%s/%u/map_files/%" PRIx64 "-%" PRIx64, s->proc_root, tgid,
		     m->start, m->end);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* Returns the cached or newly parsed ELF file of M (a reference), or NULL. */
static struct elf_file *get_elf(struct symbolizer *s, uint32_t tgid, const struct umap *m)
{
	struct elf_key key = { m->dev, m->ino };
	uint64_t hash = elf_key_hash(m->dev, m->ino), val;
	struct elf_file *e = NULL;
	int fd = -1, err;

	if (htab__find(&s->elfs, hash, elf_eq, &key, NULL, &val)) {
		e = (struct elf_file *)(uintptr_t)val;
		goto cleanup;
	}
	fd = open_mapped_file(s, tgid, m);
	if (fd < 0) {
		/* Not cached: another process may still be able to open it. */
		log_debug("pid %u: cannot open %s: %s", tgid, m->path, strerror(-fd));
		goto cleanup;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		goto cleanup;
	e->dev = m->dev;
	e->ino = m->ino;
	err = parse_elf(s, fd, e);
	if (err == -ENOMEM) {
		elf_file__free(e);
		e = NULL;
		goto cleanup;
	}
	if (err) {
		/* A corrupt or non-ELF file stays cached as such: no point parsing it again. */
		log_debug("pid %u: %s: not a usable ELF file", tgid, m->path);
		free(e->segs);
		free(e->syms);
		free(e->names);
		e->segs = NULL;
		e->syms = NULL;
		e->names = NULL;
		e->nr_segs = e->nr_syms = 0;
		e->err = err;
	}
	if (htab__insert(&s->elfs, hash, (uintptr_t)e)) {
		elf_file__free(e);
		e = NULL;
	}
cleanup:
	if (fd >= 0)
		close(fd);
	if (e)
		e->refs++;
	return e;
}

static uint64_t to_elf_vaddr(const struct elf_file *e, uint64_t file_off)
{
	size_t i;

	/*
	 * Mapped file offset -> ELF virtual address through the PT_LOAD segment holding it:
	 * vaddr = off - p_offset + p_vaddr. For PIE and shared objects p_vaddr is relative to
	 * the load base; for fixed executables it is absolute, and both are what the symbol
	 * tables use.
	 */
	for (i = 0; e && i < e->nr_segs; i++)
		if (file_off >= e->segs[i].offset &&
		    file_off < e->segs[i].offset + e->segs[i].filesz)
			return file_off - e->segs[i].offset + e->segs[i].vaddr;
	return file_off;
}

static const struct elf_sym *elf_lookup(const struct elf_file *e, uint64_t vaddr)
{
	size_t lo = 0, hi = e->nr_syms, i;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (e->syms[mid].start <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* A few steps back covers a small function nested in a larger one's range. */
	for (i = lo; i > 0 && lo - i < 4; i--)
		if (vaddr - e->syms[i - 1].start < e->syms[i - 1].size)
			return &e->syms[i - 1];
	return NULL;
}

/* Processes. */

static uint64_t proc_hash(uint32_t tgid)
{
	return htab_hash_u64(tgid, 5);
}

static bool proc_eq(uint64_t val, const void *key, void *ctx)
{
	(void)ctx;
	return ((const struct proc *)(uintptr_t)val)->tgid == *(const uint32_t *)key;
}

static struct proc *find_proc(struct symbolizer *s, uint32_t tgid)
{
	uint64_t val;

	if (!htab__find(&s->procs, proc_hash(tgid), proc_eq, &tgid, NULL, &val))
		return NULL;
	return (struct proc *)(uintptr_t)val;
}

static void release_proc(struct symbolizer *s, struct proc *p)
{
	htab__remove(&s->procs, proc_hash(p->tgid), (uintptr_t)p);
	proc__free(p);
}

/*
 * Parses one /proc/PID/maps line into *M when it is an executable mapping. Returns 1 when
 * kept, 0 when skipped, -errno on failure.
 */
static int parse_maps_line(struct symbolizer *s, char *line, struct umap *m)
{
	unsigned long long start, end, off, ino;
	unsigned int maj, min;
	char perms[5];
	int n = 0;
	char *path;

	if (sscanf(line, "%llx-%llx %4s %llx %x:%x %llu %n", &start, &end, perms, &off, &maj, &min,
		   &ino, &n) < 7 ||
	    !n)
		return 0;
	if (strlen(perms) < 3 || perms[2] != 'x' || end <= start)
		return 0;
	path = line + n;
	path[strcspn(path, "\n")] = '\0';
	memset(m, 0, sizeof(*m));
	m->start = start;
	m->end = end;
	m->offset = off;
	m->dev = makedev(maj, min);
	m->ino = ino;
	/* perf's name for anonymous executable memory (JIT code without a perf map). */
	m->path = intern(s, *path ? path : "//anon");
	return m->path ? 1 : -ENOMEM;
}

/* Reads TGID's executable mappings into *P (its old ones are released). Returns 0 or -errno. */
static int read_maps(struct symbolizer *s, struct proc *p)
{
	char path[PATH_MAX], *buf = NULL, *line, *next;
	struct umap *maps = NULL, *nm;
	size_t nr = 0, cap = 0, i;
	int err;

	snprintf(path, sizeof(path), "%s/%u/maps", s->proc_root, p->tgid);
	err = read_file(path, &buf, NULL);
	if (err) {
		err = err == -ENOENT ? -ESRCH : err;
		goto cleanup;
	}
	for (line = buf; *line; line = next) {
		next = strchr(line, '\n');
		next = next ? next + 1 : line + strlen(line);
		if (nr == cap) {
			cap = cap ? cap * 2 : 32;
			nm = realloc(maps, cap * sizeof(*maps));
			if (!nm) {
				err = -ENOMEM;
				goto cleanup;
			}
			maps = nm;
		}
		err = parse_maps_line(s, line, &maps[nr]);
		if (err < 0)
			goto cleanup;
		if (err)
			nr++;
		err = 0;
	}
	/* ELF files are looked up now, while /proc/PID/root and map_files still exist. */
	for (i = 0; i < nr; i++)
		if (maps[i].path[0] == '/' && maps[i].ino)
			maps[i].elf = get_elf(s, p->tgid, &maps[i]);
	for (i = 0; i < p->nr_maps; i++)
		if (p->maps[i].elf)
			p->maps[i].elf->refs--;
	free(p->maps);
	p->maps = maps;
	p->nr_maps = nr;
	p->refresh_ns = mono_ns();
	maps = NULL;
cleanup:
	free(maps);
	free(buf);
	return err;
}

static void free_unused_elfs(struct symbolizer *s)
{
	struct elf_file **drop = NULL;
	size_t i, nr = 0;

	if (s->elfs.nr <= ELF_CACHE_MAX)
		return;
	drop = calloc(s->elfs.nr, sizeof(*drop));
	if (!drop)
		return;
	for (i = 0; i <= s->elfs.mask; i++) {
		struct elf_file *e = (struct elf_file *)(uintptr_t)s->elfs.slots[i].val;

		if (s->elfs.slots[i].hash && !e->refs)
			drop[nr++] = e;
	}
	for (i = 0; i < nr; i++) {
		htab__remove(&s->elfs, elf_key_hash(drop[i]->dev, drop[i]->ino),
			     (uintptr_t)drop[i]);
		elf_file__free(drop[i]);
	}
	free(drop);
}

/* Releases exited processes that were marked before generation GEN or before DEADLINE_NS. */
static void release_exited(struct symbolizer *s, uint64_t gen, uint64_t deadline_ns)
{
	struct proc **drop = NULL;
	size_t i, nr = 0;

	if (!s->procs.nr)
		goto cleanup;
	drop = calloc(s->procs.nr, sizeof(*drop));
	if (!drop)
		goto cleanup;
	for (i = 0; i <= s->procs.mask; i++) {
		struct proc *p = (struct proc *)(uintptr_t)s->procs.slots[i].val;

		if (s->procs.slots[i].hash && p->exited &&
		    (p->exit_gen < gen || p->exit_ns < deadline_ns))
			drop[nr++] = p;
	}
	for (i = 0; i < nr; i++)
		release_proc(s, drop[i]);
cleanup:
	free(drop);
	free_unused_elfs(s);
}

void symbolizer__sweep(struct symbolizer *s)
{
	uint64_t now = mono_ns();

	release_exited(s, s->sweep_gen, now > EXIT_LINGER_NS ? now - EXIT_LINGER_NS : 0);
	s->sweep_gen++;
	s->last_sweep_ns = now;
}

int symbolizer__capture(struct symbolizer *s, uint32_t tgid)
{
	struct proc *p = NULL;
	uint64_t now = mono_ns();
	int err;

	/* Without explicit sweeps, still bound what exited processes keep. */
	if (now - s->last_sweep_ns > SWEEP_INTERVAL_NS) {
		release_exited(s, 0, now > EXIT_LINGER_NS ? now - EXIT_LINGER_NS : 0);
		s->last_sweep_ns = now;
	}
	p = find_proc(s, tgid);
	if (p && !p->exited)
		return 0;
	if (p) {
		/*
		 * Asked to capture a tgid we saw exit: a new process reuses the number. Until
		 * its mappings can be read, the old ones are better than none.
		 */
		err = read_maps(s, p);
		if (!err)
			p->exited = false;
		return err;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->tgid = tgid;
	err = read_maps(s, p);
	if (!err)
		err = htab__insert(&s->procs, proc_hash(tgid), (uintptr_t)p);
	if (err)
		proc__free(p);
	return err;
}

/*
 * Remembers that TGID is gone without ever having been captured, so that the other frames
 * of its samples do not each go back to /proc. Released by the sweeps like any exited one.
 */
static void remember_gone(struct symbolizer *s, uint32_t tgid)
{
	struct proc *p = calloc(1, sizeof(*p));

	if (!p)
		return;
	p->tgid = tgid;
	p->exited = true;
	p->exit_ns = mono_ns();
	p->exit_gen = s->sweep_gen;
	if (htab__insert(&s->procs, proc_hash(tgid), (uintptr_t)p))
		free(p);
}

static const struct umap *find_map(const struct proc *p, uint64_t addr)
{
	size_t lo = 0, hi = p->nr_maps;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->maps[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo && addr < p->maps[lo - 1].end)
		return &p->maps[lo - 1];
	return NULL;
}

int symbolizer__user(struct symbolizer *s, uint32_t tgid, uint64_t addr, struct sym_frame *out)
{
	const struct elf_sym *sym;
	const struct umap *m;
	struct proc *p;
	uint64_t now;
	int err;

	memset(out, 0, sizeof(*out));
	out->kind = SYM_FRAME_NATIVE;
	out->addr = addr;
	p = find_proc(s, tgid);
	if (!p) {
		err = symbolizer__capture(s, tgid);
		if (err == -ESRCH) {
			remember_gone(s, tgid);
			return -ENOENT;
		}
		if (err)
			return err;
		p = find_proc(s, tgid);
		if (!p)
			return -ENOENT;
	}
	m = find_map(p, addr);
	if (!m && !p->exited) {
		/* Maybe mapped since we read the list (dlopen); re-read, but not on every miss. */
		now = mono_ns();
		if (now - p->refresh_ns > MAPS_REFRESH_NS) {
			err = read_maps(s, p);
			if (err == -ESRCH) {
				p->refresh_ns = now;
			} else if (err) {
				return err;
			}
			m = find_map(p, addr);
		}
	}
	if (!m)
		return -ENOENT;
	out->module = m->path;
	out->map_start = m->start;
	out->map_limit = m->end;
	out->map_offset = m->offset;
	out->elf_vaddr = to_elf_vaddr(m->elf, addr - m->start + m->offset);
	if (!m->elf)
		return 0;
	out->build_id = m->elf->build_id;
	sym = elf_lookup(m->elf, out->elf_vaddr);
	if (!sym)
		return 0;
	out->name = intern(s, m->elf->names + sym->name);
	if (!out->name)
		return -ENOMEM;
	out->sym_offset = out->elf_vaddr - sym->start;
	return 0;
}

void symbolizer__process_exec(struct symbolizer *s, uint32_t tgid)
{
	struct proc *p = find_proc(s, tgid);

	/* The next capture or lookup reads the new image's mappings. */
	if (p)
		release_proc(s, p);
}

void symbolizer__process_exit(struct symbolizer *s, uint32_t tgid)
{
	struct proc *p = find_proc(s, tgid);

	if (!p || p->exited)
		return;
	p->exited = true;
	p->exit_ns = mono_ns();
	p->exit_gen = s->sweep_gen;
}
