#!/bin/bash
# Rebuild the kcrash crash-dump corpus from Debian packages alone.
# Run as root on Debian bookworm (x86_64). See README.md.
#
#   testdata/cores/build.sh [STEP ...]
#
# STEPs (default: all, in this order):
#   packages kernel module initramfs chroot qemu-4l qemu-5l kdump oracle artifacts
#
# Environment:
#   WORK    scratch directory for big intermediate files (default /var/tmp/kcrash-corpus)
#   CHROOT  oracle chroot (default /var/cache/kcrash/trixie-oracle)
#   FORCE=1 redo steps whose outputs already exist (kernel build, dumps)
#   JOBS    make -j (default: nproc)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
WORK=${WORK:-/var/tmp/kcrash-corpus}
CHROOT=${CHROOT:-/var/cache/kcrash/trixie-oracle}
JOBS=${JOBS:-$(nproc)}
FORCE=${FORCE:-0}
KSRC=$WORK/linux-source-6.1
TIMINGS=$WORK/timings.tsv
mkdir -p "$WORK"

# Guest parameters per scenario.
MEM_QEMU=128          # MiB, qemu-4l and qemu-5l
MEM_KDUMP=256         # MiB, kdump scenario
CRASHKERNEL=64M       # crashkernel= reservation of the kdump scenario
# init_on_free=1 zeroes freed pages (e.g. the ~10 MB freed gzip initrd) so the
# kdump vmcore compresses well
KDUMP_EXTRA_APPEND="init_on_free=1"
SMP=2
# Extra make variables for the kernel build. Source paths in the DWARF are the
# build directory ($WORK/linux-source-6.1); the committed corpus was built with
# the default WORK=/var/tmp/kcrash-corpus. (Mapping them with
# KCFLAGS=-fdebug-prefix-map=... would work but changes every object.)
KMAKEFLAGS=${KMAKEFLAGS:-}

log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

# step NAME FUNC...: run a step and record its wall time in $TIMINGS
step() {
	local name=$1; shift
	local t0=$(date +%s.%N)
	log "=== step $name"
	"$@"
	local t1=$(date +%s.%N)
	printf '%s\t%.1f\t%s\n' "$name" "$(echo "$t1 - $t0" | bc)" "$(date -u +%FT%TZ)" >> "$TIMINGS"
	log "=== step $name done in $(printf '%.1f' "$(echo "$t1 - $t0" | bc)") s"
}

#---------------------------------------------------------------- packages
do_packages() {
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q linux-source-6.1 build-essential bc flex bison libelf-dev \
		libssl-dev dwarves cpio zstd xz-utils qemu-system-x86 busybox-static \
		makedumpfile kexec-tools debootstrap python3 gzip
}

#---------------------------------------------------------------- kernel
apply_config() {
	local line n v
	while IFS= read -r line; do
		case "$line" in \#*|"") continue ;; esac
		n=${line%%=*}; v=${line#*=}
		case "$v" in
			y) scripts/config -e "$n" ;;
			n) scripts/config -d "$n" ;;
			\"*) v=${v#\"}; scripts/config --set-str "$n" "${v%\"}" ;;
			*) scripts/config --set-val "$n" "$v" ;;
		esac
	done < "$HERE/kernel.config"
}

check_config() {
	local line n v got bad=0
	while IFS= read -r line; do
		case "$line" in \#*|"") continue ;; esac
		n=${line%%=*}; v=${line#*=}
		got=$(grep -E "^(# )?CONFIG_$n[= ]" .config || true)
		case "$v" in
			n) [[ -z "$got" || "$got" == "# CONFIG_$n is not set" ]] || { echo "config mismatch: $n: $got" >&2; bad=1; } ;;
			*) [[ "$got" == "CONFIG_$n=$v" ]] || { echo "config mismatch: $n want $v: $got" >&2; bad=1; } ;;
		esac
	done < "$HERE/kernel.config"
	return $bad
}

