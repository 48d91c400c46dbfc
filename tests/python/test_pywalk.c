// SPDX-License-Identifier: Apache-2.0
/*
 * The BPF Python walk on the real kernel: runs bench/python/kat.py under the interpreter
 * argv[1], detects it, gives the walk its info, samples it on the CPU clock and symbolizes
 * every sample at once (while the process runs). Checks, for a supported interpreter:
 *   - >= 95 % of the main thread's samples carry exactly one of the script's call chains
 *     (qualified names, file, line of every calling line, the leaf's line in its body),
 *     with the eval-loop entry bits where CPython has an entry frame;
 *   - >= 90 % of the hashing thread's samples (mostly in C with the GIL released) carry
 *     hash_loop at its hashing line under Thread.run ... Thread._bootstrap;
 *   - the non-ASCII function is sampled under its name;
 *   - the words come after the program's own first word (the walk appends).
 * For a refused interpreter (argv[3] = refused): every sample carries the one REFUSED
 * marker with the version. Mode "keys" runs the same with 40 pthread keys taken before the
 * interpreter starts (LD_PRELOAD argv[4]), so its key lives in glibc's second-level block.
 * Mode "fork" runs kat.py --fork and samples the forked child with the info and symbolizer
 * of its parent (python_proc__fork(): a pre-fork server's workers are not detected again).
 * Modes "deepN" run bench/python/deep.py N (argv[2]): every sample must carry the N + 3
 * frames, or when they do not fit, the first 126 of them and a truncation marker; the
 * walk's own time per sample is printed. Exits 77 when the interpreter is absent or the kernel refuses
 * BPF or perf events.
 */
#include <errno.h>
#include <linux/perf_event.h>
#include <linux/types.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "common/util.h"
#include "python/python.h"
#include "tests/python/pychild.h"
#include "tests/python/pywalk_test.h"
#include "pywalk_test.skel.h"

#define HZ 499
#define MAX_TAGS 32
#define MAX_TAG_LINES 8
#define MAIN_SAMPLES 400
#define WORKER_SAMPLES 150
#define DEADLINE_MS 60000

struct tag {
	char name[32];
	int lines[MAX_TAG_LINES];
	int nr;
};

struct frame {
	char function[128];
	char file[256];
	int line;
	bool entry;
	bool marker;
};

struct tally {
	struct python_proc *p;
	bool refused;
	int deep; /* deepN mode: N, else -1 */
	uint64_t deep_total, deep_ok;
	uint16_t version;
	uint64_t main_total, main_ok, worker_total, worker_ok, uni_seen, bad_prefix, sym_errors;
	uint64_t refused_ok;
	uint64_t leaf_a, leaf_b; /* main-thread samples in each (shares printed, not checked) */
	int printed;
};

static struct tag tags[MAX_TAGS];
static const char *script_base; /* "/kat.py": the script's file name with its slash */
static int ntags;

static int parse_tags(const char *script)
{
	char line[1024];
	int lineno = 0, i;
	FILE *f = fopen(script, "re");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char name[32], *k;

		lineno++;
		k = strstr(line, "# KAT ");
		if (!k || sscanf(k, "# KAT %31s", name) != 1)
			continue;
		for (i = 0; i < ntags && strcmp(tags[i].name, name); i++)
			;
		if (i == ntags) {
			if (ntags == MAX_TAGS)
				break;
			snprintf(tags[ntags++].name, sizeof(tags[0].name), "%s", name);
		}
		if (tags[i].nr < MAX_TAG_LINES)
			tags[i].lines[tags[i].nr++] = lineno;
	}
	fclose(f);
	return 0;
}

static bool at_tag(const struct frame *f, const char *tag)
{
	int i, j;

	for (i = 0; i < ntags; i++) {
		if (strcmp(tags[i].name, tag))
			continue;
		for (j = 0; j < tags[i].nr; j++)
			if (tags[i].lines[j] == f->line)
				return true;
	}
	return false;
}

static bool is_kat(const struct frame *f, const char *function, const char *tag)
{
	const char *base = strrchr(f->file, '/');

	return !f->marker && !strcmp(f->function, function) && base && !strcmp(base, script_base) &&
	       at_tag(f, tag);
}

static bool is_threading(const struct frame *f, const char *function)
{
	const char *base = strrchr(f->file, '/');

	return !f->marker && !strcmp(f->function, function) && base &&
	       !strcmp(base, "/threading.py");
}

