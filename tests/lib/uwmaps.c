// SPDX-License-Identifier: Apache-2.0
#include "tests/lib/uwmaps.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "bpf/unwind.h"

int kiln_test_uw_maps__create(struct unwinder_maps *m, uint32_t idle_max, bool mmapable)
{
	LIBBPF_OPTS(bpf_map_create_opts, lpm, .map_flags = BPF_F_NO_PREALLOC);
	LIBBPF_OPTS(bpf_map_create_opts, dopts, .map_flags = mmapable ? BPF_F_MMAPABLE : 0);
	int err = 0;

	memset(m, 0, sizeof(*m));
	m->pages_max = 4096;
	m->deltas_max = 1 << 20;
	m->rules_max = KILN_UW_MAX_RULES;
	m->idle_max = idle_max;
	m->mappings_fd = bpf_map_create(BPF_MAP_TYPE_LPM_TRIE, "t_uw_mappings",
					sizeof(struct kiln_uw_map_key),
					sizeof(struct kiln_uw_mapping), 4096, &lpm);
	if (m->mappings_fd < 0)
		err = -errno;
	m->pages_fd = bpf_map_create(BPF_MAP_TYPE_HASH, "t_uw_pages",
				     sizeof(struct kiln_uw_page_key), sizeof(struct kiln_uw_page),
				     m->pages_max, NULL);
	if (!err && m->pages_fd < 0)
		err = -errno;
	m->deltas_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "t_uw_deltas", sizeof(uint32_t),
				      sizeof(struct kiln_uw_delta), m->deltas_max, &dopts);
	if (!err && m->deltas_fd < 0)
		err = -errno;
	m->rules_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "t_uw_rules", sizeof(uint32_t),
				     sizeof(struct kiln_uw_rule), m->rules_max, NULL);
	if (!err && m->rules_fd < 0)
		err = -errno;
	m->files_max = 4096;
	m->files_fd = bpf_map_create(BPF_MAP_TYPE_HASH, "t_uw_files",
				     sizeof(struct kiln_uw_file_key), sizeof(struct kiln_uw_file),
				     m->files_max, NULL);
	if (!err && m->files_fd < 0)
		err = -errno;
	/* The unwinder only deletes from it: the value's shape is the BPF program's business. */
	m->vma_cache_fd = bpf_map_create(BPF_MAP_TYPE_HASH, "t_uw_vma_cache", sizeof(uint32_t),
					 sizeof(uint64_t), 64, NULL);
	if (!err && m->vma_cache_fd < 0)
		err = -errno;
	if (err)
		kiln_test_uw_maps__close(m);
	return err;
}

void kiln_test_uw_maps__close(struct unwinder_maps *m)
{
	int *fds[] = { &m->mappings_fd, &m->pages_fd, &m->deltas_fd,
		       &m->rules_fd,	&m->files_fd, &m->vma_cache_fd };

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}
