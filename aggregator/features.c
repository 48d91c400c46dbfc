// SPDX-License-Identifier: Apache-2.0
/*
 * Which of the kernel features kiln's BPF sampler uses the running kernel has. Without this
 * an old kernel refuses the whole object with a verifier log naming an "unknown func" deep in
 * one program; probing each feature first lets kiln say in one line what is missing and which
 * kernel has it, and drop what it can live without (the Python walk).
 */
#include "aggregator/features.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <linux/io_uring.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "common/log.h"

struct feature_desc {
	const char *name; /* KILN_HIDE_FEATURES spelling */
	const char *what; /* in messages */
	const char *kernel; /* first mainline release with it */
	bool optional; /* kiln falls back without it */
};

static const struct feature_desc descs[KILN_F_NR] = {
	[KILN_F_BTF] = { "btf", "kernel BTF (/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF)",
			 "5.4", false },
	[KILN_F_PERF_EVENT] = { "perf_event", "BPF programs on perf events", "4.9", false },
	[KILN_F_RINGBUF] = { "ringbuf", "the BPF ring buffer map", "5.8", false },
	[KILN_F_LPM_TRIE] = { "lpm_trie", "the LPM trie map", "4.11", false },
	[KILN_F_LRU_HASH] = { "lru_hash", "the LRU hash map", "4.10", false },
	[KILN_F_PERCPU_ARRAY] = { "percpu_array", "the per-CPU array map", "4.6", false },
	[KILN_F_STACK_TRACE] = { "stack_trace", "the stack trace map", "4.6", false },
	[KILN_F_MAP_IN_MAP] = { "map_in_map", "the array-of-maps map", "4.12", false },
	[KILN_F_TAIL_CALL] = { "tail_call", "tail calls (program arrays)", "4.2", false },
	[KILN_F_GET_STACK] = { "get_stack", "the bpf_get_stack helper", "4.18", false },
	[KILN_F_CGROUP_ID] = { "cgroup_id", "the bpf_get_current_cgroup_id helper", "4.18", false },
	[KILN_F_PROBE_READ_USER] = { "probe_read_user", "the bpf_probe_read_user helper", "5.5",
				     false },
	[KILN_F_TASK_BTF] = { "task_btf", "the bpf_get_current_task_btf helper", "5.11", false },
	[KILN_F_TASK_PT_REGS] = { "task_pt_regs", "the bpf_task_pt_regs helper", "5.15", false },
	[KILN_F_BPF_LOOP] = { "bpf_loop", "the bpf_loop helper", "5.17", true },
	[KILN_F_FIND_VMA] = { "find_vma", "the bpf_find_vma helper", "5.17", true },
	[KILN_F_IO_URING] = { "io_uring", "io_uring", "5.6", false },
};

const char *features__name(enum kiln_feature id)
{
	return id < KILN_F_NR ? descs[id].name : "?";
}

const char *features__kernel(enum kiln_feature id)
{
	return id < KILN_F_NR ? descs[id].kernel : "?";
}

/* 1 or 0 from a libbpf probe; an error (no privilege, a libbpf bug) is not proof of absence. */
static bool probed(int ret)
{
	return ret != 0;
}

static bool have_helper(enum bpf_func_id helper)
{
	return probed(libbpf_probe_bpf_helper(BPF_PROG_TYPE_PERF_EVENT, helper, NULL));
}

static bool have_map(enum bpf_map_type type)
{
	return probed(libbpf_probe_bpf_map_type(type, NULL));
}

/*
 * A two-instruction perf_event program. libbpf's probe reads EPERM (no CAP_PERFMON, which
 * loading this program type needs) as absence; only EINVAL (unknown type) is.
 */
static bool have_perf_event_prog(void)
{
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int fd = bpf_prog_load(BPF_PROG_TYPE_PERF_EVENT, NULL, "GPL", insns, 2, NULL);

	if (fd >= 0) {
		close(fd);
		return true;
	}
	return errno != EINVAL;
}

/*
 * io_uring_setup of a one-entry ring. ENOSYS also comes from seccomp profiles that forbid
 * io_uring (current container runtimes' defaults do) and EPERM from kernel.io_uring_disabled:
 * the errno is kept for the message.
 */
static bool have_io_uring(int *err)
{
	struct io_uring_params p;
	int fd;

	memset(&p, 0, sizeof(p));
	fd = (int)syscall(__NR_io_uring_setup, 1, &p);
	if (fd < 0) {
		*err = errno;
		return false;
	}
	close(fd);
	return true;
}

