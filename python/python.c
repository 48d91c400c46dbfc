// SPDX-License-Identifier: Apache-2.0
/*
 * CPython detection and frame symbolization (python/python.h).
 *
 * Offsets: 3.11 and 3.12 come from tables (stable across their patch releases); 3.13 from
 * the _Py_DebugOffsets the runtime carries at the start of _PyRuntime, read from the ELF
 * file, so the process is not touched. The debug offsets lack the gilstate TSS key, so its
 * place in _PyRuntime stays a table entry for every version.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/array.h"
#include "python/python.h"

#define PY_CACHE_SLOTS 4096 /* code cache per process: 1024 sets of 4 */
#define PY_CACHE_WAYS 4
#define PY_MAX_STR 4096 /* characters of a name or file name */
#define PY_MAX_LINETABLE (1u << 20)
#define PY_MAX_HDR 256 /* code object bytes read (up to its bytecode) */

/* Offsets the host needs besides the BPF info. */
struct py_layout {
	uint16_t co_filename, co_name, co_qualname, co_linetable, co_firstlineno;
	uint16_t str_state, str_length, str_ascii_data, str_compact_data;
	uint16_t bytes_size, bytes_data;
};

struct py_code_entry {
	uint64_t code; /* 0: empty */
	/* what tells a reused address apart: all four must be unchanged */
	uint64_t qualname_ptr, filename_ptr, linetable_ptr;
	int32_t first_line;
	char *function, *file;
	uint8_t *linetable;
	uint32_t linetable_len;
};

struct python_proc {
	uint32_t tgid;
	uint16_t version;
	char refusal[128];
	char *module;
	uint64_t code_type; /* &PyCode_Type in the process */
	uint64_t eval_lo, eval_hi; /* _PyEval_EvalFrameDefault's (hot) code in the process */
	struct kiln_py_info info;
	struct py_layout lay;
	struct python_stats *st;
	struct python_stats own_stats;
	struct py_code_entry *cache; /* PY_CACHE_SLOTS, allocated on first symbolization */
	uint32_t victim; /* round-robin replacement within a set */
};

/* ---- process memory ---- */

static int mem_read(uint32_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = { buf, len }, remote = { (void *)(uintptr_t)addr, len };
	ssize_t n = process_vm_readv((pid_t)pid, &local, 1, &remote, 1, 0);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EFAULT;
}

/* ---- ELF ---- */

struct py_elf_syms {
	uint64_t runtime, runtime_size, version_sym, code_type, eval, eval_size;
	bool has_runtime, has_version, has_getversion, has_code_type;
};

static int elf_symbols(Elf *elf, struct py_elf_syms *out)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	memset(out, 0, sizeof(*out));
	while ((scn = elf_nextscn(elf, scn))) {
		Elf_Data *data;
		size_t i, n;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNSYM || !sh.sh_entsize)
			continue;
		data = elf_getdata(scn, NULL);
		if (!data)
			return -EINVAL;
		n = sh.sh_size / sh.sh_entsize;
		for (i = 0; i < n; i++) {
			GElf_Sym sym;
			const char *name;

			if (!gelf_getsym(data, (int)i, &sym) || sym.st_shndx == SHN_UNDEF)
				continue;
			name = elf_strptr(elf, sh.sh_link, sym.st_name);
			if (!name || (name[0] != '_' && name[0] != 'P'))
				continue;
			if (!strcmp(name, "_PyRuntime")) {
				out->runtime = sym.st_value;
				out->runtime_size = sym.st_size;
				out->has_runtime = true;
			} else if (!strcmp(name, "Py_Version")) {
				out->version_sym = sym.st_value;
				out->has_version = true;
			} else if (!strcmp(name, "Py_GetVersion")) {
				out->has_getversion = true;
			} else if (!strcmp(name, "_PyEval_EvalFrameDefault")) {
				out->eval = sym.st_value;
				out->eval_size = sym.st_size;
			} else if (!strcmp(name, "PyCode_Type")) {
				out->code_type = sym.st_value;
				out->has_code_type = true;
			}
		}
	}
	return 0;
}

