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
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../record-lib.sh"
record_setup bt "$@"

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
record_list
