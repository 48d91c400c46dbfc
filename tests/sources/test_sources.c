// SPDX-License-Identifier: Apache-2.0
/*
 * The selection over a fake /proc and cgroup tree: which selector matches which workload,
 * the cgroup ids and tgids for the in-kernel filter (each once), new processes, and the
 * warning for a selector that matches nothing.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "tests/lib/fake_fs.h"
#include "tests/lib/kiln_test.h"

#include "aggregator/sources.h"
#include "common/util.h"

#define CID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define DID "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define PODCG                                                                                     \
	"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0a1b2c3d_1111_2222_3333_" \
	"444455556666.slice/cri-containerd-" CID ".scope"

static char root[] = "/tmp/kiln-sources-test-XXXXXX";
static char proc[PATH_MAX], cg[PATH_MAX], pods[PATH_MAX];

static void fake_proc(unsigned int pid, const char *cgroup, const char *exe)
{
	kiln_test_fake_proc(proc, pid, cgroup, exe);
}

static uint64_t ino(const char *v2path)
{
	return kiln_test_ino(cg, v2path);
}

static struct identity_resolver *make_tree(void)
{
	struct identity_opts o = { .sz = sizeof(o) };
	char p[PATH_MAX * 2];

	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(root));
	snprintf(proc, sizeof(proc), "%s/proc", root);
	snprintf(cg, sizeof(cg), "%s/cgroup", root);
	snprintf(pods, sizeof(pods), "%s/pods", root);
	kiln_test_mkdirs(proc);
	snprintf(p, sizeof(p), "%s/system.slice/nginx.service", cg);
	kiln_test_mkdirs(p);
	snprintf(p, sizeof(p), "%s%s", cg, PODCG);
	kiln_test_mkdirs(p);
	snprintf(p, sizeof(p),
		 "%s/shop_api-7d9f8b6c5-x7k2p_0a1b2c3d-1111-2222-3333-444455556666/api", pods);
	kiln_test_mkdirs(p);

	fake_proc(10, "0::/system.slice/nginx.service\n", "/usr/sbin/nginx");
	fake_proc(11, "0::/system.slice/nginx.service\n", "/usr/sbin/nginx");
	fake_proc(20, "0::" PODCG "\n", "/app/api");
	fake_proc(21, "0::" PODCG "\n", "/app/api");
	fake_proc(30, "0::/\n", "/usr/lib/postgresql/15/bin/postgres");
	fake_proc(31, "0::/\n", "/usr/lib/postgresql/15/bin/postgres");
	fake_proc(40, "0::/\n", "/usr/bin/bash");
	fake_proc(50, "4:pids:/docker/" DID "\n0::/\n", "/usr/bin/redis-server");

	o.proc_root = proc;
	o.cgroup_root = cg;
	o.pod_log_root = pods;
	o.container_log_root = pods; /* no containerd symlinks: the pod's only container */
	o.host_name = "n";
	return identity_resolver__new(&o);
}

static bool has_u64(const uint64_t *a, size_t n, uint64_t v)
{
	while (n--)
		if (a[n] == v)
			return true;
	return false;
}

static bool has_u32(const uint32_t *a, size_t n, uint32_t v)
{
	while (n--)
		if (a[n] == v)
			return true;
	return false;
}

