// SPDX-License-Identifier: Apache-2.0
/*
 * kiln-bench churn: kiln under a build-like load, hundreds of short processes per second.
 * Starts `kiln agent` at 99 Hz on a ring of its own, then the churn load (bench/churnload.c:
 * make -j2 rebuilding a tree of small C files) in a cgroup of its own for 60 s (--short 10 s),
 * reading every window record of that cgroup from the ring as it goes. Reports:
 *   - the agent's CPU per sample written (scheduler run time / samples_written, machine-wide:
 *     the agent profiles every process, not only the load);
 *   - the agent's memory (RSS, PSS) and BPF map memory at start, after warm-up and at the end;
 *   - of the short-lived processes' samples (every process of the load but make and the
 *     shell looping over builds), the share with a named user leaf and the share whose user
 *     stack is whole (its outermost frame a known root: the definition of
 *     bench/unwindcheck.py);
 *   - the load's samples found in its cgroup's records, against its CPU time (cpu.stat) x 99 Hz,
 *     and samples of its programs in workloads named after a comm ("exe/cc1": the agent
 *     resolved the process after it had gone, and named it after its comm);
 *   - events lost (mmap_records_lost, proc_events_lost, samples_dropped) and the unwind
 *     tables built for all these new processes (unwind_table_builds, unwind_table_bytes).
 * No goals: the issue sets none for this suite; the rows are figures to follow.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/churnload.h"
#include "bench/proc.h"
#include "bench/stats.h"
#include "common/util.h"
#include "shm/reader.h"

#define SUITE "churn"
#define MIB (1024.0 * 1024.0)

/* Samples of one kind ("cc1 in /usr/libexec/gcc/.../cc1"), for the breakdown of misses. */
struct churn_kind {
	char what[160];
	uint64_t n;
};

#define CHURN_KINDS 64

/* What the load's window records held. */
struct churn_tally {
	struct churn_kind unnamed[CHURN_KINDS]; /* leaf without a name: process, leaf's file */
	struct churn_kind broken[CHURN_KINDS]; /* not whole: process, outermost frame */
	uint64_t cgroup_id; /* the load's cgroup */
	pid_t driver; /* the shell looping over builds: long-lived */
	uint64_t short_samples; /* samples of short-lived processes */
	uint64_t no_user; /* of those, with no user frame (kernel only) */
	uint64_t named; /* of those with a user frame, the leaf has a name */
	uint64_t whole; /* of those with a user frame, the outermost is a known root */
	uint64_t long_samples; /* samples of make and the driver shell */
	uint64_t records;
	/* samples of the load's programs in workloads named after a comm ("exe/cc1"), any cgroup */
	uint64_t by_comm;
};

/*
 * True when NAME is a root frame of a user stack, normalized as bench/unwindcheck.py does
 * ("__GI_" and leading underscores off, "+0x.." and "@..." off, __libc_start_main_impl).
 */
static bool churn_is_root(const char *name)
{
	static const char *const roots[] = {
		"start",	"libc_start_main", "libc_start_call_main",
		"start_thread", "clone",	   "clone3"
	};
	char n[128];
	size_t i, len;

	if (!strncmp(name, "__GI_", 5))
		name += 5;
	while (*name == '_')
		name++;
	len = strcspn(name, "@+");
	if (len >= sizeof(n))
		return false;
	memcpy(n, name, len);
	n[len] = '\0';
	if (!strcmp(n, "libc_start_main_impl"))
		return true;
	for (i = 0; i < sizeof(roots) / sizeof(roots[0]); i++)
		if (!strcmp(n, roots[i]))
			return true;
	return false;
}

/* Adds N to the kind WHAT of table K (the first CHURN_KINDS kinds seen are kept). */
static void churn_kind_add(struct churn_kind *k, const char *what, uint64_t n)
{
	int i;

	for (i = 0; i < CHURN_KINDS && k[i].what[0]; i++)
		if (!strcmp(k[i].what, what))
			break;
	if (i == CHURN_KINDS)
		return;
	if (!k[i].what[0])
		snprintf(k[i].what, sizeof(k[i].what), "%s", what);
	k[i].n += n;
}

static int churn_kind_cmp(const void *a, const void *b)
{
	const struct churn_kind *x = a, *y = b;

	return x->n < y->n ? 1 : x->n > y->n ? -1 : 0;
}

/* Prints the TOP largest kinds of table K, each with its share of TOTAL. */
static void churn_kinds_print(struct churn_kind *k, const char *title, uint64_t total, int top)
{
	int i;

	qsort(k, CHURN_KINDS, sizeof(*k), churn_kind_cmp);
	for (i = 0; i < top && i < CHURN_KINDS && k[i].n; i++)
		printf("%s: %s: %5.1f%% %s\n", SUITE, title, 100.0 * (double)k[i].n / (double)total,
		       k[i].what);
}

