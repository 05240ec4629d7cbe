package main

import (
	"context"
	"crypto/sha256"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kcrash/kcrash/analyze"
	"github.com/kcrash/kcrash/internal/coretest"
	"github.com/kcrash/kcrash/vmcore"
)

// corpusDump returns the path of a corpus dump: an unfiltered one
// (vmcore.elf) or one makedumpfile filtered (-d 31), preferring ELF, from
// the first scenario that has one.
func corpusDump(t *testing.T, filtered bool) string {
	t.Helper()
	var fallback string
	for _, sc := range coretest.Scenarios(t) {
		for _, d := range coretest.Dumps(t, sc) {
			switch {
			case !filtered && d == "vmcore.elf", filtered && strings.Contains(d, "d31") && strings.HasSuffix(d, ".elf"):
				return coretest.Path(t, sc+"/"+d)
			case filtered && strings.Contains(d, "d31") && fallback == "":
				fallback = sc + "/" + d
			}
		}
	}
	if fallback == "" {
		t.Skipf("no %s dump in the corpus", map[bool]string{true: "filtered", false: "unfiltered"}[filtered])
	}
	return coretest.Path(t, fallback)
}

func sha(t *testing.T, path string) [32]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}

// leftovers lists the files in dir other than the input.
func leftovers(t *testing.T, dir string, except ...string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
next:
	for _, e := range ents {
		for _, x := range except {
			if e.Name() == x {
				continue next
			}
		}
		out = append(out, e.Name())
	}
	return out
}

func TestConvertCommand(t *testing.T) {
	in := corpusDump(t, false)
	for _, to := range []string{"lkcd", "elf", "kdump"} {
		t.Run(to, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out."+to)
			stdout, stderr, code := kcrash(t, "", "convert", "--to", to, "--verify", in, out)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if !strings.Contains(stdout, "verified: ") || !strings.Contains(stdout, "pages identical") {
				t.Errorf("stdout %q", stdout)
			}
			if to == "lkcd" && !strings.Contains(stdout, "crash --kaslr=0x") {
				t.Errorf("no crash command line for the LKCD file: %q", stdout)
			}
			if l := leftovers(t, dir, "out."+to); len(l) > 0 {
				t.Errorf("left behind: %q", l)
			}
			// dumpinfo shows what the converted file records.
			info, errOut, code := kcrash(t, "", "dumpinfo", out)
			if code != 0 {
				t.Fatalf("dumpinfo: exit %d: %s", code, errOut)
			}
			if to == "kdump" {
				// The header's utsname comes from init_uts_ns.
				d, err := vmcore.Open(out, vmcore.Options{})
				if err != nil {
					t.Fatal(err)
				}
				if u := d.Kdump().Utsname; u.Sysname != "Linux" || u.Version == "" || u.Nodename == "" {
					t.Errorf("kdump header utsname %+v: not read from init_uts_ns", u)
				}
				d.Close()
			}
			for _, want := range []string{"KASLR OFFSET: 0x", "PHYS_BASE: ", "RELEASE: 6."} {
				if !strings.Contains(info, want) {
					t.Errorf("dumpinfo lacks %q:\n%s", want, info)
				}
			}
		})
	}
}

// TestConvertLKCDPlain writes an LKCD file without kcrash's notes, as
// lcrash-era tools would have, and checks what dumpinfo still shows:
// the registers from the asm header, the release, the panic string.
func TestConvertLKCDPlain(t *testing.T) {
	in := corpusDump(t, false)
	out := filepath.Join(t.TempDir(), "plain.lkcd")
	if _, stderr, code := kcrash(t, "", "convert", "--to", "lkcd", "--lkcd-plain", "--lkcd-version", "9", "--panic-string", "test panic", in, out); code != 0 {
		t.Fatalf("convert: %s", stderr)
	}
	info, stderr, code := kcrash(t, "", "dumpinfo", out)
	if code != 0 {
		t.Fatalf("dumpinfo: %s", stderr)
	}
	for _, want := range []string{"LKCD version 0x9", `PANIC: "test panic"`, "RELEASE: 6.", "give --kaslr", "0xffffffff"} {
		if !strings.Contains(info, want) {
			t.Errorf("dumpinfo lacks %q:\n%s", want, info)
		}
	}
}

func TestConvertRefusals(t *testing.T) {
	filtered := corpusDump(t, true)
	dir := t.TempDir()
	tests := []struct {
		name   string
		args   []string
		errHas string
	}{
		{"lkcd of a filtered dump", []string{"--to", "lkcd", filtered}, "excluded-as-zero"},
		{"filter level", []string{"--to", "kdump", "--filter", "32", filtered}, "not a dump level"},
		{"lkcd filter", []string{"--to", "lkcd", "--filter", "1", filtered}, "LKCD cannot"},
		{"elf compression", []string{"--to", "elf", "--compress", "zlib", filtered}, "not compressed"},
		{"format", []string{"--to", "diskdump", filtered}, "want lkcd"},
		{"same file", []string{"--to", "elf", filtered, filtered}, "same file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"convert"}, tc.args...)
			out := filepath.Join(dir, "out")
			if len(tc.args) == 3 || len(tc.args) == 5 {
				args = append(args, out)
			}
			_, stderr, code := kcrash(t, "", args...)
			if code == 0 || !strings.Contains(stderr, tc.errHas) {
				t.Errorf("exit %d, stderr %q: want failure mentioning %q", code, stderr, tc.errHas)
			}
			if l := leftovers(t, dir); len(l) > 0 {
				t.Errorf("left behind: %q", l)
			}
		})
	}
	// With the explicit option the excluded pages are written as zeros
	// and counted.
	out := filepath.Join(dir, "ok.lkcd")
	stdout, stderr, code := kcrash(t, "", "convert", "--to", "lkcd", "--excluded-as-zero", "--verify", filtered, out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if strings.Contains(stdout, " 0 excluded written as zero") || !strings.Contains(stdout, "excluded pages read as zero") {
		t.Errorf("stdout does not account for the excluded pages: %q", stdout)
	}
	// --filter 1 keeps the kdump file's zero pages as its shared zero
	// page (verified to read as zeros) and drops them from an ELF file.
	unfiltered := corpusDump(t, false)
	out = filepath.Join(dir, "f1.kdump")
	stdout, stderr, code = kcrash(t, "", "convert", "--to", "kdump", "--filter", "1", "--verify", unfiltered, out)
	if code != 0 || !strings.Contains(stdout, " 0 zero pages dropped") || !strings.Contains(stdout, "all-zero stored as the shared zero page") ||
		strings.Contains(stdout, "(0 all-zero") {
		t.Fatalf("kdump: exit %d: %s%s", code, stdout, stderr)
	}
	out = filepath.Join(dir, "f1.elf")
	stdout, stderr, code = kcrash(t, "", "convert", "--to", "elf", "--filter", "1", "--verify", unfiltered, out)
	if code != 0 || strings.Contains(stdout, " 0 zero pages dropped") || strings.Contains(stdout, "shared zero page") {
		t.Fatalf("elf: exit %d: %s%s", code, stdout, stderr)
	}
}