static void test_selection(void)
{
	struct kiln_source src[] = {
		{ .unit = "nginx" }, /* without .service */
		{ .k8s_namespace = "shop", .k8s_kind = "deployment", .k8s_name = "api" },
		{ .executable = "postgres" },
		{ .container_id = "fedcba98" },
		{ .unit = "foo.service" },
		{ .k8s_namespace = "shop", .k8s_kind = "statefulset" },
	};
	struct identity_resolver *r = make_tree();
	struct sources_filter f = { 0 };
	struct sources *s = sources__new(src, ARRAY_SIZE(src));
	struct workload_id *id;
	char msg[256], cmd[PATH_MAX + 16];

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT(!sources__empty(s));
	CU_ASSERT_EQUAL(sources__count(s), 6);
	CU_ASSERT_EQUAL(sources__scan(s, r, &f), 0);

	/* nginx and the pod by their own cgroups, once each; postgres and the v1-only docker
	 * container by tgid; bash not at all. */
	CU_ASSERT_EQUAL(f.nr_cgroups, 2);
	CU_ASSERT(has_u64(f.cgroups, f.nr_cgroups, ino("/system.slice/nginx.service")));
	CU_ASSERT(has_u64(f.cgroups, f.nr_cgroups, ino(PODCG)));
	CU_ASSERT_EQUAL(f.nr_tgids, 3);
	CU_ASSERT(has_u32(f.tgids, f.nr_tgids, 30));
	CU_ASSERT(has_u32(f.tgids, f.nr_tgids, 31));
	CU_ASSERT(has_u32(f.tgids, f.nr_tgids, 50));
	CU_ASSERT(!has_u32(f.tgids, f.nr_tgids, 40));

	CU_ASSERT(!sources__unmatched(s, 0, msg, sizeof(msg)));
	CU_ASSERT(!sources__unmatched(s, 1, msg, sizeof(msg)));
	CU_ASSERT(sources__unmatched(s, 4, msg, sizeof(msg)));
	CU_ASSERT_STRING_EQUAL(msg, "source #5 {unit: foo.service} matches no running process");
	CU_ASSERT(sources__unmatched(s, 5, msg, sizeof(msg)));
	CU_ASSERT_STRING_EQUAL(msg, "source #6 {namespace: shop, kind: statefulset} matches no "
				    "running process");
	CU_ASSERT(!sources__unmatched(s, 6, msg, sizeof(msg)));

	/* New processes: one in a selected cgroup adds nothing; a new postgres adds its tgid;
	 * a rescan adds nothing new. */
	sources_filter__reset(&f);
	fake_proc(12, "0::/system.slice/nginx.service\n", "/usr/sbin/nginx");
	fake_proc(32, "0::/\n", "/usr/lib/postgresql/15/bin/postgres");
	fake_proc(41, "0::/\n", "/usr/bin/ls");
	CU_ASSERT_EQUAL(sources__eval_pid(s, r, 12, &f), 1);
	CU_ASSERT_EQUAL(sources__eval_pid(s, r, 32, &f), 1);
	CU_ASSERT_EQUAL(sources__eval_pid(s, r, 41, &f), 0);
	CU_ASSERT_EQUAL(sources__eval_pid(s, r, 4242, &f), -ESRCH);
	CU_ASSERT_EQUAL(f.nr_cgroups, 0);
	CU_ASSERT_EQUAL(f.nr_tgids, 1);
	CU_ASSERT(has_u32(f.tgids, f.nr_tgids, 32));
	sources_filter__reset(&f);
	CU_ASSERT_EQUAL(sources__scan(s, r, &f), 0);
	CU_ASSERT_EQUAL(f.nr_cgroups + f.nr_tgids, 0);
	/* An exited tgid is forgotten, so its reuse is selected again. */
	sources__forget_tgid(s, 30);
	CU_ASSERT_EQUAL(sources__eval_pid(s, r, 30, &f), 1);
	CU_ASSERT_EQUAL(f.nr_tgids, 1);

	/* Matching directly. */
	CU_ASSERT_EQUAL(identity_resolver__of_pid(r, 20, &id), 0);
	CU_ASSERT_EQUAL(sources__match(s, id, "/app/api"), 1);
	CU_ASSERT_EQUAL(identity_resolver__of_pid(r, 40, &id), 0);
	CU_ASSERT_EQUAL(sources__match(s, id, "/usr/bin/bash"), -1);

	sources_filter__release(&f);
	sources__free(s);
	sources__free(NULL);
	identity_resolver__free(r);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	CU_ASSERT_EQUAL(system(cmd), 0);
}

