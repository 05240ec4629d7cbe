package commands_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kcrash/kcrash/analyze"
	"github.com/kcrash/kcrash/internal/coretest"
)

// Oracle tests for sym, rd -s, vtop, ptov and dis: every matching crash
// golden of the corpus (testdata/cores/<scenario>/oracle/crash/<dump>/)
// and the outputs recorded for these commands in testdata/xlat/ (by
// testdata/xlat/record.sh) is run through the Runner and compared byte for
// byte after these documented normalisations:
//
//   - "path/file.c: 278": only the file's base name and the line count;
//     the corpus goldens have the build directory rewritten.
//   - vtop: crash prints the "PAGE PHYSICAL MAPPING ..." header only for the
//     first struct page it shows in a session (HEADER_PRINTED stays set in
//     pc->curcmd_flags until an error resets it); kcrash prints it every
//     time, so it is dropped from kcrash's output where crash left it out.
//   - errors: kcrash writes them to stderr as "cmd: message", crash into
//     the output; both streams are compared, stdout first.
//
// Module symbols come from the loaded modules' own tables
// (mod->kallsyms), as crash reads them.

var (
	rePathLine = regexp.MustCompile(`(?m)(?:\S*/)?([^/\s]+): (\d+)$`)
	pageHeader = "      PAGE       PHYSICAL      MAPPING       INDEX CNT FLAGS\n"
)

func isXlatCommand(cmd string) bool {
	for _, p := range []string{"sym ", "vtop ", "ptov ", "dis ", "rd -s"} {
		if strings.HasPrefix(cmd, p) {
			return true
		}
	}
	return false
}

func normalizeXlat(s string) string {
	return rePathLine.ReplaceAllString(s, "$1: $2")
}

// compareXlat runs one golden and compares.
func compareXlat(t *testing.T, k *analyze.Kernel, dump, cmd, want, file string) {
	t.Helper()
	out, errOut, _ := runCmd(k, dump, cmd)
	got := out + errOut
	if strings.HasPrefix(cmd, "vtop") && !strings.Contains(want, pageHeader) {
		got = strings.Replace(got, pageHeader, "", -1)
	}
	if g, w := normalizeXlat(got), normalizeXlat(want); g != w {
		t.Errorf("%s: %s (%s)\n%s", dump, cmd, file, xlatDiff(g, w))
	}
}

// xlatDiff shows where two outputs part, with a line of context.
func xlatDiff(got, want string) string {
	g, w := strings.SplitAfter(got, "\n"), strings.SplitAfter(want, "\n")
	for i := 0; i < max(len(g), len(w)); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d:\n  kcrash: %q\n  crash:  %q\n(%d lines vs %d)", i+1, gl, wl, len(g), len(w))
		}
	}
	return "?"
}

// TestXlatCorpusGoldens compares the corpus goldens for these commands.
func TestXlatCorpusGoldens(t *testing.T) {
	if testing.Short() {
		t.Skip("corpus test")
	}
	for _, sc := range coretest.Scenarios(t) {
		for _, dump := range coretest.Dumps(t, sc) {
			t.Run(sc+"/"+dump, func(t *testing.T) {
				var gs []coretest.Golden
				for _, g := range coretest.Goldens(t, sc, dump) {
					if isXlatCommand(g.Command) {
						gs = append(gs, g)
					}
				}
				if len(gs) == 0 {
					t.Skip("no sym/vtop/ptov/dis goldens")
				}
				k := openKernelVmlinux(t, sc, dump)
				for _, g := range gs {
					compareXlat(t, k, dump, g.Command, g.Output, g.File)
				}
				t.Logf("%d goldens compared", len(gs))
			})
		}
	}
}

