// SPDX-License-Identifier: Apache-2.0
/*
 * kiln-bench export: samples/s that a real `kiln export` process delivers to a loopback OTLP
 * sink, by compression (none, gzip, zstd).
 *
 * Each run fills a fresh shared-memory ring with window records shaped like a busy node's
 * (4 workloads; per record 1000 distinct stacks of depth 16..24, 1584 samples: 64 CPUs x
 * 99 Hz x 1 s windows / 4 workloads), then times `kiln export --once` from start to exit:
 * ring copy, record parse, batching, OTLP encoding, compression and the HTTP POSTs through
 * libcurl, all on the exporter's real path. The sink (libmicrohttpd, in this process) only
 * counts bytes and answers 200.
 *
 * Baseline, in the same run: the uncompressed bodies the exporter sent in its "none" run are
 * POSTed again, as they are, over the same client code to the same sink, so
 * exporter / baseline shows what decoding, encoding and compression cost on top of moving
 * the bytes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <microhttpd.h>

#include "bench/bench.h"
#include "bench/proc.h"
#include "bench/stats.h"
#include "common/util.h"
#include "exporter/http.h"
#include "profile/synth.h"
#include "shm/shm.h"

#define SUITE "export"
#define NR_WORKLOADS 4
#define WINDOWS_PER_WORKLOAD 8 /* distinct records per workload, cycled through the ring */
#define UNIVERSE 1500 /* stacks a workload has; each window shows STACKS_PER_REC of them */
#define STACKS_PER_REC 1000
#define SAMPLES_PER_REC 1584 /* 64 CPUs x 99 Hz x 1 s / 4 workloads */
#define MIN_DEPTH 16
#define MAX_DEPTH 24
#define PERIOD_NS 10101010ull /* 99 Hz */
#define GOAL_MSPS 1.0 /* >= 1 M samples/s, on the default compression (gzip) */
#define EXPORT_TIMEOUT_MS 120000
#define PATH_PROFILES "/v1development/profiles"

static const char *const compressions[] = { "none", "gzip", "zstd" };
#define NR_COMP 3

/* Window record V of workload W (see profile/synth.h for the shape of its stacks). */
static int make_record(unsigned int w, unsigned int v, void **out, size_t *len, uint64_t *total)
{
	const struct wrec_synth_opts so = {
		.workload = w,
		.seq = v,
		.stacks = STACKS_PER_REC,
		.universe = UNIVERSE,
		.min_depth = MIN_DEPTH,
		.max_depth = MAX_DEPTH,
		.samples = SAMPLES_PER_REC,
		.period_ns = PERIOD_NS,
		/* A minute ago: inside a destination's default ingestion window (-1 h / +10 min). */
		.start_ns = (wall_ns() / 1000000000ull - 60) * 1000000000ull,
	};

	return wrec_synth__record(&so, out, len, total);
}

struct records {
	void *rec[NR_WORKLOADS * WINDOWS_PER_WORKLOAD];
	size_t len[NR_WORKLOADS * WINDOWS_PER_WORKLOAD];
	uint64_t total[NR_WORKLOADS * WINDOWS_PER_WORKLOAD];
	size_t max_len;
};

/*
 * Fills a new ring NAME of SIZE bytes with records (workloads interleaved, as the agent
 * writes them) up to what it holds without overwriting. Returns 0 with the records and
 * samples written, or -errno.
 */
static int fill_ring(const char *name, uint64_t size, const struct records *r, uint64_t *nrec,
		     uint64_t *samples)
{
	struct shm_producer_opts po = { .name = name, .size = size, .gid = -1 };
	/* reservations clear up to size / 2 + size / 16 ahead (see suite_ring.c) */
	uint64_t limit = size / 2 - size / 16 - r->max_len - 64, bytes = 0;
	struct shm_producer *p = NULL;
	struct ring_producer *rp;
	size_t i;
	int err;

	*nrec = *samples = 0;
	shm__unlink(name);
	err = shm_producer__new(&p, &po);
	if (err)
		return err;
	rp = shm_producer__ring(p);
	for (i = 0;; i++) {
		/* window v of every workload, then window v + 1 */
		size_t k = (i % NR_WORKLOADS) * WINDOWS_PER_WORKLOAD +
			   (i / NR_WORKLOADS) % WINDOWS_PER_WORKLOAD;
		void *d;

		if (bytes + r->len[k] + 64 > limit)
			break;
		d = ring_producer__reserve(rp, (uint32_t)r->len[k]);
		if (!d) {
			err = -ENOSPC;
			break;
		}
		memcpy(d, r->rec[k], r->len[k]);
		ring_producer__commit(rp, RING_TYPE_WINDOW, 0);
		bytes += r->len[k] + 64;
		(*nrec)++;
		*samples += r->total[k];
	}
	ring_producer__flush(rp);
	shm_producer__free(p);
	return err;
}

