// SPDX-License-Identifier: Apache-2.0
/*
 * Workload identity from /proc/PID/cgroup; aggregator/identity.h documents what is
 * recognised. Cgroup paths are small, fixed-shape strings (systemd and runtime naming
 * conventions), so they are split by hand: no library parses them.
 */
#include "aggregator/identity.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "common/cgroup.h"
#include "common/lru.h"
#include "common/util.h"

#define DEFAULT_MAX_ENTRIES 4096
#define CGROUP_FILE_MAX 16384
#define NR_BUCKETS 1024 /* power of two */

/* The alphabet of Kubernetes' SafeEncodeString: no vowels, no 0/1/3, so no words. */
static const char k8s_alphabet[] = "bcdfghjklmnpqrstvwxz2456789";

struct entry {
	struct workload_id id;
	char *key; /* cache key: the cgroup lines, plus "\nexe:NAME" for per-exe identities */
	uint32_t hash;
	bool per_exe; /* cgroup-only entry that says "look up by executable" */
	struct entry *hnext; /* hash chain */
	struct lru_node lru; /* on identity_resolver.lru */
	char *strs; /* every string of id, one allocation */
};

struct identity_resolver {
	char proc_root[PATH_MAX];
	char cgroup_root[PATH_MAX];
	char pod_log_root[PATH_MAX];
	char container_log_root[PATH_MAX];
	char host_name[256];
	size_t max_entries;
	struct entry *buckets[NR_BUCKETS];
	struct lru lru; /* most recently used first */
	size_t nr;
};

/* What a cgroup path says about its processes. */
struct cg_class {
	enum workload_class cls;
	char container_id[65];
	char pod_uid[40];
	char unit[256];
	bool unit_is_workload; /* false for session scopes, init.scope, user@.service */
};

