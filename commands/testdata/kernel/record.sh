#!/bin/sh
# Record the crash utility's output for the kernel-model commands (ps and
# its options, sys, mod, kmem -i, task, foreach) on one corpus dump, as
# goldens for commands/kernel_more_test.go: the corpus goldens hold only
# plain ps, sys, mod and kmem -i.
#
# usage: record.sh [DUMP]   (DUMP relative to the corpus, default qemu-4l/vmcore.elf)
#
# Needs the trixie oracle chroot (crash 8.0.6) with the corpus work dir
# bind-mounted at /corpus. Writes commands/testdata/kernel/<dump>/NNN.txt,
# index.tsv ("file<TAB>command") and meta.txt (the dump's sha256, so the
# test skips goldens of another build of the corpus).
#
# "ps -g" comes first: crash keeps two ps flags for the rest of a session
# (TASK_SPECIFIED after any ps with operands, which makes a later "ps -g"
# list a thread's group again under the thread; IDLE_TASK_SHOWN after
# the idle tasks' group was shown), and kcrash runs each command afresh.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../record-lib.sh"
record_setup kernel "$@"

printf 'p &init_task\nexit\n' > "$TMP/cmds.txt"
init=$(crash | sed -n 's/^\$[0-9]* = (struct task_struct \*) 0x\([0-9a-f]*\).*/\1/p')
[ -n "$init" ] || { echo "discovery failed"; exit 1; }

cat > "$TMP/list.txt" <<CMDS
ps -g
sys
ps
ps -k
ps -u
ps -G
ps -s
ps -S
ps -A
ps -H
ps -p
ps -c
ps -t
ps -a
ps -r 1
ps -p 46
ps -c 1
ps -c 2
ps 1 kc-sleeper
ps 0
ps swapper/1
ps 999
ps -k 1
ps -u 2
ps -G 42
ps -t 1
ps -t kc-sleeper 1
ps -a 1
ps -a 2
ps -r kc-sleeper
ps -s 1
ps $init
ps -u -G
ps -k -s
ps -y FIFO
ps -y normal,rr
ps -k -y 1
mod
mod -t
kmem -i
task
task 46
task 2
task 2 46
task -R pid,comm 1
task -R se.load 46
task -R mm
foreach ps
foreach kernel ps
foreach user ps
foreach RU ps
foreach IN ps
foreach ID ps
foreach active ps
foreach gleader ps
foreach kc-sleeper ps
foreach 1 2 ps
foreach -s ps
foreach -c ps
foreach -p kc-sleeper ps
foreach -t user ps
foreach -a 1 ps
foreach -r 1 ps
foreach 46 task
foreach 2 task
foreach 2 46 task
ps -g 42
ps -g 39 1
CMDS
record_list