/* The loopback sink: counts requests and bytes; keeps the bodies when asked. */
struct sink {
	struct MHD_Daemon *mhd;
	int fd;
	unsigned int port;
	_Atomic uint64_t requests, bytes, bad;
	atomic_bool keep;
	pthread_mutex_t lock;
	uint8_t **body;
	size_t *body_len, nr, cap;
};

struct sink_req {
	uint8_t *buf;
	size_t len, cap;
	bool oom;
};

static void sink_bodies_free(struct sink *s)
{
	size_t i;

	for (i = 0; i < s->nr; i++)
		free(s->body[i]);
	s->nr = 0;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **state,
			 enum MHD_RequestTerminationCode code)
{
	struct sink_req *q = *state;

	(void)cls, (void)conn, (void)code;
	if (q) {
		free(q->buf);
		free(q);
	}
	*state = NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *data,
				  size_t *size, void **state)
{
	struct sink *s = cls;
	struct sink_req *q = *state;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	unsigned int status = MHD_HTTP_OK;

	(void)version;
	if (!q) {
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);

		q = calloc(1, sizeof(*q));
		if (!q)
			return MHD_NO;
		/* sized once from Content-Length: keeping a body should not cost reallocs */
		if (atomic_load(&s->keep) && cl) {
			q->cap = strtoull(cl, NULL, 10);
			q->buf = q->cap ? malloc(q->cap) : NULL;
			q->oom = q->cap && !q->buf;
		}
		*state = q;
		return MHD_YES;
	}
	if (*size) {
		atomic_fetch_add_explicit(&s->bytes, *size, memory_order_relaxed);
		if (atomic_load(&s->keep) && !q->oom) {
			if (q->len + *size > q->cap) {
				size_t cap = (q->len + *size) * 2;
				uint8_t *b = realloc(q->buf, cap);

				if (!b)
					q->oom = true;
				else
					q->buf = b, q->cap = cap;
			}
			if (!q->oom) {
				memcpy(q->buf + q->len, data, *size);
				q->len += *size;
			}
		}
		*size = 0;
		return MHD_YES;
	}
	if (strcmp(method, "POST") || strcmp(url, PATH_PROFILES) || q->oom) {
		status = q->oom ? MHD_HTTP_INTERNAL_SERVER_ERROR : MHD_HTTP_NOT_FOUND;
		atomic_fetch_add(&s->bad, 1);
	} else if (atomic_load(&s->keep)) {
		pthread_mutex_lock(&s->lock);
		if (s->nr == s->cap) {
			size_t cap = s->cap ? s->cap * 2 : 64;
			uint8_t **b = realloc(s->body, cap * sizeof(*b));
			size_t *l = b ? realloc(s->body_len, cap * sizeof(*l)) : NULL;

			if (b)
				s->body = b;
			if (l) {
				s->body_len = l;
				s->cap = cap;
			}
		}
		if (s->nr < s->cap) {
			s->body[s->nr] = q->buf;
			s->body_len[s->nr++] = q->len;
			q->buf = NULL;
		} else {
			status = MHD_HTTP_INTERNAL_SERVER_ERROR;
			atomic_fetch_add(&s->bad, 1);
		}
		pthread_mutex_unlock(&s->lock);
	}
	atomic_fetch_add(&s->requests, 1);
	/* an empty ExportProfilesServiceResponse: full success */
	resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/x-protobuf");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Starts the sink on 127.0.0.1, on a port the kernel picks. Returns 0 or -errno. */
static int sink_start(struct sink *s)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int one = 1;

	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		return -errno;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    getsockname(s->fd, (struct sockaddr *)&sa, &sl) || listen(s->fd, 64))
		return -errno;
	s->port = ntohs(sa.sin_port);
	pthread_mutex_init(&s->lock, NULL);
	s->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL,
				  on_request, s, MHD_OPTION_LISTEN_SOCKET, s->fd,
				  MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
				  MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_END);
	return s->mhd ? 0 : -EIO;
}

static void sink_stop(struct sink *s)
{
	if (s->mhd)
		MHD_stop_daemon(s->mhd);
	s->mhd = NULL;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	sink_bodies_free(s);
	free(s->body);
	free(s->body_len);
	s->body = NULL;
	s->body_len = NULL;
	s->cap = 0;
}