/* Marks the features KILN_HIDE_FEATURES names as hidden; -EINVAL for an unknown name. */
static int hide(struct kiln_features *f, const char *list)
{
	char *copy, *tok, *save = NULL;
	int i, err = 0;

	copy = strdup(list);
	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		for (i = 0; i < KILN_F_NR && strcmp(tok, descs[i].name); i++)
			;
		if (i == KILN_F_NR) {
			char names[512];
			size_t off = 0;

			for (i = 0; i < KILN_F_NR && off < sizeof(names); i++)
				off += (size_t)snprintf(names + off, sizeof(names) - off, "%s%s",
							i ? ", " : "", descs[i].name);
			log_error("KILN_HIDE_FEATURES: unknown feature '%s' (expected a "
				  "comma-separated list of: %s)",
				  tok, names);
			err = -EINVAL;
			goto cleanup;
		}
		f->hidden[i] = true;
	}
cleanup:
	free(copy);
	return err;
}

/* Every feature but BTF (a file, not a probe). */
static void probe_all(struct kiln_features *f)
{
	f->have[KILN_F_PERF_EVENT] = have_perf_event_prog();
	f->have[KILN_F_RINGBUF] = have_map(BPF_MAP_TYPE_RINGBUF);
	f->have[KILN_F_LPM_TRIE] = have_map(BPF_MAP_TYPE_LPM_TRIE);
	f->have[KILN_F_LRU_HASH] = have_map(BPF_MAP_TYPE_LRU_HASH);
	f->have[KILN_F_PERCPU_ARRAY] = have_map(BPF_MAP_TYPE_PERCPU_ARRAY);
	f->have[KILN_F_STACK_TRACE] = have_map(BPF_MAP_TYPE_STACK_TRACE);
	f->have[KILN_F_MAP_IN_MAP] = have_map(BPF_MAP_TYPE_ARRAY_OF_MAPS);
	f->have[KILN_F_TAIL_CALL] = have_map(BPF_MAP_TYPE_PROG_ARRAY) &&
				    have_helper(BPF_FUNC_tail_call);
	f->have[KILN_F_GET_STACK] = have_helper(BPF_FUNC_get_stack);
	f->have[KILN_F_CGROUP_ID] = have_helper(BPF_FUNC_get_current_cgroup_id);
	f->have[KILN_F_PROBE_READ_USER] = have_helper(BPF_FUNC_probe_read_user);
	/* tp_btf programs (5.5) come with it: libbpf cannot probe that program type alone. */
	f->have[KILN_F_TASK_BTF] = have_helper(BPF_FUNC_get_current_task_btf);
	f->have[KILN_F_TASK_PT_REGS] = have_helper(BPF_FUNC_task_pt_regs);
	f->have[KILN_F_BPF_LOOP] = have_helper(BPF_FUNC_loop);
	f->have[KILN_F_FIND_VMA] = have_helper(BPF_FUNC_find_vma);
}

/* Why io_uring_setup failed (0: it did not); read by the message. */
static int io_uring_errno;

/* features__prepare refused for a missing required feature: the callers add nothing. */
static bool refused;

bool features__refused(void)
{
	return refused;
}

int features__probe(struct kiln_features *f)
{
	const char *env = getenv("KILN_HIDE_FEATURES");
	int i, fd, err;

	memset(f, 0, sizeof(*f));
	/*
	 * libbpf's probes read any refusal as absence: where even a plain array cannot be made
	 * (no CAP_BPF, a seccomp profile without bpf()), nothing is known, and the sampler's
	 * own load reports the privilege.
	 */
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, NULL, 4, 4, 1, NULL);
	if (fd < 0) {
		log_info("cannot probe the kernel's BPF features (%s): assuming them",
			 strerror(errno));
		for (i = 0; i < KILN_F_NR; i++)
			f->have[i] = true;
	} else {
		close(fd);
		probe_all(f);
	}
	f->have[KILN_F_BTF] = access("/sys/kernel/btf/vmlinux", R_OK) == 0;
	f->have[KILN_F_IO_URING] = have_io_uring(&io_uring_errno);
	if (env && *env) {
		err = hide(f, env);
		if (err)
			return err;
	}
	for (i = 0; i < KILN_F_NR; i++)
		if (f->hidden[i])
			f->have[i] = false;
	return 0;
}

