// SPDX-License-Identifier: Apache-2.0
/* The HTTP side of `kiln ui`: libmicrohttpd glue, the JSON API, /metrics, OTLP receiver. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#include "common/log.h"
#include "common/util.h"
#include "ui/flame.h"
#include "otlp/otlp.h"
#include "ui/api.h"
#include "ui/route.h"
#include "ui/ui_internal.h"

/* Bodies of the JSON API are ignored; anything beyond this is a client bug. */
#define API_MAX_BODY (64u << 10)
#define NO_SLOT "no slot for this workload (POST /api/slots/{id} enables one)"

const unsigned int ui_statuses[UI_NR_STATUS] = { 200, 201, 303, 400, 401, 403, 404,
						 405, 413, 415, 421, 500, 503, 0 };
const char *const ui_refusal_names[UI_NR_REFUSED] = {
	[UI_REFUSED_HOST] = "host",
	[UI_REFUSED_TOKEN] = "token",
	[UI_REFUSED_ORIGIN] = "origin",
	[UI_REFUSED_HEADER] = "header",
};

/* The header the page sends with every state change: a cross-site form cannot set it. */
#define PROOF_HEADER "X-Kiln-Request"
#define TOKEN_COOKIE "kiln_token"

struct req {
	struct ui_route r;
	int status; /* non-zero: answer this error once the body is read */
	const char *error;
	bool gzip;
	bool login; /* GET /?token= with the right token: set the cookie and redirect */
	bool challenge; /* a 401: answer with WWW-Authenticate */
	size_t limit;
	size_t received; /* body bytes seen, kept or not */
	struct strbuf body;
};

static void count_status(struct ui *u, unsigned int status)
{
	size_t i;

	pthread_mutex_lock(&u->lock);
	for (i = 0; i < UI_NR_STATUS - 1 && ui_statuses[i] != status; i++)
		;
	u->n.http[i]++;
	pthread_mutex_unlock(&u->lock);
}

/* Queues BODY (malloc'd, taken) with TYPE and STATUS, and header HNAME: HVALUE if given. */
enum MHD_Result ui_respond_h(struct ui *u, struct MHD_Connection *conn, unsigned int status,
			     const char *type, char *body, size_t len, const char *hname,
			     const char *hvalue)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	count_status(u, status);
	resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", type);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (hname)
		MHD_add_response_header(resp, hname, hvalue);
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

enum MHD_Result ui_respond(struct ui *u, struct MHD_Connection *conn, unsigned int status,
			   const char *type, char *body, size_t len)
{
	return ui_respond_h(u, conn, status, type, body, len, NULL, NULL);
}

enum MHD_Result ui_respond_sbuf(struct ui *u, struct MHD_Connection *conn, unsigned int status,
				const char *type, struct strbuf *b)
{
	size_t len;
	char *body = strbuf__take(b, &len);

	if (!body)
		return ui_respond(u, conn, 500, "text/plain", strdup("out of memory\n"), 14);
	return ui_respond(u, conn, status, type, body, len);
}

enum MHD_Result ui_json_error(struct ui *u, struct MHD_Connection *conn, unsigned int status,
			      const char *msg)
{
	struct strbuf b = { 0 };

	strbuf__printf(&b, "{\"error\":");
	strbuf__json_str(&b, msg);
	strbuf__printf(&b, ",\"status\":%u}\n", status);
	return ui_respond_sbuf(u, conn, status, "application/json", &b);
}

/* A google.rpc.Status message (code, message), the body of an OTLP/HTTP error. */
static enum MHD_Result otlp_error(struct ui *u, struct MHD_Connection *conn, unsigned int status,
				  int code, const char *msg)
{
	size_t n = strlen(msg) > 1000 ? 1000 : strlen(msg), len = 0;
	unsigned char *b = malloc(n + 8);

	if (!b)
		return MHD_NO;
	b[len++] = 0x08; /* field 1, varint */
	b[len++] = (unsigned char)code;
	b[len++] = 0x12; /* field 2, length-delimited */
	if (n >= 128)
		b[len++] = (unsigned char)(0x80 | (n & 0x7f));
	b[len++] = (unsigned char)(n >= 128 ? n >> 7 : n);
	memcpy(b + len, msg, n);
	log_debug("OTLP request refused (%u): %s", status, msg);
	return ui_respond(u, conn, status, "application/x-protobuf", (char *)b, len + n);
}

