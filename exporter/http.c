// SPDX-License-Identifier: Apache-2.0
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "common/util.h"
#include "exporter/http.h"
#include "proto/opentelemetry/proto/collector/profiles/v1development/profiles_service.pb-c.h"

struct http {
	CURL *curl;
	struct curl_slist *headers;
	struct http_opts opts;
	uint8_t *resp;
	size_t resp_len;
	uint64_t retry_after_ns;
	char errbuf[CURL_ERROR_SIZE];
};

const char *const http_tls_names[HTTP_NR_TLS] = {
	[HTTP_TLS_UNTRUSTED] = "untrusted", [HTTP_TLS_HOSTNAME] = "hostname",
	[HTTP_TLS_EXPIRED] = "expired",	    [HTTP_TLS_CA_FILE] = "ca_file",
	[HTTP_TLS_HANDSHAKE] = "handshake", [HTTP_TLS_OTHER] = "other",
};

/* X509_V_ERR_* values (stable OpenSSL ABI), as CURLINFO_SSL_VERIFYRESULT reports them. */
enum {
	X509_UNABLE_TO_GET_ISSUER = 2,
	X509_CERT_SIGNATURE_FAILURE = 7,
	X509_CERT_NOT_YET_VALID = 9,
	X509_CERT_HAS_EXPIRED = 10,
	X509_DEPTH_ZERO_SELF_SIGNED = 18,
	X509_SELF_SIGNED_IN_CHAIN = 19,
	X509_UNABLE_TO_GET_ISSUER_LOCALLY = 20,
	X509_UNABLE_TO_VERIFY_LEAF = 21,
	X509_CERT_UNTRUSTED = 27,
	X509_HOSTNAME_MISMATCH = 62,
	X509_IP_ADDRESS_MISMATCH = 64,
};

/* Classifies a failed transfer's TLS part from curl's code and OpenSSL's verify result. */
static enum http_tls tls_cause(CURL *curl, CURLcode rc, const char *msg)
{
	long v = 0;

	switch (rc) {
	case CURLE_SSL_CACERT_BADFILE:
		return HTTP_TLS_CA_FILE;
	case CURLE_PEER_FAILED_VERIFICATION:
		break;
	case CURLE_SSL_CONNECT_ERROR:
		/* A verify callback failure can surface here too: the verify result says. */
		break;
	default:
		return HTTP_TLS_NONE;
	}
	/*
	 * curl checks the name itself after OpenSSL verified the chain, and then leaves the
	 * verify result of its own (not X509_V_OK): its message is what tells.
	 */
	if (rc == CURLE_PEER_FAILED_VERIFICATION && (strstr(msg, "host name") || strstr(msg, "subje"
											     "ct "
											     "nam"
											     "e")))
		return HTTP_TLS_HOSTNAME;
	curl_easy_getinfo(curl, CURLINFO_SSL_VERIFYRESULT, &v);
	switch (v) {
	case X509_CERT_HAS_EXPIRED:
	case X509_CERT_NOT_YET_VALID:
		return HTTP_TLS_EXPIRED;
	case X509_HOSTNAME_MISMATCH:
	case X509_IP_ADDRESS_MISMATCH:
		return HTTP_TLS_HOSTNAME;
	case X509_UNABLE_TO_GET_ISSUER:
	case X509_CERT_SIGNATURE_FAILURE:
	case X509_DEPTH_ZERO_SELF_SIGNED:
	case X509_SELF_SIGNED_IN_CHAIN:
	case X509_UNABLE_TO_GET_ISSUER_LOCALLY:
	case X509_UNABLE_TO_VERIFY_LEAF:
	case X509_CERT_UNTRUSTED:
		return HTTP_TLS_UNTRUSTED;
	case 0:
		break;
	default:
		return HTTP_TLS_OTHER;
	}
	return rc == CURLE_PEER_FAILED_VERIFICATION ? HTTP_TLS_OTHER : HTTP_TLS_HANDSHAKE;
}

