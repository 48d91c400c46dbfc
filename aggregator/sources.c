// SPDX-License-Identifier: Apache-2.0
/* The selection: config sources -> which processes -> in-kernel filter items. */
#include "aggregator/sources.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct selector {
	char *ns, *kind, *name, *unit, *container_id, *exe;
	uint64_t matched; /* processes matched in the last scan */
};

/* Open-addressing set of u64 (0 is the empty slot: cgroup id 0 and pid 0 never go in). */
struct u64set {
	uint64_t *slots;
	size_t cap, nr;
};

/* One process id of a pid selection. */
struct pidsel {
	uint32_t pid;
	bool gone; /* exited: the id may be reused by another process */
	uint64_t matched;
};

struct sources {
	struct selector *sel;
	size_t nr;
	struct pidsel *pids;
	size_t nr_pids;
	struct u64set cgroups, tgids; /* already in the kernel filter */
};

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

/* Returns 1 when V was added, 0 when it was there, -ENOMEM. */
static int set_add(struct u64set *s, uint64_t v)
{
	size_t i, cap;

	if ((s->nr + 1) * 2 > s->cap) {
		struct u64set n = { 0 };

		cap = s->cap ? s->cap * 2 : 64;
		n.slots = calloc(cap, sizeof(*n.slots));
		if (!n.slots)
			return -ENOMEM;
		n.cap = cap;
		for (i = 0; i < s->cap; i++)
			if (s->slots[i])
				set_add(&n, s->slots[i]);
		free(s->slots);
		*s = n;
	}
	for (i = mix(v) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
		if (s->slots[i] == v)
			return 0;
		if (!s->slots[i]) {
			s->slots[i] = v;
			s->nr++;
			return 1;
		}
	}
}

/* Linear probing removal: re-insert the rest of the cluster so lookups stay correct. */
static void set_remove(struct u64set *s, uint64_t v)
{
	size_t i, j;
	uint64_t w;

	if (!s->cap)
		return;
	for (i = mix(v) & (s->cap - 1); s->slots[i]; i = (i + 1) & (s->cap - 1))
		if (s->slots[i] == v)
			break;
	if (!s->slots[i])
		return;
	s->slots[i] = 0;
	s->nr--;
	for (j = (i + 1) & (s->cap - 1); s->slots[j]; j = (j + 1) & (s->cap - 1)) {
		w = s->slots[j];
		s->slots[j] = 0;
		s->nr--;
		set_add(s, w); /* cannot grow: the set just shrank */
	}
}

static char *dup_opt(const char *s, bool *fail)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*fail = true;
	return d;
}

struct sources *sources__new(const struct kiln_source *src, size_t n)
{
	struct sources *s = calloc(1, sizeof(*s));
	bool fail = false;
	size_t i;

	if (!s)
		return NULL;
	s->sel = calloc(n ? n : 1, sizeof(*s->sel));
	if (!s->sel)
		goto cleanup;
	s->nr = n;
	for (i = 0; i < n; i++) {
		s->sel[i].ns = dup_opt(src[i].k8s_namespace, &fail);
		s->sel[i].kind = dup_opt(src[i].k8s_kind, &fail);
		s->sel[i].name = dup_opt(src[i].k8s_name, &fail);
		s->sel[i].unit = dup_opt(src[i].unit, &fail);
		s->sel[i].container_id = dup_opt(src[i].container_id, &fail);
		s->sel[i].exe = dup_opt(src[i].executable, &fail);
	}
	if (fail)
		goto cleanup;
	return s;
cleanup:
	sources__free(s);
	errno = ENOMEM;
	return NULL;
}

struct sources *sources__new_pids(const uint32_t *pids, size_t n)
{
	struct sources *s;
	size_t i;

	for (i = 0; i < n; i++)
		if (!pids[i])
			break;
	if (!n || i < n) {
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->pids = calloc(n, sizeof(*s->pids));
	if (!s->pids) {
		free(s);
		errno = ENOMEM;
		return NULL;
	}
	for (i = 0; i < n; i++)
		s->pids[i].pid = pids[i];
	s->nr_pids = n;
	return s;
}

/* The pid selector of TGID, or NULL. */
static struct pidsel *find_pid(struct sources *s, uint32_t tgid)
{
	size_t i;

