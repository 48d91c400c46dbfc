// SPDX-License-Identifier: Apache-2.0
/*
 * Workload identity: fake /proc, cgroup and pod-log trees for systemd, docker, containerd,
 * cri-o and Kubernetes (both cgroup drivers, every workload kind) give exact names; then two
 * real cgroups under the real cgroup2 mount give two identities with the right ids.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "aggregator/identity.h"
#include "common/cgroup.h"
#include "common/util.h"
#include "tests/lib/fake_fs.h"
#include "tests/lib/kiln_test.h"

static char root[] = "/tmp/kiln-identity-test-XXXXXX";
static char proc[PATH_MAX], cg[PATH_MAX], pods[PATH_MAX], ctrs[PATH_MAX];
static struct identity_resolver *res;

#define ID1 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define ID2 "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define ID3 "aaaabbbbccccddddeeeeffff0000111122223333444455556666777788889999"

static void fake_proc(unsigned int pid, const char *cgroup, const char *exe)
{
	kiln_test_fake_proc(proc, pid, cgroup, exe);
}

static void fake_cgroup(const char *path)
{
	char p[PATH_MAX * 2];

	snprintf(p, sizeof(p), "%s%s", cg, path);
	kiln_test_mkdirs(p);
}

static uint64_t ino(const char *v2path)
{
	return kiln_test_ino(cg, v2path);
}

static void fake_pod_log(const char *ns_pod_uid, const char *container, const char *link_to)
{
	char p[PATH_MAX * 2];

	snprintf(p, sizeof(p), "%s/%s/%s", pods, ns_pod_uid, container);
	kiln_test_mkdirs(p);
	snprintf(p, sizeof(p), "%s/%s/%s/0.log", pods, ns_pod_uid, container);
	if (link_to) {
		CU_ASSERT_EQUAL(symlink(link_to, p), 0);
	} else {
		kiln_test_put(p, "");
	}
}

static struct workload_id *of(unsigned int pid)
{
	struct workload_id *id = NULL;

	CU_ASSERT_EQUAL(identity_resolver__of_pid(res, pid, &id), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(id);
	return id;
}

static const char *f(const struct workload_id *id, enum wrec_id_field i)
{
	return id->wrec.field[i] ? id->wrec.field[i] : "";
}

static int setup(void)
{
	struct identity_opts o = { .sz = sizeof(o) };

	if (!mkdtemp(root))
		return 1;
	snprintf(proc, sizeof(proc), "%s/proc", root);
	snprintf(cg, sizeof(cg), "%s/cgroup", root);
	snprintf(pods, sizeof(pods), "%s/pods", root);
	snprintf(ctrs, sizeof(ctrs), "%s/containers", root);
	kiln_test_mkdirs(proc);
	kiln_test_mkdirs(cg);
	kiln_test_mkdirs(pods);
	kiln_test_mkdirs(ctrs);
	o.proc_root = proc;
	o.cgroup_root = cg;
	o.pod_log_root = pods;
	o.container_log_root = ctrs;
	o.host_name = "node-1";
	res = identity_resolver__new(&o);
	return res ? 0 : 1;
}

static int teardown(void)
{
	char cmd[PATH_MAX + 16];

	identity_resolver__free(res);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) ? 1 : 0;
}

static void test_systemd(void)
{
	struct workload_id *id;

	fake_cgroup("/system.slice/nginx.service");
	fake_proc(100, "0::/system.slice/nginx.service\n", "/usr/sbin/nginx");
	fake_proc(101, "0::/system.slice/nginx.service\n", "/usr/sbin/nginx");
	id = of(100);
	CU_ASSERT_EQUAL(id->cls, WORKLOAD_UNIT);
	CU_ASSERT_STRING_EQUAL(id->key, "unit/nginx.service");
	CU_ASSERT_STRING_EQUAL(f(id, WREC_ID_NAME), "nginx.service");
	CU_ASSERT_STRING_EQUAL(f(id, WREC_ID_KIND), "unit");
	CU_ASSERT_STRING_EQUAL(f(id, WREC_ID_UNIT), "nginx.service");
	CU_ASSERT_STRING_EQUAL(f(id, WREC_ID_HOST), "node-1");
	CU_ASSERT_STRING_EQUAL(f(id, WREC_ID_EXE_NAME), "nginx");
	CU_ASSERT_STRING_EQUAL(f(id, WREC_ID_EXE_PATH), "/usr/sbin/nginx");
	CU_ASSERT_STRING_EQUAL(f(id, WREC_ID_CGROUP), "/system.slice/nginx.service");
	CU_ASSERT_STRING_EQUAL(id->cgroup_path, "/system.slice/nginx.service");
	CU_ASSERT_EQUAL(id->cgroup_id, ino("/system.slice/nginx.service"));
	CU_ASSERT_EQUAL(id->wrec.cgroup_id, id->cgroup_id);
	CU_ASSERT_NOT_EQUAL(id->cgroup_id, 0);
	CU_ASSERT(id->own_cgroup);
	/* The second process of the unit shares the cached object. */
	CU_ASSERT_PTR_EQUAL(of(101), id);

	/* A login session is not a workload: its processes go by executable. */
	fake_cgroup("/user.slice/user-1000.slice/session-3.scope");
	fake_proc(110, "0::/user.slice/user-1000.slice/session-3.scope\n", "/usr/bin/vim");
	fake_proc(111, "0::/user.slice/user-1000.slice/session-3.scope\n", "/usr/bin/python3.11");
	id = of(110);
	CU_ASSERT_EQUAL(id->cls, WORKLOAD_PROCESS);
	CU_ASSERT_STRING_EQUAL(id->key, "exe/vim");
	CU_ASSERT_STRING_EQUAL(f(id, WREC_ID_NAME), "vim");
	CU_ASSERT_STRING_EQUAL(f(id, WREC_ID_UNIT), "session-3.scope");
	CU_ASSERT(!id->own_cgroup);
	CU_ASSERT_EQUAL(id->cgroup_id, ino("/user.slice/user-1000.slice/session-3.scope"));
	id = of(111);
	CU_ASSERT_STRING_EQUAL(id->key, "exe/python3.11");

	/* A service of the user manager is a unit of its own. */
	fake_proc(112,
		  "0::/user.slice/user-1000.slice/user@1000.service/app.slice/"
		  "pipewire.service\n",
		  "/usr/bin/pipewire");
	id = of(112);
	CU_ASSERT_STRING_EQUAL(id->key, "unit/pipewire.service");

	/* Hybrid host: v2 root, the unit in the v1 name=systemd line. */
	fake_proc(120,
		  "12:pids:/system.slice/cron.service\n1:name=systemd:/system.slice/"
		  "cron.service\n0::/\n",
		  "/usr/sbin/cron");
	id = of(120);
	CU_ASSERT_STRING_EQUAL(id->key, "unit/cron.service");
	CU_ASSERT_STRING_EQUAL(id->cgroup_path, "/");
	CU_ASSERT(!id->own_cgroup);
}

