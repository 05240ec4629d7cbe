#!/usr/bin/env bash
# Throughput of reading every page of a dump: kcrash's vmcore reader
# (BenchmarkReadAllPages) beside makedumpfile doing comparable whole-dump
# work on the same files in the same run: rearranging a flattened dump
# (makedumpfile -R) and decompressing a kdump-compressed one into ELF
# (makedumpfile -E -d 0 on a kdump input).
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

rm -f d1.kdump d1.flat d1-rearranged.kdump d1-out.elf
makedumpfile -c -d 1 vmcore-phdr40.elf d1.kdump >/dev/null 2>&1
makedumpfile -F -c -d 1 vmcore-phdr40.elf > d1.flat 2>/dev/null
t_r=$(t sh -c 'makedumpfile -R d1-rearranged.kdump < d1.flat')
t_e=$(t makedumpfile -E -d 0 d1.kdump d1-out.elf)
mem=$(mb d1-out.elf)
echo "input: $(mb vmcore.elf) MB ELF; kdump -c -d 1: $(mb d1.kdump) MB; holds ~$mem MB of pages"
echo "makedumpfile -R (flattened -> kdump, no decompression): ${t_r} s"
echo "makedumpfile -E (kdump -> ELF, decompresses every page): ${t_e} s = $(echo "scale=1; $mem / $t_e" | bc) MB/s"
cd "$ROOT"
KCRASH_BENCH_DUMPS="$BENCH/vmcore.elf $BENCH/d1.kdump $BENCH/d1.flat $BENCH/vmcore-d31.kdump" \
	go test ./vmcore -run '^$' -bench BenchmarkReadAllPages -benchtime 3x
rm -f "$BENCH"/d1-rearranged.kdump "$BENCH"/d1-out.elf