/* The main thread's chains, leaf first (see kat.py). */
static bool main_chain_ok(const struct frame *f, int n, struct tally *t)
{
	int i;

	if (n < 3 || !is_kat(&f[n - 1], "<module>", "module_main") || !f[n - 1].entry)
		return false;
	t->leaf_a += is_kat(&f[0], "leaf_a", "leaf_a");
	t->leaf_b += is_kat(&f[0], "leaf_b", "leaf_b");
	if (is_kat(&f[0], "leaf_a", "leaf_a")) {
		return n == 5 && !f[0].entry && is_kat(&f[1], "Runner.method", "method_call") &&
		       !f[1].entry && is_kat(&f[2], "gen", "gen_call") && f[2].entry &&
		       is_kat(&f[3], "main", "main_gen") && !f[3].entry;
	}
	if (is_kat(&f[0], "leaf_b", "leaf_b")) {
		/* recurse at its base, then DEPTH (3) recursive calls */
		if (n != 7 || !is_kat(&f[1], "recurse", "recurse_base") ||
		    !is_kat(&f[5], "main", "main_recurse"))
			return false;
		for (i = 2; i < 5; i++)
			if (!is_kat(&f[i], "recurse", "recurse_call"))
				return false;
		for (i = 0; i < n - 1; i++)
			if (f[i].entry)
				return false;
		return true;
	}
	if (is_kat(&f[0], "функция", "функция")) {
		t->uni_seen++;
		return n == 3 && is_kat(&f[1], "main", "main_uni") && !f[0].entry && !f[1].entry;
	}
	return false;
}

/* deep.py N: spin <- down (base) <- down (call) x N <- <module>; or truncated. */
static bool deep_chain_ok(const struct frame *f, int n, int depth)
{
	int want = depth + 3, i, check = n;

	if (want > PYWALK_TEST_WORDS - 1) {
		/* room for 127 words after the prefix: 126 frames and the marker */
		if (n != PYWALK_TEST_WORDS - 1 || !f[n - 1].marker ||
		    strcmp(f[n - 1].function, "[python: truncated]"))
			return false;
		check = n - 1;
	} else if (n != want) {
		return false;
	}
	if (!is_kat(&f[0], "spin", "spin") || !is_kat(&f[1], "down", "down_base"))
		return false;
	for (i = 2; i < check; i++) {
		if (i == want - 1)
			return is_kat(&f[i], "<module>", "module_main");
		if (!is_kat(&f[i], "down", "down_call"))
			return false;
	}
	return true;
}

static bool worker_chain_ok(const struct frame *f, int n)
{
	return n == 4 && is_kat(&f[0], "hash_loop", "hash_call") &&
	       is_threading(&f[1], "Thread.run") &&
	       is_threading(&f[2], "Thread._bootstrap_inner") &&
	       is_threading(&f[3], "Thread._bootstrap");
}

static void print_chain(const char *what, const struct frame *f, int n)
{
	int i;

	fprintf(stderr, "  %s:", what);
	for (i = 0; i < n; i++)
		fprintf(stderr, " %s%s:%d%s", f[i].function, f[i].marker ? "" : "@", f[i].line,
			f[i].entry ? "[E]" : "");
	fprintf(stderr, "\n");
}

static int on_sample(void *ctx, void *data, size_t size)
{
	const struct pywalk_sample *s = data;
	struct tally *t = ctx;
	struct frame f[PYWALK_TEST_WORDS];
	uint32_t i, n = 0;
	bool is_main = s->tid == s->tgid, ok;

	if (size < sizeof(*s) || s->n > PYWALK_TEST_WORDS)
		return 0;
	if (!s->n || s->words[0] != PYWALK_TEST_PREFIX) {
		t->bad_prefix++;
		return 0;
	}
	for (i = 1; i < s->n; i++) {
		uint64_t w = s->words[i];
		struct python_frame pf;

		memset(&f[n], 0, sizeof(f[n]));
		if (!KILN_PY_IS_WORD(w)) {
			snprintf(f[n].function, sizeof(f[n].function), "[not python %llx]",
				 (unsigned long long)w);
			f[n].marker = true;
		} else if (KILN_PY_IS_MARKER(w)) {
			python_marker_text(w, f[n].function, sizeof(f[n].function));
			f[n].marker = true;
			if (KILN_PY_MARKER_REASON(w) == KILN_PY_MK_REFUSED && t->refused &&
			    KILN_PY_MARKER_ARG(w) == t->version && s->n == 2)
				t->refused_ok++;
		} else if (python_proc__symbolize(t->p, KILN_PY_FRAME_CODE(w),
						  (uint32_t)KILN_PY_FRAME_INSTR(w), &pf)) {
			snprintf(f[n].function, sizeof(f[n].function), "[unsymbolized]");
			f[n].marker = true;
			t->sym_errors++;
		} else {
			snprintf(f[n].function, sizeof(f[n].function), "%s", pf.function);
			snprintf(f[n].file, sizeof(f[n].file), "%s", pf.file);
			f[n].line = pf.line;
			f[n].entry = KILN_PY_IS_ENTRY(w);
		}
		n++;
	}
	if (t->refused)
		return 0;
	if (t->deep >= 0) {
		if (!is_main)
			return 0;
		t->deep_total++;
		ok = deep_chain_ok(f, (int)n, t->deep);
		t->deep_ok += ok;
	} else if (is_main) {
		t->main_total++;
		ok = main_chain_ok(f, (int)n, t);
		t->main_ok += ok;
	} else {
		t->worker_total++;
		ok = worker_chain_ok(f, (int)n);
		t->worker_ok += ok;
	}
	if (!ok && t->printed < 8) {
		t->printed++;
		print_chain(is_main ? "unexpected main-thread chain" : "unexpected worker chain", f,
			    (int)n > 12 ? 12 : (int)n);
	}
	return 0;
}

