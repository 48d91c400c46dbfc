/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One OTLP/HTTP client connection (libcurl easy handle, kept alive between requests):
 * POSTs binary protobuf with exactly `Content-Type: application/x-protobuf`, reads at most
 * HTTP_MAX_RESPONSE bytes of the answer, and reports what the retry policy needs. Secrets
 * (bearer token, basic password) are passed to curl only, never logged.
 */
#ifndef KILN_EXPORTER_HTTP_H
#define KILN_EXPORTER_HTTP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"

#define HTTP_MAX_RESPONSE (4u << 20)

struct http_opts {
	const char *url;
	uint64_t timeout_ns; /* whole request; 0: 5 s */
	const char *ca_file; /* NULL: the system store */
	const struct kiln_header *headers;
	size_t nr_headers;
	const char *bearer_token; /* NULL: none */
	const char *basic_user, *basic_password;
	const atomic_bool *abort; /* set: the request in flight is abandoned (shutdown) */
};

enum http_outcome {
	HTTP_OK = 0, /* 2xx */
	HTTP_RETRY, /* 429, 502, 503, 504 or a transport failure */
	HTTP_FINAL, /* any other status: never retried */
};

/* Why a TLS connection was refused, for the error and the counter by cause. */
enum http_tls {
	HTTP_TLS_NONE = 0, /* not a TLS failure */
	HTTP_TLS_UNTRUSTED, /* the chain does not end at a trusted CA (wrong CA, self-signed) */
	HTTP_TLS_HOSTNAME, /* the certificate does not name the URL's host */
	HTTP_TLS_EXPIRED, /* outside its validity period (expired, not yet valid) */
	HTTP_TLS_CA_FILE, /* tls.caFile cannot be read or holds no certificate */
	HTTP_TLS_HANDSHAKE, /* no TLS session (protocol, cipher, not TLS at all) */
	HTTP_TLS_OTHER, /* another verification failure */
	HTTP_NR_TLS,
};

/* "untrusted", "hostname", ...: the cause names of the counter; [HTTP_TLS_NONE] is NULL. */
extern const char *const http_tls_names[HTTP_NR_TLS];

struct http_result {
	enum http_outcome outcome;
	long status; /* 0 on transport failure */
	uint64_t retry_after_ns; /* Retry-After, 0 when absent */
	bool partial; /* 2xx with partial_success set */
	int64_t rejected;
	char message[256]; /* first body line, partial_success message or transport error */
	enum http_tls tls; /* a transport failure in TLS: why */
};

struct http;

/* Returns 0 and a client in *OUT (caller frees), -ENOMEM, or -EINVAL (bad options). */
int http__new(struct http **out, const struct http_opts *opts);

/*
 * POSTs LEN bytes with Content-Encoding ENCODING (NULL: none) and classifies the answer
 * into *R. Returns 0 (see R->outcome), or -ENOMEM.
 */
int http__post(struct http *h, const void *body, size_t len, const char *encoding,
	       struct http_result *r);

/* Frees H; NULL is a no-op. */
void http__free(struct http *h);

/* Process-wide libcurl setup; call once before any thread starts. Returns 0 or -EIO. */
int http__global_init(void);

#endif
