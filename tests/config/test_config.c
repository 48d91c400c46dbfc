// SPDX-License-Identifier: Apache-2.0
/*
 * The configuration loader: every key parsed, the defaults, the PROFILES_* variables, and a
 * table of malformed files with the exact message a user sees (issue 7's acceptance).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "common/config.h"
#include "common/util.h"
#include "tests/lib/kiln_test.h"

static char dir[] = "/tmp/kiln-config-test-XXXXXX";
static char path[sizeof(dir) + 16];

/* Writes TEXT to the test's kiln.yaml; returns its path. */
static const char *write_yaml(const char *text)
{
	FILE *f;

	snprintf(path, sizeof(path), "%s/kiln.yaml", dir);
	f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(text, f);
	fclose(f);
	return path;
}

/*
 * Each entry: a file, and the message after "PATH" (":LINE: KEY: expected ..., got ...").
 * This table is the documentation of what users see; keep it exact.
 */
static const struct bad_case {
	const char *yaml;
	const char *msg;
} bad[] = {
	/* 1. unknown key: a typo, named with the closest known key */
	{ "profiling:\n  samplingFrequncy: 99\n", ":2: profiling.samplingFrequncy: unknown key, "
						  "did you mean 'samplingFrequency'?" },
	/* 2. unknown key with nothing close: the known keys are listed */
	{ "exporters: {}\n", ":1: exporters: unknown key, expected one of: profiling, ring, user, "
			     "destinations, sources, symbols" },
	/* symbols.cacheMaxBytes: a size, 1 MiB at least */
	{ "symbols:\n  cacheMaxBytes: 512KiB\n",
	  ":2: symbols.cacheMaxBytes: expected a size of at least 1MiB such as 32MiB, got '512KiB'" },
	/* symbols.debuginfod.urls: http(s) URLs only, named by their path */
	{ "symbols:\n  debuginfod:\n    urls: [ftp://x]\n",
	  ":3: symbols.debuginfod.urls: expected a list of http:// or https:// URLs, got 'ftp://x'" },
	/* 3. a case slip is still found */
	{ "profiling:\n  exporter:\n    retryonfailure: {enabled: false}\n", ":3: "
									     "profiling.exporter."
									     "retryonfailure: "
									     "unknown key, did you "
									     "mean "
									     "'retryOnFailure'?" },
	/* 4. wrong type: a string for a bool */
	{ "profiling:\n  enabled: \"true\"\n", ":2: profiling.enabled: expected true or false, got "
					       "'\"true\"'" },
	/* 5. wrong type: yes is YAML 1.1 only; kiln wants true/false */
	{ "profiling:\n  ui:\n    enabled: yes\n", ":3: profiling.ui.enabled: expected true or "
						   "false, got 'yes'" },
	/* 6. wrong type: a mapping for a string */
	{ "user: {name: kiln}\n", ":1: user: expected a string, got a mapping" },
	/* 7. bad duration */
	{ "profiling:\n  exporter:\n    timeout: soon\n", ":3: profiling.exporter.timeout: "
							  "expected a duration such as 5s, got "
							  "'soon'" },
	/* 8. bad duration: a unit kiln does not know */
	{ "profiling:\n  exporter:\n    retryOnFailure:\n      initialInterval: 5d\n",
	  ":4: profiling.exporter.retryOnFailure.initialInterval: expected a duration such as 5s, "
	  "got '5d'" },
	/* 9. bad size */
	{ "profiling:\n  exporter:\n    batchMaxBytes: lots\n", ":3: "
								"profiling.exporter.batchMaxBytes: "
								"expected a size of at least 4KiB "
								"such as 4MiB, "
								"got 'lots'" },
	/* 10. ring size not a power of two */
	{ "ring:\n  size: 3MiB\n", ":2: ring.size: expected a power of two between 64KiB and 2GiB "
				   "such as 64MiB, got "
				   "'3MiB'" },
	/* 11. unknown destination type */
	{ "destinations:\n  - name: k\n    type: kafka\n    url: k:9092\n", ":3: "
									    "destinations[0].type: "
									    "expected one of file, "
									    "otlp, pyroscope, got "
									    "'kafka'" },
	/* 12. missing url */
	{ "destinations:\n  - name: gw\n    type: otlp\n", ":2: destinations[0].url: expected a "
							   "URL such as http://collector:4318, got "
							   "nothing" },
	/* 13. duplicate destination names */
	{ "destinations:\n  - {name: a, type: file, url: /tmp/a}\n"
	  "  - {name: a, type: pyroscope, url: 'p:4040'}\n",
	  ":3: destinations[1].name: expected a unique name, got 'a' (destinations[0] has it "
	  "too)" },
	/* 14. a destination without PROFILES */
	{ "destinations:\n  - name: gw\n    type: otlp\n    url: http://gw:4318\n"
	  "    signals: [TRACES, METRICS]\n",
	  ":5: destinations[0].signals: destination 'gw' does not carry PROFILES" },
	/* 15. an unknown signal */
	{ "destinations:\n  - {name: gw, type: otlp, url: 'http://gw:4318', signals: [PROFILE]}\n",
	  ":2: destinations[0].signals[0]: expected one of PROFILES, TRACES, METRICS, LOGS, got "
	  "'PROFILE'" },
	/* 16. pyroscope with a scheme */
	{ "destinations:\n  - name: pyro\n    type: pyroscope\n    url: http://pyroscope:4040\n",
	  ":4: destinations[0].url: expected host:port such as pyroscope:4040 (no scheme, no "
	  "path), got 'http://pyroscope:4040'" },
	/* 17. pyroscope with a path */
	{ "destinations:\n  - name: pyro\n    type: pyroscope\n    url: pyroscope:4040/otlp\n",
	  ":4: destinations[0].url: expected host:port such as pyroscope:4040 (no scheme, no "
	  "path), got 'pyroscope:4040/otlp'" },
	/* 18. otlp without http(s):// */
	{ "destinations:\n  - name: gw\n    type: otlp\n    url: collector:4318\n",
	  ":4: destinations[0].url: expected a URL starting with http:// or https:// such as "
	  "http://collector:4318, got 'collector:4318'" },
	/* 19. a file-only key on another type */
	{ "destinations:\n  - name: gw\n    type: otlp\n    url: http://gw:4318\n"
	  "    format: pprof\n",
	  ":5: destinations[0].format: only applies to type file, not otlp" },
	/* 20. a source with no selector */
	{ "sources:\n  - {}\n", ":2: sources[0]: expected a selector (namespace/kind/name, unit, "
				"containerId or "
				"executable), got an empty mapping" },
	/* 21. an unknown selector */
	{ "sources:\n  - {unit: nginx.service}\n  - {pid: 42}\n", ":3: sources[1].pid: unknown "
								  "key, expected one of: "
								  "namespace, kind, name, unit, "
								  "containerId, executable" },
	/* 22. a misspelt selector */
	{ "sources:\n  - containerid: 0123abcd\n", ":2: sources[0].containerid: unknown key, did "
						   "you mean 'containerId'?" },
	/* 23. a kind kiln cannot derive */
	{ "sources:\n  - namespace: shop\n    kind: rollout\n    name: api\n",
	  ":3: sources[0].kind: expected one of deployment, statefulset, daemonset, job, "
	  "cronjob, replicaset, pod, got 'rollout'" },
	/* 24. two selector kinds in one source */
	{ "sources:\n  - {unit: nginx.service, executable: nginx}\n", ":2: sources[0]: expected "
								      "one kind of selector, got "
								      "unit and executable (use "
								      "two "
								      "sources to select both)" },
	/* 25. frequency zero */
	{ "profiling:\n  samplingFrequency: 0\n", ":2: profiling.samplingFrequency: expected a "
						  "frequency in Hz between 1 and 100000, got "
						  "'0'" },
	/* 26. frequency negative */
	{ "profiling:\n  samplingFrequency: -19\n", ":2: profiling.samplingFrequency: expected a "
						    "frequency in Hz between 1 and 100000, got "
						    "'-19'" },
	/* 27. frequency too high */
	{ "profiling:\n  samplingFrequency: 200000\n", ":2: profiling.samplingFrequency: expected "
						       "a frequency in Hz between 1 and 100000, "
						       "got "
						       "'200000'" },
	/* 28. YAML syntax: libyaml's line and column */
	{ "profiling:\n  enabled: true\n    ui: {}\n", ":3:7: invalid YAML: mapping values are not "
						       "allowed in this context" },
	/* 29. YAML syntax: an unclosed flow list */
	{ "sources: [ {unit: a}\n", ":2:1: invalid YAML: did not find expected ',' or ']' while "
				    "parsing a flow sequence" },
	/* 30. a key given twice */
	{ "profiling:\n  enabled: true\n  enabled: false\n", ":3: profiling.enabled: duplicate key "
							     "(first set on line 2)" },
	/* 31. not a mapping at all */
	{ "- profiling\n", ":1: (top level): expected a mapping, got a list" },
	/* 32. retry intervals the wrong way round */
	{ "profiling:\n  exporter:\n    retryOnFailure: {initialInterval: 10s, maxInterval: 1s}\n",
	  ":3: profiling.exporter.retryOnFailure.maxInterval: expected maxInterval to be at least "
	  "initialInterval, got '1s'" },
	/* 33. UI listen address without a port */
	{ "profiling:\n  ui:\n    listen: localhost\n", ":3: profiling.ui.listen: expected an "
							"address such as 127.0.0.1:7070, got "
							"'localhost'" },
	/* 34. compression kiln does not have */
	{ "profiling:\n  exporter:\n    compression: brotli\n", ":3: "
								"profiling.exporter.compression: "
								"expected one of gzip, zstd, none, "
								"got 'brotli'" },
	/* 35. a second YAML document */
	{ "profiling: {}\n---\nring: {}\n", ":2: expected one YAML document, got a second one" },
	/* 36. bearer token given twice */
	{ "destinations:\n  - name: gw\n    type: otlp\n    url: http://gw:4318\n"
	  "    auth: {bearerTokenEnv: T, bearerTokenFile: /t}\n",
	  ":5: destinations[0].auth.bearerTokenFile: expected either bearerTokenEnv or "
	  "bearerTokenFile, got both" },
	/* 37. a destinations mapping instead of a list */
	{ "destinations:\n  local: {type: file, url: /tmp/p}\n", ":2: destinations: expected a "
								 "list of destinations, got a "
								 "mapping" },
};

