#!/usr/bin/env bash
# Benchmark kcrash against crash 8.0.6 and drgn 0.0.31 on a distro-sized
# kernel: Debian's linux-image-6.1.0-*-amd64 and its -dbg vmlinux (633 MB),
# crashed under QEMU with 512 MiB and dumped the way the corpus is.
#
# usage: bench/distro.sh [all|prepare|dump|time]   (default: all)
# Work dir: $BENCH (default /var/tmp/kcrash-bench). Needs root (apt, chroot).
# Prints a table of wall time and peak RSS per tool and question, median of
# $RUNS runs (default 3), and ratios against crash and drgn from the same run.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BENCH=${BENCH:-/var/tmp/kcrash-bench}
CHROOT=${CHROOT:-/var/cache/kcrash/trixie-oracle}
RUNS=${RUNS:-3}
MEM=512
step=${1:-all}
mkdir -p "$BENCH"

prepare() {
	export DEBIAN_FRONTEND=noninteractive
	local need=()
	for p in qemu-system-x86 busybox-static makedumpfile time python3 gcc; do
		dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
	done
	[ ${#need[@]} -eq 0 ] || { apt-get update -qq; apt-get install -y -qq "${need[@]}"; }
	"$ROOT/testdata/cores/oracle-chroot.sh" "$CHROOT"
	mkdir -p "$BENCH/debs"
	cd "$BENCH/debs"
	local abi
	abi=$(apt-cache depends linux-image-amd64-dbg | sed -n 's/.*Depends: linux-image-\(.*\)-amd64-dbg/\1/p' | head -n1)
	[ -n "$abi" ] || { echo "cannot find Debian's linux-image-*-amd64-dbg" >&2; exit 1; }
	ls linux-image-"$abi"-amd64-dbg_*.deb >/dev/null 2>&1 || apt-get download "linux-image-$abi-amd64-dbg"
	ls linux-image-"$abi"-amd64_*.deb >/dev/null 2>&1 || apt-get download "linux-image-$abi-amd64"
	cd "$BENCH"
	if [ ! -f vmlinux ]; then
		dpkg-deb --fsys-tarfile debs/linux-image-"$abi"-amd64-dbg_*.deb | tar -x ./usr/lib/debug/boot/
		mv usr/lib/debug/boot/vmlinux-* vmlinux
		rm -rf usr
	fi
	if [ ! -f vmlinuz ]; then
		rm -rf img; mkdir img
		dpkg-deb -x debs/linux-image-"$abi"-amd64_*.deb img
		cp img/boot/vmlinuz-* vmlinuz
		mkdir -p mods
		find img/lib/modules -name 'qemu_fw_cfg.ko*' -exec cp {} mods/ \;
		for m in mods/*.xz; do [ -e "$m" ] && xz -d "$m"; done
		rm -rf img
	fi
	echo "$abi" > abi
}

initramfs() {
	local st=$BENCH/initramfs
	rm -rf "$st"; mkdir -p "$st"/{bin,proc,sys,dev,lib/modules}
	for p in kc-spinner kc-sleeper kc-writer; do
		gcc -static -O2 -pthread -o "$st/bin/$p" "$ROOT/testdata/cores/guest/$p.c"
	done
	cp /bin/busybox "$st/bin/busybox"
	file -L "$st/bin/busybox" | grep -q 'statically linked' || { echo "/bin/busybox is not static (install busybox-static)" >&2; exit 1; }
	cp "$BENCH"/mods/*.ko "$st/lib/modules/"
	cp "$HERE/guest-init.sh" "$st/init"; chmod 755 "$st/init"
	(cd "$st" && find . | sort | cpio -o -H newc --quiet -R 0:0) | gzip -9 > "$BENCH/initrd.gz"
}

dump() {
	initramfs
	cd "$BENCH"
	rm -f qmp.sock serial.log vmcore.elf
	qemu-system-x86_64 -accel tcg -cpu max,la57=off -smp 2 -m $MEM -display none \
		-serial file:serial.log -no-reboot -monitor none \
		-kernel vmlinuz -initrd initrd.gz -append "console=ttyS0 panic=0" \
		-device vmcoreinfo -qmp unix:qmp.sock,server=on,wait=off &
	python3 "$ROOT/testdata/cores/qmp.py" qmp.sock serial.log 600 elf:vmcore.elf
	wait || true
	grep -q KCRASH-BENCH-MARKER serial.log
	python3 "$ROOT/testdata/cores/elfcore.py" fixphdr vmcore.elf vmcore-phdr40.elf ||
		{ echo "elfcore.py cannot rewrite the program headers" >&2; exit 1; }
	makedumpfile -c -d 31 vmcore-phdr40.elf vmcore-d31.kdump
}

# measure LABEL CMD...: median wall seconds and max RSS (MiB) over $RUNS runs
measure() {
	local label=$1; shift
	local i walls=() rss=0 out
	for ((i = 0; i < RUNS; i++)); do
		/usr/bin/time -o "$BENCH/.time" -f '%e %M' "$@" >/dev/null 2>&1 || true
		out=$(tail -n1 "$BENCH/.time")
		walls+=("${out% *}")
		rss=$(( ${out#* } > rss ? ${out#* } : rss ))
	done
	local med
	med=$(printf '%s\n' "${walls[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p")
	printf '%s\t%s\t%d\n' "$label" "$med" $(( rss / 1024 ))
}

# kcrash is timed twice per question: cold (an empty cache directory,
# emptied before every run: the first session on this vmlinux) and warm
# (the cache a previous session on the same question left).
kcrash_both() {
	local q=$1
	measure "kcrash-cold|$q" env KCRASH_CACHE_DIR="$BENCH/kcache-cold" sh -c 'rm -rf "$KCRASH_CACHE_DIR"; exec "$@"' sh \
		"$BENCH/kcrash" "$BENCH/vmlinux" "$BENCH/vmcore.elf" -c "$q"
	rm -rf "$BENCH/kcache-warm"
	KCRASH_CACHE_DIR="$BENCH/kcache-warm" "$BENCH/kcrash" "$BENCH/vmlinux" "$BENCH/vmcore.elf" -c "$q" >/dev/null 2>&1 || true
	measure "kcrash-warm|$q" env KCRASH_CACHE_DIR="$BENCH/kcache-warm" "$BENCH/kcrash" "$BENCH/vmlinux" "$BENCH/vmcore.elf" -c "$q"
}

timeit() {
	cd "$BENCH"
	mountpoint -q "$CHROOT/bench" || { mkdir -p "$CHROOT/bench"; mount --bind "$BENCH" "$CHROOT/bench"; }
	(cd "$ROOT" && go build -o "$BENCH/kcrash" ./cmd/kcrash)
	local q results=$BENCH/results.tsv
	: > "$results"
	for q in "sys" "sym jiffies" "struct task_struct -o"; do
		printf '%s\nexit\n' "$q" > "$CHROOT/tmp/bench-cmds"
		measure "crash|$q" chroot "$CHROOT" crash -s /bench/vmlinux /bench/vmcore.elf -i /tmp/bench-cmds >> "$results"
		kcrash_both "$q" >> "$results"
	done
	measure "drgn|tasks" chroot "$CHROOT" drgn -q -c /bench/vmcore.elf -s /bench/vmlinux -e \
		'from drgn.helpers.linux.pid import for_each_task
print(sum(1 for _ in for_each_task(prog)))' >> "$results"
	# The kernel-model questions of the issue: the same work in each tool.
	for q in "ps" "bt -a" "foreach bt" "log"; do
		printf '%s\nexit\n' "$q" > "$CHROOT/tmp/bench-cmds"
		measure "crash|$q" chroot "$CHROOT" crash -s /bench/vmlinux /bench/vmcore.elf -i /tmp/bench-cmds >> "$results"
		kcrash_both "$q" >> "$results"
	done
	local pre='from drgn.helpers.linux.pid import for_each_task
from drgn.helpers.linux.sched import cpu_curr
from drgn.helpers.linux.cpumask import for_each_online_cpu
from drgn.helpers.linux.printk import get_dmesg
'
	measure "drgn|ps" chroot "$CHROOT" drgn -q -c /bench/vmcore.elf -s /bench/vmlinux -e "$pre
for t in for_each_task(prog): print(t.pid.value_(), t.comm.string_().decode())" >> "$results"
	measure "drgn|bt -a" chroot "$CHROOT" drgn -q -c /bench/vmcore.elf -s /bench/vmlinux -e "$pre
for c in for_each_online_cpu(prog): print(prog.stack_trace(cpu_curr(prog, c)))" >> "$results"
	measure "drgn|foreach bt" chroot "$CHROOT" drgn -q -c /bench/vmcore.elf -s /bench/vmlinux -e "$pre
for t in for_each_task(prog):
    try: print(prog.stack_trace(t))
    except Exception as e: print(e)" >> "$results"
	measure "drgn|log" chroot "$CHROOT" drgn -q -c /bench/vmcore.elf -s /bench/vmlinux -e "$pre
print(get_dmesg(prog).decode())" >> "$results"
	measure "kcrash|dumpinfo" "$BENCH/kcrash" dumpinfo "$BENCH/vmcore.elf" >> "$results"
	# Reading every page: kcrash's benchmark beside makedumpfile rewriting the same dump.
	measure "makedumpfile -c -d 31 ELF->kdump" makedumpfile -f -c -d 31 vmcore-phdr40.elf vmcore-bench.kdump >> "$results" || true
	measure "kcrash convert --filter 31 ELF->kdump" "$BENCH/kcrash" convert --to kdump --compress zlib --filter 31 vmcore-phdr40.elf "$BENCH/vmcore-bench-kcrash.kdump" >> "$results" || true
	rm -f "$BENCH/vmcore-bench-kcrash.kdump"
	python3 - "$results" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
t = {r[0]: (float(r[1]), int(r[2])) for r in rows}
print("%-40s %8s %8s" % ("tool|question", "wall s", "RSS MiB"))
for k, (w, m) in t.items():
    print("%-40s %8.2f %8d" % (k, w, m))
for q in ("sys", "sym jiffies", "struct task_struct -o", "ps", "bt -a", "foreach bt", "log"):
    c = t.get("crash|" + q)
    d = t.get("drgn|" + q) or t.get("drgn|tasks")
    for run in ("cold", "warm"):
        k = t.get("kcrash-%s|%s" % (run, q))
        if k and c:
            print("kcrash-%s/crash %-26s wall %.3fx  RSS %.3fx" % (run, q, k[0] / c[0], k[1] / c[1]))
        if k and d:
            print("kcrash-%s/drgn  %-26s wall %.3fx  RSS %.3fx" % (run, q, k[0] / d[0], k[1] / d[1]))
k, m = t.get("kcrash convert --filter 31 ELF->kdump"), t.get("makedumpfile -c -d 31 ELF->kdump")
if k and m:
    print("kcrash/makedumpfile -d 31 ELF->kdump     wall %.3fx  RSS %.3fx" % (k[0] / m[0], k[1] / m[1]))
PY
}

case $step in
	prepare) prepare ;;
	dump) dump ;;
	time) timeit ;;
	all) prepare; dump; timeit ;;
	*) echo "usage: $0 [all|prepare|dump|time]" >&2; exit 2 ;;
esac