/* Reads LEN bytes at virtual address VADDR from the file's loadable segments. */
static int elf_read_vaddr(Elf *elf, int fd, uint64_t vaddr, void *buf, size_t len)
{
	size_t i, n;
	GElf_Phdr ph;

	if (elf_getphdrnum(elf, &n))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (vaddr < ph.p_vaddr || vaddr + len > ph.p_vaddr + ph.p_filesz)
			continue;
		if (pread(fd, buf, len, (off_t)(ph.p_offset + vaddr - ph.p_vaddr)) != (ssize_t)len)
			return -EIO;
		return 0;
	}
	return -ENOENT;
}

/* Load bias of a file mapped at START from file offset OFF. */
static int elf_bias(Elf *elf, uint64_t start, uint64_t off, uint64_t *bias)
{
	size_t i, n;
	GElf_Phdr ph;

	if (elf_getphdrnum(elf, &n))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		uint64_t pstart;

		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		pstart = ph.p_offset & ~(uint64_t)0xfff;
		if (off < pstart || off >= ph.p_offset + ph.p_filesz)
			continue;
		/* the mapping's first byte is file offset OFF, i.e. vaddr p_vaddr + off - p_offset */
		*bias = start - (ph.p_vaddr + off - ph.p_offset);
		return 0;
	}
	return -ENOENT;
}

/* ---- version tables ---- */

static const char *version_text(uint16_t v, char *buf, size_t size)
{
	snprintf(buf, size, "%u.%u", v >> 8, v & 0xff);
	return buf;
}

/* The offsets of a release whose runtime carries no _Py_DebugOffsets (3.11, 3.12). */
struct py_fixed_table {
	uint16_t version;
	uint16_t tss_off; /* of Py_tss_t in _PyRuntime */
	uint8_t flags;
	uint16_t ts_frame, cframe_frame, code_adaptive;
	uint8_t fr_code, fr_previous, fr_instr, fr_owner, fr_is_entry, owner_cstack;
	struct py_layout lay;
};

/*
 * One row a release; the columns are those of struct py_fixed_table, then of struct py_layout.
 * The string and bytes header sizes did not change between 3.11 and 3.12.
 */
/* clang-format off */
static const struct py_fixed_table fixed_tables[] = {
	/* version tss_off flags ts_frame cframe_frame code_adaptive
	 * fr_code fr_previous fr_instr fr_owner fr_is_entry owner_cstack
	 * lay: co_filename co_name co_qualname co_linetable co_firstlineno
	 *      str_state str_length str_ascii_data str_compact_data bytes_size bytes_data */
	{ 0x030b, 592, KILN_PY_F_CFRAME | KILN_PY_F_IS_ENTRY, 56, 8, 184, 32, 48, 56, 69, 68, 0,
	  { 112, 120, 128, 136, 72, 32, 16, 48, 72, 16, 32 } },
	{ 0x030c, 1544, KILN_PY_F_CFRAME | KILN_PY_F_CSTACK, 56, 0, 192, 0, 8, 56, 70, 0, 3,
	  { 112, 120, 128, 136, 68, 32, 16, 40, 56, 16, 32 } },
};
/* clang-format on */

/* The fixed table of version v, or NULL when v reads its offsets from the runtime. */
static const struct py_fixed_table *fixed_table(uint16_t v)
{
	for (size_t k = 0; k < sizeof(fixed_tables) / sizeof(fixed_tables[0]); k++)
		if (fixed_tables[k].version == v)
			return &fixed_tables[k];
	return NULL;
}