	for (i = 0; i < s->nr_pids; i++)
		if (s->pids[i].pid == tgid)
			return &s->pids[i];
	return NULL;
}

void sources__free(struct sources *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; s->sel && i < s->nr; i++) {
		free(s->sel[i].ns);
		free(s->sel[i].kind);
		free(s->sel[i].name);
		free(s->sel[i].unit);
		free(s->sel[i].container_id);
		free(s->sel[i].exe);
	}
	free(s->sel);
	free(s->pids);
	free(s->cgroups.slots);
	free(s->tgids.slots);
	free(s);
}

bool sources__empty(const struct sources *s)
{
	return !s || (!s->nr && !s->nr_pids);
}

size_t sources__count(const struct sources *s)
{
	return s ? s->nr + s->nr_pids : 0;
}

static bool eq(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

static bool match_one(const struct selector *m, const struct workload_id *id, const char *exe)
{
	const char *const *f = id->wrec.field;
	const char *base;
	size_t l;

	if (m->unit) {
		if (eq(f[WREC_ID_UNIT], m->unit))
			return true;
		/* "nginx" for "nginx.service", as systemctl accepts it. */
		l = strlen(m->unit);
		return f[WREC_ID_UNIT] && !strncmp(f[WREC_ID_UNIT], m->unit, l) &&
		       !strcmp(f[WREC_ID_UNIT] + l, ".service");
	}
	if (m->container_id)
		return f[WREC_ID_CONTAINER_ID] &&
		       !strncmp(f[WREC_ID_CONTAINER_ID], m->container_id, strlen(m->container_id));
	if (m->exe) {
		if (!exe || !*exe)
			exe = f[WREC_ID_EXE_PATH] ? f[WREC_ID_EXE_PATH] : f[WREC_ID_EXE_NAME];
		if (!exe)
			return false;
		if (strchr(m->exe, '/'))
			return !strcmp(exe, m->exe);
		base = strrchr(exe, '/');
		return !strcmp(base ? base + 1 : exe, m->exe);
	}
	/* Kubernetes selectors: only pods whose names are known from their logs. */
	if (id->cls != WORKLOAD_POD || !f[WREC_ID_K8S_NAMESPACE])
		return false;
	if (m->ns && !eq(f[WREC_ID_K8S_NAMESPACE], m->ns))
		return false;
	if (!m->kind)
		return !m->name || eq(f[WREC_ID_K8S_WL_NAME], m->name);
	if (!strcmp(m->kind, "pod"))
		return !m->name || eq(f[WREC_ID_K8S_POD], m->name);
	/* A cronjob's pods belong to jobs named NAME-TIMESTAMP: {kind: job, name: that}. */
	if (!strcmp(m->kind, "job") && eq(f[WREC_ID_K8S_WL_KIND], "cronjob")) {
		l = m->name ? strlen(m->name) : 0;
		return !m->name ||
		       (f[WREC_ID_K8S_POD] && !strncmp(f[WREC_ID_K8S_POD], m->name, l) &&
			f[WREC_ID_K8S_POD][l] == '-');
	}
	if (!eq(f[WREC_ID_K8S_WL_KIND], m->kind) && !eq(id->k8s_kind_alt, m->kind))
		return false;
	return !m->name || eq(f[WREC_ID_K8S_WL_NAME], m->name);
}

int sources__match(const struct sources *s, const struct workload_id *id, const char *exe)
{
	size_t i;

	for (i = 0; s && i < s->nr; i++)
		if (match_one(&s->sel[i], id, exe))
			return (int)i;
	return -1;
}

static int push_cgroup(struct sources_filter *f, uint64_t v)
{
	uint64_t *n;

	if (f->nr_cgroups == f->cap_cgroups) {
		f->cap_cgroups = f->cap_cgroups ? f->cap_cgroups * 2 : 16;
		n = realloc(f->cgroups, f->cap_cgroups * sizeof(*n));
		if (!n)
			return -ENOMEM;
		f->cgroups = n;
	}
	f->cgroups[f->nr_cgroups++] = v;
	return 0;
}

static int push_tgid(struct sources_filter *f, uint32_t v)
{
	uint32_t *n;

	if (f->nr_tgids == f->cap_tgids) {
		f->cap_tgids = f->cap_tgids ? f->cap_tgids * 2 : 16;
		n = realloc(f->tgids, f->cap_tgids * sizeof(*n));
		if (!n)
			return -ENOMEM;
		f->tgids = n;
	}
	f->tgids[f->nr_tgids++] = v;
	return 0;
}

/*
 * Selects one matched process: by its cgroup when the workload owns it (which also covers
 * every later process started in that cgroup, without an event), else by its tgid.
 */
static int select_proc(struct sources *s, const struct workload_id *id, uint32_t tgid,
		       struct sources_filter *out)
{
	int ret;

	if (id->own_cgroup && id->cgroup_id) {
		ret = set_add(&s->cgroups, id->cgroup_id);
		return ret > 0 ? push_cgroup(out, id->cgroup_id) : ret;
	}
	ret = set_add(&s->tgids, tgid);
	return ret > 0 ? push_tgid(out, tgid) : ret;
}

static int eval(struct sources *s, struct identity_resolver *r, uint32_t tgid,
		struct sources_filter *out, bool count)
{
	char exe[PATH_MAX];
	struct workload_id *id;
	struct pidsel *p;
	int i, err;

	p = find_pid(s, tgid);
	if (p && !p->gone) {
		/* By tgid even when it owns a cgroup: the cgroup may hold other processes. */
		if (count)
			p->matched++;
		err = set_add(&s->tgids, tgid);
		if (err > 0)
			err = push_tgid(out, tgid);
		return err ? err : 1;
	}
	if (!s->nr)
		return 0; /* a pid selection only: no need to know who the process is */
	err = identity_resolver__of_pid(r, tgid, &id);
	if (err)
		return err;
	if (identity__exe_of_pid(identity_resolver__proc_root(r), tgid, exe, sizeof(exe)))
		exe[0] = 0;
	i = sources__match(s, id, exe);
	if (i < 0)
		return 0;
	if (count) {
		size_t j;

		/* Every selector it matches counts, for the unmatched warning. */
		for (j = (size_t)i; j < s->nr; j++)
			if (match_one(&s->sel[j], id, exe))
				s->sel[j].matched++;
	}
	err = select_proc(s, id, tgid, out);
	return err ? err : 1;
}

int sources__scan(struct sources *s, struct identity_resolver *r, struct sources_filter *out)
{
	struct dirent *de;
	unsigned long v;
	size_t i;
	char *end;
	int err = 0;
	DIR *d;

	for (i = 0; i < s->nr; i++)
		s->sel[i].matched = 0;
	for (i = 0; i < s->nr_pids; i++)
		s->pids[i].matched = 0;
	d = opendir(identity_resolver__proc_root(r));
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		v = strtoul(de->d_name, &end, 10);
		if (*end || !v || v > UINT32_MAX)
			continue;
		err = eval(s, r, (uint32_t)v, out, true);
		/* Processes exit during the scan; so can their /proc entries become unreadable. */
		if (err == -ESRCH || err == -ENOENT || err == -EACCES || err >= 0) {
			err = 0;
			continue;
		}
		break;
	}
	closedir(d);
	return err;
}

