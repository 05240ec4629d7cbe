package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kcrash/kcrash/internal/coretest"
)

// oracleChroot returns the Debian trixie chroot holding crash 8.0.6
// (testdata/cores/oracle-chroot.sh), or skips. With KCRASH_ORACLE=1 (CI
// runs the script first) a missing chroot fails instead.
func oracleChroot(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("KCRASH_ORACLE_CHROOT")
	if dir == "" {
		dir = "/var/cache/kcrash/trixie-oracle"
	}
	why := ""
	switch {
	case testing.Short():
		t.Skip("runs crash four times")
	case os.Geteuid() != 0:
		why = "chroot needs root"
	default:
		if _, err := os.Stat(filepath.Join(dir, "usr/bin/crash")); err != nil {
			why = "no crash in " + dir + " (run testdata/cores/oracle-chroot.sh)"
		}
	}
	if why != "" {
		if os.Getenv("KCRASH_ORACLE") == "1" {
			t.Fatalf("KCRASH_ORACLE=1 but %s", why)
		}
		t.Skip(why)
	}
	return dir
}

// linkOrCopy puts src at dst, by a hard link when both are on one file
// system (the corpus and the chroot usually are).
func linkOrCopy(t *testing.T, src, dst string) {
	t.Helper()
	if real, err := filepath.EvalSymlinks(src); err == nil {
		src = real
	}
	if os.Link(src, dst) == nil {
		return
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

var oracleCommands = []string{"sys", "ps", "log", "bt -a"}

// crashRun runs crash -s on dump inside the chroot and returns each
// command's output, its paths reduced to base names.
func crashRun(t *testing.T, chroot, work, dump string, extra ...string) map[string]string {
	t.Helper()
	inside := func(p string) string { return "/" + strings.TrimPrefix(p, chroot+"/") }
	name := filepath.Base(dump)
	cmds := ""
	for i, c := range oracleCommands {
		cmds += fmt.Sprintf("%s > %s\n", c, inside(filepath.Join(work, fmt.Sprintf("%s.%d.txt", name, i))))
	}
	cmds += "exit\n"
	cmdFile := filepath.Join(work, name+".cmds")
	if err := os.WriteFile(cmdFile, []byte(cmds), 0o644); err != nil {
		t.Error(err) // not Fatal: called from several goroutines
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	args := append([]string{chroot, "crash", "-s"}, extra...)
	args = append(args, inside(filepath.Join(work, "vmlinux")), inside(dump), "-i", inside(cmdFile))
	out, err := exec.CommandContext(ctx, "chroot", args...).CombinedOutput()
	if err != nil {
		t.Errorf("crash on %s: %v\n%s", name, err, out)
		return nil
	}
	res := map[string]string{}
	for i, c := range oracleCommands {
		b, err := os.ReadFile(filepath.Join(work, fmt.Sprintf("%s.%d.txt", name, i)))
		if err != nil {
			t.Errorf("crash on %s, %s: %v\n%s", name, c, err, out)
			continue
		}
		res[c] = strings.ReplaceAll(string(b), inside(work)+"/", "")
	}
	return res
}

var dumpfileLine = regexp.MustCompile(`(?m)^ *DUMPFILE: .*\n`)

// btBlocks splits bt -a output into one block per task.
func btBlocks(s string) []string {
	var out []string
	for _, b := range strings.Split(strings.TrimSpace(s), "\n\n") {
		out = append(out, strings.TrimSpace(b))
	}
	return out
}

// TestConvertCrashOracle converts a corpus dump to LKCD, ELF and kdump
// and checks that crash 8.0.6 says the same about each as about the
// original: sys (but for the DUMPFILE line), ps, log and bt -a.
//
// Known LKCD difference: crash takes only rip and rsp from the LKCD asm
// header (lkcd_v8.c get_lkcd_regs_for_cpu_arch), so bt -a of a CPU that
// was not panicking cannot start from the full exception frame the
// other formats hand it: its block may differ (on a QEMU dump taken
// after sysrq-c the original's unwind of the stopped CPU fails with
// "invalid size request" while the LKCD one shows sysvec_reboot frames;
// on a kdump the LKCD block loses the "[exception RIP: …]" lines). The
// panicking CPU's block must be identical. The panic message is passed
// with --panic-string, as crash prints dh_panic_string verbatim for
// LKCD instead of finding it in the log.
func TestConvertCrashOracle(t *testing.T) {
	chroot := oracleChroot(t)
	in := corpusDump(t, false)
	work, err := os.MkdirTemp(filepath.Join(chroot, "tmp"), "kcrash-oracle-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	linkOrCopy(t, coretest.Path(t, "kernel/vmlinux"), filepath.Join(work, "vmlinux"))
	orig := filepath.Join(work, "orig-"+filepath.Base(in))
	linkOrCopy(t, in, orig)

	want := crashRun(t, chroot, work, orig)
	if want == nil {
		t.FailNow()
	}
	panicMsg := ""
	if m := regexp.MustCompile(`(?m)^ *PANIC: "(.*)"$`).FindStringSubmatch(want["sys"]); m != nil {
		panicMsg = m[1]
	}

	type result struct {
		format string
		out    map[string]string
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		results []result
	)
	for _, to := range []string{"lkcd", "elf", "kdump"} {
		out := filepath.Join(work, "conv."+to)
		args := []string{"convert", "--to", to, in, out}
		if to == "lkcd" {
			args = append(args[:1], append([]string{"--panic-string", panicMsg}, args[1:]...)...)
		}
		stdout, stderr, code := kcrash(t, "", args...)
		if code != 0 {
			t.Fatalf("convert --to %s: %s", to, stderr)
		}
		var extra []string
		if to == "lkcd" {
			m := regexp.MustCompile(`crash (--kaslr=\S+) --machdep (phys_base=\S+)`).FindStringSubmatch(stdout)
			if m == nil {
				t.Fatalf("convert printed no crash options for LKCD: %q", stdout)
			}
			extra = []string{m[1], "--machdep", m[2]}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := crashRun(t, chroot, work, out, extra...)
			mu.Lock()
			results = append(results, result{to, r})
			mu.Unlock()
		}()
	}
	wg.Wait()

	for _, r := range results {
		if r.out == nil {
			continue
		}
		for _, c := range oracleCommands {
			w, g := want[c], r.out[c]
			switch c {
			case "sys":
				w, g = dumpfileLine.ReplaceAllString(w, ""), dumpfileLine.ReplaceAllString(g, "")
			case "bt -a":
				wb, gb := btBlocks(w), btBlocks(g)
				if len(wb) != len(gb) {
					t.Errorf("%s: bt -a has %d blocks, the original %d:\n%s", r.format, len(gb), len(wb), g)
					continue
				}
				for i := range wb {
					if wb[i] == gb[i] {
						continue
					}
					if r.format == "lkcd" && !strings.Contains(wb[i], " panic at ") {
						t.Logf("%s: bt -a block %d differs (known: crash uses only rip/rsp of a non-panicking CPU from LKCD):\n--- original\n%s\n--- lkcd\n%s", r.format, i, wb[i], gb[i])
						continue
					}
					t.Errorf("%s: bt -a block %d differs:\n--- original\n%s\n--- converted\n%s", r.format, i, wb[i], gb[i])
				}
				continue
			}
			if w != g {
				t.Errorf("%s: %s differs:\n--- original\n%s\n--- converted\n%s", r.format, c, w, g)
			} else {
				t.Logf("%s: %s identical (%d lines)", r.format, c, strings.Count(w, "\n"))
			}
		}
	}
}
