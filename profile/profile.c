// SPDX-License-Identifier: Apache-2.0
/*
 * Every table keeps entry 0 as "none", so an index doubles as the pprof id of the entry
 * (pprof ids start at 1 and 0 means "absent"). Tables only grow: a profile lives for one
 * recording or one window.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "profile/profile.h"
#include "profile/profile_internal.h"
#include "common/htab.h"

static const char kernel_module[] = "[kernel.kallsyms]";

int profile_grow(void **arr, size_t *cap, size_t need, size_t elsz)
{
	size_t ncap;
	void *na;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap : 16;
	while (ncap < need)
		ncap *= 2;
	na = realloc(*arr, ncap * elsz);
	if (!na)
		return -ENOMEM;
	*arr = na;
	*cap = ncap;
	return 0;
}

struct profile *profile__new(uint64_t period_ns)
{
	struct profile *p = NULL;

	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->period_ns = period_ns;
	/* The empty entry 0 of each table. */
	if (profile_grow((void **)&p->strs, &p->strs_cap, 1, sizeof(*p->strs)) ||
	    profile_grow((void **)&p->maps, &p->maps_cap, 1, sizeof(*p->maps)) ||
	    profile_grow((void **)&p->funcs, &p->funcs_cap, 1, sizeof(*p->funcs)) ||
	    profile_grow((void **)&p->locs, &p->locs_cap, 1, sizeof(*p->locs)) ||
	    profile_grow((void **)&p->stacks, &p->stacks_cap, 1, sizeof(*p->stacks)))
		goto cleanup;
	p->strs[0] = strdup("");
	if (!p->strs[0])
		goto cleanup;
	p->nr_strs = 1;
	memset(&p->maps[0], 0, sizeof(p->maps[0]));
	memset(&p->funcs[0], 0, sizeof(p->funcs[0]));
	memset(&p->locs[0], 0, sizeof(p->locs[0]));
	memset(&p->stacks[0], 0, sizeof(p->stacks[0]));
	p->nr_maps = p->nr_funcs = p->nr_locs = p->nr_stacks = 1;
	return p;
cleanup:
	profile__free(p);
	errno = ENOMEM;
	return NULL;
}

void profile__free(struct profile *p)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; i < p->nr_strs; i++)
		free(p->strs[i]);
	free(p->strs);
	free(p->maps);
	free(p->funcs);
	free(p->locs);
	free(p->stacks);
	free(p->stack_locs);
	free(p->samples);
	free(p->scratch);
	free(p->fents);
	htab__release(&p->fents_idx);
	free(p->str_ptrs);
	htab__release(&p->str_ptrs_idx);
	htab__release(&p->strs_idx);
	htab__release(&p->maps_idx);
	htab__release(&p->funcs_idx);
	htab__release(&p->locs_idx);
	htab__release(&p->stacks_idx);
	htab__release(&p->samples_idx);
	free(p);
}

void profile__trust_frame_strings(struct profile *p)
{
	p->stable_strs = true;
}

void profile__set_time(struct profile *p, uint64_t start_ns, uint64_t duration_ns)
{
	p->start_ns = start_ns;
	p->duration_ns = duration_ns;
}

uint64_t profile__total(const struct profile *p)
{
	return p->total;
}

uint64_t profile__nr_stacks(const struct profile *p)
{
	return p->nr_stacks - 1;
}

/* Strings. */

static bool str_eq(uint64_t val, const void *key, void *ctx)
{
	const struct profile *p = ctx;

	return strcmp(p->strs[val], key) == 0;
}

static uint64_t str_hash(const char *s)
{
	return htab_hash_bytes(s, strlen(s), 0);
}

int profile__find_str(const struct profile *p, const char *s, uint32_t *idx)
{
	uint64_t val;

	if (!s || !*s) {
		*idx = 0;
		return 0;
	}
	if (!htab__find(&p->strs_idx, str_hash(s), str_eq, s, (void *)p, &val))
		return -ENOENT;
	*idx = (uint32_t)val;
	return 0;
}

static int intern(struct profile *p, const char *s, uint32_t *idx)
{
	char *copy = NULL;
	uint64_t hash, val;
	size_t len;
	int err;

	if (!s || !*s) {
		*idx = 0;
		return 0;
	}
	/* One strlen and one hash for the lookup, the insert and the copy. */
	len = strlen(s);
	hash = htab_hash_bytes(s, len, 0);
	if (htab__find(&p->strs_idx, hash, str_eq, s, p, &val)) {
		*idx = (uint32_t)val;
		return 0;
	}
	err = profile_grow((void **)&p->strs, &p->strs_cap, p->nr_strs + 1, sizeof(*p->strs));
	if (err)
		goto cleanup;
	copy = malloc(len + 1);
	if (!copy) {
		err = -ENOMEM;
		goto cleanup;
	}
	memcpy(copy, s, len + 1);
	err = htab__insert(&p->strs_idx, hash, p->nr_strs);
	if (err)
		goto cleanup;
	p->strs[p->nr_strs] = copy;
	copy = NULL;
	*idx = (uint32_t)p->nr_strs++;
cleanup:
	free(copy);
	return err;
}

