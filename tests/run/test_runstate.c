// SPDX-License-Identifier: Apache-2.0
/*
 * The `kiln run` state file (shm/runstate) and the effective configuration `kiln run` hands
 * its children (run/runcfg): round trips, and malformed state files a reader must refuse;
 * which part of the effective config a change touches (what a SIGHUP restarts); and the
 * sweep of private rings whose owner is gone.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "run/runcfg.h"
#include "common/config.h"
#include "shm/runstate.h"
#include "shm/shm.h"
#include "tests/lib/kiln_test.h"

static char dir[] = "/tmp/kiln-runstate-test-XXXXXX";
static char path[sizeof(dir) + 32];

static void put(const char *name, const char *text)
{
	FILE *f;
	int n;

	/* A name too long for the buffer is a bug of the test: fail rather than write elsewhere. */
	n = snprintf(path, sizeof(path), "%s/%s", dir, name);
	CU_ASSERT_FATAL(n > 0 && (size_t)n < sizeof(path));
	f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fwrite(text, 1, strlen(text), f);
	fclose(f);
}

static void test_path(void)
{
	char buf[300];

	CU_ASSERT_EQUAL(runstate__path("abc", buf, sizeof(buf)), 0);
	CU_ASSERT_STRING_EQUAL(buf, "/dev/shm/kiln-abc.run");
	CU_ASSERT_EQUAL(runstate__path(NULL, buf, sizeof(buf)), 0);
	CU_ASSERT_STRING_EQUAL(buf, "/dev/shm/kiln-default.run");
	CU_ASSERT_EQUAL(runstate__path("/tmp/ring", buf, sizeof(buf)), 0);
	CU_ASSERT_STRING_EQUAL(buf, "/tmp/ring.run");
	CU_ASSERT_EQUAL(runstate__path("../x", buf, sizeof(buf)), -EINVAL);
	CU_ASSERT_EQUAL(runstate__path("abc", buf, 10), -ENAMETOOLONG);
}