/* Counts the samples of one window record V of the load's cgroup into T. */
static void churn_tally_record(struct churn_tally *t, const struct wrec_view *v)
{
	char buf[128], what[160];
	uint32_t i, k;

	if (v->hdr->cgroup_id != t->cgroup_id) {
		static const char *const progs[] = { "cc1", "cc",    "as",	"sh",
						     "wc",  "cksum", "basename" };

		if (strncmp(wrec_view__id(v, WREC_ID_KEY), "exe/", 4))
			return;
		for (i = 0; i < v->nr_samples; i++)
			for (k = 0; k < sizeof(progs) / sizeof(progs[0]); k++)
				if (!strcmp(wrec_view__str(v, v->samples[i].thread_name), progs[k]))
					t->by_comm += v->samples[i].count;
		return;
	}
	t->records++;
	for (i = 0; i < v->nr_samples; i++) {
		const struct wrec_sample *s = &v->samples[i];
		const struct wrec_stack *st = &v->stacks[s->stack];
		const char *comm = wrec_view__str(v, s->thread_name);
		uint32_t leaf = 0, outer = 0;
		bool user = false;

		if ((pid_t)s->tgid == t->driver || !strcmp(comm, "make")) {
			t->long_samples += s->count;
			continue;
		}
		t->short_samples += s->count;
		/* locations leaf first: the first user one is the leaf, the last the outermost */
		for (k = 0; k < st->nr; k++) {
			uint32_t l = v->stack_locs[st->first + k];

			if (v->locs[l].kind == WREC_FRAME_KERNEL)
				continue;
			if (!user)
				leaf = l;
			user = true;
			outer = l;
		}
		if (!user) {
			t->no_user += s->count;
			continue;
		}
		if (v->locs[leaf].function) {
			t->named += s->count;
		} else {
			const struct wrec_location *lo = &v->locs[leaf];

			snprintf(what, sizeof(what), "%s, leaf in %s", comm,
				 lo->mapping ? wrec_view__str(v, v->maps[lo->mapping].file)
					     : "no mapping");
			churn_kind_add(t->unnamed, what, s->count);
		}
		wrec_view__frame_name(v, outer, buf, sizeof(buf));
		if (churn_is_root(buf)) {
			t->whole += s->count;
		} else {
			/* "[cc1+0x1234]": one kind per file, not per address */
			buf[strcspn(buf, "+")] = '\0';
			snprintf(what, sizeof(what), "%s, outermost %s", comm, buf);
			churn_kind_add(t->broken, what, s->count);
		}
	}
}

/* Reads every record the reader has now. Returns 0 or -errno (-ESTALE: ring replaced). */
static int churn_drain(struct shm_reader *r, struct churn_tally *t, int wait_ms)
{
	struct shm_record rec;
	int err;

	err = shm_reader__wait(r, wait_ms);
	if (err && err != -ETIMEDOUT && err != -EINTR)
		return err;
	for (;;) {
		err = shm_reader__next(r, &rec);
		if (err == -EAGAIN)
			return 0;
		if (err == -EBADMSG)
			continue;
		if (err)
			return err;
		churn_tally_record(t, &rec.v);
	}
}

