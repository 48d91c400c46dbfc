// SPDX-License-Identifier: Apache-2.0
/* Kernel addresses through /proc/kallsyms, read once on first use. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/array.h"
#include "common/log.h"
#include "common/util.h"
#include "symbolize/symbolize_internal.h"

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
	struct ksym *ks = NULL;
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
	for (next = s->kbuf; (line = next_line(&next));) {
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
		err = array_reserve(&ks, &cap, nr + 1, sizeof(*ks), 65536);
		if (err)
			goto cleanup;
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
	/* The order has served: the same field now caches each function's name. */
	for (size_t i = 0; i < nr; i++)
		ks[i].fname = NULL;
	s->ksyms = ks;
	s->nr_ksyms = nr;
	s->kbuf_len = len;
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

	sym_frame_init(out, SYM_FRAME_KERNEL, addr);
	out->elf_vaddr = addr;
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
	/* Kernel functions are split and cloned too (.cold, .isra.0): named as the function. */
	out->system_name = k->name;
	if (!k->fname) {
		/* The array is S's: the lookup caches the name in the entry it found. */
		struct ksym *w = &s->ksyms[lo - 1];

		w->fname = k->name[symbolizer__function_len(k->name)] ? function_name(s, k->name)
								      : k->name;
		if (!w->fname)
			return -ENOMEM;
	}
	out->name = k->fname;
	out->module = k->module;
	out->sym_offset = addr - k->addr;
	return 0;
}