static void test_bad_table(void)
{
	char err[512], want[600];
	struct kiln_config *c;
	size_t i;
	int ret;

	CU_ASSERT(ARRAY_SIZE(bad) >= 15);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		c = (struct kiln_config *)1;
		ret = kiln_config__load(write_yaml(bad[i].yaml), &c, err, sizeof(err));
		snprintf(want, sizeof(want), "%s%s", path, bad[i].msg);
		if (ret != -EINVAL || strcmp(err, want))
			fprintf(stderr, "\ncase %zu: ret %d\n  got:  %s\n  want: %s\n", i + 1, ret,
				err, want);
		CU_ASSERT_EQUAL(ret, -EINVAL);
		CU_ASSERT_STRING_EQUAL(err, want);
		CU_ASSERT_PTR_NULL(c);
	}
}

static void test_missing_file(void)
{
	struct kiln_config *c;
	char err[256];

	CU_ASSERT_EQUAL(kiln_config__load("/nonexistent/kiln.yaml", &c, err, sizeof(err)), -ENOENT);
	CU_ASSERT_STRING_EQUAL(err, "/nonexistent/kiln.yaml: No such file or directory");
}

static void check_defaults(const struct kiln_config *c)
{
	char cwd[4096], want[4200];

	CU_ASSERT(c->profiling_enabled);
	CU_ASSERT_EQUAL(c->sampling_hz, 19);
	CU_ASSERT_EQUAL(c->window_ns, 1000000000ull);
	CU_ASSERT_EQUAL(c->exporter.compression, KILN_COMPRESS_GZIP);
	CU_ASSERT_EQUAL(c->exporter.timeout_ns, 5000000000ull);
	CU_ASSERT_EQUAL(c->exporter.batch_timeout_ns, 5000000000ull);
	CU_ASSERT_EQUAL(c->exporter.batch_max_bytes, 4u << 20);
	CU_ASSERT_EQUAL(c->exporter.queue_max_batches, 64);
	CU_ASSERT(c->exporter.retry.enabled);
	CU_ASSERT_EQUAL(c->exporter.retry.initial_ns, 5000000000ull);
	CU_ASSERT_EQUAL(c->exporter.retry.max_interval_ns, 30000000000ull);
	CU_ASSERT_EQUAL(c->exporter.retry.max_elapsed_ns, 300000000000ull);
	CU_ASSERT_DOUBLE_EQUAL(c->exporter.retry.multiplier, 1.5, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(c->exporter.retry.randomization, 0.5, 1e-9);
	CU_ASSERT(c->exporter.spool_enabled);
	if (geteuid() == 0)
		CU_ASSERT_STRING_EQUAL(c->exporter.spool_dir, "/var/lib/kiln/spool");
	CU_ASSERT_EQUAL(c->exporter.spool_max_bytes, 256u << 20);
	CU_ASSERT_STRING_EQUAL(c->exporter.metrics_listen, "");
	CU_ASSERT(c->ui.enabled);
	CU_ASSERT_STRING_EQUAL(c->ui.listen, "127.0.0.1:7070");
	CU_ASSERT_EQUAL(c->ui.max_slots, 24);
	CU_ASSERT_EQUAL(c->ui.slot_ttl_s, 120);
	CU_ASSERT_EQUAL(c->ui.slot_max_bytes, 8388608);
	CU_ASSERT_EQUAL(c->ui.cleanup_interval_s, 15);
	CU_ASSERT_STRING_EQUAL(c->ring_name, "default");
	CU_ASSERT_EQUAL(c->ring_size, 16u << 20);
	CU_ASSERT_EQUAL(c->symbol_cache_bytes, 32u << 20);
	CU_ASSERT_STRING_EQUAL(c->ring_group, "");
	CU_ASSERT_STRING_EQUAL(c->user, "");
	CU_ASSERT_EQUAL_FATAL(c->nr_dests, 1);
	CU_ASSERT_STRING_EQUAL(c->dests[0].name, "local");
	CU_ASSERT_EQUAL(c->dests[0].type, KILN_DEST_FILE);
	CU_ASSERT_PTR_NOT_NULL_FATAL(getcwd(cwd, sizeof(cwd)));
	snprintf(want, sizeof(want), "%s/profiles", cwd);
	CU_ASSERT_STRING_EQUAL(c->dests[0].url, want);
	CU_ASSERT_STRING_EQUAL(c->dests[0].format, "otlp");
	CU_ASSERT(c->dests[0].profiles);
	CU_ASSERT_EQUAL(c->nr_sources, 0);
}

static void test_defaults(void)
{
	struct kiln_config *c = kiln_config__defaults();
	char err[256];

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	check_defaults(c);
	kiln_config__free(c);
	/* An empty file and an empty mapping are every default too. */
	CU_ASSERT_EQUAL_FATAL(kiln_config__load(write_yaml(""), &c, err, sizeof(err)), 0);
	check_defaults(c);
	kiln_config__free(c);
	CU_ASSERT_EQUAL_FATAL(
		kiln_config__load(write_yaml("# only a comment\n{}\n"), &c, err, sizeof(err)), 0);
	check_defaults(c);
	kiln_config__free(c);
	kiln_config__free(NULL);
}

static const char full_yaml[] = "profiling:\n"
				"  enabled: false\n"
				"  samplingFrequency: 99\n"
				"  windowSeconds: 2\n"
				"  exporter:\n"
				"    enableDataCompression: true\n"
				"    compression: zstd\n"
				"    timeout: 1m30s\n"
				"    batchTimeout: 250ms\n"
				"    batchMaxBytes: 1MiB\n"
				"    queueMaxBatches: 7\n"
				"    retryOnFailure:\n"
				"      enabled: false\n"
				"      initialInterval: 1s\n"
				"      maxInterval: 10s\n"
				"      maxElapsedTime: 2m\n"
				"    spool:\n"
				"      enabled: false\n"
				"      directory: /srv/spool\n"
				"      maxBytes: 1GiB\n"
				"    metricsListen: 127.0.0.1:9465\n"
				"  ui:\n"
				"    enabled: false\n"
				"    listen: 0.0.0.0:8080\n"
				"ring:\n"
				"  name: node-1\n"
				"  size: 128MiB\n"
				"  group: kiln\n"
				"user: nobody\n"
				"symbols:\n"
				"  cacheMaxBytes: 48MiB\n"
				"destinations:\n"
				"  - name: files\n"
				"    type: file\n"
				"    url: /var/tmp/prof\n"
				"    format: pprof\n"
				"    maxFiles: 10\n"
				"    maxBytes: 100MiB\n"
				"  - name: gw\n"
				"    type: otlp\n"
				"    url: https://gw.example:4318\n"
				"    signals: [TRACES, PROFILES]\n"
				"    headers: {X-Scope-OrgID: team-a, X-Other: \"2\"}\n"
				"    auth:\n"
				"      bearerTokenFile: /run/secrets/token\n"
				"    tls: {caFile: /etc/ssl/ca.pem}\n"
				"    pidAttributes: true\n"
				"  - name: pyro\n"
				"    type: pyroscope\n"
				"    url: pyroscope.monitoring:4040\n"
				"    auth:\n"
				"      basic: {username: u, passwordEnv: PYRO_PW}\n"
				"  - type: otlp\n"
				"    url: http://[::1]:4318/v1development/profiles\n"
				"    auth: {bearerTokenEnv: KILN_TOKEN}\n"
				"sources:\n"
				"  - {namespace: shop, kind: Deployment, name: api}\n"
				"  - {unit: nginx.service}\n"
				"  - {containerId: 0123abcd}\n"
				"  - {executable: postgres}\n"
				"  - {namespace: batch}\n";

static void test_full(void)
{
	struct kiln_config *c;
	struct kiln_destination *d;
	char err[512];

	CU_ASSERT_EQUAL_FATAL(kiln_config__load(write_yaml(full_yaml), &c, err, sizeof(err)), 0);
	CU_ASSERT(!c->profiling_enabled);
	CU_ASSERT_EQUAL(c->sampling_hz, 99);
	CU_ASSERT_EQUAL(c->window_ns, 2000000000ull);
	CU_ASSERT_EQUAL(c->exporter.compression, KILN_COMPRESS_ZSTD);
	CU_ASSERT_EQUAL(c->exporter.timeout_ns, 90000000000ull);
	CU_ASSERT_EQUAL(c->exporter.batch_timeout_ns, 250000000ull);
	CU_ASSERT_EQUAL(c->exporter.batch_max_bytes, 1u << 20);
	CU_ASSERT_EQUAL(c->exporter.queue_max_batches, 7);
	CU_ASSERT(!c->exporter.retry.enabled);
	CU_ASSERT_EQUAL(c->exporter.retry.initial_ns, 1000000000ull);
	CU_ASSERT_EQUAL(c->exporter.retry.max_interval_ns, 10000000000ull);
	CU_ASSERT_EQUAL(c->exporter.retry.max_elapsed_ns, 120000000000ull);
	CU_ASSERT(!c->exporter.spool_enabled);
	CU_ASSERT_STRING_EQUAL(c->exporter.spool_dir, "/srv/spool");
	CU_ASSERT_EQUAL(c->exporter.spool_max_bytes, 1ull << 30);
	CU_ASSERT_STRING_EQUAL(c->exporter.metrics_listen, "127.0.0.1:9465");
	CU_ASSERT(!c->ui.enabled);
	CU_ASSERT_STRING_EQUAL(c->ui.listen, "0.0.0.0:8080");
	CU_ASSERT_STRING_EQUAL(c->ring_name, "node-1");
	CU_ASSERT_EQUAL(c->ring_size, 128u << 20);
	CU_ASSERT_STRING_EQUAL(c->ring_group, "kiln");
	CU_ASSERT_STRING_EQUAL(c->user, "nobody");
	CU_ASSERT_EQUAL(c->symbol_cache_bytes, 48u << 20);

	CU_ASSERT_EQUAL_FATAL(c->nr_dests, 4);
	d = &c->dests[0];
	CU_ASSERT_STRING_EQUAL(d->name, "files");
	CU_ASSERT_EQUAL(d->type, KILN_DEST_FILE);
	CU_ASSERT_STRING_EQUAL(d->url, "/var/tmp/prof");
	CU_ASSERT_STRING_EQUAL(d->format, "pprof");
	CU_ASSERT_EQUAL(d->max_files, 10);
	CU_ASSERT_EQUAL(d->max_bytes, 100u << 20);
	CU_ASSERT(d->profiles);
	d = &c->dests[1];
	CU_ASSERT_STRING_EQUAL(d->name, "gw");
	CU_ASSERT_EQUAL(d->type, KILN_DEST_OTLP);
	CU_ASSERT_STRING_EQUAL(d->url, "https://gw.example:4318");
	CU_ASSERT(d->profiles);
	CU_ASSERT_EQUAL_FATAL(d->nr_headers, 2);
	CU_ASSERT_STRING_EQUAL(d->headers[0].name, "X-Scope-OrgID");
	CU_ASSERT_STRING_EQUAL(d->headers[0].value, "team-a");
	CU_ASSERT_STRING_EQUAL(d->headers[1].name, "X-Other");
	CU_ASSERT_STRING_EQUAL(d->headers[1].value, "2");
	CU_ASSERT_STRING_EQUAL(d->bearer_token_file, "/run/secrets/token");
	CU_ASSERT_PTR_NULL(d->bearer_token_env);
	CU_ASSERT_STRING_EQUAL(d->ca_file, "/etc/ssl/ca.pem");
	CU_ASSERT(d->pid_attributes);
	d = &c->dests[2];
	CU_ASSERT_STRING_EQUAL(d->name, "pyro");
	CU_ASSERT_EQUAL(d->type, KILN_DEST_PYROSCOPE);
	CU_ASSERT_STRING_EQUAL(d->url, "pyroscope.monitoring:4040");
	CU_ASSERT_STRING_EQUAL(d->basic_user, "u");
	CU_ASSERT_STRING_EQUAL(d->basic_password_env, "PYRO_PW");
	CU_ASSERT(!d->pid_attributes);
	d = &c->dests[3];
	CU_ASSERT_STRING_EQUAL(d->name, "otlp"); /* unnamed: named after its type */
	CU_ASSERT_STRING_EQUAL(d->url, "http://[::1]:4318/v1development/profiles");
	CU_ASSERT_STRING_EQUAL(d->bearer_token_env, "KILN_TOKEN");

	CU_ASSERT_EQUAL_FATAL(c->nr_sources, 5);
	CU_ASSERT_STRING_EQUAL(c->sources[0].k8s_namespace, "shop");
	CU_ASSERT_STRING_EQUAL(c->sources[0].k8s_kind, "deployment"); /* lower-cased */
	CU_ASSERT_STRING_EQUAL(c->sources[0].k8s_name, "api");
	CU_ASSERT_STRING_EQUAL(c->sources[1].unit, "nginx.service");
	CU_ASSERT_STRING_EQUAL(c->sources[2].container_id, "0123abcd");
	CU_ASSERT_STRING_EQUAL(c->sources[3].executable, "postgres");
	CU_ASSERT_STRING_EQUAL(c->sources[4].k8s_namespace, "batch");
	CU_ASSERT_PTR_NULL(c->sources[4].k8s_kind);
	CU_ASSERT_PTR_NULL(c->sources[4].k8s_name);
	kiln_config__free(c);
}

static void test_partial(void)
{
	struct kiln_config *c;
	char err[512], cwd[4096], want[4200];

	/* Compression off, relative file url resolved against the working directory. */
	CU_ASSERT_EQUAL_FATAL(kiln_config__load(write_yaml("profiling:\n"
							   "  exporter:\n"
							   "    enableDataCompression: false\n"
							   "destinations:\n"
							   "  - {type: file, url: ./out}\n"
							   "sources: []\n"),
						&c, err, sizeof(err)),
			      0);
	CU_ASSERT_EQUAL(c->exporter.compression, KILN_COMPRESS_NONE);
	CU_ASSERT_EQUAL(c->sampling_hz, 19);
	CU_ASSERT_EQUAL_FATAL(c->nr_dests, 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(getcwd(cwd, sizeof(cwd)));
	snprintf(want, sizeof(want), "%s/out", cwd);
	CU_ASSERT_STRING_EQUAL(c->dests[0].url, want);
	CU_ASSERT_STRING_EQUAL(c->dests[0].name, "file");
	CU_ASSERT_EQUAL(c->nr_sources, 0);
	kiln_config__free(c);

	/* `destinations: []` means no destination at all (UI only). */
	CU_ASSERT_EQUAL_FATAL(
		kiln_config__load(write_yaml("destinations: []\n"), &c, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c->nr_dests, 0);
	kiln_config__free(c);
}

static const struct {
	const char *var, *bad, *msg, *then;
} bad_env[] = {
	{ "PROFILES_MAX_SLOTS", "0",
	  "PROFILES_MAX_SLOTS: expected a whole number of slots between 1 and 10000, got '0'",
	  "24" },
	{ "PROFILES_SLOT_MAX_BYTES", "99999999999999999999",
	  "PROFILES_SLOT_MAX_BYTES: expected a whole number of bytes between 4096 and 4294967296, "
	  "got '99999999999999999999'",
	  "8388608" },
	{ "PROFILES_CLEANUP_INTERVAL_SECONDS", "",
	  "PROFILES_CLEANUP_INTERVAL_SECONDS: expected a whole number of seconds between 1 and "
	  "86400, got ''",
	  "5" },
};

static void test_env(void)
{
	struct kiln_config *c = kiln_config__defaults();
	char err[256];

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	setenv("PROFILES_MAX_SLOTS", "50", 1);
	setenv("PROFILES_SLOT_TTL_SECONDS", "300", 1);
	setenv("PROFILES_SLOT_MAX_BYTES", "1048576", 1);
	setenv("PROFILES_CLEANUP_INTERVAL_SECONDS", "5", 1);
	CU_ASSERT_EQUAL(kiln_config__apply_env(c, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c->ui.max_slots, 50);
	CU_ASSERT_EQUAL(c->ui.slot_ttl_s, 300);
	CU_ASSERT_EQUAL(c->ui.slot_max_bytes, 1048576);
	CU_ASSERT_EQUAL(c->ui.cleanup_interval_s, 5);

	/* A bad variable changes nothing, not even the good ones before it. */
	setenv("PROFILES_MAX_SLOTS", "7", 1);
	setenv("PROFILES_SLOT_TTL_SECONDS", "two minutes", 1);
	CU_ASSERT_EQUAL(kiln_config__apply_env(c, err, sizeof(err)), -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "PROFILES_SLOT_TTL_SECONDS: expected a whole number of "
				    "seconds between 1 and 604800, got 'two minutes'");
	CU_ASSERT_EQUAL(c->ui.max_slots, 50);
	setenv("PROFILES_SLOT_TTL_SECONDS", "120", 1);

	/* Each variable out of its range, named in the message; then a good value again. */
	for (size_t i = 0; i < sizeof(bad_env) / sizeof(bad_env[0]); i++) {
		setenv(bad_env[i].var, bad_env[i].bad, 1);
		CU_ASSERT_EQUAL(kiln_config__apply_env(c, err, sizeof(err)), -EINVAL);
		CU_ASSERT_STRING_EQUAL(err, bad_env[i].msg);
		setenv(bad_env[i].var, bad_env[i].then, 1);
	}

	unsetenv("PROFILES_MAX_SLOTS");
	unsetenv("PROFILES_SLOT_TTL_SECONDS");
	unsetenv("PROFILES_SLOT_MAX_BYTES");
	unsetenv("PROFILES_CLEANUP_INTERVAL_SECONDS");
	kiln_config__free(c);
}

static void test_units(void)
{
	uint64_t v;

	CU_ASSERT(!kiln_parse_duration("5s", &v) && v == 5000000000ull);
	CU_ASSERT(!kiln_parse_duration("300ms", &v) && v == 300000000ull);
	CU_ASSERT(!kiln_parse_duration("2m", &v) && v == 120000000000ull);
	CU_ASSERT(!kiln_parse_duration("10", &v) && v == 10000000000ull);
	CU_ASSERT(!kiln_parse_duration("1.5s", &v) && v == 1500000000ull);
	CU_ASSERT(!kiln_parse_duration("0.1", &v) && v == 100000000ull);
	CU_ASSERT(!kiln_parse_duration("1h2m3s", &v) && v == 3723000000000ull);
	CU_ASSERT(!kiln_parse_duration("250us", &v) && v == 250000ull);
	CU_ASSERT(!kiln_parse_duration("7ns", &v) && v == 7);
	CU_ASSERT_EQUAL(kiln_parse_duration("", &v), -EINVAL);
	CU_ASSERT_EQUAL(kiln_parse_duration("s", &v), -EINVAL);
	CU_ASSERT_EQUAL(kiln_parse_duration("5 s", &v), -EINVAL);
	CU_ASSERT_EQUAL(kiln_parse_duration("1m30", &v), -EINVAL);
	CU_ASSERT_EQUAL(kiln_parse_duration("-5s", &v), -EINVAL);
	CU_ASSERT_EQUAL(kiln_parse_duration("5.s", &v), -EINVAL);
	CU_ASSERT_EQUAL(kiln_parse_duration("99999999999999h", &v), -ERANGE);

	CU_ASSERT(!kiln_parse_size("64MiB", &v) && v == 64ull << 20);
	CU_ASSERT(!kiln_parse_size("4KiB", &v) && v == 4096);
	CU_ASSERT(!kiln_parse_size("1GiB", &v) && v == 1ull << 30);
	CU_ASSERT(!kiln_parse_size("100", &v) && v == 100);
	CU_ASSERT(!kiln_parse_size("100B", &v) && v == 100);
	CU_ASSERT(!kiln_parse_size("1.5KiB", &v) && v == 1536);
	CU_ASSERT(!kiln_parse_size("2MB", &v) && v == 2000000);
	CU_ASSERT(!kiln_parse_size("8Mi", &v) && v == 8ull << 20);
	CU_ASSERT_EQUAL(kiln_parse_size("1MiB1KiB", &v), -EINVAL);
	CU_ASSERT_EQUAL(kiln_parse_size("lots", &v), -EINVAL);
	CU_ASSERT_EQUAL(kiln_parse_size("64 MiB", &v), -EINVAL);
	CU_ASSERT_EQUAL(kiln_parse_size("99999999999TiB", &v), -ERANGE);
}

int main(int argc, char **argv)
{
	static const struct kiln_test_case cases[] = {
		{ "defaults", test_defaults },
		{ "every key", test_full },
		{ "partial files", test_partial },
		{ "PROFILES_* variables", test_env },
		{ "durations and sizes", test_units },
		{ "malformed files: exact messages", test_bad_table },
		{ "missing file", test_missing_file },
	};
	int rc;

	if (!mkdtemp(dir))
		return 1;
	rc = kiln_test_main(argc, argv, "config", cases, sizeof(cases) / sizeof(cases[0]));
	unlink(path);
	rmdir(dir);
	return rc;
}