/* CPU time the processes of cgroup2 directory CG have used (cpu.stat usage_usec), in us. */
static uint64_t cg_usage_us(const char *cg)
{
	unsigned long long v = 0;
	char path[320], line[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/cpu.stat", cg);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "usage_usec %llu", &v) == 1)
			break;
	fclose(f);
	return v;
}

static void row1(const char *name, double v, const char *unit, int decimals)
{
	struct bench_summary s;

	bench_summarize(&v, 1, &s);
	bench_row(SUITE, name, &s, unit, decimals, NULL, BENCH_NO_GOAL);
}

struct churn_mem {
	double rss, pss, maps;
};

static void churn_mem_read(const struct bench_pipeline *p, struct churn_mem *m)
{
	m->rss = (double)bench_proc_rss_bytes(p->agent) / MIB;
	m->pss = (double)bench_proc_pss_bytes(p->agent) / MIB;
	m->maps = (double)bench_proc_bpf_map_bytes(p->agent) / MIB;
}

/* Counters whose growth during the load is a loss, each printed as a row. */
static const char *const lost_names[] = { "mmap_records_lost", "proc_events_lost",
					  "samples_dropped", "samples_missed",
					  "unwind_load_errors" };

/* What the bench saw of the load's records. */
static void print_tally(const struct churn_tally *t, double elapsed, uint64_t files,
			const struct shm_reader_stats *rs)
{
	printf("%s: %.1f s, %llu files compiled, %llu window records of the load, %llu samples "
	       "of short-lived processes (%llu kernel only), %llu of make and the loop\n",
	       SUITE, elapsed, (unsigned long long)files, (unsigned long long)t->records,
	       (unsigned long long)t->short_samples, (unsigned long long)t->no_user,
	       (unsigned long long)t->long_samples);
	printf("%s: %llu samples of cc1, cc, as, sh, wc, cksum, basename in workloads named after "
	       "a comm (exe/...): the agent resolved the process after it had gone (other loads on "
	       "the machine may run these programs too)\n",
	       SUITE, (unsigned long long)t->by_comm);
	if (rs->lost || rs->stale)
		printf("%s: the bench's reader lost %llu records (lapped) and %llu overwritten: "
		       "the shares below miss them\n",
		       SUITE, (unsigned long long)rs->lost, (unsigned long long)rs->stale);
}

/* Memory at start, after warm-up and at the end; losses and table builds during the load. */
static void print_end_rows(const struct bench_pipeline *p, const struct churn_mem *m_start,
			   const struct churn_mem *m_warm, const struct churn_mem *m_end,
			   const uint64_t *lost0, uint64_t builds)
{
	size_t i;

	row1("agent RSS at start", m_start->rss, "MiB", 1);
	row1("agent RSS after warm-up", m_warm->rss, "MiB", 1);
	row1("agent RSS at end", m_end->rss, "MiB", 1);
	row1("agent PSS at start", m_start->pss, "MiB", 1);
	row1("agent PSS after warm-up", m_warm->pss, "MiB", 1);
	row1("agent PSS at end", m_end->pss, "MiB", 1);
	row1("BPF maps at start", m_start->maps, "MiB", 1);
	row1("BPF maps at end", m_end->maps, "MiB", 1);
	for (i = 0; i < sizeof(lost_names) / sizeof(lost_names[0]); i++)
		row1(lost_names[i], (double)(bench_counter(p->hdr, lost_names[i]) - lost0[i]), "",
		     0);
	row1("unwind_table_builds", (double)builds, "", 0);
	row1("unwind_table_bytes at end", (double)bench_counter(p->hdr, "unwind_table_bytes") / MIB,
	     "MiB", 2);
	row1("processes_tracked at end", (double)bench_counter(p->hdr, "processes_tracked"), "", 0);
}

int bench_churn(const struct bench_opts *o, int argc, char **argv)
{
	unsigned int secs = o->short_mode ? 10 : 60, warm_s = o->short_mode ? 3 : 10;
	const struct bench_pipeline_opts po = { .tag = SUITE, .hz = 99 };
	struct shm_reader_opts ro = { .sz = sizeof(ro),
				      .start = RING_START_NEWEST,
				      .restart = RING_START_OLDEST };
	struct bench_churn_load_opts lo = { .tag = SUITE, .files = 60, .jobs = 2 };
	uint64_t rt0, rt1, s0, s1, ex0, ex1, b0, b1, t0, files = 0, cpu0, cpu1;
	uint64_t lost0[sizeof(lost_names) / sizeof(lost_names[0])];
	struct churn_mem m_start, m_warm = { 0 }, m_end;
	struct churn_tally t = { 0 };
	struct bench_churn_load *load = NULL;
	struct shm_reader_stats rs;
	struct bench_pipeline *p = NULL;
	struct shm_reader *r = NULL;
	bool warm = false;
	double elapsed;
	char cg[256] = "";
	struct stat st;
	size_t i;
	int err;

	if (argc > 1) {
		fprintf(stderr, "kiln-bench churn: unexpected argument '%s'\n", argv[1]);
		return -EINVAL;
	}
	if (geteuid() != 0) {
		bench_row_na(SUITE, "agent CPU per sample", "needs root (kiln agent loads BPF)");
		return 1;
	}
	bench_header(SUITE, "kiln agent under a build-like load of short processes");
	printf("%s: make -j%u rebuilding %u small C files (%d processes each) for %u s, in a "
	       "cgroup of its own; agent at 99 Hz; memory after %u s of warm-up\n",
	       SUITE, lo.jobs, lo.files, BENCH_CHURN_PROCS_PER_FILE, secs, warm_s);
	err = bench_pipeline__new_cgroup(&p, o, &po, SUITE, cg, sizeof(cg));
	if (err)
		goto cleanup;
	if (stat(cg, &st)) {
		err = -errno;
		goto cleanup;
	}
	t.cgroup_id = (uint64_t)st.st_ino;
	ro.name = p->ring;
	err = shm_reader__new(&r, &ro);
	if (!err)
		err = shm_reader__attach(r);
	if (err) {
		fprintf(stderr, "%s: cannot read ring %s: %s\n", SUITE, p->ring, strerror(-err));
		goto cleanup;
	}
	churn_mem_read(p, &m_start);
	for (i = 0; i < sizeof(lost_names) / sizeof(lost_names[0]); i++)
		lost0[i] = bench_counter(p->hdr, lost_names[i]);
	s0 = bench_counter(p->hdr, "samples_written");
	ex0 = bench_counter(p->hdr, "proc_events_exec");
	b0 = bench_counter(p->hdr, "unwind_table_builds");
	err = bench_proc_runtime_ns(p->agent, &rt0);
	if (err)
		goto cleanup;

	lo.cgroup = cg;
	lo.seconds = secs;
	cpu0 = cg_usage_us(cg);
	t0 = mono_ns();
	err = bench_churn_load__start(&load, &lo);
	if (err)
		goto cleanup;
	t.driver = load->pid;
	while (bench_churn_load__running(load)) {
		err = bench_pipeline__check(p);
		if (!err)
			err = churn_drain(r, &t, 200);
		if (err)
			goto cleanup;
		if (!warm && mono_ns() - t0 >= (uint64_t)warm_s * 1000000000ull) {
			churn_mem_read(p, &m_warm);
			warm = true;
		}
	}
	elapsed = (double)(mono_ns() - t0) / 1e9;
	cpu1 = cg_usage_us(cg);
	err = bench_churn_load__wait(load, 0, &files);
	if (err) {
		fprintf(stderr, "%s: the load failed\n", SUITE);
		goto cleanup;
	}
	err = bench_proc_runtime_ns(p->agent, &rt1);
	if (err)
		goto cleanup;
	s1 = bench_counter(p->hdr, "samples_written");
	ex1 = bench_counter(p->hdr, "proc_events_exec");
	/* the load's last samples: in the windows that close from now on */
	err = bench_pipeline__wait_windows(p, 2, 30000);
	for (i = 0; !err && i < 5; i++)
		err = churn_drain(r, &t, 100);
	if (err)
		goto cleanup;
	churn_mem_read(p, &m_end);
	b1 = bench_counter(p->hdr, "unwind_table_builds");
	shm_reader__stats(r, &rs);

	print_tally(&t, elapsed, files, &rs);
	churn_kinds_print(t.unnamed, "no leaf name", t.short_samples - t.no_user, 6);
	churn_kinds_print(t.broken, "not whole", t.short_samples - t.no_user, 6);
	/*
	 * The load's CPU time at 99 Hz is the samples its cgroup should get. Fewer in its
	 * records: samples of processes gone before the agent named their workload went to
	 * another workload (one named after the process's comm).
	 */
	if (cpu1 > cpu0)
		row1("load samples in its cgroup's records",
		     100.0 * (double)(t.short_samples + t.long_samples) /
			     ((double)(cpu1 - cpu0) / 1e6 * 99.0),
		     "% of CPU x 99 Hz", 1);
	row1("load processes started", (double)files * BENCH_CHURN_PROCS_PER_FILE / elapsed, "/s",
	     0);
	row1("execs, whole machine", (double)(ex1 - ex0) / elapsed, "/s", 0);
	if (s1 > s0)
		row1("agent CPU per sample", (double)(rt1 - rt0) / (double)(s1 - s0) / 1000.0, "us",
		     2);
	else
		bench_row_na(SUITE, "agent CPU per sample", "no samples written");
	row1("agent CPU", (double)(rt1 - rt0) / 1e9 / elapsed * 100.0, "% of a CPU", 2);
	row1("samples written", (double)(s1 - s0) / elapsed, "/s", 0);
	if (t.short_samples > t.no_user) {
		double u = (double)(t.short_samples - t.no_user);

		row1("short-lived: named leaf", 100.0 * (double)t.named / u, "%", 1);
		row1("short-lived: whole stack", 100.0 * (double)t.whole / u, "%", 1);
	} else {
		bench_row_na(SUITE, "short-lived: named leaf", "no user samples of the load");
	}
	print_end_rows(p, &m_start, &m_warm, &m_end, lost0, b1 - b0);
cleanup:
	bench_churn_load__free(load);
	shm_reader__free(r);
	bench_pipeline__free(p);
	if (cg[0])
		bench_cgroup_free(cg);
	return err ? 1 : 0;
}