static void print_counters(struct pywalk_test_bpf *skel)
{
	static const char *const names[KILN_PY_C_NR] = {
		"samples",    "refused",   "tls_fault", "key_uninit", "no_tstate",
		"no_frame",   "frames",	   "shims",	"read_fault", "bad_code",
		"instr_none", "truncated", "reads",
	};
	int ncpu = libbpf_num_possible_cpus(), c, i;
	struct kiln_py_counters *v = calloc((size_t)ncpu, sizeof(*v));
	__u32 zero = 0;

	if (!v || bpf_map__lookup_elem(skel->maps.py_counters, &zero, sizeof(zero), v,
				       sizeof(*v) * (size_t)ncpu, 0)) {
		free(v);
		return;
	}
	printf("walk counters:");
	for (i = 0; i < KILN_PY_C_NR; i++) {
		uint64_t sum = 0;

		for (c = 0; c < ncpu; c++)
			sum += v[c].v[i];
		printf(" %s=%llu", names[i], (unsigned long long)sum);
	}
	printf("\n");
	free(v);
}

static void print_cost(struct pywalk_test_bpf *skel)
{
	struct bpf_prog_info info = { 0 };
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(bpf_program__fd(skel->progs.pywalk_sample), &info, &len) ||
	    !info.run_cnt)
		return;
	printf("BPF run time: %.0f ns per invocation over %llu invocations (all processes)\n",
	       (double)info.run_time_ns / (double)info.run_cnt, (unsigned long long)info.run_cnt);
}

/*
 * Attaches the walker to a CPU-clock perf event on each of NCPU CPUs (offline ones skipped).
 * Returns 0, 77 when the kernel refuses perf events, or 1 (message printed).
 */
static int attach_cpus(struct pywalk_test_bpf *skel, int ncpu, int *pfds, struct bpf_link **links)
{
	int i, ret = 1;

	for (i = 0; i < ncpu; i++) {
		struct perf_event_attr attr = {
			.type = PERF_TYPE_SOFTWARE,
			.config = PERF_COUNT_SW_CPU_CLOCK,
			.size = sizeof(attr),
			.sample_freq = HZ,
			.freq = 1,
		};

		pfds[i] =
			(int)syscall(__NR_perf_event_open, &attr, -1, i, -1, PERF_FLAG_FD_CLOEXEC);
		if (pfds[i] < 0) {
			if (errno == ENODEV) /* possible but offline CPU */
				continue;
			ret = 77;
			fprintf(stderr, "SKIP: perf_event_open: %s\n", strerror(errno));
			return ret;
		}
		links[i] = bpf_program__attach_perf_event(skel->progs.pywalk_sample, pfds[i]);
		if (!links[i]) {
			fprintf(stderr, "attach: %s\n", strerror(errno));
			return ret;
		}
	}
	return 0;
}

