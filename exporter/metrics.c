// SPDX-License-Identifier: Apache-2.0
/* The exporter's counters: Prometheus /metrics and the exit summary. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>

#include <microhttpd.h>

#include "common/log.h"
#include "exporter/internal.h"

/* Prometheus text exposition of every counter. Returns a malloc'd string. */
static char *metrics_text(struct exporter *x)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	size_t i, k;

	if (!f)
		return NULL;
	fprintf(f,
		"# TYPE kiln_export_records_total counter\nkiln_export_records_total %" PRIu64
		"\n# TYPE kiln_export_records_lost_total counter\n"
		"kiln_export_records_lost_total %" PRIu64 "\n# TYPE kiln_export_ring_lag_bytes "
		"gauge\nkiln_export_ring_lag_bytes "
		"%" PRIu64 "\n",
		atomic_load(&x->records), atomic_load(&x->lost), atomic_load(&x->lag));
#define M(mname, type, field)                                                                 \
	do {                                                                                  \
		fprintf(f, "# TYPE kiln_export_" mname " " type "\n");                        \
		for (i = 0; i < x->nr; i++)                                                   \
			fprintf(f, "kiln_export_" mname "{destination=\"%s\"} %" PRIu64 "\n", \
				x->d[i].name, atomic_load(&x->d[i].field));                   \
	} while (0)
	M("batches_sent_total", "counter", m_batches);
	M("samples_sent_total", "counter", m_samples);
	M("bytes_sent_total", "counter", m_bytes);
	M("retries_total", "counter", m_retries);
	M("batches_failed_total", "counter", m_failed_batches);
	M("samples_failed_total", "counter", m_failed_samples);
	M("batches_spooled_total", "counter", m_spooled);
	M("spool_dropped_batches_total", "counter", m_spool_dropped);
	M("spool_dropped_samples_total", "counter", m_spool_dropped_samples);
	M("spool_corrupt_total", "counter", m_spool_corrupt);
	M("queue_dropped_batches_total", "counter", m_queue_dropped);
	M("partial_success_total", "counter", m_partial);
	M("spool_bytes", "gauge", m_spool_bytes);
	M("files_rotated_total", "counter", m_rotated);
	M("spool_write_errors_total", "counter", m_spool_errors);
	M("spool_write_error_samples_total", "counter", m_spool_error_samples);
	M("expired_batches_total", "counter", m_expired_batches);
	M("expired_samples_total", "counter", m_expired_samples);
	M("expired_kept_samples_total", "counter", m_expired_kept_samples);
	M("profiles_split_total", "counter", m_profiles_split);
	M("attributes_dropped_total", "counter", m_attrs_dropped);
#undef M
	fprintf(f, "# TYPE kiln_export_failures_total counter\n");
	for (i = 0; i < x->nr; i++)
		for (k = 0; k < NR_STATUS + 2; k++) {
			uint64_t v = atomic_load(&x->d[i].m_status[k]);
			char st[16];

			if (!v)
				continue;
			if (k < NR_STATUS)
				snprintf(st, sizeof(st), "%ld", exp_counted_status[k]);
			else
				snprintf(st, sizeof(st), "%s",
					 k == NR_STATUS ? "other" : "transport");
			fprintf(f,
				"kiln_export_failures_total{destination=\"%s\",status=\"%s\"} "
				"%" PRIu64 "\n",
				x->d[i].name, st, v);
		}
	fprintf(f, "# TYPE kiln_export_tls_failures_total counter\n");
	for (i = 0; i < x->nr; i++)
		for (k = 1; k < HTTP_NR_TLS; k++)
			fprintf(f,
				"kiln_export_tls_failures_total{destination=\"%s\",cause=\"%s\"} "
				"%" PRIu64 "\n",
				x->d[i].name, http_tls_names[k], atomic_load(&x->d[i].m_tls[k]));
	{
		uint64_t v[KILN_C_NR];
		bool have[KILN_C_NR];

		for (k = 0; k < KILN_C_NR; k++) {
			v[k] = atomic_load(&x->agent[k]);
			have[k] = atomic_load(&x->agent_have[k]);
		}
		kiln_counters__write_prometheus(f, "kiln_agent_", v, have);
	}
	fclose(f);
	return buf;
}

static enum MHD_Result on_metrics(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *data,
				  size_t *size, void **state)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	char *text;

	(void)version, (void)data, (void)size, (void)state;
	if (strcmp(method, "GET"))
		return MHD_NO;
	if (strcmp(url, "/metrics")) {
		r = MHD_create_response_from_buffer(10, (void *)"not found\n",
						    MHD_RESPMEM_PERSISTENT);
		ret = MHD_queue_response(conn, MHD_HTTP_NOT_FOUND, r);
		MHD_destroy_response(r);
		return ret;
	}
	text = metrics_text(cls);
	if (!text)
		return MHD_NO;
	r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4");
	ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