static void table_fixed(struct python_proc *p, const struct py_fixed_table *t, uint64_t runtime)
{
	struct kiln_py_info *i = &p->info;

	i->tss_addr = runtime + t->tss_off;
	i->flags = t->flags;
	i->ts_frame = t->ts_frame;
	i->cframe_frame = t->cframe_frame;
	i->code_adaptive = t->code_adaptive;
	i->fr_code = t->fr_code;
	i->fr_previous = t->fr_previous;
	i->fr_instr = t->fr_instr;
	i->fr_owner = t->fr_owner;
	i->fr_is_entry = t->fr_is_entry;
	i->owner_cstack = t->owner_cstack;
	p->lay = t->lay;
}

/* _Py_DebugOffsets of 3.13, as u64 word indexes (Include/internal/pycore_runtime.h). */
enum {
	DO_VERSION = 1,
	DO_FREE_THREADED = 2,
	DO_TS_CURRENT_FRAME = 23,
	DO_FR_PREVIOUS = 29,
	DO_FR_EXECUTABLE = 30,
	DO_FR_INSTR_PTR = 31,
	DO_FR_OWNER = 33,
	DO_CO_FILENAME = 35,
	DO_CO_NAME = 36,
	DO_CO_QUALNAME = 37,
	DO_CO_LINETABLE = 38,
	DO_CO_FIRSTLINENO = 39,
	DO_CO_ADAPTIVE = 43,
	DO_BYTES_OB_SIZE = 65,
	DO_BYTES_OB_SVAL = 66,
	DO_STR_STATE = 68,
	DO_STR_LENGTH = 69,
	DO_STR_ASCII_SIZE = 70,
	DO_WORDS = 73,
};

static int table_313(struct python_proc *p, uint64_t runtime, const uint64_t *d)
{
	struct kiln_py_info *i = &p->info;
	static const int frame_fields[] = { DO_FR_PREVIOUS, DO_FR_EXECUTABLE, DO_FR_INSTR_PTR };
	static const int small_fields[] = {
		DO_TS_CURRENT_FRAME, DO_CO_FILENAME,	DO_CO_NAME,	  DO_CO_QUALNAME,
		DO_CO_LINETABLE,     DO_CO_FIRSTLINENO, DO_BYTES_OB_SIZE, DO_BYTES_OB_SVAL,
		DO_STR_STATE,	     DO_STR_LENGTH,	DO_STR_ASCII_SIZE
	};
	size_t k;

	/* the BPF walk reads KILN_PY_FRAME_READ bytes of a frame; code headers PY_MAX_HDR */
	for (k = 0; k < sizeof(frame_fields) / sizeof(frame_fields[0]); k++)
		if (d[frame_fields[k]] % 8 || d[frame_fields[k]] + 8 > KILN_PY_FRAME_READ)
			return -EINVAL;
	if (d[DO_FR_OWNER] >= KILN_PY_FRAME_READ)
		return -EINVAL;
	for (k = 0; k < sizeof(small_fields) / sizeof(small_fields[0]); k++)
		if (d[small_fields[k]] + 8 > PY_MAX_HDR)
			return -EINVAL;
	if (d[DO_CO_ADAPTIVE] > PY_MAX_HDR)
		return -EINVAL;

	i->tss_addr = runtime + 2160;
	i->flags = KILN_PY_F_CSTACK;
	i->ts_frame = (uint16_t)d[DO_TS_CURRENT_FRAME];
	i->code_adaptive = (uint16_t)d[DO_CO_ADAPTIVE];
	i->fr_code = (uint8_t)d[DO_FR_EXECUTABLE];
	i->fr_previous = (uint8_t)d[DO_FR_PREVIOUS];
	i->fr_instr = (uint8_t)d[DO_FR_INSTR_PTR];
	i->fr_owner = (uint8_t)d[DO_FR_OWNER];
	i->owner_cstack = 3;
	p->lay.co_firstlineno = (uint16_t)d[DO_CO_FIRSTLINENO];
	p->lay.co_filename = (uint16_t)d[DO_CO_FILENAME];
	p->lay.co_name = (uint16_t)d[DO_CO_NAME];
	p->lay.co_qualname = (uint16_t)d[DO_CO_QUALNAME];
	p->lay.co_linetable = (uint16_t)d[DO_CO_LINETABLE];
	p->lay.bytes_size = (uint16_t)d[DO_BYTES_OB_SIZE];
	p->lay.bytes_data = (uint16_t)d[DO_BYTES_OB_SVAL];
	p->lay.str_state = (uint16_t)d[DO_STR_STATE];
	p->lay.str_length = (uint16_t)d[DO_STR_LENGTH];
	p->lay.str_ascii_data = (uint16_t)d[DO_STR_ASCII_SIZE];
	/* PyCompactUnicodeObject adds utf8_length and utf8 to PyASCIIObject */
	p->lay.str_compact_data = (uint16_t)(d[DO_STR_ASCII_SIZE] + 16);
	return 0;
}