static void test_host_and_exe(void)
{
	struct workload_id *id;

	fake_proc(200, "0::/\n", "/usr/bin/bash");
	fake_proc(201, "0::/\n", "/usr/lib/postgresql/15/bin/postgres");
	fake_proc(202, "0::/\n", NULL); /* a kernel thread */
	id = of(200);
	CU_ASSERT_EQUAL(id->cls, WORKLOAD_PROCESS);
	CU_ASSERT_STRING_EQUAL(id->key, "exe/bash");
	CU_ASSERT_STRING_EQUAL(f(id, WREC_ID_KIND), "process");
	CU_ASSERT_STRING_EQUAL(f(id, WREC_ID_EXE_PATH), "/usr/bin/bash");
	CU_ASSERT_EQUAL(id->cgroup_id, ino("/"));
	id = of(201);
	CU_ASSERT_STRING_EQUAL(id->key, "exe/postgres");
	CU_ASSERT_STRING_EQUAL(f(id, WREC_ID_NAME), "postgres");
	id = of(202);
	CU_ASSERT_EQUAL(id->cls, WORKLOAD_HOST);
	CU_ASSERT_STRING_EQUAL(id->key, "host");
	CU_ASSERT_STRING_EQUAL(f(id, WREC_ID_NAME), "node-1");
	CU_ASSERT_STRING_EQUAL(of(0)->key, "host");
	/* Gone processes. */
	id = (struct workload_id *)1;
	CU_ASSERT_EQUAL(identity_resolver__of_pid(res, 999999, &id), -ESRCH);
	CU_ASSERT_PTR_NULL(id);
}