static void test_round_trip(void)
{
	struct runstate s = { .supervisor_pid = 4242, .start_ns = 1700000000123456789ull };
	struct runstate r;
	struct stat st;
	char tmp[sizeof(path) + 8];
	int i;

	s.nr_children = 3;
	s.children[0] = (struct runstate_child){ "agent", 100, "running", 0, 1, "-" };
	s.children[1] = (struct runstate_child){ "export", 0, "backoff", 7, 2, "signal=9" };
	s.children[2] = (struct runstate_child){ "ui", 102, "stopped", UINT64_MAX, 3, "exit=1" };
	snprintf(path, sizeof(path), "%s/ring.run", dir);
	umask(077);
	CU_ASSERT_EQUAL_FATAL(runstate__write(path, &s), 0);
	umask(022);
	/* Readable by everyone whatever the umask; no temporary file left behind. */
	CU_ASSERT(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	CU_ASSERT(access(tmp, F_OK) != 0);
	CU_ASSERT_EQUAL_FATAL(runstate__read(path, &r), 0);
	CU_ASSERT_EQUAL(r.supervisor_pid, 4242);
	CU_ASSERT_EQUAL(r.start_ns, 1700000000123456789ull);
	CU_ASSERT_EQUAL_FATAL(r.nr_children, 3);
	for (i = 0; i < 3; i++) {
		CU_ASSERT_STRING_EQUAL(r.children[i].name, s.children[i].name);
		CU_ASSERT_EQUAL(r.children[i].pid, s.children[i].pid);
		CU_ASSERT_STRING_EQUAL(r.children[i].state, s.children[i].state);
		CU_ASSERT_EQUAL(r.children[i].restarts, s.children[i].restarts);
		CU_ASSERT_EQUAL(r.children[i].start_ns, s.children[i].start_ns);
		CU_ASSERT_STRING_EQUAL(r.children[i].last_exit, s.children[i].last_exit);
	}
	/* A rewrite replaces the file whole, even over a stale temporary someone left. */
	put("ring.run.tmp", "garbage");
	snprintf(path, sizeof(path), "%s/ring.run", dir);
	s.nr_children = 1;
	CU_ASSERT_EQUAL(runstate__write(path, &s), 0);
	CU_ASSERT(runstate__read(path, &r) == 0 && r.nr_children == 1);
	/* Empty state and last exit are written as "stopped" and "-". */
	s.children[0].state[0] = 0;
	s.children[0].last_exit[0] = 0;
	CU_ASSERT_EQUAL(runstate__write(path, &s), 0);
	CU_ASSERT(runstate__read(path, &r) == 0 && !strcmp(r.children[0].state, "stopped") &&
		  !strcmp(r.children[0].last_exit, "-"));
	unlink(path);
	CU_ASSERT_EQUAL(runstate__read(path, &r), -ENOENT);
}

/* What the writer refuses: the reader could not split it back. */
static void test_write_refuses(void)
{
	struct runstate s = { .supervisor_pid = 1, .nr_children = 1 };

	snprintf(path, sizeof(path), "%s/w.run", dir);
	s.children[0] = (struct runstate_child){ "two words", 1, "running", 0, 0, "-" };
	CU_ASSERT_EQUAL(runstate__write(path, &s), -EINVAL);
	s.children[0] = (struct runstate_child){ "agent", 1, "sleeping", 0, 0, "-" };
	CU_ASSERT_EQUAL(runstate__write(path, &s), -EINVAL);
	s.children[0] = (struct runstate_child){ "agent", 1, "running", 0, 0, "exit 1" };
	CU_ASSERT_EQUAL(runstate__write(path, &s), -EINVAL);
	s.children[0] = (struct runstate_child){ "", 1, "running", 0, 0, "-" };
	CU_ASSERT_EQUAL(runstate__write(path, &s), -EINVAL);
	s.children[0] = (struct runstate_child){ "agent", 1, "running", 0, 0, "-" };
	s.nr_children = RUNSTATE_MAX_CHILDREN + 1;
	CU_ASSERT_EQUAL(runstate__write(path, &s), -EINVAL);
	s.nr_children = 1;
	s.supervisor_pid = 0;
	CU_ASSERT_EQUAL(runstate__write(path, &s), -EINVAL);
	CU_ASSERT(access(path, F_OK) != 0);
}

static void test_malformed(void)
{
	static const char *const bad[] = {
		"",
		"kiln-run 2\nsupervisor 1 2\n",
		"kiln-run 1\n",
		"kiln-run 1\nsupervisor 1 2",
		"kiln-run 1\nsupervisor 0 2\n",
		"kiln-run 1\nsupervisor -1 2\n",
		"kiln-run 1\nsupervisor +1 2\n",
		"kiln-run 1\nsupervisor 1 2 3\n",
		"kiln-run 1\nsupervisor 1 2 \n",
		"kiln-run 1\nsupervisor 1\n",
		"kiln-run 1\nsupervisor 99999999999 2\n",
		"kiln-run 1\nsupervisor 1 99999999999999999999999\n",
		"kiln-run 1\nsupervisor 1 2\nsupervisor 3 4\n",
		"kiln-run 1\nsupervisor 1 2\nchild agent 5 running 0 1\n",
		"kiln-run 1\nsupervisor 1 2\nchild agent 5 running 0 1 - extra\n",
		"kiln-run 1\nsupervisor 1 2\nchild agent 5 dancing 0 1 -\n",
		"kiln-run 1\nsupervisor 1 2\nchild agent x running 0 1 -\n",
		"kiln-run 1\nsupervisor 1 2\nchild agent  5 running 0 1 -\n",
		"kiln-run 1\nsupervisor 1 2\nchild ag\033[2Jent 5 running 0 1 -\n",
		"kiln-run 1\nsupervisor 1 2\nchild averyveryverylongname 5 running 0 1 -\n",
		("kiln-run 1\nsupervisor 1 2\nchild agent 5 running 0 1 "
		 "exit=0123456789012345678901234567890123456789\n"),
		"kiln-run 1\nsupervisor 1 2\nwhatever\n",
		"kiln-run 1\nchild agent 5 running 0 1 -\n",
	};
	struct runstate r;
	char name[32], big[9000];
	size_t i;
	int err;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(name, sizeof(name), "bad%zu.run", i);
		put(name, bad[i]);
		memset(&r, 0x5a, sizeof(r));
		err = runstate__read(path, &r);
		if (err != -EINVAL)
			fprintf(stderr, "\ncase %zu read as %d: %s\n", i, err, bad[i]);
		CU_ASSERT_EQUAL(err, -EINVAL);
		/* Nothing half-parsed is left for a careless caller. */
		CU_ASSERT(r.supervisor_pid == 0 && r.nr_children == 0);
		unlink(path);
	}
	/* Nine children: one more than the format holds. */
	snprintf(big, sizeof(big), "kiln-run 1\nsupervisor 1 2\n");
	for (i = 0; i < RUNSTATE_MAX_CHILDREN + 1; i++)
		strcat(big, "child c 1 running 0 0 -\n");
	put("nine.run", big);
	CU_ASSERT_EQUAL(runstate__read(path, &r), -EINVAL);
	unlink(path);
	/* An embedded NUL, and a file longer than any the writer makes. */
	snprintf(path, sizeof(path), "%s/nul.run", dir);
	{
		FILE *f = fopen(path, "w");

		CU_ASSERT_PTR_NOT_NULL_FATAL(f);
		fwrite("kiln-run 1\nsupervisor 1 2\n\0child", 1, 33, f);
		fclose(f);
	}
	CU_ASSERT_EQUAL(runstate__read(path, &r), -EINVAL);
	unlink(path);
	memset(big, 0, sizeof(big));
	strcpy(big, "kiln-run 1\nsupervisor 1 2\n");
	memset(big + strlen(big), '\n', sizeof(big) - strlen(big) - 1);
	put("long.run", big);
	CU_ASSERT_EQUAL(runstate__read(path, &r), -EINVAL);
	unlink(path);
	/* A FIFO planted under the name must not block the reader; a directory is refused. */
	snprintf(path, sizeof(path), "%s/fifo.run", dir);
	CU_ASSERT_EQUAL_FATAL(mkfifo(path, 0600), 0);
	CU_ASSERT_EQUAL(runstate__read(path, &r), -EINVAL);
	unlink(path);
	CU_ASSERT_EQUAL(runstate__read(dir, &r), -EINVAL);
	/* A good file with no children is fine. */
	put("ok.run", "kiln-run 1\nsupervisor 7 8\n");
	CU_ASSERT(runstate__read(path, &r) == 0 && r.supervisor_pid == 7 && r.nr_children == 0);
	unlink(path);
}

