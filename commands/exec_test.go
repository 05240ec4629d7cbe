package commands

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func newTestRunner() (*Runner, *strings.Builder, *strings.Builder) {
	var out, errb strings.Builder
	return &Runner{Env: &Env{Out: &out}, Err: &errb}, &out, &errb
}

func TestPipesRedirectsAliases(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "out.txt")
	tests := []struct {
		name, line string
		out        string // substring of stdout
		notOut     string
		file       string // substring of the file
		failed     int
	}{
		{"pipe", "help | grep '^rd '", "rd ", "help ", "", 0},
		{"pipe no match is not a failure", "help | grep nothing-matches", "", "rd ", "", 0},
		{"redirect", "help > " + file, "", "rd ", "read memory", 0},
		{"append", "help rd >> " + file, "", "NAME", "SYNOPSIS", 0},
		{"alias", "alias hh help rd; hh", "SYNOPSIS", "", "", 0},
		{"alias of a command", "alias rd help", "", "", "", 1},
		{"set", "set radix 16", "output radix: 16 (hex)", "", "", 0},
		{"bad set", "set radix 8", "", "", "", 1},
		{"shell escape", "!echo hi-there", "hi-there", "", "", 0},
		{"bad redirect", "help >", "", "", "", 1},
		{"quoted bar is no pipe", "alias x 'help | grep rd'; alias x", "help | grep rd", "", "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, out, errb := newTestRunner()
			if err := r.RunLine(context.Background(), tc.line); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), tc.out) || (tc.notOut != "" && strings.Contains(out.String(), tc.notOut)) {
				t.Errorf("stdout %q: want %q, not %q", out.String(), tc.out, tc.notOut)
			}
			if tc.file != "" {
				b, _ := os.ReadFile(file)
				if !strings.Contains(string(b), tc.file) {
					t.Errorf("file %q lacks %q", b, tc.file)
				}
			}
			if r.Failed != tc.failed {
				t.Errorf("failed %d, want %d (stderr %q)", r.Failed, tc.failed, errb.String())
			}
		})
	}
}

func TestSetOutputJSON(t *testing.T) {
	r, out, _ := newTestRunner()
	r.RunLine(context.Background(), "set output json")
	if !r.Env.session().JSON {
		t.Fatal("set output json did not stick")
	}
	r.RunLine(context.Background(), "set")
	if !strings.Contains(out.String(), "output: json") {
		t.Errorf("%q", out.String())
	}
}
