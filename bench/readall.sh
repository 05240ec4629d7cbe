#!/usr/bin/env bash
# Throughput of reading every page of a dump: kcrash's vmcore reader
# (BenchmarkReadAllPages) beside makedumpfile's whole-dump work on the
# same files in the same run: rearranging a flattened dump
# (makedumpfile -R) and writing the kdump from the ELF (-c -d 1).
# makedumpfile cannot decompress a kdump-compressed input back to ELF
# ("'-E' option is disable ... kdump compressed format"), so there is no
# decompress-everything reference; crash has no read-all command either.
#
# The filter step times filtering at dump level 31 (struct pages read
# and classified, the kept pages zlib-compressed): kcrash convert --to
# kdump --compress zlib --filter 31 beside makedumpfile -c -d 31 on the
# same ELF, median of $RUNS interleaved runs each (wall and CPU time:
# the machine may be shared), and checks that both kept the
# same pages.
#
# usage: bench/readall.sh [all|read|filter|convert]   (after bench/distro.sh prepare dump)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BENCH=${BENCH:-/var/tmp/kcrash-bench}
RUNS=${RUNS:-3}
step=${1:-all}
cd "$BENCH"
[ -f vmcore-phdr40.elf ] || { echo "run bench/distro.sh prepare dump first" >&2; exit 1; }

t() { /usr/bin/time -f %e "$@" 2>&1 >/dev/null | tail -n1; }
mb() { echo "scale=1; $(stat -c %s "$1") / 1048576" | bc; }
med() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
# build_kcrash DIR: a kcrash binary built from this tree, in DIR.
build_kcrash() { (cd "$ROOT" && go build -o "$1/kcrash" ./cmd/kcrash); }

read_all() {
	cd "$BENCH"
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
}

filter() {
	local tmp kc in=vmcore-phdr40.elf
	tmp=$(mktemp -d)
	kc=$tmp/kcrash
	build_kcrash "$tmp"
	cd "$BENCH"
	local mdf_out=$tmp/mdf-d31.kdump kc_out=$tmp/kcrash-d31.kdump
	# Interleaved runs, so that both see the same load on a shared machine.
	local i wm=() wk=() um=() uk=() x
	for ((i = 0; i < RUNS; i++)); do
		rm -f "$mdf_out" "$kc_out"
		x=$(/usr/bin/time -f '%e %U %S' makedumpfile -c -d 31 "$in" "$mdf_out" 2>&1 >/dev/null | tail -n1)
		wm+=("${x%% *}"); um+=("$(echo "$x" | awk '{print $2 + $3}')")
		x=$(/usr/bin/time -f '%e %U %S' "$kc" convert --to kdump --compress zlib --filter 31 "$in" "$kc_out" 2>&1 >/dev/null | tail -n1)
		wk+=("${x%% *}"); uk+=("$(echo "$x" | awk '{print $2 + $3}')")
	done
	local t_m t_k c_m c_k in_mb
	t_m=$(med "${wm[@]}"); t_k=$(med "${wk[@]}"); c_m=$(med "${um[@]}"); c_k=$(med "${uk[@]}")
	in_mb=$(mb "$in")
	echo "input: $in_mb MB ELF ($in), $(nproc) CPUs, load average $(cut -d' ' -f1 /proc/loadavg), median of $RUNS interleaved runs"
	echo "makedumpfile -c -d 31:                                wall ${t_m} s = $(echo "scale=1; $in_mb / $t_m" | bc) MB/s of input, CPU ${c_m} s; output $(mb "$mdf_out") MB"
	echo "kcrash convert --to kdump --compress zlib --filter 31: wall ${t_k} s = $(echo "scale=1; $in_mb / $t_k" | bc) MB/s of input, CPU ${c_k} s; output $(mb "$kc_out") MB"
	echo "kcrash/makedumpfile: wall $(echo "scale=3; $t_k / $t_m" | bc)x, CPU $(echo "scale=3; $c_k / $c_m" | bc)x"
	"$kc" convert --to kdump --compress zlib --filter 31 "$in" "$kc_out" | sed -n 's/^filter: /kcrash filter: /p'
	# The same pages kept? (the comparison of the corpus test, on this dump)
	(cd "$ROOT" && KCRASH_FILTER_COMPARE="$BENCH/$in $kc_out $mdf_out" \
		go test ./cmd/kcrash -run '^TestConvertFilterCompareFiles$' -count=1 -v | grep -E 'kept by|FAIL|ok')
	rm -rf "$tmp"
}

# convert: the unfiltered conversions of the issue beside makedumpfile
# -c -d 1 (zero pages only excluded) on the same ELF, interleaved runs.
convert() {
	local tmp in=vmcore-phdr40.elf
	tmp=$(mktemp -d)
	build_kcrash "$tmp"
	cd "$BENCH"
	# The conversions, makedumpfile's first (the reference); each gets
	# the input and an output path appended.
	local cmds=("makedumpfile -c -d 1" "$tmp/kcrash convert --to kdump --compress zlib"
		"$tmp/kcrash convert --to kdump --compress zlib --filter 1" "$tmp/kcrash convert --to lkcd")
	local in_mb i r
	in_mb=$(mb "$in")
	local walls=()
	for ((r = 0; r < RUNS; r++)); do # interleaved, so all see the same load
		rm -f "$tmp"/out*
		for i in "${!cmds[@]}"; do
			walls[i]+="$(t ${cmds[i]} "$in" "$tmp/out$i") "
		done
	done
	echo "input: $in_mb MB ELF ($in), $(nproc) CPUs, load average $(cut -d' ' -f1 /proc/loadavg), median of $RUNS interleaved runs"
	local base w
	base=$(med ${walls[0]})
	for i in "${!cmds[@]}"; do
		w=$(med ${walls[i]})
		echo "${cmds[i]#"$tmp/"}: wall $w s = $(echo "scale=1; $in_mb / $w" | bc) MB/s of input; $(echo "scale=2; $base / $w" | bc)x makedumpfile's throughput"
	done
	rm -rf "$tmp"
}

case $step in
	read) read_all ;;
	filter) filter ;;
	convert) convert ;;
	all) read_all; filter; convert ;;
	*) echo "usage: $0 [all|read|filter|convert]" >&2; exit 2 ;;
esac