// TestXlatRecorded compares the outputs recorded in testdata/xlat/
// (<scenario>_<dump>/NNN.txt, index.tsv). They were recorded on one build
// of the corpus; a rebuilt corpus (another KASLR offset) skips them.
func TestXlatRecorded(t *testing.T) {
	if testing.Short() {
		t.Skip("corpus test")
	}
	dirs, _ := filepath.Glob(filepath.Join("testdata", "xlat", "*", "index.tsv"))
	if len(dirs) == 0 {
		t.Fatal("no recordings in testdata/xlat")
	}
	for _, idx := range dirs {
		dir := filepath.Dir(idx)
		sc, dump, ok := strings.Cut(filepath.Base(dir), "_")
		if !ok {
			continue
		}
		t.Run(sc+"/"+dump, func(t *testing.T) {
			if _, err := os.Stat(filepath.Join(coretest.Root(t), sc)); err != nil {
				t.Skipf("corpus has no %s", sc)
			}
			recs := readIndex(t, dir)
			k := openKernelVmlinux(t, sc, dump)
			// The recording is only valid for the same build of the dump.
			if out, _, _ := runCmd(k, dump, recs[0].cmd); recs[0].cmd != "sym jiffies" || out != recs[0].out {
				t.Skipf("recorded on another build of %s/%s (%s: %q, now %q)", sc, dump, recs[0].cmd, recs[0].out, out)
			}
			for _, r := range recs {
				compareXlat(t, k, dump, r.cmd, r.out, r.file)
			}
			t.Logf("%d recordings compared", len(recs))
		})
	}
}

type recording struct{ file, cmd, out string }

func readIndex(t *testing.T, dir string) []recording {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "index.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []recording
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		file, cmd, ok := strings.Cut(sc.Text(), "\t")
		if !ok {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, recording{filepath.Join(dir, file), cmd, string(b)})
	}
	if len(out) == 0 {
		t.Fatalf("%s: empty index", dir)
	}
	return out
}

// TestSymKallsymsAgree checks that without a vmlinux (symbols from the
// dump's kallsyms) sym names every text symbol as with it, at the same
// address, and prints no line numbers.
func TestSymKallsymsAgree(t *testing.T) {
	if testing.Short() {
		t.Skip("corpus test")
	}
	sc, dump := "qemu-4l", "vmcore.elf"
	kv := openKernelVmlinux(t, sc, dump)
	kk := openKernel(t, sc, dump)
	vt, err := kv.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	kt, err := kk.Kallsyms()
	if err != nil {
		t.Fatal(err)
	}
	inKallsyms := map[string]map[uint64]bool{}
	for _, s := range kt.All() {
		if inKallsyms[s.Name] == nil {
			inKallsyms[s.Name] = map[uint64]bool{}
		}
		inKallsyms[s.Name][s.Addr] = true
	}
	checked, missing := 0, 0
	for _, s := range vt.All() {
		if s.Type != 't' && s.Type != 'T' {
			continue
		}
		checked++
		if !inKallsyms[s.Name][s.Addr] {
			missing++
			if missing <= 10 {
				t.Errorf("text symbol %s at %#x: not in kallsyms at that address", s.Name, s.Addr)
			}
		}
	}
	if missing > 0 || checked < 1000 {
		t.Errorf("%d of %d text symbols missing from kallsyms", missing, checked)
	}
	panicSym, _ := vt.Lookup("panic")
	for _, cmd := range []string{"sym panic", "sym " + strings.TrimPrefix(hexAddr(panicSym.Addr+16), "0x")} {
		got, _, _ := runCmd(kk, dump, cmd)
		withV, _, _ := runCmd(kv, dump, cmd)
		// Same text up to the line-number suffix crash adds from DWARF.
		if i := strings.LastIndex(withV, " /"); i < 0 || got != withV[:i]+"\n" {
			t.Errorf("%s: kallsyms %q, vmlinux %q", cmd, got, withV)
		}
	}
}

func hexAddr(v uint64) string {
	const digits = "0123456789abcdef"
	b := []byte("0x0000000000000000")
	for i := 17; i >= 2; i-- {
		b[i] = digits[v&15]
		v >>= 4
	}
	return string(b)
}