static uint32_t hash_str(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static void copy_opt(char *dst, size_t len, const char *v, const char *def)
{
	snprintf(dst, len, "%s", v && *v ? v : def);
}

struct identity_resolver *identity_resolver__new(const struct identity_opts *o)
{
	struct identity_resolver *r = calloc(1, sizeof(*r));
	struct utsname u;

	if (!r)
		return NULL;
	lru__init(&r->lru);
	copy_opt(r->proc_root, sizeof(r->proc_root), o ? o->proc_root : NULL, "/proc");
	copy_opt(r->pod_log_root, sizeof(r->pod_log_root), o ? o->pod_log_root : NULL,
		 "/var/log/pods");
	copy_opt(r->container_log_root, sizeof(r->container_log_root),
		 o ? o->container_log_root : NULL, "/var/log/containers");
	if (o && o->cgroup_root && *o->cgroup_root)
		copy_opt(r->cgroup_root, sizeof(r->cgroup_root), o->cgroup_root, "");
	else if (cgroup2_mount(r->cgroup_root, sizeof(r->cgroup_root)))
		r->cgroup_root[0] = 0; /* no cgroup2: every cgroup id is 0 */
	if (o && o->host_name && *o->host_name)
		copy_opt(r->host_name, sizeof(r->host_name), o->host_name, "");
	else if (!uname(&u))
		copy_opt(r->host_name, sizeof(r->host_name), u.nodename, "localhost");
	else
		copy_opt(r->host_name, sizeof(r->host_name), NULL, "localhost");
	r->max_entries = o && o->max_entries ? o->max_entries : DEFAULT_MAX_ENTRIES;
	return r;
}

static void entry_free(struct entry *e)
{
	if (!e)
		return;
	free(e->key);
	free(e->strs);
	free(e);
}

void identity_resolver__free(struct identity_resolver *r)
{
	struct lru_node *n;
	struct entry *e;

	if (!r)
		return;
	while ((n = lru__oldest(&r->lru))) {
		e = lru_entry(n, struct entry, lru);
		lru__remove(n);
		entry_free(e);
	}
	free(r);
}

size_t identity_resolver__size(const struct identity_resolver *r)
{
	return r->nr;
}

const char *identity_resolver__proc_root(const struct identity_resolver *r)
{
	return r->proc_root;
}

/* ---- cache ---- */

static struct entry *cache_get(struct identity_resolver *r, const char *key)
{
	uint32_t h = hash_str(key);
	struct entry *e;

	for (e = r->buckets[h & (NR_BUCKETS - 1)]; e; e = e->hnext) {
		if (e->hash == h && !strcmp(e->key, key)) {
			lru__touch(&r->lru, &e->lru);
			return e;
		}
	}
	return NULL;
}

static void cache_put(struct identity_resolver *r, struct entry *e)
{
	struct entry **b;

	e->hash = hash_str(e->key);
	b = &r->buckets[e->hash & (NR_BUCKETS - 1)];
	e->hnext = *b;
	*b = e;
	lru__touch(&r->lru, &e->lru);
	r->nr++;
}

size_t identity_resolver__sweep(struct identity_resolver *r)
{
	struct entry *e, **pp;
	struct lru_node *old;
	size_t n = 0;

	while (r->nr > r->max_entries && (old = lru__oldest(&r->lru))) {
		e = lru_entry(old, struct entry, lru);
		for (pp = &r->buckets[e->hash & (NR_BUCKETS - 1)]; *pp; pp = &(*pp)->hnext) {
			if (*pp == e) {
				*pp = e->hnext;
				break;
			}
		}
		lru__remove(&e->lru);
		entry_free(e);
		r->nr--;
		n++;
	}
	return n;
}

/* ---- classification ---- */

static bool is_hex(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return false;
	return true;
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
	size_t l = strlen(suffix);

	return n >= l && !memcmp(s + n - l, suffix, l);
}

/* A 64-hex container id in component C (N bytes): bare, or in a runtime's scope name. */
static bool component_container(const char *c, size_t n, char id[65])
{
	static const char *const prefixes[] = { "docker-", "cri-containerd-", "crio-conmon-",
						"crio-",   "libpod-conmon-",  "libpod-" };
	size_t i, l;

	if (n == 64 && is_hex(c, 64)) {
		memcpy(id, c, 64);
		id[64] = 0;
		return true;
	}
	if (!ends_with(c, n, ".scope"))
		return false;
	n -= strlen(".scope");
	for (i = 0; i < ARRAY_SIZE(prefixes); i++) {
		l = strlen(prefixes[i]);
		if (n == l + 64 && !memcmp(c, prefixes[i], l) && is_hex(c + l, 64)) {
			memcpy(id, c + l, 64);
			id[64] = 0;
			return true;
		}
	}
	return false;
}

/*
 * A pod uid in C: "kubepods-burstable-pod12ab_34cd.slice" (systemd driver, '_' for '-') or
 * "pod12ab-34cd" under a kubepods parent (cgroupfs driver).
 */
static bool component_pod(const char *c, size_t n, bool under_kubepods, char uid[40])
{
	const char *p;
	size_t l, i;

	if (!strncmp(c, "kubepods", 8) && ends_with(c, n, ".slice")) {
		p = c;
		while ((p = memchr(p, '-', (size_t)(c + n - p))) && strncmp(p, "-pod", 4))
			p++;
		if (!p)
			return false;
		p += 4;
		l = (size_t)(c + n - strlen(".slice") - p);
	} else if (under_kubepods && n > 3 && !strncmp(c, "pod", 3)) {
		p = c + 3;
		l = n - 3;
	} else {
		return false;
	}
	if (l < 8 || l >= 40)
		return false;
	for (i = 0; i < l; i++) {
		if (!isxdigit((unsigned char)p[i]) && p[i] != '_' && p[i] != '-')
			return false;
		uid[i] = p[i] == '_' ? '-' : p[i];
	}
	uid[l] = 0;
	return true;
}

static void classify_path(const char *path, struct cg_class *k)
{
	const char *c = path, *e;
	bool kubepods = false, have_unit = false;
	size_t n;

	memset(k, 0, sizeof(*k));
	while (*c) {
		while (*c == '/')
			c++;
		if (!*c)
			break;
		e = strchr(c, '/');
		n = e ? (size_t)(e - c) : strlen(c);
		if (!strncmp(c, "kubepods", 8))
			kubepods = true;
		/* Deepest wins for each: walk all, overwrite. */
		if (component_container(c, n, k->container_id)) {
			;
		} else if (component_pod(c, n, kubepods, k->pod_uid)) {
			;
		} else if ((ends_with(c, n, ".service") || ends_with(c, n, ".scope")) &&
			   n < sizeof(k->unit)) {
			memcpy(k->unit, c, n);
			k->unit[n] = 0;
			have_unit = true;
		}
		c += n;
	}
	if (k->pod_uid[0]) {
		k->cls = WORKLOAD_POD;
	} else if (k->container_id[0]) {
		k->cls = WORKLOAD_CONTAINER;
	} else if (have_unit) {
		k->cls = WORKLOAD_UNIT;
		/* A login session or the user manager holds anything a user runs: not a workload. */
		k->unit_is_workload = strncmp(k->unit, "session-", 8) &&
				      strcmp(k->unit, "init.scope") && strncmp(k->unit, "user@", 5);
	} else {
		k->cls = WORKLOAD_PROCESS;
	}
}

/* ---- Kubernetes names ---- */

static bool in_alphabet(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!s[i] || !strchr(k8s_alphabet, s[i]))
			return false;
	return true;
}