static bool str_ptr_eq(uint64_t val, const void *key, void *ctx)
{
	return ((const struct profile *)ctx)->str_ptrs[val].s == key;
}

/*
 * intern() for a frame's strings: with stable_strs, by address first (a hash of the pointer
 * and one compare), by content only for an address not met before. At density most of a
 * window's locations are new to its profile, and each one's module, build id and names were
 * measured and hashed, then compared byte by byte, although they are mostly pointers the
 * symbolizer handed out before (one module for many locations, a function's names for each
 * of its call sites).
 */
static int intern_frame_str(struct profile *p, const char *s, uint32_t *idx)
{
	uint64_t hash, val;
	int err;

	if (!p->stable_strs)
		return intern(p, s, idx);
	if (!s) {
		*idx = 0;
		return 0;
	}
	hash = htab_hash_u64((uintptr_t)s, 5);
	if (htab__find(&p->str_ptrs_idx, hash, str_ptr_eq, s, p, &val)) {
		*idx = p->str_ptrs[val].idx;
		return 0;
	}
	err = intern(p, s, idx);
	if (!err)
		err = profile_grow((void **)&p->str_ptrs, &p->str_ptrs_cap, p->nr_str_ptrs + 1,
				   sizeof(*p->str_ptrs));
	if (!err)
		err = htab__insert(&p->str_ptrs_idx, hash, p->nr_str_ptrs);
	if (err)
		return err;
	p->str_ptrs[p->nr_str_ptrs].s = s;
	p->str_ptrs[p->nr_str_ptrs].idx = *idx;
	p->nr_str_ptrs++;
	return 0;
}

/* Mappings, functions, locations: fixed-size keys compared field by field. */

static uint64_t map_hash(const struct profile_mapping *m)
{
	uint64_t h = htab_hash_u64(m->start, m->file);

	h = htab_hash_u64(m->limit ^ h, m->offset);
	return htab_hash_u64(h, ((uint64_t)m->build_id << 1) | m->kernel);
}

static bool map_eq(uint64_t val, const void *key, void *ctx)
{
	const struct profile_mapping *a = &((struct profile *)ctx)->maps[val], *b = key;

	return a->start == b->start && a->limit == b->limit && a->offset == b->offset &&
	       a->file == b->file && a->build_id == b->build_id && a->kernel == b->kernel;
}

static uint64_t func_hash(const struct profile_function *f)
{
	return htab_hash_u64(((uint64_t)f->name << 32) | f->file, f->system_name + 1ULL);
}

static bool func_eq(uint64_t val, const void *key, void *ctx)
{
	const struct profile_function *a = &((struct profile *)ctx)->funcs[val], *b = key;

	/* Rust legacy names differing only in their hash demangle alike: keep both. */
	return a->name == b->name && a->file == b->file && a->system_name == b->system_name;
}

static uint64_t loc_hash(const struct profile_location *l)
{
	uint64_t h = htab_hash_u64(l->addr, l->mapping);

	h = htab_hash_u64(h, l->line);
	return htab_hash_u64(h, ((uint64_t)l->func << 8) | l->kind);
}

static bool loc_eq(uint64_t val, const void *key, void *ctx)
{
	const struct profile_location *a = &((struct profile *)ctx)->locs[val], *b = key;

	return a->addr == b->addr && a->mapping == b->mapping && a->func == b->func &&
	       a->kind == b->kind && a->line == b->line;
}

/*
 * Appends *E (of ELSZ bytes) to the table ARR/NR/CAP and enters it in IDX under HASH, for a
 * caller that has just looked it up and missed.
 */
static int append(struct htab *idx, void **arr, size_t *nr, size_t *cap, size_t elsz, const void *e,
		  uint64_t hash, uint32_t *out)
{
	int err;

	if (*nr >= UINT32_MAX)
		return -E2BIG;
	err = profile_grow(arr, cap, *nr + 1, elsz);
	if (err)
		return err;
	err = htab__insert(idx, hash, *nr);
	if (err)
		return err;
	memcpy((char *)*arr + *nr * elsz, e, elsz);
	*out = (uint32_t)(*nr)++;
	return 0;
}

