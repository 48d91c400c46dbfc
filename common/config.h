/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kiln's configuration: one YAML file whose shape mirrors the Helm values, shared by every
 * process (agent, export, ui, run). Flags override the file; the UI buffer also reads its
 * PROFILES_* environment variables. docs/configuration.md lists every key.
 *
 *   profiling:
 *     enabled: true
 *     samplingFrequency: 19            # Hz per CPU
 *     windowSeconds: 1                 # in-kernel aggregation window
 *     unwind: tables                   # tables (.eh_frame) | fp (frame pointers only)
 *     exporter:
 *       enableDataCompression: true    # gzip; `compression: zstd|gzip|none` overrides
 *       compression: gzip
 *       timeout: 5s
 *       batchTimeout: 5s
 *       batchMaxBytes: 4MiB
 *       queueMaxBatches: 64
 *       retryOnFailure:
 *         enabled: true
 *         initialInterval: 5s
 *         maxInterval: 30s
 *         maxElapsedTime: 300s
 *       spool:
 *         enabled: true
 *         directory: /var/lib/kiln/spool
 *         maxBytes: 256MiB
 *       metricsListen: ""              # e.g. 127.0.0.1:9465 for Prometheus text
 *     ui:
 *       enabled: true
 *       listen: 127.0.0.1:7070
 *   ring:
 *     name: default                    # /dev/shm/kiln-NAME
 *     size: 16MiB
 *     group: ""                        # group allowed to attach (name or gid)
 *   user: ""                           # `kiln run` drops exporter/UI privileges to it
 *   destinations:
 *     - name: local
 *       type: file                     # file | otlp | pyroscope
 *       url: /var/lib/kiln/profiles    # file: directory; otlp: base or full URL;
 *                                      # pyroscope: host:port
 *       signals: [PROFILES]
 *       format: otlp                   # file only: otlp | pprof
 *       maxFiles: 100                  # file only: rotation
 *       maxBytes: 1GiB
 *       headers: {X-Scope-OrgID: team-a}
 *       auth:
 *         bearerTokenEnv: KILN_TOKEN   # or bearerTokenFile
 *         basic: {username: u, passwordEnv: P}   # or passwordFile
 *       tls: {caFile: /etc/ssl/ca.pem}
 *       pidAttributes: false           # per-sample process.pid / thread.id
 *   sources:                           # empty: the whole host
 *     - {namespace: shop, kind: deployment, name: api}
 *     - {unit: nginx.service}
 *     - {containerId: 0123abcd}
 *     - {executable: postgres}
 *
 * Durations take ns/us/ms/s/m/h suffixes (a bare number is seconds); sizes take
 * B/KiB/MiB/GiB (a bare number is bytes).
 */
#ifndef KILN_COMMON_CONFIG_H
#define KILN_COMMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum kiln_dest_type {
	KILN_DEST_FILE = 1,
	KILN_DEST_OTLP,
	KILN_DEST_PYROSCOPE,
};

enum kiln_compression {
	KILN_COMPRESS_NONE = 0,
	KILN_COMPRESS_GZIP,
	KILN_COMPRESS_ZSTD,
};

struct kiln_header {
	char *name;
	char *value;
};

/* A file destination's maxBytes when the config leaves it out: 1 GiB. */
#define KILN_FILE_DEST_MAX_BYTES (1ull << 30)

struct kiln_destination {
	char *name;
	enum kiln_dest_type type;
	char *url;
	bool profiles; /* signals contains PROFILES */
	char *format; /* file: "otlp" or "pprof" */
	uint64_t max_files; /* file: rotation by count, 0 = unlimited */
	uint64_t max_bytes; /* file: rotation by total size, 0 = unlimited */
	struct kiln_header *headers;
	size_t nr_headers;
	char *bearer_token_env, *bearer_token_file;
	char *basic_user, *basic_password_env, *basic_password_file;
	char *ca_file;
	bool pid_attributes;
	/* Delivery (kiln export); see docs/destinations.md. */
	bool retry_500; /* retryOn500: HTTP 500 is retried like 503 (default: final) */
	bool per_request_set; /* profilesPerRequest given (else: 1 for pyroscope, no limit) */
	uint64_t profiles_per_request; /* 0: no limit */
	bool window_set; /* ingestionWindow given (else -1h/+10m, none for file) */
	uint64_t window_past_ns, window_future_ns; /* 0: no bound on that side */
};