do_kernel() {
	if [ ! -d "$KSRC" ]; then
		tar -C "$WORK" -xf /usr/src/linux-source-6.1.tar.xz
	fi
	cd "$KSRC"
	local want=$WORK/kernel.config.applied
	if [ "$FORCE" = 1 ] || [ ! -f .config ] || ! cmp -s "$HERE/kernel.config" "$want"; then
		make tinyconfig
		apply_config; make olddefconfig
		apply_config; make olddefconfig   # second pass for options with dependencies
		check_config
		cp "$HERE/kernel.config" "$want"
	fi
	if [ "$FORCE" = 1 ] || [ ! -f arch/x86/boot/bzImage ] || [ ! -f vmlinux ] || [ .config -nt vmlinux ] \
		|| [ "$(cat "$WORK/kernel.buildflags" 2>/dev/null)" != "$KMAKEFLAGS" ]; then
		local t0=$(date +%s)
		# shellcheck disable=SC2086
		make -j"$JOBS" $KMAKEFLAGS bzImage modules
		echo "$KMAKEFLAGS" > "$WORK/kernel.buildflags"
		echo "kernel build: $(( $(date +%s) - t0 )) s" > "$WORK/kernel-build-time.txt"
	fi
	make -s kernelrelease > "$WORK/kernelrelease"
	mkdir -p "$WORK/kernel"
	cp arch/x86/boot/bzImage "$WORK/kernel/bzImage"
	cp .config "$WORK/kernel/config"
	# vmlinux without relocation sections (keeps .debug_* and the ORC tables)
	objcopy --remove-section='.rela.debug*' --remove-section='.rela.orc*' vmlinux "$WORK/kernel/vmlinux"
	local secs
	secs=$(readelf -SW "$WORK/kernel/vmlinux")
	for s in .debug_info .debug_line .orc_unwind .orc_unwind_ip .orc_lookup; do
		grep -q " $s " <<<"$secs" || { echo "stripped vmlinux lacks $s" >&2; return 1; }
	done
	cd "$HERE"
}

#---------------------------------------------------------------- module
do_module() {
	rm -rf "$WORK/module"; mkdir -p "$WORK/module"
	cp "$HERE/module/kcrashtest.c" "$HERE/module/Makefile" "$WORK/module/"
	make -C "$KSRC" M="$WORK/module" modules
	cp "$WORK/module/kcrashtest.ko" "$WORK/kernel/kcrashtest.ko"
}

#---------------------------------------------------------------- initramfs
do_initramfs() {
	local st=$WORK/initramfs
	rm -rf "$st" "$WORK/guest-bin"; mkdir -p "$st"/{bin,sbin,proc,sys,dev,tmp,etc} "$WORK/guest-bin"
	for p in kc-spinner kc-sleeper kc-writer kc-trigger kc-fakekcore; do
		gcc -static -O2 -pthread -o "$WORK/guest-bin/$p" "$HERE/guest/$p.c"
		cp "$WORK/guest-bin/$p" "$st/bin/"
	done
	cp /bin/busybox "$st/bin/busybox"
	cp "$HERE/guest/init.sh" "$st/init"; chmod 755 "$st/init"
	cp "$WORK/kernel/kcrashtest.ko" "$st/kcrashtest.ko"
	# kexec and its shared libraries (for the kdump scenario)
	cp /sbin/kexec "$st/sbin/kexec"
	local lib
	for lib in $(ldd /sbin/kexec | grep -oE '/[^ ]+'); do
		mkdir -p "$st$(dirname "$lib")"; cp -L "$lib" "$st$lib"
	done
	(cd "$st" && find . | sort | cpio -o -H newc --quiet -R 0:0) > "$WORK/initrd.cpio"
	gzip -9 < "$WORK/initrd.cpio" > "$WORK/initrd.gz"
	# kdump boot: the same archive plus a second cpio with the capture kernel
	# and capture initramfs (the kernel unpacks concatenated archives).
	local ex=$WORK/initramfs-kdump
	rm -rf "$ex"; mkdir -p "$ex"
	cp "$WORK/kernel/bzImage" "$ex/bzImage"
	# uncompressed: its pages in the crashed kernel's rootfs then compress
	# well (zstd --long finds the same files in the rootfs)
	cp "$WORK/initrd.cpio" "$ex/capture-initrd"
	(cd "$ex" && find . | sort | cpio -o -H newc --quiet -R 0:0) | gzip -1 > "$WORK/initrd-kdump-extra.gz"
	cat "$WORK/initrd.gz" "$WORK/initrd-kdump-extra.gz" > "$WORK/initrd-kdump.gz"
	ls -la "$WORK"/initrd*.gz >&2
}

#---------------------------------------------------------------- oracle chroot
do_chroot() {
	"$HERE/oracle-chroot.sh" "$CHROOT"
}

