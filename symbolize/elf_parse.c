// SPDX-License-Identifier: Apache-2.0
/*
 * Reading one ELF file into a cache entry: its loadable segments, .symtab/.dynsym function
 * symbols (best name per address), the GNU build id, .gnu_debuglink, and Go's .gopclntab
 * when nothing else names its functions.
 */
#include <elfutils/libdw.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/array.h"
#include "common/log.h"
#include "symbolize/gopclntab.h"
#include "symbolize/symbolize_internal.h"

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

/* Appends a symbol to E (growing the table, capacity in *CAP). Returns 0 or -ENOMEM. */
int add_sym(struct elf_file *e, size_t *cap, uint64_t start, uint64_t size, uint8_t rank,
	    const char *name)
{
	struct elf_sym *ns;

	if (array_reserve(&e->syms, cap, e->nr_syms + 1, sizeof(*e->syms), 1024))
		return -ENOMEM;
	ns = &e->syms[e->nr_syms];
	ns->start = start;
	ns->size = size;
	ns->binding_rank = rank;
	ns->iname = NULL;
	if (add_name(e, name, &ns->name))
		return -ENOMEM;
	e->nr_syms++;
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

/* Sorts E's symbols and keeps the best one per address; gives back the spare capacity. */
void finish_syms(struct elf_file *e)
{
	struct elf_sym *ns;
	size_t i, w;

	if (!e->nr_syms)
		return;
	qsort_r(e->syms, e->nr_syms, sizeof(*e->syms), elf_sym_cmp, e->names);
	/* .symtab and .dynsym repeat each other: keep the best name per address. */
	for (i = 1, w = 1; i < e->nr_syms; i++)
		if (e->syms[i].start != e->syms[w - 1].start)
			e->syms[w++] = e->syms[i];
	e->nr_syms = w;
	ns = realloc(e->syms, w * sizeof(*ns));
	if (ns)
		e->syms = ns;
}

int read_symtab(Elf *elf, Elf_Scn *scn, const GElf_Shdr *sh, struct elf_file *e, size_t *cap)
{
	Elf_Data *data = elf_getdata(scn, NULL);
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
		bind = GELF_ST_BIND(sym.st_info);
		err = add_sym(e, cap, sym.st_value, sym.st_size,
			      bind == STB_GLOBAL ? 0
			      : bind == STB_WEAK ? 1
						 : 2,
			      name);
		if (err)
			return err;
	}
	return 0;
}

/* Writes ELF's GNU build id as lowercase hex into HEX (129 bytes); "" when it has none. */
void read_build_id(Elf *elf, char *hex)
{
	size_t off, next, name_off, desc_off, i;
	Elf_Scn *scn = NULL;
	const uint8_t *desc;
	Elf_Data *data;
	GElf_Shdr sh;
	GElf_Nhdr nh;

	hex[0] = '\0';
	while ((scn = elf_nextscn(elf, scn))) {
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
			continue;
		data = elf_getdata(scn, NULL);
		if (!data || !data->d_buf)
			continue;
		off = 0;
		while (off < data->d_size &&
		       (next = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
			if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
			    !memcmp((const char *)data->d_buf + name_off, "GNU", 4) &&
			    nh.n_descsz && nh.n_descsz <= 64) {
				desc = (const uint8_t *)data->d_buf + desc_off;
				for (i = 0; i < nh.n_descsz; i++)
					snprintf(hex + 2 * i, 3, "%02x", desc[i]);
				return;
			}
			off = next;
		}
	}
}

static uint32_t bswap_if(uint32_t v, bool swap)
{
	return swap ? __builtin_bswap32(v) : v;
}

/* Reads a .gnu_debuglink section: NUL-terminated name, padding to 4, CRC32 in file order. */
static void read_debuglink(Elf_Scn *scn, bool swap, struct debug_ref *ref)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	const char *p;
	size_t len, crc_off;
	uint32_t crc;

	if (!data || !data->d_buf || !data->d_size)
		return;
	p = data->d_buf;
	len = strnlen(p, data->d_size);
	crc_off = (len + 4) & ~(size_t)3;
	if (!len || len > NAME_MAX || crc_off + 4 > data->d_size || memchr(p, '/', len))
		return;
	memcpy(ref->link, p, len);
	ref->link[len] = '\0';
	memcpy(&crc, p + crc_off, 4);
	ref->crc = bswap_if(crc, swap);
}

/* A Go table's functions, appended as symbols. */
struct go_ctx {
	struct elf_file *e;
	size_t *cap;
};

static int go_add(void *ctx, uint64_t start, uint64_t size, const char *name)
{
	struct go_ctx *g = ctx;

	return add_sym(g->e, g->cap, start, size, 0, name);
}

static int read_gopclntab(Elf_Scn *scn, bool big_endian, uint64_t text_start, struct elf_file *e,
			  size_t *cap)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	struct go_ctx g = { e, cap };
	int err;

	if (!data || !data->d_buf)
		return 0;
	err = gopclntab__walk(data->d_buf, data->d_size, big_endian, text_start, go_add, &g);
	if (err == -ENOMEM)
		return err;
	if (err)
		log_debug(".gopclntab unusable: %s", strerror(-err));
	return 0;
}

/*
 * A stripped executable whose .dynsym lacks _start (pgbench, most of /usr/bin) would print
 * the root of every main-thread stack as an address. The ELF entry point is that function by
 * definition, and the .eh_frame FDE that starts there (glibc's start.S has CFI) gives its
 * extent, which this finds (elfutils' libdw): [*START, *END) of the executable open as FD,
 * with header EH, or an empty range. Executables only (ET_EXEC, or HAS_INTERP): a shared
 * library's e_entry is something else (libc's prints its version). libdw reads the file
 * through an Elf handle of its own: on a corrupt file, its reads through the handle the
 * symbol tables were read with made libelf lose those buffers (LeakSanitizer, elfutils
 * 0.188).
 */