/* Loads YAML, writes it as the effective config, loads that: every field must survive. */
static void test_effective_config(void)
{
	static const char yaml[] =
		"profiling:\n"
		"  enabled: false\n"
		"  samplingFrequency: 97\n"
		"  windowSeconds: 1.5\n"
		"  exporter:\n"
		"    compression: zstd\n"
		"    timeout: 7s\n"
		"    batchTimeout: 250ms\n"
		"    batchMaxBytes: 2MiB\n"
		"    queueMaxBatches: 9\n"
		"    retryOnFailure: {enabled: false, initialInterval: 2s, maxInterval: 9s,\n"
		"                     maxElapsedTime: 0}\n"
		"    spool: {enabled: false, directory: /var/tmp/sp, maxBytes: 3MiB}\n"
		"    metricsListen: 127.0.0.1:9465\n"
		"  ui: {enabled: false, listen: '[::1]:7171'}\n"
		"ring: {name: r.1, size: 1MiB, group: '0'}\n"
		"user: 'true'\n"
		"destinations:\n"
		"  - {name: f, type: file, url: /tmp/o u t, format: pprof, maxFiles: 3,\n"
		"     maxBytes: 0}\n"
		"  - name: \"p \\\"q\\\"\"\n"
		"    type: otlp\n"
		"    url: https://c:4318/v1development/profiles\n"
		"    headers: {X-Scope-OrgID: 'null', Empty: ''}\n"
		"    auth: {basic: {username: 'u: v', passwordFile: /etc/pw}}\n"
		"    tls: {caFile: /etc/ca.pem}\n"
		"    pidAttributes: true\n"
		"  - {type: pyroscope, url: 'py:4040', auth: {bearerTokenEnv: TOK}}\n"
		"sources:\n"
		"  - {namespace: shop, kind: Deployment, name: api}\n"
		"  - {unit: nginx.service}\n"
		"  - {containerId: 0123abcd}\n"
		"  - {executable: '#postgres'}\n"
		"symbols:\n"
		"  cacheMaxBytes: 40MiB\n"
		"  debuginfod: {urls: [https://d.example], cacheDir: /var/tmp/dbg, cacheMaxBytes: 5MiB,\n"
		"               cacheMaxAge: 2h, timeout: 150ms, retryInterval: 9s, concurrency: 3}\n";
	struct kiln_config *a = NULL, *b = NULL;
	char msg[512];
	FILE *f;
	size_t i;

	put("in.yaml", yaml);
	CU_ASSERT_EQUAL_FATAL(kiln_config__load(path, &a, msg, sizeof(msg)), 0);
	snprintf(path, sizeof(path), "%s/eff.yaml", dir);
	f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_EQUAL(runcfg__write(a, f), 0);
	fclose(f);
	if (kiln_config__load(path, &b, msg, sizeof(msg)))
		fprintf(stderr, "\n%s\n", msg);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_EQUAL(b->profiling_enabled, false);
	CU_ASSERT_EQUAL(b->sampling_hz, 97);
	CU_ASSERT_EQUAL(b->window_ns, 1500000000ull);
	CU_ASSERT_EQUAL(b->exporter.compression, KILN_COMPRESS_ZSTD);
	CU_ASSERT_EQUAL(b->exporter.timeout_ns, a->exporter.timeout_ns);
	CU_ASSERT_EQUAL(b->exporter.batch_timeout_ns, 250000000ull);
	CU_ASSERT_EQUAL(b->exporter.batch_max_bytes, 2ull << 20);
	CU_ASSERT_EQUAL(b->exporter.queue_max_batches, 9);
	CU_ASSERT_EQUAL(b->exporter.retry.enabled, false);
	CU_ASSERT_EQUAL(b->exporter.retry.initial_ns, 2000000000ull);
	CU_ASSERT_EQUAL(b->exporter.retry.max_interval_ns, 9000000000ull);
	CU_ASSERT_EQUAL(b->exporter.retry.max_elapsed_ns, 0);
	CU_ASSERT_EQUAL(b->exporter.spool_enabled, false);
	CU_ASSERT_STRING_EQUAL(b->exporter.spool_dir, "/var/tmp/sp");
	CU_ASSERT_EQUAL(b->exporter.spool_max_bytes, 3ull << 20);
	CU_ASSERT_STRING_EQUAL(b->exporter.metrics_listen, "127.0.0.1:9465");
	CU_ASSERT_EQUAL(b->ui.enabled, false);
	CU_ASSERT_STRING_EQUAL(b->ui.listen, "[::1]:7171");
	CU_ASSERT_STRING_EQUAL(b->ring_name, "r.1");
	CU_ASSERT_EQUAL(b->ring_size, 1ull << 20);
	CU_ASSERT_STRING_EQUAL(b->ring_group, "0");
	CU_ASSERT_STRING_EQUAL(b->user, "true");
	/* The agent's symbols section reaches it (debuginfod was dropped here once). */
	CU_ASSERT_EQUAL(b->symbol_cache_bytes, 40ull << 20);
	CU_ASSERT_STRING_EQUAL(b->debuginfod.urls, "https://d.example");
	CU_ASSERT_STRING_EQUAL(b->debuginfod.cache_dir, "/var/tmp/dbg");
	CU_ASSERT_EQUAL(b->debuginfod.cache_max_bytes, 5ull << 20);
	CU_ASSERT_EQUAL(b->debuginfod.cache_max_age_ns, 7200ull * 1000000000ull);
	CU_ASSERT_EQUAL(b->debuginfod.timeout_ns, 150000000ull);
	CU_ASSERT_EQUAL(b->debuginfod.retry_ns, 9000000000ull);
	CU_ASSERT_EQUAL(b->debuginfod.concurrency, 3);
	CU_ASSERT_EQUAL_FATAL(b->nr_dests, 3);
	for (i = 0; i < 3; i++) {
		const struct kiln_destination *x = &a->dests[i], *y = &b->dests[i];

		CU_ASSERT_STRING_EQUAL(x->name, y->name);
		CU_ASSERT_EQUAL(x->type, y->type);
		CU_ASSERT_STRING_EQUAL(x->url, y->url);
		CU_ASSERT_STRING_EQUAL(x->format, y->format);
		CU_ASSERT_EQUAL(x->max_files, y->max_files);
		CU_ASSERT_EQUAL(x->max_bytes, y->max_bytes);
		CU_ASSERT_EQUAL(x->pid_attributes, y->pid_attributes);
		CU_ASSERT_EQUAL(x->nr_headers, y->nr_headers);
	}
	CU_ASSERT_STRING_EQUAL(b->dests[0].url, "/tmp/o u t");
	CU_ASSERT_STRING_EQUAL(b->dests[1].name, "p \"q\"");
	CU_ASSERT_STRING_EQUAL(b->dests[1].headers[0].name, "X-Scope-OrgID");
	CU_ASSERT_STRING_EQUAL(b->dests[1].headers[0].value, "null");
	CU_ASSERT_STRING_EQUAL(b->dests[1].headers[1].value, "");
	CU_ASSERT_STRING_EQUAL(b->dests[1].basic_user, "u: v");
	CU_ASSERT_STRING_EQUAL(b->dests[1].basic_password_file, "/etc/pw");
	CU_ASSERT_STRING_EQUAL(b->dests[1].ca_file, "/etc/ca.pem");
	CU_ASSERT_STRING_EQUAL(b->dests[2].bearer_token_env, "TOK");
	CU_ASSERT_EQUAL_FATAL(b->nr_sources, 4);
	CU_ASSERT_STRING_EQUAL(b->sources[0].k8s_kind, "deployment");
	CU_ASSERT_STRING_EQUAL(b->sources[0].k8s_name, "api");
	CU_ASSERT_STRING_EQUAL(b->sources[1].unit, "nginx.service");
	CU_ASSERT_STRING_EQUAL(b->sources[2].container_id, "0123abcd");
	CU_ASSERT_STRING_EQUAL(b->sources[3].executable, "#postgres");
	kiln_config__free(a);
	kiln_config__free(b);
	unlink(path);
	snprintf(path, sizeof(path), "%s/in.yaml", dir);
	unlink(path);
}

