package commands_test

import (
	"context"
	"strings"
	"testing"

	"github.com/kcrash/kcrash/commands"
)

// cancelOnWrite is a terminal where the user presses Ctrl-C as soon as
// the first output shows.
type cancelOnWrite struct {
	strings.Builder
	cancel context.CancelFunc
}

func (w *cancelOnWrite) Write(p []byte) (int, error) {
	if len(p) > 0 {
		w.cancel()
	}
	return w.Builder.Write(p)
}

func (w *cancelOnWrite) WriteString(s string) (int, error) { return w.Write([]byte(s)) }

// TestForeachStopsOnInterrupt: foreach looks at its context between
// tasks, so Ctrl-C stops it after the task it is on, and the rest of the
// line does not run.
func TestForeachStopsOnInterrupt(t *testing.T) {
	k := openKernelVmlinux(t, "qemu-4l", "vmcore-d31-zstd.kdump")
	full, _, failed := runCmd(k, "", "foreach bt")
	if failed != 0 || strings.Count(full, "PID: ") < 2 {
		t.Fatalf("foreach bt: %d failures, output:\n%s", failed, full)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &cancelOnWrite{cancel: cancel}
	var errb strings.Builder
	r := &commands.Runner{Env: &commands.Env{Kernel: k, Out: out}, Err: &errb}
	err := r.RunLine(ctx, "foreach bt; rd -p 1000")
	if err != context.Canceled {
		t.Errorf("RunLine: %v, want context.Canceled", err)
	}
	if n := strings.Count(out.String(), "PID: "); n != 1 {
		t.Errorf("foreach bt showed %d tasks after Ctrl-C at the first, want 1:\n%s", n, out.String())
	}
	if !strings.HasPrefix(full, out.String()) {
		t.Errorf("the interrupted output is not the start of the full one:\n%s", out.String())
	}
	if errb.String() != "foreach: interrupted\n" || r.Failed != 1 {
		t.Errorf("errors: %q (%d failures), want only \"foreach: interrupted\"", errb.String(), r.Failed)
	}
}
