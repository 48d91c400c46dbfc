// SPDX-License-Identifier: Apache-2.0
/*
 * Builds an OTLP ExportProfilesServiceRequest by hand with the generated protobuf-c code,
 * for the UI receiver's tests: one resource with service.name SERVICE (and, with --k8s,
 * k8s.namespace.name/k8s.deployment.name), one profile of main;work;alpha and
 * main;work;beta with N * 70 % and N * 30 % samples, plus main;a;b;a;b;leaf with
 * --recursive. Writes the body, gzipped unless --plain, to stdout.
 *
 *   otlp_req [--service NAME] [--k8s NS/NAME] [--samples N] [--recursive] [--plain]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "proto/opentelemetry/proto/collector/profiles/v1development/profiles_service.pb-c.h"

#define P(x) Opentelemetry__Proto__Profiles__V1development__##x
#define PINIT(x) OPENTELEMETRY__PROTO__PROFILES__V1DEVELOPMENT__##x##__INIT

enum {
	S_EMPTY,
	S_SAMPLES,
	S_COUNT,
	S_CPU,
	S_NS,
	S_MAIN,
	S_WORK,
	S_ALPHA,
	S_BETA,
	S_A,
	S_B,
	S_LEAF,
	S_FILE,
	S_NR
};
static char *strs[S_NR] = { "",	    "samples", "count",	      "cpu",  "nanoseconds",
			    "main", "work",    "alpha",	      "beta", "a",
			    "b",    "leaf",    "/usr/bin/app" };

static Opentelemetry__Proto__Common__V1__AnyValue vals[3];
static Opentelemetry__Proto__Common__V1__KeyValue kvs[3];
static Opentelemetry__Proto__Common__V1__KeyValue *kvp[3];

static void attr(size_t i, const char *k, const char *v)
{
	Opentelemetry__Proto__Common__V1__AnyValue av =
		OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
	Opentelemetry__Proto__Common__V1__KeyValue kv =
		OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;

	vals[i] = av;
	vals[i].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
	vals[i].string_value = (char *)v;
	kvs[i] = kv;
	kvs[i].key = (char *)k;
	kvs[i].value = &vals[i];
	kvp[i] = &kvs[i];
}

/* The command line (see the top of the file). */
struct req_opts {
	const char *service;
	char *k8s;
	long n;
	int plain, recursive;
};

/* Fills O from the command line. Returns 0, or -1 on an unknown option. */
static int parse_args(int argc, char **argv, struct req_opts *o)
{
	static const struct option opts[] = {
		{ "service", required_argument, NULL, 's' },
		{ "k8s", required_argument, NULL, 'k' },
		{ "samples", required_argument, NULL, 'n' },
		{ "recursive", no_argument, NULL, 'r' },
		{ "plain", no_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 's')
			o->service = optarg;
		else if (c == 'k')
			o->k8s = optarg;
		else if (c == 'n')
			o->n = atol(optarg);
		else if (c == 'r')
			o->recursive = 1;
		else if (c == 'p')
			o->plain = 1;
		else
			return -1;
	}
	return 0;
}

