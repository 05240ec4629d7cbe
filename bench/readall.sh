#!/usr/bin/env bash
# Throughput of reading every page of a dump: kcrash's vmcore reader
# (BenchmarkReadAllPages) beside makedumpfile's whole-dump work on the
# same files in the same run: rearranging a flattened dump
# (makedumpfile -R) and writing the kdump from the ELF (-c -d 1).
# makedumpfile cannot decompress a kdump-compressed input back to ELF
# ("'-E' option is disable ... kdump compressed format"), so there is no
# decompress-everything reference; crash has no read-all command either.
#
# usage: bench/readall.sh   (after bench/distro.sh prepare dump)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BENCH=${BENCH:-/var/tmp/kcrash-bench}
cd "$BENCH"
[ -f vmcore-phdr40.elf ] || { echo "run bench/distro.sh prepare dump first" >&2; exit 1; }

t() { /usr/bin/time -f %e "$@" 2>&1 >/dev/null | tail -n1; }
mb() { echo "scale=1; $(stat -c %s "$1") / 1048576" | bc; }

rm -f d1.kdump d1.flat d1-rearranged.kdump
t_c=$(t makedumpfile -c -d 1 vmcore-phdr40.elf d1.kdump)
makedumpfile -F -c -d 1 vmcore-phdr40.elf > d1.flat 2>/dev/null
t_r=$(t sh -c 'makedumpfile -R d1-rearranged.kdump < d1.flat')
echo "input: $(mb vmcore.elf) MB ELF; kdump -c -d 1: $(mb d1.kdump) MB; flattened: $(mb d1.flat) MB"
echo "makedumpfile -c -d 1 (ELF -> kdump, compresses every non-zero page): ${t_c} s = $(echo "scale=1; $(mb vmcore.elf) / $t_c" | bc) MB/s of input"
echo "makedumpfile -R (flattened -> kdump, copies records, no decompression): ${t_r} s = $(echo "scale=1; $(mb d1.flat) / $t_r" | bc) MB/s of input"
cd "$ROOT"
KCRASH_BENCH_DUMPS="$BENCH/vmcore.elf $BENCH/d1.kdump $BENCH/d1.flat $BENCH/vmcore-d31.kdump" \
	go test ./vmcore -run '^$' -bench BenchmarkReadAllPages -benchtime 3x
rm -f "$BENCH"/d1-rearranged.kdump