/* ---- detection ---- */

struct py_mapping {
	uint64_t start, off;
	char path[PATH_MAX];
};

static bool is_libpython(const char *path)
{
	const char *base = strrchr(path, '/');

	return !strncmp(base ? base + 1 : path, "libpython", 9);
}

/* Version 0xMMmm from a name like python3.10 or libpython3.10.so.1.0; 0 when none. */
static uint16_t version_from_name(const char *path)
{
	const char *base = strrchr(path, '/'), *s;
	unsigned int maj, min;

	base = base ? base + 1 : path;
	s = strstr(base, "python");
	if (!s || sscanf(s, "python%u.%u", &maj, &min) != 2 || maj > 255 || min > 255)
		return 0;
	return (uint16_t)(maj << 8 | min);
}

static void refuse(struct python_proc *p, uint8_t why, const char *fmt, const char *arg)
{
	p->info.refused = why;
	p->info.version = p->version;
	snprintf(p->refusal, sizeof(p->refusal), fmt, arg);
	if (why == KILN_PY_REFUSED_FREETHREADED)
		p->st->refused_freethreaded++;
	else
		p->st->refused_version++;
}

/*
 * Examines one mapped file. Returns 0 when it is CPython (P filled, refused or not),
 * -ENOENT when it is not, another -errno when it cannot be read.
 */
static int detect_module(struct python_proc *p, const struct py_mapping *m)
{
	char path[PATH_MAX + 32], vbuf[16];
	struct py_elf_syms syms;
	uint64_t bias, dbg[DO_WORDS];
	uint32_t pyver;
	Elf *elf = NULL;
	int fd, err;

	snprintf(path, sizeof(path), "/proc/%u/root%s", p->tgid, m->path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF) {
		err = -ENOENT;
		goto cleanup;
	}
	err = elf_symbols(elf, &syms);
	if (err)
		goto cleanup;
	if (!syms.has_getversion && !syms.has_runtime) {
		err = -ENOENT;
		goto cleanup;
	}
	err = elf_bias(elf, m->start, m->off, &bias);
	if (err)
		goto cleanup;
	p->module = strdup(m->path);
	if (!p->module) {
		err = -ENOMEM;
		goto cleanup;
	}
	err = 0;
	if (!syms.has_version || !syms.has_runtime) {
		/* CPython before 3.11 has no Py_Version (before 3.7 no _PyRuntime either) */
		p->version = version_from_name(m->path);
		refuse(p, KILN_PY_REFUSED_VERSION,
		       "CPython %s: only 3.11, 3.12 and 3.13 are supported",
		       p->version ? version_text(p->version, vbuf, sizeof(vbuf)) : "< 3.11");
		goto cleanup;
	}
	if (elf_read_vaddr(elf, fd, syms.version_sym, &pyver, sizeof(pyver))) {
		err = -EINVAL;
		goto cleanup;
	}
	p->version = (uint16_t)(pyver >> 16);
	p->info.version = p->version;
	version_text(p->version, vbuf, sizeof(vbuf));
	if (p->version < 0x030b || p->version > 0x030d) {
		refuse(p, KILN_PY_REFUSED_VERSION,
		       "CPython %s: only 3.11, 3.12 and 3.13 are supported", vbuf);
		goto cleanup;
	}
	/* offsets are known for final releases; alphas and betas move fields */
	if (((pyver >> 4) & 0xf) != 0xf) {
		refuse(p, KILN_PY_REFUSED_VERSION, "CPython %s pre-release: not supported", vbuf);
		goto cleanup;
	}
	if (!syms.has_code_type) {
		err = -EINVAL;
		goto cleanup;
	}
	p->code_type = syms.code_type + bias;
	if (syms.eval_size) {
		p->eval_lo = syms.eval + bias;
		p->eval_hi = p->eval_lo + syms.eval_size;
	}
	if (fixed_table(p->version)) {
		table_fixed(p, fixed_table(p->version), syms.runtime + bias);
	} else {
		if (elf_read_vaddr(elf, fd, syms.runtime, dbg, sizeof(dbg)) ||
		    memcmp(dbg, "xdebugpy", 8) || (dbg[DO_VERSION] >> 16) != p->version) {
			err = -EINVAL;
			goto cleanup;
		}
		if (dbg[DO_FREE_THREADED]) {
			refuse(p, KILN_PY_REFUSED_FREETHREADED,
			       "CPython %s free-threaded build: not supported", vbuf);
			goto cleanup;
		}
		err = table_313(p, syms.runtime + bias, dbg);
		if (err)
			goto cleanup;
	}
	p->info.version = p->version;
cleanup:
	if (elf)
		elf_end(elf);
	close(fd);
	return err;
}