/* What the walk saw: exact chains per thread, errors, the walk's cost. */
static void print_report(const char *python, const struct tally *t, struct pywalk_test_bpf *skel)
{
	printf("%s: python %x; main thread %llu/%llu exact chains (%.1f %%), non-ASCII leaf in "
	       "%llu; hashing thread %llu/%llu (%.1f %%); %llu symbolization errors, %llu bad "
	       "prefixes, %llu refused markers, %llu ring drops\n",
	       python, t->version, (unsigned long long)t->main_ok,
	       (unsigned long long)t->main_total,
	       t->main_total ? 100.0 * (double)t->main_ok / (double)t->main_total : 0.0,
	       (unsigned long long)t->uni_seen, (unsigned long long)t->worker_ok,
	       (unsigned long long)t->worker_total,
	       t->worker_total ? 100.0 * (double)t->worker_ok / (double)t->worker_total : 0.0,
	       (unsigned long long)t->sym_errors, (unsigned long long)t->bad_prefix,
	       (unsigned long long)t->refused_ok, (unsigned long long)skel->bss->ringbuf_drops);
	if (skel->bss->walk_runs)
		printf("walk: %.0f ns per sample of the process (%llu samples)\n",
		       (double)skel->bss->walk_ns / (double)skel->bss->walk_runs,
		       (unsigned long long)skel->bss->walk_runs);
	if (t->main_total && t->deep < 0 && !t->refused)
		printf("main-thread leaves (timing-dependent, not checked): leaf_a %.1f %%, leaf_b "
		       "%.1f %%, функция %.1f %%\n",
		       100.0 * (double)t->leaf_a / (double)t->main_total,
		       100.0 * (double)t->leaf_b / (double)t->main_total,
		       100.0 * (double)t->uni_seen / (double)t->main_total);
}

/* The test's verdict from T: 0 pass, 1 fail (reasons printed). */
static int verdict(const struct tally *t)
{
	int ret;

	if (t->refused) {
		ret = t->refused_ok >= 50 && !t->bad_prefix ? 0 : 1;
	} else if (t->deep >= 0) {
		printf("deep %d: %llu/%llu samples with the exact stack\n", t->deep,
		       (unsigned long long)t->deep_ok, (unsigned long long)t->deep_total);
		ret = t->deep_total >= MAIN_SAMPLES && t->deep_ok * 100 >= t->deep_total * 95 ? 0
											      : 1;
	} else {
		ret = 0;
		if (t->main_total < MAIN_SAMPLES || t->worker_total < WORKER_SAMPLES) {
			fprintf(stderr, "FAIL: too few samples within %d s\n", DEADLINE_MS / 1000);
			ret = 1;
		}
		if (t->main_ok * 100 < t->main_total * 95) {
			fprintf(stderr, "FAIL: main thread below 95 %% exact chains\n");
			ret = 1;
		}
		if (t->worker_ok * 100 < t->worker_total * 90) {
			fprintf(stderr, "FAIL: hashing thread below 90 %% exact chains\n");
			ret = 1;
		}
		if (!t->uni_seen || t->bad_prefix) {
			fprintf(stderr, "FAIL: non-ASCII leaf seen %llu times, %llu bad prefixes\n",
				(unsigned long long)t->uni_seen, (unsigned long long)t->bad_prefix);
			ret = 1;
		}
	}
	return ret;
}

