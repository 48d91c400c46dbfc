// SPDX-License-Identifier: Apache-2.0
#include "ui/ui.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "common/log.h"
#include "common/util.h"
#include "profile/wrec.h"
#include "shm/reader.h"
#include "ui/ui_internal.h"

/* Splits "HOST:PORT" / "[V6]:PORT" into HOST and PORT. Returns 0 or -EINVAL. */
static int split_listen(const char *s, char *host, size_t hlen, char *port, size_t plen)
{
	const char *colon, *h = s, *end;

	if (*s == '[') {
		end = strchr(s, ']');
		if (!end || end[1] != ':')
			return -EINVAL;
		h = s + 1;
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		/* A bare IPv6 address is ambiguous with its port: brackets are required. */
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return -EINVAL;
		end = colon;
	}
	if (end == h || (size_t)(end - h) >= hlen || !colon[1] || strlen(colon + 1) >= plen)
		return -EINVAL;
	memcpy(host, h, (size_t)(end - h));
	host[end - h] = 0;
	snprintf(port, plen, "%s", colon + 1);
	return 0;
}

static int listen_on(struct ui *u, const char *spec, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV | AI_PASSIVE };
	struct addrinfo *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[256], port[16], num[INET6_ADDRSTRLEN];
	int fd = -1, one = 1, r, ret = 0;
	uint64_t p;

	if (split_listen(spec, host, sizeof(host), port, sizeof(port)) ||
	    parse_u64(port, 0, 65535, &p)) {
		snprintf(err, errlen,
			 "--listen %s: expected ADDR:PORT, e.g. 127.0.0.1:7070 or [::1]:7070",
			 spec);
		return -EINVAL;
	}
	r = getaddrinfo(host, port, &hints, &ai);
	if (r) {
		snprintf(err, errlen, "--listen %s: %s", spec, gai_strerror(r));
		return -EINVAL;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "--listen %s: socket: %s", spec, strerror(errno));
		goto cleanup;
	}
	/* Restarting while old connections linger in TIME_WAIT must not fail the bind. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 64)) {
		ret = -errno;
		snprintf(err, errlen, "--listen %s: %s%s", spec, strerror(errno),
			 errno == EADDRINUSE ? " (another kiln ui? choose a port with --listen)"
					     : "");
		goto cleanup;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &sl)) {
		ret = -errno;
		snprintf(err, errlen, "--listen %s: getsockname: %s", spec, strerror(errno));
		goto cleanup;
	}
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &a->sin6_addr, num, sizeof(num));
		snprintf(u->addr, sizeof(u->addr), "[%s]:%u", num, ntohs(a->sin6_port));
		snprintf(u->host, sizeof(u->host), "[%s]", num);
		u->port = ntohs(a->sin6_port);
		u->loopback = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
		u->wildcard = IN6_IS_ADDR_UNSPECIFIED(&a->sin6_addr);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &a->sin_addr, num, sizeof(num));
		snprintf(u->addr, sizeof(u->addr), "%s:%u", num, ntohs(a->sin_port));
		snprintf(u->host, sizeof(u->host), "%s", num);
		u->port = ntohs(a->sin_port);
		u->loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
		u->wildcard = a->sin_addr.s_addr == htonl(INADDR_ANY);
	}
	u->listen_fd = fd;
	fd = -1;
cleanup:
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return ret;
}

/* Copies the token and the extra Host names. Returns 0 or -ENOMEM with ERR set. */
static int copy_guard(struct ui *u, const struct ui_opts *o, char *err, size_t errlen)
{
	size_t i;

	u->o.token = NULL;
	u->o.allow_hosts = NULL;
	if (o->token && !(u->token = strdup(o->token)))
		goto oom;
	if (o->nr_allow_hosts && !(u->allow_hosts = calloc(o->nr_allow_hosts, sizeof(char *))))
		goto oom;
	for (i = 0; i < o->nr_allow_hosts; i++) {
		if (!(u->allow_hosts[i] = strdup(o->allow_hosts[i])))
			goto oom;
		u->nr_allow_hosts = i + 1;
	}
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -ENOMEM;
}

