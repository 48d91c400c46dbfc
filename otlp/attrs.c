// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "otlp/otlp.h"

static const struct otlp_attr attrs[] = {
	{ WREC_ID_HOST, "host.name" },
	{ WREC_ID_EXE_NAME, "process.executable.name" },
	{ WREC_ID_EXE_PATH, "process.executable.path" },
	{ WREC_ID_CONTAINER_ID, "container.id" },
	{ WREC_ID_K8S_NAMESPACE, "k8s.namespace.name" },
	{ WREC_ID_K8S_POD, "k8s.pod.name" },
	{ WREC_ID_K8S_POD_UID, "k8s.pod.uid" },
	{ WREC_ID_K8S_CONTAINER, "k8s.container.name" },
};

/* The controllers whose name has a k8s.<kind>.name attribute in the conventions. */
static const char *const wl_kinds[] = { "deployment", "statefulset", "daemonset",
					"job",	      "cronjob",     "replicaset" };

#define NR(a) (sizeof(a) / sizeof((a)[0]))

const struct otlp_attr *otlp_attrs(size_t *nr)
{
	*nr = NR(attrs);
	return attrs;
}

const char *otlp_attr__workload_kind(const char *key)
{
	size_t i, n;

	if (strncmp(key, "k8s.", 4))
		return NULL;
	for (i = 0; i < NR(wl_kinds); i++) {
		n = strlen(wl_kinds[i]);
		if (!strncmp(key + 4, wl_kinds[i], n) && !strcmp(key + 4 + n, ".name"))
			return wl_kinds[i];
	}
	return NULL;
}

int otlp_attr__workload_key(const char *kind, char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < NR(wl_kinds); i++)
		if (!strcmp(kind, wl_kinds[i]))
			return snprintf(buf, len, "k8s.%s.name", kind) < (int)len ? 0 : -EINVAL;
	return -EINVAL;
}