/* Finds or appends *E (of ELSZ bytes) in the table ARR/NR/CAP indexed by IDX. */
static int dedup(struct profile *p, struct htab *idx, void **arr, size_t *nr, size_t *cap,
		 size_t elsz, const void *e, uint64_t hash, htab_eq_fn eq, uint32_t *out)
{
	uint64_t val;

	if (htab__find(idx, hash, eq, e, p, &val)) {
		*out = (uint32_t)val;
		return 0;
	}
	return append(idx, arr, nr, cap, elsz, e, hash, out);
}

static int add_location(struct profile *p, const struct sym_frame *f, uint32_t *out)
{
	bool kernel = f->kind == SYM_FRAME_KERNEL;
	bool python = f->kind == SYM_FRAME_PYTHON;
	const char *module = python ? NULL : f->module;
	struct profile_mapping m = { 0 };
	struct profile_function fn = { 0 };
	struct profile_location l = { 0 };
	int err;

	if (kernel && !module)
		module = kernel_module;
	l.kind = kernel ? SYM_FRAME_KERNEL : python ? SYM_FRAME_PYTHON : SYM_FRAME_NATIVE;
	/*
	 * A Python frame is (function, line): the same in every process that runs the code,
	 * whatever the code object's address.
	 */
	l.line = f->line;
	/*
	 * A user frame outside every known mapping keeps its raw address; otherwise the ELF
	 * virtual address, which is the same in every process that maps the file.
	 */
	l.addr = python ? 0 : kernel || !module ? f->addr : f->elf_vaddr;
	if (module) {
		m.kernel = kernel;
		m.start = f->map_start;
		m.limit = f->map_limit;
		m.offset = f->map_offset;
		err = intern_frame_str(p, module, &m.file);
		if (!err)
			err = intern_frame_str(p, f->build_id, &m.build_id);
		if (!err)
			err = dedup(p, &p->maps_idx, (void **)&p->maps, &p->nr_maps, &p->maps_cap,
				    sizeof(m), &m, map_hash(&m), map_eq, &l.mapping);
		if (err)
			return err;
	}
	if (f->name) {
		err = intern_frame_str(p, f->name, &fn.name);
		if (!err)
			err = intern_frame_str(p, f->system_name ? f->system_name : f->name,
					       &fn.system_name);
		if (!err)
			err = intern_frame_str(p, python ? f->file : module, &fn.file);
		if (!err)
			err = dedup(p, &p->funcs_idx, (void **)&p->funcs, &p->nr_funcs,
				    &p->funcs_cap, sizeof(fn), &fn, func_hash(&fn), func_eq,
				    &l.func);
		if (err)
			return err;
	}
	return dedup(p, &p->locs_idx, (void **)&p->locs, &p->nr_locs, &p->locs_cap, sizeof(l), &l,
		     loc_hash(&l), loc_eq, out);
}

/* The frame cache (profile__trust_frame_strings): fields and string addresses. */

/*
 * Every field is set (no memset of the 96 bytes first): entries are compared and hashed
 * field by field, so their padding is never read.
 */
static void frame_ent_of(const struct sym_frame *f, struct profile_frame_ent *e)
{
	e->module = f->module;
	e->build_id = f->build_id;
	e->name = f->name;
	e->system_name = f->system_name;
	e->addr = f->addr;
	e->elf_vaddr = f->elf_vaddr;
	e->map_start = f->map_start;
	e->map_limit = f->map_limit;
	e->map_offset = f->map_offset;
	e->kind = (uint32_t)f->kind;
	e->file = f->file;
	e->line = f->line;
	e->loc = 0;
}

static uint64_t frame_hash(const struct profile_frame_ent *e)
{
	uint64_t h = htab_hash_u64(e->addr, (uintptr_t)e->module);

	h = htab_hash_u64(h ^ e->elf_vaddr, (uintptr_t)e->name);
	return htab_hash_u64(h ^ e->map_start ^ ((uint64_t)e->line << 32), e->kind);
}

static bool frame_eq(uint64_t val, const void *key, void *ctx)
{
	const struct profile_frame_ent *a = &((struct profile *)ctx)->fents[val], *b = key;

	return a->addr == b->addr && a->elf_vaddr == b->elf_vaddr && a->module == b->module &&
	       a->name == b->name && a->system_name == b->system_name &&
	       a->build_id == b->build_id && a->map_start == b->map_start &&
	       a->map_limit == b->map_limit && a->map_offset == b->map_offset &&
	       a->kind == b->kind && a->file == b->file && a->line == b->line;
}