/* What the exporter's exit summary says it did. */
struct export_result {
	double secs;
	uint64_t samples, bytes, batches, records, lost, refused, dropped;
};

/* Parses `kiln export`'s summary lines (stderr, in FD). Returns 0 or -EBADMSG. */
static int parse_summary(int fd, struct export_result *r)
{
	char buf[8192], *line;
	ssize_t n;
	int found = 0;

	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return -EBADMSG;
	buf[n] = 0;
	for (line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		unsigned long long a, b, c, d, e, f, g, h;
		char dest[64];

		if (sscanf(line,
			   "kiln export: %63[^:]: %llu batches, %llu samples, %llu bytes sent; "
			   "%llu retries; %llu batches refused; %llu spooled (%llu bytes in "
			   "spool); %llu dropped",
			   dest, &a, &b, &c, &d, &e, &f, &g, &h) == 9) {
			r->batches = a;
			r->samples = b;
			r->bytes = c;
			r->refused = e;
			r->dropped = f + h;
			found |= 1;
		} else if (sscanf(line, "kiln export: %llu records read, %llu lost in the ring", &a,
				  &b) == 2) {
			r->records = a;
			r->lost = b;
			found |= 2;
		}
	}
	return found == 3 ? 0 : -EBADMSG;
}

/*
 * Runs `kiln export --once` with compression COMP on ring RING into the sink (under
 * `perf record` when PERF names an output file). Returns 0 with *R, or -errno after printing
 * why.
 */
static int run_export(const char *kiln, const char *ring, const char *comp, struct sink *s,
		      const char *perf, struct export_result *r)
{
	char dest[64], perf_path[4096];
	char *argv[24];
	int err_fd = -1, status = 0, err = 0, a = 0;
	uint64_t t0, req0 = atomic_load(&s->requests), bytes0 = atomic_load(&s->bytes);
	pid_t pid = -1;

	memset(r, 0, sizeof(*r));
	snprintf(dest, sizeof(dest), "otlp=http://127.0.0.1:%u", s->port);
	if (perf) {
		if (bench_which("perf", perf_path, sizeof(perf_path))) {
			fprintf(stderr, "kiln-bench export: --perf: perf not found in PATH\n");
			return -ENOENT;
		}
		argv[a++] = perf_path;
		argv[a++] = "record";
		argv[a++] = "-q";
		argv[a++] = "-g";
		argv[a++] = "-o";
		argv[a++] = (char *)perf;
		argv[a++] = "--";
	}
	argv[a++] = (char *)kiln;
	argv[a++] = "export";
	argv[a++] = "--ring";
	argv[a++] = (char *)ring;
	argv[a++] = "--destination";
	argv[a++] = dest;
	argv[a++] = "--compression";
	argv[a++] = (char *)comp;
	argv[a++] = "--spool-dir";
	argv[a++] = "";
	argv[a++] = "--timeout";
	argv[a++] = "30s";
	argv[a++] = "--once";
	argv[a] = NULL;
	err_fd = bench_tmpfd();
	if (err_fd < 0)
		return err_fd;
	t0 = mono_ns();
	pid = bench_spawn(argv, BENCH_FD_NULL, err_fd, NULL, 0);
	if (pid < 0) {
		err = pid;
		fprintf(stderr, "kiln-bench export: starting %s: %s\n", kiln, strerror(-err));
		goto cleanup;
	}
	err = bench_wait(pid, EXPORT_TIMEOUT_MS, &status);
	r->secs = (double)(mono_ns() - t0) / 1e9;
	if (err == -ETIMEDOUT) {
		bench_stop(pid, SIGKILL, 1000, NULL);
		fprintf(stderr, "kiln-bench export: kiln export --once still ran after %d s\n",
			EXPORT_TIMEOUT_MS / 1000);
		goto cleanup;
	}
	if (err)
		goto cleanup;
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		char why[32];

		fprintf(stderr, "kiln-bench export: kiln export (%s) ended with %s\n", comp,
			bench_status_str(status, why, sizeof(why)));
		err = -ECHILD;
		goto cleanup;
	}
	/* perf writes its own lines first; the summary is still there to parse */
	err = parse_summary(err_fd, r);
	if (err) {
		fprintf(stderr, "kiln-bench export: no exit summary from kiln export (%s)\n", comp);
		goto cleanup;
	}
	if (atomic_load(&s->bytes) - bytes0 != r->bytes) {
		fprintf(stderr,
			"kiln-bench export: sink received %" PRIu64 " bytes in %" PRIu64
			" requests, kiln export says it sent %" PRIu64 "\n",
			atomic_load(&s->bytes) - bytes0, atomic_load(&s->requests) - req0,
			r->bytes);
		err = -EPROTO;
	}