int sources__eval_pid(struct sources *s, struct identity_resolver *r, uint32_t tgid,
		      struct sources_filter *out)
{
	if (!tgid)
		return 0;
	return eval(s, r, tgid, out, false);
}

void sources__forget_tgid(struct sources *s, uint32_t tgid)
{
	struct pidsel *p;

	if (!s)
		return;
	p = find_pid(s, tgid);
	if (p)
		p->gone = true;
	set_remove(&s->tgids, tgid);
}

bool sources__unmatched(const struct sources *s, size_t i, char *buf, size_t len)
{
	const struct selector *m;
	int o = 0;

	if (s && i >= s->nr && i < s->nr + s->nr_pids) {
		if (s->pids[i - s->nr].matched)
			return false;
		snprintf(buf, len, "source pid %u (--pid) matches no running process",
			 s->pids[i - s->nr].pid);
		return true;
	}
	if (!s || i >= s->nr || s->sel[i].matched)
		return false;
	m = &s->sel[i];
	o = snprintf(buf, len, "source #%zu {", i + 1);
#define ADD(key, v)                                                           \
	do {                                                                  \
		if ((v) && o >= 0 && (size_t)o < len)                         \
			o += snprintf(buf + o, len - (size_t)o, "%s%s: %s",   \
				      buf[o - 1] == '{' ? "" : ", ", key, v); \
	} while (0)
	ADD("namespace", m->ns);
	ADD("kind", m->kind);
	ADD("name", m->name);
	ADD("unit", m->unit);
	ADD("containerId", m->container_id);
	ADD("executable", m->exe);
#undef ADD
	if (o >= 0 && (size_t)o < len)
		snprintf(buf + o, len - (size_t)o, "} matches no running process");
	return true;
}

void sources_filter__reset(struct sources_filter *f)
{
	f->nr_cgroups = 0;
	f->nr_tgids = 0;
}

void sources_filter__release(struct sources_filter *f)
{
	free(f->cgroups);
	free(f->tgids);
	memset(f, 0, sizeof(*f));
}
