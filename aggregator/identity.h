/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Workload identity of a process, from /proc/PID/cgroup: which systemd unit, container or
 * Kubernetes pod (and which deployment, statefulset, ... it belongs to) it runs in, or
 * failing that, which executable it is. Every root (proc, cgroup2 mount, pod and container
 * log directories) is configurable so tests run against fake trees.
 *
 * What is recognised, deepest path component first, in the v2 line and then in the v1
 * lines (on hybrid hosts container ids often appear only in v1 lines such as
 * `12:pids:/docker/ID`):
 *   - containers: `docker-ID.scope`, `cri-containerd-ID.scope`, `crio-ID.scope`,
 *     `libpod-ID.scope`, and a bare 64-hex component (`/docker/ID`, `/kubepods/.../ID`);
 *   - pods: `kubepods[-QOS]-podUID.slice` (systemd driver, UID with '_' for '-') and
 *     `/kubepods[/QOS]/podUID` (cgroupfs driver); namespace, pod and container names come
 *     from /var/log/pods/NS_POD_UID/CONTAINER/ and /var/log/containers/POD_NS_CONTAINER-ID.log;
 *   - systemd units: the deepest `*.service` or `*.scope` component. Login sessions
 *     (`session-N.scope`), `init.scope` and the user manager are not workloads of their own:
 *     processes there are identified by their executable, with the unit still recorded;
 *   - a v2 cgroup of its own that is none of these (not the root, not a slice of units):
 *     named after its last component, key "cgroup/PATH";
 *   - otherwise the executable's name (from /proc/PID/exe, else comm); kernel threads and
 *     pid 0 are the "host" workload.
 *
 * The pod's workload is derived from the pod name, since the node has no API server to ask
 * (these are heuristics and have limits, see docs/configuration.md):
 *   NAME-HASH-XXXXX   deployment NAME (HASH: 6-10 chars of the pod-template-hash alphabet
 *                     bcdfghjklmnpqrstvwxz2456789; XXXXX: 5 chars of it);
 *   NAME-TS-XXXXX     cronjob NAME (TS: 8+ digits, the scheduled minute);
 *   NAME-I-XXXXX      job NAME (an indexed job's pod, I: fewer than 8 digits);
 *   NAME-N            statefulset NAME (N: the ordinal);
 *   NAME-XXXXX        daemonset NAME, or a job NAME: both controllers name pods this way,
 *                     so k8s_kind_alt says "job" and a {kind: job} source still matches;
 *   anything else     a bare pod, named after itself.
 * A replica set without a deployment looks like a deployment; an all-digit template hash or
 * a 5-digit ordinal made only of the alphabet's digits is misread.
 */
#ifndef KILN_AGGREGATOR_IDENTITY_H
#define KILN_AGGREGATOR_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "profile/wrec.h"

enum workload_class {
	WORKLOAD_HOST = 1, /* kernel threads, pid 0 */
	WORKLOAD_PROCESS, /* identified by its executable */
	WORKLOAD_UNIT, /* a systemd service or scope */
	WORKLOAD_CONTAINER, /* docker, containerd or cri-o outside Kubernetes */
	WORKLOAD_POD, /* a container of a Kubernetes pod */
	WORKLOAD_CGROUP, /* its own v2 cgroup that is none of the above (systemd-run, tests) */
};

/*
 * One workload identity. Every string is owned by the resolver and stays valid until
 * identity_resolver__sweep() evicts the entry or identity_resolver__free().
 */
struct workload_id {
	/* For wrec__encode: field[WREC_ID_*] (NULL when unknown) and the cgroup id. */
	struct wrec_identity wrec;
	enum workload_class cls;
	const char *key; /* wrec.field[WREC_ID_KEY]: "unit/nginx.service", "k8s/NS/KIND/NAME" */
	const char *cgroup_path; /* v2 path relative to the mount, "/" for the root */
	uint64_t cgroup_id; /* the v2 cgroup id BPF sees (0 when the directory is not there) */
	/*
	 * The v2 cgroup belongs to this workload alone (a unit's, container's or pod
	 * container's own cgroup), so the in-kernel filter can select it by cgroup id; when
	 * false (e.g. a docker container visible only in v1 lines), select its tgids.
	 */
	bool own_cgroup;
	/* Another workload kind the pod name equally fits ("job" for NAME-XXXXX), or NULL. */
	const char *k8s_kind_alt;
};

struct identity_opts {
	size_t sz; /* sizeof(struct identity_opts) */
	const char *proc_root; /* NULL: "/proc" */
	const char *cgroup_root; /* the cgroup2 mount; NULL: found with cgroup2_mount() */
	const char *pod_log_root; /* NULL: "/var/log/pods" */
	const char *container_log_root; /* NULL: "/var/log/containers" */
	const char *host_name; /* host.name; NULL: the kernel's node name */
	size_t max_entries; /* cache size kept by sweeps; 0: 4096 */
};

struct identity_resolver;

/* Returns a resolver (free with identity_resolver__free) or NULL with errno set. */
struct identity_resolver *identity_resolver__new(const struct identity_opts *opts);

/* Frees R and every identity it returned; NULL is a no-op. */
void identity_resolver__free(struct identity_resolver *r);

/*
 * Resolves process TGID. Returns 0 and *OUT (owned by R, see struct workload_id), or
 * -ESRCH when the process is gone, or another -errno. Identities are cached by the
 * process's cgroup lines (and, for executable-named workloads, by executable), so
 * processes of one container share one object and pod-log lookups run once per cgroup.
 */
int identity_resolver__of_pid(struct identity_resolver *r, uint32_t tgid, struct workload_id **out);

/*
 * Resolves a process that is gone from the v2 cgroup CGID it ran in (the id BPF recorded)
 * and its COMM: a unit, container, pod or cgroup of its own names it as if it were alive;
 * otherwise it is named after COMM. Returns 0 and *OUT (owned by R, as for of_pid),
 * -ENOENT when the cgroup is gone too, or another -errno.
 */
int identity_resolver__of_cgroup(struct identity_resolver *r, uint64_t cgid, const char *comm,
				 struct workload_id **out);

/*
 * Evicts the least recently used identities beyond the cache size. The only place entries
 * are freed, so pointers from of_pid stay valid between sweeps: call it between windows,
 * once no record under construction refers to an identity. Returns the number evicted.
 */
size_t identity_resolver__sweep(struct identity_resolver *r);

/* Identities currently cached. */
size_t identity_resolver__size(const struct identity_resolver *r);

/* The proc root R reads ("/proc" unless the options said otherwise). */
const char *identity_resolver__proc_root(const struct identity_resolver *r);

/*
 * Reads the executable of TGID under PROC_ROOT into PATH (LEN bytes): the /proc/PID/exe
 * target without " (deleted)". Returns 0, -ENOENT for kernel threads and gone processes,
 * or another -errno (e.g. -EACCES without privileges).
 */
int identity__exe_of_pid(const char *proc_root, uint32_t tgid, char *path, size_t len);

/*
 * Derives the Kubernetes workload from POD_NAME (heuristics above). Writes its kind
 * ("deployment", "statefulset", "daemonset", "job", "cronjob" or "pod") to *KIND, its name
 * into NAME (LEN bytes) and the alternative kind (or NULL) to *ALT. Returns 0 or -ENAMETOOLONG.
 */
int identity__k8s_workload(const char *pod_name, const char **kind, const char **alt, char *name,
			   size_t len);

#endif
