/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Debug files fetched by GNU build id from debuginfod servers, in the background.
 *
 * The symbolizer asks for the debug file of a stripped ELF file (build id, nothing but
 * .dynsym, no local debug file) with dbgfetch__request(): that call never touches the network.
 * It answers from the on-disk cache at once (a stat), or queues the build id for the worker
 * threads and returns. Workers fetch through elfutils' libdebuginfod, check that what arrived
 * is an ELF file with that build id and symbols, and keep it in a cache bounded in size and
 * age. The symbolizer collects what arrived with dbgfetch__drain() once per window and re-reads
 * those files' symbols, so later windows are named; nothing on the sampling or draining path
 * waits for a server.
 *
 * Build ids leave the node: this is off unless URLs are configured (symbols.debuginfod.urls or
 * DEBUGINFOD_URLS).
 */
#ifndef KILN_SYMBOLIZE_DEBUGINFOD_H
#define KILN_SYMBOLIZE_DEBUGINFOD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dbgfetch;

struct dbgfetch_opts {
	/* Space-separated server URLs; NULL or "" takes DEBUGINFOD_URLS; none at all: off. */
	const char *urls;
	const char *cache_dir; /* required; created when missing */
	uint64_t cache_max_bytes; /* 0: 2 GiB */
	uint64_t cache_max_age_s; /* files unused that long are removed; 0: 7 days */
	uint64_t timeout_ms; /* one fetch, connection to last byte; 0: 30 s */
	uint64_t retry_s; /* a failed build id is not asked for again before; 0: 600 s */
	unsigned int concurrency; /* worker threads, i.e. fetches at once; 0: 2 */
	unsigned int max_queue; /* build ids waiting; more are refused (counted); 0: 4096 */
};

struct dbgfetch_stats {
	uint64_t requests; /* build ids queued for a fetch */
	uint64_t fetched; /* debug files downloaded and accepted */
	uint64_t cache_hits; /* requests answered from the cache, without a server */
	uint64_t not_found; /* servers answered they have no such build id */
	uint64_t timeouts; /* fetches past the timeout */
	uint64_t conn_errors; /* servers unreachable, connection refused or reset */
	uint64_t invalid; /* answers that were no ELF file with that build id and symbols */
	uint64_t errors; /* other failures (local I/O, HTTP errors other than 404) */
	uint64_t retry_waits; /* requests refused because the last attempt failed recently */
	uint64_t queue_full; /* requests refused because max_queue build ids were waiting */
	uint64_t bytes; /* bytes of debug files fetched */
	uint64_t evicted; /* cached files removed for the size or age limit */
	uint64_t cache_bytes; /* gauge: bytes the cache holds after the last sweep */
	uint64_t pending; /* gauge: build ids queued or being fetched */
};

/*
 * Starts the workers. Returns 0 with *OUT set (caller frees with dbgfetch__free), -ENODATA
 * (*OUT NULL) when no URL is configured, or another -errno (cache directory unusable ...).
 * libdebuginfod reads its server list, cache path and timeouts from the environment at each
 * query: they are set here, before the workers start, so create at most one at a time and
 * before other threads read the environment.
 */
int dbgfetch__new(const struct dbgfetch_opts *opts, struct dbgfetch **out);

/* Stops the workers (an ongoing fetch is abandoned within a second); NULL is a no-op. */
void dbgfetch__free(struct dbgfetch *d);

/*
 * Asks for the debug file of BID (lowercase hex). Never blocks on the network.
 * Returns 0 with the file's path in PATH (LEN bytes) when the cache holds it; -EINPROGRESS
 * when it is queued or being fetched (dbgfetch__drain() reports it when it lands); -ENOENT
 * when the last attempt failed less than retry_s ago; -ENOSPC when the queue is full;
 * -EINVAL for a malformed BID.
 */
int dbgfetch__request(struct dbgfetch *d, const char *bid, char *path, size_t len);

/*
 * Calls FN(CTX, bid, path) for every debug file that landed since the last call (on the
 * caller's thread, with no lock held). Returns how many.
 */
size_t dbgfetch__drain(struct dbgfetch *d, void (*fn)(void *ctx, const char *bid, const char *path),
		       void *ctx);

/* Fills *OUT with D's counters (zeros for a NULL D). */
void dbgfetch__stats(struct dbgfetch *d, struct dbgfetch_stats *out);

/* The cache (debuginfo_cache.c): DIR/BID/debuginfo files, libdebuginfod's layout. */
struct dbgcache_sweep {
	uint64_t kept_bytes, kept_files, removed_files, removed_bytes;
};

/*
 * Removes from cache directory DIR the debug files unused for MAX_AGE_S seconds (their mtime
 * is their last use), then the least recently used ones until at most MAX_BYTES remain, and
 * expired negative entries (empty files) older than RETRY_S. Returns 0 or -errno (DIR
 * unreadable).
 */
int dbgcache__sweep(const char *dir, uint64_t max_bytes, uint64_t max_age_s, uint64_t retry_s,
		    struct dbgcache_sweep *out);

/*
 * Looks for BID's debug file in cache DIR. Returns 0 with its path in PATH (and its mtime
 * bumped: it was used) when present, -ENOENT otherwise.
 */
int dbgcache__lookup(const char *dir, const char *bid, char *path, size_t len);

/*
 * Checks that the file open on FD is an ELF file with GNU build id BID and a symbol table or
 * DWARF. Returns 0 or -EBADMSG.
 */
int dbgcache__validate(int fd, const char *bid);

#endif