static int read_mappings(uint32_t tgid, struct py_mapping **out, size_t *nr, bool *musl)
{
	char path[64], line[PATH_MAX + 128];
	struct py_mapping *v = NULL;
	size_t n = 0, cap = 0;
	FILE *f;

	*musl = false;
	snprintf(path, sizeof(path), "/proc/%u/maps", tgid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long start, end, off;
		char perms[8], *p;
		int pos = 0;

		if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %n", &start, &end, perms, &off, &pos) <
			    4 ||
		    !pos)
			continue;
		p = line + pos;
		p[strcspn(p, "\n")] = 0;
		if (p[0] != '/')
			continue;
		if (strstr(p, "ld-musl-") || strstr(p, "libc.musl"))
			*musl = true;
		if (perms[2] != 'x')
			continue;
		if (array_reserve(&v, &cap, n + 1, sizeof(*v), 16)) {
			free(v);
			fclose(f);
			return -ENOMEM;
		}
		v[n].start = start;
		v[n].off = off;
		snprintf(v[n].path, sizeof(v[n].path), "%s", p);
		n++;
	}
	fclose(f);
	*out = v;
	*nr = n;
	return 0;
}

int python_proc__detect(uint32_t tgid, struct python_stats *st, struct python_proc **out)
{
	struct py_mapping *maps = NULL;
	struct python_proc *p;
	char exe[PATH_MAX + 1], link[64];
	size_t n = 0, i, pass;
	ssize_t len;
	bool musl;
	int err;

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->tgid = tgid;
	p->st = st ? st : &p->own_stats;
	elf_version(EV_CURRENT);
	err = read_mappings(tgid, &maps, &n, &musl);
	if (err) {
		/* no maps file: the process is gone, which is not "not CPython" */
		if (err == -ENOENT)
			err = -ESRCH;
		p->st->detect_errors++;
		goto cleanup;
	}
	snprintf(link, sizeof(link), "/proc/%u/exe", tgid);
	len = readlink(link, exe, sizeof(exe) - 1);
	exe[len > 0 ? len : 0] = 0;

	/* the main executable first (static interpreters, embedders), then libpython */
	err = -ENOENT;
	for (pass = 0; pass < 2 && err == -ENOENT; pass++) {
		for (i = 0; i < n && err == -ENOENT; i++) {
			bool want = pass == 0 ? !strcmp(maps[i].path, exe)
					      : is_libpython(maps[i].path);

			if (!want || (i && !strcmp(maps[i].path, maps[i - 1].path)))
				continue;
			err = detect_module(p, &maps[i]);
			if (err == -ENOENT) {
				free(p->module);
				p->module = NULL;
			}
		}
	}
	if (err == -ENOENT) {
		p->st->detect_not_python++;
		goto cleanup;
	}
	if (err) {
		p->st->detect_errors++;
		goto cleanup;
	}
	p->info.tsd_kind = musl ? KILN_PY_TSD_MUSL : KILN_PY_TSD_GLIBC;
	p->info.tsd_off = musl ? 0x80 : 0x310;
	if (!p->info.refused)
		p->st->detect_ok++;
	*out = p;
	p = NULL;
cleanup:
	free(maps);
	python_proc__free(p);
	return err;
}

