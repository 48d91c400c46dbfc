// SPDX-License-Identifier: Apache-2.0
/*
 * OTLP encoding of window records: the request passes kiln's validator, decodes with the
 * upstream schema through protoc (../shared/otlp-proto), carries every sample, and keeps
 * one deduplicated dictionary across records.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "otlp/otlp.h"
#include "exp_common.h"
#include "tests/lib/kiln_test.h"
#include "proto/opentelemetry/proto/collector/profiles/v1development/profiles_service.pb-c.h"

static char shared_dir[4096];

static void encode_batch(bool pid_attrs, unsigned int nrec, unsigned int nwl, uint8_t **body,
			 size_t *len, uint64_t *want)
{
	struct otlp_opts o = { .pid_attributes = pid_attrs };
	struct otlp_enc *e;
	unsigned int r;

	*want = 0;
	CU_ASSERT_EQUAL_FATAL(otlp_enc__new(&e, &o), 0);
	for (r = 0; r < nrec; r++) {
		struct wrec_view v;
		uint64_t total;
		size_t rl;
		void *rec = exp_make_record(r, r % nwl, 40, &rl, &total);

		CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
		CU_ASSERT_EQUAL_FATAL(wrec__parse(rec, rl, &v), 0);
		CU_ASSERT_EQUAL_FATAL(otlp_enc__add(e, &v), 0);
		*want += total;
		free(rec);
	}
	CU_ASSERT_EQUAL(otlp_enc__samples(e), *want);
	CU_ASSERT_EQUAL(otlp_enc__records(e), nrec);
	CU_ASSERT_EQUAL_FATAL(otlp_enc__finish(e, body, len), 0);
	CU_ASSERT(otlp_enc__size(e) < 4096); /* reset */
	otlp_enc__free(e);
}

