# Shared by */record.sh: record the crash utility's output for a list of
# commands on one corpus dump, in the trixie oracle chroot (crash 8.0.6)
# with the corpus work dir bind-mounted at /corpus.
#
# A script sources this file, calls record_setup NAME [DUMP], writes its
# commands to "$TMP/list.txt" (using crash for discovery if it must) and
# calls record_list. The result is $HERE/<dump>/NNN.txt, index.tsv
# ("file<TAB>command", as testdata/cores/*/oracle/crash) and meta.txt
# (the dump's sha256, so a test skips goldens of another build).

record_setup() {
	CHROOT=${CHROOT:-/var/cache/kcrash/trixie-oracle}
	CORPUS=${CORPUS:-/var/tmp/kcrash-corpus}
	DUMP=${2:-qemu-4l/vmcore.elf}
	OUT="$HERE/$(echo "$DUMP" | tr / _)"
	TMP="$CHROOT/tmp/kcrash-$1.$$"
	mkdir -p "$TMP"
	trap 'rm -rf "$TMP"' EXIT
}

# crash runs the commands of $TMP/cmds.txt in one session.
crash() { chroot "$CHROOT" crash -s /corpus/kernel/vmlinux "/corpus/$DUMP" -i "/tmp/$(basename "$TMP")/cmds.txt" </dev/null; }

# record_list runs every line of $TMP/list.txt, each into its own file.
record_list() {
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
	crash > "$TMP/session.log" 2>&1 || true
	for f in "$TMP"/[0-9]*.txt; do cp "$f" "$OUT/"; done
	sha256sum "$CORPUS/$DUMP" | cut -d' ' -f1 > "$OUT/meta.txt"
	echo "recorded $n commands into $OUT"
}