static bool all_digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return n > 0;
}

int identity__k8s_workload(const char *pod, const char **kind, const char **alt, char *name,
			   size_t len)
{
	const char *last = strrchr(pod, '-'), *prev = NULL, *p;
	size_t nl, np = 0, keep = strlen(pod);

	*kind = "pod";
	*alt = NULL;
	if (last && last > pod) {
		nl = strlen(last + 1);
		for (p = last - 1; p > pod && *p != '-'; p--)
			;
		if (*p == '-' && p > pod) {
			prev = p + 1;
			np = (size_t)(last - prev);
		}
		if (nl == 5 && in_alphabet(last + 1, 5)) {
			if (prev && all_digits(prev, np)) {
				*kind = np >= 8 ? "cronjob" : "job";
				keep = (size_t)(prev - 1 - pod);
			} else if (prev && np >= 6 && np <= 10 && in_alphabet(prev, np)) {
				*kind = "deployment";
				keep = (size_t)(prev - 1 - pod);
			} else {
				*kind = "daemonset";
				*alt = "job";
				keep = (size_t)(last - pod);
			}
		} else if (all_digits(last + 1, nl)) {
			*kind = "statefulset";
			keep = (size_t)(last - pod);
		}
	}
	if (keep >= len)
		return -ENAMETOOLONG;
	memcpy(name, pod, keep);
	name[keep] = 0;
	return 0;
}

/*
 * Finds NS_POD_UID under the pod log root. Returns 0 with the namespace and pod name
 * (neither contains '_': both are DNS labels), or -ENOENT.
 */
static int find_pod_dir(struct identity_resolver *r, const char *uid, char *ns, char *pod,
			char *dirname, size_t len)
{
	size_t ul = strlen(uid), n;
	const char *u1, *u2;
	struct dirent *de;
	int err = -ENOENT;
	DIR *d;

	d = opendir(r->pod_log_root);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		n = strlen(de->d_name);
		if (n <= ul + 1 || strcmp(de->d_name + n - ul, uid) ||
		    de->d_name[n - ul - 1] != '_')
			continue;
		u1 = strchr(de->d_name, '_');
		u2 = de->d_name + n - ul - 1;
		if (u1 >= u2 || n >= len)
			continue;
		snprintf(ns, len, "%.*s", (int)(u1 - de->d_name), de->d_name);
		snprintf(pod, len, "%.*s", (int)(u2 - u1 - 1), u1 + 1);
		snprintf(dirname, len, "%s", de->d_name);
		err = 0;
		break;
	}
	closedir(d);
	return err;
}

/*
 * Container name of container ID in pod POD/NS. In order: containerd's and cri-o's
 * /var/log/containers/POD_NS_NAME-ID.log; a log under the pod directory that is a symlink
 * naming ID (docker's json logs); the pod directory's only container directory.
 */