int python_proc__fork(const struct python_proc *parent, uint32_t child_tgid,
		      struct python_proc **out)
{
	struct python_proc *p = malloc(sizeof(*p));

	if (!p)
		return -ENOMEM;
	*p = *parent;
	p->tgid = child_tgid;
	p->cache = NULL;
	if (parent->st == &parent->own_stats)
		p->st = &p->own_stats;
	p->module = parent->module ? strdup(parent->module) : NULL;
	if (parent->module && !p->module) {
		free(p);
		return -ENOMEM;
	}
	*out = p;
	return 0;
}

static void entry_clear(struct py_code_entry *e)
{
	free(e->function);
	free(e->file);
	free(e->linetable);
	memset(e, 0, sizeof(*e));
}

void python_proc__free(struct python_proc *p)
{
	size_t i;

	if (!p)
		return;
	if (p->cache) {
		for (i = 0; i < PY_CACHE_SLOTS; i++)
			entry_clear(&p->cache[i]);
		free(p->cache);
	}
	free(p->module);
	free(p);
}

const char *python_proc__refusal(const struct python_proc *p)
{
	return p->info.refused ? p->refusal : NULL;
}

bool python_proc__in_eval(const struct python_proc *p, uint64_t addr)
{
	return addr >= p->eval_lo && addr < p->eval_hi;
}

uint32_t python_proc__tgid(const struct python_proc *p)
{
	return p->tgid;
}

uint16_t python_proc__version(const struct python_proc *p)
{
	return p->version;
}

const char *python_proc__module(const struct python_proc *p)
{
	return p->module;
}

void python_proc__info(const struct python_proc *p, struct kiln_py_info *out)
{
	*out = p->info;
}

/* ---- symbolization ---- */

static void utf8_put(char **o, uint32_t c)
{
	char *s = *o;

	if (c < 0x80) {
		*s++ = (char)c;
	} else if (c < 0x800) {
		*s++ = (char)(0xc0 | c >> 6);
		*s++ = (char)(0x80 | (c & 0x3f));
	} else if (c < 0x10000) {
		*s++ = (char)(0xe0 | c >> 12);
		*s++ = (char)(0x80 | ((c >> 6) & 0x3f));
		*s++ = (char)(0x80 | (c & 0x3f));
	} else {
		*s++ = (char)(0xf0 | c >> 18);
		*s++ = (char)(0x80 | ((c >> 12) & 0x3f));
		*s++ = (char)(0x80 | ((c >> 6) & 0x3f));
		*s++ = (char)(0x80 | (c & 0x3f));
	}
	*o = s;
}

/*
 * Reads the str object at ADDR as UTF-8 into a new string (*OUT, caller frees). Only
 * compact strings, which is what code objects hold: ASCII ones keep 1-byte data right after
 * PyASCIIObject, the others after PyCompactUnicodeObject with `kind` bytes per character.
 */