static void entry_extent(int fd, const GElf_Ehdr *eh, bool has_interp, uint64_t *start,
			 uint64_t *end)
{
	Dwarf_Addr lo, hi;
	Dwarf_Frame *fr = NULL;
	Dwarf_CFI *cfi;
	Elf *elf;

	*start = *end = 0;
	if (fd < 0 || !eh->e_entry || (eh->e_type != ET_EXEC && !has_interp))
		return;
	/* ELF_C_READ, as the caller's: a file truncated meanwhile must not SIGBUS. */
	elf = elf_begin(fd, ELF_C_READ, NULL);
	cfi = elf ? dwarf_getcfi_elf(elf) : NULL;
	if (!cfi) {
		elf_end(elf);
		return;
	}
	if (!dwarf_cfi_addrframe(cfi, eh->e_entry, &fr) &&
	    dwarf_frame_info(fr, &lo, &hi, NULL) >= 0 && lo == eh->e_entry && hi > lo &&
	    hi - lo < (1u << 20)) {
		*start = lo;
		*end = hi;
	}
	free(fr);
	dwarf_cfi_end(cfi);
	elf_end(elf);
}

/*
 * Names the entry function of the executable open as FD (header EH) "_start" in E, unless a
 * symbol covers the entry point already: checked first, so that binaries whose .dynsym has
 * _start (python3.11, nginx) cost no second read of the file. Returns 0 or -ENOMEM.
 */
static int entry_sym(struct elf_file *e, size_t *cap, int fd, const GElf_Ehdr *eh, bool has_interp)
{
	uint64_t start, end;
	size_t i;

	for (i = 0; i < e->nr_syms; i++)
		if (eh->e_entry - e->syms[i].start < e->syms[i].size)
			return 0;
	entry_extent(fd, eh, has_interp, &start, &end);
	if (start >= end)
		return 0;
	return add_sym(e, cap, start, end - start, 2, "_start");
}

/*
 * Fills E from ELF (open as FD, or -1), a binary that process TGID (0: none, host paths)
 * maps from PATH, with build id BID ("" if none). Returns 0, -ENOEXEC (not a usable ELF) or -ENOMEM.
 */
int parse_elf(struct symbolizer *s, int fd, Elf *elf, uint32_t tgid, const char *path,
	      const char *bid, struct elf_file *e)
{
	Elf_Scn *scn = NULL, *gopcln = NULL;
	struct debug_ref ref = { .link = "" };
	bool has_symtab = false, has_interp = false, big_endian;
	char root[PATH_MAX];
	uint64_t text_start = 0;
	size_t nph = 0, shstrndx, i, cap = 0;
	const char *sname;
	GElf_Ehdr eh;
	GElf_Phdr ph;
	GElf_Shdr sh;
	int err = 0;

	if (elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &eh) || elf_getphdrnum(elf, &nph) ||
	    elf_getshdrstrndx(elf, &shstrndx)) {
		err = -ENOEXEC;
		goto cleanup;
	}
	big_endian = eh.e_ident[EI_DATA] == ELFDATA2MSB;
	if (nph) {
		e->segs = calloc(nph, sizeof(*e->segs));
		if (!e->segs) {
			err = -ENOMEM;
			goto cleanup;
		}
	}
	for (i = 0; i < nph; i++) {
		if (!gelf_getphdr(elf, (int)i, &ph))
			continue;
		has_interp |= ph.p_type == PT_INTERP;
		if (ph.p_type != PT_LOAD)
			continue;
		e->segs[e->nr_segs].offset = ph.p_offset;
		e->segs[e->nr_segs].vaddr = ph.p_vaddr;
		e->segs[e->nr_segs].filesz = ph.p_filesz;
		e->nr_segs++;
	}
	while ((scn = elf_nextscn(elf, scn))) {
		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_SYMTAB || sh.sh_type == SHT_DYNSYM) {
			has_symtab |= sh.sh_type == SHT_SYMTAB;
			err = read_symtab(elf, scn, &sh, e, &cap);
			if (err)
				goto cleanup;
			continue;
		}
		sname = elf_strptr(elf, shstrndx, sh.sh_name);
		if (!sname)
			continue;
		if (!strcmp(sname, ".gnu_debuglink"))
			read_debuglink(scn, big_endian != (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__),
				       &ref);
		else if (!strcmp(sname, ".gopclntab"))
			gopcln = scn;
		else if (!strcmp(sname, ".text"))
			text_start = sh.sh_addr;
	}
	e->go = gopcln != NULL;
	if (!has_symtab && (*bid || ref.link[0])) {
		/* Stripped: the full symbol table may be in a separate debug file. */
		err = -ENOENT;
		if (tgid) {
			snprintf(root, sizeof(root), "%s/%u/root", s->proc_root, tgid);
			err = find_debug_in(s, root, path, bid, &ref, e, &cap);
		}
		if (err == -ENOENT)
			err = find_debug_in(s, "", path, bid, &ref, e, &cap);
		if (err == -ENOENT && *bid && s->dbg)
			err = fetched_debug(s, bid, e, &cap);
		if (err == -ENOMEM)
			goto cleanup;
		has_symtab = !err;
		err = 0;
	}
	/* Go binaries built with -ldflags=-s keep only .gopclntab. */
	if (!has_symtab && gopcln) {
		err = read_gopclntab(gopcln, big_endian, text_start, e, &cap);
		if (err)
			goto cleanup;
	}
	if (!has_symtab) {
		err = entry_sym(e, &cap, fd, &eh, has_interp);
		if (err)
			goto cleanup;
	}
	finish_syms(e);
cleanup:
	return err;
}