static void find_container_name(struct identity_resolver *r, const char *ns, const char *pod,
				const char *pod_dir, const char *id, char *out, size_t len)
{
	char prefix[512], suffix[80], path[PATH_MAX * 2], target[PATH_MAX], only[256] = "";
	size_t pl, sl, n, nr_dirs = 0;
	struct dirent *de, *le;
	DIR *d, *ld;
	ssize_t tl;

	out[0] = 0;
	/* Names too long for these buffers name no log file: that lookup is skipped. */
	if (snprintf(prefix, sizeof(prefix), "%s_%s_", pod, ns) >= (int)sizeof(prefix) ||
	    snprintf(suffix, sizeof(suffix), "-%s.log", id) >= (int)sizeof(suffix))
		suffix[0] = 0;
	pl = strlen(prefix);
	sl = strlen(suffix);
	if (sl && (d = opendir(r->container_log_root))) {
		while ((de = readdir(d))) {
			n = strlen(de->d_name);
			if (n > pl + sl && !strncmp(de->d_name, prefix, pl) &&
			    !strcmp(de->d_name + n - sl, suffix)) {
				snprintf(out, len, "%.*s", (int)(n - pl - sl), de->d_name + pl);
				break;
			}
		}
		closedir(d);
		if (out[0])
			return;
	}
	snprintf(path, sizeof(path), "%s/%s", r->pod_log_root, pod_dir);
	d = opendir(path);
	if (!d)
		return;
	while (!out[0] && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/%s", r->pod_log_root, pod_dir, de->d_name);
		ld = opendir(path);
		if (!ld)
			continue;
		nr_dirs++;
		snprintf(only, sizeof(only), "%s", de->d_name);
		while ((le = readdir(ld))) {
			snprintf(path, sizeof(path), "%s/%s/%s/%s", r->pod_log_root, pod_dir,
				 de->d_name, le->d_name);
			tl = readlink(path, target, sizeof(target) - 1);
			if (tl <= 0)
				continue;
			target[tl] = 0;
			if (strstr(target, id)) {
				snprintf(out, len, "%s", de->d_name);
				break;
			}
		}
		closedir(ld);
	}
	closedir(d);
	if (!out[0] && nr_dirs == 1)
		snprintf(out, len, "%s", only);
}

/* ---- building identities ---- */

struct sbuf {
	char *buf;
	size_t len, cap;
};

/* Appends S with its NUL; returns its offset + 1 (0 means "not set") or 0 on ENOMEM. */
static size_t sbuf_add(struct sbuf *b, const char *s)
{
	size_t n = strlen(s) + 1, off;
	char *nb;

	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 64;
		nb = realloc(b->buf, b->cap);
		if (!nb)
			return 0;
		b->buf = nb;
	}
	off = b->len;
	memcpy(b->buf + off, s, n);
	b->len += n;
	return off + 1;
}

struct idspec {
	const char *field[WREC_ID_NR];
	const char *cgroup_path;
	const char *k8s_kind_alt;
};

static struct entry *make_entry(const char *key, const struct idspec *s, enum workload_class cls,
				uint64_t cgroup_id, bool own_cgroup)
{
	size_t off[WREC_ID_NR + 2] = { 0 };
	struct sbuf b = { 0 };
	struct entry *e;
	size_t i;

	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->key = strdup(key);
	if (!e->key)
		goto cleanup;
	for (i = 0; i < WREC_ID_NR; i++)
		if (s->field[i] && *s->field[i] && !(off[i] = sbuf_add(&b, s->field[i])))
			goto cleanup;
	if (!(off[WREC_ID_NR] = sbuf_add(&b, s->cgroup_path ? s->cgroup_path : "/")))
		goto cleanup;
	if (s->k8s_kind_alt && !(off[WREC_ID_NR + 1] = sbuf_add(&b, s->k8s_kind_alt)))
		goto cleanup;
	/* Pointers only now: the buffer moved while it grew. */
	e->strs = b.buf;
	for (i = 0; i < WREC_ID_NR; i++)
		e->id.wrec.field[i] = off[i] ? b.buf + off[i] - 1 : NULL;
	e->id.cgroup_path = b.buf + off[WREC_ID_NR] - 1;
	e->id.k8s_kind_alt = off[WREC_ID_NR + 1] ? b.buf + off[WREC_ID_NR + 1] - 1 : NULL;
	e->id.key = e->id.wrec.field[WREC_ID_KEY];
	e->id.cls = cls;
	e->id.cgroup_id = cgroup_id;
	e->id.wrec.cgroup_id = cgroup_id;
	e->id.own_cgroup = own_cgroup;
	return e;
cleanup:
	free(b.buf);
	entry_free(e);
	return NULL;
}

