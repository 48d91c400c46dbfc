#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# kiln's BPF on other kernels: boots Debian's kernel packages under QEMU (TCG: no KVM needed)
# and runs, inside each guest, kiln-bpfcheck (every BPF program loaded, with the verifier's
# instruction count) and short known-answer recordings (`kiln record -F 499 -d 3` of the
# workload --mix alpha=70,beta=30, with and without frame pointers, and of Debian's
# python3.11 running bench/python/kat.py when the host has it). Prints one row per kernel.
#
#   bench/kernels.sh [--build DIR] [--cache DIR] [--timeout S] [--ci] [KERNEL...]
#
# KERNEL: 6.1 (Debian 12's current cloud kernel, the default), 6.12 (the newest 6.12 cloud
# kernel Debian 12 serves), 5.10 (Debian 11's), or a linux-image-* package name. Default: all
# three. Packages are fetched with apt-get download from the configured mirror and unpacked
# under --cache (default /var/tmp/kiln-kernels), outside the repository.
#
# The guest gets kiln in an initramfs built here (busybox from busybox-static, kiln, the
# workloads and every library they link): Debian's cloud kernels have no 9p
# (CONFIG_NET_9P is not set), and an initramfs needs no module at all. BTF is the guest
# kernel's own /sys/kernel/btf/vmlinux.
#
# Exit: 0 when kiln's BPF loaded and recorded on every kernel booted, 1 when it did not on one,
# 77 with --ci when nothing could be booted (no QEMU, busybox or kernel package), else 2.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$HERE/../build
CACHE=/var/tmp/kiln-kernels
TIMEOUT=600
CI=0
KERNELS=()
PY=/usr/bin/python3.11

while (($#)); do
	case $1 in
	--build) BUILD=$2 && shift 2 ;;
	--cache) CACHE=$2 && shift 2 ;;
	--timeout) TIMEOUT=$2 && shift 2 ;;
	--ci) CI=1 && shift ;;
	-h | --help) sed -n '3,22p' "$0" | sed 's/^# \{0,1\}//' && exit 0 ;;
	-*) echo "kernels.sh: unknown option $1" >&2 && exit 2 ;;
	*) KERNELS+=("$1") && shift ;;
	esac
done
((${#KERNELS[@]})) || KERNELS=(6.1 6.12 5.10)
BUILD=$(cd "$BUILD" && pwd)

unavailable() { # WHY: nothing to boot
	echo "kernels.sh: $1" >&2
	if ((CI)); then exit 77; fi
	exit 2
}

command -v qemu-system-x86_64 >/dev/null || unavailable "qemu-system-x86_64 not installed (Debian package qemu-system-x86)"
if [[ ! -x /bin/busybox ]] || ! grep -qx cpio <<<"$(/bin/busybox --list)"; then
	unavailable "/bin/busybox with cpio not installed (Debian package busybox-static)"
fi
for b in kiln bench/kiln-bpfcheck bench/workload bench/workload-nofp; do
	[[ -x $BUILD/$b ]] || { echo "kernels.sh: $BUILD/$b not built" >&2 && exit 2; }
done

# The package of KERNEL (a short version or a package name), or nothing when the configured
# mirror does not serve it.
package_of() {
	local k=$1 pkg=
	case $k in
	linux-image-*) pkg=$k ;;
	6.1)
		pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
			awk '/Depends: linux-image-6\.1\./ {print $2; exit}') ;;
	*)
		pkg=$(apt-cache pkgnames "linux-image-$k" 2>/dev/null |
			grep -E "^linux-image-${k//./\\.}[.-][0-9.+a-z]*-cloud-amd64$" | sort -V | tail -1) ;;
	esac
	[[ -n $pkg ]] && apt-cache show "$pkg" >/dev/null 2>&1 && echo "$pkg"
	return 0
}