static int read_str(struct python_proc *p, uint64_t addr, char **out)
{
	const struct py_layout *l = &p->lay;
	uint64_t length;
	uint32_t state, kind, i;
	uint8_t *raw = NULL;
	char *s = NULL, *o;
	int err;

	if (!addr || (addr & 7))
		return -EINVAL;
	err = mem_read(p->tgid, addr + l->str_length, &length, sizeof(length));
	if (!err)
		err = mem_read(p->tgid, addr + l->str_state, &state, sizeof(state));
	if (err)
		return err;
	kind = (state >> 2) & 7;
	if (!(state & (1u << 5)) || length > PY_MAX_STR)
		return -EINVAL; /* not compact, or absurd */
	if (state & (1u << 6))
		kind = 1;
	else if (kind != 1 && kind != 2 && kind != 4)
		return -EINVAL;
	raw = malloc(length * kind + 1);
	s = malloc(length * 4 + 1);
	if (!raw || !s) {
		err = -ENOMEM;
		goto cleanup;
	}
	err = mem_read(p->tgid,
		       addr + ((state & (1u << 6)) ? l->str_ascii_data : l->str_compact_data), raw,
		       length * kind);
	if (err)
		goto cleanup;
	o = s;
	for (i = 0; i < length; i++) {
		uint32_t c;

		if (kind == 1)
			c = raw[i];
		else if (kind == 2)
			c = (uint32_t)raw[2 * i] | (uint32_t)raw[2 * i + 1] << 8;
		else
			memcpy(&c, raw + 4 * i, 4);
		if (c > 0x10ffff || !c) {
			err = -EINVAL;
			goto cleanup;
		}
		utf8_put(&o, c);
	}
	*o = 0;
	*out = s;
	s = NULL;
cleanup:
	free(raw);
	free(s);
	return err;
}

static int read_linetable(struct python_proc *p, uint64_t addr, uint8_t **out, uint32_t *len)
{
	uint64_t size;
	uint8_t *buf;
	int err;

	if (!addr || (addr & 7))
		return -EINVAL;
	err = mem_read(p->tgid, addr + p->lay.bytes_size, &size, sizeof(size));
	if (err)
		return err;
	if (size > PY_MAX_LINETABLE)
		return -EINVAL;
	buf = malloc(size ? size : 1);
	if (!buf)
		return -ENOMEM;
	err = mem_read(p->tgid, addr + p->lay.bytes_data, buf, size);
	if (err) {
		free(buf);
		return err;
	}
	*out = buf;
	*len = (uint32_t)size;
	return 0;
}

static uint64_t hdr_u64(const uint8_t *hdr, uint16_t off)
{
	uint64_t v;

	memcpy(&v, hdr + off, sizeof(v));
	return v;
}

/* The entry of CODE in its set, or the slot to refill: an empty one or the victim. */
static struct py_code_entry *cache_slot(struct python_proc *p, uint64_t code)
{
	struct py_code_entry *set =
		&p->cache[(((code >> 4) * 0x9E3779B97F4A7C15ull) >> 54) * PY_CACHE_WAYS];
	int i;

	for (i = 0; i < PY_CACHE_WAYS; i++)
		if (set[i].code == code)
			return &set[i];
	for (i = 0; i < PY_CACHE_WAYS; i++)
		if (!set[i].code)
			return &set[i];
	return &set[p->victim++ % PY_CACHE_WAYS];
}

static void count_read_error(struct python_proc *p, int err)
{
	if (err == -EINVAL)
		p->st->sym_bad_string++;
	else
		p->st->sym_read_fault++;
}

int python_proc__symbolize(struct python_proc *p, uint64_t code, uint32_t instr,
			   struct python_frame *out)
{
	uint8_t hdr[PY_MAX_HDR];
	struct py_code_entry *e, fresh = { 0 };
	uint64_t qn, fn, lt;
	int32_t first;
	int err, line;