static void test_containers(void)
{
	struct workload_id *id;

	/* docker, systemd driver */
	fake_cgroup("/system.slice/docker-" ID1 ".scope");
	fake_proc(300, "0::/system.slice/docker-" ID1 ".scope\n", "/usr/bin/redis-server");
	id = of(300);
	CU_ASSERT_EQUAL(id->cls, WORKLOAD_CONTAINER);
	CU_ASSERT_STRING_EQUAL(id->key, "container/" ID1);
	CU_ASSERT_STRING_EQUAL(f(id, WREC_ID_NAME), "0123456789ab");
	CU_ASSERT_STRING_EQUAL(f(id, WREC_ID_KIND), "container");
	CU_ASSERT_STRING_EQUAL(f(id, WREC_ID_CONTAINER_ID), ID1);
	CU_ASSERT_STRING_EQUAL(f(id, WREC_ID_UNIT), "");
	CU_ASSERT(id->own_cgroup);
	CU_ASSERT_EQUAL(id->cgroup_id, ino("/system.slice/docker-" ID1 ".scope"));

	/* docker, cgroupfs driver on a hybrid host: the id only in v1 lines */
	fake_proc(301, "12:pids:/docker/" ID2 "\n4:memory:/docker/" ID2 "\n0::/\n",
		  "/usr/bin/memcached");
	id = of(301);
	CU_ASSERT_STRING_EQUAL(id->key, "container/" ID2);
	CU_ASSERT_STRING_EQUAL(id->cgroup_path, "/");
	CU_ASSERT(!id->own_cgroup);

	/* containerd outside Kubernetes */
	fake_cgroup("/system.slice/cri-containerd-" ID3 ".scope");
	fake_proc(302, "0::/system.slice/cri-containerd-" ID3 ".scope\n", "/bin/app");
	id = of(302);
	CU_ASSERT_STRING_EQUAL(id->key, "container/" ID3);
	CU_ASSERT(id->own_cgroup);

	/* cri-o */
	fake_proc(303, "0::/machine.slice/crio-" ID2 ".scope\n", "/bin/app");
	id = of(303);
	CU_ASSERT_STRING_EQUAL(id->key, "container/" ID2);
	CU_ASSERT_EQUAL(id->cgroup_id, 0); /* no such directory in the fake tree */
}

/* Pod UIDs for each workload kind. */
#define UID_DEP "0a1b2c3d-1111-2222-3333-444455556666"
#define UID_STS "0a1b2c3d-aaaa-2222-3333-444455556666"
#define UID_DS "0a1b2c3d-bbbb-2222-3333-444455556666"
#define UID_JOB "0a1b2c3d-cccc-2222-3333-444455556666"
#define UID_IJOB "0a1b2c3d-eeee-2222-3333-444455556666"
#define UID_CJ "0a1b2c3d-dddd-2222-3333-444455556666"
#define UID_POD "0a1b2c3d-ffff-2222-3333-444455556666"
#define UID_NOLOG "0a1b2c3d-9999-2222-3333-444455556666"