int identity__exe_of_pid(const char *proc_root, uint32_t tgid, char *path, size_t len)
{
	char link[PATH_MAX + 32];
	ssize_t n;
	size_t l;

	snprintf(link, sizeof(link), "%s/%u/exe", proc_root, tgid);
	n = readlink(link, path, len - 1);
	if (n < 0)
		return -errno;
	path[n] = 0;
	l = (size_t)n;
	if (l > 10 && !strcmp(path + l - 10, " (deleted)"))
		path[l - 10] = 0;
	return 0;
}

/* The comm of TGID, for processes whose exe link cannot be read. */
static int comm_of_pid(const char *proc_root, uint32_t tgid, char *out, size_t len)
{
	char p[PATH_MAX + 32], *buf = NULL;
	size_t n;
	int err;

	snprintf(p, sizeof(p), "%s/%u/comm", proc_root, tgid);
	err = read_file(p, &buf, &n);
	if (err)
		return err;
	while (n && (buf[n - 1] == '\n'))
		buf[--n] = 0;
	snprintf(out, len, "%s", buf);
	free(buf);
	return *out ? 0 : -ENOENT;
}

/* Kernel threads have an empty cmdline and no exe; so do zombies, which are gone anyway. */
static bool is_kernel_thread(const char *proc_root, uint32_t tgid)
{
	char p[PATH_MAX + 32], c;
	ssize_t n;
	int fd;

	snprintf(p, sizeof(p), "%s/%u/cmdline", proc_root, tgid);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, &c, 1);
	close(fd);
	return n == 0;
}

static uint64_t cgroup_id_of(struct identity_resolver *r, const char *v2path)
{
	char full[PATH_MAX * 2];
	struct stat st;

	if (!r->cgroup_root[0])
		return 0;
	/* On cgroup2 the directory's inode number is the id BPF sees (kernfs node id). */
	snprintf(full, sizeof(full), "%s%s", r->cgroup_root, v2path);
	if (stat(full, &st) || !S_ISDIR(st.st_mode))
		return 0;
	return (uint64_t)st.st_ino;
}