static void test_valid(void)
{
	struct otlp_stats st;
	uint8_t *body;
	size_t len;
	uint64_t want;
	char err[256];

	encode_batch(false, 12, 3, &body, &len, &want);
	CU_ASSERT_EQUAL(otlp_validate(body, len, &st, err, sizeof(err)), 0);
	if (err[0])
		fprintf(stderr, "validator: %s\n", err);
	CU_ASSERT_EQUAL(st.samples, want);
	CU_ASSERT_EQUAL(st.resources, 3);
	CU_ASSERT_EQUAL(st.profiles, 12);
	free(body);

	encode_batch(true, 6, 2, &body, &len, &want);
	CU_ASSERT_EQUAL(otlp_validate(body, len, &st, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(st.samples, want);
	free(body);
}

/* The same workload's records share every dictionary entry: the dictionary does not grow. */
static void test_dedup(void)
{
	Opentelemetry__Proto__Collector__Profiles__V1development__ExportProfilesServiceRequest *r1,
		*r2;
	uint8_t *b1, *b2;
	size_t l1, l2, i;
	uint64_t want;

	encode_batch(false, 1, 1, &b1, &l1, &want);
	encode_batch(false, 5, 1, &b2, &l2, &want);
	r1 = opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__unpack(
		NULL, l1, b1);
	r2 = opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__unpack(
		NULL, l2, b2);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r2);
	CU_ASSERT_EQUAL(r1->dictionary->n_string_table, r2->dictionary->n_string_table);
	CU_ASSERT_EQUAL(r1->dictionary->n_stack_table, r2->dictionary->n_stack_table);
	CU_ASSERT_EQUAL(r1->dictionary->n_location_table, r2->dictionary->n_location_table);
	CU_ASSERT_EQUAL(r2->n_resource_profiles, 1);
	CU_ASSERT_EQUAL(r2->resource_profiles[0]->scope_profiles[0]->n_profiles, 5);
	/* No duplicate strings. */
	for (i = 1; i < r2->dictionary->n_string_table; i++)
		for (size_t j = i + 1; j < r2->dictionary->n_string_table; j++)
			CU_ASSERT(strcmp(r2->dictionary->string_table[i],
					 r2->dictionary->string_table[j]) != 0);
	/* Build ids are mapping attributes; frame types are location attributes. */
	bool saw_build_id = false, saw_kernel = false;
	for (i = 0; i < r2->dictionary->n_attribute_table; i++) {
		const char *k =
			r2->dictionary
				->string_table[r2->dictionary->attribute_table[i]->key_strindex];
		const Opentelemetry__Proto__Common__V1__AnyValue *v =
			r2->dictionary->attribute_table[i]->value;

		if (!strcmp(k, "process.executable.build_id.gnu"))
			saw_build_id = true;
		if (!strcmp(k, "profile.frame.type") && !strcmp(v->string_value, "kernel"))
			saw_kernel = true;
	}
	CU_ASSERT(saw_build_id);
	CU_ASSERT(saw_kernel);
	opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__free_unpacked(
		r1, NULL);
	opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__free_unpacked(
		r2, NULL);
	free(b1);
	free(b2);
}

/* The validator rejects an out-of-range sample attribute (Pyroscope drops such profiles). */
static void test_validator_rejects(void)
{
	Opentelemetry__Proto__Collector__Profiles__V1development__ExportProfilesServiceRequest *r;
	uint8_t *body, *bad;
	size_t len, blen;
	uint64_t want;
	int32_t attr = 9999;
	char err[256];

	encode_batch(false, 1, 1, &body, &len, &want);
	r = opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__unpack(
		NULL, len, body);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	r->resource_profiles[0]->scope_profiles[0]->profiles[0]->samples[0]->n_attribute_indices =
		1;
	r->resource_profiles[0]->scope_profiles[0]->profiles[0]->samples[0]->attribute_indices =
		&attr;
	blen = opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__get_packed_size(
		r);
	bad = malloc(blen);
	opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__pack(
		r, bad);
	CU_ASSERT_EQUAL(otlp_validate(bad, blen, NULL, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "attribute_indices"));
	r->resource_profiles[0]->scope_profiles[0]->profiles[0]->samples[0]->n_attribute_indices =
		0;
	r->resource_profiles[0]->scope_profiles[0]->profiles[0]->samples[0]->attribute_indices =
		NULL;
	r->resource_profiles[0]->scope_profiles[0]->profiles[0]->period = 0;
	opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__pack(
		r, bad);
	blen = opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__get_packed_size(
		r);
	CU_ASSERT_EQUAL(otlp_validate(bad, blen, NULL, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "period"));
	CU_ASSERT_EQUAL(otlp_validate("\xff\xff\xff", 3, NULL, err, sizeof(err)), -EBADMSG);
	opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__free_unpacked(
		r, NULL);
	free(bad);
	free(body);
}

/* protoc with the upstream v1.11.0 files decodes the body (skipped when shared/ is absent). */
static void test_protoc(void)
{
	char path[] = "/tmp/kiln-otlp-XXXXXX", cmd[8192];
	uint8_t *body;
	size_t len;
	uint64_t want;
	int fd, st;

	if (!shared_dir[0]) {
		fprintf(stderr, "test_protoc: %s absent, not checked with protoc\n", shared_dir);
		return;
	}
	encode_batch(false, 4, 2, &body, &len, &want);
	fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(write(fd, body, len), (ssize_t)len);
	close(fd);
	snprintf(cmd, sizeof(cmd),
		 "protoc --decode=opentelemetry.proto.collector.profiles.v1development."
		 "ExportProfilesServiceRequest -I %s/otlp-proto "
		 "opentelemetry/proto/collector/profiles/v1development/profiles_service.proto "
		 "< %s | grep -c 'period: 52631578' | grep -qx 4",
		 shared_dir, path);
	st = system(cmd);
	CU_ASSERT_EQUAL(st, 0);
	unlink(path);
	free(body);
}

/*
 * Encodes record REC with OPTS into as many requests as the bounds make, checking each:
 * valid, no profile above the sample bound, no more profiles than asked. Returns the sum of
 * samples over all requests; *NREQ and *NPROF count requests and profiles.
 */
static uint64_t encode_split(const struct otlp_opts *opts, const void *rec, size_t rl,
			     unsigned int *nreq, unsigned int *nprof, size_t *biggest)
{
	struct otlp_stats st;
	struct otlp_enc *e;
	struct wrec_view v;
	uint64_t sum = 0;
	uint8_t *body;
	size_t len;
	char err[256];
	int ret;

	*nreq = *nprof = 0;
	*biggest = 0;
	CU_ASSERT_EQUAL_FATAL(otlp_enc__new(&e, opts), 0);
	CU_ASSERT_EQUAL_FATAL(wrec__parse(rec, rl, &v), 0);
	do {
		ret = otlp_enc__add(e, &v);
		CU_ASSERT_FATAL(ret == 0 || ret == -ENOSPC);
		CU_ASSERT_EQUAL(otlp_enc__pending(e), ret == -ENOSPC);
		CU_ASSERT_EQUAL_FATAL(otlp_enc__finish(e, &body, &len), 0);
		CU_ASSERT_EQUAL(otlp_validate(body, len, &st, err, sizeof(err)), 0);
		if (err[0])
			fprintf(stderr, "validator: %s\n", err);
		CU_ASSERT(st.max_profile_samples <= opts->max_profile_samples);
		CU_ASSERT(!opts->max_profiles || st.profiles <= opts->max_profiles);
		if (len > *biggest)
			*biggest = len;
		sum += st.samples;
		*nprof += (unsigned int)st.profiles;
		(*nreq)++;
		free(body);
	} while (ret == -ENOSPC && *nreq < 10000);
	otlp_enc__free(e);
	return sum;
}

/* A record of 400 stacks cut at 64 samples, at 1 profile per request, and at 8 KiB. */
static void test_split(void)
{
	struct otlp_opts o = { .max_profile_samples = 64 };
	unsigned int nreq, nprof, entries = 0, i;
	struct wrec_view v;
	uint64_t total;
	size_t rl, big;
	void *rec = exp_make_record(1, 0, 400, &rl, &total);
	bool *seen;

	CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
	/* Entries sent: the distinct stacks of samples with a count. */
	CU_ASSERT_EQUAL_FATAL(wrec__parse(rec, rl, &v), 0);
	seen = calloc(v.nr_stacks, sizeof(*seen));
	for (i = 0; i < v.nr_samples; i++)
		if (v.samples[i].count && !seen[v.samples[i].stack]) {
			seen[v.samples[i].stack] = true;
			entries++;
		}
	free(seen);
	CU_ASSERT(entries > 128);
	CU_ASSERT_EQUAL(encode_split(&o, rec, rl, &nreq, &nprof, &big), total);
	CU_ASSERT_EQUAL(nreq, 1);
	CU_ASSERT_EQUAL(nprof, (entries + 63) / 64);
	o.max_profiles = 1;
	CU_ASSERT_EQUAL(encode_split(&o, rec, rl, &nreq, &nprof, &big), total);
	CU_ASSERT_EQUAL(nreq, (entries + 63) / 64);
	CU_ASSERT_EQUAL(nprof, (entries + 63) / 64);
	o.max_profiles = 0;
	o.max_request_bytes = 8192;
	CU_ASSERT_EQUAL(encode_split(&o, rec, rl, &nreq, &nprof, &big), total);
	CU_ASSERT(nreq > 1);
	/* Over by at most one sample and the request's framing. */
	CU_ASSERT(big <= 8192 + 1024);
	free(rec);
}

/*
 * Per-sample attributes: entries are samples, split the same way; a restart's skip of the
 * first N entries leaves exactly their counts out.
 */
static void test_split_pid(void)
{
	struct otlp_opts o = { .pid_attributes = true, .max_profile_samples = 50 };
	struct otlp_stats st;
	unsigned int nreq, nprof, i, k = 0;
	struct otlp_enc *e;
	struct wrec_view v;
	uint64_t total, skipped = 0;
	uint8_t *body;
	size_t rl, big, len;
	char err[256];
	void *rec = exp_make_record(2, 1, 300, &rl, &total);

	CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
	CU_ASSERT_EQUAL(encode_split(&o, rec, rl, &nreq, &nprof, &big), total);
	CU_ASSERT(nprof > 2);
	CU_ASSERT_EQUAL_FATAL(wrec__parse(rec, rl, &v), 0);
	for (i = 0; i < v.nr_samples && k < 77; i++)
		if (v.samples[i].count) {
			skipped += v.samples[i].count;
			k++;
		}
	CU_ASSERT_EQUAL_FATAL(otlp_enc__new(&e, &o), 0);
	otlp_enc__skip_entries(e, 77);
	CU_ASSERT_EQUAL(otlp_enc__add(e, &v), 0);
	CU_ASSERT_EQUAL_FATAL(otlp_enc__finish(e, &body, &len), 0);
	CU_ASSERT_EQUAL(otlp_validate(body, len, &st, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(st.samples, total - skipped);
	free(body);
	otlp_enc__free(e);
	free(rec);
}

/* Past max_resource_attrs, attributes are dropped and counted; service.name and the key stay. */
static void test_attr_cap(void)
{
	struct otlp_opts o = { .max_resource_attrs = 2 };
	struct otlp_enc_stats es;
	struct otlp_enc *e;
	struct wrec_view v;
	uint64_t total, lo, hi;
	uint8_t *body;
	size_t rl, len;
	void *rec = exp_make_record(3, 1, 10, &rl, &total);

	CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
	CU_ASSERT_EQUAL_FATAL(otlp_enc__new(&e, &o), 0);
	CU_ASSERT_EQUAL_FATAL(wrec__parse(rec, rl, &v), 0);
	CU_ASSERT_EQUAL_FATAL(otlp_enc__add(e, &v), 0);
	otlp_enc__stats(e, &es);
	CU_ASSERT(es.attrs_dropped > 0);
	CU_ASSERT_EQUAL_FATAL(otlp_enc__finish(e, &body, &len), 0);
	CU_ASSERT(memmem(body, len, "kiln.workload.key", 17) != NULL);
	CU_ASSERT(memmem(body, len, "service.name", 12) != NULL);
	CU_ASSERT(memmem(body, len, "k8s.pod.name", 12) == NULL);
	/* The time span scan agrees with the record's window. */
	CU_ASSERT_EQUAL(otlp_time_span(body, len, &lo, &hi), 0);
	CU_ASSERT_EQUAL(lo, v.hdr->start_ns);
	CU_ASSERT_EQUAL(hi, v.hdr->start_ns + v.hdr->duration_ns);
	CU_ASSERT_EQUAL(otlp_time_span(body, len / 2, &lo, &hi) != 0, true);
	free(body);
	otlp_enc__free(e);
	free(rec);
}

int main(int argc, char **argv)
{
	static const struct kiln_test_case cases[] = {
		{ "valid", test_valid },
		{ "dedup", test_dedup },
		{ "validator_rejects", test_validator_rejects },
		{ "protoc", test_protoc },
		{ "split", test_split },
		{ "attr_cap", test_attr_cap },
		{ "split_pid", test_split_pid },
	};
	const char *src = getenv("KILN_SRC");
	struct stat sb;
	int rc;

	snprintf(shared_dir, sizeof(shared_dir), "%s/../shared", src ? src : ".");
	if (stat(shared_dir, &sb) || !S_ISDIR(sb.st_mode)) {
		/* Everything else still runs; only the protoc cross-check needs shared/. */
		fprintf(stderr, "%s absent: protoc decoding not checked\n", shared_dir);
		shared_dir[0] = 0;
	}
	rc = kiln_test_main(argc, argv, "otlp", cases, sizeof(cases) / sizeof(cases[0]));
	/* Only the protoc cross-check needs shared/: report the run as skipped without it. */
	return rc ? rc : shared_dir[0] ? 0 : KILN_TEST_SKIP;
}