int exp_metrics_start(struct exporter *x, const char *listen)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	char host[64];
	const char *colon = strrchr(listen, ':');
	unsigned long port;

	if (!colon || colon - listen >= (long)sizeof(host))
		return -EINVAL;
	memcpy(host, listen, colon - listen);
	host[colon - listen] = 0;
	port = strtoul(colon + 1, NULL, 10);
	if (!port || port > 65535 ||
	    inet_pton(AF_INET, *host ? host : "0.0.0.0", &sa.sin_addr) != 1)
		return -EINVAL;
	sa.sin_port = htons(port);
	x->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, port, NULL, NULL, on_metrics, x,
				  MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_END);
	return x->mhd ? 0 : -EADDRINUSE;
}

void exp_summary(struct exporter *x)
{
	for (size_t i = 0; i < x->nr; i++) {
		struct dest *d = &x->d[i];

		fprintf(stderr,
			"kiln export: %s: %" PRIu64 " batches, %" PRIu64 " samples, %" PRIu64
			" bytes sent; %" PRIu64 " retries; %" PRIu64 " batches refused; %" PRIu64
			" spooled (%" PRIu64 " bytes in spool); %" PRIu64 " dropped; %" PRIu64
			" old files rotated out\n",
			d->name, atomic_load(&d->m_batches), atomic_load(&d->m_samples),
			atomic_load(&d->m_bytes), atomic_load(&d->m_retries),
			atomic_load(&d->m_failed_batches), atomic_load(&d->m_spooled),
			atomic_load(&d->m_spool_bytes),
			atomic_load(&d->m_queue_dropped) + atomic_load(&d->m_spool_dropped),
			atomic_load(&d->m_rotated));
		{
			char line[512];
			size_t k, n = 0;

			/* Failed attempts by status: what the retries were about. */
			for (k = 0; k < NR_STATUS + 2 && n < sizeof(line) - 32; k++) {
				uint64_t v = atomic_load(&d->m_status[k]);

				if (!v)
					continue;
				if (k < NR_STATUS)
					n += (size_t)snprintf(line + n, sizeof(line) - n,
							      "%s%ld %" PRIu64, n ? ", " : "",
							      exp_counted_status[k], v);
				else
					n += (size_t)snprintf(
						line + n, sizeof(line) - n, "%s%s %" PRIu64,
						n ? ", " : "",
						k == NR_STATUS ? "other" : "transport", v);
			}
			if (n)
				fprintf(stderr, "kiln export: %s: failed attempts: %s\n", d->name,
					line);
		}
		if (atomic_load(&d->m_expired_batches))
			fprintf(stderr,
				"kiln export: %s: %" PRIu64 " batches (%" PRIu64
				" samples) outside "
				"the ingestion window, not sent: %" PRIu64
				" samples kept in the file "
				"destination, %" PRIu64
				" expired (kiln_export_expired_samples_total)\n",
				d->name, atomic_load(&d->m_expired_batches),
				atomic_load(&d->m_expired_samples),
				atomic_load(&d->m_expired_kept_samples),
				atomic_load(&d->m_expired_samples) -
					atomic_load(&d->m_expired_kept_samples));
		if (atomic_load(&d->m_profiles_split) || atomic_load(&d->m_attrs_dropped))
			fprintf(stderr,
				"kiln export: %s: %" PRIu64
				" profiles split at 16,000 samples or the "
				"request size bound; %" PRIu64
				" resource attributes dropped for the "
				"label limit\n",
				d->name, atomic_load(&d->m_profiles_split),
				atomic_load(&d->m_attrs_dropped));
		if (atomic_load(&d->m_spool_errors))
			fprintf(stderr,
				"kiln export: %s: %" PRIu64 " batches (%" PRIu64 " samples) not "
				"spooled: the spool could not be written; dropped unless a restart "
				"finds them still in the ring "
				"(kiln_export_spool_write_errors_total)\n",
				d->name, atomic_load(&d->m_spool_errors),
				atomic_load(&d->m_spool_error_samples));
		for (size_t k = 1; k < HTTP_NR_TLS; k++)
			if (atomic_load(&d->m_tls[k]))
				fprintf(stderr,
					"kiln export: %s: TLS refused %" PRIu64 " times: %s "
					"(kiln_export_tls_failures_total{cause=\"%s\"})\n",
					d->name, atomic_load(&d->m_tls[k]), exp_tls_why[k],
					http_tls_names[k]);
	}
	fprintf(stderr, "kiln export: %" PRIu64 " records read, %" PRIu64 " lost in the ring\n",
		atomic_load(&x->records), atomic_load(&x->lost));
}