static const char *basename_of(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

/* Builds the identity for a classified cgroup (not per-exe). */
static struct entry *build_cgroup_identity(struct identity_resolver *r, const char *key,
					   const struct cg_class *k, const char *v2path,
					   bool v2_own, const char *exe_path)
{
	/* Room for "cgroup" and a whole cgroup path: a cut key would merge workloads. */
	char keybuf[PATH_MAX + 16], ns[256] = "", pod[256] = "", pod_dir[256] = "", cname[256] = "";
	char wl_name[256] = "", short_id[16] = "";
	struct idspec s = { .cgroup_path = v2path };
	const char *wl_kind = NULL;

	s.field[WREC_ID_HOST] = r->host_name;
	s.field[WREC_ID_CGROUP] = v2path;
	s.field[WREC_ID_EXE_PATH] = exe_path;
	s.field[WREC_ID_EXE_NAME] = exe_path && *exe_path ? basename_of(exe_path) : NULL;
	if (k->container_id[0]) {
		s.field[WREC_ID_CONTAINER_ID] = k->container_id;
		snprintf(short_id, sizeof(short_id), "%.12s", k->container_id);
	}
	switch (k->cls) {
	case WORKLOAD_POD:
		s.field[WREC_ID_KIND] = "pod";
		s.field[WREC_ID_K8S_POD_UID] = k->pod_uid;
		if (!find_pod_dir(r, k->pod_uid, ns, pod, pod_dir, sizeof(ns))) {
			if (k->container_id[0])
				find_container_name(r, ns, pod, pod_dir, k->container_id, cname,
						    sizeof(cname));
			identity__k8s_workload(pod, &wl_kind, &s.k8s_kind_alt, wl_name,
					       sizeof(wl_name));
			snprintf(keybuf, sizeof(keybuf), "k8s/%s/%s/%s", ns, wl_kind, wl_name);
			s.field[WREC_ID_NAME] = wl_name;
			s.field[WREC_ID_K8S_NAMESPACE] = ns;
			s.field[WREC_ID_K8S_POD] = pod;
			s.field[WREC_ID_K8S_CONTAINER] = cname;
			s.field[WREC_ID_K8S_WL_KIND] = wl_kind;
			s.field[WREC_ID_K8S_WL_NAME] = wl_name;
		} else {
			/* No pod logs mounted: the uid is all there is. */
			snprintf(keybuf, sizeof(keybuf), "pod/%s", k->pod_uid);
			s.field[WREC_ID_NAME] = k->pod_uid;
		}
		break;
	case WORKLOAD_CONTAINER:
		s.field[WREC_ID_KIND] = "container";
		snprintf(keybuf, sizeof(keybuf), "container/%s", k->container_id);
		s.field[WREC_ID_NAME] = short_id;
		break;
	case WORKLOAD_CGROUP:
		s.field[WREC_ID_KIND] = "cgroup";
		snprintf(keybuf, sizeof(keybuf), "cgroup%s", v2path);
		s.field[WREC_ID_NAME] = basename_of(v2path);
		break;
	default:
		s.field[WREC_ID_KIND] = "unit";
		s.field[WREC_ID_UNIT] = k->unit;
		snprintf(keybuf, sizeof(keybuf), "unit/%s", k->unit);
		s.field[WREC_ID_NAME] = k->unit;
		break;
	}
	s.field[WREC_ID_KEY] = keybuf;
	return make_entry(key, &s, k->cls, cgroup_id_of(r, v2path), v2_own);
}

/*
 * Reads /proc/PID/cgroup. Returns 0 with the file text in *TEXT (caller frees), the v2 path
 * in V2 (or "/" when there is no v2 line), or -ESRCH when the process is gone.
 */
static int read_cgroups(struct identity_resolver *r, uint32_t tgid, char **text, char *v2,
			size_t len)
{
	char p[PATH_MAX + 32], *buf = NULL, *line, *save = NULL, *copy;
	size_t n;
	int err;

	snprintf(p, sizeof(p), "%s/%u/cgroup", r->proc_root, tgid);
	err = read_file(p, &buf, &n);
	if (err)
		return err == -ENOENT ? -ESRCH : err;
	if (n > CGROUP_FILE_MAX)
		buf[CGROUP_FILE_MAX] = 0;
	snprintf(v2, len, "/");
	copy = strdup(buf);
	if (!copy) {
		free(buf);
		return -ENOMEM;
	}
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "0::", 3)) {
			snprintf(v2, len, "%s", line[3] ? line + 3 : "/");
			break;
		}
	}
	free(copy);
	*text = buf;
	return 0;
}