static void test_reloads(void)
{
	struct runstate a = { .supervisor_pid = 42, .start_ns = 7, .nr_children = 2 }, b;

	snprintf(a.children[0].name, sizeof(a.children[0].name), "agent");
	snprintf(a.children[1].name, sizeof(a.children[1].name), "export");
	snprintf(path, sizeof(path), "%s/r.run", dir);
	/* No reload yet: no reload lines, so that older readers still read the file. */
	CU_ASSERT_EQUAL_FATAL(runstate__write(path, &a), 0);
	CU_ASSERT_EQUAL(runstate__read(path, &b), 0);
	CU_ASSERT_EQUAL(b.reloads, 0);
	a.reloads = 3;
	a.reload_failures = 2;
	a.child_reloads[1] = 1;
	CU_ASSERT_EQUAL_FATAL(runstate__write(path, &a), 0);
	CU_ASSERT_EQUAL_FATAL(runstate__read(path, &b), 0);
	CU_ASSERT_EQUAL(b.reloads, 3);
	CU_ASSERT_EQUAL(b.reload_failures, 2);
	CU_ASSERT_EQUAL(b.child_reloads[0], 0);
	CU_ASSERT_EQUAL(b.child_reloads[1], 1);
	unlink(path);
	/* A reload line naming no child, twice, or short of a field: refused. */
	put("bad1.run", "kiln-run 1\nsupervisor 1 2\nchild ui 0 stopped 0 0 -\nreloaded agent 1\n");
	CU_ASSERT_EQUAL(runstate__read(path, &b), -EINVAL);
	unlink(path);
	put("bad2.run", "kiln-run 1\nsupervisor 1 2\nreloads 1 0\nreloads 1 0\n");
	CU_ASSERT_EQUAL(runstate__read(path, &b), -EINVAL);
	unlink(path);
	put("bad3.run", "kiln-run 1\nsupervisor 1 2\nreloads 1\n");
	CU_ASSERT_EQUAL(runstate__read(path, &b), -EINVAL);
	unlink(path);
}