int ui__new(struct ui **out, const struct ui_opts *opts, char *err, size_t errlen)
{
	struct ui *u;
	int ret;

	u = calloc(1, sizeof(*u));
	if (!u) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	u->o = *opts;
	u->listen_fd = -1;
	if (!u->o.wall_ns)
		u->o.wall_ns = wall_ns;
	pthread_mutex_init(&u->lock, NULL);
	ret = slots__new(&u->slots, &u->o.slots);
	if (ret) {
		snprintf(err, errlen, "slot limits must be at least 1");
		goto cleanup;
	}
	u->wl = workloads__new();
	if (!u->wl) {
		ret = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto cleanup;
	}
	ret = copy_guard(u, opts, err, errlen);
	if (ret)
		goto cleanup;
	ret = listen_on(u, opts->listen ? opts->listen : UI_DEFAULT_LISTEN, err, errlen);
	if (ret)
		goto cleanup;
	/* Profiles name processes, paths and functions: the network gets them only on purpose. */
	if (!u->loopback && !u->token && !opts->insecure_listen) {
		snprintf(err, errlen,
			 "--listen %s: not a loopback address, so anyone who can reach it could "
			 "read every profile; give an access token (--token-file FILE or "
			 "KILN_UI_TOKEN) or accept that with --insecure-listen",
			 u->addr);
		ret = -EACCES;
		goto cleanup;
	}
	ret = ui_http__start(u, err, errlen);
	if (ret)
		goto cleanup;
	*out = u;
	return 0;
cleanup:
	ui__free(u);
	return ret;
}

bool ui__loopback(const struct ui *u)
{
	return u->loopback;
}

const char *ui__address(const struct ui *u)
{
	return u->addr;
}

/* Ingests record REC (LEN bytes) parsed into V, or counts it bad when V is NULL. */
static int ingest(struct ui *u, const void *rec, size_t len, const struct wrec_view *v,
		  const char *source)
{
	const char *key;
	int err = 0;

	pthread_mutex_lock(&u->lock);
	if (!v) {
		u->n.records_bad++;
		goto cleanup;
	}
	err = workloads__update(u->wl, v, source, u->o.wall_ns());
	if (err == -ENOENT) {
		/* A record without a workload key cannot be attributed to a slot. */
		u->n.records_nokey++;
		err = 0;
		goto cleanup;
	}
	if (err)
		goto cleanup;
	key = wrec_view__id(v, WREC_ID_KEY);
	err = slots__add(u->slots, key, rec, len);
	if (!err)
		u->n.records_kept++;
	else if (err == -ENOENT)
		err = 0;
cleanup:
	pthread_mutex_unlock(&u->lock);
	return err;
}

int ui__ingest(struct ui *u, const void *rec, size_t len, const char *source)
{
	struct wrec_view v;
	int perr, err;

	perr = wrec__parse(rec, len, &v);
	err = ingest(u, rec, len, perr ? NULL : &v, source);
	/* A record that does not parse is counted, and refused to an OTLP or test caller. */
	return perr ? perr : err;
}

/* Ingests every record the ring holds now (intact copies; see shm/reader.h). */
static void read_records(struct ui *u, struct shm_reader *r, volatile sig_atomic_t *stop)
{
	struct shm_record rec;
	int err;

	while (!*stop) {
		err = shm_reader__next(r, &rec);
		if (err == -ENOMEM)
			log_warn("out of memory copying a record from the ring");
		if (err && err != -EBADMSG)
			break;
		err = ingest(u, rec.data, rec.len, err ? NULL : &rec.v, "ring");
		if (err && err != -EFBIG)
			log_debug("ring record %llu: %s", (unsigned long long)rec.seq,
				  strerror(-err));
	}
}

/*
 * Lock held. Stores the UI's totals (since it started) in its slot of the ring, where `kiln
 * status` reads them.
 */
static void publish_stats(struct ui *u, _Atomic uint64_t *st)
{
	struct slots_stats ss;
	uint64_t v[SHM_SLOT_STATS];
	int k;

	slots__stats(u->slots, &ss);
	v[SHM_UI_RECORDS] = u->n.records;
	v[SHM_UI_KEPT] = u->n.records_kept;
	v[SHM_UI_BAD] = u->n.records_bad + u->n.records_nokey;
	v[SHM_UI_SLOTS] = ss.nr_slots;
	v[SHM_UI_BYTES] = ss.bytes;
	v[SHM_UI_DROPPED] = ss.dropped;
	v[SHM_UI_REFUSED] = ss.refused;
	v[SHM_UI_EVICTED] = ss.evicted;
	/* Relaxed: display values, each consistent on its own. */
	for (k = 0; k < SHM_SLOT_STATS; k++)
		atomic_store_explicit(&st[k], v[k], memory_order_relaxed);
}