/* Classifies the v2 path, then the v1 paths when v2 names no container or pod. */
static void classify(const char *text, const char *v2, struct cg_class *k, bool *v2_own)
{
	struct cg_class v1k;
	const char *line = text, *nl, *c1, *c2;
	char path[PATH_MAX];
	size_t n;

	classify_path(v2, k);
	*v2_own = k->cls == WORKLOAD_POD || k->cls == WORKLOAD_CONTAINER ||
		  (k->cls == WORKLOAD_UNIT && k->unit_is_workload);
	if (k->cls == WORKLOAD_POD || k->cls == WORKLOAD_CONTAINER)
		return;
	for (; *line; line = nl ? nl + 1 : line + strlen(line)) {
		nl = strchr(line, '\n');
		n = nl ? (size_t)(nl - line) : strlen(line);
		c1 = memchr(line, ':', n);
		c2 = c1 ? memchr(c1 + 1, ':', (size_t)(line + n - c1 - 1)) : NULL;
		if (!c2 || !strncmp(line, "0::", 3))
			continue;
		snprintf(path, sizeof(path), "%.*s", (int)(line + n - c2 - 1), c2 + 1);
		classify_path(path, &v1k);
		if (v1k.cls == WORKLOAD_POD || v1k.cls == WORKLOAD_CONTAINER) {
			/* The v2 cgroup is not the container's own (often the root). */
			*k = v1k;
			*v2_own = false;
			return;
		}
		if (k->cls == WORKLOAD_PROCESS && v1k.cls == WORKLOAD_UNIT) {
			*k = v1k;
			*v2_own = false;
		}
	}
}

/*
 * The identity for a process whose cgroup file reads TEXT (v2 path V2) and whose executable
 * is EXE ("" when unknown, KTHREAD for kernel threads); E is TEXT's cache entry, if any.
 * Returns 0 and *OUT, or -errno.
 */
static int resolve_text(struct identity_resolver *r, const char *text, const char *v2,
			const char *exe, bool kthread, struct entry *e, struct workload_id **out)
{
	char keybuf[PATH_MAX + 8], *key = NULL;
	struct idspec s = { 0 };
	struct cg_class k;
	bool v2_own;
	size_t kl;

	classify(text, v2, &k, &v2_own);
	/*
	 * Not the root, not under a unit, no container or pod: a cgroup someone made for this
	 * work (systemd-run --scope without a unit name, a batch system, a test). Slices only
	 * group units, so a process directly in one stays executable-named.
	 */
	if (k.cls == WORKLOAD_PROCESS && strcmp(v2, "/") && !ends_with(v2, strlen(v2), ".slice")) {
		k.cls = WORKLOAD_CGROUP;
		v2_own = true;
	}
	if (!e && (k.cls == WORKLOAD_POD || k.cls == WORKLOAD_CONTAINER ||
		   k.cls == WORKLOAD_CGROUP || (k.cls == WORKLOAD_UNIT && k.unit_is_workload))) {
		e = build_cgroup_identity(r, text, &k, v2, v2_own, exe[0] == '/' ? exe : NULL);
		if (!e)
			return -ENOMEM;
		cache_put(r, e);
		*out = &e->id;
		return 0;
	}
	if (!e) {
		/* A marker so the next process of this cgroup skips classification. */
		e = calloc(1, sizeof(*e));
		if (!e || !(e->key = strdup(text))) {
			entry_free(e);
			return -ENOMEM;
		}
		e->per_exe = true;
		cache_put(r, e);
	}
	/* Executable-named (or host) workloads: one entry per cgroup and executable. */
	kl = strlen(text) + strlen(exe) + 16;
	key = malloc(kl);
	if (!key)
		return -ENOMEM;
	snprintf(key, kl, "%s\n%s:%s", text, kthread ? "kthread" : "exe", exe);
	e = cache_get(r, key);
	if (!e) {
		s.cgroup_path = v2;
		s.field[WREC_ID_HOST] = r->host_name;
		s.field[WREC_ID_CGROUP] = v2;
		if (k.cls == WORKLOAD_UNIT)
			s.field[WREC_ID_UNIT] = k.unit;
		if (kthread) {
			s.field[WREC_ID_KEY] = "host";
			s.field[WREC_ID_NAME] = r->host_name;
			s.field[WREC_ID_KIND] = "host";
		} else {
			snprintf(keybuf, sizeof(keybuf), "exe/%s", basename_of(exe));
			s.field[WREC_ID_KEY] = keybuf;
			s.field[WREC_ID_NAME] = basename_of(exe);
			s.field[WREC_ID_KIND] = "process";
			s.field[WREC_ID_EXE_NAME] = basename_of(exe);
			s.field[WREC_ID_EXE_PATH] = exe[0] == '/' ? exe : NULL;
		}
		/* A shared cgroup (the root, a login session): never select it by id. */
		e = make_entry(key, &s, kthread ? WORKLOAD_HOST : WORKLOAD_PROCESS,
			       cgroup_id_of(r, v2), false);
		if (!e) {
			free(key);
			return -ENOMEM;
		}
		cache_put(r, e);
	}
	free(key);
	*out = &e->id;
	return 0;
}