static void test_diff(void)
{
	struct kiln_config *a = kiln_config__defaults(), *b = kiln_config__defaults();

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_EQUAL(runcfg__diff(a, b), 0);
	b->sampling_hz = a->sampling_hz + 1;
	CU_ASSERT_EQUAL(runcfg__diff(a, b), (int)RUNCFG_AGENT);
	b->exporter.timeout_ns = a->exporter.timeout_ns + 1;
	CU_ASSERT_EQUAL(runcfg__diff(a, b), (int)(RUNCFG_AGENT | RUNCFG_EXPORT));
	b->sampling_hz = a->sampling_hz;
	free(b->ui.listen);
	b->ui.listen = strdup("127.0.0.1:1");
	CU_ASSERT_EQUAL(runcfg__diff(a, b), (int)(RUNCFG_EXPORT | RUNCFG_UI));
	kiln_config__free(b);
	kiln_config__free(a);
}

/* The pid of a process that has exited and been reaped. */
static pid_t dead_pid(void)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	return pid;
}

/* A kiln ring at DIR/kiln-NAME whose producer detached (pid 0 in its header). */
static void make_ring(const char *name)
{
	struct shm_producer_opts o = { .size = 1 << 16, .gid = -1 };
	struct shm_producer *p = NULL;
	char full[256];

	snprintf(full, sizeof(full), "%s/kiln-%s", dir, name);
	o.name = full;
	CU_ASSERT_EQUAL_FATAL(shm_producer__new(&p, &o), 0);
	shm_producer__free(p);
}