int http__global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct http *h = arg;
	size_t len = size * n;
	uint8_t *p;

	/* The cap: a larger answer aborts the transfer (write error), the status stays. */
	if (h->resp_len + len > HTTP_MAX_RESPONSE)
		return 0;
	p = realloc(h->resp, h->resp_len + len + 1);
	if (!p)
		return 0;
	h->resp = p;
	memcpy(h->resp + h->resp_len, data, len);
	h->resp_len += len;
	h->resp[h->resp_len] = 0;
	return len;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
	struct http *h = arg;
	size_t len = size * n;
	char line[256], *v, *end;

	if (len < 12 || strncasecmp(data, "Retry-After:", 12) || len >= sizeof(line))
		return len;
	memcpy(line, data, len);
	line[len] = 0;
	for (v = line + 12; isspace((unsigned char)*v); v++)
		;
	end = v + strlen(v);
	while (end > v && isspace((unsigned char)end[-1]))
		*--end = 0;
	if (isdigit((unsigned char)*v)) {
		unsigned long long s = strtoull(v, &end, 10);

		if (!*end && s < 86400)
			h->retry_after_ns = (s ? s : 1) * 1000000000ull;
	} else {
		/* An HTTP date: the wait is its distance from now, at least a second. */
		time_t t = curl_getdate(v, NULL), now = time(NULL);

		if (t != -1)
			h->retry_after_ns = (t > now ? (uint64_t)(t - now) : 1) * 1000000000ull;
	}
	return len;
}

static int on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	struct http *h = arg;

	(void)a, (void)b, (void)c, (void)d;
	return h->opts.abort && atomic_load(h->opts.abort) ? 1 : 0;
}

int http__new(struct http **out, const struct http_opts *opts)
{
	struct curl_slist *l;
	struct http *h;
	char line[4096];
	size_t i;
	int err = -ENOMEM;

	*out = NULL;
	if (!opts->url)
		return -EINVAL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->opts = *opts;
	h->curl = curl_easy_init();
	if (!h->curl)
		goto cleanup;
	/* Exactly this value: Pyroscope answers 415 to a Content-Type with parameters. */
	h->headers = curl_slist_append(NULL, "Content-Type: application/x-protobuf");
	if (!h->headers)
		goto cleanup;
	/* No "Expect: 100-continue" round trip on large bodies. */
	if (!(l = curl_slist_append(h->headers, "Expect:")))
		goto cleanup;
	for (i = 0; i < opts->nr_headers; i++) {
		snprintf(line, sizeof(line), "%s: %s", opts->headers[i].name,
			 opts->headers[i].value);
		if (!(l = curl_slist_append(h->headers, line)))
			goto cleanup;
	}
	if (opts->bearer_token) {
		snprintf(line, sizeof(line), "Authorization: Bearer %s", opts->bearer_token);
		l = curl_slist_append(h->headers, line);
		explicit_bzero(line, sizeof(line));
		if (!l)
			goto cleanup;
	}
	curl_easy_setopt(h->curl, CURLOPT_URL, opts->url);
	curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, h->headers);
	curl_easy_setopt(h->curl, CURLOPT_USERAGENT, "kiln/" KILN_VERSION);
	curl_easy_setopt(h->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h->curl, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h->curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h->curl, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(h->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS,
			 (long)((opts->timeout_ns ? opts->timeout_ns : 5000000000ull) / 1000000));
	curl_easy_setopt(h->curl, CURLOPT_ERRORBUFFER, h->errbuf);
	curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, h);
	curl_easy_setopt(h->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h->curl, CURLOPT_HEADERDATA, h);
	curl_easy_setopt(h->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h->curl, CURLOPT_XFERINFODATA, h);
	curl_easy_setopt(h->curl, CURLOPT_NOPROGRESS, 0L);
	if (opts->ca_file)
		curl_easy_setopt(h->curl, CURLOPT_CAINFO, opts->ca_file);
	if (opts->basic_user) {
		curl_easy_setopt(h->curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(h->curl, CURLOPT_USERNAME, opts->basic_user);
		curl_easy_setopt(h->curl, CURLOPT_PASSWORD,
				 opts->basic_password ? opts->basic_password : "");
	}
	*out = h;
	h = NULL;
	err = 0;
cleanup:
	http__free(h);
	return err;
}