/* " (hidden by KILN_HIDE_FEATURES)" after a feature the test hook removed, else "". */
static const char *hidden_note(const struct kiln_features *f, int i)
{
	return f->hidden[i] ? " [hidden by KILN_HIDE_FEATURES]" : "";
}

/* Appends to BUF (SIZE bytes, *OFF used), truncating at its end. */
static void append(char *buf, size_t size, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*off + 1 >= size)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *off, size - *off, fmt, ap);
	va_end(ap);
	if (n > 0)
		*off = *off + (size_t)n < size ? *off + (size_t)n : size - 1;
}

/* Logs the missing required features in one message; -EOPNOTSUPP if any. */
static int report_missing(const struct kiln_features *f, const char *release)
{
	const char *newest = NULL;
	char list[1024], need[64] = "";
	size_t off = 0;
	int i, n = 0;

	list[0] = 0;
	for (i = 0; i < KILN_F_NR; i++) {
		if (f->have[i] || descs[i].optional)
			continue;
		append(list, sizeof(list), &off, "%s%s (Linux %s)%s", n++ ? ", " : "",
		       descs[i].what, descs[i].kernel, hidden_note(f, i));
		/* A seccomp profile forbids io_uring on any kernel: not a version matter. */
		if (i == KILN_F_IO_URING && io_uring_errno) {
			append(list, sizeof(list), &off,
			       " [io_uring_setup: %s: an older kernel, kernel.io_uring_disabled, "
			       "or a seccomp profile forbidding io_uring, as container runtimes' "
			       "defaults do]",
			       strerror(io_uring_errno));
			continue;
		}
		if (!newest || strverscmp(descs[i].kernel, newest) > 0)
			newest = descs[i].kernel;
	}
	if (!n)
		return 0;
	if (newest)
		snprintf(need, sizeof(need), "; kiln needs Linux %s or later", newest);
	log_error("kiln cannot start on kernel %s: missing %s%s (docs/deployment.md, Kernels)",
		  release, list, need);
	return -EOPNOTSUPP;
}

int features__prepare(struct bpf_object *obj, bool *no_python, bool *have_find_vma)
{
	static struct kiln_features f;
	static bool done, reported;
	struct bpf_program *pywalk;
	struct utsname u;
	const char *release = "?";
	int err = 0;

	if (!done) {
		err = features__probe(&f);
		if (err)
			return err;
		done = true;
	}
	if (!uname(&u))
		release = u.release;
	if (!reported) {
		err = report_missing(&f, release);
		if (err) {
			refused = true;
			return err;
		}
	}
	if (!f.have[KILN_F_BPF_LOOP]) {
		/*
		 * The Python walk is its own program, reached by a tail call only for a process
		 * user space registered as CPython: with no registrations the native walk counts
		 * every sample itself, whole.
		 */
		pywalk = bpf_object__find_program_by_name(obj, "kiln_pywalk");
		if (pywalk)
			bpf_program__set_autoload(pywalk, false);
		if (!reported && !*no_python)
			log_warn("kernel %s lacks %s (Linux %s)%s: Python frames are not walked; "
				 "native stacks are whole",
				 release, descs[KILN_F_BPF_LOOP].what,
				 descs[KILN_F_BPF_LOOP].kernel, hidden_note(&f, KILN_F_BPF_LOOP));
		*no_python = true;
	}
	*have_find_vma = f.have[KILN_F_FIND_VMA];
	if (!*have_find_vma && !reported)
		log_info(
			"kernel %s lacks %s (Linux %s)%s: a new process's first samples are walked "
			"by frame pointers until its mappings are read",
			release, descs[KILN_F_FIND_VMA].what, descs[KILN_F_FIND_VMA].kernel,
			hidden_note(&f, KILN_F_FIND_VMA));
	reported = true;
	return 0;
}

int features__loaded(struct bpf_object *obj)
{
	struct bpf_program *pywalk = bpf_object__find_program_by_name(obj, "kiln_pywalk");
	struct bpf_map *progs = bpf_object__find_map_by_name(obj, "walk_progs");
	uint32_t slot = 1;
	int fd;

	if (!pywalk || !progs)
		return -ENOENT;
	fd = bpf_program__fd(pywalk);
	if (fd < 0)
		return 0; /* not loaded: features__prepare said why */
	if (bpf_map_update_elem(bpf_map__fd(progs), &slot, &fd, BPF_ANY))
		return -errno;
	return 0;
}