#---------------------------------------------------------------- QEMU scenarios
# boot_qemu SCENARIO CPU MEM EXTRA_APPEND: boot to panic and take QEMU dumps
boot_qemu_dump() {
	local sc=$1 cpu=$2 mem=$3
	local d=$WORK/$sc
	mkdir -p "$d"
	rm -f "$d/qmp.sock" "$d/serial.log" "$d/vmcore.elf" "$d/vmcore-qemu-zlib.flat"
	local t0=$(date +%s.%N)
	qemu-system-x86_64 -accel tcg -cpu "$cpu" -smp $SMP -m "$mem" -display none \
		-serial file:"$d/serial.log" -no-reboot -monitor none \
		-kernel "$WORK/kernel/bzImage" -initrd "$WORK/initrd.gz" \
		-append "console=ttyS0 panic=0 kcrash.scenario=$sc" \
		-device vmcoreinfo -qmp unix:"$d/qmp.sock",server=on,wait=off &
	local qpid=$!
	echo "$mem" > "$d/mem_mib"; echo "$SMP" > "$d/ncpus"; echo "$cpu" > "$d/qemu_cpu"
	python3 "$HERE/qmp.py" "$d/qmp.sock" "$d/serial.log" 300 \
		elf:"$d/vmcore.elf" kdump-zlib:"$d/vmcore-qemu-zlib.flat" | tee "$d/qmp.log"
	wait $qpid || true
	printf 'boot+panic+dumps\t%.1f\n' "$(echo "$(date +%s.%N) - $t0" | bc)" >> "$d/timings.tsv"
	python3 "$HERE/elfcore.py" vmcoreinfo "$d/vmcore.elf" > "$d/vmcoreinfo.txt"
	grep -q '^OSRELEASE=' "$d/vmcoreinfo.txt"
	grep -q 'KCRASH-CORPUS-MARKER scenario='"$sc" "$d/serial.log"
}

timed() { # timed DIR LABEL CMD...: run CMD, append its wall time to DIR/timings.tsv
	local d=$1 label=$2; shift 2
	local t0=$(date +%s.%N)
	"$@"
	printf '%s\t%.2f\n' "$label" "$(echo "$(date +%s.%N) - $t0" | bc)" >> "$d/timings.tsv"
}

mdf_host() { makedumpfile --message-level 6 "$@"; }
mdf_trixie() { # run trixie's makedumpfile 1.7.6 on files in $WORK/$sc
	local args=() a
	for a in "$@"; do args+=("${a//$WORK//corpus}"); done
	mount_corpus
	chroot "$CHROOT" makedumpfile --message-level 6 "${args[@]}"
}

MOUNTED=()
mount_corpus() {
	mkdir -p "$CHROOT/corpus"
	if ! mountpoint -q "$CHROOT/corpus"; then
		mount --bind "$WORK" "$CHROOT/corpus"; MOUNTED+=("$CHROOT/corpus")
	fi
	# makedumpfile loops forever without /proc/meminfo
	if ! mountpoint -q "$CHROOT/proc"; then
		mount -t proc proc "$CHROOT/proc"; MOUNTED+=("$CHROOT/proc")
	fi
}
umount_corpus() { # only what this run mounted
	local m
	for m in "${MOUNTED[@]}"; do umount "$m" || true; done
	MOUNTED=()
}