static void test_kubernetes(void)
{
	char link[PATH_MAX * 2], target[256];
	struct workload_id *id;

	/* deployment, systemd driver, containerd: names via /var/log/containers */
	fake_pod_log("shop_api-7d9f8b6c5-x7k2p_" UID_DEP, "api", NULL);
	fake_pod_log("shop_api-7d9f8b6c5-x7k2p_" UID_DEP, "envoy", NULL);
	snprintf(link, sizeof(link), "%s/api-7d9f8b6c5-x7k2p_shop_envoy-%s.log", ctrs, ID1);
	CU_ASSERT_EQUAL(symlink("/var/log/pods/x/envoy/0.log", link), 0);
	snprintf(link, sizeof(link), "%s/api-7d9f8b6c5-x7k2p_shop_api-%s.log", ctrs, ID2);
	CU_ASSERT_EQUAL(symlink("/var/log/pods/x/api/0.log", link), 0);
	fake_cgroup("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0a1b2c3d_"
		    "1111_2222_3333_444455556666.slice/cri-containerd-" ID2 ".scope");
	fake_proc(400,
		  "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0a1b2c3d_"
		  "1111_2222_3333_444455556666.slice/cri-containerd-" ID2 ".scope\n",
		  "/app/api");
	fake_proc(401,
		  "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0a1b2c3d_"
		  "1111_2222_3333_444455556666.slice/cri-containerd-" ID1 ".scope\n",
		  "/usr/local/bin/envoy");
	id = of(400);
	CU_ASSERT_EQUAL(id->cls, WORKLOAD_POD);
	CU_ASSERT_STRING_EQUAL(id->key, "k8s/shop/deployment/api");
	CU_ASSERT_STRING_EQUAL(f(id, WREC_ID_NAME), "api");
	CU_ASSERT_STRING_EQUAL(f(id, WREC_ID_KIND), "pod");
	CU_ASSERT_STRING_EQUAL(f(id, WREC_ID_K8S_NAMESPACE), "shop");
	CU_ASSERT_STRING_EQUAL(f(id, WREC_ID_K8S_POD), "api-7d9f8b6c5-x7k2p");
	CU_ASSERT_STRING_EQUAL(f(id, WREC_ID_K8S_POD_UID), UID_DEP);
	CU_ASSERT_STRING_EQUAL(f(id, WREC_ID_K8S_CONTAINER), "api");
	CU_ASSERT_STRING_EQUAL(f(id, WREC_ID_K8S_WL_KIND), "deployment");
	CU_ASSERT_STRING_EQUAL(f(id, WREC_ID_K8S_WL_NAME), "api");
	CU_ASSERT_STRING_EQUAL(f(id, WREC_ID_CONTAINER_ID), ID2);
	CU_ASSERT(id->own_cgroup);
	CU_ASSERT_NOT_EQUAL(id->cgroup_id, 0);
	id = of(401);
	CU_ASSERT_STRING_EQUAL(id->key, "k8s/shop/deployment/api");
	CU_ASSERT_STRING_EQUAL(f(id, WREC_ID_K8S_CONTAINER), "envoy");
	CU_ASSERT_PTR_NULL(id->k8s_kind_alt);

	/* statefulset, cgroupfs driver, docker: name via the log symlink's target */
	fake_pod_log("db_pg-0_" UID_STS, "postgres", NULL);
	fake_pod_log("db_pg-0_" UID_STS, "exporter", NULL);
	snprintf(link, sizeof(link), "%s/db_pg-0_%s/postgres/1.log", pods, UID_STS);
	snprintf(target, sizeof(target), "/var/lib/docker/containers/%s/%s-json.log", ID3, ID3);
	CU_ASSERT_EQUAL(symlink(target, link), 0);
	fake_proc(410, "0::/kubepods/burstable/pod" UID_STS "/" ID3 "\n",
		  "/usr/lib/postgresql/15/bin/postgres");
	id = of(410);
	CU_ASSERT_STRING_EQUAL(id->key, "k8s/db/statefulset/pg");
	CU_ASSERT_STRING_EQUAL(f(id, WREC_ID_K8S_POD), "pg-0");
	CU_ASSERT_STRING_EQUAL(f(id, WREC_ID_K8S_CONTAINER), "postgres");
	CU_ASSERT_STRING_EQUAL(f(id, WREC_ID_K8S_POD_UID), UID_STS);

	/* daemonset (or job), besteffort, cri-o; the pod's only container */
	fake_pod_log("kube-system_node-exporter-2xk9z_" UID_DS, "node-exporter", NULL);
	fake_proc(420,
		  "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0a1b2c3d_"
		  "bbbb_2222_3333_444455556666.slice/crio-" ID1 ".scope\n",
		  "/bin/node_exporter");
	id = of(420);
	CU_ASSERT_STRING_EQUAL(id->key, "k8s/kube-system/daemonset/node-exporter");
	CU_ASSERT_STRING_EQUAL(f(id, WREC_ID_NAME), "node-exporter");
	CU_ASSERT_STRING_EQUAL(f(id, WREC_ID_K8S_CONTAINER), "node-exporter");
	CU_ASSERT_STRING_EQUAL(id->k8s_kind_alt, "job");

	/* indexed job, guaranteed QoS (no QoS level in the path) */
	fake_pod_log("batch_migrate-3-q8w2n_" UID_IJOB, "migrate", NULL);
	fake_proc(430,
		  "0::/kubepods.slice/kubepods-pod0a1b2c3d_eeee_2222_3333_444455556666.slice/"
		  "cri-containerd-" ID3 ".scope\n",
		  "/bin/migrate");
	id = of(430);
	CU_ASSERT_STRING_EQUAL(id->key, "k8s/batch/job/migrate");

	/* a plain job's pod reads as a daemonset with job as the alternative */
	fake_pod_log("batch_backfill-h5t7v_" UID_JOB, "backfill", NULL);
	fake_proc(431, "0::/kubepods/besteffort/pod" UID_JOB "/" ID1 "\n", "/bin/backfill");
	id = of(431);
	CU_ASSERT_STRING_EQUAL(id->key, "k8s/batch/daemonset/backfill");
	CU_ASSERT_STRING_EQUAL(id->k8s_kind_alt, "job");

	/* cronjob */
	fake_pod_log("batch_report-28567140-lk9vd_" UID_CJ, "report", NULL);
	fake_proc(440, "0::/kubepods/besteffort/pod" UID_CJ "/" ID2 "\n", "/bin/report");
	id = of(440);
	CU_ASSERT_STRING_EQUAL(id->key, "k8s/batch/cronjob/report");
	CU_ASSERT_STRING_EQUAL(f(id, WREC_ID_K8S_POD), "report-28567140-lk9vd");

	/* a bare pod */
	fake_pod_log("default_debug_" UID_POD, "shell", NULL);
	fake_proc(450, "0::/kubepods/pod" UID_POD "/" ID2 "\n", "/bin/sh");
	id = of(450);
	CU_ASSERT_STRING_EQUAL(id->key, "k8s/default/pod/debug");

	/* no pod logs mounted: the uid is all there is */
	fake_proc(460, "0::/kubepods/burstable/pod" UID_NOLOG "/" ID3 "\n", "/bin/x");
	id = of(460);
	CU_ASSERT_STRING_EQUAL(id->key, "pod/" UID_NOLOG);
	CU_ASSERT_STRING_EQUAL(f(id, WREC_ID_K8S_POD_UID), UID_NOLOG);
	CU_ASSERT_STRING_EQUAL(f(id, WREC_ID_CONTAINER_ID), ID3);

	/* hybrid host, cgroupfs kubelet: the pod only in v1 lines */
	fake_proc(470, "11:cpu,cpuacct:/kubepods/burstable/pod" UID_STS "/" ID3 "\n0::/\n",
		  "/usr/lib/postgresql/15/bin/postgres");
	id = of(470);
	CU_ASSERT_STRING_EQUAL(id->key, "k8s/db/statefulset/pg");
	CU_ASSERT(!id->own_cgroup);
}