/* Query argument NAME as a number in [MIN, MAX], DEF when absent. Returns 0 or -EINVAL. */
int ui_query_u64(struct MHD_Connection *conn, const char *name, uint64_t min, uint64_t max,
		 uint64_t def, uint64_t *out)
{
	const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);

	*out = def;
	if (!v)
		return 0;
	return parse_u64(v, min, max, out) ? -EINVAL : 0;
}

static void write_slot(const char *key, const struct slot_info *si, void *ctx)
{
	struct strbuf *b = ctx;
	/* The array was opened just before: the first entry needs no comma. */
	const char *lead = b->buf[b->len - 1] == '[' ? "{\"id\":" : ",{\"id\":";

	strbuf__append(b, lead, strlen(lead));
	strbuf__json_str(b, key);
	strbuf__printf(b, ",\"bytes\":%llu,\"chunks\":%llu,\"dropped\":%llu,\"refused\":%llu}",
		       (unsigned long long)si->bytes, (unsigned long long)si->chunks,
		       (unsigned long long)si->dropped, (unsigned long long)si->refused);
}

static enum MHD_Result api_slots(struct ui *u, struct MHD_Connection *conn)
{
	struct strbuf b = { 0 };

	pthread_mutex_lock(&u->lock);
	strbuf__printf(&b,
		       "{\"max_slots\":%llu,\"ttl_seconds\":%llu,\"max_bytes\":%llu,"
		       "\"ring_attached\":%s,\"slots\":[",
		       (unsigned long long)u->o.slots.max_slots,
		       (unsigned long long)(u->o.slots.ttl_ns / 1000000000ull),
		       (unsigned long long)u->o.slots.max_bytes,
		       u->n.ring_attached ? "true" : "false");
	if (!b.err)
		slots__for_each(u->slots, write_slot, &b);
	pthread_mutex_unlock(&u->lock);
	strbuf__append(&b, "]}\n", 3);
	return ui_respond_sbuf(u, conn, 200, "application/json", &b);
}

static enum MHD_Result api_slot(struct ui *u, struct MHD_Connection *conn, const struct req *q)
{
	struct slot_info si;
	struct strbuf b = { 0 };
	unsigned int status = 200;
	int ret = 0;

	pthread_mutex_lock(&u->lock);
	switch (q->r.kind) {
	case UI_R_SLOT_ENABLE:
		/* Only workloads that were seen: a typo must not hold a slot for the TTL. */
		if (!workloads__has(u->wl, q->r.id)) {
			ret = -ENOENT;
			break;
		}
		ret = slots__enable(u->slots, q->r.id);
		if (ret == 1) {
			status = 201;
			ret = 0;
		}
		break;
	case UI_R_SLOT_DISABLE:
		ret = slots__disable(u->slots, q->r.id);
		break;
	case UI_R_SLOT_CLEAR:
		ret = slots__clear(u->slots, q->r.id);
		break;
	default:
		break;
	}
	if (!ret && q->r.kind != UI_R_SLOT_DISABLE)
		ret = slots__info(u->slots, q->r.id, &si);
	pthread_mutex_unlock(&u->lock);
	if (ret == -ENOENT && q->r.kind == UI_R_SLOT_ENABLE)
		return ui_json_error(u, conn, 404, "unknown workload (see GET /api/workloads)");
	if (ret == -ENOENT)
		return ui_json_error(u, conn, 404, NO_SLOT);
	if (ret)
		return ui_json_error(u, conn, 500, strerror(-ret));
	strbuf__append(&b, "{\"id\":", 6);
	strbuf__json_str(&b, q->r.id);
	if (q->r.kind == UI_R_SLOT_DISABLE)
		strbuf__printf(&b, ",\"enabled\":false}\n");
	else
		strbuf__printf(&b, ",\"enabled\":true,\"bytes\":%llu,\"chunks\":%llu}\n",
			       (unsigned long long)si.bytes, (unsigned long long)si.chunks);
	return ui_respond_sbuf(u, conn, status, "application/json", &b);
}

