package commands_test

import (
	"regexp"
	"strings"
	"testing"

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
		for _, m := range ex {
			line := strings.TrimSpace(m[1])
			if strings.HasPrefix(line, "q") || strings.HasPrefix(line, "exit") {
				continue
			}
			_, errOut, failed := runCmd(k, sample, line)
			if failed > 0 {
				t.Errorf("%s: example %q fails on %s: %s", c.Name, line, sample, errOut)
			}
		}
	}
}