static void test_workload_names(void)
{
	static const struct {
		const char *pod, *kind, *name, *alt;
	} cases[] = {
		{ "api-7d9f8b6c5-x7k2p", "deployment", "api", NULL },
		{ "my-web-app-5c8b7d6f4b-9zq2m", "deployment", "my-web-app", NULL },
		{ "coredns-565d847f94-8bk6x", "deployment", "coredns", NULL },
		{ "web-0", "statefulset", "web", NULL },
		{ "kafka-broker-12", "statefulset", "kafka-broker", NULL },
		{ "kube-proxy-7xkzc", "daemonset", "kube-proxy", "job" },
		{ "pi-h5t7v", "daemonset", "pi", "job" },
		{ "etl-28567140-lk9vd", "cronjob", "etl", NULL },
		{ "train-4-q8w2n", "job", "train", NULL },
		{ "debug", "pod", "debug", NULL },
		{ "debug-shell", "pod", "debug-shell", NULL },
		{ "api-hello-x7k2p", "daemonset", "api-hello", "job" }, /* vowels: not a hash */
	};
	const char *kind, *alt;
	char name[64];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		CU_ASSERT_EQUAL(
			identity__k8s_workload(cases[i].pod, &kind, &alt, name, sizeof(name)), 0);
		if (strcmp(kind, cases[i].kind) || strcmp(name, cases[i].name))
			fprintf(stderr, "\n%s: got %s %s\n", cases[i].pod, kind, name);
		CU_ASSERT_STRING_EQUAL(kind, cases[i].kind);
		CU_ASSERT_STRING_EQUAL(name, cases[i].name);
		CU_ASSERT((alt == NULL) == (cases[i].alt == NULL));
	}
	CU_ASSERT_EQUAL(identity__k8s_workload("a-very-long-pod-name", &kind, &alt, name, 4),
			-ENAMETOOLONG);
}