/* add_location() through the frame cache: a frame seen before costs one lookup. */
static int add_frame(struct profile *p, const struct sym_frame *f, uint32_t *out)
{
	struct profile_frame_ent e;
	uint64_t hash, val;
	uint32_t slot;
	int err;

	if (!p->stable_strs)
		return add_location(p, f, out);
	frame_ent_of(f, &e);
	hash = frame_hash(&e);
	if (htab__find(&p->fents_idx, hash, frame_eq, &e, p, &val)) {
		*out = p->fents[val].loc;
		return 0;
	}
	err = add_location(p, f, &e.loc);
	/* add_location() leaves the frame cache alone: the miss above still holds. */
	if (!err)
		err = append(&p->fents_idx, (void **)&p->fents, &p->nr_fents, &p->fents_cap,
			     sizeof(e), &e, hash, &slot);
	*out = e.loc;
	return err;
}

/* Stacks: variable-length location lists stored back to back in stack_locs. */

struct stack_key {
	const uint32_t *locs;
	uint32_t nr;
};

static bool stack_eq(uint64_t val, const void *key, void *ctx)
{
	const struct profile *p = ctx;
	const struct profile_stack *s = &p->stacks[val];
	const struct stack_key *k = key;

	/* An empty stack has no location array to compare (and memcmp must not see NULL). */
	return s->nr == k->nr &&
	       (!k->nr || !memcmp(p->stack_locs + s->off, k->locs, k->nr * sizeof(*k->locs)));
}

static int add_stack(struct profile *p, const uint32_t *locs, uint32_t nr, uint32_t *out)
{
	struct stack_key k = { locs, nr };
	uint64_t hash = htab_hash_bytes(locs, nr * sizeof(*locs), 2), val;
	int err;

	if (htab__find(&p->stacks_idx, hash, stack_eq, &k, p, &val)) {
		*out = (uint32_t)val;
		return 0;
	}
	err = profile_grow((void **)&p->stacks, &p->stacks_cap, p->nr_stacks + 1,
			   sizeof(*p->stacks));
	if (!err)
		err = profile_grow((void **)&p->stack_locs, &p->stack_locs_cap,
				   p->nr_stack_locs + nr, sizeof(*p->stack_locs));
	if (!err)
		err = htab__insert(&p->stacks_idx, hash, p->nr_stacks);
	if (err)
		return err;
	if (nr)
		memcpy(p->stack_locs + p->nr_stack_locs, locs, nr * sizeof(*locs));
	p->stacks[p->nr_stacks].off = p->nr_stack_locs;
	p->stacks[p->nr_stacks].nr = nr;
	p->nr_stack_locs += nr;
	*out = (uint32_t)p->nr_stacks++;
	return 0;
}

static uint64_t sample_hash(const struct profile_sample *s)
{
	uint64_t h = htab_hash_u64(((uint64_t)s->stack << 32) | s->comm, 3);

	return htab_hash_u64(h, ((uint64_t)s->tgid << 32) | s->pid);
}

static bool sample_eq(uint64_t val, const void *key, void *ctx)
{
	const struct profile_sample *a = &((struct profile *)ctx)->samples[val], *b = key;

	return a->stack == b->stack && a->comm == b->comm && a->tgid == b->tgid && a->pid == b->pid;
}

int profile__add(struct profile *p, const struct sym_frame *frames, size_t nr_frames,
		 const char *comm, uint32_t tgid, uint32_t pid, uint64_t count)
{
	struct profile_sample s = { 0 };
	uint32_t *locs = NULL, idx;
	uint64_t hash, val;
	size_t i;
	int err = 0;

	if (nr_frames > UINT32_MAX)
		return -E2BIG;
	err = profile_grow((void **)&p->scratch, &p->scratch_cap, nr_frames, sizeof(*p->scratch));
	if (err)
		return err;
	locs = p->scratch;
	for (i = 0; i < nr_frames; i++) {
		err = add_frame(p, &frames[i], &locs[i]);
		if (err)
			goto cleanup;
	}
	err = add_stack(p, locs, (uint32_t)nr_frames, &s.stack);
	if (err)
		goto cleanup;
	err = intern(p, comm, &s.comm);
	if (err)
		goto cleanup;
	s.tgid = tgid;
	s.pid = pid;
	hash = sample_hash(&s);
	if (htab__find(&p->samples_idx, hash, sample_eq, &s, p, &val)) {
		p->samples[val].count += count;
	} else {
		s.count = count;
		err = append(&p->samples_idx, (void **)&p->samples, &p->nr_samples, &p->samples_cap,
			     sizeof(s), &s, hash, &idx);
		if (err)
			goto cleanup;
	}
	p->total += count;
cleanup:
	return err;
}