	if (p->info.refused || !code || (code & 7))
		return -EINVAL;
	if (!p->cache) {
		p->cache = calloc(PY_CACHE_SLOTS, sizeof(*p->cache));
		if (!p->cache)
			return -ENOMEM;
	}
	err = mem_read(p->tgid, code, hdr, p->info.code_adaptive);
	e = cache_slot(p, code);
	if (err == -ESRCH && e->code == code) {
		/*
		 * The process is gone: its memory can no longer change, so the entry read while
		 * it lived (an announced code object, python_proc__symbolize() with no offset)
		 * is still right. This is how a process that exits before its window is drained
		 * keeps its Python names.
		 */
		p->st->sym_after_exit++;
		goto resolved;
	}
	if (err) {
		p->st->sym_read_fault++;
		return err;
	}
	if (hdr_u64(hdr, 8) != p->code_type) {
		/*
		 * No longer a code object (freed since its sample, as <module>'s at
		 * interpreter shutdown): the entry read when the walk announced it is what the
		 * sample saw.
		 */
		if (e->code == code) {
			p->st->sym_after_exit++;
			goto resolved;
		}
		p->st->sym_bad_type++;
		return -EINVAL;
	}
	qn = hdr_u64(hdr, p->lay.co_qualname);
	fn = hdr_u64(hdr, p->lay.co_filename);
	lt = hdr_u64(hdr, p->lay.co_linetable);
	memcpy(&first, hdr + p->lay.co_firstlineno, sizeof(first));

	if (e->code == code && e->qualname_ptr == qn && e->filename_ptr == fn &&
	    e->linetable_ptr == lt && e->first_line == first) {
		p->st->sym_cache_hits++;
	} else {
		err = read_str(p, qn, &fresh.function);
		if (!err)
			err = read_str(p, fn, &fresh.file);
		if (err) {
			count_read_error(p, err);
			goto cleanup;
		}
		err = read_linetable(p, lt, &fresh.linetable, &fresh.linetable_len);
		if (err) {
			p->st->sym_linetable_err++;
			goto cleanup;
		}
		fresh.code = code;
		fresh.qualname_ptr = qn;
		fresh.filename_ptr = fn;
		fresh.linetable_ptr = lt;
		fresh.first_line = first;
		entry_clear(e);
		*e = fresh;
		memset(&fresh, 0, sizeof(fresh));
	}
resolved:
	out->function = e->function;
	out->file = e->file;
	out->first_line = e->first_line;
	out->line = e->first_line;
	out->no_line = true;
	if (instr != KILN_PY_INSTR_NONE) {
		err = python_linetable_line(e->linetable, e->linetable_len, e->first_line, instr,
					    &line);
		if (!err) {
			out->line = line;
			out->no_line = false;
		} else if (err == -EINVAL) {
			p->st->sym_linetable_err++;
		}
		err = 0;
	}
	if (out->no_line)
		p->st->sym_no_line++;
	p->st->sym_ok++;
cleanup:
	entry_clear(&fresh);
	return err;
}

char *python_frame_name(const struct python_frame *f, char *buf, size_t size)
{
	const char *base = f->file ? strrchr(f->file, '/') : NULL;

	snprintf(buf, size, "%s:%s", base ? base + 1 : (f->file ? f->file : "?"),
		 f->function ? f->function : "?");
	return buf;
}

void python_marker_text(uint64_t word, char *buf, size_t size)
{
	uint32_t arg = (uint32_t)KILN_PY_MARKER_ARG(word);

	switch (KILN_PY_MARKER_REASON(word)) {
	case KILN_PY_MK_REFUSED:
		snprintf(buf, size, "[python: unsupported %u.%u]", arg >> 8, arg & 0xff);
		break;
	case KILN_PY_MK_TRUNCATED:
		snprintf(buf, size, "[python: truncated]");
		break;
	case KILN_PY_MK_READ_FAULT:
		snprintf(buf, size, "[python: frame unreadable]");
		break;
	case KILN_PY_MK_BAD_CODE:
		snprintf(buf, size, "[python: bad code object]");
		break;
	default:
		snprintf(buf, size, "[python: marker %u]",
			 (unsigned int)KILN_PY_MARKER_REASON(word));
		break;
	}
}