static void test_sweep(void)
{
	struct identity_opts o = { .sz = sizeof(o),
				   .proc_root = proc,
				   .cgroup_root = cg,
				   .pod_log_root = pods,
				   .container_log_root = ctrs,
				   .host_name = "n",
				   .max_entries = 2 };
	struct identity_resolver *r = identity_resolver__new(&o);
	struct workload_id *id;
	unsigned int pids[] = { 100, 300, 301, 302, 400 };
	size_t i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	for (i = 0; i < ARRAY_SIZE(pids); i++)
		CU_ASSERT_EQUAL(identity_resolver__of_pid(r, pids[i], &id), 0);
	CU_ASSERT_EQUAL(identity_resolver__size(r), 5);
	CU_ASSERT_EQUAL(identity_resolver__sweep(r), 3);
	CU_ASSERT_EQUAL(identity_resolver__size(r), 2);
	/* The most recent survive, and evicted ones come back on demand. */
	CU_ASSERT_EQUAL(identity_resolver__of_pid(r, 400, &id), 0);
	CU_ASSERT_STRING_EQUAL(id->key, "k8s/shop/deployment/api");
	CU_ASSERT_EQUAL(identity_resolver__of_pid(r, 100, &id), 0);
	CU_ASSERT_STRING_EQUAL(id->key, "unit/nginx.service");
	identity_resolver__free(r);
	identity_resolver__free(NULL);
}

/* ---- real cgroups ---- */

/*
 * Starts `sleep 60` and returns once it has exec'd: until then the child is a copy of this
 * test, and its /proc/PID/exe says so (the resolver read it in about 8 % of runs under load).
 * The pipe's write end is close-on-exec, so EOF on the read end is the exec itself.
 */