/* Folded output. */

/* Folded lines use ';' between frames and the last space before the count: keep both out. */
static void put_clean(FILE *f, const char *s)
{
	for (; *s; s++)
		fputc(*s == ';' || *s == '\n' ? '_' : *s, f);
}

const char *profile__loc_name(const struct profile *p, uint32_t loc, char *buf, size_t len)
{
	const struct profile_location *l = &p->locs[loc];
	const char *module, *base;
	int n;

	if (l->func && l->kind == SYM_FRAME_PYTHON)
		return profile_python_name(p->strs[p->funcs[l->func].file],
					   p->strs[p->funcs[l->func].name], buf, len);
	if (l->func) {
		snprintf(buf, len, "%s", p->strs[p->funcs[l->func].name]);
		return buf;
	}
	if (!l->mapping || l->kind == SYM_FRAME_KERNEL) {
		snprintf(buf, len, "[unknown]");
		return buf;
	}
	module = p->strs[p->maps[l->mapping].file];
	base = strrchr(module, '/');
	base = base ? base + 1 : module;
	n = (int)strlen(base);
	/* "[vdso]" becomes "[vdso+0x...]", not "[[vdso]+0x...]". */
	if (n >= 2 && base[0] == '[' && base[n - 1] == ']') {
		base++;
		n -= 2;
	}
	snprintf(buf, len, "[%.*s+0x%llx]", n, base, (unsigned long long)l->addr);
	return buf;
}

static void put_frame(const struct profile *p, FILE *f, uint32_t loc)
{
	char buf[1024], *c;

	profile__loc_name(p, loc, buf, sizeof(buf));
	/* A module's name has no spaces in a folded line (the count follows the last one). */
	if (!p->locs[loc].func)
		for (c = buf; *c; c++)
			*c = *c == ' ' ? '_' : *c;
	put_clean(f, buf);
	/* flamegraph.pl colours frames ending in _[k] as kernel frames. */
	if (p->locs[loc].kind == SYM_FRAME_KERNEL)
		fputs("_[k]", f);
}

struct folded_ctx {
	char **lines;
};

static bool folded_eq(uint64_t val, const void *key, void *ctx)
{
	return strcmp(((struct folded_ctx *)ctx)->lines[val], key) == 0;
}

int profile__write_folded(const struct profile *p, FILE *f)
{
	struct folded_ctx ctx = { NULL };
	struct htab idx = { 0 };
	uint64_t *counts = NULL, val, hash;
	size_t nr = 0, i, len;
	char *line = NULL;
	FILE *m = NULL;
	int err = 0;

	/*
	 * Lines are merged on their text, not on stack ids: stacks that differ only by pid,
	 * or by addresses inside the same functions, are one line, as flamegraph.pl expects.
	 * Lines keep first-seen order.
	 */
	if (p->nr_samples) {
		ctx.lines = calloc(p->nr_samples, sizeof(*ctx.lines));
		counts = calloc(p->nr_samples, sizeof(*counts));
		if (!ctx.lines || !counts) {
			err = -ENOMEM;
			goto cleanup;
		}
	}
	for (i = 0; i < p->nr_samples; i++) {
		const struct profile_sample *s = &p->samples[i];
		const struct profile_stack *st = &p->stacks[s->stack];
		uint32_t j;

		m = open_memstream(&line, &len);
		if (!m) {
			err = -ENOMEM;
			goto cleanup;
		}
		put_clean(m, p->strs[s->comm]);
		for (j = st->nr; j > 0; j--) {
			fputc(';', m);
			put_frame(p, m, p->stack_locs[st->off + j - 1]);
		}
		if (fclose(m)) {
			m = NULL;
			err = -ENOMEM;
			goto cleanup;
		}
		m = NULL;
		hash = htab_hash_bytes(line, len, 4);
		if (htab__find(&idx, hash, folded_eq, line, &ctx, &val)) {
			counts[val] += s->count;
			free(line);
			line = NULL;
			continue;
		}
		err = htab__insert(&idx, hash, nr);
		if (err)
			goto cleanup;
		ctx.lines[nr] = line;
		line = NULL;
		counts[nr++] = s->count;
	}
	for (i = 0; i < nr; i++)
		fprintf(f, "%s %llu\n", ctx.lines[i], (unsigned long long)counts[i]);
	if (fflush(f) || ferror(f))
		err = -EIO;
cleanup:
	if (m)
		fclose(m);
	free(line);
	htab__release(&idx);
	for (i = 0; i < nr; i++)
		free(ctx.lines[i]);
	free(ctx.lines);
	free(counts);
	return err;
}
