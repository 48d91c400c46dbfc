/* SPDX-License-Identifier: Apache-2.0 */
/* State shared by ui/ui.c (lifecycle, ring) and ui/http.c (requests). */
#ifndef KILN_UI_UI_INTERNAL_H
#define KILN_UI_UI_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <netinet/in.h>

#include "ringbuf/ringbuf.h"
#include "ui/ui.h"
#include "ui/workloads.h"

struct MHD_Daemon;

/* HTTP statuses counted for /metrics; others land in the last entry. */
#define UI_NR_STATUS 14
extern const unsigned int ui_statuses[UI_NR_STATUS];

/* Why the guard (Host, token, same-origin proof) refused a request; see ui/http.c. */
enum ui_refusal {
	UI_REFUSED_HOST, /* Host not served: DNS rebinding (421) */
	UI_REFUSED_TOKEN, /* token missing or wrong (401) */
	UI_REFUSED_ORIGIN, /* state change from another Origin (403) */
	UI_REFUSED_HEADER, /* state change without X-Kiln-Request (403) */
	UI_NR_REFUSED,
};
extern const char *const ui_refusal_names[UI_NR_REFUSED];

struct ui_counters {
	uint64_t records; /* ring records read */
	uint64_t records_bad; /* failed wrec__parse() */
	uint64_t records_nokey; /* without a workload key */
	uint64_t records_kept; /* copied into a slot */
	uint64_t ring_stale; /* released as overwritten while copied */
	uint64_t ring_attaches;
	uint64_t otlp_requests, otlp_profiles, otlp_samples, otlp_rejected;
	uint64_t http[UI_NR_STATUS];
	uint64_t refused[UI_NR_REFUSED]; /* requests refused by the guard, by reason */
	uint64_t logins; /* GET /?token= with the right token */
	uint64_t sweeps;
	/* Ring losses, summed over every attachment (a reattach starts a fresh cursor). */
	uint64_t ring_lost, ring_lapped, ring_corrupt, ring_lag;
	bool ring_attached;
};

struct ui {
	struct ui_opts o;
	pthread_mutex_t lock;
	struct slots *slots;
	struct workloads *wl;
	struct ui_counters n;
	struct MHD_Daemon *mhd;
	int listen_fd;
	char addr[80];
	/* Guard: the bound host and port, what else is served, the token. */
	char host[INET6_ADDRSTRLEN + 2]; /* "127.0.0.1", "[::1]" */
	unsigned int port;
	bool loopback, wildcard;
	char **allow_hosts;
	size_t nr_allow_hosts;
	char *token;
};

/* Starts libmicrohttpd on u->listen_fd. Returns 0 or -errno with ERR set. */
int ui_http__start(struct ui *u, char *err, size_t errlen);

/* Stops it; safe when never started. */
void ui_http__stop(struct ui *u);

#endif