derive_formats_4l() {
	local d=$WORK/qemu-4l
	timed "$d" percpu python3 "$HERE/elfcore.py" percpu "$d/vmcore.elf" "$d/vmcore-percpu.elf"
	timed "$d" fixphdr python3 "$HERE/elfcore.py" fixphdr "$d/vmcore.elf" "$d/tmp-phdr40.elf"
	rm -f "$d"/vmcore-d31-*.kdump "$d/vmcore-d31-zlib.flat" "$d/vmcore-d31.elf"
	: > "$d/makedumpfile.tsv"
	timed "$d" mdf-zlib mdf_host -c -d 31 "$d/tmp-phdr40.elf" "$d/vmcore-d31-zlib.kdump"
	echo -e "vmcore-d31-zlib.kdump\t$(makedumpfile -v | head -n1)\t-c -d 31" >> "$d/makedumpfile.tsv"
	timed "$d" mdf-lzo mdf_host -l -d 31 "$d/tmp-phdr40.elf" "$d/vmcore-d31-lzo.kdump"
	echo -e "vmcore-d31-lzo.kdump\t$(makedumpfile -v | head -n1)\t-l -d 31" >> "$d/makedumpfile.tsv"
	if makedumpfile -v | grep -q 'snappy.*enabled'; then
		timed "$d" mdf-snappy mdf_host -p -d 31 "$d/tmp-phdr40.elf" "$d/vmcore-d31-snappy.kdump"
		echo -e "vmcore-d31-snappy.kdump\t$(makedumpfile -v | head -n1)\t-p -d 31" >> "$d/makedumpfile.tsv"
	elif chroot "$CHROOT" makedumpfile -v | grep -q 'snappy.*enabled'; then
		timed "$d" mdf-snappy mdf_trixie -p -d 31 "$d/tmp-phdr40.elf" "$d/vmcore-d31-snappy.kdump"
		echo -e "vmcore-d31-snappy.kdump\t$(chroot "$CHROOT" makedumpfile -v | head -n1)\t-p -d 31" >> "$d/makedumpfile.tsv"
	else
		log "snappy: not supported by makedumpfile 1.7.2 (bookworm) nor 1.7.6 (trixie): skipped"
	fi
	if makedumpfile -v | grep -q 'zstd.*enabled'; then
		timed "$d" mdf-zstd mdf_host -z -d 31 "$d/tmp-phdr40.elf" "$d/vmcore-d31-zstd.kdump"
		echo -e "vmcore-d31-zstd.kdump\t$(makedumpfile -v | head -n1)\t-z -d 31" >> "$d/makedumpfile.tsv"
	else
		timed "$d" mdf-zstd mdf_trixie -z -d 31 "$d/tmp-phdr40.elf" "$d/vmcore-d31-zstd.kdump"
		echo -e "vmcore-d31-zstd.kdump\t$(chroot "$CHROOT" makedumpfile -v | head -n1)\t-z -d 31" >> "$d/makedumpfile.tsv"
	fi
	timed "$d" mdf-flat bash -c "makedumpfile --message-level 6 -F -c -d 31 '$d/tmp-phdr40.elf' > '$d/vmcore-d31-zlib.flat'"
	echo -e "vmcore-d31-zlib.flat\t$(makedumpfile -v | head -n1)\t-F -c -d 31" >> "$d/makedumpfile.tsv"
	timed "$d" mdf-elf mdf_host -E -d 31 "$d/tmp-phdr40.elf" "$d/vmcore-d31.elf"
	echo -e "vmcore-d31.elf\t$(makedumpfile -v | head -n1)\t-E -d 31" >> "$d/makedumpfile.tsv"
	rm -f "$d/tmp-phdr40.elf"
	echo "vmcore.elf vmcore-percpu.elf vmcore-qemu-zlib.flat $(cd "$d" && ls vmcore-d31-*.kdump | tr '\n' ' ')vmcore-d31-zlib.flat vmcore-d31.elf" > "$d/dumps.txt"
}

do_qemu_4l() {
	local d=$WORK/qemu-4l
	if [ "$FORCE" = 1 ] || [ ! -s "$d/vmcore.elf" ]; then
		rm -rf "$d"; mkdir -p "$d"
		boot_qemu_dump qemu-4l max,la57=off $MEM_QEMU
		grep -q '^NUMBER(pgtable_l5_enabled)=0' "$d/vmcoreinfo.txt"
	fi
	derive_formats_4l
}

do_qemu_5l() {
	local d=$WORK/qemu-5l
	if [ "$FORCE" = 1 ] || [ ! -s "$d/vmcore.elf" ]; then
		rm -rf "$d"; mkdir -p "$d"
		boot_qemu_dump qemu-5l max $MEM_QEMU
	fi
	grep -q '^NUMBER(pgtable_l5_enabled)=1' "$d/vmcoreinfo.txt"
	rm -f "$d/vmcore-qemu-zlib.flat"   # not kept for this scenario
	python3 "$HERE/elfcore.py" fixphdr "$d/vmcore.elf" "$d/tmp-phdr40.elf"
	: > "$d/makedumpfile.tsv"
	rm -f "$d"/vmcore-d31-*.kdump
	if makedumpfile -v | grep -q 'zstd.*enabled'; then
		timed "$d" mdf-zstd mdf_host -z -d 31 "$d/tmp-phdr40.elf" "$d/vmcore-d31-zstd.kdump"
		echo -e "vmcore-d31-zstd.kdump\t$(makedumpfile -v | head -n1)\t-z -d 31" >> "$d/makedumpfile.tsv"
	else
		timed "$d" mdf-zstd mdf_trixie -z -d 31 "$d/tmp-phdr40.elf" "$d/vmcore-d31-zstd.kdump"
		echo -e "vmcore-d31-zstd.kdump\t$(chroot "$CHROOT" makedumpfile -v | head -n1)\t-z -d 31" >> "$d/makedumpfile.tsv"
	fi
	rm -f "$d/tmp-phdr40.elf"
	echo "vmcore.elf vmcore-d31-zstd.kdump" > "$d/dumps.txt"
}