static pid_t spawn_sleeper(void)
{
	int p[2];
	pid_t pid;
	char c;

	if (pipe2(p, O_CLOEXEC))
		return -1;
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		execlp("sleep", "sleep", "60", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	while (pid > 0 && read(p[0], &c, 1) < 0 && errno == EINTR)
		;
	close(p[0]);
	return pid;
}

static int move_pid(const char *cgdir, pid_t pid)
{
	char p[PATH_MAX + 96], v[32];

	snprintf(p, sizeof(p), "%s/cgroup.procs", cgdir);
	snprintf(v, sizeof(v), "%d", pid);
	return write_file_str(p, v);
}

static void test_real_cgroups(void)
{
	char mnt[PATH_MAX], a[PATH_MAX + 64], b[PATH_MAX + 64], top[PATH_MAX + 32];
	struct identity_resolver *r = NULL;
	struct workload_id *ia, *ib;
	pid_t pa = -1, pb = -1;
	uint64_t ida = 0, idb = 0;
	int err;

	if (cgroup2_mount(mnt, sizeof(mnt))) {
		fprintf(stderr, "\n  cgroup2 is not mounted: skipped\n");
		return;
	}
	snprintf(top, sizeof(top), "%s/kiln-test-%d", mnt, getpid());
	snprintf(a, sizeof(a), "%s/kiln-a.service", top);
	snprintf(b, sizeof(b), "%s/kiln-b.service", top);
	if (mkdir(top, 0755)) {
		fprintf(stderr, "\n  cannot create cgroups under %s (%s): skipped\n", mnt,
			strerror(errno));
		return;
	}
	CU_ASSERT_EQUAL_FATAL(mkdir(a, 0755), 0);
	CU_ASSERT_EQUAL_FATAL(mkdir(b, 0755), 0);
	pa = spawn_sleeper();
	pb = spawn_sleeper();
	CU_ASSERT_FATAL(pa > 0 && pb > 0);
	err = move_pid(a, pa);
	CU_ASSERT_EQUAL(err, 0);
	err = move_pid(b, pb);
	CU_ASSERT_EQUAL(err, 0);
	CU_ASSERT_EQUAL(cgroup_id_of_path(a, &ida), 0);
	CU_ASSERT_EQUAL(cgroup_id_of_path(b, &idb), 0);

	/* Default options: the real /proc and the cgroup2 mount found by the resolver. */
	r = identity_resolver__new(NULL);
	CU_ASSERT_PTR_NOT_NULL(r);
	if (r && !err) {
		char want[PATH_MAX];

		CU_ASSERT_EQUAL(identity_resolver__of_pid(r, (uint32_t)pa, &ia), 0);
		CU_ASSERT_EQUAL(identity_resolver__of_pid(r, (uint32_t)pb, &ib), 0);
		CU_ASSERT_PTR_NOT_EQUAL(ia, ib);
		CU_ASSERT_STRING_EQUAL(ia->key, "unit/kiln-a.service");
		CU_ASSERT_STRING_EQUAL(ib->key, "unit/kiln-b.service");
		snprintf(want, sizeof(want), "/kiln-test-%d/kiln-a.service", getpid());
		CU_ASSERT_STRING_EQUAL(ia->cgroup_path, want);
		snprintf(want, sizeof(want), "/kiln-test-%d/kiln-b.service", getpid());
		CU_ASSERT_STRING_EQUAL(ib->cgroup_path, want);
		CU_ASSERT_EQUAL(ia->cgroup_id, ida);
		CU_ASSERT_EQUAL(ib->cgroup_id, idb);
		CU_ASSERT_NOT_EQUAL(ida, idb);
		CU_ASSERT(ia->own_cgroup && ib->own_cgroup);
		CU_ASSERT_STRING_EQUAL(ia->wrec.field[WREC_ID_EXE_NAME], "sleep");
	}
	identity_resolver__free(r);
	/* Cleanup: kill, reap (which empties the cgroups), then remove them. */
	kill(pa, SIGKILL);
	kill(pb, SIGKILL);
	waitpid(pa, NULL, 0);
	waitpid(pb, NULL, 0);
	CU_ASSERT_EQUAL(rmdir(a), 0);
	CU_ASSERT_EQUAL(rmdir(b), 0);
	CU_ASSERT_EQUAL(rmdir(top), 0);
}

int main(int argc, char **argv)
{
	static const struct kiln_test_case cases[] = {
		{ "systemd units and sessions", test_systemd },
		{ "host and executables", test_host_and_exe },
		{ "docker, containerd, cri-o", test_containers },
		{ "kubernetes pods, both drivers, every kind", test_kubernetes },
		{ "workload from pod name", test_workload_names },
		{ "cache sweep", test_sweep },
		{ "two real cgroups", test_real_cgroups },
	};
	int rc;

	if (setup())
		return 1;
	rc = kiln_test_main(argc, argv, "identity", cases, sizeof(cases) / sizeof(cases[0]));
	teardown();
	return rc;
}