// TestConvertChildProcess is not a test: TestConvertInterrupted runs the
// test binary again with this test selected to get a kcrash process.
func TestConvertChildProcess(t *testing.T) {
	args := os.Getenv("KCRASH_CONVERT_CHILD")
	if args == "" {
		t.Skip("helper process for TestConvertInterrupted")
	}
	os.Exit(run(context.Background(), strings.Split(args, "\x1f"), os.Stdin, os.Stdout, os.Stderr))
}

// TestConvertInterrupted kills a conversion midway, with SIGKILL (no
// chance to clean up) and SIGINT (clean up), and checks that nothing
// appears under the output name and the input is unchanged.
func TestConvertInterrupted(t *testing.T) {
	in := corpusDump(t, false)
	before := sha(t, in)
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out.kdump")
			// A pre-existing file under the name must survive too.
			if err := os.WriteFile(out, []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestConvertChildProcess$")
			cmd.Env = append(os.Environ(), "KCRASH_CONVERT_CHILD="+strings.Join(
				[]string{"convert", "--to", "kdump", "--compress", "zlib", "--workers", "1", in, out}, "\x1f"))
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Wait until the temporary file holds some pages.
			deadline := time.Now().Add(60 * time.Second)
			for {
				var size int64
				tmps, _ := filepath.Glob(filepath.Join(dir, ".out.kdump.kcrash-*.tmp"))
				for _, p := range tmps {
					if st, err := os.Stat(p); err == nil {
						size = st.Size()
					}
				}
				if size > 1<<20 {
					break
				}
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					cmd.Wait()
					t.Fatal("the conversion never got going")
				}
				time.Sleep(5 * time.Millisecond)
			}
			cmd.Process.Signal(sig)
			err := cmd.Wait()
			if err == nil {
				t.Fatal("the conversion finished before the signal: nothing tested")
			}
			if b, err := os.ReadFile(out); err != nil || string(b) != "old" {
				t.Errorf("the file under the output name changed: %q, %v", b, err)
			}
			if sha(t, in) != before {
				t.Error("the input changed")
			}
			l := leftovers(t, dir, "out.kdump")
			if sig == syscall.SIGINT && len(l) > 0 {
				t.Errorf("SIGINT left %q behind", l)
			}
			t.Logf("%v: exit %v, left in the directory besides out: %q", sig, err, l)
		})
	}
}

// TestConvertedFilesOpen is a smoke test of the vmcore side of convert
// on a dump written with every compression.
func TestConvertedFilesOpen(t *testing.T) {
	in := corpusDump(t, true)
	d, err := vmcore.Open(in, vmcore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	dir := t.TempDir()
	for _, c := range []string{"zstd", "snappy", "none"} {
		out := filepath.Join(dir, c+".kdump")
		if _, stderr, code := kcrash(t, "", "convert", "--to", "kdump", "--compress", c, in, out); code != 0 {
			t.Fatalf("%s: %s", c, stderr)
		}
		o, err := vmcore.Open(out, vmcore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := o.Compression(); got != c && !(c == "none" && got == "none") {
			t.Errorf("%s: compression reads back as %s", c, got)
		}
		o.Close()
	}
}

func TestPanicMessage(t *testing.T) {
	rec := func(s string) analyze.LogRecord { return analyze.LogRecord{Text: s, HasText: true} }
	tests := []struct {
		log  []analyze.LogRecord
		want string
	}{
		{[]analyze.LogRecord{rec("sysrq: Trigger a crash"), rec("Kernel panic - not syncing: sysrq triggered crash"), rec("CPU: 0 PID: 46")},
			"Kernel panic - not syncing: sysrq triggered crash"},
		// crash prefers the more severe message wherever it is in the log.
		{[]analyze.LogRecord{rec("Oops: 0002 [#1] SMP"), rec("x\nKernel panic - not syncing: Fatal exception")},
			"Kernel panic - not syncing: Fatal exception"},
		{[]analyze.LogRecord{rec("BUG: unable to handle kernel NULL pointer dereference at 0"), rec("Oops: 0002")},
			"BUG: unable to handle kernel NULL pointer dereference at 0"},
		{[]analyze.LogRecord{rec("all quiet")}, ""},
	}
	for _, tc := range tests {
		if got := panicMessage(tc.log); got != tc.want {
			t.Errorf("panicMessage = %q, want %q", got, tc.want)
		}
	}
}