static enum MHD_Result metrics(struct ui *u, struct MHD_Connection *conn)
{
	struct slots_stats st;
	struct ui_counters n;
	struct strbuf b = { 0 };
	uint64_t forgotten;
	size_t nr_wl, i;

	pthread_mutex_lock(&u->lock);
	slots__stats(u->slots, &st);
	nr_wl = workloads__count(u->wl, &forgotten);
	n = u->n;
	pthread_mutex_unlock(&u->lock);

#define G(name, help, v)                                                                   \
	strbuf__printf(&b,                                                                 \
		       "# HELP kiln_ui_" name " " help "\n# TYPE kiln_ui_" name " gauge\n" \
		       "kiln_ui_" name " %llu\n",                                          \
		       (unsigned long long)(v))
#define C(name, help, v)                                                                     \
	strbuf__printf(&b,                                                                   \
		       "# HELP kiln_ui_" name " " help "\n# TYPE kiln_ui_" name " counter\n" \
		       "kiln_ui_" name " %llu\n",                                            \
		       (unsigned long long)(v))
	G("slots", "Slots open.", st.nr_slots);
	G("slots_max", "PROFILES_MAX_SLOTS.", u->o.slots.max_slots);
	G("slot_bytes", "Chunk bytes held in all slots.", st.bytes);
	G("slot_chunks", "Chunks held in all slots.", st.chunks);
	C("slots_opened_total", "Slots opened.", st.opened);
	C("slot_evictions_total", "Slots evicted for a new one (least recently requested).",
	  st.evicted);
	C("slot_expired_total", "Slots swept after their TTL without a request.", st.expired);
	C("slot_closed_total", "Slots disabled by a user.", st.closed);
	C("chunks_added_total", "Chunks stored in a slot.", st.added);
	C("chunks_dropped_total", "Oldest chunks dropped to stay under the slot byte cap.",
	  st.dropped);
	C("chunks_refused_total", "Chunks larger than the slot byte cap, refused.", st.refused);
	G("workloads", "Workloads known.", nr_wl);
	C("workloads_forgotten_total", "Workloads forgotten to stay under the table limit.",
	  forgotten);
	C("records_read_total", "Records read from the ring.", n.records);
	C("records_invalid_total", "Records that failed validation.", n.records_bad);
	C("records_unattributed_total", "Records without a workload key.", n.records_nokey);
	C("records_kept_total", "Records copied into a slot.", n.records_kept);
	C("ring_lost_total", "Ring records this consumer never saw (overwritten).", n.ring_lost);
	C("ring_lapped_total", "Times the producer overwrote records not yet read.", n.ring_lapped);
	C("ring_corrupt_total", "Corrupt ring headers skipped.", n.ring_corrupt);
	C("ring_stale_total", "Records overwritten while being copied, discarded.", n.ring_stale);
	C("ring_attaches_total", "Attachments to the ring.", n.ring_attaches);
	G("ring_attached", "1 while attached to the ring.", n.ring_attached);
	G("ring_lag_bytes", "Bytes published but not read yet.", n.ring_lag);
	C("otlp_requests_total", "OTLP export requests accepted.", n.otlp_requests);
	C("otlp_rejected_total", "OTLP export requests refused (4xx).", n.otlp_rejected);
	C("otlp_profiles_total", "OTLP profiles converted into chunks.", n.otlp_profiles);
	C("otlp_samples_total", "Samples in those profiles.", n.otlp_samples);
	C("sweeps_total", "TTL sweeps run.", n.sweeps);
#undef G
#undef C
	strbuf__printf(&b, "# HELP kiln_ui_http_requests_total HTTP requests answered, by status.\n"
			   "# TYPE kiln_ui_http_requests_total counter\n");
	for (i = 0; i < UI_NR_STATUS; i++) {
		if (ui_statuses[i])
			strbuf__printf(&b, "kiln_ui_http_requests_total{code=\"%u\"} %llu\n",
				       ui_statuses[i], (unsigned long long)n.http[i]);
		else
			strbuf__printf(&b, "kiln_ui_http_requests_total{code=\"other\"} %llu\n",
				       (unsigned long long)n.http[i]);
	}
	strbuf__printf(&b, "# HELP kiln_ui_requests_refused_total Requests refused by the guard, "
			   "by reason (host: DNS rebinding, token: missing or wrong access token, "
			   "origin: cross-origin state change, header: state change "
			   "without " PROOF_HEADER ").\n# TYPE kiln_ui_requests_refused_total "
			   "counter\n");
	for (i = 0; i < UI_NR_REFUSED; i++)
		strbuf__printf(&b, "kiln_ui_requests_refused_total{reason=\"%s\"} %llu\n",
			       ui_refusal_names[i], (unsigned long long)n.refused[i]);
	strbuf__printf(&b,
		       "# HELP kiln_ui_logins_total Logins with the access token (GET /?token=).\n"
		       "# TYPE kiln_ui_logins_total counter\nkiln_ui_logins_total %llu\n",
		       (unsigned long long)n.logins);
	return ui_respond_sbuf(u, conn, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
}

static int emit_otlp(const void *rec, size_t len, void *ctx)
{
	int err = ui__ingest(ctx, rec, len, "otlp");

	/* A chunk over a slot's cap is refused and counted there; the request still succeeds. */
	return err == -ENOMEM ? err : 0;
}

static enum MHD_Result otlp(struct ui *u, struct MHD_Connection *conn, struct req *q)
{
	struct otlp_result res;
	void *inflated = NULL;
	const void *body = q->body.buf;
	size_t len = q->body.len;
	char why[256] = "";
	enum MHD_Result r;
	int err;

