#!/bin/sh
# Record the crash utility's bt output on one corpus dump, as goldens for
# commands/bt_test.go (beyond the corpus's own "bt -a"/"foreach bt").
#
# usage: record.sh [DUMP]   (DUMP relative to the corpus, default qemu-4l/vmcore.elf)
#
# Needs the trixie oracle chroot (crash 8.0.6) with the corpus work dir
# bind-mounted at /corpus. Writes commands/testdata/bt/<dump>/NNN.txt,
# index.tsv ("file<TAB>command") and meta.txt (the dump's sha256, so the
# test skips goldens of another build of the dump).
set -eu
CHROOT=${CHROOT:-/var/cache/kcrash/trixie-oracle}
CORPUS=${CORPUS:-/var/tmp/kcrash-corpus}
DUMP=${1:-qemu-4l/vmcore.elf}
HERE=$(cd "$(dirname "$0")" && pwd)
OUT="$HERE/$(echo "$DUMP" | tr / _)"
TMP="$CHROOT/tmp/kcrash-bt.$$"
mkdir -p "$TMP"
trap 'rm -rf "$TMP"' EXIT

cat > "$TMP/list.txt" <<CMDS
bt
bt -a
bt -f
bt -l
bt -s
bt -sx
bt -t
bt -c 0
bt -a -f
bt -a -l
bt -a -t
bt 1
bt -f 1
bt -l 1
bt -T 1
bt -sx 2
bt -r 1
bt -g 1
foreach bt -sx
foreach bt -l
CMDS
rm -rf "$OUT"
mkdir -p "$OUT"
: > "$TMP/cmds.txt"
: > "$OUT/index.tsv"
n=0
while IFS= read -r c; do
	n=$((n + 1))
	f=$(printf '%03d.txt' $n)
	printf '%s > /tmp/%s/%s\n' "$c" "$(basename "$TMP")" "$f" >> "$TMP/cmds.txt"
	printf '%s\t%s\n' "$f" "$c" >> "$OUT/index.tsv"
done < "$TMP/list.txt"
echo exit >> "$TMP/cmds.txt"
chroot "$CHROOT" crash -s /corpus/kernel/vmlinux "/corpus/$DUMP" -i "/tmp/$(basename "$TMP")/cmds.txt" </dev/null > "$TMP/session.log" 2>&1 || true
for f in "$TMP"/[0-9]*.txt; do cp "$f" "$OUT/"; done
sha256sum "$CORPUS/$DUMP" | cut -d' ' -f1 > "$OUT/meta.txt"
echo "recorded $n commands into $OUT"
