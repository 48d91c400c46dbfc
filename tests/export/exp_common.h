/* SPDX-License-Identifier: Apache-2.0 */
/* Test helpers for the exporter: deterministic window records, as the agent would write. */
#ifndef KILN_TESTS_EXPORT_COMMON_H
#define KILN_TESTS_EXPORT_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile/wrec.h"

/*
 * Builds the profile of window SEQ for workload W (of NSTACKS distinct stacks, counts
 * derived from SEQ and W), encodes it as a record into a malloc'd 8-aligned buffer and
 * returns it with *LEN and *TOTAL (its sample count); NULL on failure.
 */
static inline void *exp_make_record(uint64_t seq, unsigned int w, unsigned int nstacks, size_t *len,
				    uint64_t *total)
{
	static const char *const kinds[] = { "deployment", "statefulset", "daemonset" };
	char name[64], key[96], cid[80], pod[64], fn[8][48], comm[16];
	struct sym_frame f[8];
	struct wrec_identity id = { 0 };
	struct wrec_window win = { 0 };
	struct profile *p = profile__new(52631578); /* 19 Hz */
	void *buf = NULL;
	unsigned int s, k, depth;

	if (!p)
		return NULL;
	snprintf(name, sizeof(name), "svc-%u", w);
	snprintf(key, sizeof(key), "k8s/shop/%s/svc-%u", kinds[w % 3], w);
	snprintf(cid, sizeof(cid), "%064x", w + 1);
	snprintf(pod, sizeof(pod), "svc-%u-7d9f", w);
	snprintf(comm, sizeof(comm), "svc%u", w);
	id.field[WREC_ID_KEY] = key;
	id.field[WREC_ID_NAME] = name;
	id.field[WREC_ID_KIND] = "pod";
	id.field[WREC_ID_HOST] = "node-1";
	id.field[WREC_ID_EXE_NAME] = comm;
	id.field[WREC_ID_CONTAINER_ID] = cid;
	id.field[WREC_ID_K8S_NAMESPACE] = "shop";
	id.field[WREC_ID_K8S_POD] = pod;
	id.field[WREC_ID_K8S_CONTAINER] = "main";
	id.field[WREC_ID_K8S_WL_KIND] = kinds[w % 3];
	id.field[WREC_ID_K8S_WL_NAME] = name;
	*total = 0;
	for (s = 0; s < nstacks; s++) {
		depth = 3 + s % 5;
		memset(f, 0, sizeof(f));
		for (k = 0; k < depth; k++) {
			snprintf(fn[k], sizeof(fn[k]), "fn_%u_%u", (s * 7 + k) % 50, k);
			f[k].kind = k == 0 && s % 4 == 0 ? SYM_FRAME_KERNEL : SYM_FRAME_NATIVE;
			if (f[k].kind == SYM_FRAME_KERNEL) {
				f[k].module = "[kernel.kallsyms]";
				f[k].addr = f[k].elf_vaddr = 0xffffffff81000000ull + s * 64;
			} else {
				f[k].module = k % 2 ? "/usr/lib/libc.so.6" : "/app/server";
				f[k].build_id = k % 2 ? "aabbccdd" : "0123456789abcdef";
				f[k].map_start = 0x400000;
				f[k].map_limit = 0x800000;
				f[k].elf_vaddr = 0x1000 + ((s * 7 + k) % 50) * 0x40;
				f[k].addr = f[k].map_start + f[k].elf_vaddr;
			}
			f[k].name = s % 9 == 8 && k == 1 ? NULL : fn[k];
		}
		uint64_t cnt = 1 + (seq * 31 + w * 7 + s) % 13;

		if (profile__add(p, f, depth, comm, 1000 + w, 1000 + w + s % 3, cnt))
			goto cleanup;
		*total += cnt;
	}
	win.seq = seq;
	win.start_ns = 1700000000000000000ull + seq * 1000000000ull;
	win.duration_ns = 1000000000ull;
	win.period_ns = 52631578;
	*len = wrec__size(p, &id);
	if (!*len)
		goto cleanup;
	buf = aligned_alloc(8, *len);
	if (buf && wrec__encode(p, &id, &win, buf, *len) != (ssize_t)*len) {
		free(buf);
		buf = NULL;
	}
cleanup:
	profile__free(p);
	return buf;
}

#endif
