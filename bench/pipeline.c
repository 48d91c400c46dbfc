// SPDX-License-Identifier: Apache-2.0
/*
 * kiln's pipeline (agent, exporter, UI) on a private ring for the suites, and the HTTP
 * requests they send the UI (libcurl).
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "bench/proc.h"
#include "common/strbuf.h"
#include "common/util.h"
#include "shm/counters.h"
#include "shm/shm.h"
/* libcurl's write callback: the answer's body into a struct strbuf. */
static size_t http_body_write(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct strbuf *b = ctx;

	strbuf__append(b, data, size * nmemb);
	/* Short of the whole: libcurl stops with CURLE_WRITE_ERROR. */
	return b->err ? 0 : size * nmemb;
}

/* -errno for a failed transfer. */
static int curl_errno(CURLcode rc)
{
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_URL_MALFORMAT:
		return -EINVAL;
	case CURLE_WEIRD_SERVER_REPLY:
		return -EPROTO;
	default:
		return -EIO;
	}
}

int bench_http(int port, const char *method, const char *path, int timeout_ms, int *status,
	       char **body)
{
	struct strbuf b = { 0 };
	struct curl_slist *hdrs = NULL;
	char url[512];
	long code = 0;
	CURLcode rc;
	CURL *curl;
	int err = 0, n;

	*status = 0;
	if (body)
		*body = NULL;
	n = snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	if (n < 0 || (size_t)n >= sizeof(url))
		return -ENAMETOOLONG;
	curl = curl_easy_init();
	/* X-Kiln-Request: the UI refuses a state change without it (cross-site proof). */
	hdrs = curl_slist_append(NULL, "X-Kiln-Request: 1");
	if (!curl || !hdrs) {
		err = -ENOMEM;
		goto cleanup;
	}
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, http_body_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
	if (!strcmp(method, "POST")) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, 0L);
	} else if (strcmp(method, "GET")) {
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	}
	rc = curl_easy_perform(curl);
	if (rc != CURLE_OK) {
		err = b.err ? b.err : curl_errno(rc);
		goto cleanup;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
	*status = (int)code;
	if (body) {
		/* An empty answer is still a string. */
		*body = strbuf__take(&b, NULL);
		if (!*body) {
			err = -ENOMEM;
			goto cleanup;
		}
	}
cleanup:
	curl_slist_free_all(hdrs);
	if (curl)
		curl_easy_cleanup(curl);
	strbuf__release(&b);
	return err;
}

/* Prints and forgets the output kept in *FD (a temporary file), if any. */
static void tail_and_close(int *fd, const char *who)
{
	if (*fd < 0)
		return;
	bench_print_tail(*fd, who);
	close(*fd);
	*fd = -1;
}

/*
 * Checks one process of the pipeline: still running? Returns 0, or -ECHILD after printing
 * how it ended and its output (its pid is then -1).
 */
static int check_one(pid_t *pid, int *err_fd, const char *who)
{
	char why[32];
	int status;

	if (*pid <= 0 || bench_wait(*pid, 0, &status) == -ETIMEDOUT)
		return 0;
	fprintf(stderr, "kiln-bench: %s ended (%s)\n", who,
		bench_status_str(status, why, sizeof(why)));
	*pid = -1;
	if (*err_fd >= 0)
		bench_print_tail(*err_fd, who);
	return -ECHILD;
}

int bench_pipeline__check(struct bench_pipeline *p)
{
	int a = check_one(&p->agent, &p->agent_err, "kiln agent");
	int e = check_one(&p->exporter, &p->exporter_err, "kiln export");
	int u = check_one(&p->ui, &p->ui_err, "kiln ui");

	return a ? a : e ? e : u;
}

/* Is PID attached to the ring as a consumer? */
static bool attached(const struct shm_view *v, pid_t pid)
{
	const struct shm_cons *c = shm_view__cons(v);
	uint64_t owner;
	uint32_t i;

	for (i = 0; i < SHM_MAX_CONSUMERS; i++) {
		owner = atomic_load(&c->slots[i].owner);
		if (owner && shm_slot__pid(owner) == pid)
			return true;
	}
	return false;
}