/* Packs REQ and writes it to stdout, gzipped unless PLAIN. Returns the exit status. */
static int write_body(
	const Opentelemetry__Proto__Collector__Profiles__V1development__ExportProfilesServiceRequest
		*req,
	int plain)
{
	size_t len =
		opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__get_packed_size(
			req);
	uint8_t *buf = malloc(len);
	uLongf zlen = compressBound(len) + 64;
	uint8_t *z = malloc(zlen);
	z_stream zs = { 0 };

	if (!buf || !z)
		return 1;
	opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__pack(
		req, buf);
	if (plain) {
		fwrite(buf, 1, len, stdout);
		free(buf);
		free(z);
		return 0;
	}
	/* windowBits 16 + 15: gzip framing, as Content-Encoding: gzip. */
	if (deflateInit2(&zs, 6, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return 1;
	zs.next_in = buf;
	zs.avail_in = (uInt)len;
	zs.next_out = z;
	zs.avail_out = (uInt)zlen;
	if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
		return 1;
	fwrite(z, 1, zs.total_out, stdout);
	deflateEnd(&zs);
	free(buf);
	free(z);
	return 0;
}

int main(int argc, char **argv)
{
	struct req_opts o = { .service = "otlp-svc", .n = 1000 };
	const char *service;
	char *k8s, *slash;
	int plain, recursive;
	size_t nattr, i;
	long n;

	if (parse_args(argc, argv, &o))
		return 2;
	service = o.service;
	k8s = o.k8s;
	n = o.n;
	plain = o.plain;
	recursive = o.recursive;

	/* Functions and locations: index 0 is the zero entry. Function i names strs[S_MAIN+i-1]. */
	enum {
		F_MAIN = 1,
		F_WORK,
		F_ALPHA,
		F_BETA,
		F_A,
		F_B,
		F_LEAF,
		F_NR
	};
	P(Function) fn[F_NR], *fnp[F_NR];
	P(Line) ln[F_NR], *lnp[F_NR];
	P(Location) loc[F_NR], *locp[F_NR];
	P(Mapping) map[2], *mapp[2];
	P(Stack) st[4], *stp[4];
	P(Sample) sm[3], *smp[3];
	P(ValueType) vt = PINIT(VALUE_TYPE), pt = PINIT(VALUE_TYPE);
	P(Profile) prof = PINIT(PROFILE), *profp = &prof;
	P(ScopeProfiles) sp = PINIT(SCOPE_PROFILES), *spp = &sp;
	P(ResourceProfiles) rp = PINIT(RESOURCE_PROFILES), *rpp = &rp;
	P(ProfilesDictionary) dict = PINIT(PROFILES_DICTIONARY);
	Opentelemetry__Proto__Resource__V1__Resource res =
		OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
	Opentelemetry__Proto__Collector__Profiles__V1development__ExportProfilesServiceRequest req =
		OPENTELEMETRY__PROTO__COLLECTOR__PROFILES__V1DEVELOPMENT__EXPORT_PROFILES_SERVICE_REQUEST__INIT;
	int32_t s1[] = { F_ALPHA, F_WORK, F_MAIN }; /* leaf first */
	int32_t s2[] = { F_BETA, F_WORK, F_MAIN };
	int32_t s3[] = { F_LEAF, F_B, F_A, F_B, F_A, F_MAIN };
	int64_t v[3] = { n * 70 / 100, n * 30 / 100, n };

	for (i = 0; i < F_NR; i++) {
		P(Function) f0 = PINIT(FUNCTION);
		P(Line) l0 = PINIT(LINE);
		P(Location) lo0 = PINIT(LOCATION);

		fn[i] = f0;
		fn[i].name_strindex = i ? (int32_t)(S_MAIN + i - 1) : 0;
		fnp[i] = &fn[i];
		ln[i] = l0;
		ln[i].function_index = (int32_t)i;
		lnp[i] = &ln[i];
		loc[i] = lo0;
		if (i) {
			loc[i].mapping_index = 1;
			loc[i].address = 0x1000 + i * 0x10;
			loc[i].n_lines = 1;
			loc[i].lines = &lnp[i];
		}
		locp[i] = &loc[i];
	}
	for (i = 0; i < 2; i++) {
		P(Mapping) m0 = PINIT(MAPPING);

		map[i] = m0;
		mapp[i] = &map[i];
	}
	map[1].memory_start = 0x400000;
	map[1].memory_limit = 0x500000;
	map[1].filename_strindex = S_FILE;
	for (i = 0; i < 4; i++) {
		P(Stack) s0 = PINIT(STACK);

		st[i] = s0;
		stp[i] = &st[i];
	}
	st[1].n_location_indices = 3;
	st[1].location_indices = s1;
	st[2].n_location_indices = 3;
	st[2].location_indices = s2;
	st[3].n_location_indices = 6;
	st[3].location_indices = s3;
	for (i = 0; i < 3; i++) {
		P(Sample) x = PINIT(SAMPLE);

		sm[i] = x;
		sm[i].stack_index = (int32_t)i + 1;
		sm[i].n_values = 1;
		sm[i].values = &v[i];
		smp[i] = &sm[i];
	}
	dict.n_string_table = S_NR;
	dict.string_table = strs;
	dict.n_function_table = F_NR;
	dict.function_table = fnp;
	dict.n_location_table = F_NR;
	dict.location_table = locp;
	dict.n_mapping_table = 2;
	dict.mapping_table = mapp;
	dict.n_stack_table = 4;
	dict.stack_table = stp;

	vt.type_strindex = S_SAMPLES;
	vt.unit_strindex = S_COUNT;
	pt.type_strindex = S_CPU;
	pt.unit_strindex = S_NS;
	prof.sample_type = &vt;
	prof.period_type = &pt;
	prof.period = 10101010;
	prof.time_unix_nano = 1700000000000000000ull;
	prof.duration_nano = 1000000000ull;
	prof.n_samples = recursive ? 3 : 2;
	prof.samples = smp;
	sp.n_profiles = 1;
	sp.profiles = &profp;
	attr(0, "service.name", service);
	nattr = 1;
	if (k8s && (slash = strchr(k8s, '/'))) {
		*slash = 0;
		attr(1, "k8s.namespace.name", k8s);
		attr(2, "k8s.deployment.name", slash + 1);
		nattr = 3;
	}
	res.n_attributes = nattr;
	res.attributes = kvp;
	rp.resource = &res;
	rp.n_scope_profiles = 1;
	rp.scope_profiles = &spp;
	req.n_resource_profiles = 1;
	req.resource_profiles = &rpp;
	req.dictionary = &dict;

	return write_body(&req, plain);
}
