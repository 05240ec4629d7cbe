package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/kcrash/kcrash/internal/coretest"
)

// screen collects what the program writes to its terminal.
type screen struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *screen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// waitFor waits until the screen, after position from, shows want.
func (s *screen) waitFor(t *testing.T, from int, want string) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		out := s.String()
		if i := strings.Index(out[min(from, len(out)):], want); i >= 0 {
			return from + i + len(want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("screen never showed %q; it shows:\n%s", want, s.String()[min(from, len(s.String())):])
	return 0
}

// TestInteractiveShell drives the real shell in a pseudo-terminal: tab
// completion, history, a pipe, Ctrl-C during a long command, Ctrl-D.
func TestInteractiveShell(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dump := sample(t)
	vmlinux := coretest.Path(t, "kernel/vmlinux")
	bin := filepath.Join(t.TempDir(), "kcrash")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	home := t.TempDir()
	cmd := exec.Command(bin, vmlinux, dump)
	cmd.Env = append(os.Environ(), "HOME="+home, "TERM=xterm")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 160})
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	var scr screen
	go func() { _, _ = copyAll(&scr, tty) }()
	send := func(s string) { tty.Write([]byte(s)) }

	pos := scr.waitFor(t, 0, "kcrash> ")
	send("hel\t") // completes to "help "
	pos = scr.waitFor(t, pos, "help ")
	send("\r")
	pos = scr.waitFor(t, pos, "read memory") // the command list
	send("ps | grep -c kc-\r")               // the corpus scenario's processes
	pos = scr.waitFor(t, pos, "kcrash> ")
	send("\x1b[A\r") // Up: the last command again
	pos = scr.waitFor(t, pos, "ps | grep -c kc-")
	pos = scr.waitFor(t, pos, "kcrash> ")
	send("alias fb foreach bt\r")
	pos = scr.waitFor(t, pos, "kcrash> ")
	send("fb | grep -c PID:\r") // an alias through a pipe
	pos = scr.waitFor(t, pos, "kcrash> ")
	// A long command; Ctrl-C stops it, not the shell.
	send("rd -p -8 100000 100000000 | tail -1\r")
	time.Sleep(700 * time.Millisecond)
	send("\x03")
	pos = scr.waitFor(t, pos, "rd: interrupted")
	send("rd -p 1000\r")
	pos = scr.waitFor(t, pos, "1000:  0000000000000000")
	send("\x04") // Ctrl-D ends the session
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit: %v", err)
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("shell did not exit on Ctrl-D")
	}
	hist, err := os.ReadFile(filepath.Join(home, ".kcrash_history"))
	if err != nil || !strings.Contains(string(hist), "ps | grep -c kc-") {
		t.Errorf("history file: %q, %v", hist, err)
	}
}

func copyAll(dst *screen, src *os.File) (int64, error) {
	var n int64
	buf := make([]byte, 4096)
	for {
		k, err := src.Read(buf)
		if k > 0 {
			dst.Write(buf[:k])
			n += int64(k)
		}
		if err != nil {
			return n, err
		}
	}
}