struct kiln_source {
	char *k8s_namespace, *k8s_kind, *k8s_name;
	char *unit;
	char *container_id;
	char *executable;
};

struct kiln_retry {
	bool enabled;
	uint64_t initial_ns, max_interval_ns, max_elapsed_ns;
	double multiplier; /* 1.5, not in the YAML */
	double randomization; /* 0.5, not in the YAML */
};

struct kiln_config {
	bool profiling_enabled;
	unsigned int sampling_hz;
	uint64_t window_ns;
	bool unwind_fp; /* profiling.unwind: fp: user stacks by frame pointers only */
	struct {
		enum kiln_compression compression;
		uint64_t timeout_ns;
		uint64_t batch_timeout_ns;
		uint64_t batch_max_bytes;
		uint64_t queue_max_batches;
		struct kiln_retry retry;
		bool spool_enabled;
		char *spool_dir;
		uint64_t spool_max_bytes;
		char *metrics_listen;
	} exporter;
	struct {
		bool enabled;
		char *listen;
		/* From PROFILES_* variables, not YAML. */
		uint64_t max_slots, slot_ttl_s, slot_max_bytes, cleanup_interval_s;
	} ui;
	char *ring_name;
	uint64_t ring_size;
	char *ring_group;
	char *user;
	struct kiln_destination *dests;
	size_t nr_dests;
	struct kiln_source *sources;
	size_t nr_sources;
	/* symbols.cacheMaxBytes: the agent's in-memory symbol tables (ELF, maps, perf maps) */
	uint64_t symbol_cache_bytes;
	/* symbols.debuginfod: debug files fetched by build id (build ids leave the node) */
	struct {
		char *urls; /* space-separated; "" = DEBUGINFOD_URLS, if set, else off */
		char *cache_dir; /* the agent's state directory's debuginfod/ */
		uint64_t cache_max_bytes, cache_max_age_ns, timeout_ns, retry_ns;
		uint64_t concurrency;
	} debuginfod;
};

/*
 * Returns a config holding every default (the embedded default of `kiln run`: whole host,
 * a file destination in a local directory, UI on loopback), or NULL on ENOMEM.
 * Free with kiln_config__free().
 */
struct kiln_config *kiln_config__defaults(void);

/*
 * Loads PATH over the defaults. Returns 0 and *OUT, or -errno with a one-line message in
 * ERR naming the file, the line, the key and what was expected, e.g.
 * "kiln.yaml:7: profiling.exporter.timeout: expected a duration such as 5s, got 'soon'".
 */
int kiln_config__load(const char *path, struct kiln_config **out, char *err, size_t errlen);

/*
 * Applies the UI's PROFILES_MAX_SLOTS, PROFILES_SLOT_TTL_SECONDS, PROFILES_SLOT_MAX_BYTES
 * and PROFILES_CLEANUP_INTERVAL_SECONDS. Returns 0 or -EINVAL with ERR naming the variable.
 */
int kiln_config__apply_env(struct kiln_config *c, char *err, size_t errlen);

/* Frees C; NULL is a no-op. */
void kiln_config__free(struct kiln_config *c);

/* Parses "5s", "300ms", "2m", "10" (s). Returns 0 or -EINVAL. */
int kiln_parse_duration(const char *s, uint64_t *ns);

/* Parses "64MiB", "4KiB", "1GiB", "100" (bytes). Returns 0 or -EINVAL. */
int kiln_parse_size(const char *s, uint64_t *bytes);

#endif