cleanup:
	if (err && err_fd >= 0)
		bench_print_tail(err_fd, "kiln export");
	if (err_fd >= 0)
		close(err_fd);
	return err;
}

/*
 * POSTs the bodies the sink kept, as they are, to the sink over the exporter's HTTP client.
 * Returns seconds taken, or a negative value after printing why.
 */
static double post_bodies(struct sink *s)
{
	struct http_opts ho = { .timeout_ns = 30000000000ull };
	struct http_result res;
	struct http *h = NULL;
	char url[128];
	uint64_t t0;
	double secs = -1;
	size_t i;

	snprintf(url, sizeof(url), "http://127.0.0.1:%u" PATH_PROFILES, s->port);
	ho.url = url;
	if (http__new(&h, &ho)) {
		fprintf(stderr, "kiln-bench export: cannot create an HTTP client\n");
		return -1;
	}
	t0 = mono_ns();
	for (i = 0; i < s->nr; i++) {
		if (http__post(h, s->body[i], s->body_len[i], NULL, &res) ||
		    res.outcome != HTTP_OK) {
			fprintf(stderr, "kiln-bench export: baseline POST failed: %ld %s\n",
				res.status, res.message);
			goto cleanup;
		}
	}
	secs = (double)(mono_ns() - t0) / 1e9;
cleanup:
	http__free(h);
	return secs;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: kiln-bench export [--perf FILE]\n"
		   "  --perf FILE   after the measured runs, run the gzip export once more under\n"
		   "                `perf record -g -o FILE` (not measured; see perf report)\n");
}

