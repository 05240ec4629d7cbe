package commands_test

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kcrash/kcrash/internal/coretest"
)

// kernelKnownDiffs are goldens kcrash knowingly does not reproduce.
var kernelKnownDiffs = map[string]string{
	"sys": "KERNEL and DUMPFILE name files; TestSysGoldensFieldByField compares the rest",
}

// TestKernelCommandGoldens runs every command recorded by
// testdata/kernel/record.sh (ps and all its options, sys, mod, kmem -i,
// task, foreach) and compares the output with crash's byte for byte.
// Where crash reports an error in its output, kcrash must fail with the
// same message. Goldens recorded from another build of a dump are
// skipped.
func TestKernelCommandGoldens(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join("testdata", "kernel", "*", "index.tsv"))
	if len(dirs) == 0 {
		t.Fatal("no goldens under testdata/kernel")
	}
	compared := 0
	for _, idx := range dirs {
		dir := filepath.Dir(idx)
		sc, dump, _ := strings.Cut(filepath.Base(dir), "_")
		t.Run(sc+"/"+dump, func(t *testing.T) {
			path := coretest.Path(t, sc+"/"+dump)
			want, err := os.ReadFile(filepath.Join(dir, "meta.txt"))
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := coretest.FileSHA256(path); got != strings.TrimSpace(string(want)) {
				t.Skipf("%s is another build than the goldens were recorded from", path)
			}
			k := openKernelVmlinux(t, sc, dump)
			f, err := os.Open(idx)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			s := bufio.NewScanner(f)
			for s.Scan() {
				file, cmd, ok := strings.Cut(s.Text(), "\t")
				if !ok {
					continue
				}
				gold, err := os.ReadFile(filepath.Join(dir, file))
				if err != nil {
					t.Fatal(err)
				}
				out, errOut, failed := runCmd(k, dump, cmd)
				if why, ok := kernelKnownDiffs[cmd]; ok {
					t.Logf("%s: not compared: %s", cmd, why)
					continue
				}
				compared++
				if failed > 0 {
					// crash prints "cmd: message" in its output.
					msg := strings.TrimSpace(errOut)
					if i := strings.Index(msg, "\n"); i >= 0 {
						msg = msg[:i]
					}
					if !strings.Contains(string(gold), msg) {
						t.Errorf("%s (%s) failed: %s; crash printed:\n%s", cmd, file, errOut, gold)
					}
					continue
				}
				if out != string(gold) {
					t.Errorf("%s (%s) differs:\n%s", cmd, file, firstDiff(out, string(gold)))
				}
			}
		})
	}
	t.Logf("%d commands compared", compared)
}