do_kdump() {
	local d=$WORK/kdump
	if [ "$FORCE" = 1 ] || [ ! -s "$d/vmcore.elf" ]; then
		rm -rf "$d"; mkdir -p "$d"
		truncate -s $(( (MEM_KDUMP + 32) * 1024 * 1024 )) "$d/disk.img"
		echo "$MEM_KDUMP" > "$d/mem_mib"; echo "$SMP" > "$d/ncpus"; echo "max,la57=off" > "$d/qemu_cpu"
		echo "$CRASHKERNEL" > "$d/crashkernel"
		local t0=$(date +%s.%N)
		timeout 900 qemu-system-x86_64 -accel tcg -cpu max,la57=off -smp $SMP -m $MEM_KDUMP \
			-display none -serial file:"$d/serial.log" -no-reboot -monitor none \
			-kernel "$WORK/kernel/bzImage" -initrd "$WORK/initrd-kdump.gz" \
			-append "console=ttyS0 panic=0 crashkernel=$CRASHKERNEL $KDUMP_EXTRA_APPEND kcrash.scenario=kdump" \
			-drive file="$d/disk.img",if=virtio,format=raw
		printf 'boot+panic+capture+poweroff\t%.1f\n' "$(echo "$(date +%s.%N) - $t0" | bc)" >> "$d/timings.tsv"
		grep -q 'kcrash-capture: done' "$d/serial.log"
		local size
		size=$(python3 "$HERE/elfcore.py" size "$d/disk.img")
		head -c "$size" "$d/disk.img" > "$d/vmcore.elf"
		rm -f "$d/disk.img"
		python3 "$HERE/elfcore.py" vmcoreinfo "$d/vmcore.elf" > "$d/vmcoreinfo.txt"
	fi
	: > "$d/makedumpfile.tsv"
	rm -f "$d/vmcore-d31-zlib.kdump"
	timed "$d" mdf-zlib mdf_host -c -d 31 "$d/vmcore.elf" "$d/vmcore-d31-zlib.kdump"
	echo -e "vmcore-d31-zlib.kdump\t$(makedumpfile -v | head -n1)\t-c -d 31" >> "$d/makedumpfile.tsv"
	echo "vmcore.elf vmcore-d31-zlib.kdump" > "$d/dumps.txt"
}

#---------------------------------------------------------------- oracle goldens
do_oracle() {
	mount_corpus

	local sc
	for sc in ${SCENARIOS:-qemu-4l qemu-5l kdump}; do
		[ -s "$WORK/$sc/dumps.txt" ] || { log "oracle: $sc has no dumps, skipped"; continue; }
		mkdir -p "$HERE/$sc"; python3 "$HERE/oracle.py" "$CHROOT" "$WORK" "$sc" "$HERE/$sc"
	done
}

#---------------------------------------------------------------- artifacts + meta
do_artifacts() {
	python3 "$HERE/artifacts.py" "$WORK" "$HERE" "$CHROOT"
	du -sh "$HERE" >&2
}

trap umount_corpus EXIT
ALL="packages kernel module initramfs chroot qemu-4l qemu-5l kdump oracle artifacts"
for s in ${*:-$ALL}; do
	case "$s" in
		packages) step packages do_packages ;;
		kernel) step kernel do_kernel ;;
		module) step module do_module ;;
		initramfs) step initramfs do_initramfs ;;
		chroot) step chroot do_chroot ;;
		qemu-4l) step qemu-4l do_qemu_4l ;;
		qemu-5l) step qemu-5l do_qemu_5l ;;
		kdump) step kdump do_kdump ;;
		oracle) step oracle do_oracle ;;
		artifacts) step artifacts do_artifacts ;;
		*) echo "unknown step $s" >&2; exit 2 ;;
	esac
done