/* --perf FILE into *PERF. Returns 0, 1 after --help was printed, or -EINVAL. */
static int parse_args(int argc, char **argv, const char **perf)
{
	static const struct option lopts[] = {
		{ "perf", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int i;

	optind = 1;
	while ((i = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (i) {
		case 'p':
			*perf = optarg;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kiln-bench export: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

/*
 * The result rows: the baseline, then per compression samples/s, the ratio to the baseline
 * and wire bytes per sample, and the samples lost (BASE[0] is reused for that row).
 */
static void print_rows(double *const msps[NR_COMP], double *const ratio[NR_COMP],
		       double *const bps[NR_COMP], double *base, int runs, uint64_t lost_samples)
{
	struct bench_summary sm;
	char row[96];
	int c;

	bench_summarize(base, runs, &sm);
	bench_row(SUITE, "baseline: POST pre-encoded bodies", &sm, "M/s", 2, NULL, BENCH_NO_GOAL);
	for (c = 0; c < NR_COMP; c++) {
		bool goal = !strcmp(compressions[c], "gzip");

		snprintf(row, sizeof(row), "%s: samples/s", compressions[c]);
		bench_summarize(msps[c], runs, &sm);
		bench_row(SUITE, row, &sm, "M/s", 2, goal ? ">= 1" : NULL,
			  !goal			   ? BENCH_NO_GOAL
			  : sm.median >= GOAL_MSPS ? BENCH_PASS
						   : BENCH_MISS);
		snprintf(row, sizeof(row), "%s: vs baseline", compressions[c]);
		bench_summarize(ratio[c], runs, &sm);
		bench_row(SUITE, row, &sm, "x", 3, NULL, BENCH_NO_GOAL);
		snprintf(row, sizeof(row), "%s: wire bytes per sample", compressions[c]);
		bench_summarize(bps[c], runs, &sm);
		bench_row(SUITE, row, &sm, "B", 2, NULL, BENCH_NO_GOAL);
	}
	/* every sample put in the ring must reach the sink, or the rate above is not one */
	base[0] = (double)lost_samples;
	bench_summarize(base, 1, &sm);
	bench_row(SUITE, "samples lost, all runs", &sm, "samples", 0, "== 0",
		  lost_samples ? BENCH_MISS : BENCH_PASS);
}

int bench_export(const struct bench_opts *o, int argc, char **argv)
{
	int runs = o->runs ? o->runs : o->short_mode ? 1 : 5, i, k, c, err = 0;
	uint64_t size = o->short_mode ? 32ull << 20 : 256ull << 20, nrec = 0, samples = 0;
	uint64_t lost_samples = 0;
	double *msps[NR_COMP] = { NULL }, *ratio[NR_COMP] = { NULL }, *bps[NR_COMP] = { NULL };
	double *base = NULL;
	bool oom = false;
	struct sink s = { .fd = -1 };
	struct records r = { 0 };
	const char *perf = NULL;
	char kiln[4096], ring[64];
	struct export_result er;

	err = parse_args(argc, argv, &perf);
	if (err)
		return err > 0 ? 0 : err;
	if (bench_sibling(o, "../kiln", kiln, sizeof(kiln)) || access(kiln, X_OK)) {
		fprintf(stderr, "kiln-bench export: needs %s (build it first)\n", kiln);
		bench_row_na(SUITE, "export", "build/kiln not built");
		return -ENOENT;
	}
	snprintf(ring, sizeof(ring), "bench-export-%d", (int)getpid());
	base = calloc((size_t)runs, sizeof(double));
	for (c = 0; c < NR_COMP; c++) {
		msps[c] = calloc((size_t)runs, sizeof(double));
		ratio[c] = calloc((size_t)runs, sizeof(double));
		bps[c] = calloc((size_t)runs, sizeof(double));
		oom |= !msps[c] || !ratio[c] || !bps[c];
	}
	if (!base || oom) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (i = 0; i < NR_WORKLOADS * WINDOWS_PER_WORKLOAD; i++) {
		err = make_record((unsigned int)i / WINDOWS_PER_WORKLOAD,
				  (unsigned int)i % WINDOWS_PER_WORKLOAD, &r.rec[i], &r.len[i],
				  &r.total[i]);
		if (err) {
			fprintf(stderr, "kiln-bench export: cannot build window records: %s\n",
				strerror(-err));
			goto cleanup;
		}
		if (r.len[i] > r.max_len)
			r.max_len = r.len[i];
	}
	err = http__global_init();
	if (!err)
		err = sink_start(&s);
	if (err) {
		fprintf(stderr, "kiln-bench export: cannot start the loopback sink: %s\n",
			strerror(-err));
		goto cleanup;
	}
	bench_header(SUITE, "kiln export --once, ring -> OTLP/HTTP -> loopback sink (127.0.0.1)");
	printf("records: %d workloads, %d stacks of depth %d..%d and %d samples each "
	       "(~%zu KiB); %s ring\n",
	       NR_WORKLOADS, STACKS_PER_REC, MIN_DEPTH, MAX_DEPTH, SAMPLES_PER_REC, r.len[0] / 1024,
	       o->short_mode ? "32 MiB" : "256 MiB");
	for (k = 0; k < runs; k++) {
		for (c = 0; c < NR_COMP; c++) {
			err = fill_ring(ring, size, &r, &nrec, &samples);
			if (err) {
				fprintf(stderr, "kiln-bench export: filling ring %s: %s\n", ring,
					strerror(-err));
				goto cleanup;
			}
			/* the "none" run's bodies are the baseline's payload */
			atomic_store(&s.keep, c == 0);
			err = run_export(kiln, ring, compressions[c], &s, NULL, &er);
			atomic_store(&s.keep, false);
			shm__unlink(ring);
			if (err)
				goto cleanup;
			if (k == 0 && c == 0)
				printf("per run: %" PRIu64 " records, %" PRIu64 " samples\n", nrec,
				       samples);
			lost_samples += er.samples < samples ? samples - er.samples : 0;
			msps[c][k] = (double)er.samples / er.secs / 1e6;
			bps[c][k] = er.samples ? (double)er.bytes / (double)er.samples : 0;
			if (c == 0) {
				double secs = post_bodies(&s);

				sink_bodies_free(&s);
				if (secs <= 0) {
					err = -EIO;
					goto cleanup;
				}
				base[k] = (double)er.samples / secs / 1e6;
			}
			ratio[c][k] = msps[c][k] / base[k];
		}
	}
	print_rows(msps, ratio, bps, base, runs, lost_samples);
	if (perf) {
		err = fill_ring(ring, size, &r, &nrec, &samples);
		if (!err)
			err = run_export(kiln, ring, "gzip", &s, perf, &er);
		shm__unlink(ring);
		if (err)
			goto cleanup;
		printf("perf profile of one gzip run: %s (perf report -i %s)\n", perf, perf);
	}
cleanup:
	sink_stop(&s);
	shm__unlink(ring);
	for (i = 0; i < NR_WORKLOADS * WINDOWS_PER_WORKLOAD; i++)
		free(r.rec[i]);
	for (c = 0; c < NR_COMP; c++) {
		free(msps[c]);
		free(ratio[c]);
		free(bps[c]);
	}
	free(base);
	return err;
}
