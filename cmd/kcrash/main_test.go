package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/kcrash/kcrash/internal/coretest"
)

func kcrash(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb strings.Builder
	code = run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

func sample(t *testing.T) string {
	sc := coretest.Scenarios(t)[0]
	return coretest.Path(t, sc+"/"+coretest.Dumps(t, sc)[0])
}

func TestBatchExitStatus(t *testing.T) {
	dump := sample(t)
	tests := []struct {
		name     string
		args     []string
		stdin    string
		code     int
		errHas   string
		outHas   string
		noStderr bool
	}{
		{"ok", []string{dump, "-c", "rd -p 100000 2"}, "", 0, "", "100000:  ", true},
		{"unknown command", []string{dump, "-c", "rd -p 100000; frobnicate"}, "", 1, "frobnicate: command not found", "100000:", false},
		{"bad address", []string{dump, "-c", "rd -p 7fffffffff000"}, "", 1, "rd: address not in the dump: physical address: 7fffffffff000", "", false},
		{"stdin", []string{dump}, "rd -p 100000\nq\nrd -p 0\n", 0, "", "100000:  ", true},
		{"exit stops", []string{dump, "-c", "q; frobnicate"}, "", 0, "", "", true},
		{"usage", []string{dump, "-c", "rd"}, "", 1, "Usage: rd", "", false},
		{"missing dump", []string{"/nonexistent/vmcore"}, "", 1, "no such file", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := kcrash(t, tc.stdin, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.code, errOut)
			}
			if !strings.Contains(errOut, tc.errHas) || (tc.noStderr && errOut != "") {
				t.Errorf("stderr %q, want it to contain %q", errOut, tc.errHas)
			}
			if !strings.Contains(out, tc.outHas) {
				t.Errorf("stdout %q, want it to contain %q", out, tc.outHas)
			}
		})
	}
}

func TestDumpinfoJSON(t *testing.T) {
	out, errOut, code := kcrash(t, "", "dumpinfo", "--json", sample(t))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	for _, key := range []string{"file", "format", "compression", "arch", "page_size", "release", "kaslr_offset",
		"phys_base", "cpus", "panic_cpu", "cpu_state", "memory_ranges", "pages", "warnings"} {
		if _, ok := v[key]; !ok {
			t.Errorf("key %q missing", key)
		}
	}
	if ps, _ := v["page_size"].(float64); ps != 4096 {
		t.Errorf("page_size %v", v["page_size"])
	}
}