# Unpacks PKG under $CACHE once; prints the path of its vmlinuz.
kernel_of() {
	local pkg=$1 dir=$CACHE/x/$1
	mkdir -p "$CACHE"
	# Another tree's run may be unpacking the same package.
	exec 9>"$CACHE/.lock"
	flock 9
	if ! compgen -G "$dir/boot/vmlinuz-*" >/dev/null; then
		mkdir -p "$CACHE/debs" "$dir"
		(cd "$CACHE/debs" && apt-get download -q "$pkg" >/dev/null 2>&1) || return 1
		dpkg-deb -x "$CACHE"/debs/"$pkg"_*.deb "$dir" || return 1
	fi
	compgen -G "$dir/boot/vmlinuz-*" | head -1
	flock -u 9
}

WORK=$(mktemp -d /var/tmp/kiln-kernels-run.XXXXXX)
# KILN_KERNELS_KEEP=1 keeps the initramfs and the serial logs for a look.
if [[ ${KILN_KERNELS_KEEP:-0} == 1 ]]; then
	echo "kernels.sh: keeping $WORK"
else
	trap 'rm -rf "$WORK"' EXIT
fi

# The initramfs: busybox, kiln, kiln-bpfcheck, the workloads and their libraries, /init.
build_initramfs() {
	local root=$WORK/root f id dbg
	mkdir -p "$root"/{bin,kiln,proc,sys,dev,tmp,lib64}
	cp /bin/busybox "$root/bin/"
	for f in kiln bench/kiln-bpfcheck bench/workload bench/workload-nofp; do
		cp "$BUILD/$f" "$root/kiln/"
	done
	# Debian's CPython and the standard library (without tests, GUIs and packaging tools),
	# for the Python known-answer recording; left out when the host has no python3.11.
	local py=()
	if [[ -x $PY ]]; then
		cp "$HERE/python/kat.py" "$root/kiln/"
		mkdir -p "$root/usr/bin" "$root/usr/lib"
		cp "$PY" "$root/usr/bin/"
		tar -C /usr/lib -c --exclude=test --exclude=idlelib --exclude=tkinter \
			--exclude=lib2to3 --exclude=ensurepip --exclude=pydoc_data --exclude=distutils \
			--exclude=turtledemo --exclude='config-*' --exclude=site-packages \
			--exclude=dist-packages "$(basename "$PY")" | tar -C "$root/usr/lib" -x
		py=("$root/usr/bin/$(basename "$PY")" "$root/usr/lib/$(basename "$PY")"/lib-dynload/*.so)
	fi
	for f in $(ldd "$root"/kiln/* "${py[@]}" 2>/dev/null | awk '/=> \// {print $3} /^[ \t]+\// {print $1}' | sort -u); do
		mkdir -p "$root/$(dirname "$f")"
		cp -L "$f" "$root/$f"
		# Its detached symbols (libc6-dbg's libc names start_thread and clone3, the roots
		# of a whole thread stack), found by build-id as kiln's symbolizer looks them up.
		id=$(readelf -n "$f" 2>/dev/null | awk '/Build ID/ {print $3}')
		dbg=/usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug
		if [[ -n $id && -f $dbg ]]; then
			mkdir -p "$root/$(dirname "$dbg")"
			cp -L "$dbg" "$root/$dbg"
		fi
	done
	cat >"$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/shm && mount -t tmpfs shm /dev/shm
mount -t tmpfs tmp /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t bpf bpf /sys/fs/bpf
mount -t debugfs debugfs /sys/kernel/debug
echo "KILN-BOOT uptime=$(cut -d' ' -f1 /proc/uptime)"
echo KILN-BPFCHECK-BEGIN
/kiln/kiln-bpfcheck 2>&1
echo "KILN-BPFCHECK-END rc=$?"
for w in workload workload-nofp; do
	/kiln/kiln record -F 499 -d 3 -f folded -o /tmp/$w.folded -- \
		/kiln/$w --mix alpha=70,beta=30 --threads 2 --seconds 3 >/tmp/$w.log 2>&1
	rc=$?
	echo "KILN-REC-BEGIN $w"
	cat /tmp/$w.folded 2>/dev/null
	echo "KILN-REC-END $w rc=$rc"
	sed 's/^/KILN-REC-LOG /' /tmp/$w.log | tail -20
done
if [ -x /usr/bin/python3.11 ]; then
	# Longer: under TCG the interpreter's start and kat.py's buffer take seconds.
	/kiln/kiln record -F 499 -d 8 -f folded -o /tmp/python.folded -- \
		/usr/bin/python3.11 /kiln/kat.py --seconds 8 >/tmp/python.log 2>&1
	rc=$?
	echo "KILN-REC-BEGIN python"
	cat /tmp/python.folded 2>/dev/null
	echo "KILN-REC-END python rc=$rc"
	sed 's/^/KILN-REC-LOG /' /tmp/python.log | tail -20
fi
echo "KILN-DONE uptime=$(cut -d' ' -f1 /proc/uptime)"
poweroff -f
EOF
	chmod +x "$root/init"
	# Uncompressed: the kernel unpacks it faster than it inflates it under TCG.
	(cd "$root" && find . | /bin/busybox cpio -o -H newc 2>/dev/null) >"$WORK/initramfs.cpio"
}

# The folded section of the serial log LOG for recording W, into $WORK/W.folded.
folded_of() { # LOG W
	sed -n "/^KILN-REC-BEGIN $2\$/,/^KILN-REC-END $2 /p" "$1" | sed '1d;$d' | tr -d '\r' \
		>"$WORK/$2.folded"
}

# Figures of the recording of workload W: "alpha_share whole_rate" (percent).
figures() { # LOG W
	local folded=$WORK/$2.folded
	folded_of "$1" "$2"
	if [[ ! -s $folded ]]; then
		echo "- -"
		return
	fi
	python3 "$HERE/unwindcheck.py" folded "$folded" --workload | awk -F= '
		{ v[$1] = $2 }
		END {
			ab = v["leaf_alpha"] + v["leaf_beta"]
			printf "%s %s\n", ab ? sprintf("%.1f", 100 * v["leaf_alpha"] / ab) : "-",
				v["samples"] ? sprintf("%.1f", 100 * v["whole"] / v["samples"]) : "-"
		}'
}

# Figures of the Python recording: "leaf_a_share python_rate" (percent): leaf_a of the
# samples in leaf_a or leaf_b (60 expected, bench/python/kat.py), and the samples with a
# frame of kat.py (the CPython walk working) of all samples with a user stack.
py_figures() { # LOG
	local folded=$WORK/python.folded
	folded_of "$1" python
	if [[ ! -s $folded ]]; then
		echo "- -"
		return
	fi
	PYTHONPATH=$HERE python3 -c '
import sys
import unwindcheck as uc
a = b = py = n = 0
for _, user, _, count in uc.folded_samples(sys.argv[1]):
    if not user:
        continue
    n += count
    a += count * ("kat.py:leaf_a" in user)
    b += count * ("kat.py:leaf_b" in user)
    py += count * any(f.startswith("kat.py:") for f in user)
print("%s %s" % ("%.1f" % (100.0 * a / (a + b)) if a + b else "-",
                 "%.1f" % (100.0 * py / n) if n else "-"))' "$folded"
}

build_initramfs
echo "initramfs: $(du -h "$WORK/initramfs.cpio" | cut -f1), QEMU $(qemu-system-x86_64 --version | head -1 | awk '{print $4}') TCG, 2 vCPUs, 2 GiB"

PROGS="kiln_sample kiln_walk kiln_pywalk kiln_fork kiln_exec kiln_exit"
ROWS=()
DETAILS=()
booted=0
failed=0
for k in "${KERNELS[@]}"; do
	pkg=$(package_of "$k")
	if [[ -z $pkg ]]; then
		ROWS+=("$(printf '%-34s not served by the configured package mirror' "$k")")
		continue
	fi
	if ! vmlinuz=$(kernel_of "$pkg"); then
		ROWS+=("$(printf '%-34s apt-get download %s failed' "$k" "$pkg")")
		continue
	fi
	log=$WORK/$pkg.serial
	t0=$(date +%s.%N)
	rc=0
	timeout --kill-after=10 "$TIMEOUT" qemu-system-x86_64 -machine q35 -accel tcg -cpu max \
		-smp 2 -m 2048 -nographic -no-reboot -monitor none -display none \
		-kernel "$vmlinuz" -initrd "$WORK/initramfs.cpio" \
		-append "console=ttyS0 panic=-1 loglevel=1" -serial "file:$log" >/dev/null 2>&1 || rc=$?
	wall=$(echo "$(date +%s.%N) - $t0" | bc)
	booted=$((booted + 1))
	tr -d '\r' <"$log" >"$log.txt"
	ver=$(sed -n 's/^kernel=//p' "$log.txt")
	boot=$(sed -n 's/.*KILN-BOOT uptime=//p' "$log.txt")
	load=$(sed -n 's/^load=//p' "$log.txt" | awk '{print $1}')
	insns=()
	for p in $PROGS; do
		n=$(sed -n "s/^prog $p=ok insns=\([0-9-]*\) verified_insns=\(.*\)/\1/p" "$log.txt")
		insns+=("${n:-FAIL}")
	done
	read -r fpa fpw <<<"$(figures "$log.txt" workload)"
	read -r nfa nfw <<<"$(figures "$log.txt" workload-nofp)"
	pya=- pyr=-
	if [[ -x $PY ]]; then
		read -r pya pyr <<<"$(py_figures "$log.txt")"
	fi
	recrc=$(sed -n 's/^KILN-REC-END .* rc=//p' "$log.txt" | sort -u | tr '\n' ,)
	ROWS+=("$(printf '%-34s %5ss %5.0fs %-6s%7s%7s%7s%7s%7s%7s %6s %6s %6s %6s %6s %6s' \
		"${ver:-$pkg}" "${boot:-?}" "$wall" "${load:-NONE}" "${insns[@]}" "$fpa" "$fpw" \
		"$nfa" "$nfw" "$pya" "$pyr")")
	# A recording without workload samples is a failure too (its figures are "-"). Not the
	# Python figures: how far kat.py gets past its start under TCG depends on the load.
	if [[ $load != ok || $recrc != "0," || $rc != 0 || $fpa == - || $nfa == - ]]; then
		failed=$((failed + 1))
		DETAILS+=("== $pkg: qemu rc=$rc, load=${load:-none}, kiln record rc=${recrc:-none}")
		DETAILS+=("$(grep -E '^(prog |  \| |load=|feature |KILN-REC-LOG )' "$log.txt" || tail -30 "$log.txt")")
	fi
	DETAILS+=("-- $pkg features: $(sed -n 's/^feature //p' "$log.txt" | tr '\n' ' ')")
done

echo
printf '%-34s %6s %6s %-6s%7s%7s%7s%7s%7s%7s %6s %6s %6s %6s %6s %6s\n' kernel boot wall load \
	sample walk pywalk fork exec exit "fp:a%" fp:wh% "nofp:a%" nofp:wh% "py:a%" py:fr%
for r in "${ROWS[@]}"; do echo "$r"; done
echo
echo "boot: guest uptime when /init ran; wall: the whole QEMU run (boot, load check, two 3 s"
echo "recordings and an 8 s one of Python, power-off). Instructions: the verifier's processed"
echo "count per program."
echo "a%: alpha/(alpha+beta) of the workload's samples (70 expected); wh%: whole user stacks."
echo "py:a%: leaf_a/(leaf_a+leaf_b) of python3.11 kat.py (60 expected); py:fr%: samples with"
echo "Python frames of kat.py."
for d in "${DETAILS[@]}"; do echo "$d"; done
if ((booted == 0)); then
	unavailable "no kernel package could be fetched (${KERNELS[*]})"
fi
((failed == 0)) || exit 1
exit 0