	if (q->body.err)
		return otlp_error(u, conn, 500, 13, "out of memory");
	if (q->gzip) {
		err = otlp__gunzip(body, len, OTLP_MAX_INFLATED, &inflated, &len);
		if (err == -EFBIG) {
			r = otlp_error(u, conn, 413, 8, "request body too large once inflated");
			goto rejected;
		}
		if (err) {
			r = otlp_error(u, conn, err == -ENOMEM ? 500 : 400, 3,
				       "body is not valid gzip");
			goto rejected;
		}
		body = inflated;
	}
	err = otlp__decode(body ? body : "", len, emit_otlp, u, &res, why, sizeof(why));
	free(inflated);
	if (err == -EBADMSG) {
		r = otlp_error(u, conn, 400, 3, why);
		goto rejected;
	}
	if (err)
		return otlp_error(u, conn, 500, 13, strerror(-err));
	pthread_mutex_lock(&u->lock);
	u->n.otlp_requests++;
	u->n.otlp_profiles += res.profiles;
	u->n.otlp_samples += res.samples;
	pthread_mutex_unlock(&u->lock);
	/* An empty ExportProfilesServiceResponse: full success. */
	return ui_respond(u, conn, 200, "application/x-protobuf", NULL, 0);
rejected:
	pthread_mutex_lock(&u->lock);
	u->n.otlp_rejected++;
	pthread_mutex_unlock(&u->lock);
	return r;
}

/* Checks an OTLP request's headers before its body is read; sets q->status on refusal. */
static void otlp_headers(struct MHD_Connection *conn, struct req *q)
{
	const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
	const char *ce = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Encoding");
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
	uint64_t n;

	q->limit = OTLP_MAX_BODY;
	if (!ct || strncasecmp(ct, "application/x-protobuf", 22) || (ct[22] && ct[22] != ';')) {
		q->status = 415;
		q->error = "Content-Type must be application/x-protobuf (OTLP/HTTP binary)";
	} else if (ce && *ce && strcasecmp(ce, "gzip") && strcasecmp(ce, "identity")) {
		q->status = 415;
		q->error = "Content-Encoding must be gzip or identity";
	} else if (cl && !parse_u64(cl, 0, UINT64_MAX, &n) && n > OTLP_MAX_BODY) {
		q->status = 413;
		q->error = "request body too large";
	}
	q->gzip = ce && !strcasecmp(ce, "gzip");
}

/* Splits a Host value ("name", "name:port", "[v6]", "[v6]:port") into lowercase NAME and
 * PORT (0 when absent). Returns 0 or -EINVAL. */
static int split_host(const char *h, char *name, size_t len, unsigned int *port)
{
	const char *end, *colon = NULL;
	uint64_t p;
	size_t n, i;

	*port = 0;
	if (h[0] == '[') {
		end = strchr(h, ']');
		if (!end)
			return -EINVAL;
		end++;
		if (*end == ':')
			colon = end;
		else if (*end)
			return -EINVAL;
	} else {
		colon = strchr(h, ':');
		end = colon ? colon : h + strlen(h);
	}
	n = (size_t)(end - h);
	if (!n || n >= len)
		return -EINVAL;
	for (i = 0; i < n; i++)
		name[i] = (char)((h[i] >= 'A' && h[i] <= 'Z') ? h[i] - 'A' + 'a' : h[i]);
	name[n] = 0;
	if (colon) {
		if (parse_u64(colon + 1, 1, 65535, &p))
			return -EINVAL;
		*port = (unsigned int)p;
	}
	return 0;
}

static bool ip_literal(const char *name)
{
	unsigned char a[16];
	char v6[64];
	size_t n = strlen(name);

	if (inet_pton(AF_INET, name, a) == 1)
		return true;
	if (n < 3 || n - 2 >= sizeof(v6) || name[0] != '[' || name[n - 1] != ']')
		return false;
	memcpy(v6, name + 1, n - 2);
	v6[n - 2] = 0;
	return inet_pton(AF_INET6, v6, a) == 1;
}

/*
 * Whether HOST (the request's Host header) names this UI. A page that rebinds its own name
 * to this address sends that name, so only names known to be this machine pass: loopback
 * names, the bound address, any IP literal when bound to a wildcard (a literal cannot be
 * rebound), and --allow-host entries. The port is not what an attacker controls, and a
 * tunnel (ssh -L 8080:127.0.0.1:7070, kubectl port-forward) changes it: any port passes,
 * except against an --allow-host NAME:PORT entry, which names one.
 */
static bool host_served(const struct ui *u, const char *host)
{
	char name[256], an[256];
	unsigned int port, ap;
	size_t i;

	if (split_host(host, name, sizeof(name), &port))
		return false;
	for (i = 0; i < u->nr_allow_hosts; i++) {
		if (split_host(u->allow_hosts[i], an, sizeof(an), &ap) || strcmp(an, name))
			continue;
		if (!ap || ap == port)
			return true;
	}
	if (!strcmp(name, "localhost") || !strcmp(name, "127.0.0.1") || !strcmp(name, "[::1]") ||
	    !strcasecmp(name, u->host))
		return true;
	return u->wildcard && ip_literal(name);
}

/* Compares in time independent of where they differ. */
static bool token_eq(const char *want, const char *got)
{
	size_t n = strlen(want), m = strlen(got), i;
	unsigned char d = n != m;

	for (i = 0; i < n; i++)
		d |= (unsigned char)want[i] ^ (unsigned char)(i < m ? got[i] : 0);
	return !d;
}

/* The token the request carries: Authorization: Bearer, else the login cookie; or NULL. */
static const char *request_token(struct MHD_Connection *conn)
{
	const char *a = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");

	if (a && !strncasecmp(a, "Bearer ", 7)) {
		for (a += 7; *a == ' '; a++)
			;
		return a;
	}
	return MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, TOKEN_COOKIE);
}