static void first_line(const uint8_t *p, size_t n, char *out, size_t len)
{
	size_t i;

	for (i = 0; i < n && i + 1 < len && p[i] != '\n' && p[i] != '\r'; i++)
		out[i] = isprint(p[i]) ? (char)p[i] : '?';
	out[i] = 0;
}

/* A 2xx body is an ExportProfilesServiceResponse; partial_success is reported, not retried. */
static void parse_response(struct http *h, struct http_result *r)
{
	Opentelemetry__Proto__Collector__Profiles__V1development__ExportProfilesServiceResponse
		*resp;

	if (!h->resp_len)
		return;
	resp = opentelemetry__proto__collector__profiles__v1development__export_profiles_service_response__unpack(
		NULL, h->resp_len, h->resp);
	if (!resp)
		return;
	if (resp->partial_success &&
	    (resp->partial_success->rejected_profiles || *resp->partial_success->error_message)) {
		r->partial = true;
		r->rejected = resp->partial_success->rejected_profiles;
		snprintf(r->message, sizeof(r->message), "%s",
			 resp->partial_success->error_message);
	}
	opentelemetry__proto__collector__profiles__v1development__export_profiles_service_response__free_unpacked(
		resp, NULL);
}

int http__post(struct http *h, const void *body, size_t len, const char *encoding,
	       struct http_result *r)
{
	struct curl_slist *enc = NULL, *last = NULL;
	char line[64];
	CURLcode rc;

	memset(r, 0, sizeof(*r));
	h->resp_len = 0;
	h->retry_after_ns = 0;
	h->errbuf[0] = 0;
	if (encoding) {
		/* Appended for this request only, and unlinked again below. */
		snprintf(line, sizeof(line), "Content-Encoding: %s", encoding);
		enc = curl_slist_append(NULL, line);
		if (!enc)
			return -ENOMEM;
		for (last = h->headers; last->next; last = last->next)
			;
		last->next = enc;
	}
	curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	rc = curl_easy_perform(h->curl);
	if (last)
		last->next = NULL;
	curl_slist_free_all(enc);
	curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &r->status);
	r->retry_after_ns = h->retry_after_ns;
	if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && r->status)) {
		r->status = 0;
		r->outcome = HTTP_RETRY;
		snprintf(r->message, sizeof(r->message), "%s",
			 h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc));
		r->tls = tls_cause(h->curl, rc, r->message);
		return 0;
	}
	if (r->status >= 200 && r->status < 300) {
		r->outcome = HTTP_OK;
		parse_response(h, r);
		return 0;
	}
	first_line(h->resp ? h->resp : (const uint8_t *)"", h->resp_len, r->message,
		   sizeof(r->message));
	if (r->status >= 300 && r->status < 400) {
		char *to = NULL;

		/*
		 * Not followed: the body and credentials would go to an address nobody
		 * configured, and a POST may not survive the hop. Final, so it is said once.
		 */
		curl_easy_getinfo(h->curl, CURLINFO_REDIRECT_URL, &to);
		snprintf(r->message, sizeof(r->message),
			 "redirect to %s not followed: set the destination's url to the final "
			 "address",
			 to ? to : "(no Location)");
		r->outcome = HTTP_FINAL;
		return 0;
	}
	switch (r->status) {
	case 429:
	case 502:
	case 503:
	case 504:
		r->outcome = HTTP_RETRY;
		break;
	default:
		r->outcome = HTTP_FINAL;
	}
	return 0;
}

void http__free(struct http *h)
{
	struct curl_slist *l;

	if (!h)
		return;
	if (h->curl)
		curl_easy_cleanup(h->curl);
	/* The Authorization line holds the token: clear it before it goes back to malloc. */
	for (l = h->headers; l; l = l->next)
		explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(h->headers);
	free(h->resp);
	free(h);
}
