package commands_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kcrash/kcrash/commands"
	"github.com/kcrash/kcrash/internal/coretest"
)

var exampleLine = regexp.MustCompile(`(?m)^\s*kcrash> (.+)$`)

// TestHelpExamplesRun runs every example command of every help page
// against the bundled sample dump (with its vmlinux): the help must never
// show a command that fails.
func TestHelpExamplesRun(t *testing.T) {
	sc := "qemu-4l"
	dumps := coretest.Dumps(t, sc)
	sample := dumps[0]
	for _, d := range dumps {
		if d == "vmcore-d31-zstd.kdump" {
			sample = d
		}
	}
	k := openKernelVmlinux(t, sc, sample)
	for _, c := range commands.All() {
		ex := exampleLine.FindAllStringSubmatch(c.Help, -1)
		if len(ex) == 0 {
			if c.Name != "exit" && c.Name != "q" {
				t.Errorf("%s: help has no EXAMPLES (a line starting with \"kcrash> \")", c.Name)
			}
			continue
		}
		// One session per help page: an example may build on the one
		// before it (alias defines, then uses).
		var out, errb strings.Builder
		r := &commands.Runner{Env: &commands.Env{Kernel: k, DumpPath: sample, Out: &out}, Err: &errb}
		for _, m := range ex {
			line := strings.TrimSpace(m[1])
			if line == "q" || line == "exit" {
				continue
			}
			before := r.Failed
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			if strings.HasPrefix(line, "repeat") {
				// repeat runs until interrupted: interrupt it after a while,
				// as the user's Ctrl-C would.
				ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
				before++ // the interruption is reported as the command's end
			}
			r.RunLine(ctx, line)
			cancel()
			if r.Failed > before {
				t.Errorf("%s: example %q fails on %s: %s", c.Name, line, sample, errb.String())
			}
		}
	}
}
