/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `kiln ui`: the live per-workload view. Window records come from the shared-memory ring
 * (the local agent) and from the OTLP receiver (exporters elsewhere); those of workloads with
 * an enabled slot are kept in the slot buffer (ui/slots.h); an HTTP server answers the JSON
 * API, /metrics and the embedded web page. docs/ui.md describes the API.
 *
 * Threads: libmicrohttpd's one polling thread serves every request; the caller's thread
 * runs ui__run() (ring reader and TTL sweep). One mutex guards the slots, the workloads
 * table and the counters.
 */
#ifndef KILN_UI_UI_H
#define KILN_UI_UI_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ui/slots.h"

#define UI_DEFAULT_LISTEN "127.0.0.1:7070"

struct ui_opts {
	const char *listen; /* "ADDR:PORT", "[V6]:PORT"; port 0 picks one; NULL: default */
	const char *ring; /* ring name; NULL: SHM_DEFAULT_NAME */
	struct slots_opts slots;
	uint64_t cleanup_ns; /* TTL sweep period */
	/* Wall clock for rates (ns since the epoch); NULL: CLOCK_REALTIME. */
	uint64_t (*wall_ns)(void);
	/*
	 * Access token (copied; NULL: none). When set, every request but /healthz must carry
	 * it (Authorization: Bearer, or the cookie set by GET /?token=).
	 */
	const char *token;
	/* Listening on a non-loopback address without a token is refused unless this is set. */
	bool insecure_listen;
	/* Extra Host names served, "NAME" or "NAME:PORT" (the array is copied, not the strings). */
	const char *const *allow_hosts;
	size_t nr_allow_hosts;
};

struct ui;

/*
 * Binds the listening socket and starts serving HTTP. Returns 0 and *OUT (caller frees), or
 * -errno with a one-line reason in ERR (e.g. "127.0.0.1:7070: address already in use";
 * -EACCES for a non-loopback address without a token or insecure_listen).
 */
int ui__new(struct ui **out, const struct ui_opts *opts, char *err, size_t errlen);

/* Whether the bound address is a loopback one (127.0.0.0/8, ::1). */
bool ui__loopback(const struct ui *u);

/* The address actually bound, e.g. "127.0.0.1:7070" or "[::1]:41234"; owned by U. */
const char *ui__address(const struct ui *u);

/*
 * Takes one window record (LEN bytes at REC, 8-byte aligned) from SOURCE ("ring", "otlp"):
 * validates it, updates the workloads list and, when its workload has a slot, copies it
 * there. Thread-safe. Returns 0 or the errors of wrec__parse() / slots__add() except
 * -ENOENT (no slot: not wanted).
 */
int ui__ingest(struct ui *u, const void *rec, size_t len, const char *source);

/*
 * Reads the ring and sweeps expired slots until *STOP becomes non-zero (set it from a
 * signal handler: waits are interrupted by signals). A missing ring is retried every
 * second, a replaced one reattached. Returns 0 or -errno on a fatal error.
 */
int ui__run(struct ui *u, volatile sig_atomic_t *stop);

/* Stops the server and frees everything; NULL is a no-op. */
void ui__free(struct ui *u);

#endif