int identity_resolver__of_pid(struct identity_resolver *r, uint32_t tgid, struct workload_id **out)
{
	char v2[PATH_MAX], exe[PATH_MAX] = "", *text = NULL;
	struct entry *e = NULL;
	bool kthread = false;
	int err;

	*out = NULL;
	if (tgid == 0) {
		snprintf(v2, sizeof(v2), "/");
		text = strdup("");
		kthread = true;
	} else {
		err = read_cgroups(r, tgid, &text, v2, sizeof(v2));
		if (err)
			return err;
	}
	if (!text)
		return -ENOMEM;
	e = cache_get(r, text);
	if (e && !e->per_exe) {
		*out = &e->id;
		err = 0;
		goto cleanup;
	}
	if (!kthread && identity__exe_of_pid(r->proc_root, tgid, exe, sizeof(exe))) {
		exe[0] = 0;
		kthread = is_kernel_thread(r->proc_root, tgid);
		if (!kthread && comm_of_pid(r->proc_root, tgid, exe, sizeof(exe))) {
			/* Gone between reading its cgroup and its exe. */
			err = -ESRCH;
			goto cleanup;
		}
	}
	err = resolve_text(r, text, v2, exe, kthread, e, out);
cleanup:
	free(text);
	return err;
}

/*
 * The v2 path (relative to the mount) of cgroup CGID. The id BPF sees is the cgroup
 * directory's kernfs node id, which is also its file handle (type FILEID_KERNFS), so the
 * directory opens by handle without a walk of the tree. Needs CAP_DAC_READ_SEARCH.
 */
static int cgroup_path_of_id(struct identity_resolver *r, uint64_t cgid, char *path, size_t len)
{
	union {
		struct file_handle fh;
		char buf[sizeof(struct file_handle) + sizeof(uint64_t)];
	} h;
	char link[64], full[PATH_MAX];
	size_t rl = strlen(r->cgroup_root);
	int mfd = -1, fd = -1, err = 0;
	ssize_t n;

	if (!cgid || !r->cgroup_root[0])
		return -ENOENT;
	h.fh.handle_bytes = sizeof(cgid);
	h.fh.handle_type = 0xfe; /* FILEID_KERNFS */
	memcpy(h.fh.f_handle, &cgid, sizeof(cgid));
	mfd = open(r->cgroup_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (mfd < 0)
		return -errno;
	fd = open_by_handle_at(mfd, &h.fh, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		err = errno == ESTALE ? -ENOENT : -errno;
		goto cleanup;
	}
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, full, sizeof(full) - 1);
	if (n < 0) {
		err = -errno;
		goto cleanup;
	}
	full[n] = 0;
	/* Outside our view of the mount (another cgroup namespace's root): not nameable. */
	if (strncmp(full, r->cgroup_root, rl) || (full[rl] && full[rl] != '/')) {
		err = -ENOENT;
		goto cleanup;
	}
	snprintf(path, len, "%s", full[rl] ? full + rl : "/");
cleanup:
	if (fd >= 0)
		close(fd);
	close(mfd);
	return err;
}

int identity_resolver__of_cgroup(struct identity_resolver *r, uint64_t cgid, const char *comm,
				 struct workload_id **out)
{
	char v2[PATH_MAX], text[PATH_MAX + 8];
	struct entry *e;
	int err;

	*out = NULL;
	err = cgroup_path_of_id(r, cgid, v2, sizeof(v2));
	if (err)
		return err;
	snprintf(text, sizeof(text), "0::%s\n", v2);
	e = cache_get(r, text);
	if (e && !e->per_exe) {
		*out = &e->id;
		return 0;
	}
	return resolve_text(r, text, v2, comm ? comm : "", false, e, out);
}
