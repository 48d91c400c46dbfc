#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# kiln's developer entry point, for a fresh Debian 12 machine (run as root):
#   ./dev.sh run     install packages if missing, build, run the pipeline (kiln run [ARGS])
#   ./dev.sh test    install packages if missing, build (plain, ASan+UBSan, TSan, fuzz), test
#   ./dev.sh test -R NAME   the same trees, only the tests matching NAME (as each tree runs them)
#   ./dev.sh unit    build the plain tree and run the tests labelled unit (under a minute)
#   ./dev.sh deps    only install the Debian packages
#   ./dev.sh build   only build build/ (build/kiln, build/bench/kiln-bench)
#   ./dev.sh kernels [KERNEL...]   kiln's BPF load check and a known-answer recording in
#                    Debian's kernels under QEMU (bench/kernels.sh: 6.1, 6.12, 5.10 by default)
#   ./dev.sh image   the container image kiln:VERSION from Debian's packages, no registry
#                    (deploy/image/build.sh: debootstrap base, podman build)
#   ./dev.sh containers   the DaemonSet's three containers run as the manifest says, the
#                    known answer through them, each agent capability dropped in turn
#                    (tests/deploy/test_containers.py)
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
JOBS=$(nproc)
TOOLS=/var/tmp/kiln-tools

PKGS=(
	# toolchain: gcc for user space, clang for BPF objects and libFuzzer
	build-essential cmake pkg-config clang llvm libclang-rt-14-dev clang-format
	# libraries
	libbpf-dev bpftool liburing-dev libelf-dev libdw-dev zlib1g-dev libzstd-dev libcunit1-dev libiberty-dev
	libdebuginfod-dev
	protobuf-c-compiler libprotobuf-c-dev libcurl4-openssl-dev libmicrohttpd-dev libyaml-dev
	# tests and benches: python3 scripts, setpriv, perf and bpftrace as peers, protoc and
	# Go pprof as external checkers of what kiln writes
	python3 python3-yaml util-linux procps linux-perf bpftrace protobuf-compiler
	# kiln record -f speedscope is validated against its JSON schema (tests/record)
	python3-jsonschema
	golang-go golang-github-google-pprof-dev
	# CPython support tests (Debian's own interpreter; the pyenv builds are optional) and
	# kiln-bench unwind: Debian's own no-frame-pointer programs under loopback load
	python3.11 nginx-light wrk redis-server redis-tools postgresql
	# the UI's browser test: Debian's Chromium driven by playwright-core from npm
	chromium
	# tests/debuginfod: a real debuginfod server serving split debug files on loopback
	debuginfod
	# tests/unwind's oracle reads the .eh_frame of those Debian binaries (readelf, binutils)
	binutils
	# ./dev.sh kernels and tests/kernels: Debian kernels booted under QEMU (TCG) from an
	# initramfs of busybox and kiln; libc's detached symbols name the roots of thread stacks
	qemu-system-x86 busybox-static libc6-dbg
)

# ./dev.sh image and containers only (not CI's run: the container test takes minutes, and
# the image's base is fetched by debootstrap): the image built and run without a registry
# (runc: crun refuses hosts with hybrid cgroups).
CONTAINER_PKGS=(debootstrap podman runc)

deps() {
	local missing=()
	for p in "${PKGS[@]}" "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing+=("$p")
	done
	if ((${#missing[@]})); then
		echo "dev.sh: installing ${missing[*]}"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			"${missing[@]}" >/dev/null
	fi
	# Node may come from another packaging (npm bundled): only install Debian's when the
	# commands are missing, so apt never replaces a working one.
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		echo "dev.sh: installing nodejs npm"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
	fi
}

# The Go pprof tool, built offline from Debian's packaged source, outside the repo.
tools() {
	if [[ ! -x $TOOLS/pprof ]]; then
		echo "dev.sh: building the Go pprof tool into $TOOLS"
		mkdir -p "$TOOLS"
		GOPATH=/usr/share/gocode GO111MODULE=off GOFLAGS=-mod=mod GOCACHE=$TOOLS/gocache \
			go build -o "$TOOLS/pprof" github.com/google/pprof
	fi
}

configure_build() { # DIR [cmake args...]
	local dir=$1
	shift
	# Warnings are errors for developers and CI (a plain cmake build leaves them warnings).
	cmake -S "$ROOT" -B "$dir" -DKILN_WERROR=ON "$@" >/dev/null
	cmake --build "$dir" -j "$JOBS"
}

build() {
	configure_build build
}

run() {
	deps
	build
	echo "dev.sh: kiln run: the whole host, UI on http://127.0.0.1:7070/, OTLP files in" \
		"$ROOT/profiles; Ctrl-C stops"
	exec build/kiln run "$@"
}

run_tests() { # DIR [ctest args...]
	local dir=$1
	shift
	echo "dev.sh: ctest in $dir"
	ctest --test-dir "$dir" --output-on-failure --timeout 600 "$@"
}

# ./dev.sh test [-R NAME]: every tree, each running what it runs in the full suite; extra
# arguments (-R NAME) narrow each tree's run. A tree with no matching test passes.
test_all() {
	local filter=("$@")
	if ((${#filter[@]})); then
		filter+=(--no-tests=ignore)
	fi
	deps
	tools
	# playwright-core for the browser test, pinned by tests/browser/package-lock.json.
	(cd "$ROOT/tests/browser" && npm ci --no-audit --no-fund --loglevel=error)
	build
	configure_build build-asan -DKILN_SANITIZE=address,undefined
	configure_build build-tsan -DKILN_SANITIZE=thread
	CC=clang configure_build build-fuzz -DKILN_FUZZ=ON
	export KILN_PPROF=$TOOLS/pprof
	local rc=0
	# Kernel style, as .clang-format says, on every C file of the checkout (a full run only).
	if ((${#filter[@]} == 0)) && git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
		echo "dev.sh: format check of every C file (.ci/format-check)"
		(cd "$ROOT" && git ls-files -z '*.c' '*.h' | xargs -0 .ci/format-check) || rc=1
	fi
	run_tests build "${filter[@]}" || rc=1
	# Sanitized trees: the same tests and the same assertions, except the benchmark smoke run
	# (label bench), which already ran in the plain tree.
	run_tests build-asan -LE bench "${filter[@]}" || rc=1
	run_tests build-tsan -L tsan "${filter[@]}" || rc=1
	# The harnesses are independent single-threaded processes of fixed duration: two at a
	# time halves their wall time (they are ~4.5 of CI's minutes serially).
	run_tests build-fuzz -L fuzz -j2 "${filter[@]}" || rc=1
	return $rc
}

# The fast loop: the plain tree, tests labelled unit (no BPF, no agent).
unit() {
	build
	run_tests build -L unit "$@"
}

case ${1:-} in
deps) deps ;;
tools) tools ;;
build) build ;;
run)
	shift
	run "$@"
	;;
test)
	shift
	test_all "$@"
	;;
unit)
	shift
	unit "$@"
	;;
kernels)
	shift
	deps
	build
	bench/kernels.sh --build build "$@"
	;;
image)
	shift
	deps "${CONTAINER_PKGS[@]}"
	build
	deploy/image/build.sh --build build "$@"
	;;
containers)
	shift
	deps "${CONTAINER_PKGS[@]}"
	build
	tests/deploy/test_containers.py --build build "$@"
	;;
*)
	echo "usage: ./dev.sh {run|test [-R NAME]|unit|kernels [KERNEL...]|image|containers|deps|build}" >&2
	exit 2
	;;
esac
