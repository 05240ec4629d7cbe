#!/bin/sh
# record.sh CMDS SCENARIO DUMP OUTDIR
#
# Records the crash utility's (8.0.6, the Debian trixie oracle chroot)
# output for each line of CMDS on one corpus dump, as OUTDIR/NNN.txt plus
# OUTDIR/index.tsv ("file<TAB>command"), the layout of the corpus goldens.
# Crash runs once, every command redirected to its own file (as
# testdata/cores/oracle.py does), so the state crash keeps between
# commands is the same as in the corpus goldens.
#
#   CHROOT  the oracle chroot (default /var/cache/kcrash/trixie-oracle)
#   CORES   corpus root as seen inside the chroot (default /corpus), holding
#           kernel/vmlinux and SCENARIO/DUMP
#
# The recordings here: qemu-4l.cmds on qemu-4l vmcore.elf, qemu-4l-d31.cmds on
# vmcore-d31.elf, qemu-5l.cmds on qemu-5l vmcore-d31-zstd.kdump (the dumps of the
# committed corpus; a rebuilt corpus makes the test skip them).
set -eu
CMDS=$1 SC=$2 DUMP=$3 OUT=$4
CHROOT=${CHROOT:-/var/cache/kcrash/trixie-oracle}
CORES=${CORES:-/corpus}
tmp=$(mktemp -d "$CHROOT/tmp/xlat-rec.XXXXXX")
ctmp=/tmp/$(basename "$tmp")
trap 'rm -rf "$tmp"' EXIT
i=0
: > "$tmp/index.tsv"
while IFS= read -r c; do
	[ -n "$c" ] || continue
	i=$((i + 1))
	f=$(printf '%03d.txt' $i)
	printf '%s > %s/%s\n' "$c" "$ctmp" "$f" >> "$tmp/in.txt"
	printf '%s\t%s\n' "$f" "$c" >> "$tmp/index.tsv"
done < "$CMDS"
echo exit >> "$tmp/in.txt"
chroot "$CHROOT" crash -s "$CORES/kernel/vmlinux" "$CORES/$SC/$DUMP" -i "$ctmp/in.txt" \
	< /dev/null > "$tmp/console.txt" 2>&1 || true
mkdir -p "$OUT"
rm -f "$OUT"/[0-9][0-9][0-9].txt
cp "$tmp/index.tsv" "$OUT/index.tsv"
cut -f1 "$tmp/index.tsv" | while read -r f; do
	if [ -f "$tmp/$f" ]; then cp "$tmp/$f" "$OUT/$f"; else : > "$OUT/$f"; fi
done
