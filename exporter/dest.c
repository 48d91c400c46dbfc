// SPDX-License-Identifier: Apache-2.0
/* Destinations: set-up (URL, credentials, HTTP client, spool, restart cursor) and tear-down. */
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

#include "common/log.h"
#include "common/util.h"
#include "exporter/internal.h"

/* Reads small file NAME in directory DFD into *BUF (caller frees). Returns 0 or -errno. */
static int exp_read_fileat(int dfd, const char *name, char **buf, size_t *len)
{
	char tmp[256];
	ssize_t n;
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);

	*buf = NULL;
	if (fd < 0)
		return -errno;
	n = read(fd, tmp, sizeof(tmp) - 1);
	close(fd);
	if (n < 0)
		return -errno;
	tmp[n] = 0;
	*len = (size_t)n;
	*buf = strdup(tmp);
	return *buf ? 0 : -ENOMEM;
}

/*
 * Opens directory PATH, creating it with MODE: the descriptor kiln run handed over for it
 * when there is one (a parent closed to this user), else by path. Sets *HANDED accordingly.
 * Returns the descriptor (caller closes) or -errno.
 */
static int exp_open_dir(const struct exporter *x, const char *path, mode_t mode, bool *handed)
{
	int i, fd;

	*handed = false;
	for (i = 0; i < x->o->nr_dirfds; i++) {
		if (strcmp(x->o->dirfds[i].path, path))
			continue;
		*handed = true;
		fd = fcntl(x->o->dirfds[i].fd, F_DUPFD_CLOEXEC, 3);
		return fd < 0 ? -errno : fd;
	}
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return -errno;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

bool exp_skipped(const struct dest *d, uint64_t seq)
{
	if (d->have_cursor && seq <= d->skip_le)
		return true;
	for (size_t i = 0; i < d->nr_skip; i++)
		if (seq >= d->skip[i].first && seq <= d->skip[i].last)
			return true;
	return false;
}

static void add_skip(void *arg, uint64_t first, uint64_t last)
{
	struct dest *d = arg;
	struct range *r = realloc(d->skip, (d->nr_skip + 1) * sizeof(*r));

	if (!r)
		return;
	d->skip = r;
	d->skip[d->nr_skip++] = (struct range){ first, last };
}

/* Reads a secret from the variable ENV or the file FILE (trailing newline stripped). */
static int read_secret(const char *env, const char *file, char **out)
{
	size_t len;
	int err;

	*out = NULL;
	if (env) {
		const char *v = getenv(env);

		if (!v)
			return -ENOENT;
		*out = strdup(v);
		return *out ? 0 : -ENOMEM;
	}
	if (!file)
		return 0;
	err = read_file(file, out, &len);
	if (err)
		return err;
	while (len && ((*out)[len - 1] == '\n' || (*out)[len - 1] == '\r'))
		(*out)[--len] = 0;
	return 0;
}

/* D's encoder, with the request shape destination C gets, and its ingestion window. */
static int dest_encoder(struct dest *d, const struct kiln_destination *c,
			const struct kiln_config *kc)
{
	struct otlp_opts oo = { .pid_attributes = c->pid_attributes };
	uint64_t cap = kc->exporter.batch_max_bytes;

	/* Pyroscope's per-profile bound holds for every destination: a collector may forward. */
	oo.max_request_bytes = cap && cap < OTLP_MAX_PROFILE_BYTES ? cap : OTLP_MAX_PROFILE_BYTES;
	/*
	 * Pyroscope ingests a request profile by profile and answers one status for all of
	 * it: a failure part way leaves the first profiles stored, and nothing in the answer
	 * says which. One profile per request makes every request all or nothing, so a retry
	 * can never store a profile twice. Chosen over relying on the stable profile_id every
	 * profile carries (otlp/encode.c): the ingest code read gives each stored series an id
	 * of its own and never looks at profile_id (see docs/destinations.md).
	 */
	if (c->per_request_set)
		oo.max_profiles = (uint32_t)c->profiles_per_request;
	else
		oo.max_profiles = c->type == KILN_DEST_PYROSCOPE ? 1 : 0;
	for (size_t i = 0; i < kc->nr_dests; i++)
		if (&kc->dests[i] != c && kc->dests[i].type == KILN_DEST_FILE)
			d->file_backup = true;
	if (c->window_set) {
		d->window_past_ns = c->window_past_ns;
		d->window_future_ns = c->window_future_ns;
	} else if (c->type != KILN_DEST_FILE) {
		d->window_past_ns = EXP_WINDOW_PAST_NS;
		d->window_future_ns = EXP_WINDOW_FUTURE_NS;
	}
	return otlp_enc__new(&d->enc, &oo);
}

int exp_dest_init(struct exporter *x, struct dest *d, const struct kiln_destination *c, size_t idx,
		  uint64_t ring_id)
{
	const struct kiln_config *kc = x->cfg;
	struct http_opts ho = { 0 };
	char *basic_user = c->basic_user;
	int err;

	d->out_fd = -1;
	d->cfg = c;
	d->kc = kc;
	d->ring_id = ring_id;
	snprintf(d->name, sizeof(d->name), "%s", c->name ? c->name : "");
	if (!d->name[0])
		snprintf(d->name, sizeof(d->name), "%s-%zu",
			 c->type == KILN_DEST_FILE   ? "file"
			 : c->type == KILN_DEST_OTLP ? "otlp"
						     : "pyroscope",
			 idx);
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
	err = dest_encoder(d, c, kc);
	if (err)
		return err;
	d->q_cap = kc->exporter.queue_max_batches ? kc->exporter.queue_max_batches : 64;
	/*
	 * One profile per request turns a batch into a request per workload window: a node
	 * with a hundred workloads queues a hundred at each cut. The queue then holds as many
	 * requests as EXP_SMALL_BATCHES batches of many profiles would, so that the usual
	 * burst does not overflow into the spool (or, without one, drop).
	 */
	if (c->per_request_set ? c->profiles_per_request == 1 : c->type == KILN_DEST_PYROSCOPE)
		d->q_cap *= EXP_SMALL_BATCHES;
	d->queue = calloc(d->q_cap, sizeof(*d->queue));
	if (!d->queue)
		return -ENOMEM;
	switch (c->type) {
	case KILN_DEST_PYROSCOPE:
		/* host:port; Pyroscope serves OTLP at the root, no /otlp prefix. */
		snprintf(d->url, sizeof(d->url), "%s%s/v1development/profiles",
			 strstr(c->url, "://") ? "" : "http://", c->url);
		break;
	case KILN_DEST_OTLP: {
		size_t n = strlen(c->url);

		if (strstr(c->url, "/v1development/profiles"))
			snprintf(d->url, sizeof(d->url), "%s", c->url);
		else
			snprintf(d->url, sizeof(d->url), "%s%.*s/v1development/profiles",
				 strstr(c->url, "://") ? "" : "http://",
				 (int)(n && c->url[n - 1] == '/' ? n - 1 : n), c->url);
		break;
	}
	case KILN_DEST_FILE:
		snprintf(d->url, sizeof(d->url), "%s", c->url);
		d->out_fd = exp_open_dir(x, d->url, 0755, &d->out_handed);
		if (d->out_fd < 0) {
			err = d->out_fd;
			log_error("%s: cannot open directory %s: %s", d->name, d->url,
				  strerror(-err));
			return err;
		}
		break;
	default:
		return -EINVAL;
	}
	if (c->type != KILN_DEST_FILE) {
		err = read_secret(c->bearer_token_env, c->bearer_token_file, &d->secret_token);
		if (!err)
			err = read_secret(c->basic_password_env, c->basic_password_file,
					  &d->secret_pass);
		if (err) {
			/* Names the source, never the value. */
			log_error("%s: cannot read a credential (%s): %s", d->name,
				  c->bearer_token_env	  ? c->bearer_token_env
				  : c->bearer_token_file  ? c->bearer_token_file
				  : c->basic_password_env ? c->basic_password_env
							  : c->basic_password_file,
				  strerror(-err));
			return err;
		}
		ho.url = d->url;
		ho.timeout_ns = kc->exporter.timeout_ns;
		ho.ca_file = c->ca_file;
		ho.headers = c->headers;
		ho.nr_headers = c->nr_headers;
		ho.bearer_token = d->secret_token;
		ho.basic_user = basic_user;
		ho.basic_password = d->secret_pass;
		ho.abort = &d->stopping;
		err = http__new(&d->http, &ho);
		if (err)
			return err;
	}
	if (kc->exporter.spool_enabled && kc->exporter.spool_dir) {
		unsigned long long rid, seq, pseq;
		unsigned int pentry;
		int n;
		char *buf = NULL;
		size_t len;
		bool handed;
		int root = exp_open_dir(x, kc->exporter.spool_dir, 0700, &handed);

		if (root < 0) {
			log_error("spool directory %s: %s", kc->exporter.spool_dir,
				  strerror(-root));
			return root;
		}
		snprintf(d->dir, sizeof(d->dir), "%s/%s", kc->exporter.spool_dir, d->name);
		err = spool__openat(&d->spool, root, d->name, kc->exporter.spool_max_bytes);
		close(root);
		if (err) {
			log_error("%s: spool %s: %s", d->name, d->dir, strerror(-err));
			return err;
		}
		d->next_id = spool__max_id(d->spool) + 1;
		if (exp_read_fileat(spool__dirfd(d->spool), "cursor", &buf, &len) == 0 &&
		    (n = sscanf(buf, "%llu %llu %llu %u", &rid, &seq, &pseq, &pentry)) >= 2 &&
		    rid == ring_id) {
			d->skip_le = seq;
			d->have_cursor = true;
			d->durable = seq;
			/*
			 * A record delivered in part is always past the whole ones: equal, only
			 * record 0 was under way and no whole record is delivered yet.
			 */
			if (n == 4 && pseq == seq)
				d->have_cursor = false;
			if (n == 4 && pseq >= seq) {
				d->have_resume = d->durable_has_part = true;
				d->resume_seq = d->durable_part_seq = pseq;
				d->resume_entry = d->durable_part_entry = pentry;
			}
		}
		free(buf);
		spool__ranges(d->spool, ring_id, add_skip, d);
		atomic_store(&d->m_spool_bytes, spool__bytes(d->spool));
		atomic_store(&d->m_spool_files, spool__count(d->spool));
		if (spool__count(d->spool))
			log_info("%s: %" PRIu64 " spooled batches to replay", d->name,
				 spool__count(d->spool));
	}
	if (!d->next_id)
		d->next_id = 1;
	err = pthread_create(&d->thread, NULL, exp_worker, d);
	if (err)
		return -err;
	d->started = true;
	return 0;
}

void exp_dest_fini(struct dest *d)
{
	if (d->started)
		pthread_join(d->thread, NULL);
	/* After the join: the worker writes files in it until it ends. */
	if (d->out_fd >= 0)
		close(d->out_fd);
	if (d->queue)
		for (size_t i = 0; i < d->q_len; i++)
			batch__free_body(&d->queue[(d->q_head + i) % d->q_cap]);
	free(d->queue);
	free(d->pend);
	free(d->skip);
	otlp_enc__free(d->enc);
	http__free(d->http);
	spool__free(d->spool);
	if (d->secret_token)
		explicit_bzero(d->secret_token, strlen(d->secret_token));
	if (d->secret_pass)
		explicit_bzero(d->secret_pass, strlen(d->secret_pass));
	free(d->secret_token);
	free(d->secret_pass);
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->cond);
}
