#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Builds the kiln container image from Debian's packages only, with no container registry:
#   1. a bookworm root file system made by `debootstrap --variant=minbase` from the Debian
#      mirror apt already uses, trimmed like debian:bookworm-slim (no docs, man pages, locales),
#      imported as the local image debian:bookworm-slim;
#   2. deploy/image/Containerfile built on it with podman (or docker), its runtime libraries
#      installed by apt-get from the same mirror, the kiln binary copied from the build tree.
# The result is tagged kiln:0.1.0 (the name deploy/kubernetes/daemonset.yaml and the Helm
# chart use). With KILN_IMAGE_REGISTRY=host/path it is also tagged host/path/kiln:0.1.0 and,
# with --push, pushed there (the only step that talks to a registry, and only when asked).
#
# usage: deploy/image/build.sh [--build DIR] [--runtime podman|docker] [--tag TAG]
#                              [--rebase] [--push]
#   --build DIR  the CMake build tree holding `kiln` (default: build)
#   --rebase     make the debootstrap base again even if the local one exists
# Needs root, debootstrap and podman (apt-get install podman debootstrap) or docker.io with
# a running dockerd.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$SRC/build
RUNTIME=
TAG=
REBASE=0
PUSH=0
BASE=debian:bookworm-slim
BUILD_OPTS=
while [ $# -gt 0 ]; do
	case $1 in
	--build) BUILD=$(cd "$2" && pwd); shift 2 ;;
	--runtime) RUNTIME=$2; shift 2 ;;
	--tag) TAG=$2; shift 2 ;;
	--rebase) REBASE=1; shift ;;
	--push) PUSH=1; shift ;;
	-h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "build.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done

die() { echo "build.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, and a rootful podman or dockerd)"
[ -x "$BUILD/kiln" ] || die "no kiln binary in $BUILD (cmake -S . -B build && cmake --build build)"
if [ -z "$RUNTIME" ]; then
	if command -v podman >/dev/null; then RUNTIME=podman
	elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then RUNTIME=docker
	else die "no container runtime: apt-get install podman (or docker.io and start dockerd)"
	fi
fi
command -v "$RUNTIME" >/dev/null || die "$RUNTIME is not installed"
# crun (podman's default OCI runtime on Debian 12) refuses hosts whose cgroup v2 hierarchy
# has controllers while v1 holds the rest ("cgroups in hybrid mode not supported"); runc runs.
if [ "$RUNTIME" = podman ] && grep -qs . /sys/fs/cgroup/unified/cgroup.controllers; then
	command -v runc >/dev/null || die "hybrid cgroups: crun refuses them; apt-get install runc"
	BUILD_OPTS="--runtime $(command -v runc)" # a name alone is not looked up by build
fi
VERSION=$("$BUILD/kiln" --version | awk '{print $2}')
[ -n "$TAG" ] || TAG=kiln:$VERSION
# The mirror apt is configured with (deb822 or one-line sources), else Debian's own.
MIRROR=$(sed -n 's/^URIs: *\(http[^ ]*debian\)\/*$/\1/p; s/^deb \[*[^]]*\]* *\(http[^ ]*debian\)\/* bookworm .*/\1/p' \
	/etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | head -n1 || true)
MIRROR=${MIRROR:-http://deb.debian.org/debian}

t0=$(date +%s)
if [ $REBASE = 1 ] || ! $RUNTIME image inspect "$BASE" >/dev/null 2>&1; then
	command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
	ROOT=$(mktemp -d /var/tmp/kiln-rootfs.XXXXXX)
	trap 'rm -rf "$ROOT"' EXIT
	echo "== debootstrap --variant=minbase bookworm from $MIRROR"
	debootstrap --variant=minbase bookworm "$ROOT" "$MIRROR" >"$ROOT.log" 2>&1 ||
		{ tail -n 20 "$ROOT.log" >&2; die "debootstrap failed (log: $ROOT.log)"; }
	rm -f "$ROOT.log"
	# What the slim variant leaves out, for this base and every package installed on it.
	cat >"$ROOT/etc/dpkg/dpkg.cfg.d/slim" <<'SLIM'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
SLIM
	find "$ROOT/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete
	find "$ROOT/usr/share/doc" -mindepth 1 -type d -empty -delete
	rm -rf "$ROOT"/usr/share/man/* "$ROOT"/usr/share/info/* "$ROOT"/usr/share/locale/* \
		"$ROOT"/var/cache/apt/*.bin "$ROOT"/var/cache/apt/archives/*.deb \
		"$ROOT"/var/lib/apt/lists/* "$ROOT"/var/log/* "$ROOT"/tmp/*
	printf 'APT::Install-Recommends "false";\n' >"$ROOT/etc/apt/apt.conf.d/90slim"
	echo "== import as $BASE"
	tar -C "$ROOT" --numeric-owner -c . |
		$RUNTIME import --change 'CMD ["bash"]' - "$BASE" >/dev/null
	rm -rf "$ROOT"
	trap - EXIT
fi
t1=$(date +%s)

CTX=$(mktemp -d /var/tmp/kiln-image.XXXXXX)
trap 'rm -rf "$CTX"' EXIT
cp "$SRC/deploy/image/Containerfile" "$CTX/Containerfile"
# Stripped: the symbols of kiln itself are not needed to run it (2-3x smaller).
strip -o "$CTX/kiln" "$BUILD/kiln"
echo "== $RUNTIME build -t $TAG (base $BASE, packages from $MIRROR)"
PULL=--pull=never
[ "${RUNTIME%% *}" = docker ] && PULL=
# Host networking: apt-get reaches the mirror as the host does, with no bridge to set up.
OLD=$($RUNTIME image inspect --format '{{.Id}}' "$TAG" 2>/dev/null || true)
$RUNTIME build $PULL $BUILD_OPTS --network host -t "$TAG" -f "$CTX/Containerfile" "$CTX"
# The image this one replaces (now untagged), unless a container or another tag still uses it.
NEW=$($RUNTIME image inspect --format '{{.Id}}' "$TAG")
if [ -n "$OLD" ] && [ "$OLD" != "$NEW" ]; then
	$RUNTIME rmi "$OLD" >/dev/null 2>&1 || true
fi
t2=$(date +%s)
if [ -n "${KILN_IMAGE_REGISTRY:-}" ]; then
	$RUNTIME tag "$TAG" "$KILN_IMAGE_REGISTRY/$TAG"
	[ $PUSH = 1 ] && $RUNTIME push "$KILN_IMAGE_REGISTRY/$TAG"
fi
SIZE=$($RUNTIME image inspect --format '{{.Size}}' "$TAG")
BSIZE=$($RUNTIME image inspect --format '{{.Size}}' "$BASE")
echo "image $TAG: $((SIZE / 1000000)) MB (base $BASE $((BSIZE / 1000000)) MB);" \
	"base $((t1 - t0)) s, image $((t2 - t1)) s"