static void test_pids(void)
{
	const uint32_t pids[] = { 10, 30, 99 }, zero[] = { 7, 0 };
	struct identity_resolver *r;
	struct sources_filter f = { 0 };
	struct sources *s;
	char msg[256], cmd[PATH_MAX + 16];

	snprintf(root, sizeof(root), "/tmp/kiln-sources-test-XXXXXX");
	r = make_tree();
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_PTR_NULL(sources__new_pids(pids, 0));
	CU_ASSERT_PTR_NULL(sources__new_pids(zero, 2));
	s = sources__new_pids(pids, 3);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT(!sources__empty(s));
	CU_ASSERT_EQUAL(sources__count(s), 3);
	CU_ASSERT_EQUAL(sources__scan(s, r, &f), 0);
	/* nginx (10) by its tgid, not its unit's cgroup: its sibling 11 is not selected. */
	CU_ASSERT_EQUAL(f.nr_cgroups, 0);
	CU_ASSERT_EQUAL(f.nr_tgids, 2);
	CU_ASSERT(has_u32(f.tgids, f.nr_tgids, 10));
	CU_ASSERT(has_u32(f.tgids, f.nr_tgids, 30));
	CU_ASSERT(!sources__unmatched(s, 0, msg, sizeof(msg)));
	CU_ASSERT(sources__unmatched(s, 2, msg, sizeof(msg)));
	CU_ASSERT_STRING_EQUAL(msg, "source pid 99 (--pid) matches no running process");
	/* An exec of a selected process keeps its tgid: nothing new; others are not selected. */
	sources_filter__reset(&f);
	CU_ASSERT_EQUAL(sources__eval_pid(s, r, 10, &f), 1);
	CU_ASSERT_EQUAL(sources__eval_pid(s, r, 11, &f), 0);
	CU_ASSERT_EQUAL(f.nr_tgids, 0);
	/* Once 30 exited, a process reusing the id is not selected. */
	sources__forget_tgid(s, 30);
	CU_ASSERT_EQUAL(sources__eval_pid(s, r, 30, &f), 0);
	CU_ASSERT_EQUAL(f.nr_tgids, 0);
	sources_filter__release(&f);
	sources__free(s);
	identity_resolver__free(r);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	CU_ASSERT_EQUAL(system(cmd), 0);
}

static void test_match_rules(void)
{
	struct kiln_source src[] = {
		{ .k8s_kind = "job", .k8s_name = "backfill" },
		{ .k8s_kind = "pod", .k8s_name = "debug" },
		{ .k8s_kind = "job", .k8s_name = "report-28567140" },
		{ .executable = "/opt/bin/app" },
		{ .k8s_namespace = "batch" },
	};
	struct sources *s = sources__new(src, ARRAY_SIZE(src));
	struct workload_id id = { .cls = WORKLOAD_POD };

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	/* A NAME-XXXXX pod reads as a daemonset but a job selector still matches it. */
	id.wrec.field[WREC_ID_K8S_NAMESPACE] = "etl";
	id.wrec.field[WREC_ID_K8S_POD] = "backfill-h5t7v";
	id.wrec.field[WREC_ID_K8S_WL_KIND] = "daemonset";
	id.wrec.field[WREC_ID_K8S_WL_NAME] = "backfill";
	id.k8s_kind_alt = "job";
	CU_ASSERT_EQUAL(sources__match(s, &id, NULL), 0);
	id.k8s_kind_alt = NULL;
	CU_ASSERT_EQUAL(sources__match(s, &id, NULL), -1);
	/* kind pod matches the pod's own name */
	id.wrec.field[WREC_ID_K8S_POD] = "debug";
	id.wrec.field[WREC_ID_K8S_WL_KIND] = "pod";
	id.wrec.field[WREC_ID_K8S_WL_NAME] = "debug";
	CU_ASSERT_EQUAL(sources__match(s, &id, NULL), 1);
	/* a cronjob's job by its name */
	id.wrec.field[WREC_ID_K8S_POD] = "report-28567140-lk9vd";
	id.wrec.field[WREC_ID_K8S_WL_KIND] = "cronjob";
	id.wrec.field[WREC_ID_K8S_WL_NAME] = "report";
	CU_ASSERT_EQUAL(sources__match(s, &id, NULL), 2);
	/* a namespace alone */
	id.wrec.field[WREC_ID_K8S_NAMESPACE] = "batch";
	id.wrec.field[WREC_ID_K8S_WL_NAME] = "other";
	id.wrec.field[WREC_ID_K8S_POD] = "other-x";
	CU_ASSERT_EQUAL(sources__match(s, &id, NULL), 4);
	/* a full executable path */
	memset(&id, 0, sizeof(id));
	id.cls = WORKLOAD_PROCESS;
	CU_ASSERT_EQUAL(sources__match(s, &id, "/opt/bin/app"), 3);
	CU_ASSERT_EQUAL(sources__match(s, &id, "/usr/bin/app"), -1);
	sources__free(s);

	s = sources__new(NULL, 0);
	CU_ASSERT(sources__empty(s));
	sources__free(s);
}

KILN_TEST_MAIN("sources",
	       { "scan, filter items, new processes, unmatched warnings", test_selection },
	       { "match rules", test_match_rules }, { "pid selection", test_pids })
