#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# `kiln config check` as a user runs it: "FILE: ok" plus an explanation and exit 0 on a valid
# file; the exact one-line error and exit 1 on a malformed one; usage errors exit 2.
set -u
KILN=${KILN:-${KILN_BUILD:-build}/kiln}
dir=$(mktemp -d /tmp/kiln-config-check.XXXXXX)
trap 'rm -rf "$dir"' EXIT
fails=0

fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

# expect_error NAME EXPECTED-MESSAGE YAML
expect_error() {
	printf '%s' "$3" >"$dir/$1.yaml"
	out=$("$KILN" config check "$dir/$1.yaml" 2>&1)
	rc=$?
	[ $rc -eq 1 ] || fail "$1: exit $rc, want 1"
	[ "$out" = "$dir/$1.yaml$2" ] || fail "$1: got '$out', want '$dir/$1.yaml$2'"
}

cat >"$dir/good.yaml" <<'YAML'
profiling:
  samplingFrequency: 99
destinations:
  - {name: pyro, type: pyroscope, url: "pyroscope:4040"}
  - {name: gw, type: otlp, url: "http://collector:4318"}
  - {name: gw2, type: otlp, url: "https://gw.example/custom/profiles"}
sources:
  - {namespace: shop, kind: deployment, name: api}
  - {unit: nginx.service}
YAML
out=$("$KILN" config check "$dir/good.yaml")
rc=$?
[ $rc -eq 0 ] || fail "good: exit $rc"
for want in "$dir/good.yaml: ok" \
	"sampling: 99 Hz on every CPU, aggregated in 1s windows" \
	"destination pyro (pyroscope): POST http://pyroscope:4040/v1development/profiles" \
	"destination gw (otlp): POST http://collector:4318/v1development/profiles" \
	"destination gw2 (otlp): POST https://gw.example/custom/profiles" \
	"source #1: Kubernetes deployment api in namespace shop" \
	"source #2: systemd unit nginx.service"; do
	printf '%s\n' "$out" | grep -qF -- "$want" || fail "good: missing '$want' in: $out"
done

# An empty file is the embedded default: whole host, a local file destination.
: >"$dir/empty.yaml"
out=$(cd "$dir" && "$KILN" config check empty.yaml)
[ $? -eq 0 ] || fail "empty: exit status"
printf '%s\n' "$out" | grep -qF "destination local (file): write OTLP files into $dir/profiles/" ||
	fail "empty: no local destination in: $out"
printf '%s\n' "$out" | grep -qF "sources: the whole host" || fail "empty: not the whole host"

expect_error typo ":2: profiling.samplingFrequncy: unknown key, did you mean 'samplingFrequency'?" \
	'profiling:
  samplingFrequncy: 99
'
expect_error strbool ":2: profiling.enabled: expected true or false, got '\"false\"'" \
	'profiling:
  enabled: "false"
'
expect_error pyro ":4: destinations[0].url: expected host:port such as pyroscope:4040 (no scheme, no path), got 'http://pyro:4040'" \
	'destinations:
  - name: p
    type: pyroscope
    url: http://pyro:4040
'
expect_error noprofiles ":3: destinations[0].signals: destination 'gw' does not carry PROFILES" \
	'destinations:
  - {name: gw, type: otlp, url: "http://gw:4318",
     signals: [TRACES]}
'
expect_error syntax ":2:10: invalid YAML: mapping values are not allowed in this context" \
	'ring:
  name: a: b
'
"$KILN" config check "$dir/missing.yaml" >/dev/null 2>&1
[ $? -eq 1 ] || fail "missing file: want exit 1"
"$KILN" config check >/dev/null 2>&1
[ $? -eq 2 ] || fail "no file: want exit 2"
"$KILN" config --help | grep -q "usage: kiln config check" || fail "--help"

PROFILES_MAX_SLOTS=0 "$KILN" config check --env "$dir/good.yaml" >"$dir/out" 2>&1
[ $? -eq 1 ] || fail "--env: want exit 1"
grep -qF "PROFILES_MAX_SLOTS: expected a whole number of slots between 1 and 10000, got '0'" \
	"$dir/out" || fail "--env: $(cat "$dir/out")"

[ $fails -eq 0 ] && echo "all config check cases passed"
[ $fails -eq 0 ]