int main(int argc, char **argv)
{
	struct python_stats st = { 0 };
	struct pywalk_test_bpf *skel = NULL;
	struct ring_buffer *rb = NULL;
	struct bpf_link **links = NULL;
	struct kiln_py_info info;
	struct tally t = { 0 };
	struct pychild c = { 0 };
	int tss[2] = { 0, 0 };
	pid_t target = 0; /* the sampled process: the interpreter, or its forked child */
	bool fork_mode = false;
	int *pfds = NULL, ncpu = 0, i, err, ret = 1, stats_fd = -1;
	char line[256], depth_arg[16];
	uint64_t deadline;
	__u32 key;

	if (argc < 4) {
		fprintf(stderr, "usage: %s PYTHON KAT_SCRIPT supported|refused|keys LIB|deepN\n",
			argv[0]);
		return 2;
	}
	if (access(argv[1], X_OK)) {
		printf("SKIP: interpreter %s not installed on this machine\n", argv[1]);
		return 77;
	}
	t.refused = !strcmp(argv[3], "refused");
	script_base = strrchr(argv[2], '/') ? strrchr(argv[2], '/') : argv[2];
	t.deep = strncmp(argv[3], "deep", 4) ? -1 : atoi(argv[3] + 4);
	snprintf(depth_arg, sizeof(depth_arg), "%d", t.deep);
	if (!strcmp(argv[3], "keys")) {
		if (argc < 5)
			return 2;
		setenv("LD_PRELOAD", argv[4], 1);
	}
	if (parse_tags(argv[2]) || ntags < 4) {
		fprintf(stderr, "%s: cannot read its KAT tags\n", argv[2]);
		return 1;
	}
	fork_mode = !strcmp(argv[3], "fork");
	err = pychild_start(&c, (char *const[]){ argv[1], argv[2],
						 t.deep >= 0 ? depth_arg
						 : fork_mode ? "--fork"
							     : NULL,
						 NULL });
	unsetenv("LD_PRELOAD");
	target = c.pid;
	if (!err && fork_mode &&
	    (pychild_line(&c, line, sizeof(line), 20000) ||
	     sscanf(line, "child %d", &target) != 1)) {
		fprintf(stderr, "%s %s --fork: no child line\n", argv[1], argv[2]);
		goto cleanup;
	}
	if (err || pychild_line(&c, line, sizeof(line), 20000) || strcmp(line, "ready")) {
		fprintf(stderr, "%s %s did not start\n", argv[1], argv[2]);
		goto cleanup;
	}
	err = python_proc__detect((uint32_t)c.pid, &st, &t.p);
	if (err) {
		fprintf(stderr, "detect: %s\n", strerror(-err));
		goto cleanup;
	}
	if (!!python_proc__refusal(t.p) != t.refused) {
		fprintf(stderr, "detect: expected %s, got %s\n", argv[3],
			python_proc__refusal(t.p) ? python_proc__refusal(t.p) : "supported");
		goto cleanup;
	}
	if (fork_mode) {
		struct python_proc *parent = t.p;

		t.p = NULL;
		err = python_proc__fork(parent, (uint32_t)target, &t.p);
		python_proc__free(parent);
		if (err)
			goto cleanup;
	}
	t.version = python_proc__version(t.p);
	python_proc__info(t.p, &info);
	if (!t.refused) {
		struct iovec l = { &tss, sizeof(tss) }, r = { (void *)(uintptr_t)info.tss_addr, 8 };

		if (process_vm_readv(target, &l, 1, &r, 1, 0) == 8)
			printf("interpreter's TSS key: initialized %d, key %d\n", tss[0], tss[1]);
		if (!strcmp(argv[3], "keys") && tss[1] < 32) {
			fprintf(stderr, "FAIL: key %d despite the preloaded keys\n", tss[1]);
			goto cleanup;
		}
	}

	skel = pywalk_test_bpf__open();
	if (!skel) {
		ret = 77;
		fprintf(stderr, "SKIP: BPF object refused: %s\n", strerror(errno));
		goto cleanup;
	}
	skel->rodata->target_tgid = (__u32)target;
	err = pywalk_test_bpf__load(skel);
	if (err) {
		/* a verifier rejection is a failure; only a missing permission is a skip */
		ret = (err == -EPERM || err == -EACCES) ? 77 : 1;
		fprintf(stderr, "%sBPF load: %s\n", ret == 77 ? "SKIP: " : "", strerror(-err));
		goto cleanup;
	}
	key = (__u32)target;
	if (bpf_map__update_elem(skel->maps.py_info, &key, sizeof(key), &info, sizeof(info), 0)) {
		fprintf(stderr, "py_info update: %s\n", strerror(errno));
		goto cleanup;
	}
	stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	ncpu = libbpf_num_possible_cpus();
	pfds = calloc((size_t)ncpu, sizeof(*pfds));
	links = calloc((size_t)ncpu, sizeof(*links));
	if (!pfds || !links)
		goto cleanup;
	ret = attach_cpus(skel, ncpu, pfds, links);
	if (ret)
		goto cleanup;
	ret = 1;
	rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_sample, &t, NULL);
	if (!rb)
		goto cleanup;
	deadline = pychild_now_ms() + DEADLINE_MS;
	while (pychild_now_ms() < deadline) {
		ring_buffer__poll(rb, 100);
		if (t.refused ? t.refused_ok >= 50
		    : t.deep >= 0
			    ? t.deep_total >= MAIN_SAMPLES
			    : t.main_total >= MAIN_SAMPLES && t.worker_total >= WORKER_SAMPLES)
			break;
	}
	print_counters(skel);
	print_cost(skel);
	print_report(argv[1], &t, skel);
	ret = verdict(&t);
cleanup:
	ring_buffer__free(rb);
	for (i = 0; links && i < ncpu; i++)
		bpf_link__destroy(links[i]);
	for (i = 0; pfds && i < ncpu; i++)
		if (pfds[i] > 0)
			close(pfds[i]);
	free(links);
	free(pfds);
	if (stats_fd >= 0)
		close(stats_fd);
	pywalk_test_bpf__destroy(skel);
	python_proc__free(t.p);
	pychild_stop(&c);
	return ret;
}