/* Whether ORIGIN ("http://host:port") is the origin of the page HOST serves. */
static bool same_origin(const char *origin, const char *host)
{
	if (!host)
		return false;
	if (!strncasecmp(origin, "http://", 7))
		origin += 7;
	else if (!strncasecmp(origin, "https://", 8))
		origin += 8;
	else
		return false;
	return !strcasecmp(origin, host);
}

static void refuse(struct ui *u, struct req *q, enum ui_refusal why, int status, const char *error)
{
	pthread_mutex_lock(&u->lock);
	u->n.refused[why]++;
	pthread_mutex_unlock(&u->lock);
	q->status = status;
	q->error = error;
	q->challenge = why == UI_REFUSED_TOKEN;
}

/*
 * Decides, from the headers alone, whether the request may go on: its Host must be one we
 * serve, it must carry the token when there is one, and a state change (any method but
 * GET/HEAD) must prove it comes from the UI's own page: an Origin, when sent, equal to ours,
 * and X-Kiln-Request, which a cross-site form cannot send and a cross-site fetch only after a
 * CORS preflight that is never granted. OTLP exporters prove it with their Content-Type,
 * which has the same property. Returns true to go on; else Q holds the refusal.
 */
static bool guard(struct ui *u, struct MHD_Connection *conn, const char *method, struct req *q)
{
	const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
	const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
	const char *proof, *t;

	/* Liveness probes come from anywhere, and "ok" tells nothing. */
	if (q->r.kind == UI_R_HEALTH)
		return true;
	/* HTTP/1.0 may omit Host; browsers never do, so that is no rebinding. */
	if (host && !host_served(u, host)) {
		refuse(u, q, UI_REFUSED_HOST, 421,
		       "this Host is not one this UI serves (DNS rebinding?); start kiln ui "
		       "with --allow-host NAME to serve another name");
		return false;
	}
	if (u->token) {
		t = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "token");
		if (t && q->r.kind == UI_R_ASSET && token_eq(u->token, t)) {
			q->login = true;
			return true;
		}
		t = request_token(conn);
		if (!t || !token_eq(u->token, t)) {
			refuse(u, q, UI_REFUSED_TOKEN, 401,
			       "access token required: Authorization: Bearer TOKEN, or open "
			       "/?token=TOKEN once in the browser");
			return false;
		}
	}
	if (!strcmp(method, "GET") || !strcmp(method, "HEAD"))
		return true;
	if (origin && !same_origin(origin, host)) {
		refuse(u, q, UI_REFUSED_ORIGIN, 403,
		       "cross-origin request refused: the Origin is not this UI");
		return false;
	}
	proof = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, PROOF_HEADER);
	if (q->r.kind != UI_R_OTLP && (!proof || strcmp(proof, "1"))) {
		refuse(u, q, UI_REFUSED_HEADER, 403,
		       "state-changing requests need the header " PROOF_HEADER ": 1 (sent by the "
		       "UI's own page)");
		return false;
	}
	return true;
}