static bool exists(const char *name)
{
	char full[256];

	snprintf(full, sizeof(full), "%s/%s", dir, name);
	return access(full, F_OK) == 0;
}

static void test_sweep(void)
{
	char dead[64], live[64], other[64], junk[64], n[128], busy[256];
	struct shm_producer_opts po = { .size = 1 << 16, .gid = -1 };
	struct shm_producer *prod = NULL;
	pid_t gone = dead_pid();

	CU_ASSERT_EQUAL_FATAL(runstate__private_ring(gone, dead, sizeof(dead)), 0);
	CU_ASSERT_EQUAL_FATAL(runstate__private_ring(getpid(), live, sizeof(live)), 0);
	CU_ASSERT_EQUAL(strncmp(dead, "top-private-", 12), 0);
	snprintf(other, sizeof(other), "top-%d", (int)gone); /* not a private ring's name */
	snprintf(junk, sizeof(junk), "top-private-%d", (int)dead_pid());
	make_ring(dead);
	make_ring(live);
	make_ring(other);
	snprintf(n, sizeof(n), "kiln-%s", junk);
	put(n, "not a ring"); /* a private ring's name, but no kiln ring */
	/* Owner gone, but its agent (the producer) still running: kept. */
	snprintf(busy, sizeof(busy), "%s/kiln-top-private-%d", dir, (int)dead_pid());
	po.name = busy;
	CU_ASSERT_EQUAL_FATAL(shm_producer__new(&prod, &po), 0);
	CU_ASSERT_EQUAL(runstate__sweep_private(dir), 1);
	CU_ASSERT_EQUAL(access(busy, F_OK), 0);
	shm_producer__free(prod);
	shm__unlink(busy);
	snprintf(n, sizeof(n), "kiln-%s", dead);
	CU_ASSERT_FALSE(exists(n));
	snprintf(n, sizeof(n), "kiln-%s.cons", dead);
	CU_ASSERT_FALSE(exists(n));
	snprintf(n, sizeof(n), "kiln-%s", live);
	CU_ASSERT_TRUE(exists(n));
	snprintf(n, sizeof(n), "kiln-%s", other);
	CU_ASSERT_TRUE(exists(n));
	snprintf(n, sizeof(n), "kiln-%s", junk);
	CU_ASSERT_TRUE(exists(n));
	/* Nothing stale is left: a second sweep removes nothing. */
	CU_ASSERT_EQUAL(runstate__sweep_private(dir), 0);
	CU_ASSERT_EQUAL(runstate__sweep_private("/nonexistent-kiln-dir"), -ENOENT);
	snprintf(n, sizeof(n), "%s/kiln-%s", dir, live);
	shm__unlink(n);
	snprintf(n, sizeof(n), "%s/kiln-%s", dir, other);
	shm__unlink(n);
	snprintf(n, sizeof(n), "%s/kiln-%s", dir, junk);
	unlink(n);
}

int main(int argc, char **argv)
{
	static const struct kiln_test_case cases[] = {
		{ "paths", test_path },
		{ "round trip", test_round_trip },
		{ "the writer refuses unparseable fields", test_write_refuses },
		{ "malformed files", test_malformed },
		{ "effective config round trip", test_effective_config },
		{ "reload counters", test_reloads },
		{ "which part a change touches", test_diff },
		{ "sweep of stale private rings", test_sweep },
	};
	int rc;

	if (!mkdtemp(dir))
		return 1;
	rc = kiln_test_main(argc, argv, "runstate", cases, sizeof(cases) / sizeof(cases[0]));
	rmdir(dir);
	return rc;
}