/*
 * Publishes the ring's counters for /metrics (the reader sums them over every attachment)
 * and the UI's totals in its slot.
 */
static void ring_stats(struct ui *u, struct shm_reader *r)
{
	_Atomic uint64_t *slot = shm_reader__slot_stats(r);
	struct shm_reader_stats st;

	shm_reader__stats(r, &st);
	pthread_mutex_lock(&u->lock);
	u->n.records = st.records + st.stale;
	u->n.ring_stale = st.stale;
	u->n.ring_lost = st.lost;
	u->n.ring_lapped = st.lapped;
	u->n.ring_corrupt = st.corrupt;
	u->n.ring_lag = st.lag;
	u->n.ring_attaches = st.attaches;
	u->n.ring_attached = st.attached;
	if (slot)
		publish_stats(u, slot);
	pthread_mutex_unlock(&u->lock);
}

static void sweep(struct ui *u)
{
	int n;

	pthread_mutex_lock(&u->lock);
	n = slots__sweep(u->slots);
	u->n.sweeps++;
	pthread_mutex_unlock(&u->lock);
	if (n)
		log_info("swept %d slot(s) without a request for their TTL", n);
}

int ui__run(struct ui *u, volatile sig_atomic_t *stop)
{
	struct shm_reader_opts ro = { .sz = sizeof(ro),
				      .name = u->o.ring,
				      .start = RING_START_NEWEST,
				      .restart = RING_START_NEWEST,
				      .kind = SHM_KIND_UI };
	uint64_t next_sweep = mono_ns() + u->o.cleanup_ns, now, next_attach = 0;
	int err, timeout_ms, last_err = 0;
	struct shm_reader *r = NULL;
	bool attached = false;
	char msg[256];

	err = shm_reader__new(&r, &ro);
	if (err)
		return err;
	while (!*stop) {
		now = mono_ns();
		if (now >= next_sweep) {
			sweep(u);
			next_sweep = now + u->o.cleanup_ns;
		}
		timeout_ms = (int)((next_sweep - now) / 1000000) + 1;
		if (!attached && now >= next_attach) {
			err = shm_reader__attach(r);
			if (err) {
				/* Said once per distinct reason: a missing ring is normal at boot. */
				if (err != last_err)
					log_warn("%s; retrying every second",
						 shm__strerror(u->o.ring, err, msg, sizeof(msg)));
				last_err = err;
				next_attach = now + 1000000000ull;
			} else {
				log_info("attached to ring %s",
					 u->o.ring ? u->o.ring : SHM_DEFAULT_NAME);
				last_err = 0;
				attached = true;
			}
		}
		if (!attached) {
			struct timespec ts = { 0, 100 * 1000000 };

			/* Interrupted by the stop signal like the ring wait below. */
			nanosleep(&ts, NULL);
			continue;
		}
		read_records(u, r, stop);
		ring_stats(u, r);
		err = shm_reader__wait(r, timeout_ms < 1000 ? timeout_ms : 1000);
		if (err == -ESTALE) {
			log_warn("ring %s was replaced; reattaching", u->o.ring ? u->o.ring : "");
			attached = false;
			ring_stats(u, r);
		}
	}
	shm_reader__detach(r);
	ring_stats(u, r);
	shm_reader__free(r);
	return 0;
}

void ui__free(struct ui *u)
{
	if (!u)
		return;
	ui_http__stop(u);
	if (u->listen_fd >= 0)
		close(u->listen_fd);
	slots__free(u->slots);
	workloads__free(u->wl);
	for (size_t i = 0; i < u->nr_allow_hosts; i++)
		free(u->allow_hosts[i]);
	free(u->allow_hosts);
	if (u->token)
		explicit_bzero(u->token, strlen(u->token));
	free(u->token);
	pthread_mutex_destroy(&u->lock);
	free(u);
}