/* The port from the UI's "listening on http://ADDR:PORT/" line, 0 while not printed yet. */
static int ui_port(int out_fd)
{
	char buf[512], *p, *colon;
	ssize_t n;

	n = pread(out_fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strstr(buf, "listening on http://");
	if (!p || !strchr(p, '\n'))
		return 0;
	p += strlen("listening on http://");
	colon = strchr(p, '/');
	if (!colon)
		return 0;
	*colon = '\0';
	colon = strrchr(p, ':');
	return colon ? atoi(colon + 1) : 0;
}

int bench_pipeline__new(struct bench_pipeline **out, const struct bench_opts *o,
			const struct bench_pipeline_opts *po)
{
	char kiln[PATH_MAX], hz[16], win[16], dest[128], spool[128];
	struct bench_pipeline *p;
	uint64_t deadline;
	int err = 0;

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->agent = p->exporter = p->ui = -1;
	p->agent_err = p->exporter_err = p->ui_err = p->ui_out = -1;
	snprintf(p->ring, sizeof(p->ring), "kiln-bench-%s-%d", po->tag, (int)getpid());
	err = bench_sibling(o, "../kiln", kiln, sizeof(kiln));
	if (!err && access(kiln, X_OK))
		err = -errno;
	if (err) {
		fprintf(stderr, "kiln-bench: needs %s (build it first)\n", kiln);
		goto cleanup;
	}
	snprintf(hz, sizeof(hz), "%u", po->hz);
	snprintf(win, sizeof(win), "%u", po->window_ms);
	shm__unlink(p->ring);
	{
		char *av[] = {
			kiln, "agent", "--ring", p->ring, "-F", hz, "--window-ms", win, NULL
		};

		if (!po->window_ms)
			av[6] = NULL; /* the agent's default window */
		p->agent_err = bench_tmpfd();
		p->agent = bench_spawn(av, BENCH_FD_NULL,
				       p->agent_err < 0 ? BENCH_FD_NULL : p->agent_err, NULL, 0);
	}
	if (p->agent < 0) {
		err = p->agent;
		goto cleanup;
	}
	/* Sampling, draining and writing: the first window with samples is in the ring. */
	deadline = mono_ns() + 30000000000ull;
	for (;;) {
		if (!p->view && shm_view__open(&p->view, p->ring))
			p->view = NULL;
		if (p->view && bench_counter(shm_view__hdr(p->view), "windows") >= 1 &&
		    bench_counter(shm_view__hdr(p->view), "samples_taken") > 0)
			break;
		err = bench_pipeline__check(p);
		if (err)
			goto cleanup;
		if (mono_ns() >= deadline) {
			fprintf(stderr, "kiln-bench: kiln agent wrote no window within 30 s\n");
			bench_print_tail(p->agent_err, "kiln agent");
			err = -ETIMEDOUT;
			goto cleanup;
		}
		/* Polling a state the agent gives no other signal for. */
		bench_sleep_ns(20000000);
	}
	p->hdr = shm_view__hdr(p->view);

	if (po->exporter) {
		snprintf(p->dir, sizeof(p->dir), "/tmp/kiln-bench-%s-XXXXXX", po->tag);
		if (!mkdtemp(p->dir)) {
			err = -errno;
			p->dir[0] = '\0';
			goto cleanup;
		}
		snprintf(dest, sizeof(dest), "file=%s/out", p->dir);
		snprintf(spool, sizeof(spool), "%s/spool", p->dir);
		char *const av[] = { kiln, "export",	  "--ring", p->ring, "--destination",
				     dest, "--spool-dir", spool,    NULL };

		p->exporter_err = bench_tmpfd();
		p->exporter = bench_spawn(av, BENCH_FD_NULL,
					  p->exporter_err < 0 ? BENCH_FD_NULL : p->exporter_err,
					  NULL, 0);
		if (p->exporter < 0) {
			err = p->exporter;
			goto cleanup;
		}
	}
	if (po->ui) {
		char *const av[] = {
			kiln, "ui", "--ring", p->ring, "--listen", "127.0.0.1:0", NULL
		};

		p->ui_err = bench_tmpfd();
		p->ui_out = bench_tmpfd();
		if (p->ui_out < 0) {
			err = p->ui_out;
			goto cleanup;
		}
		p->ui = bench_spawn(av, p->ui_out, p->ui_err < 0 ? BENCH_FD_NULL : p->ui_err, NULL,
				    0);
		if (p->ui < 0) {
			err = p->ui;
			goto cleanup;
		}
	}
	deadline = mono_ns() + 20000000000ull;
	for (;;) {
		if (p->ui > 0 && !p->ui_port)
			p->ui_port = ui_port(p->ui_out);
		if ((p->exporter < 0 || attached(p->view, p->exporter)) &&
		    (p->ui < 0 || (p->ui_port && attached(p->view, p->ui))))
			break;
		err = bench_pipeline__check(p);
		if (err)
			goto cleanup;
		if (mono_ns() >= deadline) {
			fprintf(stderr,
				"kiln-bench: exporter or UI not attached to %s within 20 s\n",
				p->ring);
			tail_and_close(&p->exporter_err, "kiln export");
			tail_and_close(&p->ui_err, "kiln ui");
			err = -ETIMEDOUT;
			goto cleanup;
		}
		bench_sleep_ns(20000000);
	}
cleanup:
	if (err) {
		bench_pipeline__free(p);
		return err;
	}
	*out = p;
	return 0;
}

int bench_pipeline__wait_windows(struct bench_pipeline *p, uint64_t n, int timeout_ms)
{
	uint64_t deadline = mono_ns() + (uint64_t)timeout_ms * 1000000;
	uint64_t want = bench_counter(p->hdr, "windows") + n;
	int err;

	while (bench_counter(p->hdr, "windows") < want) {
		err = bench_pipeline__check(p);
		if (err)
			return err;
		if (mono_ns() >= deadline)
			return -ETIMEDOUT;
		bench_sleep_ns(20000000);
	}
	return 0;
}

int bench_pipeline__open_slot(struct bench_pipeline *p, const char *cg, int timeout_ms, char *path,
			      size_t len)
{
	uint64_t deadline = mono_ns() + (uint64_t)timeout_ms * 1000000;
	const char *name = strrchr(cg, '/') ? strrchr(cg, '/') + 1 : cg;
	int status = 0, err;

	/* The agent keys a cgroup of its own "cgroup/<path below the mount>": ours is top-level. */
	snprintf(path, len, "/api/slots/cgroup%%2F%s", name);
	for (;;) {
		err = bench_http(p->ui_port, "POST", path, 5000, &status, NULL);
		if (!err && (status == 200 || status == 201))
			return 0;
		if (mono_ns() >= deadline) {
			fprintf(stderr, "kiln-bench: the UI never listed workload cgroup/%s (%s)\n",
				name, err ? strerror(-err) : "HTTP 404");
			return -ETIMEDOUT;
		}
		err = bench_pipeline__check(p);
		if (err)
			return err;
		/* The UI lists a workload once a window with its samples was read. */
		bench_sleep_ns(50000000);
	}
}

/* Stops one process of the pipeline, printing how it ended unless it exited 0. */
static void stop_one(pid_t *pid, int *err_fd, const char *who)
{
	char why[32];
	int status = 0, err;

	if (*pid > 0) {
		err = bench_stop(*pid, SIGTERM, 30000, &status);
		if (err == -ETIMEDOUT)
			fprintf(stderr, "kiln-bench: %s ignored SIGTERM for 30 s, killed\n", who);
		else if (!err && !(WIFEXITED(status) && !WEXITSTATUS(status)))
			fprintf(stderr, "kiln-bench: %s ended with %s after SIGTERM\n", who,
				bench_status_str(status, why, sizeof(why)));
		if (err || !WIFEXITED(status) || WEXITSTATUS(status))
			tail_and_close(err_fd, who);
		*pid = -1;
	}
	if (*err_fd >= 0)
		close(*err_fd);
	*err_fd = -1;
}

int bench_pipeline__new_cgroup(struct bench_pipeline **out, const struct bench_opts *o,
			       const struct bench_pipeline_opts *po, const char *suite, char *cg,
			       size_t cg_len)
{
	int err;

	cg[0] = '\0';
	err = bench_pipeline__new(out, o, po);
	if (err) {
		fprintf(stderr, "%s: kiln did not start: %s\n", suite, strerror(-err));
		return err;
	}
	err = bench_cgroup_new(suite, cg, cg_len);
	if (err) {
		fprintf(stderr, "%s: cannot make a cgroup for the workload: %s\n", suite,
			strerror(-err));
		cg[0] = '\0';
	}
	return err;
}

void bench_pipeline__free(struct bench_pipeline *p)
{
	if (!p)
		return;
	/* Consumers first: the agent's last flush goes to a ring nobody reads any more. */
	stop_one(&p->ui, &p->ui_err, "kiln ui");
	stop_one(&p->exporter, &p->exporter_err, "kiln export");
	stop_one(&p->agent, &p->agent_err, "kiln agent");
	if (p->ui_out >= 0)
		close(p->ui_out);
	shm_view__free(p->view);
	shm__unlink(p->ring);
	if (p->dir[0])
		bench_rmtree(p->dir);
	free(p);
}
