// SPDX-License-Identifier: Apache-2.0
/*
 * kiln-bpfcheck: does kiln's BPF object load on this kernel, and what does each program cost
 * the verifier? Run inside each guest of `./dev.sh kernels` (bench/kernels.sh).
 *
 * Prints key=value lines:
 *   kernel=RELEASE
 *   feature NAME=yes|no        what kiln uses, probed on its own (helpers, map types, batch ops)
 *   prog NAME=ok insns=N verified_insns=N|n/a
 *   prog NAME=FAILED           followed by "  | " lines: the verifier's (or libbpf's) last lines,
 *                              from a second load of that program alone at log level 1
 *   load=ok|FAILED
 * and exits 0 when every program loaded, 1 when one did not, 2 on a usage or set-up error.
 *
 * insns is the verifier's "processed N insns" from its statistics log (log level 4, every
 * kernel kiln could run on); verified_insns is bpf_prog_info's copy of the same count, which
 * only kernels >= 5.16 fill in ("n/a" on older ones; "-" when the object as a whole did not
 * load, so that no program of it stayed loaded to be asked).
 *
 * libbpf loads the programs in order and stops at the first refusal; a refused program is then
 * left out and the object loaded again, so that every program gets its own verdict. Loads
 * after the first refusal may fail as a whole (the program array names the refused program):
 * the verdicts of the programs are read from their own logs, which the kernel wrote anyway.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bpf/profile.skel.h"

#define LOG_SIZE (16u << 20)
#define MAX_PROGS 16
#define TAIL_LINES 30
#define LIBBPF_LINES 64

/* libbpf's own messages, the last LIBBPF_LINES of them: why a load failed before a verifier. */
static char libbpf_lines[LIBBPF_LINES][512];
static unsigned int libbpf_next;

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	vsnprintf(libbpf_lines[libbpf_next % LIBBPF_LINES], sizeof(libbpf_lines[0]), fmt, ap);
	libbpf_next++;
	return 0;
}

/* Prints the last N non-empty lines of TEXT, each prefixed "  | ". */
static void print_tail(const char *text, unsigned int n)
{
	const char *p = text + strlen(text);
	unsigned int lines = 0;

	while (p > text && lines <= n) {
		p--;
		if (*p == '\n' && p[1] && p[1] != '\n')
			lines++;
	}
	if (lines > n)
		p++;
	while (*p) {
		const char *e = strchr(p, '\n');
		int len = e ? (int)(e - p) : (int)strlen(p);

		if (len)
			printf("  | %.*s\n", len, p);
		p += len + (e ? 1 : 0);
	}
}

/* The verifier's "processed N insns" count in LOG, or -1 when it has none. */
static long processed_insns(const char *log)
{
	const char *p = strstr(log, "processed ");

	return p ? strtol(p + 10, NULL, 10) : -1;
}

static const char *yes_no(bool b)
{
	return b ? "yes" : "no";
}

/* Arrays user space can mmap (>= 5.5): the count slots and user stacks are read so. */
static bool probe_mmapable(void)
{
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = BPF_F_MMAPABLE);
	int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "kiln_mmap", 4, 8, 1, &o);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static void print_features(void)
{
	printf("feature ringbuf=%s\n",
	       yes_no(libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL) == 1));
	printf("feature mmapable_array=%s\n", yes_no(probe_mmapable()));
	printf("feature bpf_task_pt_regs=%s\n",
	       yes_no(libbpf_probe_bpf_helper(BPF_PROG_TYPE_PERF_EVENT, BPF_FUNC_task_pt_regs,
					      NULL) == 1));
	printf("feature bpf_loop=%s\n",
	       yes_no(libbpf_probe_bpf_helper(BPF_PROG_TYPE_PERF_EVENT, BPF_FUNC_loop, NULL) == 1));
	printf("feature btf_vmlinux=%s\n", yes_no(access("/sys/kernel/btf/vmlinux", R_OK) == 0));
}

/* libbpf reported NAME's load as failed ("prog 'NAME': failed to load"). */
static bool refused_by_libbpf(const char *name)
{
	char needle[96];
	unsigned int k, first = libbpf_next > LIBBPF_LINES ? libbpf_next - LIBBPF_LINES : 0;

	snprintf(needle, sizeof(needle), "prog '%.63s': failed to load", name);
	for (k = first; k < libbpf_next; k++)
		if (strstr(libbpf_lines[k % LIBBPF_LINES], needle))
			return true;
	return false;
}

struct verdict {
	char name[64];
	bool tried, ok, off;
	long insns;
	long verified;
};

/*
 * One load of the object with the programs not marked OFF in V. Fills the verdict of each
 * program the kernel saw. Returns 0 when the whole object loaded, else -errno.
 */
