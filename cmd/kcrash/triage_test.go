package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/kcrash/kcrash/internal/coretest"
)

var (
	reRelease = regexp.MustCompile(`(?m)^\s+RELEASE: (\S+)`)
	reBtHead  = regexp.MustCompile(`(?m)^PID: +(\d+) +TASK: [0-9a-f]+ +CPU: (\d+) `)
)

// TestTriage runs triage over every corpus dump plus a truncated and a
// garbage file: each real dump's facts must agree with the crash
// utility's goldens, the bad files get error entries, and the exit
// status says that some failed.
func TestTriage(t *testing.T) {
	var dumps []string
	type want struct {
		release  string
		pid, cpu int
	}
	wants := map[string]want{}
	for _, sc := range coretest.Scenarios(t) {
		for _, d := range coretest.Dumps(t, sc) {
			p := coretest.Path(t, sc+"/"+d)
			dumps = append(dumps, p)
			w := want{pid: -1, cpu: -1}
			for _, g := range coretest.Goldens(t, sc, d) {
				if g.Command == "sys" {
					if m := reRelease.FindStringSubmatch(g.Output); m != nil {
						w.release = m[1]
					}
				}
				if g.Command == "bt -a" {
					// the panicking task is the one whose trace went through panic()
					idx := reBtHead.FindAllStringSubmatchIndex(g.Output, -1)
					for i, b := range idx {
						end := len(g.Output)
						if i+1 < len(idx) {
							end = idx[i+1][0]
						}
						if regexp.MustCompile(` panic at `).MatchString(g.Output[b[0]:end]) {
							w.pid, _ = strconv.Atoi(g.Output[b[2]:b[3]])
							w.cpu, _ = strconv.Atoi(g.Output[b[4]:b[5]])
						}
					}
				}
			}
			wants[p] = w
		}
	}
	dir := t.TempDir()
	src, _ := os.ReadFile(dumps[0])
	trunc := filepath.Join(dir, "truncated.vmcore")
	os.WriteFile(trunc, src[:len(src)/2], 0o644)
	garbage := filepath.Join(dir, "garbage.vmcore")
	os.WriteFile(garbage, []byte("this is not a crash dump at all, just words"), 0o644)
	out, errOut, code := kcrash(t, "", append([]string{"triage", "--json"}, append(dumps, trunc, garbage)...)...)
	if code != 1 {
		t.Errorf("exit %d, want 1 (a dump failed); stderr %s", code, errOut)
	}
	var reports []TriageReport
	if err := json.Unmarshal([]byte(out), &reports); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(reports) != len(dumps)+2 {
		t.Fatalf("%d reports for %d dumps", len(reports), len(dumps)+2)
	}
	for _, r := range reports {
		switch r.Dump {
		case garbage:
			if r.Error == "" {
				t.Errorf("garbage file: no error entry")
			}
			continue
		case trunc:
			if r.Error == "" && len(r.Warnings) == 0 {
				t.Errorf("truncated file: neither error nor warning")
			}
			continue
		}
		w := wants[r.Dump]
		if r.Error != "" {
			t.Errorf("%s: %s", r.Dump, r.Error)
			continue
		}
		if r.Release != w.release {
			t.Errorf("%s: release %q, crash says %q", r.Dump, r.Release, w.release)
		}
		if r.PanicPID == nil || r.PanicCPU == nil || *r.PanicPID != w.pid || *r.PanicCPU != w.cpu {
			t.Errorf("%s: panic task %v on CPU %v, crash says pid %d cpu %d", r.Dump, r.PanicPID, r.PanicCPU, w.pid, w.cpu)
		}
		if r.Verdict == "" || len(r.LastLog) == 0 || len(r.Backtrace) == 0 {
			t.Errorf("%s: incomplete report %+v", r.Dump, r)
		}
	}
}

// TestTriageModules: with the vmlinux, triage lists the loaded modules
// with their taint letters; the corpus's test module is out-of-tree.
func TestTriageModules(t *testing.T) {
	sc := coretest.Scenarios(t)[0]
	dump := coretest.Path(t, sc+"/"+coretest.Dumps(t, sc)[0])
	out, errOut, code := kcrash(t, "", "triage", "--json", "-k", coretest.Path(t, "kernel/vmlinux"), dump)
	var reports []TriageReport
	if code != 0 || json.Unmarshal([]byte(out), &reports) != nil || len(reports) != 1 {
		t.Fatalf("exit %d: %s\n%s", code, errOut, out)
	}
	found := false
	for _, m := range reports[0].Modules {
		found = found || m == "kcrashtest [O]"
	}
	if !found {
		t.Errorf("modules %q lack \"kcrashtest [O]\"", reports[0].Modules)
	}
}