/* The token was right: keep it in a cookie for this origin only and go to the page. */
static enum MHD_Result login(struct ui *u, struct MHD_Connection *conn)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char *cookie = NULL;

	pthread_mutex_lock(&u->lock);
	u->n.logins++;
	pthread_mutex_unlock(&u->lock);
	count_status(u, 303);
	if (asprintf(&cookie, TOKEN_COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict", u->token) < 0)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		free(cookie);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Location", "/");
	MHD_add_response_header(resp, "Set-Cookie", cookie);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	explicit_bzero(cookie, strlen(cookie));
	free(cookie);
	ret = MHD_queue_response(conn, 303, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result dispatch(struct ui *u, struct MHD_Connection *conn, struct req *q)
{
	const struct ui_asset *a;

	if (q->status) {
		if (q->r.kind == UI_R_OTLP) {
			pthread_mutex_lock(&u->lock);
			u->n.otlp_rejected++;
			pthread_mutex_unlock(&u->lock);
			if (q->status == 415)
				return ui_respond(u, conn, 415, "text/plain", strdup(q->error),
						  strlen(q->error));
			return otlp_error(u, conn, (unsigned int)q->status, 8, q->error);
		}
		if (q->challenge) {
			struct strbuf b = { 0 };
			size_t len;
			char *body;

			strbuf__printf(&b, "{\"error\":");
			strbuf__json_str(&b, q->error);
			strbuf__printf(&b, ",\"status\":401}\n");
			body = strbuf__take(&b, &len);
			if (!body)
				return MHD_NO;
			return ui_respond_h(u, conn, 401, "application/json", body, len,
					    "WWW-Authenticate", "Bearer realm=\"kiln ui\"");
		}
		return ui_json_error(u, conn, (unsigned int)q->status, q->error);
	}
	if (q->login)
		return login(u, conn);
	switch (q->r.kind) {
	case UI_R_ASSET:
		a = q->r.asset;
		count_status(u, 200);
		{
			struct MHD_Response *resp = MHD_create_response_from_buffer(
				a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
			enum MHD_Result ret;

			if (!resp)
				return MHD_NO;
			MHD_add_response_header(resp, "Content-Type", a->type);
			MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
			ret = MHD_queue_response(conn, 200, resp);
			MHD_destroy_response(resp);
			return ret;
		}
	case UI_R_WORKLOADS: {
		struct strbuf b = { 0 };

		pthread_mutex_lock(&u->lock);
		workloads__write_json(u->wl, u->slots, u->o.wall_ns(), &b);
		pthread_mutex_unlock(&u->lock);
		strbuf__append(&b, "\n", 1);
		return ui_respond_sbuf(u, conn, 200, "application/json", &b);
	}
	case UI_R_SLOTS:
		return api_slots(u, conn);
	case UI_R_SLOT_GET:
	case UI_R_SLOT_ENABLE:
	case UI_R_SLOT_DISABLE:
	case UI_R_SLOT_CLEAR:
		return api_slot(u, conn, q);
	case UI_R_FLAMEGRAPH:
	case UI_R_SYMBOLS:
		return ui_api__view(u, conn, &q->r);
	case UI_R_TIMELINE:
		return ui_api__timeline(u, conn, &q->r);
	case UI_R_SANDWICH:
		return ui_api__sandwich(u, conn, &q->r);
	case UI_R_PROFILE:
		return ui_api__profile(u, conn, &q->r);
	case UI_R_DIFF:
		return ui_api__diff(u, conn);
	case UI_R_METRICS:
		return metrics(u, conn);
	case UI_R_HEALTH:
		return ui_respond(u, conn, 200, "text/plain", strdup("ok\n"), 3);
	case UI_R_OTLP:
		return otlp(u, conn, q);
	}
	return ui_json_error(u, conn, 404, "no such resource");
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
			       const char *method, const char *version, const char *upload,
			       size_t *upload_size, void **con_cls)
{
	struct ui *u = cls;
	struct req *q = *con_cls;
	int st;

	(void)version;
	if (!q) {
		q = calloc(1, sizeof(*q));
		if (!q)
			return MHD_NO;
		*con_cls = q;
		q->limit = API_MAX_BODY;
		st = ui_route__match(method, url, &q->r);
		if (!guard(u, conn, method, q)) {
			/* Refused: whatever the route, the body is read and dropped. */
		} else if (st) {
			q->status = st;
			q->error = q->r.error;
		} else if (q->r.kind == UI_R_OTLP) {
			otlp_headers(conn, q);
		}
		return MHD_YES;
	}
	if (*upload_size) {
		/* Past the limit the rest is read and dropped, then refused with 413. */
		q->received += *upload_size;
		if (!q->status && q->received > q->limit) {
			q->status = 413;
			q->error = "request body too large";
			strbuf__release(&q->body);
		}
		if (!q->status && (q->r.kind == UI_R_OTLP))
			strbuf__append(&q->body, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	return dispatch(u, conn, q);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct req *q = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (!q)
		return;
	strbuf__release(&q->body);
	free(q);
	*con_cls = NULL;
}

/*
 * Keeps the path percent-encoded: an id such as "k8s%2Fshop%2Fdeployment%2Fapi" must stay
 * one segment for the router, which decodes it itself (ui_url_decode).
 */
static size_t no_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
	(void)cls;
	(void)conn;
	return strlen(s);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	log_vprint(LOG_LEVEL_DEBUG, fmt, ap);
}

int ui_http__start(struct ui *u, char *err, size_t errlen)
{
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_AUTO;

	if (u->addr[0] == '[')
		flags |= MHD_USE_IPv6;
	u->mhd = MHD_start_daemon(flags, 0, NULL, NULL, handler, u, MHD_OPTION_LISTEN_SOCKET,
				  u->listen_fd, MHD_OPTION_NOTIFY_COMPLETED, completed, u,
				  MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, u,
				  MHD_OPTION_EXTERNAL_LOGGER, mhd_log, u,
				  MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_CONNECTION_LIMIT,
				  256u, MHD_OPTION_END);
	if (!u->mhd) {
		snprintf(err, errlen, "%s: could not start the HTTP server", u->addr);
		return -EIO;
	}
	/* The daemon owns and closes the socket from now on. */
	u->listen_fd = -1;
	return 0;
}

void ui_http__stop(struct ui *u)
{
	if (u->mhd)
		MHD_stop_daemon(u->mhd);
	u->mhd = NULL;
}