static int load_once(struct verdict *v, unsigned int n, char *logs, int detail)
{
	struct profile_bpf *skel;
	struct bpf_program *prog;
	unsigned int i = 0;
	int err;

	skel = profile_bpf__open();
	if (!skel)
		return -errno;
	bpf_object__for_each_program(prog, skel->obj)
	{
		char *log = logs + (size_t)i * LOG_SIZE;

		if (i >= n)
			break;
		log[0] = 0;
		if (detail >= 0) {
			/* The refused program alone, with the verifier's path to the refusal. */
			bpf_program__set_autoload(prog, (int)i == detail);
			bpf_program__set_log_level(prog, 1 | 4);
		} else {
			bpf_program__set_autoload(prog, !v[i].off);
			/* Statistics only: a full log of a large program overflows any buffer. */
			bpf_program__set_log_level(prog, 4);
		}
		bpf_program__set_log_buf(prog, log, LOG_SIZE);
		i++;
	}
	err = profile_bpf__load(skel);
	i = 0;
	bpf_object__for_each_program(prog, skel->obj)
	{
		const char *log = logs + (size_t)i * LOG_SIZE;
		struct bpf_prog_info info;
		__u32 len = sizeof(info);
		int fd = bpf_program__fd(prog);

		if (i >= n)
			break;
		if (detail < 0 && !v[i].off && (log[0] || fd >= 0)) {
			v[i].tried = true;
			v[i].insns = processed_insns(log);
			v[i].ok = fd >= 0 || (v[i].insns >= 0 && !refused_by_libbpf(v[i].name));
			memset(&info, 0, sizeof(info));
			if (fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len) &&
			    len > offsetof(struct bpf_prog_info, verified_insns) &&
			    info.verified_insns)
				v[i].verified = info.verified_insns;
		}
		i++;
	}
	profile_bpf__destroy(skel);
	return err;
}

int main(void)
{
	struct verdict v[MAX_PROGS];
	struct profile_bpf *skel;
	struct bpf_program *prog;
	unsigned int n = 0, i, round;
	struct utsname u;
	char *logs = NULL;
	bool all_ok = true;
	int err, ret = 2;

	libbpf_set_print(libbpf_log);
	uname(&u);
	printf("kernel=%s\n", u.release);
	print_features();

	/* The program names, in the object's order. */
	skel = profile_bpf__open();
	if (!skel) {
		fprintf(stderr, "kiln-bpfcheck: opening the BPF object: %s\n", strerror(errno));
		goto cleanup;
	}
	memset(v, 0, sizeof(v));
	bpf_object__for_each_program(prog, skel->obj)
	{
		if (n == MAX_PROGS)
			break;
		snprintf(v[n].name, sizeof(v[n].name), "%s", bpf_program__name(prog));
		v[n].insns = v[n].verified = -1;
		n++;
	}
	profile_bpf__destroy(skel);
	logs = malloc((size_t)n * LOG_SIZE);
	if (!logs) {
		fprintf(stderr, "kiln-bpfcheck: no memory for %u verifier logs\n", n);
		goto cleanup;
	}

	for (round = 0; round <= n; round++) {
		unsigned int failed = n;

		libbpf_next = 0;
		err = load_once(v, n, logs, -1);
		if (!err)
			break;
		for (i = 0; i < n; i++)
			if (!v[i].off && v[i].tried && !v[i].ok)
				failed = i;
		if (failed == n && round > 0)
			break; /* the program array names a refused program: expected */
		if (failed == n) {
			/* Refused before any verifier ran (a map, BTF, an attach target). */
			unsigned int k,
				first = libbpf_next > LIBBPF_LINES ? libbpf_next - LIBBPF_LINES : 0;

			printf("load=FAILED (%s) before or after the verifier; libbpf said:\n",
			       strerror(-err));
			for (k = first; k < libbpf_next; k++)
				printf("  | %s", libbpf_lines[k % LIBBPF_LINES]);
			for (i = 0; i < n; i++)
				if (v[i].off || !v[i].tried)
					printf("prog %s=%s\n", v[i].name,
					       v[i].off ? "FAILED" : "not-loaded");
			all_ok = false;
			break;
		}
		printf("prog %s=FAILED (%s)\n", v[failed].name, strerror(-err));
		if (logs[(size_t)failed * LOG_SIZE]) {
			load_once(v, n, logs, (int)failed);
			print_tail(logs + (size_t)failed * LOG_SIZE, TAIL_LINES);
		} else {
			unsigned int k = libbpf_next > TAIL_LINES ? libbpf_next - TAIL_LINES : 0;

			for (; k < libbpf_next; k++)
				printf("  | %s", libbpf_lines[k % LIBBPF_LINES]);
		}
		v[failed].off = true;
		all_ok = false;
	}
	for (i = 0; i < n; i++) {
		char ver[32];

		if (v[i].off || !v[i].ok)
			continue;
		if (v[i].verified >= 0)
			snprintf(ver, sizeof(ver), "%ld", v[i].verified);
		else if (all_ok)
			snprintf(ver, sizeof(ver), "n/a"); /* kernel < 5.16 */
		else
			snprintf(ver, sizeof(ver), "-"); /* the object as a whole did not load */
		printf("prog %s=ok insns=%ld verified_insns=%s\n", v[i].name, v[i].insns, ver);
	}
	printf("load=%s\n", all_ok ? "ok" : "FAILED");
	ret = all_ok ? 0 : 1;
cleanup:
	free(logs);
	return ret;
}
